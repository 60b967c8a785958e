"""The operator's templated arguments, as they arrive rendered: text, JSON text or native values.

Each parser names the argument and the accepted form when it refuses one, so a wrong trigger conf or
definition fails before anything is sent.
"""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from integra.exceptions import IntegraConfigError


def to_bool(value: Any) -> bool:
    """Templated flags arrive as text ("True", "false", "") unless rendered natively."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def parse_send_time(value: str | time) -> time:
    """``"10:00"`` → 10:00, with an error that names the field and the format."""
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise IntegraConfigError(f"send_time: {value!r} is not a time; write it as HH:MM, e.g. 10:00") from exc


def parse_scheduled_at(value: str | datetime) -> datetime:
    """An explicit ``scheduled_at`` must carry its timezone: a bare local time is ambiguous."""
    parsed = value if isinstance(value, datetime) else None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise IntegraConfigError(
                f"scheduled_at: {value!r} is not an ISO 8601 date-time; write e.g. 2026-03-25T10:00:00-03:00"
            ) from exc
    if parsed.tzinfo is None:
        raise IntegraConfigError(
            f"scheduled_at: {value!r} has no timezone; add an offset, e.g. 2026-03-25T10:00:00-03:00"
        )
    return parsed


def as_keys(value: Any) -> frozenset[str]:
    """``resend_keys`` as rendered: a list, or its JSON text, or one key, or nothing."""
    if value in (None, "", "None", "[]"):
        return frozenset()
    if isinstance(value, str):
        text = value.strip()
        parsed = json.loads(text) if text.startswith("[") else [text]
        return frozenset(str(k) for k in parsed)
    return frozenset(str(k) for k in value)


def as_mapping(value: Any) -> dict[str, Any] | None:
    """Config may arrive as a JSON string when templated without native rendering."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, str):
        parsed = json.loads(value)
        return dict(parsed) if parsed else None
    return dict(value)
