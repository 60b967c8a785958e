"""The webhook receiver on a real ``airflow api-server`` (plugin loaded from the plugins folder).

Valid deliveries stored once; forged, stale, replayed and oversized ones refused with nothing stored;
1,000 concurrent deliveries all stored, none twice; no phone number or secret in the server's log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.fixtures.api_server import ApiServer
from tests.fixtures.campaign import future_run
from tests.fixtures.databases import Database

pytestmark = pytest.mark.slow

SECRET = "whsec_api_server_test_9f3c"  # a test secret, looked for in the log below
CONCURRENT = 1_000
CLIENTS = 32


def call_completed(event_id: str, number: str, **data: Any) -> bytes:
    payload = {"campaign_id": "cmp_load", "phone_number": number, "status": "completed", **data}
    return json.dumps({"id": event_id, "type": "call.completed", "data": payload}).encode()


def deliver(session: requests.Session, url: str, body: bytes, secret: str = SECRET, **sign: Any) -> requests.Response:
    from integra.webhooks.signatures import signed_headers

    return session.post(url, data=body, headers=signed_headers(secret, body, **sign), timeout=60)


def no_personal_data_or_secret(log: str, numbers: list[str]) -> None:
    assert SECRET not in log
    for number in numbers:
        assert number not in log
        assert number[1:] not in log
    assert not re.search(r"\+?55\d{10,11}", log), "a full phone number reached the API server's log"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def receiver(
    request: pytest.FixtureRequest, database_factory: Any, start_api_server: Callable[..., ApiServer]
) -> tuple[ApiServer, Database]:
    """The API server with the receiver configured by connections, on a ledger of each kind."""
    from integra.ledger import upgrade

    ledger = database_factory(request.param, "ledger")
    env = {
        **os.environ,
        "AIRFLOW_CONN_INTEGRA_LEDGER": ledger.airflow_conn,
        "AIRFLOW_CONN_INTEGRA_WEBHOOK": json.dumps({"conn_type": "generic", "password": SECRET}),
    }
    os.environ["AIRFLOW_CONN_INTEGRA_LEDGER"] = ledger.airflow_conn
    try:
        upgrade("integra_ledger")
    finally:
        del os.environ["AIRFLOW_CONN_INTEGRA_LEDGER"]
    return start_api_server(env), ledger


def test_the_api_server_stores_valid_deliveries_once_and_refuses_the_rest(
    receiver: tuple[ApiServer, Database],
) -> None:
    from integra import contract

    server, ledger = receiver
    url = f"{server.url}/integra/webhooks"
    session = server.session
    numbers = [f"+55119{i:08d}" for i in range(CONCURRENT + 1)]

    first = deliver(session, url, call_completed("evt_first", numbers[-1], disposition="opt_out"))
    assert first.status_code == 200, f"{first.text}\n{server.log_tail()}"
    assert first.json() == {"status": "processed"}
    assert deliver(session, url, call_completed("evt_first", numbers[-1])).json() == {"status": "duplicate"}

    refused = {
        "forged": deliver(session, url, call_completed("evt_forged", numbers[0]), secret="whsec_guess"),
        "stale": deliver(session, url, call_completed("evt_stale", numbers[0]), timestamp=int(time.time()) - 600),
        "unsigned": session.post(url, data=call_completed("evt_unsigned", numbers[0]), timeout=30),
        "oversized": deliver(
            session, url, call_completed("evt_big", numbers[0], notes="x" * contract.MAX_WEBHOOK_BODY_BYTES)
        ),
    }
    # A replay: the first delivery's exact bytes and headers, sent again after the tolerance has passed.
    from integra.webhooks.signatures import signed_headers

    captured = call_completed("evt_captured", numbers[0])
    old_headers = signed_headers(SECRET, captured, timestamp=int(time.time()) - contract.TIMESTAMP_TOLERANCE_S - 5)
    refused["replayed"] = session.post(url, data=captured, headers=old_headers, timeout=30)
    assert {k: r.status_code for k, r in refused.items()} == {
        "forged": 401,
        "stale": 401,
        "unsigned": 401,
        "oversized": 413,
        "replayed": 401,
    }
    assert ledger.query("SELECT event_id FROM integra_webhook_events") == [{"event_id": "evt_first"}]

    # 1,000 distinct deliveries from 32 concurrent clients, every tenth one delivered twice at once.
    bodies = [call_completed(f"evt_load_{i}", numbers[i]) for i in range(CONCURRENT)]
    work = bodies + bodies[::10]
    sessions = [requests.Session() for _ in range(CLIENTS)]
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda ib: deliver(sessions[ib[0] % CLIENTS], url, ib[1]), enumerate(work)))
    elapsed = time.perf_counter() - started
    codes = Counter(a.status_code for a in answers)
    assert codes == {200: len(work)}, codes
    statuses = Counter(a.json()["status"] for a in answers)
    assert statuses == {"processed": CONCURRENT, "duplicate": len(bodies[::10])}, statuses
    print(f"receiver throughput: {len(work) / elapsed:.0f} deliveries/s ({len(work)} in {elapsed:.2f}s)")

    events = ledger.query("SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d FROM integra_webhook_events")
    assert events == [{"n": CONCURRENT + 1, "d": CONCURRENT + 1}]
    outcomes = ledger.query("SELECT COUNT(*) AS n FROM integra_call_outcomes")
    assert outcomes == [{"n": CONCURRENT + 1}]
    assert ledger.query("SELECT phone_e164 FROM integra_suppression_list") == [{"phone_e164": numbers[-1]}]
    no_personal_data_or_secret(server.log_path.read_text(errors="replace"), numbers)


def _stored_webhook_connection() -> Any:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == "integra_webhook").one_or_none()
        if conn is not None:
            session.expunge(conn)
        return conn


def _delete_webhook_connection() -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == "integra_webhook").delete()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "integra.webhooks", *args],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _e164(raw: str) -> str:
    import phonenumbers

    return phonenumbers.format_number(phonenumbers.parse(raw, "BR"), phonenumbers.PhoneNumberFormat.E164)


def test_outcomes_come_back_through_faults_and_an_opt_out_suppresses_the_next_run(
    sqlite_campaign: Any, start_api_server: Callable[..., ApiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered by the CLI (secret into the metadata DB), delivered by the sandbox with duplicates,
    bad signatures, reversed and late events: every call stored once, and the opted-out number is
    suppressed on the next day's ``dag.test()``."""
    from tests.test_outcomes_dag import outcomes_dag

    campaign = sqlite_campaign
    monkeypatch.delenv("AIRFLOW_CONN_INTEGRA_WEBHOOK", raising=False)
    _delete_webhook_connection()
    campaign.define(cooldown_days=0, acknowledge_no_cooldown=True, max_recipients_per_campaign=25)
    server = start_api_server()
    try:
        registered = _cli("register", "--url", f"{server.url}/integra/webhooks")
        assert registered.returncode == 0, registered.stderr
        stored = _stored_webhook_connection()
        assert stored is not None
        assert stored.password.startswith("whsec_")
        assert stored.password not in registered.stdout + registered.stderr  # shown once by Integra, never by us
        assert json.loads(registered.stdout)["id"] == stored.extra_dejson["webhook_id"]

        day1 = future_run()
        campaign.seed(60, day1, bad_ratio=0.0)
        opted_out = _e164(campaign.query("SELECT phone FROM leads ORDER BY lead_id LIMIT 1")[0]["phone"])
        campaign.sandbox.force_outcomes({opted_out: {"status": "completed", "disposition": "do_not_call"}})
        for kind, times, extra in (
            ("duplicate", 6, {}),
            ("bad_signature", 3, {}),
            ("out_of_order", 1, {}),
            ("late", 2, {"delay": 1}),
        ):
            campaign.sandbox.inject_webhook_fault(kind, times=times, **extra)
        assert str(campaign.run(day1).state) == "success"
        sent = campaign.summary(day1)["counts"]["sent"]
        created = campaign.sandbox.campaigns()
        idle = campaign.sandbox.wait_for_webhooks(timeout=120)
        assert idle["failed"] == 0, idle

        events = campaign.ledger_query("SELECT event_type, status FROM integra_webhook_events")
        assert Counter(e["event_type"] for e in events) == {
            "call.completed": sent,
            "campaign.started": len(created),
            "campaign.completed": len(created),
        }
        assert {e["status"] for e in events} == {"processed"}
        outcomes = campaign.ledger_query("SELECT phone_e164 FROM integra_call_outcomes")
        assert sorted(o["phone_e164"] for o in outcomes) == sorted(
            r["phone_number"] for c in created for r in c["request"]["recipients"]
        )
        progress = campaign.ledger_query("SELECT status FROM integra_campaign_status")
        assert [p["status"] for p in progress] == ["completed"] * len(created)
        suppressed = campaign.ledger_query("SELECT phone_e164, source, reason FROM integra_suppression_list")
        by_webhook = {row["phone_e164"] for row in suppressed if row["source"] == "integra_webhook"}
        flagged = campaign.ledger_query("SELECT phone_e164 FROM integra_call_outcomes WHERE opted_out = 1")
        assert opted_out in by_webhook
        assert by_webhook == {row["phone_e164"] for row in flagged}  # the sandbox's own random opt-outs too
        listed = _cli("deliveries")
        assert listed.returncode == 0, listed.stderr
        deliveries = json.loads(listed.stdout)["deliveries"]
        assert any(d["attempts"] > 1 for d in deliveries)  # the badly signed ones were refused, then retried
        assert all(d["delivered"] for d in deliveries)

        assert str(outcomes_dag().test().state) == "success"  # links outcomes that beat their campaign id
        exported = campaign.query("SELECT lead_id, opted_out FROM integra_outcomes")
        assert len(exported) == sent
        assert all(r["lead_id"] for r in exported)

        day2 = future_run(days=(day1.date() - datetime.now(day1.tzinfo).date()).days + 1)
        campaign.seed(60, day2, bad_ratio=0.0, prefix="M")  # the same people arrive again as new leads
        again = {_e164(r["phone"]) for r in campaign.query("SELECT phone FROM leads WHERE lead_id LIKE 'M%'")}
        assert opted_out in again
        campaign.sandbox.reset()
        assert str(campaign.run(day2).state) == "success"
        day2_sent = {r["phone_number"] for c in campaign.sandbox.campaigns() for r in c["request"]["recipients"]}
        assert opted_out not in day2_sent
        assert day2_sent == again - by_webhook
        assert campaign.summary(day2)["counts"]["suppressed"] == len(again & by_webhook)
        no_personal_data_or_secret(server.log_path.read_text(errors="replace"), [opted_out, *day2_sent])
        assert stored.password not in server.log_path.read_text(errors="replace")
    finally:
        _delete_webhook_connection()
