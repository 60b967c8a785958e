"""Backfills through a real scheduler: seven past days, the late policy, and a rerun that creates nothing.

Starts ``airflow api-server`` (the Execution API the LocalExecutor's workers talk to, and REST API
v2 to watch the runs), ``airflow dag-processor`` and ``airflow scheduler`` as subprocesses with a
private AIRFLOW_HOME and metadata DB (``tests.fixtures.stack``), then runs ``airflow backfill create``
as an operator would.

Two campaigns, one warehouse (SQLite) with leads for each of the last seven days, and one fresh
ledger on its own PostgreSQL database, created by ``python -m integra.ledger upgrade`` before the
first run (runs no longer create tables, so parallel backfill days cannot race on DDL):

- ``integra_backfill_default``: the default late policy (``shift`` within 6h). Every past day is
  beyond the grace, so every ``create_campaign`` is skipped, the ledger says ``skipped``, and
  nobody is phoned.
- ``integra_backfill_shift72``: ``shift`` with the maximum 72h grace. The recent days are shifted
  to the next calling-window opening and sent; the older ones are skipped.

A second backfill of the same days with ``--reprocess-behavior completed`` reruns every task and
creates nothing new. Process logs stay in the test's tmp_path (``logs/``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.campaign import BASE_DEFINITION, SAO_PAULO, SP, generate_leads, seed_sqlite
from tests.fixtures.stack import AirflowStack, running_stack, stack_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[1]
DAYS = 7
LEADS_PER_DAY = 40
SHIFT72_DAYS = 3  # the 72h grace can only reach the last few days
DEFAULT_DAG = "integra_backfill_default"
SHIFT72_DAG = "integra_backfill_shift72"


def run_days(days: int = DAYS) -> list[datetime]:
    """The 07:00 (America/Sao_Paulo) runs of the last ``days`` days, oldest first."""
    today = datetime.now(SP).date()
    return [
        datetime.combine(today - timedelta(days=back), datetime.min.time(), SP).replace(hour=7)
        for back in range(days, 0, -1)
    ]


def _definition(dag_id: str, **overrides: Any) -> dict[str, Any]:
    start = datetime.now(SP).date() - timedelta(days=30)
    return {
        **BASE_DEFINITION,
        "dag_id": dag_id,
        "start_date": start.isoformat(),
        "catchup": False,
        "retries": 1,  # a worker's Execution API call can time out on a loaded machine; the ledger makes it safe
        "retry_delay_minutes": 0.05,
        "tags": ["integra", "test"],
        **overrides,
    }


@pytest.fixture
def airflow_stack(tmp_path: Path, sandbox: Any, pg_database: str, database_factory: Any) -> Iterator[AirflowStack]:
    """The two backfill campaigns on a real installation (``tests.fixtures.stack``)."""
    (tmp_path / "campaigns").mkdir()
    shutil.copytree(ROOT / "include" / "sql", tmp_path / "sql")
    for definition in (
        _definition(DEFAULT_DAG),
        _definition(SHIFT72_DAG, late_policy="shift", late_grace_hours=72),
    ):
        path = tmp_path / "campaigns" / f"{definition['dag_id']}.yaml"
        path.write_text(yaml.safe_dump(definition, allow_unicode=True))

    warehouse = tmp_path / "warehouse.db"
    for number, run_at in enumerate(run_days(), start=1):
        rows = generate_leads(  # São Paulo numbers: one zone group, one batch a day
            LEADS_PER_DAY,
            start=run_at - timedelta(days=1),
            end=run_at,
            seed=100 + number,
            id_prefix=f"D{number}-",
            area_codes=SAO_PAULO,
        )
        seed_sqlite(warehouse, rows)

    ledger_db = database_factory("postgres", "ledger")
    policy = tmp_path / "contact_policy.yaml"
    # Both campaigns read the same leads; the cross-campaign cap is tests/test_contact_policy.py's
    # subject, so here it allows both, and each campaign's own backfill behaviour shows alone.
    policy.write_text("max_calls_per_number: 2\nper_days: 1\n")
    env, port = stack_env(
        tmp_path,
        pg_database=pg_database,
        warehouse=warehouse,
        ledger_db=ledger_db,
        sandbox=sandbox,
        INTEGRA_CONTACT_POLICY=str(policy),
    )
    with running_stack(tmp_path, env, port, warehouse, ledger_db, [DEFAULT_DAG, SHIFT72_DAG]) as stack:
        yield stack


def _requested(run_after: datetime) -> datetime:
    """When calls for a run should start: the run's day (its 07:00 trigger) at send_time, 10:00 local."""
    return run_after.astimezone(SP).replace(hour=10, minute=0, second=0, microsecond=0)


def _expected_shift72(run_after: datetime, started: datetime, finished: datetime) -> set[str]:
    """Possible outcomes ("send"/"skip") of the 72h-grace policy for a run executed between two instants."""
    from integra import scheduling
    from integra.policy.calendars import HolidaySettings
    from integra.policy.local_time import Locality, LocalRules

    rules = LocalRules(
        hours=scheduling.CallingWindow.default().hours, holidays=HolidaySettings(**BASE_DEFINITION["holidays"])
    )
    window = rules.window([Locality("SP", ("America/Sao_Paulo",))], run_after.astimezone(SP).date())
    return {
        scheduling.resolve_schedule(
            _requested(run_after), now=now, window=window, policy=scheduling.LatePolicy.SHIFT, grace=timedelta(hours=72)
        ).action
        for now in (started, finished)
    }


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _run_day(run: dict[str, Any]) -> str:
    """The local day a backfill run stands for: the day of its 07:00 trigger (run_after)."""
    return _when(run["run_after"]).astimezone(SP).date().isoformat()


