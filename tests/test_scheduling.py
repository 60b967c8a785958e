"""Tests for integra.scheduling: unit cases for the known traps, hypothesis for the invariants.

The invariants are the ones that keep people from being phoned at 23:00 or a backfill from
phoning today: a send is inside the calling window, never before now + min_lead, and a late
shift never exceeds the grace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integra.scheduling import (
    SEARCH_DAYS,
    CallingWindow,
    LatePolicy,
    LateRunError,
    ScheduleDecision,
    base_scheduled_at,
    resolve_schedule,
    to_iso,
)

SP = "America/Sao_Paulo"
NY = "America/New_York"
LONDON = "Europe/London"
KOLKATA = "Asia/Kolkata"
LORD_HOWE = "Australia/Lord_Howe"  # 30-minute DST shift
CASEY = "Antarctica/Casey"  # 2009-2020: 3-hour jumps, one back across midnight
ZONES = [SP, NY, LONDON, KOLKATA, LORD_HOWE, CASEY, "Pacific/Chatham", "America/St_Johns", "UTC"]
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


def same_instant(a: datetime | None, b: datetime | None) -> bool:
    """Compare instants in UTC: == between aware datetimes is unreliable around DST folds."""
    assert a is not None
    assert b is not None
    return a.astimezone(UTC) == b.astimezone(UTC)


# --------------------------------------------------------------------------- base_scheduled_at


class TestBaseScheduledAt:
    def test_day_is_taken_in_campaign_timezone(self):
        # Midnight in São Paulo is 03:00 UTC: the run for the 25th calls on the 25th.
        got = base_scheduled_at(utc(2026, 3, 25, 3), send_time=time(10), timezone=SP)
        assert to_iso(got) == "2026-03-25T10:00:00-03:00"
        assert got.tzinfo == ZoneInfo(SP)

    def test_utc_midnight_is_still_the_previous_day_in_sao_paulo(self):
        got = base_scheduled_at(utc(2026, 3, 25, 2, 59), send_time=time(10), timezone=SP)
        assert to_iso(got) == "2026-03-24T10:00:00-03:00"

    def test_kolkata_half_hour_offset(self):
        # 19:00 UTC is 00:30 next day in Kolkata (+05:30).
        got = base_scheduled_at(utc(2026, 3, 24, 19), send_time=time(9), timezone=KOLKATA)
        assert to_iso(got) == "2026-03-25T09:00:00+05:30"
        assert same_instant(got, utc(2026, 3, 25, 3, 30))
        before = base_scheduled_at(utc(2026, 3, 24, 18, 29), send_time=time(9), timezone=KOLKATA)
        assert to_iso(before) == "2026-03-24T09:00:00+05:30"

    def test_the_day_comes_from_run_for(self):
        """Manual, scheduled and backfill runs all reach this through ``run_for``: one answer per run."""
        from integra.scheduling import run_for

        dag_run = type("DagRun", (), {"run_after": utc(2026, 3, 25, 15, 30)})()
        got = base_scheduled_at(run_for({"dag_run": dag_run}), send_time=time(10), timezone=SP)
        assert to_iso(got) == "2026-03-25T10:00:00-03:00"
        scheduled = {"logical_date": utc(2026, 3, 24, 10), "data_interval_end": utc(2026, 3, 25, 10)}
        assert to_iso(base_scheduled_at(run_for(scheduled), send_time=time(10), timezone=SP)) == (
            "2026-03-25T10:00:00-03:00"
        )

    def test_naive_input_rejected(self):
        with pytest.raises(ValueError, match="timezone-aware"):
            base_scheduled_at(datetime(2026, 3, 25, 12), send_time=time(10), timezone=SP)

    @pytest.mark.parametrize("zone", ["Mars/Olympus", "", "America", "../etc/passwd", "-03:00"])
    def test_unknown_timezone(self, zone):
        with pytest.raises(ValueError, match="IANA name like America/Sao_Paulo") as info:
            base_scheduled_at(utc(2026, 3, 25, 12), send_time=time(10), timezone=zone)
        assert repr(zone) in str(info.value)

    def test_new_york_spring_forward_gap_moves_forward_by_the_gap(self):
        # 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 does not exist; dateutil's resolve_imaginary gives 03:30.
        got = base_scheduled_at(utc(2026, 3, 8, 12), send_time=time(2, 30), timezone=NY)
        assert to_iso(got) == "2026-03-08T03:30:00-04:00"
        assert same_instant(got, utc(2026, 3, 8, 7, 30))

    def test_new_york_fall_back_takes_first_occurrence(self):
        # 2026-11-01 01:30 happens twice: EDT (05:30Z) then EST (06:30Z).
        got = base_scheduled_at(utc(2026, 11, 1, 12), send_time=time(1, 30), timezone=NY)
        assert same_instant(got, utc(2026, 11, 1, 5, 30))
        assert to_iso(got) == "2026-11-01T01:30:00-04:00"

    def test_london_spring_forward_and_fall_back(self):
        spring = base_scheduled_at(utc(2026, 3, 29, 12), send_time=time(1, 30), timezone=LONDON)
        assert to_iso(spring) == "2026-03-29T02:30:00+01:00"
        assert same_instant(spring, utc(2026, 3, 29, 1, 30))
        autumn = base_scheduled_at(utc(2026, 10, 25, 12), send_time=time(1, 30), timezone=LONDON)
        assert to_iso(autumn) == "2026-10-25T01:30:00+01:00"
        assert same_instant(autumn, utc(2026, 10, 25, 0, 30))

    def test_sao_paulo_historical_midnight_gap(self):
        # Brazil's DST (until 2019) started at 00:00 -> 01:00.
        got = base_scheduled_at(utc(2018, 11, 4, 12), send_time=time(0, 15), timezone=SP)
        assert to_iso(got) == "2018-11-04T01:15:00-02:00"

    def test_lord_howe_half_hour_gap(self):
        # 2026-10-04 02:00 +10:30 -> 02:30 +11:00.
        got = base_scheduled_at(utc(2026, 10, 4, 3), send_time=time(2, 10), timezone=LORD_HOWE)
        assert to_iso(got) == "2026-10-04T02:40:00+11:00"

    def test_plain_day_keeps_send_time_exactly(self):
        got = base_scheduled_at(utc(2026, 7, 1, 12), send_time=time(14, 45, 30), timezone=NY)
        assert to_iso(got) == "2026-07-01T14:45:30-04:00"


# --------------------------------------------------------------------------- CallingWindow


class TestCallingWindow:
    def test_default_rule(self):
        w = CallingWindow.default()
        assert w.timezone == SP
        assert w.hours[0] == (time(9), time(21))
        assert w.hours[4] == (time(9), time(21))
        assert w.hours[5] == (time(10), time(16))
        assert w.hours[6] is None
        assert w.holidays == frozenset()

    @pytest.mark.parametrize(
        ("at", "inside"),
        [
            (local(SP, 2026, 3, 23, 9), True),  # Monday opening, inclusive
            (local(SP, 2026, 3, 23, 8, 59, 59), False),
            (local(SP, 2026, 3, 23, 20, 59, 59), True),
            (local(SP, 2026, 3, 23, 21), False),  # closing is exclusive
            (local(SP, 2026, 3, 23, 23), False),  # the 23:00 call
            (local(SP, 2026, 3, 28, 10), True),  # Saturday
            (local(SP, 2026, 3, 28, 16), False),
            (local(SP, 2026, 3, 29, 12), False),  # Sunday
            (utc(2026, 3, 23, 12), True),  # 09:00 in São Paulo
            (utc(2026, 3, 23, 11, 59), False),  # 08:59 in São Paulo
            (utc(2026, 3, 24, 0, 30), False),  # Monday 21:30 local, Tuesday in UTC
        ],
    )
    def test_contains_default(self, at, inside):
        assert CallingWindow.default().contains(at) is inside

    def test_contains_rejects_naive(self):
        with pytest.raises(ValueError, match="timezone-aware"):
            CallingWindow.default().contains(datetime(2026, 3, 23, 12))

    def test_holiday_closed_all_day(self):
        w = CallingWindow.from_spec({"mon": "09:00-21:00", "tue": "09:00-21:00"}, holidays=[date(2026, 3, 23)])
        assert not w.contains(local(SP, 2026, 3, 23, 12))
        assert w.contains(local(SP, 2026, 3, 24, 12))
        assert to_iso(w.next_opening(local(SP, 2026, 3, 23, 12))) == "2026-03-24T09:00:00-03:00"

    def test_sunday_moves_to_monday_morning(self):
        got = CallingWindow.default().next_opening(local(SP, 2026, 3, 29, 11))
        assert to_iso(got) == "2026-03-30T09:00:00-03:00"

    def test_saturday_after_close_moves_to_monday(self):
        got = CallingWindow.default().next_opening(local(SP, 2026, 3, 28, 16, 30))
        assert to_iso(got) == "2026-03-30T09:00:00-03:00"

    def test_friday_night_moves_to_saturday_morning(self):
        got = CallingWindow.default().next_opening(local(SP, 2026, 3, 27, 23))
        assert to_iso(got) == "2026-03-28T10:00:00-03:00"

    def test_early_morning_moves_to_same_day_opening(self):
        got = CallingWindow.default().next_opening(utc(2026, 3, 25, 10))  # 07:00 local
        assert to_iso(got) == "2026-03-25T09:00:00-03:00"

    def test_inside_returns_same_instant_in_window_zone(self):
        at = utc(2026, 3, 25, 15, 17, 3, 250)
        got = CallingWindow.default().next_opening(at)
        assert got == at
        assert got is not None
        assert got.tzinfo == ZoneInfo(SP)

    def test_never_open(self):
        w = CallingWindow.from_spec({})
        assert w.next_opening(utc(2026, 3, 25, 12)) is None
        assert not w.contains(utc(2026, 3, 25, 12))

    def test_holidays_everywhere_is_never_open(self):
        start = date(2026, 3, 1)
        w = CallingWindow.from_spec(
            {"mon": "09:00-10:00"}, holidays=[start + timedelta(days=i) for i in range(SEARCH_DAYS + 30)]
        )
        assert w.next_opening(utc(2026, 3, 1)) is None

    def test_opening_far_ahead_is_found(self):
        # Closed by holidays for ~300 days: still found (the search horizon is ~400 days).
        start = date(2026, 3, 1)
        w = CallingWindow.from_spec({"mon": "09:00-10:00"}, holidays=[start + timedelta(days=i) for i in range(300)])
        got = w.next_opening(utc(2026, 3, 1))
        assert got is not None
        assert got.date() >= start + timedelta(days=300)
        assert got.weekday() == 0
        assert got.time() == time(9)

    def test_opening_inside_spring_forward_gap_is_a_real_instant(self):
        w = CallingWindow.from_spec({"sun": "02:30-05:00"}, timezone=NY)
        got = w.next_opening(utc(2026, 3, 7, 12))
        assert to_iso(got) == "2026-03-08T03:30:00-04:00"
        assert same_instant(got, utc(2026, 3, 8, 7, 30))
        assert w.contains(got)

    def test_window_entirely_inside_gap_is_closed_that_day(self):
        w = CallingWindow.from_spec({"sun": "02:10-02:50"}, timezone=NY)
        got = w.next_opening(utc(2026, 3, 7, 12))
        assert to_iso(got) == "2026-03-15T02:10:00-04:00"

    def test_fall_back_second_occurrence_of_opening(self):
        # At 01:45 EDT the 01:30-01:40 window is over for the first pass of the clock,
        # but the clock repeats 01:00-02:00 in EST: 01:30 EST is the next opening.
        w = CallingWindow.from_spec({"sun": "01:30-01:40"}, timezone=NY)
        got = w.next_opening(utc(2026, 11, 1, 5, 45))
        assert same_instant(got, utc(2026, 11, 1, 6, 30))
        assert to_iso(got) == "2026-11-01T01:30:00-05:00"

    def test_fall_back_jump_into_window_is_not_an_opening(self):
        # 01:45 EDT is after 00:30-01:30; at 02:00 EDT the clock falls back to 01:00 EST, inside the
        # window again, but that is no opening: the next one is the following Sunday's 00:30.
        w = CallingWindow.from_spec({"sun": "00:30-01:30"}, timezone=NY)
        got = w.next_opening(utc(2026, 11, 1, 5, 45))
        assert to_iso(got) == "2026-11-08T00:30:00-05:00"
        assert w.contains(got)

    def test_sao_paulo_midnight_fall_back_revisits_previous_evening(self):
        # 2019-02-17 00:00 -02:00 -> 2019-02-16 23:00 -03:00 (Saturday evening happens twice).
        w = CallingWindow.from_spec({"sat": "23:00-23:30"}, timezone=SP)
        got = w.next_opening(utc(2019, 2, 17, 1, 45))  # 23:45 -02:00, first pass
        assert same_instant(got, utc(2019, 2, 17, 2))
        assert to_iso(got) == "2019-02-16T23:00:00-03:00"

    def test_backward_jump_across_midnight_revisits_yesterday(self):
        # Antarctica/Casey, 2010-03-05 02:00 +11 -> 2010-03-04 23:00 +08: from Friday 00:30 the
        # wall clock goes back into Thursday evening, which opens the Thursday window.
        w = CallingWindow.from_spec({"thu": "23:00-23:30"}, timezone=CASEY)
        got = w.next_opening(utc(2010, 3, 4, 13, 30))  # Friday 00:30 +11
        assert to_iso(got) == "2010-03-04T23:00:00+08:00"
        assert same_instant(got, utc(2010, 3, 4, 15))

    def test_backward_jump_earliest_of_two_days(self):
        # Friday 01:00 +11 (14:00Z) comes before the revisited Thursday 23:00 +08 (15:00Z).
        w = CallingWindow.from_spec({"thu": "23:00-23:30", "fri": "01:00-01:30"}, timezone=CASEY)
        got = w.next_opening(utc(2010, 3, 4, 13, 30))
        assert to_iso(got) == "2010-03-05T01:00:00+11:00"

    def test_london_fall_back_opening(self):
        w = CallingWindow.from_spec({"sun": "01:15-01:45"}, timezone=LONDON)
        first = w.next_opening(utc(2026, 10, 24, 12))
        assert to_iso(first) == "2026-10-25T01:15:00+01:00"
        second = w.next_opening(utc(2026, 10, 25, 0, 50))  # 01:50 BST
        assert to_iso(second) == "2026-10-25T01:15:00+00:00"

    def test_next_opening_rejects_naive(self):
        with pytest.raises(ValueError, match="timezone-aware"):
            CallingWindow.default().next_opening(datetime(2026, 3, 23, 12))

    def test_from_spec_unlisted_days_are_closed(self):
        w = CallingWindow.from_spec({"mon": "08:00-12:00", "sun": None})
        assert w.hours == ((time(8), time(12)), None, None, None, None, None, None)

    def test_from_spec_tolerates_spaces(self):
        w = CallingWindow.from_spec({"fri": " 09:30 - 17:45 "}, timezone=KOLKATA)
        assert w.hours[4] == (time(9, 30), time(17, 45))
        assert w.timezone == KOLKATA

    @pytest.mark.parametrize(
        ("day", "value"),
        [
            ("mon", "9-21"),
            ("tue", "09:00"),
            ("wed", "09:00-24:00"),
            ("thu", "9:00-21:00"),
            ("fri", "09:60-10:00"),
            ("sat", "09:00-10:00-11:00"),
            ("sun", ""),
            ("mon", "ab:cd-ef:gh"),
        ],
    )
    def test_from_spec_bad_format_message(self, day, value):
        with pytest.raises(ValueError, match="HH:MM-HH:MM") as info:
            CallingWindow.from_spec({day: value})
        message = str(info.value)
        assert repr(day) in message
        assert repr(value) in message

    @pytest.mark.parametrize("value", ["21:00-09:00", "10:00-10:00"])
    def test_from_spec_open_must_precede_close(self, value):
        with pytest.raises(ValueError, match="before closing") as info:
            CallingWindow.from_spec({"sat": value})
        assert "'sat'" in str(info.value)
        assert repr(value) in str(info.value)

    def test_from_spec_unknown_day(self):
        with pytest.raises(ValueError, match=re.escape("unknown day(s) ['monday']")):
            CallingWindow.from_spec({"monday": "09:00-21:00"})

    def test_from_spec_unknown_timezone(self):
        with pytest.raises(ValueError, match=r"'Brazil/Nowhere'.*IANA name like America/Sao_Paulo"):
            CallingWindow.from_spec({"mon": "09:00-21:00"}, timezone="Brazil/Nowhere")

    @pytest.mark.parametrize(
        ("hours", "match"),
        [
            ((None,) * 6, "7 entries"),
            (((time(10), time(9)),) + (None,) * 6, "before close"),
            (((time(9), time(10, 0, 0, 5)),) + (None,) * 6, "whole seconds"),
            (((time(9, tzinfo=UTC), time(10)),) + (None,) * 6, "naive"),
        ],
    )
    def test_direct_construction_validated(self, hours, match):
        with pytest.raises(ValueError, match=match):
            CallingWindow(hours=hours)

    def test_holidays_must_be_dates(self):
        with pytest.raises(ValueError, match="holidays must be dates"):
            CallingWindow.from_spec({"mon": "09:00-21:00"}, holidays=[datetime(2026, 3, 23)])

    def test_window_is_hashable_value(self):
        a = CallingWindow.from_spec({"mon": "09:00-21:00"}, holidays=[date(2026, 1, 1)])
        b = CallingWindow.from_spec({"mon": "09:00-21:00"}, holidays={date(2026, 1, 1)})
        assert a == b
        assert hash(a) == hash(b)


# --------------------------------------------------------------------------- resolve_schedule

NOW = local(SP, 2026, 3, 25, 12)  # Wednesday noon in São Paulo


class TestResolveSchedule:
    def test_on_time(self):
        d = resolve_schedule(local(SP, 2026, 3, 25, 14), now=NOW, window=CallingWindow.default())
        assert d == ScheduleDecision("send", local(SP, 2026, 3, 25, 14), local(SP, 2026, 3, 25, 14), "on time")
        assert to_iso(d.scheduled_at) == "2026-03-25T14:00:00-03:00"

    def test_requested_exactly_at_min_lead_is_on_time(self):
        requested = NOW + timedelta(minutes=5)
        d = resolve_schedule(requested, now=NOW, window=CallingWindow.default())
        assert d.action == "send"
        assert d.reason == "on time"
        assert same_instant(d.scheduled_at, requested)

    def test_23h_request_moves_to_next_morning(self):
        d = resolve_schedule(local(SP, 2026, 3, 25, 23), now=NOW, window=CallingWindow.default())
        assert d.action == "send"
        assert to_iso(d.scheduled_at) == "2026-03-26T09:00:00-03:00"
        assert "moved to the next calling-window opening" in d.reason

    def test_sunday_request_moves_to_monday_even_beyond_grace(self):
        # Not late, so the grace does not apply: the campaign waits for the window.
        d = resolve_schedule(local(SP, 2026, 3, 29, 10), now=NOW, window=CallingWindow.default())
        assert d.action == "send"
        assert to_iso(d.scheduled_at) == "2026-03-30T09:00:00-03:00"

    def test_late_within_grace_is_shifted(self):
        requested = local(SP, 2026, 3, 25, 8, 48)
        d = resolve_schedule(requested, now=NOW, window=CallingWindow.default())
        assert d.action == "send"
        assert to_iso(d.scheduled_at) == "2026-03-25T12:05:00-03:00"
        assert d.reason == "late by 3h12m, shifted to 2026-03-25T12:05:00-03:00"
        assert d.requested_at == requested

    def test_late_shift_lands_on_next_opening(self):
        # Late at 20:58 with a 5-minute lead: 21:03 is closed, next opening is Thursday 09:00.
        now = local(SP, 2026, 3, 25, 20, 58)
        d = resolve_schedule(
            local(SP, 2026, 3, 25, 20), now=now, window=CallingWindow.default(), grace=timedelta(hours=14)
        )
        assert d.action == "send"
        assert to_iso(d.scheduled_at) == "2026-03-26T09:00:00-03:00"
        d2 = resolve_schedule(local(SP, 2026, 3, 25, 20), now=now, window=CallingWindow.default())
        assert d2.action == "skip"
        assert "beyond the 6h grace" in d2.reason

    def test_backfill_of_last_month_never_calls_today(self):
        requested = base_scheduled_at(utc(2026, 2, 16, 3), send_time=time(10), timezone=SP)
        d = resolve_schedule(requested, now=NOW, window=CallingWindow.default())
        assert d.action == "skip"
        assert d.scheduled_at is None
        assert d.reason.startswith("late by 37 days")
        assert "beyond the 6h grace: day skipped" in d.reason

    def test_late_by_nine_days_reason(self):
        d = resolve_schedule(NOW - timedelta(days=9), now=NOW, window=CallingWindow.default())
        assert d.action == "skip"
        assert d.reason.startswith("late by 9 days, ")
        assert d.reason.endswith("beyond the 6h grace: day skipped")

    def test_skip_policy(self):
        d = resolve_schedule(
            NOW - timedelta(minutes=1), now=NOW, window=CallingWindow.default(), policy=LatePolicy.SKIP
        )
        assert d.action == "skip"
        assert d.scheduled_at is None
        assert d.reason == "late by 1m: day skipped (late policy 'skip')"

    def test_skip_policy_does_not_affect_on_time_runs(self):
        d = resolve_schedule(local(SP, 2026, 3, 25, 15), now=NOW, window=CallingWindow.default(), policy="skip")
        assert d.action == "send"

    def test_fail_policy_raises_with_instructions(self):
        with pytest.raises(LateRunError) as info:
            resolve_schedule(local(SP, 2026, 3, 25, 9), now=NOW, window=CallingWindow.default(), policy=LatePolicy.FAIL)
        message = str(info.value)
        assert "late by 3h" in message
        assert "2026-03-25T09:00:00-03:00" in message
        assert "'shift'" in message
        assert "'skip'" in message
        assert isinstance(info.value, ValueError)

    def test_within_min_lead_is_late(self):
        # Two minutes ahead of now but the API needs five: treated as late, shifted to now + 5m.
        d = resolve_schedule(NOW + timedelta(minutes=2), now=NOW, window=CallingWindow.default())
        assert d.action == "send"
        assert same_instant(d.scheduled_at, NOW + timedelta(minutes=5))
        assert "under the 5m minimum lead" in d.reason

    def test_fall_back_hour_compares_instants_not_wall_clocks(self):
        # 01:50 EDT (05:50Z) was requested; it is now 01:10 EST (06:10Z), i.e. later, though the
        # wall clock reads earlier. Comparing wall clocks would call this "on time" and send in the past.
        always = CallingWindow.from_spec({d: "00:00-23:59" for d in ("sat", "sun", "mon")}, timezone=NY)
        requested = local(NY, 2026, 11, 1, 1, 50)
        now = local(NY, 2026, 11, 1, 1, 10, fold=1)
        d = resolve_schedule(requested, now=now, window=always)
        assert d.action == "send"
        assert d.reason.startswith("late by 20m")
        assert same_instant(d.scheduled_at, utc(2026, 11, 1, 6, 15))
        assert to_iso(d.scheduled_at) == "2026-11-01T01:15:00-05:00"

    def test_never_open_window_skips_or_fails(self):
        closed = CallingWindow.from_spec({})
        d = resolve_schedule(local(SP, 2026, 3, 26, 10), now=NOW, window=closed)
        assert d.action == "skip"
        assert "never opens" in d.reason
        late = resolve_schedule(local(SP, 2026, 3, 25, 10), now=NOW, window=closed)
        assert late.action == "skip"
        assert "never opens" in late.reason
        with pytest.raises(LateRunError, match="never opens"):
            resolve_schedule(local(SP, 2026, 3, 26, 10), now=NOW, window=closed, policy=LatePolicy.FAIL)

    def test_holiday_day_is_moved_past_holiday(self):
        w = CallingWindow.from_spec(
            {d: "09:00-21:00" for d in ("mon", "tue", "wed", "thu", "fri")}, holidays=[date(2026, 4, 3)]
        )
        d = resolve_schedule(local(SP, 2026, 4, 3, 10), now=NOW, window=w)
        assert to_iso(d.scheduled_at) == "2026-04-06T09:00:00-03:00"

    def test_late_into_holiday_is_skipped(self):
        w = CallingWindow.from_spec(
            {d: "09:00-21:00" for d in ("mon", "tue", "wed", "thu", "fri")}, holidays=[date(2026, 3, 25)]
        )
        d = resolve_schedule(local(SP, 2026, 3, 25, 10), now=NOW, window=w)
        assert d.action == "skip"
        assert "2026-03-26T09:00:00-03:00" in d.reason

    def test_truncates_to_whole_seconds(self):
        requested = local(SP, 2026, 3, 25, 14, 0, 0) + timedelta(microseconds=700_000)
        d = resolve_schedule(requested, now=NOW, window=CallingWindow.default())
        assert to_iso(d.scheduled_at) == "2026-03-25T14:00:00-03:00"
        assert d.scheduled_at is not None
        assert d.scheduled_at.microsecond == 0
        assert d.reason == "on time"

    def test_rounds_up_when_truncation_would_precede_earliest(self):
        now = local(SP, 2026, 3, 25, 10) + timedelta(microseconds=500_000)
        d = resolve_schedule(local(SP, 2026, 3, 25, 9), now=now, window=CallingWindow.default(), min_lead=timedelta(0))
        assert to_iso(d.scheduled_at) == "2026-03-25T10:00:01-03:00"

    def test_round_up_at_closing_goes_to_next_opening(self):
        now = local(SP, 2026, 3, 25, 20, 59, 59) + timedelta(microseconds=500_000)
        d = resolve_schedule(
            local(SP, 2026, 3, 25, 20),
            now=now,
            window=CallingWindow.default(),
            min_lead=timedelta(0),
            grace=timedelta(days=1),
        )
        assert to_iso(d.scheduled_at) == "2026-03-26T09:00:00-03:00"

    def test_scheduled_time_uses_window_timezone(self):
        d = resolve_schedule(utc(2026, 3, 25, 17), now=utc(2026, 3, 25, 15), window=CallingWindow.default())
        assert to_iso(d.scheduled_at) == "2026-03-25T14:00:00-03:00"
        assert d.requested_at == utc(2026, 3, 25, 17)

    def test_new_york_dst_day_opening(self):
        w = CallingWindow.from_spec({"sun": "02:30-06:00"}, timezone=NY)
        d = resolve_schedule(
            base_scheduled_at(utc(2026, 3, 8, 12), send_time=time(1), timezone=NY),
            now=utc(2026, 3, 1),
            window=w,
        )
        assert to_iso(d.scheduled_at) == "2026-03-08T03:30:00-04:00"  # 02:30 moved forward by the 1 h gap

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"grace": timedelta(hours=-1)}, "grace"),
            ({"min_lead": timedelta(seconds=-1)}, "min_lead"),
            ({"policy": "later"}, "later"),
        ],
    )
    def test_bad_parameters(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            resolve_schedule(local(SP, 2026, 3, 25, 14), now=NOW, window=CallingWindow.default(), **kwargs)

    def test_naive_inputs_rejected(self):
        with pytest.raises(ValueError, match="requested_at must be timezone-aware"):
            resolve_schedule(datetime(2026, 3, 25, 14), now=NOW, window=CallingWindow.default())
        with pytest.raises(ValueError, match="now must be timezone-aware"):
            resolve_schedule(NOW, now=datetime(2026, 3, 25, 14), window=CallingWindow.default())

    def test_decision_shape_is_validated(self):
        with pytest.raises(ValueError, match="needs scheduled_at"):
            ScheduleDecision("send", None, NOW, "x")
        with pytest.raises(ValueError, match="no scheduled_at"):
            ScheduleDecision("skip", NOW, NOW, "x")


def test_late_policy_values():
    assert [p.value for p in LatePolicy] == ["shift", "skip", "fail"]
    assert LatePolicy("skip") is LatePolicy.SKIP
    assert LatePolicy.FAIL == "fail"
    assert issubclass(LateRunError, ValueError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (local(SP, 2026, 3, 25, 10), "2026-03-25T10:00:00-03:00"),
        (utc(2026, 3, 25, 13, 0, 5) + timedelta(microseconds=999_999), "2026-03-25T13:00:05+00:00"),
        (local(KOLKATA, 2026, 3, 25, 9), "2026-03-25T09:00:00+05:30"),
        (local(NY, 2026, 11, 1, 1, 30, fold=1), "2026-11-01T01:30:00-05:00"),
    ],
)
def test_to_iso(value, expected):
    assert to_iso(value) == expected


def test_to_iso_rejects_naive():
    with pytest.raises(ValueError, match="timezone-aware"):
        to_iso(datetime(2026, 3, 25, 10))


# --------------------------------------------------------------------------- properties
#
# Strategies aim at the dangerous spots: half the instants sit within a day and a half of a UTC
# offset change, and send times and window edges cluster around the wall-clock times on either
# side of that change, so gaps and repeated hours are hit often, not by luck.


@cache
def transitions(zone: str) -> tuple[tuple[datetime, time, time], ...]:
    """Offset changes of ``zone`` in 2009-2030: (UTC instant, wall time just before, wall time at)."""
    tz = ZoneInfo(zone)
    found: list[tuple[datetime, time, time]] = []
    day = utc(2009, 1, 1)
    offset = day.astimezone(tz).utcoffset()
    while day.year < 2031:
        nxt = day + timedelta(days=1)
        new = nxt.astimezone(tz).utcoffset()
        if new != offset:
            lo, hi = day, nxt
            while hi - lo > SECOND:
                mid = lo + (hi - lo) / 2
                lo, hi = (lo, mid) if mid.astimezone(tz).utcoffset() == new else (mid, hi)
            found.append((hi, (hi - SECOND).astimezone(tz).time(), hi.astimezone(tz).time()))
        day, offset = nxt, new
    return tuple(found)


@cache
def transitions_of(zone: str) -> st.SearchStrategy[tuple[datetime, time, time]]:
    return st.sampled_from(transitions(zone))


# Strategies built once: building them per draw is what makes hypothesis slow.
ZONE = st.sampled_from(ZONES)
COIN = st.booleans()
NEAR_JUMP = st.integers(-120, 30) | st.integers(-36 * 60, 36 * 60)
ANY_INSTANT = st.datetimes(min_value=datetime(2009, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
HOT_OFFSET = st.integers(-10, 10) | st.integers(-90, 90)
ANY_MINUTE = st.integers(0, 24 * 60 - 2)
SECONDS = st.integers(0, 59)
MICROSECONDS = st.sampled_from([0, 0, 1, 500_000, 999_999])
DEFAULT_RULE = st.integers(0, 3)
CLOSED_DAY = st.integers(0, 4)
WIDTH = st.integers(1, 90) | st.integers(1, 12 * 60)
HOLIDAY_OFFSETS = st.frozensets(st.integers(-2, 10), max_size=3)
NOW_OFFSET = st.timedeltas(min_value=timedelta(hours=-12), max_value=timedelta(hours=12)) | st.timedeltas(
    min_value=timedelta(days=-60), max_value=timedelta(days=60)
)
MIN_LEAD = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2))
GRACE = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))


def pick(draw: st.DrawFn, options: tuple[time, ...]) -> time:
    return options[1] if len(options) > 1 and draw(COIN) else options[0]


@dataclass(frozen=True)
class Focus:
    """A zone, an instant in it, and wall-clock times worth aiming window edges and send times at."""

    zone: str
    instant: datetime
    hot: tuple[time, ...]


@st.composite
def focuses(draw: st.DrawFn, *, whole_minutes: bool = False) -> Focus:
    zone = draw(ZONE)
    if transitions(zone) and draw(COIN):
        instant, before, after = draw(transitions_of(zone))
        value = instant + timedelta(minutes=draw(NEAR_JUMP))
        hot: tuple[time, ...] = (before, after)
    else:
        value = draw(ANY_INSTANT)
        hot = (value.astimezone(ZoneInfo(zone)).time(),)
    if whole_minutes:
        value = value.replace(second=0, microsecond=0)
    return Focus(zone, value, hot)


def minute_of_day(draw: st.DrawFn, focus: Focus) -> int:
    """A minute of the day (0..1438), often within 90 minutes of a hot wall-clock time."""
    if draw(COIN):
        base = pick(draw, focus.hot)
        minute = base.hour * 60 + base.minute + draw(HOT_OFFSET)
    else:
        minute = draw(ANY_MINUTE)
    return min(max(minute, 0), 24 * 60 - 2)


@st.composite
def clocks(draw: st.DrawFn, focus: Focus, *, whole_seconds: bool = False) -> time:
    minute = minute_of_day(draw, focus)
    second = draw(SECONDS)
    micro = 0 if whole_seconds else draw(MICROSECONDS)
    return time(minute // 60, minute % 60, second, micro)


@st.composite
def windows(draw: st.DrawFn, focus: Focus) -> CallingWindow:
    """The default rule, or random minute-granular hours per day, with a few holidays."""
    if draw(DEFAULT_RULE) == 0:
        return CallingWindow.default(timezone=focus.zone)
    hours: list[tuple[time, time] | None] = []
    for _ in range(7):
        if draw(CLOSED_DAY) == 0:
            hours.append(None)
            continue
        opens = minute_of_day(draw, focus)
        closes = min(opens + draw(WIDTH), 24 * 60 - 1)
        hours.append((time(opens // 60, opens % 60), time(closes // 60, closes % 60)))
    day = focus.instant.astimezone(ZoneInfo(focus.zone)).date()
    holidays = frozenset(day + timedelta(days=n) for n in draw(HOLIDAY_OFFSETS))
    return CallingWindow(hours=tuple(hours), holidays=holidays, timezone=focus.zone)


@dataclass(frozen=True)
class Scenario:
    requested: datetime
    now: datetime
    window: CallingWindow
    grace: timedelta
    min_lead: timedelta

    def decide(self, policy: LatePolicy) -> ScheduleDecision:
        return resolve_schedule(
            self.requested,
            now=self.now,
            window=self.window,
            policy=policy,
            grace=self.grace,
            min_lead=self.min_lead,
        )


@st.composite
def scenarios(draw: st.DrawFn, *, whole_seconds: bool) -> Scenario:
    """A daily run: logical date and send time give the request; ``now`` is near it or far off."""
    focus = draw(focuses())
    window = draw(windows(focus))
    send_time = draw(clocks(focus, whole_seconds=whole_seconds))
    requested = base_scheduled_at(focus.instant, send_time=send_time, timezone=focus.zone)
    now = requested + draw(NOW_OFFSET)
    min_lead = draw(MIN_LEAD)
    if whole_seconds:
        now = now.replace(microsecond=0)
        min_lead -= timedelta(microseconds=min_lead.microseconds)
    grace = draw(GRACE)
    return Scenario(requested, now.astimezone(UTC), window, grace, min_lead)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_property_base_scheduled_at(data):
    """Right local day; send_time exactly (first occurrence if repeated), or the first instant after a gap."""
    focus = data.draw(focuses())
    send_time = data.draw(clocks(focus))
    tz = ZoneInfo(focus.zone)
    got = base_scheduled_at(focus.instant, send_time=send_time, timezone=focus.zone)
    assert got.tzinfo == tz
    assert got.date() == focus.instant.astimezone(tz).date()
    # A real instant: converting through UTC gives back the same wall clock.
    assert got.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == got.replace(tzinfo=None)
    wanted = datetime.combine(got.date(), send_time)
    if got.time() == send_time:
        second_occurrence = wanted.replace(tzinfo=tz, fold=1)
        assert got.astimezone(UTC) <= second_occurrence.astimezone(UTC)
    else:
        # Gap: send_time does not exist that day; it moves forward by the gap's length (resolve_imaginary).
        gap = (got + timedelta(hours=24)).utcoffset() - (got - timedelta(hours=24)).utcoffset()
        assert gap > timedelta(0)
        assert got.replace(tzinfo=None) == wanted + gap


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_property_next_opening_is_earliest(data):
    """Brute force: no whole minute between ``at`` and the answer is inside the window.

    Windows, offsets and transitions are whole minutes, so with a whole-minute ``at`` the earliest
    inside instant is a whole minute too and the scan is exact.
    """
    focus = data.draw(focuses(whole_minutes=True))
    window = data.draw(windows(focus))
    at = focus.instant
    got = window.next_opening(at)
    horizon = at + timedelta(days=8)
    if got is not None:
        assert got.tzinfo == ZoneInfo(focus.zone)
        assert got.astimezone(UTC) >= at
        assert window.contains(got)
        horizon = min(horizon, got.astimezone(UTC))
    probe = at
    while probe < horizon:
        assert not window.contains(probe) or offset_changes(probe, window.zone), (
            f"{probe} is inside but next_opening gave {got}"
        )
        probe += MINUTE


DST_ZONE = st.sampled_from([z for z in ZONES if z not in (KOLKATA, "UTC")])
JUMP_OFFSET = st.integers(-60, 60)
NARROW = st.integers(1, 90)
FOLD = st.integers(0, 1)


@st.composite
def around_transition(draw: st.DrawFn) -> tuple[CallingWindow, datetime]:
    """A narrow window on an offset-change day, edges near the jump; ``at`` near it, either fold.

    Other days are open all day so the answer is never far and the brute-force scan stays short.
    """
    zone = draw(DST_ZONE)
    tz = ZoneInfo(zone)
    instant, before, after = draw(transitions_of(zone))
    days = [(instant - SECOND).astimezone(tz).date(), instant.astimezone(tz).date()]
    day = days[draw(FOLD)]

    def near_jump() -> int:
        base = pick(draw, (before, after))
        return min(max(base.hour * 60 + base.minute + draw(JUMP_OFFSET), 0), 24 * 60 - 2)

    opens = near_jump()
    closes = min(opens + draw(NARROW), 24 * 60 - 1)
    hours: list[tuple[time, time] | None] = [(time(0), time(23, 59))] * 7
    hours[day.weekday()] = (time(opens // 60, opens % 60), time(closes // 60, closes % 60))
    window = CallingWindow(hours=tuple(hours), timezone=zone)
    wall = near_jump()
    at = datetime.combine(days[draw(FOLD)], time(wall // 60, wall % 60)).replace(tzinfo=tz, fold=draw(FOLD))
    return window, at.astimezone(UTC)


@settings(max_examples=300, deadline=None)
@given(case=around_transition())
def test_property_next_opening_around_transitions(case):
    """The same brute force, concentrated on repeated hours and gaps: inside, never early, and earliest except
    where the day's offset changes."""
    window, at = case
    got = window.next_opening(at)
    assert got is not None
    assert got.astimezone(UTC) >= at
    assert window.contains(got)
    probe = at
    while probe < got.astimezone(UTC):
        assert not window.contains(probe) or offset_changes(probe, window.zone), (
            f"{probe} is inside but next_opening gave {got}"
        )
        probe += MINUTE


