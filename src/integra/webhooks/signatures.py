"""Webhook signatures: HMAC-SHA256 of the signing timestamp and the raw body, compared in constant time.

The header names and the signed string are assumptions kept in :mod:`integra.contract`. A delivery is
accepted when any of the secrets in force (the current one, and the previous one during a rotation)
signs it, and when it was signed within the tolerance: a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence

from integra import contract


class SignatureError(Exception):
    """The delivery is not provably Integra's: the message says why, never what was sent."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` signed at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return contract.SIGNATURE_PREFIX + digest


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers Integra is assumed to send with ``body``: what tests and tools sign deliveries with."""
    when = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        contract.TIMESTAMP_HEADER: str(when),
        contract.SIGNATURE_HEADER: sign(secret, when, body),
    }


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float | None = None,
    tolerance_s: int = contract.TIMESTAMP_TOLERANCE_S,
) -> int:
    """The delivery's signing time if one of ``secrets`` signed it recently; else :class:`SignatureError`."""
    signature = headers.get(contract.SIGNATURE_HEADER) or headers.get(contract.SIGNATURE_HEADER.lower())
    stamp = headers.get(contract.TIMESTAMP_HEADER) or headers.get(contract.TIMESTAMP_HEADER.lower())
    if not signature:
        raise SignatureError(f"missing {contract.SIGNATURE_HEADER} header")
    if not stamp or not re.fullmatch(r"[0-9]{1,12}", stamp.strip()):
        raise SignatureError(f"missing or malformed {contract.TIMESTAMP_HEADER} header")
    timestamp = int(stamp.strip())
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"signed {int(current - timestamp)} s ago: outside the {tolerance_s} s tolerance")
    valid = [s for s in secrets if s]
    if not valid:
        raise SignatureError("no webhook secret is configured")
    presented = signature.strip().encode("ascii", "replace")
    matched = False
    for secret in valid:  # every secret is tried, so the time taken does not tell which one matched
        matched |= hmac.compare_digest(presented, sign(secret, timestamp, body).encode("ascii"))
    if not matched:
        raise SignatureError("signature does not match")
    return timestamp
