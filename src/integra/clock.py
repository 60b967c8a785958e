"""Instants and wall time: zones by name, aware datetimes only, DST-safe local times, ISO text.

Imported at DAG parse time, so it uses the standard library only (and dateutil, which Airflow already
imports, when a wall time is localised).

All comparisons and arithmetic between instants are done in UTC on purpose: Python compares and
subtracts two datetimes that share a tzinfo by wall clock, ignoring the offset, which is wrong
around daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "America/Sao_Paulo"
SECOND = timedelta(seconds=1)


def zone(name: str) -> ZoneInfo:
    """Resolve an IANA zone name, turning zoneinfo's assorted exceptions into one clear ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError) as exc:
        raise ValueError(f"unknown timezone {name!r}: use an IANA name like America/Sao_Paulo") from exc


def require_aware(value: datetime, what: str) -> None:
    """Reject naive datetimes: guessing their zone is how people get called at the wrong hour."""
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (Airflow gives aware UTC datetimes), got {value!r}")


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def localize(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The real instant of wall time ``day at`` in ``zone``.

    Ambiguous (fall-back) wall times take the first occurrence; a nonexistent (spring-forward) one is
    moved forward by the length of the gap, dateutil's ``resolve_imaginary`` (pendulum's convention too):
    02:30 on a day that jumps from 02:00 to 03:00 becomes 03:30.
    """
    from dateutil.tz import resolve_imaginary  # already imported by Airflow itself

    return resolve_imaginary(datetime.combine(day, at.replace(tzinfo=None)).replace(tzinfo=zone, fold=0))


def floor_second(value: datetime) -> datetime:
    return utc(value).replace(microsecond=0)


def format_duration(delta: timedelta) -> str:
    """Short human text: '45s', '12m', '3h12m', '6h', '1 day', '9 days 3h'."""
    total = max(int(delta.total_seconds()), 0)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        text = f"{days} day" if days == 1 else f"{days} days"
        return f"{text} {hours}h" if hours else text
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


def to_iso(dt: datetime) -> str:
    """ISO 8601 with offset at seconds precision, e.g. ``2026-03-25T10:00:00-03:00``, for the API."""
    require_aware(dt, "dt")
    return dt.isoformat(timespec="seconds")
