"""Warehouse phone values → E.164 numbers we may call, or the reason we may not.

``normalize_phone`` is the reference: one value at a time through ``phonenumbers``. It is the
definition of right and it is slow (~90 µs a row). ``normalize_phones`` gives exactly the same
answers for a whole ``Series`` but decides the common shapes of the default region's numbers
with vectorised string operations and the region's own ``phonenumbers`` metadata; whatever it
cannot decide with certainty goes to the reference, once per distinct value.

Every step of the fast path mirrors a step of ``phonenumbers.parse`` (as of phonenumbers 9.0) for
the inputs it admits; anything outside them (other country codes, international dialling prefixes, leading-zero
national numbers, extensions, letters, odd whitespace) is left to the reference.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata, PhoneNumberDesc, PhoneNumberType, ValidationResult

__all__ = [
    "CALLABLE_TYPES",
    "INVALID_PHONE",
    "MISSING_PHONE",
    "NOT_CALLABLE",
    "normalize_phone",
    "normalize_phones",
]

MISSING_PHONE: Final = "missing_phone"
INVALID_PHONE: Final = "invalid_phone"
NOT_CALLABLE: Final = "not_callable"

CALLABLE_TYPES: Final = frozenset(
    {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.VOIP,
    }
)

# phonenumbers' own limits (phonenumberutil._MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN,
# _MAX_INPUT_STRING_LENGTH); rows near them go to the reference anyway.
_MIN_NSN: Final = 2
_MAX_NSN: Final = 17
_MAX_INPUT: Final = 250

# Text the fast path admits: ASCII digits with the usual separators and at most one leading "+".
# All of these separators are phonenumbers "valid punctuation", none starts an extension, and a
# string of them with >= 3 digits is always a viable number, so parse() only ever sees the digits.
_SIMPLE_TEXT: Final = r" *\+?[0-9 ().\-]*"
_BLANK_TEXT: Final = r" *"

# Order of phonenumbers' _number_type_helper, before the fixed-line/mobile decision.
_SPECIAL_TYPES: Final = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)

Result = tuple[str | None, str | None]


# --------------------------------------------------------------------------------------------
# Reference: one value at a time
# --------------------------------------------------------------------------------------------


def normalize_phone(value: object, default_region: str = "BR") -> Result:
    """``(e164, None)`` for a number we may call, else ``(None, reason)``; the per-row reference.

    Integral numbers (``5511987654321`` or ``5511987654321.0`` read from a numeric column) are
    read as their digits. Any letter makes a value ``invalid_phone``: phonenumbers would turn
    vanity spellings ("0800-FLORES") into digits and drop "ext 12" or the "xx" of "0xx11", and a
    lead whose phone field holds letters is not one we trust enough to call.
    """
    return _normalize_text(_to_text(value), default_region)


def _to_text(value: object) -> str | None:
    """The text phonenumbers sees for a cell, or ``None`` for a missing one."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        # 5511987654321.0 is how a numeric column stores a phone number, not a decimal.
        return str(int(number)) if number.is_integer() else str(value)
    return str(value)


def _normalize_text(text: str | None, region: str) -> Result:
    """The reference on text already extracted from a cell."""
    if text is None or not text.strip():
        return None, MISSING_PHONE
    if any(ch.isalpha() for ch in text):
        return None, INVALID_PHONE
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, INVALID_PHONE
    if not phonenumbers.is_valid_number(number):
        return None, INVALID_PHONE
    if phonenumbers.number_type(number) not in CALLABLE_TYPES:
        return None, NOT_CALLABLE
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


