"""The production topology on this machine: CeleryExecutor, two workers, a worker killed mid-POST.

PostgreSQL metadata, a Redis broker the test starts itself (on its own port, so it may restart it),
``airflow scheduler``, ``dag-processor``, ``api-server``, ``triggerer`` and two ``airflow celery
worker`` processes with different hostnames, all sharing one ``INTEGRA_DATA_PATH`` (what shared
storage is in a real deployment) and one ledger. A day of 25,000 São Paulo leads makes 3 batches.

- The day runs on both workers and creates exactly 3 campaigns, every lead accounted for.
- With the sandbox answering 60 s after creating, the worker that holds a ``create_campaign`` is
  SIGKILLed. The scheduler notices, the task is retried on the other worker, and the ledger's promise
  holds: no second campaign for that batch (the retry stops on "outcome unknown" and names the
  commands that resolve it), the other batches created once.
- The broker is restarted mid-run: the day completes, nothing twice.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.campaign import BASE_DEFINITION, SAO_PAULO, SP, future_run, generate_leads, seed_sqlite
from tests.fixtures.processes import free_port, stop_group
from tests.fixtures.stack import AirflowStack, running_stack, stack_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "integra_celery"
LEADS = 25_000
WORKERS = ("worker-a", "worker-b")
RUN_TIMEOUT_S = 420
REDIS = shutil.which("redis-server")


class Broker:
    """A redis-server of the test's own, so the test may stop and restart it."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS, "redis-server is not installed"
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)


DAYS = 3  # a plain day, the day a worker is killed, the day the broker restarts


def _day(back: int) -> datetime:
    """The 07:00 run ``back`` days ago: the scheduler runs no future logical date; calls go out at a future time."""
    return datetime.combine(datetime.now(SP).date() - timedelta(days=back), clock(7), SP)


@pytest.fixture
def celery_stack(
    tmp_path: Path, sandbox: Any, pg_database: str, database_factory: Any
) -> Iterator[tuple[AirflowStack, Broker]]:
    (tmp_path / "campaigns").mkdir()
    shutil.copytree(ROOT / "include" / "sql", tmp_path / "sql")
    start = (datetime.now(SP).date() - timedelta(days=30)).isoformat()
    definition = {**BASE_DEFINITION, "dag_id": DAG_ID, "start_date": start, "retries": 2, "retry_delay_minutes": 0.05}
    (tmp_path / "campaigns" / f"{DAG_ID}.yaml").write_text(yaml.safe_dump(definition, allow_unicode=True))
    warehouse = tmp_path / "warehouse.db"
    for back in range(1, DAYS + 1):
        run_at = _day(back)
        rows = generate_leads(
            LEADS,
            start=run_at - timedelta(days=1),
            end=run_at,
            seed=back,
            bad_ratio=0,
            id_prefix=f"C{back}-",
            area_codes=SAO_PAULO,
        )
        seed_sqlite(warehouse, rows)
    broker = Broker(tmp_path)
    broker.start()
    ledger_db = database_factory("postgres", "ledger")
    result_backend = pg_database.replace("postgresql://", "db+postgresql://", 1)
    env, port = stack_env(
        tmp_path,
        pg_database=pg_database,
        warehouse=warehouse,
        ledger_db=ledger_db,
        sandbox=sandbox,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        # Both workers run on this machine: each says its own name in the task instance's hostname.
        AIRFLOW__CORE__HOSTNAME_CALLABLE="tests.fixtures.hostnames.from_env",
        PYTHONPATH=str(ROOT),
        AIRFLOW__CELERY__BROKER_URL=broker.url,
        AIRFLOW__CELERY__RESULT_BACKEND=result_backend,
        AIRFLOW__CELERY__WORKER_CONCURRENCY="1",  # one task per worker at a time: the batches must spread
        # A killed worker's task is noticed after this long without a heartbeat (default 300 s).
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="30",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
        # A task whose queue message died with the broker is queued again after this long (default 600 s).
        AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT="60",
    )
    workers = {name: ["celery", "worker", "--celery-hostname", f"{name}@%h"] for name in WORKERS}
    try:
        with running_stack(
            tmp_path,
            env,
            port,
            warehouse,
            ledger_db,
            [DAG_ID],
            extra={"triggerer": ["triggerer"], **workers},
            env_for={name: {"INTEGRA_TEST_HOSTNAME": name} for name in WORKERS},
        ) as stack:
            yield stack, broker
    finally:
        broker.stop()


