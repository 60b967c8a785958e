"""Nobody is phoned twice, nobody is lost: the promises a rerun, a recovery or an odd warehouse once broke.

Each test runs the real DAG (``dag.test()``) against the sandbox and asserts what a person would
check afterwards: the campaigns and POSTs the sandbox saw, the ledger's rows, and a run summary whose
buckets add up to what was queried.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fixtures.campaign import PAIRS, future_run

LEAD_COLUMNS = "lead_id, full_name, phone, company, product, city"
WIDE_SQL = f"SELECT {LEAD_COLUMNS} FROM leads WHERE created_at < :data_interval_end_utc"
ORDERED_SQL = (
    f"SELECT {LEAD_COLUMNS} FROM leads WHERE created_at >= :data_interval_start_utc "
    "AND created_at < :data_interval_end_utc ORDER BY lead_id"
)
POSTGRES_WAREHOUSE = [p for p in PAIRS if p.values[0][0] == "postgres"]


# -- helpers ------------------------------------------------------------------------------------


def _accounted(counts: dict[str, int]) -> int:
    buckets = ("sent", "skipped_late", "rejected", "suppressed", "duplicates", "cooled_down", "capped", "seen_before")
    return sum(counts.get(k, 0) for k in buckets)


def _assert_adds_up(counts: dict[str, int]) -> None:
    assert counts["queried"] == _accounted(counts), counts


def _next_weekday(day: datetime) -> datetime:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _write_sql(campaign: Any, name: str, text: str) -> str:
    (campaign.tmp / "sql" / name).write_text(text)
    return name


def _posts(campaign: Any) -> int:
    return int(campaign.sandbox.stats()["campaign_posts"])


def _statuses(campaign: Any) -> dict[str, str]:
    rows = campaign.ledger_query("SELECT campaign_key, status FROM integra_campaigns")
    return {r["campaign_key"]: r["status"] for r in rows}


def _keys_by_batch(campaign: Any) -> list[str]:
    rows = campaign.ledger_query("SELECT campaign_key FROM integra_campaigns ORDER BY batch_number")
    return [r["campaign_key"] for r in rows]


def _members(campaign: Any, key: str) -> list[dict[str, Any]]:
    return campaign.ledger_query(
        "SELECT r.lead_id, r.phone_e164, c.campaign_id FROM integra_campaign_recipients r "
        "JOIN integra_campaigns c ON c.campaign_key = r.campaign_key WHERE r.campaign_key = ?",
        (key,),
    )


def _sent_numbers(campaigns: list[dict[str, Any]]) -> set[str]:
    return {r["phone_number"] for c in campaigns for r in c["request"]["recipients"]}


def _ledger_time(campaign: Any, when: datetime) -> Any:
    """A UTC timestamp as the ledger's driver takes it: naive UTC (text on SQLite)."""
    naive = when.astimezone(UTC).replace(tzinfo=None)
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if campaign.ledger.kind == "sqlite" else naive


