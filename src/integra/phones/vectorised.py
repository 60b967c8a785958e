"""``normalize_phones``: a whole column at once, with exactly the reference's answers.

The default region's fast path first, then "+" numbers of other countries with fast rules, then the
reference once per distinct value left.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from integra.phones import arrow
from integra.phones.fast_path import SIMPLE_TEXT, fast_path
from integra.phones.reference import MAX_INPUT, Result, normalize_text, to_text
from integra.phones.rules import Rules, fast_rules


def normalize_phones(values: pd.Series, default_region: str = "BR") -> pd.DataFrame:
    """Columns ``e164`` and ``reason`` for every row, equal to ``normalize_phone`` row by row.

    The default region's usual shapes are decided with vectorised regexes taken from
    phonenumbers' metadata; every other value goes to the reference, once per distinct value.
    """
    # A missing cell and "" get the same answer (missing_phone), so "" stands in for NA.
    texts = _text_series(values).fillna("").reset_index(drop=True)
    e164, reason = _normalize_texts(texts, default_region)
    return pd.DataFrame(
        {"e164": pd.StringDtype().__from_arrow__(e164), "reason": pd.array(reason, dtype="string")},
        index=values.index,
    )


def _text_series(values: pd.Series) -> pd.Series:
    """Cells as text (``str`` dtype, missing as NA) with ``to_text``'s semantics, cheaply when we can."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        return values.astype("str")  # the Arrow-backed flavour where it is available
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return values.astype("str")  # str() of a NumPy integer is its digits, like to_text
    return pd.Series([to_text(v) for v in values.to_numpy(dtype=object)], index=values.index, dtype="str")


def _normalize_texts(texts: pd.Series, region: str) -> tuple[pa.Array, np.ndarray]:
    """(e164, reason) for NA-free texts with a ``RangeIndex``: an Arrow string array and an object array.

    The numbers stay in Arrow from the fast path to the result: no Python string per row.
    """
    size = len(texts)
    e164 = pa.nulls(size, pa.large_string())
    reason = np.full(size, None, dtype=object)
    decided = np.zeros(size, dtype=bool)
    # Numbers decided after the default region's fast path, by row: other countries' "+" numbers, the reference.
    later: dict[int, str | None] = {}
    rules = fast_rules(region)
    if size and rules is not None:
        array = arrow.texts(texts)
        simple = arrow.fullmatch(array, SIMPLE_TEXT) & (arrow.lengths(array) <= MAX_INPUT)
        rows = np.flatnonzero(simple)
        if rows.size:
            sub = array if rows.size == size else array.take(pa.array(rows))
            done, sub_e164, sub_reason = fast_path(sub, rules)
            if rows.size == size:
                e164 = sub_e164
            else:  # sub_e164 is null wherever the fast path did not decide
                index = np.full(size, -1, dtype=np.int64)
                index[rows] = np.arange(rows.size)
                e164 = sub_e164.take(pa.array(index, mask=index < 0))
            reason[rows[done]] = sub_reason[done]
            decided[rows[done]] = True
            foreign = rows[arrow.prefix(sub, r" *\+", ~done)]
            for foreign_rules, members in _by_country(array, foreign, rules.country_code):
                done, sub_e164, sub_reason = fast_path(array.take(pa.array(members)), foreign_rules)
                reason[members[done]] = sub_reason[done]
                decided[members[done]] = True
                later.update(zip(members[done].tolist(), sub_e164.filter(pa.array(done)).to_pylist(), strict=True))
    rows = np.flatnonzero(~decided)
    cache: dict[str, Result] = {}
    for i, text in zip(rows.tolist(), texts.iloc[rows].tolist(), strict=True):
        if text not in cache:
            cache[text] = normalize_text(text, region)
        later[i], reason[i] = cache[text]
    if later:
        patched = np.zeros(size, dtype=bool)
        patched[list(later)] = True
        numbers = pa.array([later[i] for i in np.flatnonzero(patched).tolist()], type=pa.large_string())
        e164 = pc.replace_with_mask(e164, pa.array(patched), numbers)
    return e164, reason


def _by_country(texts: pa.Array, rows: np.ndarray, own_code: str) -> Iterator[tuple[Rules, np.ndarray]]:
    """``rows`` ("+" numbers the default region's fast path left open) by the fast rules of their country.

    After a "+", parse() reads the number with the metadata of the country whose code it starts with,
    whatever the default region: exactly what that country's fast path does for its own "+" numbers.
    Codes without fast rules, and the default region's own code, stay with the reference.
    """
    groups: dict[int, list[int]] = {}
    if not rows.size:
        return
    for row, digits in zip(rows.tolist(), arrow.digits(texts.take(pa.array(rows))).to_pylist(), strict=True):
        # parse() takes the shortest known code (phonenumberutil._extract_country_code); none starts with 0.
        code = next(
            (int(digits[:n]) for n in range(1, 4) if int(digits[:n] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE),
            0,
        )
        if code and not digits.startswith("0") and str(code) != own_code:
            groups.setdefault(code, []).append(row)
    for code, members in groups.items():
        rules = fast_rules(phonenumbers.region_code_for_country_code(code))
        if rules is not None and rules.country_code == str(code):
            yield rules, np.array(members, dtype=np.int64)
