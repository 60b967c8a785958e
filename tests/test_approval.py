"""The approval gate through a real scheduler and api-server: Airflow's human-in-the-loop before anyone is phoned.

One installation (``tests.fixtures.stack``), two gated campaigns over São Paulo leads of the last four
days (the scheduler runs no future logical date), each run's calls set at a future time inside the
window with the ``scheduled_at`` param:

- ``integra_gated`` (``max_recipients: 30``, a 3-hour timeout): a 20-lead day passes at once; a
  50-lead day waits in ``awaiting_input`` until approved through the REST API, then creates its
  campaign; another 50-lead day is rejected through the REST API and creates nothing.
- ``integra_gated_timeout`` (a 36-second timeout): nobody answers, the scheduler's timeout sweep
  applies the default (Reject), nothing is created.

Every decision is in the ledger's ``integra_approvals`` with who decided and what they were shown, and
the day in ``integra_runs`` says ``rejected`` / ``approval_timed_out``.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as clock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from integra.policy.volume import ApprovalSettings, check_volume
from tests.fixtures.campaign import BASE_DEFINITION, SAO_PAULO, SP, future_run, generate_leads, seed_sqlite
from tests.fixtures.stack import AirflowStack, running_stack, stack_env

ROOT = Path(__file__).resolve().parents[1]
GATED = "integra_gated"
TIMEOUT = "integra_gated_timeout"
RUN_TIMEOUT_S = 240
ANSWER_AFTER_S = 8


class TestVolumeCheck:
    def test_absolute_cap(self):
        settings = ApprovalSettings(max_recipients=100)
        assert not check_volume(settings, 100, []).needs_approval
        assert check_volume(settings, 101, []).reasons == ("101 people would be phoned, over max_recipients 100",)

    def test_deviation_both_ways_once_there_is_history(self):
        settings = ApprovalSettings(max_deviation=0.5, min_history=3)
        usual = [500, 520, 480, 510]
        assert not check_volume(settings, 700, usual).needs_approval
        assert check_volume(settings, 800, usual).needs_approval  # ten times as many is far more than 1.5×
        assert check_volume(settings, 12, usual).needs_approval  # a swapped table: far fewer
        assert not check_volume(settings, 12, usual[:2]).needs_approval  # too little history yet

    def test_a_gate_needs_a_threshold(self):
        with pytest.raises(ValueError, match="max_recipients, max_deviation"):
            ApprovalSettings()


def _days(count: int) -> list[datetime]:
    """The 07:00 runs of the last ``count`` days, oldest first: the scheduler runs no logical date in the future."""
    today = datetime.now(SP).date()
    return [datetime.combine(today - timedelta(days=back), clock(7), SP) for back in range(count, 0, -1)]


def _trigger(stack: AirflowStack, dag_id: str, run_at: datetime) -> str:
    """A run of a past day whose calls go out at a future time inside the window (params.scheduled_at)."""
    return stack.trigger(dag_id, run_at, scheduled_at=future_run().replace(hour=10).isoformat())


class Webhook:
    """A chat webhook on loopback that keeps what it receives."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def airflow_conn(self) -> str:
        return json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{self.server.server_port}/hooks/alerts"})


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture
def gated_stack(
    tmp_path: Path, sandbox: Any, pg_database: str, database_factory: Any, webhook: Webhook
) -> Iterator[AirflowStack]:
    (tmp_path / "campaigns").mkdir()
    shutil.copytree(ROOT / "include" / "sql", tmp_path / "sql")
    start = (datetime.now(SP).date() - timedelta(days=30)).isoformat()
    for dag_id, hours in ((GATED, 3), (TIMEOUT, 0.01)):
        definition = {
            **BASE_DEFINITION,
            "dag_id": dag_id,
            "start_date": start,
            "retries": 1,
            "retry_delay_minutes": 0.05,
            "approval": {"max_recipients": 30, "timeout_hours": hours, "sample_size": 3},
            "failure_webhook_conn_id": "approval_alerts",
        }
        (tmp_path / "campaigns" / f"{dag_id}.yaml").write_text(yaml.safe_dump(definition, allow_unicode=True))
    warehouse = tmp_path / "warehouse.db"
    for number, (run_at, leads) in enumerate(zip(_days(4), (20, 50, 50, 50), strict=True)):
        rows = generate_leads(
            leads,
            start=run_at - timedelta(days=1),
            end=run_at,
            seed=300 + number,
            bad_ratio=0,
            id_prefix=f"A{number}-",
            area_codes=SAO_PAULO,
        )
        seed_sqlite(warehouse, rows)
    ledger_db = database_factory("postgres", "ledger")
    env, port = stack_env(
        tmp_path,
        pg_database=pg_database,
        warehouse=warehouse,
        ledger_db=ledger_db,
        sandbox=sandbox,
        AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL="2",  # the awaiting-input timeout sweep
        AIRFLOW_CONN_APPROVAL_ALERTS=webhook.airflow_conn,
    )
    with running_stack(tmp_path, env, port, warehouse, ledger_db, [GATED, TIMEOUT]) as stack:
        yield stack


def _gate_state(stack: AirflowStack, dag_id: str, run_id: str) -> str | None:
    return stack.task_states(dag_id, run_id).get("approve_day", [None])[0]


def _finished(stack: AirflowStack, dag_id: str, run_id: str) -> str | None:
    state = stack.run_state(dag_id, run_id)
    return state if state in ("success", "failed") else None