# --------------------------------------------------------------------------------------------
# Vectorised
# --------------------------------------------------------------------------------------------


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
    """Cells as text (``str`` dtype, missing as NA) with ``_to_text``'s semantics, cheaply when we can."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        return values.astype("str")  # the Arrow-backed flavour where it is available
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return values.astype("str")  # str() of a NumPy integer is its digits, like _to_text
    return pd.Series([_to_text(v) for v in values.to_numpy(dtype=object)], index=values.index, dtype="str")


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
    rules = _fast_rules(region)
    if size and rules is not None:
        array = _arrow_texts(texts)
        simple = _fullmatch(array, _SIMPLE_TEXT) & (_lengths(array) <= _MAX_INPUT)
        rows = np.flatnonzero(simple)
        if rows.size:
            sub = array if rows.size == size else array.take(pa.array(rows))
            done, sub_e164, sub_reason = _fast_path(sub, rules)
            if rows.size == size:
                e164 = sub_e164
            else:  # sub_e164 is null wherever the fast path did not decide
                index = np.full(size, -1, dtype=np.int64)
                index[rows] = np.arange(rows.size)
                e164 = sub_e164.take(pa.array(index, mask=index < 0))
            reason[rows[done]] = sub_reason[done]
            decided[rows[done]] = True
            foreign = rows[_prefix(sub, r" *\+", ~done)]
            for foreign_rules, members in _by_country(array, foreign, rules.country_code):
                done, sub_e164, sub_reason = _fast_path(array.take(pa.array(members)), foreign_rules)
                reason[members[done]] = sub_reason[done]
                decided[members[done]] = True
                later.update(zip(members[done].tolist(), sub_e164.filter(pa.array(done)).to_pylist(), strict=True))
    rows = np.flatnonzero(~decided)
    cache: dict[str, Result] = {}
    for i, text in zip(rows.tolist(), texts.iloc[rows].tolist(), strict=True):
        if text not in cache:
            cache[text] = _normalize_text(text, region)
        later[i], reason[i] = cache[text]
    if later:
        patched = np.zeros(size, dtype=bool)
        patched[list(later)] = True
        numbers = pa.array([later[i] for i in np.flatnonzero(patched).tolist()], type=pa.large_string())
        e164 = pc.replace_with_mask(e164, pa.array(patched), numbers)
    return e164, reason


def _by_country(texts: pa.Array, rows: np.ndarray, own_code: str) -> Iterator[tuple[_Rules, np.ndarray]]:
    """``rows`` ("+" numbers the default region's fast path left open) by the fast rules of their country.

    After a "+", parse() reads the number with the metadata of the country whose code it starts with,
    whatever the default region: exactly what that country's fast path does for its own "+" numbers.
    Codes without fast rules, and the default region's own code, stay with the reference.
    """
    groups: dict[int, list[int]] = {}
    if not rows.size:
        return
    for row, digits in zip(rows.tolist(), _digits(texts.take(pa.array(rows))).to_pylist(), strict=True):
        # parse() takes the shortest known code (phonenumberutil._extract_country_code); none starts with 0.
        code = next(
            (int(digits[:n]) for n in range(1, 4) if int(digits[:n] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE),
            0,
        )
        if code and not digits.startswith("0") and str(code) != own_code:
            groups.setdefault(code, []).append(row)
    for code, members in groups.items():
        rules = _fast_rules(phonenumbers.region_code_for_country_code(code))
        if rules is not None and rules.country_code == str(code):
            yield rules, np.array(members, dtype=np.int64)


@dataclass(frozen=True)
class _Desc:
    """One PhoneNumberDesc: pattern for the vectorised engine, compiled for Python, lengths."""

    pattern: str
    lengths: tuple[int, ...]

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        """Compiled on first use: only rare rows (carrier codes) need Python's engine, so most descs never are."""
        return re.compile(self.pattern)


@dataclass(frozen=True)
class _Rules:
    """What the fast path needs from one region's metadata."""

    region: str
    country_code: str
    idd: str | None
    national_prefix: re.Pattern[str] | None
    transform_rule: str | None
    general: _Desc
    special: tuple[tuple[_Desc, int], ...]
    #: One regex matching whatever any special desc's pattern matches (``None``: none, or RE2 refused it).
    any_special: str | None
    fixed_line: _Desc | None
    mobile: _Desc | None
    same_mobile_and_fixed_line: bool
    single_region: bool
    length_results: tuple[int, ...]

    def length_result(self, length: int) -> int:
        """phonenumbers' _test_number_length for an NSN of this many digits (general desc)."""
        return self.length_results[min(length, len(self.length_results) - 1)]

    def length_results_of(self, lengths: np.ndarray) -> np.ndarray:
        """``length_result`` for an array of lengths."""
        return np.asarray(self.length_results)[np.minimum(lengths, len(self.length_results) - 1)]


def _desc(desc: PhoneNumberDesc | None) -> _Desc | None:
    """``None`` when phonenumbers would never match the desc (absent or empty pattern)."""
    if desc is None or not desc.national_number_pattern:
        return None
    pattern = desc.national_number_pattern
    return _Desc(pattern, tuple(desc.possible_length or ()))


@functools.cache
def _fast_rules(region: str) -> _Rules | None:
    """The region's metadata in fast-path form, or ``None`` when it is not simple enough.

    Simple enough: the region is the main one for its country code (so parse() uses its
    metadata), and when it shares the code it has no leading-digits rule (so a number valid for
    it is attributed to it). Every pattern must also work in the vectorised regex engine.
    """
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return None
    meta = PhoneMetadata.metadata_for_region(region, None)
    if meta is None or meta.country_code is None:
        return None
    regions = phonenumbers.region_codes_for_country_code(meta.country_code)
    if not regions or regions[0] != region or (len(regions) > 1 and meta.leading_digits is not None):
        return None
    country_code = str(meta.country_code)
    # parse() takes the shortest known code after "+": none may be a prefix of ours.
    if any(int(country_code[:i]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for i in range(1, len(country_code))):
        return None
    general = _desc(meta.general_desc)
    if general is None or not general.lengths:
        return None
    national_prefix = re.compile(meta.national_prefix_for_parsing) if meta.national_prefix_for_parsing else None
    transform_rule = meta.national_prefix_transform_rule or None
    if transform_rule and (national_prefix is None or national_prefix.groups == 0):
        return None
    special = tuple(
        (desc, int(kind)) for name, kind in _SPECIAL_TYPES if (desc := _desc(getattr(meta, name, None))) is not None
    )
    fixed_line, mobile = _desc(meta.fixed_line), _desc(meta.mobile)
    patterns = [d.pattern for d in (general, fixed_line, mobile, *(d for d, _ in special)) if d is not None]
    prefixes = [p for p in (meta.international_prefix, meta.national_prefix_for_parsing) if p]
    probe = pa.array(["0123456789"], type=pa.large_string())
    try:
        for pattern in patterns:
            _fullmatch(probe, pattern)
        for pattern in prefixes:
            _prefix(probe, pattern)
    except (ValueError, NotImplementedError, pa.ArrowException):  # pyarrow's RE2 rejects a construct
        return None
    any_special: str | None = "|".join(f"(?:{desc.pattern})" for desc, _ in special) or None
    if any_special is not None:
        try:
            _fullmatch(probe, any_special)
        except (ValueError, NotImplementedError, pa.ArrowException):  # e.g. over RE2's program size
            any_special = None

    def possible(length: int) -> int:
        number = phonenumbers.PhoneNumber(country_code=meta.country_code, national_number=int("1" * length))
        return int(phonenumbers.is_possible_number_with_reason(number))

    # Any NSN longer than all possible lengths is TOO_LONG (phonenumbers' _test_number_length), so the
    # table can stop at the first such length: ``_Rules.length_result`` clamps longer ones to it.
    length_results = tuple(possible(n) for n in range(1, min(max(general.lengths), _MAX_INPUT) + 2))
    if length_results[-1] != int(ValidationResult.TOO_LONG):  # not expected; then every length is asked
        length_results = tuple(possible(n) for n in range(1, _MAX_INPUT + 2))
    return _Rules(
        region=region,
        country_code=country_code,
        idd=meta.international_prefix or None,
        national_prefix=national_prefix,
        transform_rule=transform_rule,
        general=general,
        special=special,
        any_special=any_special,
        fixed_line=fixed_line,
        mobile=mobile,
        same_mobile_and_fixed_line=bool(meta.same_mobile_and_fixed_line_pattern),
        single_region=len(regions) == 1,
        # An empty NSN is too short for every region (no region has a possible length 0).
        length_results=(int(ValidationResult.TOO_SHORT), *length_results),
    )


def _arrow_texts(texts: pd.Series) -> pa.Array:
    """NA-free texts as one Arrow ``large_string`` array (no copy for pandas' Arrow-backed strings).

    The vectorised steps run on Arrow arrays and NumPy masks directly: through pandas' ``.str``
    every step would also pay for boxing its result into a nullable Series.
    """
    array = pa.array(texts, type=pa.large_string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _lengths(texts: pa.Array) -> np.ndarray:
    """Characters per text (``len``), as a NumPy array."""
    return np.asarray(pc.utf8_length(texts).to_numpy(zero_copy_only=False))


def _digits(texts: pa.Array) -> pa.Array:
    """Each NA-free text with everything but ASCII digits removed, like ``re.sub(r"[^0-9]", "", text)``.

    Works on the UTF-8 bytes with NumPy (a regex replace costs ~5x more): bytes 0x30-0x39 are never
    part of a multi-byte character, so keeping exactly those bytes keeps exactly the digits. Only
    byte-sized and per-row temporaries: fresh memory is what a short task pays most for.
    """
    texts = texts.cast(pa.large_string())
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    # One flag per byte (computed in place: uint8 wraps below "0"), plus a 0 at the end so that every
    # row, even an empty last one, starts inside the array.
    flags = np.empty(len(data) + 1, dtype=np.uint8)
    np.subtract(data, np.uint8(ord("0")), out=flags[:-1])
    flags[-1] = 255
    keep = np.less(flags, 10, out=flags.view(bool))
    new_offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    starts = offsets[:-1] if offsets[0] == 0 else offsets[:-1] - offsets[0]
    np.add.reduceat(keep, starts, dtype=np.int64, out=new_offsets[1:])  # digits per row
    new_offsets[1:][offsets[1:] == offsets[:-1]] = 0  # reduceat gives an empty row its next byte's flag, not 0
    np.cumsum(new_offsets, out=new_offsets)
    return pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(new_offsets), pa.py_buffer(data[keep[:-1]]))


def _bools(values: pa.Array) -> np.ndarray:
    """A writable NumPy bool mask of an NA-free Arrow boolean array."""
    return np.array(values.to_numpy(zero_copy_only=False), dtype=bool)


def _prefix(texts: pa.Array, pattern: str, where: np.ndarray | None = None) -> np.ndarray:
    """Writable mask of ``re.match`` (a match at the start), evaluated only on ``where`` rows."""
    return _regex_mask(texts, f"^(?:{pattern})", where)


def _fullmatch(texts: pa.Array, pattern: str, where: np.ndarray | None = None) -> np.ndarray:
    """Writable mask of ``re.fullmatch``; on NSNs, phonenumbers' _match_national_number."""
    return _regex_mask(texts, f"^(?:{pattern})$", where)


def _regex_mask(texts: pa.Array, regex: str, where: np.ndarray | None) -> np.ndarray:
    """RE2 search over NA-free texts; rows outside ``where`` are ``False`` and cost nothing."""
    if where is None or where.all():
        return _bools(pc.match_substring_regex(texts, regex))
    out = np.zeros(len(texts), dtype=bool)
    if where.any():
        out[where] = _bools(pc.match_substring_regex(texts.filter(pa.array(where)), regex))
    return out


def _matches_desc(nsn: pa.Array, lengths: np.ndarray, desc: _Desc | None, where: np.ndarray) -> np.ndarray:
    """phonenumbers' _is_number_matching_desc, vectorised over the ``where`` rows."""
    if desc is None:
        return np.zeros(len(nsn), dtype=bool)
    if desc.lengths:
        where = where & np.isin(lengths, desc.lengths)
    return _fullmatch(nsn, desc.pattern, where)


def _number_types(nsn: pa.Array, where: np.ndarray, rules: _Rules) -> np.ndarray:
    """phonenumbers' _number_type_helper, vectorised: PhoneNumberType codes (UNKNOWN off ``where``)."""
    lengths = _lengths(nsn)
    kinds = np.full(len(nsn), int(PhoneNumberType.UNKNOWN))
    open_ = _matches_desc(nsn, lengths, rules.general, where)
    # Few numbers are special: one scan with the union of the special patterns finds the rows each
    # special desc could match (a superset, lengths aside), instead of one scan per desc.
    candidates = open_ if rules.any_special is None else _fullmatch(nsn, rules.any_special, open_)
    for desc, kind in rules.special:
        hit = _matches_desc(nsn, lengths, desc, open_ & candidates)
        kinds[hit] = kind
        open_ &= ~hit
    fixed = _matches_desc(nsn, lengths, rules.fixed_line, open_)
    if rules.same_mobile_and_fixed_line:
        kinds[fixed] = int(PhoneNumberType.FIXED_LINE_OR_MOBILE)
        return kinds
    mobile = _matches_desc(nsn, lengths, rules.mobile, open_)
    kinds[fixed & mobile] = int(PhoneNumberType.FIXED_LINE_OR_MOBILE)
    kinds[fixed & ~mobile] = int(PhoneNumberType.FIXED_LINE)
    kinds[mobile & ~fixed] = int(PhoneNumberType.MOBILE)
    return kinds


_KEEP_UNSTRIPPED: Final = (
    int(ValidationResult.TOO_SHORT),
    int(ValidationResult.IS_POSSIBLE_LOCAL_ONLY),
    int(ValidationResult.INVALID_LENGTH),
)


def _strip_national_prefix(number: str, rules: _Rules) -> str | None:
    """The NSN parse() keeps after trying to strip a national prefix/carrier code; ``None`` = unsure.

    Mirrors _maybe_strip_national_prefix_carrier_code plus parse()'s length check after it.
    """
    assert rules.national_prefix is not None
    match = rules.national_prefix.match(number)
    if match is None:
        return number
    general = rules.general.regex
    viable = general.fullmatch(number) is not None
    if not rules.transform_rule or match.groups()[-1] is None:
        potential = number[match.end() :]
    else:
        potential = rules.national_prefix.sub(rules.transform_rule, number, count=1)
    if viable and general.fullmatch(potential) is None:
        return number
    if not potential:
        return None
    return number if rules.length_result(len(potential)) in _KEEP_UNSTRIPPED else potential


def _strip_national_prefixes(nsn: pa.Array, ok: np.ndarray, rules: _Rules) -> tuple[pa.Array, np.ndarray]:
    """``_strip_national_prefix`` over the ``ok`` rows: vectorised when only a bare prefix matched.

    A carrier code with a transform rule ("0 15 11 …" in BR) is rare and goes row by row.
    """
    regex = rules.national_prefix
    assert regex is not None
    rows = np.flatnonzero(_prefix(nsn, regex.pattern, ok))
    if not rows.size:
        return nsn, ok
    ok = ok.copy()
    numbers = nsn.take(pa.array(rows))
    if rules.transform_rule:
        # The transform applies only when the last group took part in the match.
        plain = np.array(
            [(m := regex.match(x)) is not None and m.groups()[-1] is None for x in numbers.to_pylist()], dtype=bool
        )
    else:
        plain = np.ones(len(rows), dtype=bool)
    # Bare prefix: parse() drops the match, unless that makes a viable number non-viable or
    # leaves a length that cannot be a whole number; then the digits stay as they were.
    potential = pc.replace_substring_regex(numbers, f"^(?:{regex.pattern})", "", max_replacements=1)
    lengths = _lengths(potential)
    viable = _fullmatch(numbers, rules.general.pattern, plain)
    keep = (viable & ~_fullmatch(potential, rules.general.pattern, plain & viable)) | (
        (lengths > 0) & np.isin(rules.length_results_of(lengths), _KEEP_UNSTRIPPED)
    )
    result: list[str | None] = pc.if_else(pa.array(keep), numbers, potential).to_pylist()
    unsure = plain & ~keep & (lengths == 0)
    for i in np.flatnonzero(~plain):
        result[i] = _strip_national_prefix(numbers[i].as_py(), rules)
        unsure[i] = result[i] is None
    ok[rows[unsure]] = False
    changed = np.zeros(len(nsn), dtype=bool)
    changed[rows[~unsure]] = True
    replacements = pa.array([r for r, u in zip(result, unsure, strict=True) if not u], type=nsn.type)
    return pc.replace_with_mask(nsn, pa.array(changed), replacements), ok


def _fast_path(texts: pa.Array, rules: _Rules) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """(decided, e164, reason) for texts matching ``_SIMPLE_TEXT``; e164 is Arrow, null where not accepted.

    Follows parse(): country code after "+", else the default region's international prefix
    (never decided here), else the default country code without "+" when the number is not
    viable with it or too long; then the national prefix; then the type from the metadata.
    """
    size = len(texts)
    cc = rules.country_code
    plus = _prefix(texts, r" *\+")
    digits = _digits(texts)
    n_digits = _lengths(digits)
    blank = (n_digits == 0) & ~plus & _fullmatch(texts, _BLANK_TEXT, n_digits == 0)

    # Fewer than 3 digits may not be viable; "+" followed by another country code is not ours.
    starts_cc = _bools(pc.starts_with(digits, cc))
    ok = (n_digits >= 3) & (~plus | starts_cc)
    national = ok & ~plus
    if rules.idd is not None:
        national &= ~_prefix(digits, rules.idd, national)
    ok &= plus | national
    rest = pc.utf8_slice_codeunits(digits, len(cc))
    bare_cc = national & starts_cc
    if rules.national_prefix is not None:
        # _maybe_extract_country_code strips a national prefix after the bare country code too.
        ok &= ~(bare_cc & _prefix(rest, rules.national_prefix.pattern, bare_cc))
        bare_cc &= ok
    too_long = rules.length_results_of(n_digits) == int(ValidationResult.TOO_LONG)
    general = rules.general.pattern
    bare_cc &= too_long | (~_fullmatch(digits, general, bare_cc) & _fullmatch(rest, general, bare_cc))
    nsn = pc.if_else(pa.array(plus | bare_cc), rest, digits)
    ok &= _lengths(nsn) >= _MIN_NSN

    if rules.national_prefix is not None:
        nsn, ok = _strip_national_prefixes(nsn, ok, rules)

    n_nsn = _lengths(nsn)
    # A leading zero would go through phonenumbers' "Italian leading zero" bookkeeping.
    ok &= (n_nsn >= _MIN_NSN) & (n_nsn <= _MAX_NSN) & ~_prefix(nsn, "0", ok)
    kinds = _number_types(nsn, ok, rules)
    unknown = kinds == int(PhoneNumberType.UNKNOWN)
    if not rules.single_region:
        # Another region sharing the code may still claim the number: the reference decides.
        ok &= ~unknown
    callable_ = np.isin(kinds, [int(t) for t in CALLABLE_TYPES])

    reason = np.full(size, None, dtype=object)
    accepted = ok & callable_
    text = pa.large_string()
    e164 = pc.if_else(
        pa.array(accepted),
        pc.binary_join_element_wise(pa.scalar("+" + cc, text), nsn, pa.scalar("", text)),
        pa.scalar(None, text),
    )
    reason[ok & unknown] = INVALID_PHONE
    reason[ok & ~unknown & ~callable_] = NOT_CALLABLE
    reason[blank] = MISSING_PHONE
    return ok | blank, e164, reason
