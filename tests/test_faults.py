"""Never twice, never lost: every fault of the API, the warehouse and the worker, injected for real.

Each test runs the real DAG (task retries on) against the sandbox with a fault queued, then asserts
what a person would check: campaigns the sandbox holds, the task's final state, the ledger's state,
and that the error message says what to do.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.fixtures.campaign import ROOT, future_run
from tests.fixtures.databases import KIND_PARAMS
from tests.fixtures.ledger import batch_record


def _ledger(campaign):
    return campaign.ledger_query("SELECT status, campaign_id, attempts, last_error FROM integra_campaigns")


def _create_states(campaign, dag_run):
    return campaign.task_states(dag_run).get("create_campaign", [])


@pytest.fixture
def day(sqlite_campaign):
    run_at = future_run()
    sqlite_campaign.seed(60, run_at, bad_ratio=0.0)
    return run_at


@pytest.mark.parametrize("retry_after", ["1", "http-date"])
def test_429_is_retried_and_creates_one_campaign(sqlite_campaign, day, retry_after):
    value = (
        format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True) if retry_after == "http-date" else "1"
    )
    sqlite_campaign.sandbox.inject("rate_limit", times=2, retry_after=value)
    dag_run = sqlite_campaign.run(day)
    assert str(dag_run.state) == "success"
    assert len(sqlite_campaign.sandbox.campaigns()) == 1
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 3
    assert [r["status"] for r in _ledger(sqlite_campaign)] == ["created"]


@pytest.mark.parametrize(
    ("fault", "params", "campaigns"),
    [
        ("error_before_create", {}, 0),
        ("error_after_create", {}, 1),
        ("slow_after_create", {"delay": 3}, 1),
        ("drop_after_create", {}, 1),
    ],
)
def test_unknown_outcome_fails_without_resending(sqlite_campaign, day, fault, params, campaigns, capfd):
    conn = json.loads(sqlite_campaign.sandbox.airflow_conn_json())
    conn["extra"] = {"read_timeout": 1}
    sqlite_campaign.monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_DEFAULT", json.dumps(conn))
    sqlite_campaign.sandbox.inject(fault, **params)
    dag_run = sqlite_campaign.run(day)
    assert str(dag_run.state) == "failed"
    assert _create_states(sqlite_campaign, dag_run) == ["failed"]
    assert len(sqlite_campaign.sandbox.campaigns()) == campaigns
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 1, "an unknown outcome must never be retried"
    [row] = _ledger(sqlite_campaign)
    assert row["status"] == "unknown"
    assert row["campaign_id"] is None
    out = capfd.readouterr().out
    key = sqlite_campaign.ledger_query("SELECT campaign_key FROM integra_campaigns")[0]["campaign_key"]
    assert "Outcome unknown for campaign" in out
    assert "open the Integra panel" in out
    assert f"python -m integra.ledger release {key} --conn-id integra_ledger" in out
    assert f"python -m integra.ledger mark-created {key} <campaign_id> --conn-id integra_ledger" in out

    # A rerun of the day, without the override, still sends nothing and says why.
    dag_run = sqlite_campaign.run(day)
    assert str(dag_run.state) == "failed"
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 1
    assert "outcome is unknown" in capfd.readouterr().out

    # After checking the panel, a person resends that key deliberately: exactly one more campaign.
    dag_run = sqlite_campaign.run(day, resend_keys=[key])
    assert str(dag_run.state) == "success"
    assert len(sqlite_campaign.sandbox.campaigns()) == campaigns + 1
    assert [r["status"] for r in _ledger(sqlite_campaign)] == ["created"]


@pytest.mark.parametrize(("fault", "hint"), [("unauthorized", "token"), ("validation_error", "name")])
def test_rejections_fail_fast_and_create_nothing(sqlite_campaign, day, fault, hint, capfd):
    sqlite_campaign.sandbox.inject(fault)
    dag_run = sqlite_campaign.run(day)
    assert str(dag_run.state) == "failed"
    assert _create_states(sqlite_campaign, dag_run) == ["failed"]
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 1, "a 4xx is not retried"
    assert sqlite_campaign.sandbox.campaigns() == []
    [row] = _ledger(sqlite_campaign)
    assert row["status"] == "not_created"
    assert hint in capfd.readouterr().out
    # Known to have created nothing: the next run simply sends.
    dag_run = sqlite_campaign.run(day)
    assert str(dag_run.state) == "success"
    assert len(sqlite_campaign.sandbox.campaigns()) == 1


def test_wrong_token_names_the_fix(sqlite_campaign, day, capfd):
    conn = json.loads(sqlite_campaign.sandbox.airflow_conn_json())
    conn["password"] = "ik_live_wrong"
    sqlite_campaign.monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_DEFAULT", json.dumps(conn))
    dag_run = sqlite_campaign.run(day)
    assert str(dag_run.state) == "failed"
    assert sqlite_campaign.sandbox.campaigns() == []
    out = capfd.readouterr().out
    assert "401" in out
    assert "Check the API token" in out
    assert "ik_live_wrong" not in out


def test_missing_token_fails_before_anything_is_sent(sqlite_campaign, day, capfd):
    conn = json.loads(sqlite_campaign.sandbox.airflow_conn_json())
    del conn["password"]
    sqlite_campaign.monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_DEFAULT", json.dumps(conn))
    dag_run = sqlite_campaign.run(day)
    assert str(dag_run.state) == "failed"
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 0
    assert "AIRFLOW_CONN_INTEGRA_DEFAULT" in capfd.readouterr().out


def test_unreachable_warehouse_fails_extract_and_posts_nothing(sqlite_campaign, day, capfd):
    sqlite_campaign.monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_WAREHOUSE", "postgresql://postgres@127.0.0.1:1/nowhere")
    dag_run = sqlite_campaign.run(day)
    assert str(dag_run.state) == "failed"
    states = sqlite_campaign.task_states(dag_run)
    assert states["extract_leads"] == ["failed"]
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 0
    assert "127.0.0.1" in capfd.readouterr().out


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path[:0] = [{root!r}]
    from datetime import datetime
    from integra.hooks import IntegraHook
    original = IntegraHook.create_campaign

    def create_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)  # after the POST, before the ledger or XCom hear of it

    IntegraHook.create_campaign = create_then_die
    from airflow.dag_processing.dagbag import DagBag
    dag = DagBag(dag_folder={dagfile!r}).dags[{dag_id!r}]
    dag.test(logical_date=datetime.fromisoformat({day!r}))
    """
)


