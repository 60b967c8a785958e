"""Calling windows: the local hours per weekday, and closed days, in which people may be phoned.

``CallingWindow`` is one zone's; ``IntersectionWindow`` is open only when every part is (recipients
who may be in several zones, or under several rules). Imported at DAG parse time: standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from integra import clock
from integra.clock import DEFAULT_TIMEZONE

#: How far ahead ``CallingWindow.next_opening`` looks before concluding the window never opens.
SEARCH_DAYS = 400

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC_FORMAT = "'HH:MM-HH:MM' (24-hour clock, e.g. '09:00-21:00'), or None for closed"

Hours = tuple[time, time]


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
        clock.zone(self.timezone)
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
        return clock.zone(self.timezone)

    def _hours_on(self, day: date) -> Hours | None:
        return None if day in self.holidays else self.hours[day.weekday()]

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` (aware) falls inside the window, judged by local wall time in the window's zone."""
        clock.require_aware(at, "at")
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
        clock.require_aware(at, "at")
        zone = self.zone
        start = clock.utc(at)
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
            clock.utc(clock.localize(day, opens, zone)),
            clock.utc(naive.replace(tzinfo=zone, fold=1)),
            clock.utc(clock.localize(day, time(0), zone)),
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
        clock.require_aware(at, "at")
        current = clock.utc(at)
        limit = current + timedelta(days=SEARCH_DAYS)
        while current <= limit:
            moved = False
            for part in self.parts:
                found = part.next_opening(current)
                if found is None:
                    return None
                if clock.utc(found) > current:
                    current, moved = clock.utc(found), True
            if not moved:
                return current.astimezone(self.zone)
        return None
