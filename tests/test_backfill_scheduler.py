"""Backfills through a real scheduler: seven past days, the late policy, and a rerun that creates nothing.

Starts ``airflow api-server`` (the Execution API the LocalExecutor's workers talk to, and REST API
v2 to watch the runs), ``airflow dag-processor`` and ``airflow scheduler`` as subprocesses with a
private AIRFLOW_HOME and metadata DB, then runs ``airflow backfill create`` as an operator would.

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

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.fixtures.campaign import BASE_DEFINITION, SAO_PAULO, SP, generate_leads, seed_sqlite
from tests.fixtures.databases import Database
from tests.fixtures.processes import free_port, stop_group, tail

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[1]
DAYS = 7
LEADS_PER_DAY = 40
SHIFT72_DAYS = 3  # the 72h grace can only reach the last few days
DEFAULT_DAG = "integra_backfill_default"
SHIFT72_DAG = "integra_backfill_shift72"
STARTUP_TIMEOUT_S = 240
BACKFILL_TIMEOUT_S = 300
PROCESSES = ("api-server", "dag-processor", "scheduler")


def run_days(days: int = DAYS) -> list[datetime]:
    """The 07:00 (America/Sao_Paulo) runs of the last ``days`` days, oldest first."""
    today = datetime.now(SP).date()
    return [
        datetime.combine(today - timedelta(days=back), datetime.min.time(), SP).replace(hour=7)
        for back in range(days, 0, -1)
    ]


@dataclass
class AirflowStack:
    """The running processes, their environment, and ways to talk to them."""

    workdir: Path
    env: dict[str, str]
    api_url: str
    warehouse: Path
    ledger_db: Database
    processes: dict[str, subprocess.Popen[bytes]]
    _cli_log_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    def airflow(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """One ``airflow`` CLI command against this installation; its output is appended to logs/cli.log."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        with self._cli_log_lock, (self.log_dir / "cli.log").open("a") as log:
            log.write(f"$ airflow {' '.join(args)}  -> {result.returncode}\n{result.stdout}\n{result.stderr}\n")
        return result

    def get(self, path: str, **params: Any) -> Any:
        """GET REST API v2 (all-admins mode: the api-server authenticates every request itself)."""
        response = requests.get(f"{self.api_url}/api/v2{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"airflow {name} exited with {process.returncode}:\n{tail(self.log_dir / f'{name}.log')}")

    def diagnostics(self) -> str:
        parts = [f"--- {name}.log ---\n{tail(self.log_dir / f'{name}.log', 40)}" for name in PROCESSES]
        parts.append(f"--- cli.log ---\n{tail(self.log_dir / 'cli.log', 40)}")
        return "\n".join(parts)

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float) -> Any:
        """Poll ``predicate`` until it returns something truthy; fail with the process logs otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                value = predicate()
            except requests.RequestException:
                value = None
            if value:
                return value
            time.sleep(1)
        pytest.fail(f"Timed out after {timeout}s waiting for {what}\n{self.diagnostics()}")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows from the ledger."""
        return self.ledger_db.query(sql, params)

    # -- backfills ------------------------------------------------------------------------------

    def backfill(self, ranges: dict[str, list[datetime]], *extra: str) -> list[dict[str, Any]]:
        """``airflow backfill create`` over each DAG's days (inclusive), side by side; the new backfills."""
        before = {b["id"] for dag_id in ranges for b in self.get("/backfills", dag_id=dag_id)["backfills"]}

        def create(dag_id: str) -> subprocess.CompletedProcess[str]:
            days = ranges[dag_id]
            dates = ["--from-date", days[0].isoformat(), "--to-date", days[-1].isoformat()]
            return self.airflow("backfill", "create", "--dag-id", dag_id, *dates, *extra)

        with ThreadPoolExecutor(len(ranges)) as pool:
            results = dict(zip(ranges, pool.map(create, ranges), strict=True))
        created = []
        for dag_id, result in results.items():
            assert result.returncode == 0, f"backfill create {dag_id} failed:\n{result.stdout}\n{result.stderr}"
            new = [b for b in self.get("/backfills", dag_id=dag_id)["backfills"] if b["id"] not in before]
            assert len(new) == 1, new
            created.append(new[0])
        return created

    def wait_backfills(self, backfills: list[dict[str, Any]], timeout: float = BACKFILL_TIMEOUT_S) -> None:
        def done() -> bool:
            return all(self.get(f"/backfills/{b['id']}")["completed_at"] for b in backfills)

        self.wait_for(f"backfills {[b['id'] for b in backfills]} to complete", done, timeout)

    def ledger(self, dag_id: str) -> dict[str, list[dict[str, Any]]]:
        """integra_campaigns rows of a DAG by Airflow run id."""
        by_run: dict[str, list[dict[str, Any]]] = {}
        for row in self.query("SELECT * FROM integra_campaigns WHERE dag_id = ? ORDER BY batch_number", (dag_id,)):
            by_run.setdefault(row["run_id"], []).append(row)
        return by_run

    def ledger_counts(self) -> dict[str, int]:
        tables = ("integra_campaigns", "integra_campaign_recipients", "integra_runs", "integra_rejected_leads")
        return {table: int(self.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]) for table in tables}

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        body = self.get(f"/dags/{dag_id}/dagRuns", order_by="logical_date", limit=100)
        return list(body["dag_runs"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, list[str | None]]:
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)
        states: dict[str, list[str | None]] = {}
        for ti in sorted(body["task_instances"], key=lambda t: (t["task_id"], t["map_index"])):
            states.setdefault(ti["task_id"], []).append(ti["state"])
        return states


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
    """api-server + dag-processor + scheduler (LocalExecutor) on a private home and a fresh PostgreSQL metadata DB.

    Not SQLite: with a scheduler, a dag-processor, an api-server and task workers all writing, SQLite's
    single writer lock makes ``airflow backfill create`` fail with "database is locked".
    """
    home = tmp_path / "airflow_home"
    logs = tmp_path / "logs"
    for folder in (home, logs, tmp_path / "campaigns"):
        folder.mkdir()
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
    policy.write_text("max_calls_per_number: 2\nper_days: 1\n")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_database.replace("postgresql://", "postgresql+psycopg2://", 1),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        # Only the backfills create runs: no scheduled run of "today" may phone anyone.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        "INTEGRA_CAMPAIGNS_DIR": str(tmp_path / "campaigns"),
        "INTEGRA_SQL_DIR": str(tmp_path / "sql"),
        "INTEGRA_DATA_PATH": f"file://{tmp_path / 'data'}",
        "AIRFLOW_CONN_INTEGRA_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "AIRFLOW_CONN_INTEGRA_LEDGER": ledger_db.airflow_conn,
        # Both campaigns read the same leads; the cross-campaign cap is tests/test_contact_policy.py's
        # subject, so here it allows both, and each campaign's own backfill behaviour shows alone.
        "INTEGRA_CONTACT_POLICY": str(policy),
        "AIRFLOW_CONN_INTEGRA_DEFAULT": sandbox.airflow_conn_json(),
        "PYTHONUNBUFFERED": "1",
    }
    stack = AirflowStack(
        workdir=tmp_path, env=env, api_url=api_url, warehouse=warehouse, ledger_db=ledger_db, processes={}
    )
    migrate = stack.airflow("db", "migrate", timeout=300)
    assert migrate.returncode == 0, f"airflow db migrate failed:\n{migrate.stdout}\n{migrate.stderr}"
    ledger = subprocess.run(
        [sys.executable, "-m", "integra.ledger", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert ledger.returncode == 0, f"ledger upgrade failed:\n{ledger.stdout}\n{ledger.stderr}"
    assert "empty -> 0002" in ledger.stdout

    try:
        for name in PROCESSES:
            args = ["api-server", "--port", str(port), "--host", "127.0.0.1"] if name == "api-server" else [name]
            with (logs / f"{name}.log").open("wb") as log:
                stack.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "airflow", *args],
                    env=env,
                    cwd=tmp_path,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, so teardown reaches its children
                )
        stack.wait_for(
            "the api-server's health endpoint",
            lambda: requests.get(f"{api_url}/api/v2/monitor/health", timeout=5).ok,
            STARTUP_TIMEOUT_S,
        )
        for dag_id in (DEFAULT_DAG, SHIFT72_DAG):
            stack.wait_for(
                f"the dag-processor to serialize {dag_id}",
                lambda dag_id=dag_id: requests.get(f"{api_url}/api/v2/dags/{dag_id}/details", timeout=5).ok,
                STARTUP_TIMEOUT_S,
            )
        yield stack
    finally:
        for name in reversed(PROCESSES):
            if name in stack.processes:
                stop_group(stack.processes[name])


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