def _run_killed_after_first_post(campaign, day) -> None:
    """The day's DAG in its own process, SIGKILLed right after its first POST returns."""
    script = KILL_SCRIPT.format(
        root=str(ROOT),
        dagfile=str(ROOT / "dags/integra_campaigns.py"),
        dag_id=campaign.dag_id,
        day=day.isoformat(),
    )
    proc = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


def test_worker_killed_after_the_post_never_resends(sqlite_campaign, day, capfd):
    _run_killed_after_first_post(sqlite_campaign, day)
    assert len(sqlite_campaign.sandbox.campaigns()) == 1
    [row] = _ledger(sqlite_campaign)
    assert row["status"] == "sending"
    assert row["campaign_id"] is None

    dag_run = sqlite_campaign.run(day)  # the scheduler's retry / a person's clear
    assert str(dag_run.state) == "failed"
    assert len(sqlite_campaign.sandbox.campaigns()) == 1, "phoned twice"
    out = capfd.readouterr().out
    assert "was claimed by an earlier attempt" in out
    assert "Integra panel" in out


def test_worker_killed_after_a_post_leaves_the_instances_next_batches_unclaimed(sqlite_campaign, day, capfd):
    """One instance, three batches: the next batch is prepared during a POST, but claimed only after it."""
    sqlite_campaign.define(max_recipients_per_campaign=20, max_create_tasks=1)
    _run_killed_after_first_post(sqlite_campaign, day)
    assert len(sqlite_campaign.sandbox.campaigns()) == 1
    rows = sqlite_campaign.ledger_query("SELECT batch_number, status FROM integra_campaigns")
    assert rows == [{"batch_number": 1, "status": "sending"}], "no batch claimed that was never sent"

    dag_run = sqlite_campaign.run(day)  # the retry: the first batch needs a person, the others go once
    assert str(dag_run.state) == "failed"
    rows = sqlite_campaign.ledger_query("SELECT batch_number, status FROM integra_campaigns ORDER BY batch_number")
    assert [r["status"] for r in rows] == ["sending", "created", "created"]
    campaigns = sqlite_campaign.sandbox.campaigns()
    assert len(campaigns) == 3
    phoned = [r["phone_number"] for c in campaigns for r in c["request"]["recipients"]]
    assert len(phoned) == len(set(phoned)) == 60, "nobody phoned twice"
    assert "was claimed by an earlier attempt" in capfd.readouterr().out