def _warehouse_time(when: datetime) -> str:
    """Naive UTC wall time, as the demo leads table holds it."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _day_with_unknown_batch(campaign: Any, leads: int = 6) -> tuple[datetime, str, set[str], str]:
    """Day 1's only batch is created by the API, whose answer is a 5xx: the ledger says ``unknown``.

    Returns (day, key, the batch's numbers, the id of the campaign the sandbox holds).
    """
    day1 = future_run()
    campaign.define(sql=_write_sql(campaign, "wide.sql", WIDE_SQL), cooldown_days=7)
    campaign.seed(leads, day1, seed=1, bad_ratio=0.0, prefix="A")
    campaign.sandbox.inject("error_after_create")
    assert str(campaign.run(day1).state) == "failed"
    [key] = _keys_by_batch(campaign)
    assert _statuses(campaign) == {key: "unknown"}
    numbers = {m["phone_e164"] for m in _members(campaign, key)}
    [created] = campaign.sandbox.campaigns()
    assert _sent_numbers([created]) == numbers, "the sandbox holds the batch the ledger claimed"
    assert len(numbers) == leads
    return day1, key, numbers, created["id"]


def _day_two_sends_nobody_from_day_one(campaign: Any, day1: datetime, day1_numbers: set[str], leads: int) -> None:
    """Day 2's query returns day 1's leads again: they are cooled down, only day 2's own are sent."""
    day2 = _next_weekday(day1)
    campaign.seed(leads, day2, seed=2, bad_ratio=0.0, prefix="B")
    posts = _posts(campaign)
    before = len(campaign.sandbox.campaigns())
    assert str(campaign.run(day2).state) == "success"
    counts = campaign.summary(day2)["counts"]
    assert counts["queried"] == 2 * leads
    assert counts["cooled_down"] == len(day1_numbers)
    assert counts["sent"] == leads
    _assert_adds_up(counts)
    day2_campaigns = campaign.sandbox.campaigns()[before:]
    assert _posts(campaign) == posts + 1
    sent = _sent_numbers(day2_campaigns)
    assert len(sent) == leads
    assert not sent & day1_numbers, "someone of day 1 was phoned again on day 2"


# -- 1, 2: a batch that may exist counts as phoned ----------------------------------------------


def test_unknown_outcome_still_cools_down_its_people_on_later_days(sqlite_campaign):
    """A batch whose answer was lost may have phoned its people: the next days must not phone them again."""
    campaign = sqlite_campaign
    day1, _, numbers, _ = _day_with_unknown_batch(campaign)
    _day_two_sends_nobody_from_day_one(campaign, day1, numbers, leads=6)


def test_mark_created_records_the_campaign_for_every_person(sqlite_campaign):
    """After ``mark-created`` the day is settled: its people carry the campaign id, a rerun posts nothing,
    and later days cool them down."""
    from integra.ledger.__main__ import main

    campaign = sqlite_campaign
    day1, key, numbers, campaign_id = _day_with_unknown_batch(campaign)

    assert main(["mark-created", key, campaign_id]) == 0
    [row] = campaign.ledger_query("SELECT status, campaign_id FROM integra_campaigns")
    assert row == {"status": "created", "campaign_id": campaign_id}
    members = _members(campaign, key)
    assert len(members) == len(numbers)
    assert {m["campaign_id"] for m in members} == {campaign_id}

    assert str(campaign.run(day1).state) == "success"
    assert _posts(campaign) == 1, "the rerun of a settled day posted again"
    summary = campaign.summary(day1)
    assert summary["counts"]["sent"] == len(numbers)
    assert [c["campaign_id"] for c in summary["campaigns"]] == [campaign_id]
    _assert_adds_up(summary["counts"])

    _day_two_sends_nobody_from_day_one(campaign, day1, numbers, leads=6)


# -- 3: a late lead with a number already phoned today --------------------------------------------


def test_rerun_with_a_late_lead_sharing_a_sent_number_sends_nothing(sqlite_campaign):
    """A lead that arrives late with the number of someone already in today's campaign is a duplicate,
    even when it sorts first: the number belongs to the lead already sent."""
    campaign = sqlite_campaign
    run_at = future_run()
    leads = 6
    campaign.define(sql=_write_sql(campaign, "ordered.sql", ORDERED_SQL))
    campaign.seed(leads, run_at, bad_ratio=0.0)
    assert str(campaign.run(run_at).state) == "success"
    assert _posts(campaign) == 1
    [key] = _keys_by_batch(campaign)
    sent_lead = sorted(m["lead_id"] for m in _members(campaign, key))[0]
    [original] = campaign.query("SELECT * FROM leads WHERE lead_id = ?", (sent_lead,))

    campaign.execute(
        "INSERT INTO leads (lead_id, full_name, phone, email, company, city, product, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "A000",
            "Pessoa Atrasada",
            original["phone"],  # the same number, exactly as the warehouse holds it
            None,
            "Outra Empresa Ltda",
            "Campinas",
            original["product"],
            _warehouse_time(run_at - timedelta(days=1) + timedelta(minutes=1)),
        ),
    )
    assert campaign.query("SELECT lead_id FROM leads ORDER BY lead_id LIMIT 1") == [{"lead_id": "A000"}]

    assert str(campaign.run(run_at).state) == "success"
    assert _posts(campaign) == 1, "the same-day rerun posted again"
    assert len(campaign.sandbox.campaigns()) == 1
    rejected = campaign.ledger_query("SELECT lead_id, reason FROM integra_rejected_leads")
    assert {"lead_id": "A000", "reason": "duplicate_phone"} in rejected
    assert sent_lead not in {r["lead_id"] for r in rejected}
    assert sent_lead in {m["lead_id"] for m in _members(campaign, key)}
    assert "A000" not in {m["lead_id"] for m in _members(campaign, key)}
    counts = campaign.summary(run_at)["counts"]
    assert counts["queried"] == leads + 1
    assert counts["duplicates"] == 1
    assert counts["sent"] == leads
    _assert_adds_up(counts)


