"""Pure time logic for call campaigns: when a day's calls go out, and whether they go out at all.

Two failures matter more than anything else here: phoning a person outside decent hours (23:00),
and a backfill of last month phoning people today. Everything below exists to make those impossible.

Here: which day a run is for, the requested time, and the decision (send, shift, skip) under the late
policy. The calling windows are :mod:`integra.calling_window`, instants and DST :mod:`integra.clock`;
their public names are also importable from here. Imported at DAG parse time: standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from integra import clock
from integra.calling_window import DAY_NAMES, SEARCH_DAYS, CallingWindow, Hours, IntersectionWindow
from integra.clock import DEFAULT_TIMEZONE, to_iso

if TYPE_CHECKING:
    from integra.calling_window import Window

__all__ = [
    "DAY_NAMES",
    "DEFAULT_TIMEZONE",
    "SEARCH_DAYS",
    "CallingWindow",
    "Hours",
    "IntersectionWindow",
    "LatePolicy",
    "LateRunError",
    "ScheduleDecision",
    "at_local",
    "base_scheduled_at",
    "resolve_schedule",
    "run_for",
    "to_iso",
    "utc_of",
]


# --------------------------------------------------------------------------- base time


def base_scheduled_at(run_day: datetime, *, send_time: time, timezone: str) -> datetime:
    """The run's calendar day (see :func:`run_for`), taken in the campaign timezone, at ``send_time``.

    The day is computed in the campaign zone (not UTC) so a run for the 25th calls on the 25th
    where the leads live.
    """
    clock.require_aware(run_day, "run_day")
    if send_time.tzinfo is not None:
        raise ValueError(f"send_time must be a naive wall-clock time in the campaign timezone, got {send_time!r}")
    zone = clock.zone(timezone)
    return clock.localize(run_day.astimezone(zone).date(), send_time, zone)


def at_local(day: date, at: time, timezone: str) -> datetime:
    """The real instant of wall time ``day at`` in ``timezone`` (first occurrence; after a gap when it has none)."""
    return clock.localize(day, at, clock.zone(timezone))


def utc_of(value: datetime) -> datetime:
    """Sort key for instants: compare in UTC, never by wall clock."""
    return clock.utc(value)


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
            clock.require_aware(self.scheduled_at, "scheduled_at")
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
        truncated = clock.floor_second(found)
        if truncated >= floor and window.contains(truncated):
            return truncated.astimezone(window.zone)
        rounded = truncated + clock.SECOND
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
    clock.require_aware(requested_at, "requested_at")
    clock.require_aware(now, "now")
    policy = LatePolicy(policy)
    if grace < timedelta(0):
        raise ValueError(f"grace must not be negative, got {grace}")
    if min_lead < timedelta(0):
        raise ValueError(f"min_lead must not be negative, got {min_lead}")

    requested = clock.utc(requested_at)
    current = clock.utc(now)
    earliest = current + min_lead
    horizon = f"within {SEARCH_DAYS} days"

    if requested >= earliest:
        scheduled = _whole_second_opening(window, requested, earliest)
        if scheduled is None:
            reason = f"the calling window never opens {horizon} of {to_iso(requested_at)}: day skipped"
            if policy is LatePolicy.FAIL:
                raise LateRunError(f"{reason}; fix the calling window (late policy is 'fail')")
            return ScheduleDecision("skip", None, requested_at, reason)
        if abs(clock.utc(scheduled) - requested) < clock.SECOND:
            reason = "on time"
        else:
            reason = (
                f"requested {to_iso(requested_at)} is outside the calling window: "
                f"moved to the next calling-window opening {to_iso(scheduled)}"
            )
        return ScheduleDecision("send", scheduled, requested_at, reason)

    if requested <= current:
        late = f"late by {clock.format_duration(current - requested)}"
    else:
        late = (
            f"only {clock.format_duration(requested - current)} ahead of now, "
            f"under the {clock.format_duration(min_lead)} minimum lead"
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
    delay = clock.utc(scheduled) - requested
    if delay <= grace:
        return ScheduleDecision("send", scheduled, requested_at, f"{late}, shifted to {to_iso(scheduled)}")
    return ScheduleDecision(
        "skip",
        None,
        requested_at,
        f"{late}, the next calling-window opening {to_iso(scheduled)} is {clock.format_duration(delay)} "
        f"after the requested time, beyond the {clock.format_duration(grace)} grace: day skipped",
    )
