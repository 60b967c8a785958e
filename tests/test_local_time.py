"""Every recipient is called in their own hours: zones from the number, state laws, state holidays.

The oracle here is written apart from the code under test: it takes each recipient's zones from
phonenumbers and the area-code table, the hours from the statutes as the README lists them, and the
holidays straight from the ``holidays`` package, and checks the wall clock in every zone.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integra import scheduling
from integra.policy import brazil
from integra.policy.calendars import HolidaySettings
from integra.policy.local_time import Locality, LocalRules, _lookup, locality_of
from integra.scheduling import CallingWindow, resolve_schedule
from tests.fixtures.campaign import SP
from tests.fixtures.hours import allowed

AC, AM, SP_NUM, RJ, NORONHA = "+5568999110001", "+5592999110002", "+5511999110003", "+5521999110004", "+558136191234"
ES, GO, WEST_AM = "+5527999110005", "+5562999110006", "+5597999110007"


def rules(**overrides) -> LocalRules:
    values = {"hours": CallingWindow.default().hours, "holidays": HolidaySettings()} | overrides
    return LocalRules(**values)


def decide(numbers: list[str], day: date, now: datetime, **overrides) -> scheduling.ScheduleDecision:
    chosen = rules(**overrides)
    localities = [locality_of(n) for n in numbers]
    return resolve_schedule(
        chosen.requested(localities, day, time(10)),
        now=now,
        window=chosen.window(localities, day),
        grace=timedelta(hours=72),
    )


class TestWhereANumberIs:
    @pytest.mark.parametrize(
        ("number", "state", "zones"),
        [
            (AC, "AC", ("America/Rio_Branco",)),
            (AM, "AM", ("America/Manaus",)),
            (WEST_AM, "AM", ("America/Eirunepe", "America/Manaus")),
            (SP_NUM, "SP", ("America/Sao_Paulo",)),
            (RJ, "RJ", ("America/Sao_Paulo",)),
            (NORONHA, "PE", ("America/Noronha", "America/Recife")),
            ("+351912345678", "", ("Atlantic/Azores", "Europe/Lisbon")),
        ],
    )
    def test_state_and_zones(self, number, state, zones):
        found = locality_of(number)
        assert (found.state, found.zones) == (state, zones)

    @settings(max_examples=300, deadline=None)
    @given(
        ddd=st.sampled_from(sorted(brazil.STATE_BY_DDD)),
        mobile=st.booleans(),
        rest=st.integers(0, 99_999_999),
    )
    def test_the_prefix_cache_and_fast_path_answer_like_phonenumbers_itself(self, ddd, mobile, rest):
        """Cached per prefix, without parsing: the same as parse + time_zones_for_number on that very number."""
        import phonenumbers
        from phonenumbers import timezone

        number = f"+55{ddd}9{rest:08d}" if mobile else f"+55{ddd}{2 + rest % 4}{rest % 10_000_000:07d}"
        listed = set(timezone.time_zones_for_number(phonenumbers.parse(number))) - {"Etc/Unknown"}
        expected = Locality(brazil.state_of(number) or "", tuple(sorted(listed | set(brazil.zones_of(number)))))
        assert locality_of(number) == expected
        assert _lookup(number) == expected


class TestOwnHours:
    def test_acre_is_called_at_ten_in_acre_not_at_seven(self):
        day = date(2027, 3, 3)  # a Wednesday
        got = decide([AC], day, now=datetime(2027, 3, 1, tzinfo=UTC))
        assert got.scheduled_at.astimezone(ZoneInfo("America/Rio_Branco")).time() == time(10)

    def test_noronha_is_never_before_nine_there(self):
        day = date(2027, 3, 3)
        got = decide([NORONHA], day, now=datetime(2027, 3, 1, tzinfo=UTC))
        local = got.scheduled_at.astimezone(ZoneInfo("America/Noronha"))
        assert local.date() == day
        assert time(9) <= local.time() < time(21)
        assert allowed(NORONHA, got.scheduled_at)

    def test_a_number_in_two_zones_gets_the_intersection(self):
        chosen = rules(hours=CallingWindow.from_spec({d: "09:00-21:00" for d in scheduling.DAY_NAMES[:5]}).hours)
        window = chosen.window([locality_of(WEST_AM)], date(2027, 3, 3))
        manaus, eirunepe = ZoneInfo("America/Manaus"), ZoneInfo("America/Eirunepe")
        assert not window.contains(datetime(2027, 3, 3, 9, 30, tzinfo=manaus))  # 08:30 in Eirunepe
        assert window.contains(datetime(2027, 3, 3, 10, 0, tzinfo=manaus))
        assert not window.contains(datetime(2027, 3, 3, 20, 30, tzinfo=eirunepe))  # 21:30 in Manaus

    def test_rio_is_never_called_on_saturday_nor_after_six(self):
        saturday = date(2027, 3, 6)
        got = decide([RJ], saturday, now=datetime(2027, 3, 5, tzinfo=UTC))
        local = got.scheduled_at.astimezone(SP)
        assert local.weekday() == 0
        assert local.time() < time(18)
        window = rules().window([locality_of(RJ)], saturday)
        assert not window.contains(datetime(2027, 3, 8, 18, 0, tzinfo=SP))
        assert window.contains(datetime(2027, 3, 8, 17, 59, tzinfo=SP))

    def test_goias_saturday_closes_at_one(self):
        window = rules().window([locality_of(GO)], date(2027, 3, 6))
        assert window.contains(datetime(2027, 3, 6, 12, 59, tzinfo=SP))
        assert not window.contains(datetime(2027, 3, 6, 13, 0, tzinfo=SP))

    def test_state_rules_false_uses_only_the_campaign_window(self):
        saturday = date(2027, 3, 6)
        got = decide([RJ], saturday, now=datetime(2027, 3, 5, tzinfo=UTC), state_rules=False)
        assert got.scheduled_at.astimezone(SP) == datetime(2027, 3, 6, 10, tzinfo=SP)


class TestHolidays:
    def test_a_sao_paulo_holiday_moves_sao_paulo_only(self):
        day = date(2027, 7, 9)  # Revolução Constitucionalista, a Friday: a holiday in SP only
        now = datetime(2027, 7, 7, tzinfo=UTC)
        assert decide([SP_NUM], day, now).scheduled_at.astimezone(SP).date() == date(2027, 7, 10)  # Saturday 10:00
        assert decide([RJ], day, now).scheduled_at.astimezone(SP).date() == day
        assert decide([AC], day, now).scheduled_at.astimezone(ZoneInfo("America/Rio_Branco")).date() == day

    def test_moving_holidays_come_from_the_package(self):
        # Good Friday: 2027-03-26, 2028-04-14; Corpus Christi is optional nationally.
        for good_friday in (date(2027, 3, 26), date(2028, 4, 14)):
            got = decide([SP_NUM], good_friday, datetime(good_friday.year, 1, 1, tzinfo=UTC))
            assert got.scheduled_at.astimezone(SP).date() > good_friday

    def test_optional_category_closes_carnival(self):
        carnival = date(2027, 2, 8)  # Carnival Monday
        now = datetime(2027, 2, 1, tzinfo=UTC)
        assert decide([SP_NUM], carnival, now).scheduled_at.astimezone(SP).date() == carnival
        optional = HolidaySettings(categories=("public", "optional"))
        later = decide([SP_NUM], carnival, now, holidays=optional).scheduled_at.astimezone(SP).date()
        assert later == date(2027, 2, 11)  # Monday, Tuesday, Ash Wednesday closed

    def test_country_null_keeps_only_extra_dates(self):
        day = date(2027, 7, 9)
        got = decide([SP_NUM], day, datetime(2027, 7, 7, tzinfo=UTC), holidays=HolidaySettings(country=None))
        assert got.scheduled_at.astimezone(SP).date() == day

    @pytest.mark.parametrize(
        ("settings_", "field"),
        [
            (HolidaySettings(country="ZZ"), "holidays.country"),
            (HolidaySettings(subdivisions=("XX",)), "holidays.subdivisions"),
            (HolidaySettings(categories=("nope",)), "holidays.categories"),
        ],
    )
    def test_unknown_holiday_settings_name_the_field(self, settings_, field):
        with pytest.raises(ValueError, match=field):
            settings_.check()


NUMBERS = st.lists(
    st.sampled_from([AC, AM, SP_NUM, RJ, NORONHA, ES, GO, WEST_AM, "+5551999110008", "+5591999110009"]),
    min_size=1,
    max_size=4,
    unique=True,
)
CLOCK = st.integers(6 * 60, 22 * 60).map(lambda m: time(m // 60, m % 60))


@st.composite
def campaign_windows(draw: st.DrawFn) -> dict[int, tuple[time, time] | None]:
    spec = {}
    for weekday in range(7):
        if draw(st.integers(0, 4)) == 0:
            spec[weekday] = None
            continue
        opens, closes = sorted(draw(st.lists(CLOCK, min_size=2, max_size=2, unique=True)))
        spec[weekday] = (opens, closes)
    return spec


@settings(max_examples=150, deadline=None)
@given(
    numbers=NUMBERS,
    day=st.dates(date(2026, 1, 1), date(2030, 12, 31)),
    late_hours=st.integers(-48, 30),
    campaign=campaign_windows(),
    state_rules=st.booleans(),
)
def test_property_never_outside_the_local_window_never_in_the_past(numbers, day, late_hours, campaign, state_rules):
    hours = tuple(campaign[d] for d in range(7))
    chosen = rules(hours=hours, state_rules=state_rules)
    localities = [locality_of(n) for n in numbers]
    requested = chosen.requested(localities, day, time(10))
    now = requested + timedelta(hours=late_hours)
    decision = resolve_schedule(requested, now=now, window=chosen.window(localities, day), grace=timedelta(hours=72))
    if decision.action == "send":
        assert decision.scheduled_at >= now, "scheduled in the past"
        for number in numbers:
            assert allowed(number, decision.scheduled_at, state_rules=state_rules, campaign=campaign), number


def test_random_brazilian_lists_are_called_in_every_recipients_hours():
    """A seeded sweep over every area code and a year of days: the same oracle, many more numbers per batch."""
    rand = random.Random(7)
    codes = sorted(brazil.STATE_BY_DDD)
    start = date(2027, 1, 1)
    for _ in range(60):
        numbers = [f"+55{rand.choice(codes)}9{rand.randrange(10**8):08d}" for _ in range(8)]
        day = start + timedelta(days=rand.randrange(365))
        got = decide(numbers, day, now=datetime.combine(day, time(0), SP) - timedelta(days=1))
        assert got.action == "send"
        assert all(allowed(n, got.scheduled_at) for n in numbers)


# --------------------------------------------------------------------------- through dag.test()


def _seed(campaign, run_at: datetime, numbers: dict[str, list[str]]) -> dict[str, str]:
    """Leads with the given numbers, created during the run's interval; returns lead id → number."""
    from demo.leads import seed_sqlite

    created = (run_at - timedelta(hours=3)).astimezone(UTC).replace(tzinfo=None).isoformat(" ", "seconds")
    by_lead = {f"{place}-{n}": number for place, listed in numbers.items() for n, number in enumerate(listed)}
    rows = [
        {"lead_id": lead, "full_name": "Ana Souza", "phone": number, "email": None, "company": "Acme",
         "city": "-", "product": "Plano", "created_at": created}
        for lead, number in by_lead.items()
    ]  # fmt: skip
    seed_sqlite(campaign.warehouse.target, rows)
    return by_lead


