"""Batch files of at most ``size`` recipients, and the keys they are claimed under.

A rerun of a day must never re-send a person under a new key: people already in a batch of that day
that exists or may exist go back into that batch, under its key and number. New batches take the
lowest numbers those do not use, and names say ``k/n`` by position, so ``k ≤ n`` after any rerun.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from integra import batches
from integra.ledger.idempotency import batch_digest, batch_key

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import ObjectStoragePath

    from integra.definitions import CampaignDefinition
    from integra.pipeline.zones import ZoneGroups


def split(frame: pd.DataFrame, labels: pd.Series) -> Iterator[tuple[Any, pd.DataFrame]]:
    """The rows of each label (in label order), each part in buffers of its own.

    ``DataFrame.groupby`` yields slices of one sorted copy of the whole frame: a small group's part
    waiting for its batch to fill would keep every chunk's full copy alive until the end of the run.
    """
    import numpy as np

    codes, uniques = labels.factorize(sort=True)
    for code, label in enumerate(uniques):
        yield label, frame.take(np.flatnonzero(codes == code))


class BatchWriter:
    """Writes batch files as soon as they fill, keeping only their metadata.

    ``previous`` maps a lead id already in a batch of this day to that batch (key and number).
    """

    def __init__(
        self,
        folder: ObjectStoragePath,
        size: int,
        previous: Mapping[str, Mapping[str, Any]],
        variables: list[str],
        secret: bytes,
    ) -> None:
        self.folder = folder
        self.size = size
        self.previous = previous
        self.variables = variables
        self.secret = secret
        self.pending: dict[int, list[pd.DataFrame]] = {}
        self.pending_rows: dict[int, int] = {}
        self.taken_numbers = {int(row["batch_number"]) for row in previous.values()}
        self.written: list[dict[str, Any]] = []  # new batches: number, path, rows, digest, group
        self.sticky: dict[str, list[pd.DataFrame]] = {}
        self.sticky_groups: dict[str, set[int]] = {}

    def add(self, good: pd.DataFrame, sticky: pd.Series, group: pd.Series) -> None:
        """Add valid, unique recipients of zone ``group``s; rows flagged ``sticky`` go back into their earlier batch."""
        if sticky.any():
            keys = good["lead_id"][sticky].map(lambda lead: self.previous[lead]["campaign_key"])
            for key, part in split(good[sticky], keys):
                self.sticky.setdefault(str(key), []).append(part)
                self.sticky_groups.setdefault(str(key), set()).update(group[part.index].tolist())
            good, group = good[~sticky], group[~sticky]
        for number, part in split(good, group):
            gid = int(number)
            self.pending.setdefault(gid, []).append(part)
            self.pending_rows[gid] = self.pending_rows.get(gid, 0) + len(part)
            while self.pending_rows[gid] >= self.size:
                self._cut(gid, self.size)

    def _next_number(self) -> int:
        number = 1
        while number in self.taken_numbers:
            number += 1
        self.taken_numbers.add(number)
        return number

    def _cut(self, group: int, rows: int) -> None:
        import pandas as pd

        frame = pd.concat(self.pending[group], ignore_index=True)
        batch, rest = frame.iloc[:rows], frame.iloc[rows:]
        self.pending[group], self.pending_rows[group] = [rest], len(rest)
        number = self._next_number()
        self.written.append(
            {
                "number": number,
                "path": self._write(batch, number),
                "rows": len(batch),
                "digest": batch_digest(self.secret, batch["phone_number"].tolist()),
                "group": group,
            }
        )

    def _write(self, frame: pd.DataFrame, number: int) -> str:
        """Parquet with ``dynamic_variables`` as a struct column: no per-row JSON encoding."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        def strings(column: str) -> pa.Array:
            array = pa.array(frame[column], type=pa.string())  # Arrow-backed pandas strings may come chunked
            return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array

        columns = {name: strings(name) for name in ("lead_id", "phone_number", "recipient_name", "locality")}
        if self.variables:
            columns["dynamic_variables"] = pa.StructArray.from_arrays(
                [strings(f"var.{v}") for v in self.variables], names=self.variables
            )
        path = self.folder / f"batch-{number:04d}.parquet"
        local = batches.local_file(path)
        if local is not None:  # pyarrow writes the file itself: see batches.local_file
            pq.write_table(pa.table(columns), local)
        else:
            with path.open("wb") as handle:
                pq.write_table(pa.table(columns), handle)
        return str(path)

    def close(self, definition: CampaignDefinition, interval_end: datetime, groups: ZoneGroups) -> list[dict[str, Any]]:
        """Write what is left; the mapped ``create_campaign`` arguments, one dict per batch."""
        import pandas as pd

        for group in sorted(self.pending_rows, key=groups.label):
            if self.pending_rows[group]:
                self._cut(group, self.pending_rows[group])
        numbers = {row["campaign_key"]: int(row["batch_number"]) for row in self.previous.values()}
        entries = [
            (
                numbers[key],
                key,
                self._write(pd.concat(parts), numbers[key]),
                sum(len(p) for p in parts),
                groups.labels(self.sticky_groups[key]),
            )
            for key, parts in self.sticky.items()
        ]
        entries += [
            (
                b["number"],
                batch_key(definition.dag_id, interval_end, b["number"], b["digest"]),
                b["path"],
                b["rows"],
                groups.label(b["group"]),
            )
            for b in self.written
        ]
        total = len(entries)
        local_day = groups.day.isoformat()
        return [
            {
                "recipients": path,
                "batch_number": number,
                "batch_count": total,
                "name": definition.campaign_name(day=local_day, batch=position, batches=total, zone=zone),
                "idempotency_key": key,
                "recipients_count": rows,
            }
            for position, (number, key, path, rows, zone) in enumerate(sorted(entries), start=1)
        ]
