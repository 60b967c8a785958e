"""The sandbox's webhooks over real HTTP: registration, signed deliveries, retries, outcomes, faults.

The project's webhook receiver is checked against this sandbox, so the sandbox must play Integra
exactly as assumed (README.md of include/integra_sandbox). A small standard-library receiver here
records every request and checks its signature itself with ``hmac.compare_digest``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import math
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from include.integra_sandbox.server import SandboxServer
from include.integra_sandbox.webhooks import EVENT_TYPES, OutcomeGenerator
from tests.fixtures.sandbox import SERVER_SCRIPT, SandboxClient, make_campaign_payload

TOKEN = "ik_test_webhooks"
BACKOFF = 0.02  # the first retry after 20 ms, so retry tests stay fast
ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
STATUSES = {"completed", "no_answer", "busy", "voicemail", "failed"}
DISPOSITIONS = {"interested", "not_interested", "callback", "do_not_call", "opt_out", "wrong_number"}


# -- a receiver that verifies what it gets ---------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it (header names lower-cased)."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival
    signature_ok: bool

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def timestamp(self) -> int:
        return int(self.headers["x-integra-timestamp"])


class Receiver:
    """A loopback webhook endpoint: 401 on a bad signature, else the scripted status (200 by default)."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # path -> secret of the registration that posts there
        self.answers: deque[int] = deque()  # statuses for the next well-signed requests
        self.hold_next_second = 0  # this many answers wait for the next wall-clock second
        self.delay = 0.0  # seconds before every answer
        self._received: list[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def verify(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        """The receiver's check: HMAC-SHA256(secret, b"<timestamp>." + body), constant-time compare."""
        secret = self.secrets.get(path)
        timestamp = headers.get("x-integra-timestamp", "")
        if secret is None or not timestamp.isdigit():
            return False
        digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(f"sha256={digest}", headers.get("x-integra-signature", ""))

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        headers = {key.lower(): value for key, value in handler.headers.items()}
        ok = self.verify(handler.path, headers, body)
        with self._cond:
            self._received.append(Received(handler.path, headers, body, time.monotonic(), ok))
            status = (self.answers.popleft() if self.answers else 200) if ok else 401
            hold = self.hold_next_second > 0
            self.hold_next_second -= int(hold)
            self._cond.notify_all()
        if hold:  # the retry's timestamp is then a later second than this attempt's
            now = time.time()
            time.sleep(math.floor(now) + 1 - now + 0.02)
        time.sleep(self.delay)
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first ``count`` requests, once they have arrived."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._received) >= count, timeout):
                pytest.fail(f"expected {count} webhook requests, got {len(self._received)}")
            return list(self._received[:count])

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# -- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def webhook_server() -> Iterator[SandboxServer]:
    """An in-process sandbox with a small retry backoff (the CLI default is 0.2 s)."""
    with SandboxServer("127.0.0.1", 0, TOKEN, webhook_backoff=BACKOFF) as server:
        yield server


@pytest.fixture
def sb(webhook_server: SandboxServer) -> Iterator[SandboxClient]:
    """A client for that sandbox, reset (campaigns, registrations, overrides, faults) before the test."""
    client = SandboxClient(url=webhook_server.url, token=TOKEN)
    client.reset()
    yield client
    client.session.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    yield rx
    rx.close()


def register(sb: SandboxClient, rx: Receiver, path: str = "/hook", events: list[str] | None = None) -> dict[str, Any]:
    """Register ``rx`` at ``path`` and teach it the secret."""
    created = sb.register_webhook(rx.url(path), events)
    rx.secrets[path] = created["secret"]
    return created


def create_campaign(sb: SandboxClient, recipients: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request body, 201 body) of a new campaign."""
    payload = make_campaign_payload(recipients)
    response = requests.post(f"{sb.base_url}/campaigns", json=payload, headers=sb.auth_headers, timeout=10)
    assert response.status_code == 201, response.text
    return payload, response.json()


def call_outcomes(sb: SandboxClient, rx: Receiver, recipients: int) -> list[tuple[str, str, str | None, int]]:
    """Run a campaign to completion; (phone, status, disposition, duration) of each call, by phone."""
    register(sb, rx, events=["call.completed"])
    create_campaign(sb, recipients)
    sb.wait_for_webhooks()
    calls = [r.event["data"] for r in rx.received if r.event["type"] == "call.completed"]
    return sorted((c["phone_number"], c["status"], c["disposition"], c["duration_seconds"]) for c in calls)


def free_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- registration ----------------------------------------------------------------------------------


def test_registration_returns_the_secret_once(sb: SandboxClient, receiver: Receiver) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = requests.post(
        f"{sb.base_url}/webhooks", json={"url": receiver.url()}, headers=sb.auth_headers, timeout=5
    )

    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "url", "events", "created_at", "secret"}
    assert re.fullmatch(r"wh_[0-9a-f]+", created["id"])
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{32,}", created["secret"])
    assert created["url"] == receiver.url()
    assert created["events"] == list(EVENT_TYPES)  # none given: all three
    assert ISO_Z.fullmatch(created["created_at"])
    assert before <= datetime.fromisoformat(created["created_at"]) <= datetime.now(UTC)

    public = {key: created[key] for key in ("id", "url", "events", "created_at")}
    one = requests.get(f"{sb.base_url}/webhooks/{created['id']}", headers=sb.auth_headers, timeout=5)
    assert one.json() == {**public, "deliveries": []}
    listed = requests.get(f"{sb.base_url}/webhooks", headers=sb.auth_headers, timeout=5)
    assert listed.json() == {"webhooks": [public]}
    assert created["secret"] not in one.text + listed.text

    other = sb.register_webhook(receiver.url("/calls"), ["call.completed", "call.completed"])
    assert other["events"] == ["call.completed"]
    assert other["secret"] != created["secret"]
    assert other["id"] != created["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": 5}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://127.0.0.1/hook"}, "url"),
        ({"url": "http:///hook"}, "url"),
        ({"url": "http://127.0.0.1:99999/hook"}, "url"),
        ({"url": "http://user:pass@127.0.0.1/hook"}, "url"),
        ({"url": "http://127.0.0.1/ganchão"}, "url"),
        ({"url": "http://127.0.0.1/a hook"}, "url"),
        ({"url": "http://127.0.0.1/hook", "events": ["call.started"]}, "events[0]"),
        ({"url": "http://127.0.0.1/hook", "events": "call.completed"}, "events"),
        ({"url": "http://127.0.0.1/hook", "events": []}, "events"),
        ({"url": "http://127.0.0.1/hook", "secret": "mine"}, "secret"),
    ],
)
def test_bad_registration_is_422_naming_the_field(sb: SandboxClient, body: dict[str, Any], field: str) -> None:
    response = requests.post(f"{sb.base_url}/webhooks", json=body, headers=sb.auth_headers, timeout=5)

    assert response.status_code == 422
    error = response.json()
    assert error["error"] == "validation_error"
    assert field in [detail["field"] for detail in error["details"]]
    assert error["message"].startswith(error["details"][0]["field"])
    assert requests.get(f"{sb.base_url}/webhooks", headers=sb.auth_headers, timeout=5).json() == {"webhooks": []}


def test_webhook_endpoints_need_the_token_and_known_ids(sb: SandboxClient, receiver: Receiver) -> None:
    url = f"{sb.base_url}/webhooks"
    assert requests.post(url, json={"url": receiver.url()}, timeout=5).status_code == 401
    assert requests.get(url, timeout=5).status_code == 401
    created = sb.register_webhook(receiver.url())
    assert requests.get(f"{url}/{created['id']}", timeout=5).status_code == 401
    assert requests.delete(f"{url}/{created['id']}", timeout=5).status_code == 401

    assert requests.post(url, data=b"{", headers=sb.auth_headers, timeout=5).status_code == 400
    assert requests.post(url, json=["x"], headers=sb.auth_headers, timeout=5).status_code == 400
    for method in ("GET", "DELETE"):
        missing = requests.request(method, f"{url}/wh_0000", headers=sb.auth_headers, timeout=5)
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"
    assert requests.put(url, headers=sb.auth_headers, timeout=5).status_code == 405


# -- deliveries ------------------------------------------------------------------------------------


def test_campaign_events_are_signed_ordered_and_carry_the_requests_numbers(
    sb: SandboxClient, receiver: Receiver
) -> None:
    webhook = register(sb, receiver)
    payload, created = create_campaign(sb, recipients=4)
    got = receiver.wait(6)
    idle = sb.wait_for_webhooks()

    assert [r.event["type"] for r in got] == ["campaign.started"] + ["call.completed"] * 4 + ["campaign.completed"]
    now = int(time.time())
    for request in got:
        assert request.signature_ok
        assert request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == "integra-sandbox-webhooks"
        assert request.headers["x-integra-event"] == request.event["type"]
        assert re.fullmatch(r"\d+", request.headers["x-integra-timestamp"])
        assert now - 5 <= request.timestamp <= now
        assert re.fullmatch(r"sha256=[0-9a-f]{64}", request.headers["x-integra-signature"])
        compact = json.dumps(request.event, separators=(",", ":"), ensure_ascii=False).encode()
        assert request.body == compact
        event = request.event
        assert set(event) == {"id", "type", "created_at", "data"}
        assert re.fullmatch(r"evt_[0-9a-f]{32}", event["id"])
        assert ISO_Z.fullmatch(event["created_at"])
        assert event["data"]["campaign_id"] == created["id"]
    assert len({r.event["id"] for r in got}) == 6

    started, *calls, completed = (r.event["data"] for r in got)
    assert set(started) == {"campaign_id", "started_at"}
    assert completed["calls"] == 4
    assert set(completed) == {"campaign_id", "completed_at", "calls"}
    assert [c["phone_number"] for c in calls] == [r["phone_number"] for r in payload["recipients"]]
    for call in calls:
        assert set(call) == {
            "campaign_id",
            "call_id",
            "phone_number",
            "attempt",
            "status",
            "disposition",
            "duration_seconds",
            "started_at",
            "ended_at",
        }
        assert re.fullmatch(r"call_[0-9a-f]+", call["call_id"])
        assert call["attempt"] == 1
        assert call["status"] in STATUSES
        if call["status"] == "failed":
            assert call["disposition"] in {None, "wrong_number"}
        elif call["status"] != "completed":
            assert call["disposition"] is None
        else:
            assert call["disposition"] in DISPOSITIONS
        assert isinstance(call["duration_seconds"], int)
        assert call["duration_seconds"] >= 0
        started_at = datetime.fromisoformat(call["started_at"])
        assert datetime.fromisoformat(call["ended_at"]) - started_at == timedelta(seconds=call["duration_seconds"])
        assert completed["completed_at"] >= call["ended_at"]
    assert len({c["call_id"] for c in calls}) == 4

    assert idle == {"pending": 0, "delivered": 6, "failed": 0}
    deliveries = sb.webhook(webhook["id"])["deliveries"]
    assert [d["event_id"] for d in deliveries] == [r.event["id"] for r in reversed(got)]  # newest first
    for delivery in deliveries:
        assert delivery["status_code"] == 200
        assert delivery["attempts"] == 1
        assert delivery["delivered"] is True
        assert ISO_Z.fullmatch(delivery["last_attempt_at"])
    assert set(deliveries[0]) == {"event_id", "type", "status_code", "attempts", "last_attempt_at", "delivered"}


def test_deliveries_are_not_made_inside_the_campaign_request(sb: SandboxClient, receiver: Receiver) -> None:
    receiver.delay = 0.3
    register(sb, receiver)

    started = time.monotonic()
    create_campaign(sb, recipients=2)
    assert time.monotonic() - started < 0.25
    assert len(receiver.wait(4)) == 4


def test_each_registration_gets_its_events_signed_with_its_own_secret(sb: SandboxClient, receiver: Receiver) -> None:
    register(sb, receiver, "/all")
    register(sb, receiver, "/calls", ["call.completed"])
    create_campaign(sb, recipients=2)
    sb.wait_for_webhooks()

    by_path = {path: [r for r in receiver.received if r.path == path] for path in ("/all", "/calls")}
    assert len(by_path["/all"]) == 4
    assert [r.event["type"] for r in by_path["/calls"]] == ["call.completed", "call.completed"]
    assert all(r.signature_ok for r in receiver.received)
    calls_in_all = [r for r in by_path["/all"] if r.event["type"] == "call.completed"]
    assert [r.event["id"] for r in calls_in_all] == [r.event["id"] for r in by_path["/calls"]]
    assert [r.body for r in calls_in_all] == [r.body for r in by_path["/calls"]]
    # A signature made with one registration's secret does not verify with the other's.
    assert not receiver.verify("/all", by_path["/calls"][0].headers, by_path["/calls"][0].body)


def test_forced_outcome_is_delivered_and_reset_clears_it(sb: SandboxClient, receiver: Receiver) -> None:
    numbers = [r["phone_number"] for r in make_campaign_payload(5)["recipients"]]
    seeded = call_outcomes(sb, receiver, 5)

    sb.reset()
    sb.force_outcomes({numbers[2]: {"status": "completed", "disposition": "opt_out", "duration_seconds": 12}})
    forced_receiver = Receiver()
    try:
        forced = call_outcomes(sb, forced_receiver, 5)
    finally:
        forced_receiver.close()

    assert forced[2] == (numbers[2], "completed", "opt_out", 12)
    # Forcing one number does not shift the seeded outcomes of the others.
    assert forced[:2] + forced[3:] == seeded[:2] + seeded[3:]

    sb.reset()
    again_receiver = Receiver()
    try:
        assert call_outcomes(sb, again_receiver, 5) == seeded
    finally:
        again_receiver.close()


@pytest.mark.parametrize(
    "body",
    [
        ["+5511900000000"],
        {"5511900000000": {"status": "completed"}},
        {"+5511900000000": "opt_out"},
        {"+5511900000000": {"status": "answered"}},
        {"+5511900000000": {"status": "no_answer", "disposition": "opt_out"}},
        {"+5511900000000": {"status": "completed", "disposition": "maybe"}},
        {"+5511900000000": {"status": "completed", "duration_seconds": -1}},
        {"+5511900000000": {"status": "completed", "duration_seconds": "12"}},
        {"+5511900000000": {"status": "completed", "note": "x"}},
    ],
)
def test_bad_outcome_bodies_are_400_and_never_quote_the_number(sb: SandboxClient, body: Any) -> None:
    response = requests.post(f"{sb.url}/_sandbox/outcomes", json=body, timeout=5)
    assert response.status_code == 400
    assert "900000000" not in response.text


def test_failed_attempts_are_retried_re_signed_with_the_same_body(sb: SandboxClient, receiver: Receiver) -> None:
    webhook = register(sb, receiver, events=["campaign.started"])
    receiver.answers.append(500)
    receiver.hold_next_second = 1
    create_campaign(sb)
    first, second = receiver.wait(2)
    sb.wait_for_webhooks()

    assert first.signature_ok
    assert second.signature_ok
    assert second.body == first.body
    assert second.timestamp > first.timestamp
    assert second.headers["x-integra-signature"] != first.headers["x-integra-signature"]
    [delivery] = sb.webhook(webhook["id"])["deliveries"]
    assert delivery["event_id"] == first.event["id"]
    assert delivery["attempts"] == 2
    assert delivery["status_code"] == 200
    assert delivery["delivered"] is True


def test_deliveries_are_given_up_after_the_attempts(sb: SandboxClient, receiver: Receiver) -> None:
    erroring = register(sb, receiver, events=["campaign.started"])
    receiver.answers.extend([500] * 10)
    unreachable = sb.register_webhook(f"http://127.0.0.1:{free_port()}/hook", ["campaign.started"])
    create_campaign(sb)

    assert sb.wait_for_webhooks() == {"pending": 0, "delivered": 0, "failed": 2}
    assert len(receiver.received) == 5
    assert len({r.body for r in receiver.received}) == 1
    [to_receiver] = sb.webhook(erroring["id"])["deliveries"]
    assert (to_receiver["status_code"], to_receiver["attempts"], to_receiver["delivered"]) == (500, 5, False)
    [refused] = sb.webhook(unreachable["id"])["deliveries"]
    assert (refused["status_code"], refused["attempts"], refused["delivered"]) == (None, 5, False)


@pytest.mark.parametrize("kind", ["error_after_create", "drop_after_create"])
def test_campaigns_created_despite_a_failed_response_still_emit_events(
    sb: SandboxClient, receiver: Receiver, kind: str
) -> None:
    register(sb, receiver, events=["campaign.started"])
    sb.inject("rate_limit")  # creates nothing: no events
    sb.inject(kind)
    url = f"{sb.base_url}/campaigns"
    assert requests.post(url, json=make_campaign_payload(), headers=sb.auth_headers, timeout=5).status_code == 429
    with pytest.raises(requests.ConnectionError) if kind == "drop_after_create" else contextlib.nullcontext():
        requests.post(url, json=make_campaign_payload(), headers=sb.auth_headers, timeout=5)

    assert sb.wait_for_webhooks()["delivered"] == 1
    [stored] = sb.campaigns()
    assert [r.event["data"]["campaign_id"] for r in receiver.received] == [stored["id"]]


# -- webhook faults --------------------------------------------------------------------------------


def test_bad_signature_fault_signs_one_attempt_wrongly_and_the_retry_correctly(
    sb: SandboxClient, receiver: Receiver
) -> None:
    webhook = register(sb, receiver, events=["campaign.started"])
    assert sb.inject_webhook_fault("bad_signature") == [{"kind": "bad_signature", "times": 1, "delay": 3.0}]
    create_campaign(sb)
    bad, good = receiver.wait(2)
    sb.wait_for_webhooks()

    assert not bad.signature_ok  # the receiver answered 401
    assert good.signature_ok
    assert good.body == bad.body
    [delivery] = sb.webhook(webhook["id"])["deliveries"]
    assert (delivery["attempts"], delivery["status_code"], delivery["delivered"]) == (2, 200, True)
    assert requests.get(f"{sb.url}/_sandbox/webhook_faults", timeout=5).json() == {"faults": []}


def test_duplicate_fault_delivers_the_same_event_twice(sb: SandboxClient, receiver: Receiver) -> None:
    webhook = register(sb, receiver, events=["campaign.started"])
    sb.inject_webhook_fault("duplicate")
    create_campaign(sb)
    first, second = receiver.wait(2)

    assert sb.wait_for_webhooks() == {"pending": 0, "delivered": 2, "failed": 0}
    assert first.event["id"] == second.event["id"]
    assert first.body == second.body
    assert first.signature_ok
    assert second.signature_ok
    assert len(sb.webhook(webhook["id"])["deliveries"]) == 2
    assert len(receiver.received) == 2


def test_out_of_order_fault_delivers_the_campaign_backwards(sb: SandboxClient, receiver: Receiver) -> None:
    register(sb, receiver)
    sb.inject_webhook_fault("out_of_order")
    create_campaign(sb, recipients=2)
    got = receiver.wait(4)

    assert [r.event["type"] for r in got] == [
        "campaign.completed",
        "call.completed",
        "call.completed",
        "campaign.started",
    ]
    assert all(r.signature_ok for r in got)

    create_campaign(sb, recipients=1)  # the fault is used up: the next campaign is in order again
    assert [r.event["type"] for r in receiver.wait(7)[4:]] == list(EVENT_TYPES)


def test_late_fault_delays_one_event_and_keeps_its_created_at(sb: SandboxClient, receiver: Receiver) -> None:
    assert sb.inject_webhook_fault("late")[0]["delay"] == 3.0  # the default
    sb.reset()
    register(sb, receiver)
    sb.inject_webhook_fault("late", delay=0.8)

    posted = time.monotonic()
    create_campaign(sb)
    assert sb.webhooks_idle()["pending"] >= 1
    got = receiver.wait(3)
    wall_after_post = datetime.now(UTC)

    assert [r.event["type"] for r in got] == ["call.completed", "campaign.completed", "campaign.started"]
    late = got[-1]
    assert late.at - posted >= 0.8
    assert got[0].at - posted < 0.8
    assert late.signature_ok
    assert late.event["created_at"] == got[0].event["created_at"]
    assert datetime.fromisoformat(late.event["created_at"]) <= wall_after_post
    assert int(time.time()) - late.timestamp <= 1  # signed when sent, not when created
    assert sb.wait_for_webhooks() == {"pending": 0, "delivered": 3, "failed": 0}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"faults": [{"kind": "slow"}]},
        {"faults": [{"kind": "late", "times": 0}]},
        {"faults": [{"kind": "late", "delay": -1}]},
        {"faults": ["late"]},
    ],
)
def test_bad_webhook_fault_specs_are_400_and_queue_nothing(sb: SandboxClient, body: dict[str, Any]) -> None:
    assert requests.post(f"{sb.url}/_sandbox/webhook_faults", json=body, timeout=5).status_code == 400
    assert requests.get(f"{sb.url}/_sandbox/webhook_faults", timeout=5).json() == {"faults": []}


# -- deletion, idle, reset -------------------------------------------------------------------------


def test_deleted_registration_gets_nothing(sb: SandboxClient, receiver: Receiver) -> None:
    gone = register(sb, receiver, "/gone")
    kept = register(sb, receiver, "/kept")
    response = requests.delete(f"{sb.base_url}/webhooks/{gone['id']}", headers=sb.auth_headers, timeout=5)
    assert response.status_code == 204
    assert response.content == b""
    assert requests.get(f"{sb.base_url}/webhooks/{gone['id']}", headers=sb.auth_headers, timeout=5).status_code == 404
    listed = requests.get(f"{sb.base_url}/webhooks", headers=sb.auth_headers, timeout=5).json()["webhooks"]
    assert [w["id"] for w in listed] == [kept["id"]]

    create_campaign(sb)
    assert sb.wait_for_webhooks() == {"pending": 0, "delivered": 3, "failed": 0}
    assert {r.path for r in receiver.received} == {"/kept"}


def test_deleting_a_registration_drops_its_queued_deliveries(sb: SandboxClient, receiver: Receiver) -> None:
    webhook = register(sb, receiver, events=["campaign.started"])
    sb.inject_webhook_fault("late", delay=0.3)
    create_campaign(sb)
    assert sb.webhooks_idle()["pending"] == 1
    sb.session.delete(f"{sb.base_url}/webhooks/{webhook['id']}", headers=sb.auth_headers, timeout=5)

    assert sb.wait_for_webhooks() == {"pending": 0, "delivered": 0, "failed": 0}
    time.sleep(0.1)
    assert receiver.received == []


def test_reset_clears_registrations_deliveries_overrides_and_faults(sb: SandboxClient, receiver: Receiver) -> None:
    register(sb, receiver)
    create_campaign(sb)
    sb.wait_for_webhooks()
    sb.force_outcomes({"+5511900000000": {"status": "busy"}})
    sb.inject_webhook_fault("duplicate", times=3)

    sb.reset()

    assert requests.get(f"{sb.base_url}/webhooks", headers=sb.auth_headers, timeout=5).json() == {"webhooks": []}
    assert requests.get(f"{sb.url}/_sandbox/webhook_faults", timeout=5).json() == {"faults": []}
    assert sb.webhooks_idle() == {"pending": 0, "delivered": 0, "failed": 0}
    create_campaign(sb)
    time.sleep(0.1)
    assert len(receiver.received) == 3  # nothing new: no registration any more
    assert sb.webhooks_idle() == {"pending": 0, "delivered": 0, "failed": 0}


# -- reproducibility and the outcome mix -----------------------------------------------------------


def test_same_seed_same_outcomes_other_seed_other_outcomes() -> None:
    def outcomes(seed: int) -> list[tuple[str, str, str | None, int]]:
        with SandboxServer("127.0.0.1", 0, TOKEN, webhook_seed=seed, webhook_backoff=BACKOFF) as server:
            rx = Receiver()
            try:
                return call_outcomes(SandboxClient(url=server.url, token=TOKEN), rx, 20)
            finally:
                rx.close()

    first = outcomes(7)
    assert len(first) == 20
    assert outcomes(7) == first
    assert outcomes(8) != first


def test_outcome_mix_is_roughly_as_assumed() -> None:
    generator = OutcomeGenerator(0)
    draws = [generator.draw() for _ in range(20_000)]
    share = Counter(outcome.status for outcome in draws)
    for status, expected in {
        "completed": 0.55,
        "no_answer": 0.25,
        "busy": 0.07,
        "voicemail": 0.08,
        "failed": 0.05,
    }.items():
        assert share[status] / len(draws) == pytest.approx(expected, abs=0.015), status
    stop_calling = sum(o.disposition in {"opt_out", "do_not_call"} for o in draws) / len(draws)
    assert stop_calling == pytest.approx(0.06, abs=0.01)
    for outcome in draws:
        if outcome.status == "completed":
            assert outcome.disposition in DISPOSITIONS
            assert outcome.duration_seconds > 0
        elif outcome.status == "failed":
            assert outcome.disposition in {None, "wrong_number"}
        else:
            assert outcome.disposition is None
    assert {o.disposition for o in draws if o.status == "completed"} == DISPOSITIONS
    generator.reseed()
    assert [generator.draw() for _ in range(5)] == draws[:5]


# -- hygiene, shutdown, the CLI and the shared fixture ---------------------------------------------


def test_delivery_log_lines_hold_no_numbers_urls_or_secrets(receiver: Receiver) -> None:
    log = io.StringIO()
    with SandboxServer("127.0.0.1", 0, TOKEN, log=log, webhook_backoff=BACKOFF) as server:
        client = SandboxClient(url=server.url, token=TOKEN)
        webhook = register(client, receiver, "/secret-path-abc")
        receiver.answers.append(503)
        create_campaign(client, recipients=2)
        client.wait_for_webhooks()
    text = log.getvalue()

    assert f"webhook campaign.started -> {webhook['id']} 503 (attempt 1)" in text
    assert f"webhook campaign.started -> {webhook['id']} 200 (attempt 2)" in text
    assert "900000000" not in text
    assert "secret-path-abc" not in text
    assert webhook["secret"] not in text


def test_stop_does_not_wait_for_retries_or_late_events(receiver: Receiver) -> None:
    threads_before = set(threading.enumerate())
    server = SandboxServer("127.0.0.1", 0, TOKEN, webhook_backoff=30).start()
    client = SandboxClient(url=server.url, token=TOKEN)
    register(client, receiver, events=["campaign.started", "campaign.completed"])
    client.inject_webhook_fault("bad_signature")  # rejected: the retry would come 30 s later
    client.inject_webhook_fault("late", delay=30)
    create_campaign(client)
    receiver.wait(1)

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    assert not [t for t in set(threading.enumerate()) - threads_before if t.name.startswith("integra-webhooks")]


def test_cli_flags_and_sigterm_with_deliveries_pending(tmp_path: Path, receiver: Receiver) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            str(SERVER_SCRIPT),
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--token",
            TOKEN,
            "--quiet",
            "--webhook-seed",
            "7",
            "--webhook-backoff",
            "0.01",
            "--webhook-attempts",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Integra sandbox listening on")
        client = SandboxClient(url=f"http://127.0.0.1:{port_file.read_text().strip()}", token=TOKEN)

        cli_outcomes = call_outcomes(client, receiver, 20)
        with SandboxServer("127.0.0.1", 0, TOKEN, webhook_seed=7) as server:
            in_process_receiver = Receiver()
            try:
                assert (
                    call_outcomes(SandboxClient(url=server.url, token=TOKEN), in_process_receiver, 20) == cli_outcomes
                )
            finally:
                in_process_receiver.close()

        client.reset()
        webhook = register(client, receiver, "/failing", ["campaign.started"])
        receiver.answers.extend([500, 500, 500])
        create_campaign(client)
        assert client.wait_for_webhooks()["failed"] == 1
        assert client.webhook(webhook["id"])["deliveries"][0]["attempts"] == 2  # --webhook-attempts

        client.inject_webhook_fault("late", delay=60)
        create_campaign(client)
        assert client.webhooks_idle()["pending"] == 1
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 3
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_the_shared_sandbox_fixture_serves_webhooks(sandbox: SandboxClient, receiver: Receiver) -> None:
    """The session's subprocess sandbox (python server.py) delivers too, and its reset forgets registrations."""
    register(sandbox, receiver, events=["call.completed"])
    sandbox.force_outcomes({"+5511900000001": {"status": "completed", "disposition": "do_not_call"}})
    create_campaign(sandbox, recipients=2)

    assert sandbox.wait_for_webhooks() == {"pending": 0, "delivered": 2, "failed": 0}
    calls = {r.event["data"]["phone_number"]: r.event["data"] for r in receiver.received}
    assert calls["+5511900000001"]["disposition"] == "do_not_call"
    assert calls["+5511900000001"]["duration_seconds"] == 60  # the default of a forced completed call
    assert all(r.signature_ok for r in receiver.received)

    sandbox.reset()
    listed = sandbox.session.get(f"{sandbox.base_url}/webhooks", headers=sandbox.auth_headers, timeout=5)
    assert listed.json() == {"webhooks": []}
