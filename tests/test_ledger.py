"""The ledger as its own store: one upgrade command, migrations that keep every row, and fail-fast checks.

Real databases only (SQLite, PostgreSQL, MariaDB), the real Alembic migrations, the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fixtures.campaign import ROOT, future_run
from tests.fixtures.databases import KIND_PARAMS, Database
from tests.fixtures.ledger import batch_record, members

LEDGER_V1 = Path(__file__).parent / "data" / "ledger_v1.sql"
CONN = "integra_ledger"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "integra.ledger", *args],
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.fixture(params=KIND_PARAMS)
def ledger_db(request, database_factory, monkeypatch) -> Database:
    db = database_factory(request.param, "ledger")
    monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_LEDGER", db.airflow_conn)
    return db


def test_upgrade_creates_every_table_as_the_code_defines_them(ledger_db):
    """Fresh database → head; the migrated schema is exactly tables.py (Alembic finds nothing to change)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from integra.ledger import schema, tables, upgrade

    assert upgrade(CONN) == (None, schema.head_revision())
    assert upgrade(CONN) == (schema.head_revision(), schema.head_revision()), "a second upgrade changes nothing"
    engine = schema.engine_for(CONN)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, tables.metadata) if tables.VERSION_TABLE not in str(d)]
    assert diffs == []
    names = {r for r in ledger_db.query("SELECT 1 AS one FROM integra_suppression_list")}
    assert names == set(), "the suppression table exists, empty, before any run"


def test_two_upgrades_at_once_both_succeed(ledger_db):
    """Two deployments (or a deployment and a person) upgrading the same empty ledger at the same moment."""
    env = os.environ.copy()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "integra.ledger", "upgrade"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    lines = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert lines == [f"Ledger at '{CONN}': 0006 -> 0006", f"Ledger at '{CONN}': empty -> 0006"], lines
    assert ledger_db.query("SELECT COUNT(*) AS n FROM integra_ledger_meta")[0]["n"] == 1


def _v1_rows(day: str) -> dict[str, list[tuple]]:
    """Rows as the first version wrote them: text day keys and timestamps."""
    key = f"legacy_dag:{day}:b1:0123456789abcdef"
    return {
        "integra_campaigns": [
            (key, "legacy_dag", "scheduled__x", day, 1, 1, "h" * 64, "Old (1/1) [01234567]", "created", "cid-1",
             "2026-10-05T10:00:00-03:00", 2, 1, None, "2026-10-05 09:00:00", "2026-10-05 09:00:01"),
        ],
        "integra_campaign_recipients": [
            (key, "L1", "cid-1", "legacy_dag", "scheduled__x", day, "+5511987650001", "+55*******0001", "Ana",
             "2026-10-05T10:00:00-03:00", "2026-10-05 09:00:00"),
            (key, "L2", "cid-1", "legacy_dag", "scheduled__x", day, "+5511987650002", "+55*******0002", "Bia",
             "2026-10-05T10:00:00-03:00", "2026-10-05 09:00:00"),
        ],
        "integra_rejected_leads": [
            ("legacy_dag", day, "L3", "invalid_phone", "scheduled__x", "phone", "bad", "123", "2026-10-05 09:00:00"),
        ],
        "integra_suppression_list": [("+5511987650009", "asked not to be called", "2026-09-01 12:00:00")],
        "integra_runs": [
            ("legacy_dag", day, "scheduled__x", "ok", 3, 2, 1, 0, 0, 0, 1,
             json.dumps({"counts": {"skipped_late": 0}}), "2026-10-05 09:00:02"),
        ],
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_first_version_ledger_is_migrated_with_every_row(kind, database_factory, monkeypatch):
    """The ledger the first version created in the warehouse (SQLite or PostgreSQL) keeps every row and promise."""
    from integra.ledger import Ledger, history, upgrade
    from integra.ledger import idempotency as idem

    db = database_factory(kind, "old_warehouse")
    monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_LEDGER", db.airflow_conn)
    script = "\n".join(line for line in LEDGER_V1.read_text().splitlines() if not line.strip().startswith("--"))
    for statement in filter(None, (s.strip() for s in script.split(";"))):
        db.execute(statement)
    day = "2026-10-05T10:00:00Z"
    rows = _v1_rows(day)
    for table, values in rows.items():
        marks = ", ".join("?" * len(values[0]))
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)

    assert upgrade(CONN) == (None, "0006")

    for table, values in rows.items():
        assert db.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] == len(values), table
    ledger = Ledger(CONN)
    key = rows["integra_campaigns"][0][0]
    row = idem.get(ledger, key)
    assert row is not None
    assert row["status"] == "created"
    assert row["campaign_id"] == "cid-1"
    assert row["interval_end"] == datetime(2026, 10, 5, 10, tzinfo=UTC)
    assert row["scheduled_at"] == datetime(2026, 10, 5, 13, tzinfo=UTC)
    assert row["claimed_at"] == datetime(2026, 10, 5, 9, tzinfo=UTC)
    # The promises hold across the upgrade: the old batch is still found, its people still cool down.
    batch = batch_record(key, "legacy_dag", row["interval_end"], 2)
    assert idem.claim(ledger, batch, scheduled_at=row["interval_end"], members=[]).state is idem.ClaimState.EXISTS
    with ledger.engine.connect() as conn:
        recent = history.cooled_down(
            conn,
            dag_id="legacy_dag",
            since=row["interval_end"] - timedelta(days=7),
            interval_end=row["interval_end"] + timedelta(days=1),
            numbers=["+5511987650001", "+5511987650002", "+5511987650003"],
        )
        assert recent == {"+5511987650001", "+5511987650002"}
        assert ledger.suppressed(conn, ["+5511987650009", "+5511987650001"]) == {"+5511987650009"}
    assert ledger.run_summary("legacy_dag", row["interval_end"]) == {"counts": {"skipped_late": 0}}