# -- 4: resend_keys is per key, and a live worker's claim is never retaken ---------------------------


def test_resend_keys_resends_only_the_listed_key_and_never_a_fresh_claim(sqlite_campaign, capfd):
    """``resend_keys`` resends exactly the keys listed; a ``sending`` key younger than the task's
    execution timeout may still have a live worker and is refused, an older one is taken again."""
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.define(max_recipients_per_campaign=3)
    campaign.seed(6, run_at, bad_ratio=0.0)
    campaign.sandbox.inject("error_after_create", times=2)
    assert str(campaign.run(run_at).state) == "failed"
    key1, key2 = _keys_by_batch(campaign)
    assert _statuses(campaign) == {key1: "unknown", key2: "unknown"}
    assert _posts(campaign) == 2

    # Only batch 1 was checked in the panel and found missing: only batch 1 is sent again.
    assert str(campaign.run(run_at, resend_keys=[key1]).state) == "failed"  # batch 2 is still in doubt
    assert _posts(campaign) == 3
    assert campaign.sandbox.campaigns()[-1]["idempotency_key"] == key1
    assert _statuses(campaign) == {key1: "created", key2: "unknown"}

    # Batch 2 claimed a moment ago (a worker may be POSTing it right now): listed, but not retaken.
    campaign.ledger_execute(
        "UPDATE integra_campaigns SET status = 'sending', updated_at = ? WHERE campaign_key = ?",
        (_ledger_time(campaign, datetime.now(UTC)), key2),
    )
    capfd.readouterr()
    dag_run = campaign.run(run_at, resend_keys=[key2])
    assert str(dag_run.state) == "failed"
    assert sorted(campaign.task_states(dag_run)["create_campaign"]) == ["failed", "success"]
    assert _posts(campaign) == 3, "a key a live worker may hold was sent again"
    assert _statuses(campaign)[key2] == "sending"
    out = capfd.readouterr().out
    assert "was claimed by an earlier attempt" in out
    assert key2 in out

    # The same claim two hours old: past create_campaign's 30 min execution timeout, no worker holds it.
    campaign.ledger_execute(
        "UPDATE integra_campaigns SET updated_at = ? WHERE campaign_key = ?",
        (_ledger_time(campaign, datetime.now(UTC) - timedelta(hours=2)), key2),
    )
    assert str(campaign.run(run_at, resend_keys=[key2]).state) == "success"
    assert _posts(campaign) == 4
    assert campaign.sandbox.campaigns()[-1]["idempotency_key"] == key2
    assert _statuses(campaign) == {key1: "created", key2: "created"}
    counts = campaign.summary(run_at)["counts"]
    assert counts["sent"] == 6
    _assert_adds_up(counts)


# -- 5: suppressing someone already called ------------------------------------------------------------


def test_suppressing_an_already_called_number_keeps_the_rerun_accounted(sqlite_campaign, capfd):
    """A number put on the suppression list after its campaign was created: the rerun of that day
    posts nothing and its summary still adds up."""
    campaign = sqlite_campaign
    run_at = future_run()
    leads = 6
    campaign.seed(leads, run_at, bad_ratio=0.0)
    assert str(campaign.run(run_at).state) == "success"
    first = campaign.summary(run_at)["counts"]
    assert first["sent"] == leads
    [key] = _keys_by_batch(campaign)
    number = sorted(m["phone_e164"] for m in _members(campaign, key))[0]
    campaign.ledger_execute(
        "INSERT INTO integra_suppression_list (phone_e164, reason, source, added_at) VALUES (?, ?, ?, ?)",
        (number, "opt-out", "test", _ledger_time(campaign, datetime.now(UTC))),
    )

    capfd.readouterr()
    assert str(campaign.run(run_at).state) == "success"
    assert "Accounting mismatch" not in capfd.readouterr().out
    assert _posts(campaign) == 1
    counts = campaign.summary(run_at)["counts"]
    assert counts["queried"] == leads
    assert counts["suppressed"] == 1
    assert counts["sent"] + counts["suppressed"] == first["sent"]
    _assert_adds_up(counts)


