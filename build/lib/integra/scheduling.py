"""Pure time logic for call campaigns: when a day's calls go out, and whether they go out at all.

Two failures matter more than anything else here: phoning a person outside decent hours (23:00),
and a backfill of last month phoning people today. Everything below exists to make those impossible.

Imported at DAG parse time, so it uses the standard library only and does no work on import.

All comparisons and arithmetic between instants are done in UTC on purpose: Python compares and
subtracts two datetimes that share a tzinfo by wall clock, ignoring the offset, which is wrong
around daylight-saving changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_TIMEZONE",
    "SEARCH_DAYS",
    "CallingWindow",
    "IntersectionWindow",
    "LatePolicy",
    "LateRunError",
    "ScheduleDecision",
    "at_local",
    "base_scheduled_at",
    "resolve_schedule",
    "to_iso",
]

DEFAULT_TIMEZONE = "America/Sao_Paulo"
#: How far ahead ``CallingWindow.next_opening`` looks before concluding the window never opens.
SEARCH_DAYS = 400

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC_FORMAT = "'HH:MM-HH:MM' (24-hour clock, e.g. '09:00-21:00'), or None for closed"
_SECOND = timedelta(seconds=1)

Hours = tuple[time, time]


# --------------------------------------------------------------------------- helpers


def _zone(name: str) -> ZoneInfo:
    """Resolve an IANA zone name, turning zoneinfo's assorted exceptions into one clear ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError) as exc:
        raise ValueError(f"unknown timezone {name!r}: use an IANA name like America/Sao_Paulo") from exc