def test_a_run_against_a_missing_ledger_fails_at_once_naming_the_command(sqlite_campaign, tmp_path, capfd):
    """No tables are created by a run: an empty ledger database stops the run before the warehouse is read."""
    run_at = future_run()
    sqlite_campaign.seed(20, run_at)
    empty = tmp_path / "empty-ledger.db"
    sqlite_campaign.monkeypatch.setenv(
        "AIRFLOW_CONN_INTEGRA_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(empty)})
    )
    dag_run = sqlite_campaign.run(run_at)
    assert str(dag_run.state) == "failed"
    assert sqlite_campaign.task_states(dag_run)["extract_leads"] == ["failed"]
    out = capfd.readouterr().out
    assert "has no Integra ledger yet" in out
    assert "python -m integra.ledger upgrade --conn-id integra_ledger" in out
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 0
    assert not (sqlite_campaign.tmp / "data").exists() or not list(
        (sqlite_campaign.tmp / "data").rglob("leads.parquet")
    )


def test_a_ledger_behind_the_code_names_its_revision_and_the_command(ledger_db):
    from alembic import command

    from integra.ledger import schema

    engine = schema.engine_for(CONN)
    with engine.connect() as conn:
        config = schema._alembic_config(conn)
        command.upgrade(config, "0001")
        conn.commit()
    result = _cli("check")
    assert result.returncode == 2
    assert "is at ledger revision 0001; this code needs revision 0006" in result.stderr
    assert "python -m integra.ledger upgrade --conn-id integra_ledger" in result.stderr
    assert _cli("upgrade").returncode == 0
    assert _cli("check").returncode == 0


@pytest.mark.parametrize(
    ("conn", "kind"),
    [
        ({"conn_type": "snowflake", "login": "u", "password": "p", "extra": {"account": "x"}}, "snowflake"),
        ({"conn_type": "google_cloud_platform", "extra": {"project": "p"}}, "google_cloud_platform"),
        ({"conn_type": "http", "host": "https://example.invalid"}, "http"),
    ],
)
def test_a_ledger_on_a_database_without_enforced_keys_is_refused(sqlite_campaign, conn, kind, capfd):
    """Snowflake and BigQuery do not enforce unique keys: the ledger cannot live there, and the run says so."""
    run_at = future_run()
    sqlite_campaign.seed(10, run_at)
    sqlite_campaign.monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_LEDGER", json.dumps(conn))
    dag_run = sqlite_campaign.run(run_at)
    assert str(dag_run.state) == "failed"
    out = capfd.readouterr().out
    assert f"ledger_conn_id: connection 'integra_ledger' has type '{kind}'" in out
    assert "PostgreSQL, MySQL/MariaDB, SQLite" in out
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 0