# -- 6: a batch that created nothing, then skipped ------------------------------------------------


def test_not_created_batch_skipped_later_is_recorded_as_skipped(sqlite_campaign):
    """A batch the API refused (``not_created``) that a later attempt skips as late says ``skipped``."""
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.seed(4, run_at, bad_ratio=0.0)
    campaign.sandbox.inject("validation_error")
    assert str(campaign.run(run_at).state) == "failed"
    [key] = _keys_by_batch(campaign)
    assert _statuses(campaign) == {key: "not_created"}

    campaign.define(late_policy="skip")
    dag_run = campaign.run(run_at, scheduled_at="2020-01-06T10:00:00-03:00")
    assert str(dag_run.state) == "success"
    assert campaign.task_states(dag_run)["create_campaign"] == ["skipped"]
    assert _statuses(campaign) == {key: "skipped"}
    assert _posts(campaign) == 1
    assert campaign.sandbox.campaigns() == []
    summary = campaign.summary(run_at)
    assert summary["status"] == "skipped"
    assert summary["counts"]["skipped_late"] == 4
    assert summary["counts"]["sent"] == 0
    _assert_adds_up(summary["counts"])


# -- 7: names after a partial failure -------------------------------------------------------------


def test_batch_names_stay_k_of_n_after_a_partial_failure(sqlite_campaign):
    """After two of three batches were refused and the day is rerun, the campaigns are still named
    1/3, 2/3 and 3/3, under three distinct keys."""
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.define(max_recipients_per_campaign=4)
    campaign.seed(12, run_at, bad_ratio=0.0)
    campaign.sandbox.inject("validation_error", times=2)
    assert str(campaign.run(run_at).state) == "failed"
    statuses = _statuses(campaign)
    assert sorted(statuses.values()) == ["created", "not_created", "not_created"]
    assert _posts(campaign) == 3

    assert str(campaign.run(run_at).state) == "success"
    created = campaign.sandbox.campaigns()
    assert len(created) == 3
    assert _posts(campaign) == 5
    parts = []
    for c in created:
        match = re.search(r"\((\d+)/(\d+)\)", c["name"])
        assert match, c["name"]
        parts.append((int(match[1]), int(match[2])))
    assert all(k <= n for k, n in parts), [c["name"] for c in created]
    assert sorted(parts) == [(1, 3), (2, 3), (3, 3)]
    keys = [c["idempotency_key"] for c in created]
    assert len(set(keys)) == 3
    assert set(keys) == set(statuses)
    assert set(_statuses(campaign).values()) == {"created"}
    assert len(_sent_numbers(created)) == 12
    counts = campaign.summary(run_at)["counts"]
    assert counts["sent"] == 12
    _assert_adds_up(counts)


# -- 8: a phone column that is a number -----------------------------------------------------------

#: Float on SQLite and PostgreSQL, decimal on MariaDB. The scale of 2 matters: str() of an integral
#: DECIMAL(15,0) value has no point and would hide the bug, str() of 5511987650001.00 does not.
NUMERIC_PHONE_TYPES = {"sqlite": "REAL", "postgres": "DOUBLE PRECISION", "mysql": "DECIMAL(15,2)"}


