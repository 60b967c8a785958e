"""The recipient's own time: where a number is, when it may be called there, and which batch it joins.

A number's zones are phonenumbers' time-zone metadata for it *and* its state's zones (Brazil: the
area code gives the state). When those disagree, or a state spans two zones, every one counts: the
number is called only when it is inside the window in all of them (an intersection never phones
anyone at night, whichever zone is the true one). The window in each zone is the campaign's hours,
narrowed by the state's law (``state_rules``), closed on the country's and the state's holidays.

Numbers whose windows behave alike around the calling day (same UTC offsets, same hours, same
holidays from the calling day to ``HORIZON_DAYS`` after) share batches; each batch's window is still the intersection of
all its members' full windows, so merging never widens anyone's hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from integra import scheduling
from integra.calling_window import CallingWindow, Hours, IntersectionWindow
from integra.policy import brazil
from integra.policy.calendars import HolidaySettings
from integra.policy.state_rules import state_hours

#: Days after the calling day over which two localities must agree to share a batch.
HORIZON_DAYS = 8
#: Characters of a Brazilian E.164 number that decide its zones: "+", "55" and 6 digits (phonenumbers'
#: Brazilian time-zone prefixes have at most 8 digits; a test checks the cache against direct look-ups).
BR_PREFIX = 9
_UNKNOWN_ZONE = "Etc/Unknown"


@dataclass(frozen=True, order=True)
class Locality:
    """Where a number is: its state ("" when unknown) and every zone it may be in (may be empty)."""

    state: str
    zones: tuple[str, ...]

    @property
    def text(self) -> str:
        """As a batch file keeps it, one per person: ``state|zone,zone`` (IANA names have neither separator)."""
        return f"{self.state}|{','.join(self.zones)}"

    @classmethod
    def from_text(cls, text: str) -> Locality:
        state, _, zones = text.partition("|")
        return cls(state, tuple(zones.split(",")) if zones else ())


_LOCALITIES: dict[str, Locality] = {}


def locality_of(e164: str) -> Locality:
    """The locality of an E.164 number; cached by the prefix that decides it."""
    key = e164[:BR_PREFIX] if e164.startswith("+55") else e164
    found = _LOCALITIES.get(key)
    if found is None:
        found = _LOCALITIES[key] = _lookup(e164)
    return found


def _lookup(e164: str) -> Locality:
    zones = {zone for zone in _number_zones(e164) if zone != _UNKNOWN_ZONE} | set(brazil.zones_of(e164))
    return Locality(brazil.state_of(e164) or "", tuple(sorted(zones)))


def _number_zones(e164: str) -> tuple[str, ...]:
    """phonenumbers' zones for the number.

    A Brazilian mobile (DDD + 9 + 8 digits) or landline (DDD + [2-5] + 7 digits) is geographic by the
    numbering plan, so its zones are the geographic look-up alone, without parsing the text or
    classifying the number again (about 6x cheaper; a test checks it against the full path).
    """
    import phonenumbers
    from phonenumbers import timezone as number_zones

    national = e164[3:]
    if (
        e164.startswith("+55")
        and national.isdigit()
        and ((len(national) == 11 and national[2] == "9") or (len(national) == 10 and national[2] in "2345"))
    ):
        number = phonenumbers.PhoneNumber(country_code=55, national_number=int(national))
        return tuple(number_zones.time_zones_for_geographical_number(number))
    try:
        return tuple(number_zones.time_zones_for_number(phonenumbers.parse(e164)))
    except phonenumbers.NumberParseException:
        return ()


@dataclass(frozen=True)
class LocalRules:
    """A campaign's rules for the recipient's own time; ``timezone`` is its own zone (calling day, fallback)."""

    hours: tuple[Hours | None, ...]
    holidays: HolidaySettings
    state_rules: bool = True
    timezone: str = scheduling.DEFAULT_TIMEZONE

    @classmethod
    def from_spec(
        cls,
        calling_window: Mapping[str, str | None] | None,
        holidays: HolidaySettings | Mapping[str, Any] | Sequence[Any],
        *,
        state_rules: bool = True,
        timezone: str = scheduling.DEFAULT_TIMEZONE,
    ) -> LocalRules:
        """From a definition's or an operator's arguments: a window spec (None: the national default) and
        holiday settings (or a plain list of extra dates)."""
        if calling_window is None:
            hours = CallingWindow.default(timezone).hours
        else:
            hours = CallingWindow.from_spec(calling_window, timezone=timezone).hours
        if not isinstance(holidays, HolidaySettings):
            holidays = HolidaySettings.model_validate(dict(holidays) if isinstance(holidays, Mapping) else holidays)
        return cls(hours=hours, holidays=holidays, state_rules=state_rules, timezone=timezone)

    def zones(self, locality: Locality) -> tuple[str, ...]:
        return locality.zones or (self.timezone,)

    def calling_day(self, run_day: datetime) -> date:
        """The run's day in the campaign's own zone: the day everybody is called, in their own hours."""
        return run_day.astimezone(ZoneInfo(self.timezone)).date()

    def _hours(self, locality: Locality) -> tuple[Hours | None, ...]:
        return state_hours(self.hours, locality.state) if self.state_rules else self.hours

    def _closed(self, locality: Locality, day: date) -> frozenset[date]:
        return self.holidays.days(locality.state or None, range(day.year - 1, day.year + 3))

    def window(self, localities: Iterable[Locality], day: date) -> CallingWindow | IntersectionWindow:
        """When all of ``localities`` may be called: the intersection of each one's window in each of its zones."""
        parts: dict[tuple[object, ...], CallingWindow] = {}
        for locality in sorted(set(localities)):
            hours, closed = self._hours(locality), self._closed(locality, day)
            for zone in self.zones(locality):
                parts.setdefault((hours, closed, zone), CallingWindow(hours=hours, holidays=closed, timezone=zone))
        windows = tuple(parts.values())
        if not windows:
            return CallingWindow(
                hours=self.hours, holidays=self.holidays.days(None, [day.year]), timezone=self.timezone
            )
        return windows[0] if len(windows) == 1 else IntersectionWindow(windows)

    def requested(self, localities: Iterable[Locality], day: date, send_time: time) -> datetime:
        """``send_time`` on the calling day in the recipients' own zones: the latest of them, so none is early."""
        zones = {zone for locality in localities for zone in self.zones(locality)} or {self.timezone}
        return max((scheduling.at_local(day, send_time, zone) for zone in sorted(zones)), key=scheduling.utc_of)

    def signature(self, locality: Locality, day: date) -> tuple[object, ...]:
        """What decides a locality's calls around ``day``: numbers with equal signatures may share a batch."""
        days = [day + timedelta(days=n) for n in range(-1, HORIZON_DAYS + 1)]
        offsets = tuple(
            sorted({tuple(scheduling.at_local(d, time(12), z).utcoffset() for d in days) for z in self.zones(locality)})
        )
        closed = self._closed(locality, day)
        return (offsets, self._hours(locality), tuple(d for d in days[1:] if d in closed))

    def label(self, localities: Iterable[Locality], day: date) -> str:
        """How a batch's campaign name says who is in it: UTC offsets on the calling day, then the states."""
        members = sorted(set(localities))
        offsets = sorted(
            {scheduling.at_local(day, time(12), z).utcoffset() or timedelta(0) for m in members for z in self.zones(m)}
        )
        text = "/".join(_offset(o) for o in offsets)
        states = sorted({m.state for m in members if m.state})
        if states and len(states) <= 3:
            text += " " + ",".join(states)
        elif states:
            text += f" {len(states)} states"
        return text


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
