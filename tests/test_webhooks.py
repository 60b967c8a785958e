"""The webhook receiver's rules, in process: the real FastAPI app on a real ledger (SQLite, PostgreSQL, MariaDB).

Signatures, size limit, storing once, processing (outcomes, opt-outs, campaign progress in any order),
linking outcomes to leads, and the export to a warehouse. The same app on a real ``airflow api-server``
is exercised in ``test_webhooks_api_server.py``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fixtures.databases import KIND_PARAMS, Database
from tests.fixtures.ledger import batch_record, members

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
NUMBER, OTHER = "+5511987650001", "+5511987650002"


def event(
    event_id: str, kind: str = "call.completed", *, number: str = NUMBER, campaign_id: str = "cmp_1", **data: Any
) -> bytes:
    if kind == "call.completed":
        payload: dict[str, Any] = {"campaign_id": campaign_id, "phone_number": number, "status": "completed"}
    else:
        payload = {"campaign_id": campaign_id}
    payload.update(data)
    body = {"id": event_id, "type": kind, "created_at": "2026-11-30T10:00:00Z", "data": payload}
    return json.dumps(body).encode()


@pytest.fixture(params=KIND_PARAMS)
def ledger_db(request: pytest.FixtureRequest, database_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Database:
    from integra.ledger import upgrade

    db = database_factory(request.param, "ledger")
    monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_LEDGER", db.airflow_conn)
    upgrade("integra_ledger")
    return db


@pytest.fixture
def client(ledger_db: Database, monkeypatch: pytest.MonkeyPatch) -> Any:
    from fastapi.testclient import TestClient

    from integra.webhooks import receiver

    monkeypatch.setenv(
        "AIRFLOW_CONN_INTEGRA_WEBHOOK",
        json.dumps({"conn_type": "generic", "password": SECRET, "extra": {"previous_secret": OLD_SECRET}}),
    )
    receiver.cached.clear()
    with TestClient(receiver.create_app()) as test_client:
        yield test_client
    receiver.cached.clear()


def post(client: Any, body: bytes, secret: str = SECRET, **kwargs: Any) -> Any:
    from integra.webhooks.signatures import signed_headers

    return client.post("/webhooks", content=body, headers=signed_headers(secret, body, **kwargs))


def rows(db: Database, table: str) -> list[dict[str, Any]]:
    return db.query(f"SELECT * FROM {table}")


# -- signatures ---------------------------------------------------------------------------------------


def test_a_signature_verifies_only_with_its_secret_its_body_and_in_time() -> None:
    from integra.webhooks.signatures import SignatureError, signed_headers, verify

    body = event("evt_sig")
    now = int(time.time())
    headers = signed_headers(SECRET, body, timestamp=now)
    assert verify(headers, body, [SECRET], now=now) == now
    assert verify(headers, body, ["other", SECRET], now=now + 299) == now  # the previous secret during a rotation
    for bad_body, secrets, at, reason in [
        (body + b" ", [SECRET], now, "does not match"),
        (body, ["whsec_wrong"], now, "does not match"),
        (body, [SECRET], now + 301, "tolerance"),
        (body, [SECRET], now - 301, "tolerance"),
        (body, [], now, "no webhook secret"),
    ]:
        with pytest.raises(SignatureError, match=reason):
            verify(headers, bad_body, secrets, now=at)
    with pytest.raises(SignatureError, match="missing X-Integra-Signature"):
        verify({"X-Integra-Timestamp": str(now)}, body, [SECRET], now=now)
    with pytest.raises(SignatureError, match="malformed X-Integra-Timestamp"):
        verify({**headers, "X-Integra-Timestamp": "yesterday"}, body, [SECRET], now=now)


# -- the receiver -------------------------------------------------------------------------------------


def test_a_delivery_is_stored_once_and_a_duplicate_changes_nothing(client: Any, ledger_db: Database) -> None:
    body = event("evt_once", disposition="interested", duration_seconds=42)
    first = post(client, body)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "processed"}
    again = post(client, body)  # Integra's retry, or a replay inside the tolerance: signed anew, same id
    assert again.json() == {"status": "duplicate"}
    events = rows(ledger_db, "integra_webhook_events")
    assert [(e["event_id"], e["event_type"], e["status"]) for e in events] == [
        ("evt_once", "call.completed", "processed")
    ]
    assert json.loads(events[0]["payload"]) == json.loads(body)
    (outcome,) = rows(ledger_db, "integra_call_outcomes")
    assert (outcome["campaign_id"], outcome["phone_e164"], outcome["attempt"]) == ("cmp_1", NUMBER, 1)
    assert outcome["phone_masked"] == "+55*******0001"
    assert (outcome["status"], outcome["disposition"], outcome["duration_seconds"]) == ("completed", "interested", 42)
    assert bool(outcome["answered"])
    assert not bool(outcome["opted_out"])
    assert rows(ledger_db, "integra_suppression_list") == []


def test_forged_stale_unsigned_and_oversized_deliveries_are_refused_with_nothing_stored(
    client: Any, ledger_db: Database
) -> None:
    from integra import contract

    body = event("evt_refused")
    assert post(client, body, secret="whsec_forged").status_code == 401
    assert post(client, body, timestamp=int(time.time()) - 3600).status_code == 401  # captured an hour ago
    assert post(client, body, timestamp=int(time.time()) + 3600).status_code == 401
    assert client.post("/webhooks", content=body, headers={"Content-Type": "application/json"}).status_code == 401
    tampered = body.replace(b"completed", b"no_answer")
    from integra.webhooks.signatures import signed_headers

    assert client.post("/webhooks", content=tampered, headers=signed_headers(SECRET, body)).status_code == 401
    huge = event("evt_huge", note="x" * contract.MAX_WEBHOOK_BODY_BYTES)
    assert post(client, huge).status_code == 413
    assert rows(ledger_db, "integra_webhook_events") == []
    assert rows(ledger_db, "integra_call_outcomes") == []


def test_the_previous_secret_still_verifies_during_a_rotation(client: Any, ledger_db: Database) -> None:
    assert post(client, event("evt_old_secret"), secret=OLD_SECRET).json() == {"status": "processed"}
    assert len(rows(ledger_db, "integra_call_outcomes")) == 1


def test_unknown_types_and_unreadable_bodies_are_stored_not_lost(client: Any, ledger_db: Database) -> None:
    assert post(client, event("evt_new_kind", "agent.updated")).json() == {"status": "ignored"}
    assert post(client, b"not json at all").json() == {"status": "stored"}
    bad_number = event("evt_bad_number", number="011 98765")
    assert post(client, bad_number).json() == {"status": "failed"}
    events = {e["event_id"]: e for e in rows(ledger_db, "integra_webhook_events")}
    assert events["evt_new_kind"]["status"] == "ignored"
    (unreadable,) = [e for e in events.values() if e["event_id"].startswith("sha256:")]
    assert unreadable["status"] == "failed"
    assert unreadable["payload"] == "not json at all"
    assert events["evt_bad_number"]["status"] == "failed"
    assert "phone_number" in events["evt_bad_number"]["error"]
    assert "98765" not in events["evt_bad_number"]["error"]  # the reason names the field, not the value
    assert rows(ledger_db, "integra_call_outcomes") == []


def test_an_opt_out_disposition_suppresses_the_number_with_its_event(client: Any, ledger_db: Database) -> None:
    post(client, event("evt_opt", disposition="Do_Not_Call"))
    post(client, event("evt_fine", number=OTHER, disposition="not_interested"))
    (entry,) = rows(ledger_db, "integra_suppression_list")
    assert entry["phone_e164"] == NUMBER
    assert entry["source"] == "integra_webhook"
    assert "do_not_call" in entry["reason"]
    assert "evt_opt" in entry["reason"]


def test_campaign_progress_only_moves_forward_whatever_the_order(client: Any, ledger_db: Database) -> None:
    completed = event("evt_done", "campaign.completed", completed_at="2026-11-30T15:00:00Z", calls=3)
    started = event("evt_start", "campaign.started", started_at="2026-11-30T13:00:00Z")
    assert post(client, completed).json() == {"status": "processed"}
    assert post(client, started).json() == {"status": "processed"}
    (progress,) = rows(ledger_db, "integra_campaign_status")
    assert progress["status"] == "completed"
    assert progress["calls"] == 3
    assert str(progress["started_at"]).startswith("2026-11-30")
    assert progress["completed_at"] is not None


def test_an_outcome_is_linked_to_its_lead_now_or_once_the_campaign_id_is_recorded(
    client: Any, ledger_db: Database
) -> None:
    from integra.ledger import Ledger, recovery
    from integra.ledger import idempotency as idem
    from integra.ledger.outcomes import link_outcomes

    ledger = Ledger("integra_ledger")
    day = datetime(2026, 12, 2, 10, tzinfo=UTC)
    for key, number in (("key_now", NUMBER), ("key_later", OTHER)):
        idem.claim(
            ledger, batch_record(key, "integra_test_campaign", day, 1), scheduled_at=day, members=members([number])
        )
    recovery.mark_created(ledger, "key_now", "cmp_now")
    post(client, event("evt_now", campaign_id="cmp_now"))
    post(client, event("evt_early", campaign_id="cmp_later", number=OTHER))  # before the operator recorded the id
    outcomes = {o["campaign_id"]: o for o in rows(ledger_db, "integra_call_outcomes")}
    assert (outcomes["cmp_now"]["lead_id"], outcomes["cmp_now"]["dag_id"]) == ("L0", "integra_test_campaign")
    assert outcomes["cmp_later"]["lead_id"] is None
    recovery.mark_created(ledger, "key_later", "cmp_later")
    assert link_outcomes(ledger) == 1
    linked = {o["campaign_id"]: o for o in rows(ledger_db, "integra_call_outcomes")}["cmp_later"]
    assert (linked["lead_id"], linked["campaign_key"]) == ("L0", "key_later")


def test_without_the_webhook_connection_the_receiver_answers_503_so_integra_retries(
    client: Any, ledger_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integra.webhooks import receiver

    monkeypatch.delenv("AIRFLOW_CONN_INTEGRA_WEBHOOK")
    receiver.cached.clear()
    answer = post(client, event("evt_unconfigured"))
    assert answer.status_code == 503
    assert rows(ledger_db, "integra_webhook_events") == []


def test_events_left_unprocessed_are_processed_by_the_outcomes_dag_step(client: Any, ledger_db: Database) -> None:
    """A crash between storing and processing leaves ``received``: the DAG's step finishes it."""
    from integra.ledger import Ledger
    from integra.ledger.outcomes import STALE_AFTER, process_pending, store_event
    from integra.policy.contact import ContactPolicy
    from integra.webhooks.events import read_envelope

    ledger = Ledger("integra_ledger")
    body = event("evt_crash", disposition="opt_out")
    envelope, event_id = read_envelope(body)
    assert store_event(ledger, event_id, envelope, body, datetime.now(UTC))
    assert process_pending(ledger, ContactPolicy()) == {}  # too young: its request may still be processing it
    ledger_db.execute(
        "UPDATE integra_webhook_events SET received_at = ?",
        ((datetime.now(UTC) - STALE_AFTER - timedelta(seconds=5)).replace(tzinfo=None),),
    )
    assert process_pending(ledger, ContactPolicy()) == {"processed": 1}
    assert [r["phone_e164"] for r in rows(ledger_db, "integra_suppression_list")] == [NUMBER]