def test_numeric_phone_column_is_sent_as_e164(campaign):
    """Phones stored as a float or decimal column (5511987650001.0) are valid numbers, not ``invalid_phone``."""
    run_at = future_run()
    created_at = "DATETIME" if campaign.kind == "mysql" else "TIMESTAMP"
    campaign.execute(
        "CREATE TABLE numeric_leads (lead_id VARCHAR(64) PRIMARY KEY, full_name VARCHAR(200), "
        f"phone {NUMERIC_PHONE_TYPES[campaign.kind]}, company VARCHAR(200), product VARCHAR(200), "
        f"city VARCHAR(200), created_at {created_at} NOT NULL)"
    )
    phones = [5511987650001 + i for i in range(3)]
    for i, phone in enumerate(phones):
        value: Any = Decimal(phone) if campaign.kind == "mysql" else float(phone)
        campaign.execute(
            "INSERT INTO numeric_leads VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                f"N{i}",
                f"Pessoa {i}",
                value,
                "Acme Ltda",
                "Seguro",
                "São Paulo",
                _warehouse_time(run_at - timedelta(hours=12)),
            ),
        )
    stored = campaign.query("SELECT phone FROM numeric_leads ORDER BY lead_id")[0]["phone"]
    assert stored == phones[0]
    assert str(stored) != str(phones[0]), f"the driver must return a float or a scaled decimal, got {stored!r}"
    campaign.define(
        sql=_write_sql(
            campaign,
            "numeric.sql",
            f"SELECT {LEAD_COLUMNS} FROM numeric_leads "
            "WHERE created_at >= :data_interval_start_utc AND created_at < :data_interval_end_utc",
        )
    )

    assert str(campaign.run(run_at).state) == "success"
    expected = {f"+{p}" for p in phones}
    assert _sent_numbers(campaign.sandbox.campaigns()) == expected
    assert {r["phone_e164"] for r in campaign.ledger_query("SELECT phone_e164 FROM integra_campaign_recipients")} == (
        expected
    )
    assert campaign.ledger_query("SELECT lead_id, reason FROM integra_rejected_leads") == []
    counts = campaign.summary(run_at)["counts"]
    assert counts["queried"] == counts["sent"] == 3
    assert counts["rejected"] == 0
    _assert_adds_up(counts)


# -- 9: time zones of bound values ------------------------------------------------------------------


def _interval_leads(prefix: str, run_at: datetime) -> list[tuple[str, datetime, bool]]:
    """(lead id, created_at in UTC, inside) one minute inside and outside each end of the run's interval."""
    start, end = (run_at - timedelta(days=1)).astimezone(UTC), run_at.astimezone(UTC)
    minute = timedelta(minutes=1)
    return [
        (f"{prefix}-before-start", start - minute, False),
        (f"{prefix}-after-start", start + minute, True),
        (f"{prefix}-before-end", end - minute, True),
        (f"{prefix}-after-end", end + minute, False),
    ]


def _queried_leads(campaign: Any, run_at: datetime) -> set[str]:
    from integra.ledger.idempotency import day_text

    pattern = f"{campaign.dag_id}:{day_text(run_at)}:%"
    rows = campaign.ledger_query(
        "SELECT lead_id FROM integra_campaign_recipients WHERE campaign_key LIKE ?", (pattern,)
    )
    return {r["lead_id"] for r in rows}


@pytest.mark.parametrize("campaign", POSTGRES_WAREHOUSE, indirect=True)
def test_bound_interval_ignores_the_warehouse_session_time_zone(campaign):
    """On a PostgreSQL warehouse whose sessions run in São Paulo time, ``:data_interval_start``/``_end``
    select a ``timestamptz`` column and the ``_utc`` forms a UTC ``timestamp`` column to the minute."""
    if campaign.kind != "postgres":
        pytest.skip("PostgreSQL warehouse only")
    database = urlsplit(campaign.warehouse.target).path.lstrip("/")
    campaign.execute(f"ALTER DATABASE \"{database}\" SET timezone TO 'America/Sao_Paulo'")
    assert campaign.query("SHOW timezone") == [{"timezone": "America/Sao_Paulo"}]
    for table, column in (("tz_leads", "TIMESTAMPTZ"), ("utc_leads", "TIMESTAMP")):
        campaign.execute(
            f"CREATE TABLE {table} (lead_id VARCHAR(64) PRIMARY KEY, full_name TEXT, phone TEXT, company TEXT, "
            f"product TEXT, city TEXT, created_at {column} NOT NULL)"
        )

    day_a = future_run()
    day_b = _next_weekday(day_a)
    variants = [
        (day_a, "tz", "tz_leads", ":data_interval_start", ":data_interval_end", 10),
        (day_b, "utc", "utc_leads", ":data_interval_start_utc", ":data_interval_end_utc", 20),
    ]
    for run_at, prefix, table, start, end, first_phone in variants:
        leads = _interval_leads(prefix, run_at)
        for i, (lead_id, created, _) in enumerate(leads):
            value = created if table == "tz_leads" else created.replace(tzinfo=None)
            campaign.execute(
                f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)",
                (lead_id, f"Pessoa {lead_id}", f"+55 11 98765-{first_phone + i:04d}", "Acme", "Seguro", "SP", value),
            )
        sql = f"SELECT {LEAD_COLUMNS} FROM {table} WHERE created_at >= {start} AND created_at < {end}"
        campaign.define(sql=_write_sql(campaign, f"{table}.sql", sql))

        assert str(campaign.run(run_at).state) == "success"
        counts = campaign.summary(run_at)["counts"]
        assert counts["queried"] == 2, (table, counts)
        assert _queried_leads(campaign, run_at) == {lead for lead, _, inside in leads if inside}
        _assert_adds_up(counts)


