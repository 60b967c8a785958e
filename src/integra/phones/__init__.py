"""Warehouse phone values → E.164 numbers we may call, or the reason we may not.

``normalize_phone`` (``reference``) is the reference: one value at a time through ``phonenumbers``. It is the
definition of right and it is slow (~90 µs a row). ``normalize_phones`` gives exactly the same
answers for a whole ``Series`` but decides the common shapes of the default region's numbers
with vectorised string operations and the region's own ``phonenumbers`` metadata; whatever it
cannot decide with certainty goes to the reference, once per distinct value.

Every step of the fast path mirrors a step of ``phonenumbers.parse`` (as of phonenumbers 9.0) for
the inputs it admits; anything outside them (other country codes, international dialling prefixes, leading-zero
national numbers, extensions, letters, odd whitespace) is left to the reference.
"""

from integra.phones.reference import CALLABLE_TYPES, INVALID_PHONE, MISSING_PHONE, NOT_CALLABLE, normalize_phone
from integra.phones.vectorised import normalize_phones

__all__ = [
    "CALLABLE_TYPES",
    "INVALID_PHONE",
    "MISSING_PHONE",
    "NOT_CALLABLE",
    "normalize_phone",
    "normalize_phones",
]