def _require_aware(value: datetime, what: str) -> None:
    """Reject naive datetimes: guessing their zone is how people get called at the wrong hour."""
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (Airflow gives aware UTC datetimes), got {value!r}")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _localize(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The real instant of wall time ``day at`` in ``zone``.

    Ambiguous (fall-back) wall times take the first occurrence; a nonexistent (spring-forward) one is
    moved forward by the length of the gap, dateutil's ``resolve_imaginary`` (pendulum's convention too):
    02:30 on a day that jumps from 02:00 to 03:00 becomes 03:30.
    """
    from dateutil.tz import resolve_imaginary  # already imported by Airflow itself

    return resolve_imaginary(datetime.combine(day, at.replace(tzinfo=None)).replace(tzinfo=zone, fold=0))


def _floor_second(value: datetime) -> datetime:
    return _utc(value).replace(microsecond=0)


def _format_duration(delta: timedelta) -> str:
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
    _require_aware(dt, "dt")
    return dt.isoformat(timespec="seconds")


# --------------------------------------------------------------------------- base time


def base_scheduled_at(run_day: datetime, *, send_time: time, timezone: str) -> datetime:
    """The run's calendar day (see :func:`run_for`), taken in the campaign timezone, at ``send_time``.

    The day is computed in the campaign zone (not UTC) so a run for the 25th calls on the 25th
    where the leads live.
    """
    _require_aware(run_day, "run_day")
    if send_time.tzinfo is not None:
        raise ValueError(f"send_time must be a naive wall-clock time in the campaign timezone, got {send_time!r}")
    zone = _zone(timezone)
    return _localize(run_day.astimezone(zone).date(), send_time, zone)


def at_local(day: date, at: time, timezone: str) -> datetime:
    """The real instant of wall time ``day at`` in ``timezone`` (first occurrence; after a gap when it has none)."""
    return _localize(day, at, _zone(timezone))


def utc_of(value: datetime) -> datetime:
    """Sort key for instants: compare in UTC, never by wall clock."""
    return _utc(value)


def run_for(context: Mapping[str, Any]) -> datetime:
    """Which day this run is for: the end of its data interval, else its logical date, else ``run_after``.

    The one answer every step uses: the ledger keys batches by it, extract binds it, the schedule calls on
    it. With a cron timetable whose interval is the previous day, the logical date is the interval's start
    (yesterday) while the run happens at its end: that end is the calling day. A manual run over the same
    interval gets the same answer, so its keys match the scheduled run's. Never ``now()``.
    """
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if isinstance(value, datetime):
            return value
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if isinstance(run_after, datetime):
        return run_after
    raise ValueError("The run has no data interval, logical date or run_after: cannot tell which day it is for")


# --------------------------------------------------------------------------- calling window


def _parse_clock(text: str) -> time | None:
    """Parse strict 'HH:MM' (two digits each); None when malformed."""
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(len(p) == 2 and p.isdigit() and p.isascii() for p in parts):
        return None
    hour, minute = int(parts[0]), int(parts[1])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _parse_hours(day: str, value: str) -> Hours:
    pieces = value.split("-") if isinstance(value, str) else []
    bounds = [_parse_clock(p) for p in pieces] if len(pieces) == 2 else []
    if len(bounds) != 2 or bounds[0] is None or bounds[1] is None:
        raise ValueError(f"calling window for {day!r}: bad value {value!r}, expected {_SPEC_FORMAT}")
    opens, closes = bounds[0], bounds[1]
    if opens >= closes:
        raise ValueError(
            f"calling window for {day!r}: bad value {value!r}, opening must be before closing "
            f"(expected {_SPEC_FORMAT}; windows cannot cross midnight)"
        )
    return (opens, closes)


@dataclass(frozen=True)
class CallingWindow:
    """When people may be called: local hours per weekday, closed holidays, in one timezone.

    ``hours[i]`` is weekday ``i`` (Mon=0 .. Sun=6): ``None`` for closed, or ``(open, close)`` naive
    wall-clock times meaning ``open <= local time < close``. ``holidays`` are local calendar dates,
    closed all day.
    """

    hours: tuple[Hours | None, ...]
    holidays: frozenset[date] = field(default_factory=frozenset)
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        """Validate eagerly so a bad window fails at DAG parse time, not mid-campaign."""
        hours = tuple(self.hours)
        if len(hours) != 7:
            raise ValueError(f"hours needs 7 entries (Mon..Sun), got {len(hours)}")
        for name, entry in zip(DAY_NAMES, hours, strict=True):
            if entry is None:
                continue
            if len(entry) != 2 or not all(isinstance(t, time) for t in entry):
                raise ValueError(f"hours for {name!r} must be None or an (open, close) pair of times, got {entry!r}")
            opens, closes = entry
            if opens.tzinfo is not None or closes.tzinfo is not None:
                raise ValueError(f"hours for {name!r} must be naive wall-clock times, got {entry!r}")
            if opens.microsecond or closes.microsecond:
                raise ValueError(f"hours for {name!r} must be whole seconds, got {entry!r}")
            if opens >= closes:
                raise ValueError(f"hours for {name!r}: open {opens} must be before close {closes}")
        holidays = frozenset(self.holidays)
        for holiday in holidays:
            if isinstance(holiday, datetime) or not isinstance(holiday, date):
                raise ValueError(f"holidays must be dates (not datetimes), got {holiday!r}")
        _zone(self.timezone)
        object.__setattr__(self, "hours", tuple(None if e is None else (e[0], e[1]) for e in hours))
        object.__setattr__(self, "holidays", holidays)

    @classmethod
    def default(cls, timezone: str = DEFAULT_TIMEZONE) -> CallingWindow:
        """Mon-Fri 09:00-21:00, Sat 10:00-16:00, Sun closed: the common Brazilian telemarketing rule."""
        weekday = (time(9), time(21))
        return cls(
            hours=(weekday, weekday, weekday, weekday, weekday, (time(10), time(16)), None),
            timezone=timezone,
        )

    @classmethod
    def from_spec(
        cls,
        spec: Mapping[str, str | None],
        holidays: Iterable[date] = (),
        timezone: str = DEFAULT_TIMEZONE,
    ) -> CallingWindow:
        """Build from ``{"mon": "09:00-21:00", ..., "sun": None}``; days not listed are closed.

        Unlisted days are closed (not defaulted) so a spec never calls on a day nobody wrote down.
        """
        unknown = sorted(str(k) for k in spec if k not in DAY_NAMES)
        if unknown:
            raise ValueError(f"calling window: unknown day(s) {unknown}, expected keys among {list(DAY_NAMES)}")
        hours: list[Hours | None] = []
        for name in DAY_NAMES:
            value = spec.get(name)
            hours.append(None if value is None else _parse_hours(name, value))
        return cls(hours=tuple(hours), holidays=frozenset(holidays), timezone=timezone)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def _hours_on(self, day: date) -> Hours | None:
        return None if day in self.holidays else self.hours[day.weekday()]

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` (aware) falls inside the window, judged by local wall time in the window's zone."""
        _require_aware(at, "at")
        local = at.astimezone(self.zone)
        hours = self._hours_on(local.date())
        return hours is not None and hours[0] <= local.time() < hours[1]

    def next_opening(self, at: datetime) -> datetime | None:
        """Earliest opening >= ``at``, in the window zone; None if closed for SEARCH_DAYS.

        Returns ``at`` itself when already inside, else the first of the days' openings inside the
        window: the opening's first occurrence, its second when the clock falls back over it, or, when
        a gap swallows it, the opening moved forward by the gap. On a day whose offset changes, a
        clock that jumps or falls back into the window is not an opening: the answer may be later
        than the first instant inside, never earlier and never outside.
        """
        _require_aware(at, "at")
        zone = self.zone
        start = _utc(at)
        if self.contains(start):
            return start.astimezone(zone)
        if all(h is None for h in self.hours):
            return None
        first_day = start.astimezone(zone).date() - timedelta(days=1)  # a fall-back can revisit yesterday
        best: datetime | None = None
        stop_after: int | None = None
        for offset in range(SEARCH_DAYS + 2):
            if stop_after is not None and offset > stop_after:
                break
            day = first_day + timedelta(days=offset)
            hours = self._hours_on(day)
            if hours is None:
                continue
            for candidate in self._entry_instants(day, hours[0], zone):
                if candidate >= start and (best is None or candidate < best) and self.contains(candidate):
                    best = candidate
            if best is not None and stop_after is None:
                # Transitions shift wall time by hours at most; one more day settles the minimum.
                stop_after = offset + 1
        return None if best is None else best.astimezone(zone)

    @staticmethod
    def _entry_instants(day: date, opens: time, zone: ZoneInfo) -> list[datetime]:
        """UTC instants where ``day``'s window may open: its opening (either occurrence when the wall
        time repeats; moved past a gap when it does not exist) and the day's start."""
        naive = datetime.combine(day, opens)
        return [
            _utc(_localize(day, opens, zone)),
            _utc(naive.replace(tzinfo=zone, fold=1)),
            _utc(_localize(day, time(0), zone)),
        ]