def test_backfill_of_past_days_through_the_scheduler(airflow_stack: AirflowStack, sandbox: Any) -> None:
    stack = airflow_stack
    days = run_days()
    recent = days[-SHIFT72_DAYS:]
    expected_days = {
        DEFAULT_DAG: [d.date().isoformat() for d in days],
        SHIFT72_DAG: [d.date().isoformat() for d in recent],
    }

    # -- first backfill of both campaigns, side by side ------------------------------------------
    started = datetime.now(UTC)
    first = stack.backfill({DEFAULT_DAG: days, SHIFT72_DAG: recent})
    stack.wait_backfills(first)
    finished = datetime.now(UTC)

    runs = {dag_id: stack.runs(dag_id) for dag_id in expected_days}
    for dag_id, dag_runs in runs.items():
        assert [_run_day(r) for r in dag_runs] == expected_days[dag_id], f"{dag_id}: one run per day, nothing else"
        assert {r["run_type"] for r in dag_runs} == {"backfill"}
        bad = {r["dag_run_id"]: stack.task_states(dag_id, r["dag_run_id"]) for r in dag_runs if r["state"] != "success"}
        assert not bad, f"{dag_id}: runs not successful: {bad}\n{stack.diagnostics()}"

    # Default policy (shift within 6h): every past day is beyond the grace; nobody is phoned.
    for run in runs[DEFAULT_DAG]:
        states = stack.task_states(DEFAULT_DAG, run["dag_run_id"])
        assert states["extract_leads"] == ["success"], states
        assert states["build_recipients"] == ["success"], states
        assert states["create_campaign"], f"no create_campaign instance: {states}"
        assert set(states["create_campaign"]) == {"skipped"}, states
        assert states["record_campaigns"] == ["success"], states
    ledger = stack.ledger(DEFAULT_DAG)
    for run in runs[DEFAULT_DAG]:
        rows = ledger.get(run["dag_run_id"], [])
        assert len(rows) == 1, (run["dag_run_id"], rows)  # 40 leads: one batch
        assert rows[0]["status"] == "skipped", rows
        assert rows[0]["campaign_id"] is None, rows
        assert "beyond the 6h grace: day skipped" in rows[0]["last_error"], rows
    summaries = stack.query("SELECT run_id, status, sent FROM integra_runs WHERE dag_id = ?", (DEFAULT_DAG,))
    assert sorted((r["run_id"], r["status"], r["sent"]) for r in summaries) == sorted(
        (r["dag_run_id"], "skipped", 0) for r in runs[DEFAULT_DAG]
    )

    # 72h grace: a day whose next calling-window opening is within 72h of its 10:00 is shifted and
    # sent; an older one is skipped. One campaign per sent day.
    created = sandbox.campaigns()
    assert all(c["idempotency_key"].startswith(f"{SHIFT72_DAG}:") for c in created), "the 6h-grace campaign sent"
    shift_ledger = stack.ledger(SHIFT72_DAG)
    sent_ids = []
    for run in runs[SHIFT72_DAG]:
        rows = shift_ledger.get(run["dag_run_id"], [])
        assert len(rows) == 1, (run["dag_run_id"], rows)
        row = rows[0]
        assert row["status"] in {"created", "skipped"}, row
        outcome = "send" if row["status"] == "created" else "skip"
        requested = _requested(_when(run["run_after"]))
        assert outcome in _expected_shift72(_when(run["run_after"]), started, finished), (
            f"run {run['dag_run_id']} (calls for {requested.isoformat()}) ended {row['status']!r}: "
            f"{row['last_error'] or row['scheduled_at']}. The calling day must be the run's day (its trigger "
            f"time, data_interval_end), not the logical date ({run['logical_date']}, one day earlier)."
        )
        if outcome == "send":
            sent_ids.append(row["campaign_id"])
            scheduled = row["scheduled_at"].replace(tzinfo=UTC)  # the ledger keeps UTC
            assert started < scheduled <= requested + timedelta(hours=72), row
        else:
            assert "beyond the 3 days grace: day skipped" in row["last_error"], row
    assert sorted(sent_ids) == sorted(c["id"] for c in created), "one campaign per sent day, no duplicates"
    assert len({c["idempotency_key"] for c in created}) == len(created)
    phones = [r["phone_number"] for c in created for r in c["request"]["recipients"]]
    assert len(phones) == len(set(phones)), "a number was phoned twice"

    # -- the same backfills again, reprocessing completed runs: every task reruns, nothing is created
    posts_before = sandbox.stats()["campaign_posts"]
    counts_before = stack.ledger_counts()
    second = stack.backfill({DEFAULT_DAG: days, SHIFT72_DAG: recent}, "--reprocess-behavior", "completed")
    stack.wait_backfills(second)

    for dag_id, before in runs.items():
        after = stack.runs(dag_id)
        assert [r["dag_run_id"] for r in after] == [r["dag_run_id"] for r in before], "the rerun reused the runs"
        assert all(r["state"] == "success" for r in after), after
        assert all(_when(a["end_date"]) > _when(b["end_date"]) for a, b in zip(after, before, strict=True)), (
            f"{dag_id}: the second backfill did not rerun every day"
        )
    rerun = stack.ledger(DEFAULT_DAG)
    for run_id, rows in ledger.items():
        assert [r["status"] for r in rerun[run_id]] == ["skipped"]
        assert rerun[run_id][0]["updated_at"] > rows[0]["updated_at"], "create_campaign did not run again"
    assert sandbox.stats()["campaign_posts"] == posts_before
    assert sandbox.campaigns() == created
    assert stack.ledger_counts() == counts_before
