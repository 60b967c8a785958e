"""A region's ``phonenumbers`` metadata in the fast path's form (public metadata API only).

``fast_rules`` is ``None`` for a region that is not simple enough; its numbers go to the reference.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import phonenumbers
import pyarrow as pa
from phonenumbers import PhoneMetadata, PhoneNumberDesc, PhoneNumberType, ValidationResult

from integra.phones import arrow
from integra.phones.reference import MAX_INPUT

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


@dataclass(frozen=True)
class Desc:
    """One PhoneNumberDesc: pattern for the vectorised engine, compiled for Python, lengths."""

    pattern: str
    lengths: tuple[int, ...]

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        """Compiled on first use: only rare rows (carrier codes) need Python's engine, so most descs never are."""
        return re.compile(self.pattern)


@dataclass(frozen=True)
class Rules:
    """What the fast path needs from one region's metadata."""

    region: str
    country_code: str
    idd: str | None
    national_prefix: re.Pattern[str] | None
    transform_rule: str | None
    general: Desc
    special: tuple[tuple[Desc, int], ...]
    #: One regex matching whatever any special desc's pattern matches (``None``: none, or RE2 refused it).
    any_special: str | None
    fixed_line: Desc | None
    mobile: Desc | None
    same_mobile_and_fixed_line: bool
    single_region: bool
    length_results: tuple[int, ...]

    def length_result(self, length: int) -> int:
        """phonenumbers' _test_number_length for an NSN of this many digits (general desc)."""
        return self.length_results[min(length, len(self.length_results) - 1)]

    def length_results_of(self, lengths: np.ndarray) -> np.ndarray:
        """``length_result`` for an array of lengths."""
        return np.asarray(self.length_results)[np.minimum(lengths, len(self.length_results) - 1)]


def _desc(desc: PhoneNumberDesc | None) -> Desc | None:
    """``None`` when phonenumbers would never match the desc (absent or empty pattern)."""
    if desc is None or not desc.national_number_pattern:
        return None
    pattern = desc.national_number_pattern
    return Desc(pattern, tuple(desc.possible_length or ()))


@functools.cache
def fast_rules(region: str) -> Rules | None:
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
            arrow.fullmatch(probe, pattern)
        for pattern in prefixes:
            arrow.prefix(probe, pattern)
    except (ValueError, NotImplementedError, pa.ArrowException):  # pyarrow's RE2 rejects a construct
        return None
    any_special: str | None = "|".join(f"(?:{desc.pattern})" for desc, _ in special) or None
    if any_special is not None:
        try:
            arrow.fullmatch(probe, any_special)
        except (ValueError, NotImplementedError, pa.ArrowException):  # e.g. over RE2's program size
            any_special = None

    def possible(length: int) -> int:
        number = phonenumbers.PhoneNumber(country_code=meta.country_code, national_number=int("1" * length))
        return int(phonenumbers.is_possible_number_with_reason(number))

    # Any NSN longer than all possible lengths is TOO_LONG (phonenumbers' _test_number_length), so the
    # table can stop at the first such length: ``Rules.length_result`` clamps longer ones to it.
    length_results = tuple(possible(n) for n in range(1, min(max(general.lengths), MAX_INPUT) + 2))
    if length_results[-1] != int(ValidationResult.TOO_LONG):  # not expected; then every length is asked
        length_results = tuple(possible(n) for n in range(1, MAX_INPUT + 2))
    return Rules(
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