class Window(Protocol):
    """What ``resolve_schedule`` needs of a window: one zone's, or the intersection of several."""

    @property
    def zone(self) -> ZoneInfo: ...

    def contains(self, at: datetime) -> bool: ...

    def next_opening(self, at: datetime) -> datetime | None: ...


@dataclass(frozen=True)
class IntersectionWindow:
    """Open only when every part is open: recipients who may be in several zones, or under several rules.

    Times are shown in the first part's zone.
    """

    parts: tuple[CallingWindow, ...]

    def __post_init__(self) -> None:
        """An intersection of nothing would be always open: refuse it."""
        if not self.parts:
            raise ValueError("an intersection window needs at least one part")

    @property
    def zone(self) -> ZoneInfo:
        return self.parts[0].zone

    @property
    def timezone(self) -> str:
        return self.parts[0].timezone

    def contains(self, at: datetime) -> bool:
        return all(part.contains(at) for part in self.parts)

    def next_opening(self, at: datetime) -> datetime | None:
        """Earliest instant >= ``at`` inside every part; None if there is none within SEARCH_DAYS.

        Each part's next opening is never later than the answer, so moving to the latest of them and
        repeating reaches the answer exactly.
        """
        _require_aware(at, "at")
        current = _utc(at)
        limit = current + timedelta(days=SEARCH_DAYS)
        while current <= limit:
            moved = False
            for part in self.parts:
                found = part.next_opening(current)
                if found is None:
                    return None
                if _utc(found) > current:
                    current, moved = _utc(found), True
            if not moved:
                return current.astimezone(self.zone)
        return None


# --------------------------------------------------------------------------- decision


class LatePolicy(StrEnum):
    """What to do when the requested time is already past (late run, retry, backfill)."""

    SHIFT = "shift"  # send at the next calling-window opening, if that is within the grace
    SKIP = "skip"  # drop the day
    FAIL = "fail"  # raise LateRunError so a human decides


class LateRunError(ValueError):
    """Raised under LatePolicy.FAIL instead of sending late (or never)."""