def _sent_for(sandbox: Any, dag_id: str, run_at: datetime) -> list[dict[str, Any]]:
    day = run_at.astimezone(SP).date().isoformat()
    return [
        c for c in sandbox.campaigns() if c["idempotency_key"].startswith(f"{dag_id}:") and day in c["request"]["name"]
    ]


def _approvals(stack: AirflowStack, dag_id: str) -> list[dict[str, Any]]:
    return stack.query("SELECT * FROM integra_approvals WHERE dag_id = ? ORDER BY requested_at", (dag_id,))


def _run_status(stack: AirflowStack, dag_id: str, run_id: str) -> str:
    return str(_run_summary(stack, dag_id, run_id)["status"])


def _run_summary(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, Any]:
    [row] = stack.query("SELECT summary FROM integra_runs WHERE dag_id = ? AND run_id = ?", (dag_id, run_id))
    return dict(json.loads(row["summary"]))


def _decide(stack: AirflowStack, dag_id: str, run_id: str, option: str) -> dict[str, Any]:
    """Answer as a person would, through the REST API.

    Not within a second of the request: the scheduler must first see the parked worker exit. An answer
    that lands before that event is read makes Airflow 3.3 take the worker's exit for the resumed
    attempt's and put the task up for retry (a person answers minutes later, not in 0.5 s).
    """
    time.sleep(ANSWER_AFTER_S)
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/approve_day/-1/hitlDetails"
    response = stack.patch(path, {"chosen_options": [option]})
    assert response.ok, f"{response.status_code} {response.text}"
    return dict(response.json())


@pytest.mark.slow
@pytest.mark.postgres
def test_unusual_days_wait_for_a_person(gated_stack: AirflowStack, sandbox: Any, webhook: Webhook) -> None:
    stack = gated_stack
    usual, approve, reject, silent = _days(4)

    # A usual day (20 ≤ 30) does not wait.
    run = _trigger(stack, GATED, usual)
    assert stack.wait_for("the usual day", lambda: _finished(stack, GATED, run), RUN_TIMEOUT_S) == "success"
    assert _gate_state(stack, GATED, run) == "success"
    assert len(_sent_for(sandbox, GATED, usual)) == 1
    assert [r["status"] for r in _approvals(stack, GATED)] == ["not_needed"]

    # 50 > 30: it waits, nothing is sent, the request says what a person needs to decide.
    run = _trigger(stack, GATED, approve)
    stack.wait_for("the gate to wait", lambda: _gate_state(stack, GATED, run) == "awaiting_input", RUN_TIMEOUT_S)
    assert _sent_for(sandbox, GATED, approve) == []
    detail = stack.get(f"/dags/{GATED}/dagRuns/{run}/taskInstances/approve_day/-1/hitlDetails")
    assert detail["options"] == ["Approve", "Reject"]
    assert detail["defaults"] == ["Reject"]
    assert "**50** people would be phoned today" in detail["body"]
    assert "over max_recipients 30" in detail["body"]
    assert "+55*******" in detail["body"]
    assert not re.search(r"\+55\d{10}", detail["body"]), "a full phone number in the request"
    [message] = webhook.received  # the usual day asked nobody
    assert f"Integra campaign {GATED}" in message["text"]
    assert "waits for approval" in message["text"]
    assert f"{stack.api_url}/dags/{GATED}/runs/{run}/tasks/approve_day" in message["text"]
    answer = _decide(stack, GATED, run, "Approve")
    assert stack.wait_for("the approved day", lambda: _finished(stack, GATED, run), RUN_TIMEOUT_S) == "success"
    [created] = _sent_for(sandbox, GATED, approve)
    assert created["total_recipients"] == 50
    assert _run_status(stack, GATED, run) == "ok"
    decided = _approvals(stack, GATED)[-1]
    assert decided["status"] == "approved"
    assert decided["decided_by"] == answer["responded_by"]["name"]
    assert decided["would_send"] == 50
    assert "over max_recipients 30" in decided["reasons"]
    assert "**50** people" in decided["shown"]

    # Rejected: nothing is POSTed; the day and the decision are recorded.
    run = _trigger(stack, GATED, reject)
    stack.wait_for("the gate to wait", lambda: _gate_state(stack, GATED, run) == "awaiting_input", RUN_TIMEOUT_S)
    _decide(stack, GATED, run, "Reject")
    assert stack.wait_for("the rejected day", lambda: _finished(stack, GATED, run), RUN_TIMEOUT_S) == "success"
    assert _sent_for(sandbox, GATED, reject) == []
    assert set(stack.task_states(GATED, run)["create_campaign"]) == {"skipped"}
    assert _run_status(stack, GATED, run) == "rejected"
    counts = _run_summary(stack, GATED, run)["counts"]
    assert (counts["not_approved"], counts["sent"], counts["queried"]) == (50, 0, 50)
    assert _approvals(stack, GATED)[-1]["status"] == "rejected"
    assert _approvals(stack, GATED)[-1]["decided_by"]

    # Nobody answers: the timeout rejects.
    run = _trigger(stack, TIMEOUT, silent)
    stack.wait_for("the gate to wait", lambda: _gate_state(stack, TIMEOUT, run) == "awaiting_input", RUN_TIMEOUT_S)
    assert stack.wait_for("the timeout", lambda: _finished(stack, TIMEOUT, run), RUN_TIMEOUT_S) == "success"
    assert _sent_for(sandbox, TIMEOUT, silent) == []
    assert _run_status(stack, TIMEOUT, run) == "approval_timed_out"
    [timed_out] = _approvals(stack, TIMEOUT)
    assert timed_out["status"] == "approval_timed_out"
    assert timed_out["decided_by"] is None