def _trigger(stack: AirflowStack, back: int) -> str:
    return stack.trigger(DAG_ID, _day(back), scheduled_at=future_run().replace(hour=10).isoformat())


def _finished(stack: AirflowStack, run_id: str) -> str | None:
    state = stack.run_state(DAG_ID, run_id)
    return state if state in ("success", "failed") else None


def _creates(stack: AirflowStack, run_id: str) -> list[dict[str, Any]]:
    body = stack.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", limit=100)
    return [ti for ti in body["task_instances"] if ti["task_id"] == "create_campaign"]


def _keys(sandbox: Any, back: int) -> list[str]:
    day = _day(back).astimezone(SP).date().isoformat()
    return [c["idempotency_key"] for c in sandbox.campaigns() if day in c["request"]["name"]]


def _worker_of(stack: AirflowStack, run_id: str) -> str | None:
    """The worker running a create_campaign of the run once its POST reached the sandbox, if any."""
    running = [ti for ti in _creates(stack, run_id) if ti["state"] == "running" and ti.get("hostname") in WORKERS]
    return str(running[0]["hostname"]) if running else None


def test_a_day_spreads_over_two_workers_and_survives_a_killed_worker_and_a_broker_restart(
    celery_stack: tuple[AirflowStack, Broker], sandbox: Any
) -> None:
    stack, broker = celery_stack

    # 1. A day on two workers: three batches, three campaigns, every lead accounted for. The first two
    # POSTs take 8 s each, so one worker cannot take all three batches while the other is still busy
    # finishing the run's first task (a cold worker may hold its slot for seconds after that task ends).
    sandbox.inject("slow_after_create", times=2, delay=8)
    run = _trigger(stack, 3)
    assert stack.wait_for("the day", lambda: _finished(stack, run), RUN_TIMEOUT_S) == "success"
    creates = _creates(stack, run)
    assert len(creates) == 3
    assert {ti["state"] for ti in creates} == {"success"}
    assert {ti["hostname"] for ti in creates} == set(WORKERS), [ti["hostname"] for ti in creates]
    keys = _keys(sandbox, 3)
    assert len(keys) == len(set(keys)) == 3
    [summary] = stack.query("SELECT queried, sent, duplicates FROM integra_runs WHERE run_id = ?", (run,))
    assert summary["queried"] == LEADS
    assert summary["sent"] + summary["duplicates"] == LEADS

    # 2. The sandbox answers a minute after creating; the worker holding that POST is killed.
    sandbox.inject("slow_after_create", times=1, delay=60)
    run = _trigger(stack, 2)
    stack.wait_for("a POST to reach the sandbox", lambda: _keys(sandbox, 2), RUN_TIMEOUT_S)
    victim = stack.wait_for("the worker holding it", lambda: _worker_of(stack, run), 60)
    stack.stopped.add(victim)
    os.killpg(stack.processes[victim].pid, signal.SIGKILL)
    assert stack.wait_for("the day", lambda: _finished(stack, run), RUN_TIMEOUT_S) == "failed"
    keys = _keys(sandbox, 2)
    assert len(keys) == len(set(keys)) == 3, "a batch was created twice, or one was lost"
    creates = _creates(stack, run)
    failed = [ti for ti in creates if ti["state"] == "failed"]
    assert len(failed) == 1, [(ti["map_index"], ti["state"]) for ti in creates]
    assert failed[0]["try_number"] >= 2, "the killed task was not retried"
    assert failed[0]["hostname"] != victim, "the retry ran on the dead worker"
    in_doubt = stack.query("SELECT status FROM integra_campaigns WHERE run_id = ? AND status <> 'created'", (run,))
    assert [r["status"] for r in in_doubt] in (["sending"], ["unknown"]), in_doubt

    # 3. The broker restarts while the day is queued and running: it completes, nothing twice.
    survivor = next(name for name in WORKERS if name != victim)
    run = _trigger(stack, 1)
    stack.wait_for("the day to start", lambda: stack.task_states(DAG_ID, run).get("extract_leads"), 120)
    broker.stop()
    broker.start()
    state = stack.wait_for("the day", lambda: _finished(stack, run), RUN_TIMEOUT_S)
    keys = _keys(sandbox, 1)
    assert len(keys) == len(set(keys)), "a batch was created twice after the broker restarted"
    assert state == "success", f"{survivor} could not finish the day after the broker restarted"
    assert len(keys) == 3