def _unknown_day(campaign, capfd) -> tuple[datetime, str]:
    """A day whose only batch ended ``unknown`` though the sandbox created the campaign."""
    run_at = future_run()
    campaign.seed(30, run_at, bad_ratio=0.0)
    campaign.sandbox.inject("error_after_create")
    assert str(campaign.run(run_at).state) == "failed"
    [row] = campaign.ledger_query("SELECT campaign_key, status FROM integra_campaigns")
    assert row["status"] == "unknown"
    capfd.readouterr()
    return run_at, row["campaign_key"]


def test_recovery_mark_created_records_the_campaign_for_every_person(sqlite_campaign, capfd):
    campaign = sqlite_campaign
    run_at, key = _unknown_day(campaign, capfd)
    [created] = campaign.sandbox.campaigns()
    result = _cli("mark-created", key, created["id"])
    assert result.returncode == 0, result.stderr
    assert '"status": "created"' in result.stdout
    people = campaign.ledger_query(
        "SELECT r.lead_id, r.phone_e164, c.campaign_id FROM integra_campaign_recipients r "
        "JOIN integra_campaigns c ON c.campaign_key = r.campaign_key WHERE r.campaign_key = ?",
        (key,),
    )
    assert people
    assert {p["campaign_id"] for p in people} == {created["id"]}
    # Clearing the failed day now finds the campaign: nothing is sent again, the day succeeds.
    assert str(campaign.run(run_at).state) == "success"
    assert campaign.sandbox.stats()["campaign_posts"] == 1
    assert campaign.summary(run_at)["counts"]["sent"] == len(people)
    # A second campaign id for the same key is refused.
    again = _cli("mark-created", key, "another-id")
    assert again.returncode == 2
    assert "already created as campaign" in again.stderr


def test_recovery_release_lets_the_next_attempt_send_once(sqlite_campaign, capfd):
    campaign = sqlite_campaign
    run_at, key = _unknown_day(campaign, capfd)
    assert _cli("show").stdout.count(key) == 1, "the unresolved batch is listed"
    result = _cli("release", key, "--note", "not in the panel")
    assert result.returncode == 0, result.stderr
    assert str(campaign.run(run_at).state) == "success"
    assert campaign.sandbox.stats()["campaign_posts"] == 2
    [row] = campaign.ledger_query("SELECT status, attempts FROM integra_campaigns")
    assert row == {"status": "created", "attempts": 2}
    assert _cli("release", key).returncode == 2, "a created key cannot be released"


def test_release_refuses_a_key_that_may_still_be_sending(sqlite_campaign, capfd):
    campaign = sqlite_campaign
    _, key = _unknown_day(campaign, capfd)
    campaign.ledger_execute("UPDATE integra_campaigns SET status = 'sending' WHERE campaign_key = ?", (key,))
    result = _cli("release", key)
    assert result.returncode == 2
    assert "may still be sending" in result.stderr
    assert _cli("release", key, "--force").returncode == 0


def test_keys_are_for_the_day_the_run_is_for_never_now():
    """A scheduled run (logical date = interval start) and a manual run over the same interval share keys."""
    from integra import scheduling
    from integra.ledger import idempotency as idem

    start, end = datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 2, 10, tzinfo=UTC)
    scheduled = {"logical_date": start, "data_interval_start": start, "data_interval_end": end}
    manual = {"logical_date": end, "data_interval_start": start, "data_interval_end": end}
    assert scheduling.run_for(scheduled) == scheduling.run_for(manual) == end
    keys = {idem.batch_key("d", scheduling.run_for(c), 1, "ab" * 32) for c in (scheduled, manual)}
    assert keys == {"d:2026-12-02T10:00:00Z:b1:abababababababab"}
    with pytest.raises(ValueError, match="cannot tell which day"):
        scheduling.run_for({"logical_date": None, "dag_run": None})


