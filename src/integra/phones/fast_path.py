"""The fast path: the default region's usual shapes decided with vectorised regexes.

Every step mirrors a step of ``phonenumbers.parse`` (as of phonenumbers 9.0) for the inputs it
admits (``SIMPLE_TEXT``); whatever it cannot decide with certainty is left to the reference.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneNumberType, ValidationResult

from integra.phones import arrow
from integra.phones.reference import CALLABLE_TYPES, INVALID_PHONE, MAX_NSN, MIN_NSN, MISSING_PHONE, NOT_CALLABLE
from integra.phones.rules import Desc, Rules

# Text the fast path admits: ASCII digits with the usual separators and at most one leading "+".
# All of these separators are phonenumbers "valid punctuation", none starts an extension, and a
# string of them with >= 3 digits is always a viable number, so parse() only ever sees the digits.
SIMPLE_TEXT: Final = r" *\+?[0-9 ().\-]*"
BLANK_TEXT: Final = r" *"


def _matches_desc(nsn: pa.Array, lengths: np.ndarray, desc: Desc | None, where: np.ndarray) -> np.ndarray:
    """phonenumbers' _is_number_matching_desc, vectorised over the ``where`` rows."""
    if desc is None:
        return np.zeros(len(nsn), dtype=bool)
    if desc.lengths:
        where = where & np.isin(lengths, desc.lengths)
    return arrow.fullmatch(nsn, desc.pattern, where)


def _number_types(nsn: pa.Array, where: np.ndarray, rules: Rules) -> np.ndarray:
    """phonenumbers' _number_type_helper, vectorised: PhoneNumberType codes (UNKNOWN off ``where``)."""
    lengths = arrow.lengths(nsn)
    kinds = np.full(len(nsn), int(PhoneNumberType.UNKNOWN))
    open_ = _matches_desc(nsn, lengths, rules.general, where)
    # Few numbers are special: one scan with the union of the special patterns finds the rows each
    # special desc could match (a superset, lengths aside), instead of one scan per desc.
    candidates = open_ if rules.any_special is None else arrow.fullmatch(nsn, rules.any_special, open_)
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


def _strip_national_prefix(number: str, rules: Rules) -> str | None:
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


def _strip_national_prefixes(nsn: pa.Array, ok: np.ndarray, rules: Rules) -> tuple[pa.Array, np.ndarray]:
    """``_strip_national_prefix`` over the ``ok`` rows: vectorised when only a bare prefix matched.

    A carrier code with a transform rule ("0 15 11 …" in BR) is rare and goes row by row.
    """
    regex = rules.national_prefix
    assert regex is not None
    rows = np.flatnonzero(arrow.prefix(nsn, regex.pattern, ok))
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
    lengths = arrow.lengths(potential)
    viable = arrow.fullmatch(numbers, rules.general.pattern, plain)
    keep = (viable & ~arrow.fullmatch(potential, rules.general.pattern, plain & viable)) | (
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


def fast_path(texts: pa.Array, rules: Rules) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """(decided, e164, reason) for texts matching ``SIMPLE_TEXT``; e164 is Arrow, null where not accepted.

    Follows parse(): country code after "+", else the default region's international prefix
    (never decided here), else the default country code without "+" when the number is not
    viable with it or too long; then the national prefix; then the type from the metadata.
    """
    size = len(texts)
    cc = rules.country_code
    plus = arrow.prefix(texts, r" *\+")
    digits = arrow.digits(texts)
    n_digits = arrow.lengths(digits)
    blank = (n_digits == 0) & ~plus & arrow.fullmatch(texts, BLANK_TEXT, n_digits == 0)

    # Fewer than 3 digits may not be viable; "+" followed by another country code is not ours.
    starts_cc = arrow.bools(pc.starts_with(digits, cc))
    ok = (n_digits >= 3) & (~plus | starts_cc)
    national = ok & ~plus
    if rules.idd is not None:
        national &= ~arrow.prefix(digits, rules.idd, national)
    ok &= plus | national
    rest = pc.utf8_slice_codeunits(digits, len(cc))
    bare_cc = national & starts_cc
    if rules.national_prefix is not None:
        # _maybe_extract_country_code strips a national prefix after the bare country code too.
        ok &= ~(bare_cc & arrow.prefix(rest, rules.national_prefix.pattern, bare_cc))
        bare_cc &= ok
    too_long = rules.length_results_of(n_digits) == int(ValidationResult.TOO_LONG)
    general = rules.general.pattern
    bare_cc &= too_long | (~arrow.fullmatch(digits, general, bare_cc) & arrow.fullmatch(rest, general, bare_cc))
    nsn = pc.if_else(pa.array(plus | bare_cc), rest, digits)
    ok &= arrow.lengths(nsn) >= MIN_NSN

    if rules.national_prefix is not None:
        nsn, ok = _strip_national_prefixes(nsn, ok, rules)

    n_nsn = arrow.lengths(nsn)
    # A leading zero would go through phonenumbers' "Italian leading zero" bookkeeping.
    ok &= (n_nsn >= MIN_NSN) & (n_nsn <= MAX_NSN) & ~arrow.prefix(nsn, "0", ok)
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