def offset_changes(at: datetime, zone: ZoneInfo) -> bool:
    """Whether the UTC offset changes within a day of ``at``: there a clock that jumps or falls back into the
    window is no opening (the documented convention), so an inside instant before the answer is allowed.

    Judged on instants, not wall times: a fall-back that repeats the hours around midnight (Antarctica/Casey,
    2010-03-05 02:00 +11 -> 2010-03-04 23:00 +08) changes no offset between two wall times of one local day.
    """
    day = timedelta(days=1)
    return (at - day).astimezone(zone).utcoffset() != (at + day).astimezone(zone).utcoffset()


@settings(max_examples=200, deadline=None)
@given(s=scenarios(whole_seconds=False), policy=st.sampled_from([LatePolicy.SHIFT, LatePolicy.SKIP]))
def test_property_send_invariants(s, policy):
    """A send is inside the window, never before now + min_lead, whole seconds, deterministic."""
    d = s.decide(policy)
    assert d == s.decide(policy)
    earliest = s.now + s.min_lead
    requested = s.requested.astimezone(UTC)
    assert d.requested_at == s.requested
    if d.action == "send":
        assert d.scheduled_at is not None
        assert d.scheduled_at.tzinfo == ZoneInfo(s.window.timezone)
        assert s.window.contains(d.scheduled_at)
        assert d.scheduled_at.astimezone(UTC) >= earliest
        assert d.scheduled_at.microsecond == 0
        if requested < earliest:
            assert policy is LatePolicy.SHIFT
            assert d.scheduled_at.astimezone(UTC) - requested <= s.grace
        else:
            # Not late: never earlier than asked (beyond dropping the fraction of a second).
            assert d.scheduled_at.astimezone(UTC) > requested - SECOND
    else:
        assert d.scheduled_at is None
    if requested >= earliest and s.window.next_opening(requested) is not None:
        assert d.action == "send"