def test_batch_digests_are_keyed_by_the_ledgers_secret():
    """A key travels in headers and names: without the secret, its digest cannot be matched to a number."""
    import hashlib

    from integra.ledger import idempotency as idem

    numbers = ["+5511987650001"]
    plain = hashlib.sha256(b"+5511987650001\n").hexdigest()
    one, two = idem.batch_digest(b"a" * 32, numbers), idem.batch_digest(b"b" * 32, numbers)
    assert plain not in (one, two)
    assert one != two
    assert idem.batch_digest(b"a" * 32, list(reversed(["+1", "+2"]))) == idem.batch_digest(b"a" * 32, ["+1", "+2"])


def test_people_written_in_bulk_are_found_by_their_day_on_every_backend(ledger_db):
    """The claim writes its members in one driver call; their timestamps must compare like any other's."""
    from integra.ledger import Ledger, history, upgrade
    from integra.ledger import idempotency as idem

    upgrade(CONN)
    ledger = Ledger(CONN)
    day = datetime(2026, 12, 1, 10, tzinfo=UTC)
    numbers = [f"+5511987{i:06d}" for i in range(2_500)]
    batch = batch_record("bulk", "d", day, len(numbers))
    assert idem.claim(ledger, batch, scheduled_at=day, members=members(numbers)).state is idem.ClaimState.CLAIMED
    assert len(history.day_members(ledger, "d", day)) == len(numbers)
    with ledger.engine.connect() as conn:
        later = history.cooled_down(
            conn, dag_id="d", since=day - timedelta(days=30), interval_end=day + timedelta(days=1), numbers=numbers
        )
        same_day = history.cooled_down(
            conn, dag_id="d", since=day - timedelta(days=30), interval_end=day, numbers=numbers
        )
    assert later == set(numbers), "another day sees them as phoned"
    assert same_day == set(), "their own day does not"


def test_a_sqlite_ledger_connection_keeps_a_claim_in_its_page_cache(tmp_path, monkeypatch):
    """SQLite's default 2 MiB cache spills a 10,000-person claim to disk mid-transaction (figure 7)."""
    import sqlalchemy as sa

    from integra.ledger import Ledger, upgrade
    from integra.ledger.schema import SQLITE_CACHE_KIB

    ledger_conn = {"conn_type": "sqlite", "host": str(tmp_path / "l.db")}
    monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_LEDGER", json.dumps(ledger_conn))
    upgrade(CONN)
    with Ledger(CONN).engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
        indexes = {row[1] for row in conn.execute(sa.text("PRAGMA index_list(integra_campaign_recipients)"))}
    assert "ix_integra_recipients_day" not in indexes, "0005 drops the index no query reads"
    assert "ix_integra_recipients_phone" in indexes
    assert "ix_integra_recipients_lead" in indexes


def test_a_leads_story_and_earlier_days_seek_the_lead_index_of_the_lead_id_alone(tmp_path, monkeypatch):
    """0006: the lead index is (lead_id), the smallest entry a claim inserts at random; both look-ups by
    lead still seek it instead of reading every person of the campaign."""
    import sqlalchemy as sa

    from integra.ledger import Ledger, history, upgrade
    from integra.ledger import tables as t
    from integra.ui import queries

    monkeypatch.setenv(
        "AIRFLOW_CONN_INTEGRA_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    upgrade(CONN)
    ledger = Ledger(CONN)
    statements: list[str] = []
    sa.event.listen(ledger.engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: statements.append(sql))
    with ledger.engine.connect() as conn:
        columns = [row[2] for row in conn.execute(sa.text("PRAGMA index_info(ix_integra_recipients_lead)"))]
        history.handled_earlier(conn, dag_id="d", interval_end=datetime(2026, 10, 5, 10, tzinfo=UTC), lead_ids=["L1"])
    queries.lead(ledger, "d", "L1")
    assert columns == ["lead_id"]
    by_lead = [s for s in statements if t.recipients.name in s and "lead_id" in s]
    assert len(by_lead) >= 2, statements
    with ledger.engine.connect() as conn:
        for sql in by_lead:
            params = [None] * sql.count("?")
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", tuple(params)))
            assert "ix_integra_recipients_lead" in plan, (sql, plan)