# -- registration ---------------------------------------------------------------------------------------


def _stored(conn_id: str = "integra_webhook") -> Any:
    from integra.webhooks.registration import _stored_connection

    return _stored_connection(conn_id)


def test_registering_again_rotates_the_secret_and_finishing_forgets_the_old_one(
    sandbox: Any, airflow_db: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import requests

    from integra.exceptions import IntegraConfigError
    from integra.webhooks import registration

    monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_DEFAULT", sandbox.airflow_conn_json())
    monkeypatch.delenv("AIRFLOW_CONN_INTEGRA_WEBHOOK", raising=False)
    url = "https://airflow.example.com/integra/webhooks"
    try:
        first = registration.register(url)
        assert "secret" not in first
        old_secret = _stored().password
        assert old_secret.startswith("whsec_")

        second = registration.register(url)
        rotated = _stored()
        assert rotated.password not in (old_secret, None)
        assert rotated.extra_dejson["previous_secret"] == old_secret  # deliveries in flight still verify
        assert rotated.extra_dejson["previous_webhook_id"] == first["id"]
        assert rotated.extra_dejson["webhook_id"] == second["id"]

        assert registration.finish_rotation() == first["id"]
        finished = _stored()
        assert finished.password == rotated.password
        assert "previous_secret" not in finished.extra_dejson
        gone = requests.get(f"{sandbox.base_url}/webhooks/{first['id']}", headers=sandbox.auth_headers, timeout=10)
        assert gone.status_code == 404
        assert [
            d["id"]
            for d in requests.get(f"{sandbox.base_url}/webhooks", headers=sandbox.auth_headers, timeout=10).json()[
                "webhooks"
            ]
        ] == [second["id"]]

        # A connection defined by an environment variable would hide the stored one: refuse, name the way out.
        monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_WEBHOOK", json.dumps({"conn_type": "generic", "password": "x"}))
        with pytest.raises(IntegraConfigError, match="--secret-file"):
            registration.register(url)
        secret_file = tmp_path / "webhook-secret"
        registration.register(url, secret_file=secret_file)
        assert secret_file.read_text().startswith("whsec_")
        assert secret_file.stat().st_mode & 0o777 == 0o600
        assert _stored().password == finished.password  # the metadata DB was left alone
    finally:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session

        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == "integra_webhook").delete()


def test_a_timestamp_header_of_thousands_of_digits_is_refused_not_a_crash() -> None:
    from integra.webhooks.signatures import SignatureError, verify

    with pytest.raises(SignatureError, match="malformed"):
        verify({"X-Integra-Signature": "sha256=00", "X-Integra-Timestamp": "1" * 5000}, b"{}", [SECRET])


def test_without_the_contact_policy_file_the_receiver_answers_503(
    client: Any, ledger_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Its opt-out dispositions decide who is never called again: no guessing with the defaults."""
    from integra.webhooks import receiver

    monkeypatch.setenv("INTEGRA_CONTACT_POLICY", str(tmp_path / "missing.yaml"))
    receiver.cached.clear()
    assert post(client, event("evt_no_policy", disposition="opt_out")).status_code == 503
    assert rows(ledger_db, "integra_webhook_events") == []