@dataclass(frozen=True)
class ScheduleDecision:
    """Outcome of ``resolve_schedule``: send at ``scheduled_at``, or skip the day, and why."""

    action: Literal["send", "skip"]
    scheduled_at: datetime | None
    requested_at: datetime
    reason: str

    def __post_init__(self) -> None:
        """Keep the two shapes honest: a send has an aware time, a skip has none."""
        if self.action == "send":
            if self.scheduled_at is None:
                raise ValueError("a 'send' decision needs scheduled_at")
            _require_aware(self.scheduled_at, "scheduled_at")
        elif self.action == "skip":
            if self.scheduled_at is not None:
                raise ValueError("a 'skip' decision has no scheduled_at")
        else:
            raise ValueError(f"action must be 'send' or 'skip', got {self.action!r}")


def _whole_second_opening(window: Window, at: datetime, floor: datetime) -> datetime | None:
    """``window.next_opening(at)`` at whole seconds, never before ``floor``.

    Truncates; rounds up only when truncating would fall before ``floor``, and looks for the next
    opening when rounding up leaves the window (e.g. one second before closing).
    """
    current = at
    for _ in range(4):
        found = window.next_opening(current)
        if found is None:
            return None
        truncated = _floor_second(found)
        if truncated >= floor and window.contains(truncated):
            return truncated.astimezone(window.zone)
        rounded = truncated + _SECOND
        if window.contains(rounded):
            return rounded.astimezone(window.zone)
        current = rounded
    return None  # unreachable with whole-second windows; a skip is the safe answer anyway


def resolve_schedule(
    requested_at: datetime,
    *,
    now: datetime,
    window: Window,
    policy: LatePolicy = LatePolicy.SHIFT,
    grace: timedelta = timedelta(hours=6),
    min_lead: timedelta = timedelta(minutes=5),
) -> ScheduleDecision:
    """Decide when (or whether) calls requested for ``requested_at`` go out, given the clock ``now``.

    A send is always inside the window and at least ``min_lead`` after ``now``; a late request is
    shifted (within ``grace``), skipped or refused per ``policy``. Same inputs, same decision.
    """
    _require_aware(requested_at, "requested_at")
    _require_aware(now, "now")
    policy = LatePolicy(policy)
    if grace < timedelta(0):
        raise ValueError(f"grace must not be negative, got {grace}")
    if min_lead < timedelta(0):
        raise ValueError(f"min_lead must not be negative, got {min_lead}")

    requested = _utc(requested_at)
    current = _utc(now)
    earliest = current + min_lead
    horizon = f"within {SEARCH_DAYS} days"

    if requested >= earliest:
        scheduled = _whole_second_opening(window, requested, earliest)
        if scheduled is None:
            reason = f"the calling window never opens {horizon} of {to_iso(requested_at)}: day skipped"
            if policy is LatePolicy.FAIL:
                raise LateRunError(f"{reason}; fix the calling window (late policy is 'fail')")
            return ScheduleDecision("skip", None, requested_at, reason)
        if abs(_utc(scheduled) - requested) < _SECOND:
            reason = "on time"
        else:
            reason = (
                f"requested {to_iso(requested_at)} is outside the calling window: "
                f"moved to the next calling-window opening {to_iso(scheduled)}"
            )
        return ScheduleDecision("send", scheduled, requested_at, reason)

    if requested <= current:
        late = f"late by {_format_duration(current - requested)}"
    else:
        late = (
            f"only {_format_duration(requested - current)} ahead of now, "
            f"under the {_format_duration(min_lead)} minimum lead"
        )

    if policy is LatePolicy.FAIL:
        raise LateRunError(
            f"{late}: requested {to_iso(requested_at)}, now {to_iso(now)}. The late policy is 'fail'; "
            "set it to 'shift' (send at the next calling-window opening within the grace) "
            "or 'skip' (drop the day) to let late runs through."
        )
    if policy is LatePolicy.SKIP:
        return ScheduleDecision("skip", None, requested_at, f"{late}: day skipped (late policy 'skip')")

    scheduled = _whole_second_opening(window, earliest, earliest)
    if scheduled is None:
        return ScheduleDecision(
            "skip", None, requested_at, f"{late} and the calling window never opens {horizon}: day skipped"
        )
    delay = _utc(scheduled) - requested
    if delay <= grace:
        return ScheduleDecision("send", scheduled, requested_at, f"{late}, shifted to {to_iso(scheduled)}")
    return ScheduleDecision(
        "skip",
        None,
        requested_at,
        f"{late}, the next calling-window opening {to_iso(scheduled)} is {_format_duration(delay)} "
        f"after the requested time, beyond the {_format_duration(grace)} grace: day skipped",
    )
