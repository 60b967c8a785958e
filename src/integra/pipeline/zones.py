"""Zone groups: which batch family each recipient joins, so every batch is called in its people's own hours.

The group of a number is decided once per distinct prefix (see ``integra.policy.local_time``), so a
million leads cost a dictionary look-up each, not a phonenumbers call each.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from integra.policy.local_time import BR_PREFIX, Locality, LocalRules, locality_of

if TYPE_CHECKING:
    import pandas as pd


class ZoneGroups:
    """Numbers → group ids; ids are numbered in order of first appearance within one run."""

    def __init__(self, rules: LocalRules, day: date) -> None:
        self.rules = rules
        self.day = day
        self._ids: dict[tuple[object, ...], int] = {}
        self._by_locality: dict[Locality, int] = {}
        self.members: dict[int, set[Locality]] = {}

    def _group(self, locality: Locality) -> int:
        found = self._by_locality.get(locality)
        if found is None:
            signature = self.rules.signature(locality, self.day)
            found = self._ids.setdefault(signature, len(self._ids))
            self._by_locality[locality] = found
            self.members.setdefault(found, set()).add(locality)
        return found

    def assign(self, numbers: pd.Series) -> tuple[pd.Series, pd.Series]:
        """The group id and the locality (``Locality.text``) of each E.164 number (same index), one locality
        look-up per distinct prefix.

        The batch files keep each person's locality, so create_campaign schedules a batch without looking
        its numbers up again (in a worker process of its own, every look-up would be a new one).
        """
        import numpy as np
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc

        if numbers.empty:
            return pd.Series([], index=numbers.index, dtype="int64"), pd.Series([], index=numbers.index, dtype="string")
        text = pa.array(numbers.astype("string").to_numpy(dtype=object), type=pa.string())
        keys = pc.if_else(pc.starts_with(text, "+55"), pc.utf8_slice_codeunits(text, 0, BR_PREFIX), text)
        encoded = keys.dictionary_encode()
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        _, first_rows = np.unique(indices, return_index=True)
        samples = text.take(pa.array(first_rows)).to_pylist()  # one full number per distinct prefix, in key order
        localities = [locality_of(number) for number in samples]
        ids = np.fromiter((self._group(locality) for locality in localities), dtype="int64", count=len(samples))
        places = pa.array([locality.text for locality in localities], type=pa.string()).take(encoded.indices)
        return (
            pd.Series(ids[indices], index=numbers.index),
            pd.Series(pd.arrays.ArrowStringArray(places), index=numbers.index),
        )

    def label(self, group: int) -> str:
        return self.rules.label(self.members[group], self.day)

    def labels(self, groups: Iterable[int]) -> str:
        """One name for a batch that mixes groups (a rerun's earlier batch): its groups' labels joined."""
        return " + ".join(sorted({self.label(group) for group in groups}))