@settings(max_examples=200, deadline=None)
@given(s=scenarios(whole_seconds=True))
def test_property_matches_oracle(s):
    """With whole-second inputs every branch is exactly predictable from next_opening."""
    earliest = s.now + s.min_lead
    requested = s.requested.astimezone(UTC)
    if requested >= earliest:
        expected = s.window.next_opening(requested)
        for policy in LatePolicy:
            if expected is None and policy is LatePolicy.FAIL:
                with pytest.raises(LateRunError):
                    s.decide(policy)
                continue
            d = s.decide(policy)
            if expected is None:
                assert d.action == "skip"
            else:
                assert d.action == "send"
                assert same_instant(d.scheduled_at, expected)
                assert (d.reason == "on time") == same_instant(expected, requested)
        return
    assert s.decide(LatePolicy.SKIP).action == "skip"
    with pytest.raises(LateRunError, match="late policy is 'fail'"):
        s.decide(LatePolicy.FAIL)
    shift = s.decide(LatePolicy.SHIFT)
    candidate = s.window.next_opening(earliest)
    if candidate is not None and candidate.astimezone(UTC) - requested <= s.grace:
        assert shift.action == "send"
        assert same_instant(shift.scheduled_at, candidate)
        assert shift.reason.startswith(("late by", "only"))
    else:
        assert shift.action == "skip"
        assert ("grace" if candidate is not None else "never opens") in shift.reason


def test_fall_back_across_midnight_into_yesterdays_window_is_not_an_opening():
    """Found by the property above: Casey fell back from Friday 02:00 +11 to Thursday 23:00 +08 in 2010.

    Thursday is open all day, so 23:00 +08 is inside, but it is reached by the clock falling back, not by an
    opening; the answer is Friday's own opening, inside and not early.
    """
    hours: list[tuple[time, time] | None] = [(time(0), time(23, 59))] * 7
    hours[4] = (time(2), time(2, 1))
    window = CallingWindow(hours=tuple(hours), timezone="Antarctica/Casey")
    at = datetime(2010, 3, 4, 14, 59, tzinfo=UTC)
    got = window.next_opening(at)
    assert got is not None
    assert window.contains(got)
    assert got.astimezone(UTC) >= at
    assert offset_changes(datetime(2010, 3, 4, 15, 0, tzinfo=UTC), ZoneInfo("Antarctica/Casey"))