# -- late-arriving leads: lookback_hours ---------------------------------------------------------


def test_a_lead_inserted_after_its_days_run_is_phoned_on_the_next_run(sqlite_campaign):
    """With lookback_hours, the next run reads the previous window again: the late lead is phoned then,
    and the leads the first run already dealt with are neither phoned again nor counted twice."""
    campaign = sqlite_campaign
    day1 = future_run()
    while day1.weekday() > 3:  # the next day must be a weekday too
        day1 += timedelta(days=1)
    day2 = day1 + timedelta(days=1)
    campaign.define(lookback_hours=24, cooldown_days=7)
    campaign.seed(20, day1, seed=1, bad_ratio=0.1, prefix="A")
    assert str(campaign.run(day1).state) == "success"
    first = campaign.summary(day1)["counts"]
    day1_numbers = _sent_numbers(campaign.sandbox.campaigns())

    campaign.seed(1, day1, seed=99, bad_ratio=0.0, prefix="LATE")  # arrives after day 1's run
    campaign.seed(10, day2, seed=2, bad_ratio=0.0, prefix="B")
    [late] = campaign.query("SELECT phone FROM leads WHERE lead_id LIKE 'LATE%'")
    assert str(campaign.run(day2).state) == "success"

    counts = campaign.summary(day2)["counts"]
    _assert_adds_up(counts)
    assert counts["queried"] == 20 + 1 + 10
    assert counts["seen_before"] == first["sent"] + first["rejected"] + first["duplicates"]
    day2_numbers = _sent_numbers(campaign.sandbox.campaigns()) - day1_numbers
    assert not day1_numbers & day2_numbers
    digits = re.sub(r"\D", "", late["phone"])
    assert any(n.endswith(digits[-8:]) for n in day2_numbers), "the late lead was never phoned"
    assert counts["sent"] == len(day2_numbers)


def test_the_campaigns_own_opt_out_query_suppresses_numbers_in_any_format(campaign):
    """suppression_sql reads the customer's own opt-out table on the warehouse; its numbers, written as
    people write them, are normalised and never phoned."""
    run_at = future_run()
    campaign.seed(30, run_at, bad_ratio=0.0)
    leads = campaign.query("SELECT phone FROM leads ORDER BY lead_id")
    opted_out = [leads[0]["phone"], leads[1]["phone"]]
    campaign.execute("CREATE TABLE opt_outs (number VARCHAR(40))")
    for number in opted_out:
        digits = re.sub(r"\D", "", number)[-11:]  # the national number, as a person types it
        campaign.execute("INSERT INTO opt_outs (number) VALUES (?)", (f"({digits[:2]}) {digits[2:]}",))
    campaign.define(suppression_sql=_write_sql(campaign, "opt_outs.sql", "SELECT number FROM opt_outs"))
    assert str(campaign.run(run_at).state) == "success"
    counts = campaign.summary(run_at)["counts"]
    _assert_adds_up(counts)
    assert counts["suppressed"] == 2
    sent = _sent_numbers(campaign.sandbox.campaigns())
    for number in opted_out:
        assert not any(n.endswith(re.sub(r"\D", "", number)[-8:]) for n in sent)