def _next(weekday: int, after: date) -> date:
    day = after + timedelta(days=2)
    closed = holidays.country_holidays("BR", years=[day.year, day.year + 1])
    while day.weekday() != weekday or day in closed or day + timedelta(days=2) in closed:
        day += timedelta(days=1)
    return day


PLACES = {
    "AC": ["+5568999110001", "+5568999110011"],
    "AM": ["+5592999110002", "+5592999110012"],
    "SP": ["+5511999110003", "+5511999110013"],
    "RJ": ["+5521999110004", "+5521999110014"],
    "Noronha": ["+558136191234", "+558136191235"],
}


def test_a_national_list_is_called_in_each_recipients_own_hours(sqlite_campaign):
    """Run on a Saturday: Acre at 10:00 Acre time, Noronha inside Noronha's window, Rio moved to Monday."""
    campaign = sqlite_campaign
    saturday = _next(5, datetime.now(SP).date())
    run_at = datetime.combine(saturday, time(7), SP)
    _seed(campaign, run_at, PLACES)
    assert str(campaign.run(run_at).state) == "success"

    created = campaign.sandbox.campaigns()
    sent = {r["phone_number"]: c["request"] for c in created for r in c["request"]["recipients"]}
    assert sorted(sent) == sorted(n for listed in PLACES.values() for n in listed), "somebody was not sent"
    for request in {c["id"]: c["request"] for c in created}.values():
        at = datetime.fromisoformat(request["scheduled_at"])
        assert at > datetime.now(UTC)
        for recipient in request["recipients"]:
            assert allowed(recipient["phone_number"], at), (recipient["phone_number"], request["scheduled_at"])
    acre = datetime.fromisoformat(sent[PLACES["AC"][0]]["scheduled_at"]).astimezone(ZoneInfo("America/Rio_Branco"))
    assert (acre.date(), acre.time()) == (saturday, time(10))
    rio = datetime.fromisoformat(sent[PLACES["RJ"][0]]["scheduled_at"]).astimezone(SP)
    assert rio.weekday() == 0, "Rio de Janeiro's law: Monday to Friday"
    assert rio.time() < time(18), "Rio de Janeiro's law: until 18:00"
    assert "UTC-5 AC" in sent[PLACES["AC"][0]]["name"]
    assert "RJ" in sent[PLACES["RJ"][0]]["name"]
    assert len({request["name"] for request in sent.values()}) == len(created)
    assert campaign.summary(run_at)["counts"]["sent"] == sum(len(v) for v in PLACES.values())


def test_a_sao_paulo_holiday_moves_only_sao_paulo(sqlite_campaign):
    """9 July is a state holiday in São Paulo alone: SP numbers go the next day, the others that day."""
    campaign = sqlite_campaign
    year = datetime.now(SP).year + 1
    day = date(year, 7, 9)
    while day.weekday() >= 5:  # a weekday 9 July, so only the holiday moves anyone
        year += 1
        day = date(year, 7, 9)
    run_at = datetime.combine(day, time(7), SP)
    _seed(campaign, run_at, {k: PLACES[k] for k in ("SP", "RJ", "AC")})
    assert str(campaign.run(run_at).state) == "success"

    sent = {r["phone_number"]: c["request"] for c in campaign.sandbox.campaigns() for r in c["request"]["recipients"]}
    local_day = {n: datetime.fromisoformat(sent[n]["scheduled_at"]).astimezone(SP).date() for n in sent}
    assert {local_day[n] for n in PLACES["SP"]} == {day + timedelta(days=1)}
    assert {local_day[n] for n in PLACES["RJ"] + PLACES["AC"]} == {day}