def _claim(args):
    from datetime import UTC, datetime

    from integra.ledger import Ledger
    from integra.ledger import idempotency as idem

    conn_env, key = args
    os.environ["AIRFLOW_CONN_INTEGRA_LEDGER"] = conn_env
    day = datetime(2026, 1, 1, 10, tzinfo=UTC)
    batch = batch_record(key, "d", day, 1)
    claim = idem.claim(
        Ledger("integra_ledger"),
        batch,
        scheduled_at=day,
        members=[
            {"lead_id": "L1", "phone_e164": "+5511987654321", "phone_masked": "+55*******4321", "recipient_name": "Ana"}
        ],
    )
    return claim.state.value


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_twelve_workers_race_for_one_batch_and_one_wins(kind, database_factory, monkeypatch):
    """12 processes claim the same key at once on each ledger backend: exactly one may POST."""
    from integra.ledger import upgrade

    ledger = database_factory(kind, "ledger")
    monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_LEDGER", ledger.airflow_conn)
    upgrade("integra_ledger")
    with multiprocessing.get_context("spawn").Pool(12) as pool:
        states = pool.map(_claim, [(ledger.airflow_conn, "race-key")] * 12)
    assert states.count("claimed") == 1
    assert states.count("in_doubt") == 11
    assert ledger.query("SELECT COUNT(*) AS n FROM integra_campaign_recipients")[0]["n"] == 1
    assert ledger.query("SELECT status, attempts FROM integra_campaigns") == [{"status": "sending", "attempts": 1}]


def test_two_runs_of_the_same_day_create_nothing_new(sqlite_campaign, day):
    assert str(sqlite_campaign.run(day).state) == "success"
    before = sqlite_campaign.sandbox.campaigns()
    # Clearing the whole run and running it again, twice.
    for _ in range(2):
        assert str(sqlite_campaign.run(day).state) == "success"
    assert sqlite_campaign.sandbox.campaigns() == before
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 1


def test_failure_notifier_names_the_campaign_and_key(sqlite_campaign, day):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Webhook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sqlite_campaign.monkeypatch.setenv(
            "AIRFLOW_CONN_CAMPAIGN_ALERTS",
            json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{server.server_port}/hooks/alerts"}),
        )
        sqlite_campaign.define(failure_webhook_conn_id="campaign_alerts")
        sqlite_campaign.sandbox.inject("error_after_create")
        assert str(sqlite_campaign.run(day).state) == "failed"
    finally:
        server.shutdown()
    [message] = received
    [row] = sqlite_campaign.ledger_query("SELECT campaign_key, name FROM integra_campaigns")
    label = row["name"].rsplit(" [", 1)[0]  # the instance's map index name: its batch, without the key
    assert f"create_campaign [{label}] failed" in message["text"]
    assert "Outcome unknown" in message["text"]
    assert row["campaign_key"] in message["text"]
    assert row["name"] in message["text"]
    assert sqlite_campaign.sandbox.token not in message["text"]


def test_failure_text_names_a_mapped_instance_by_its_batches():
    """An instance of a shared create_campaign sends several batches: its rendered name says which."""
    from types import SimpleNamespace

    from integra.notifications import failure_text

    def text(**ti: object) -> str:
        task = SimpleNamespace(dag_id="d", task_id="create_campaign", **ti)
        return failure_text({"ti": task, "logical_date": "2026-12-01", "exception": "2 of 3 batches failed"})

    shared = text(map_index=1, rendered_map_index="batches 2, 6 of 8 (20,000 people)")
    assert "create_campaign [batches 2, 6 of 8 (20,000 people)] failed. 2 of 3 batches failed" in shared
    assert "create_campaign (map index 1) failed" in text(map_index=1, rendered_map_index=None)
    assert "day 2026-12-01: create_campaign failed" in text(map_index=-1)
