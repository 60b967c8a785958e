"""The reference: one value at a time through ``phonenumbers``, and the answers every path gives.

It is the definition of right and it is slow (~90 µs a row); the vectorised path must agree with it.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import pandas as pd
import phonenumbers
from phonenumbers import PhoneNumberType

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
MIN_NSN: Final = 2
MAX_NSN: Final = 17
MAX_INPUT: Final = 250

Result = tuple[str | None, str | None]


def normalize_phone(value: object, default_region: str = "BR") -> Result:
    """``(e164, None)`` for a number we may call, else ``(None, reason)``; the per-row reference.

    Integral numbers (``5511987654321`` or ``5511987654321.0`` read from a numeric column) are
    read as their digits. Any letter makes a value ``invalid_phone``: phonenumbers would turn
    vanity spellings ("0800-FLORES") into digits and drop "ext 12" or the "xx" of "0xx11", and a
    lead whose phone field holds letters is not one we trust enough to call.
    """
    return normalize_text(to_text(value), default_region)


def to_text(value: object) -> str | None:
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


def normalize_text(text: str | None, region: str) -> Result:
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
