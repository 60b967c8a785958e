"""The Integra sandbox over real HTTP: contract, auth, validation paths, no idempotency, faults, controls.

The rest of the test suite trusts this server to behave like Integra and to count what it created,
so its own behaviour is pinned here.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from include.integra_sandbox.server import SandboxServer
from tests.fixtures.sandbox import SERVER_SCRIPT, SandboxClient, make_campaign_payload

CREATED_KEYS = {"id", "name", "status", "total_recipients", "scheduled_at", "created_at"}


def post_campaign(
    sandbox: SandboxClient,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    **kwargs: Any,
) -> requests.Response:
    """POST /campaigns with the sandbox token unless another is given; a fresh connection each time."""
    all_headers = {
        "Authorization": f"Bearer {token if token is not None else sandbox.token}",
        **(headers or {}),
    }
    if "data" not in kwargs:
        kwargs["json"] = make_campaign_payload() if body is None else body
    return requests.post(f"{sandbox.base_url}/campaigns", headers=all_headers, timeout=timeout, **kwargs)


# -- success ---------------------------------------------------------------------------------------


def test_create_returns_201_with_exactly_the_documented_body(sandbox: SandboxClient) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = post_campaign(sandbox, make_campaign_payload(3, scheduled_at="2026-03-25T11:00:00-03:00"))

    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == CREATED_KEYS
    assert uuid.UUID(body["id"]).version == 4
    assert body["name"] == "Campanha Março 2026"
    assert body["status"] == "PENDING"
    assert body["total_recipients"] == 3
    assert body["scheduled_at"] == "2026-03-25T11:00:00-03:00"  # echoed as sent, not normalised
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", body["created_at"])
    created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)


def test_created_campaign_is_stored_with_request_and_idempotency_key(sandbox: SandboxClient) -> None:
    payload = make_campaign_payload(2)
    created = post_campaign(sandbox, payload, headers={"Idempotency-Key": "run-2026-03-20-abc"}).json()
    post_campaign(sandbox, make_campaign_payload(1, name="sem chave"))

    stored = sandbox.campaigns()
    assert [c["id"] for c in stored] == [created["id"], stored[1]["id"]]
    first = stored[0]
    assert first["request"] == payload
    assert first["idempotency_key"] == "run-2026-03-20-abc"
    assert first["created_at"] == created["created_at"]
    assert {k: first[k] for k in CREATED_KEYS} == created
    assert stored[1]["idempotency_key"] is None
    assert stored[1]["name"] == "sem chave"

    one = requests.get(f"{sandbox.base_url}/campaigns/{created['id']}", headers=sandbox.auth_headers, timeout=5)
    assert one.status_code == 200
    assert one.json() == first


def test_minimal_and_boundary_bodies_are_accepted(sandbox: SandboxClient) -> None:
    minimal = make_campaign_payload(1)
    del minimal["config"]
    del minimal["recipients"][0]["dynamic_variables"]
    assert post_campaign(sandbox, minimal).status_code == 201

    # Exactly 10,000 recipients, 15-digit numbers, +HHMM offset, a config with a free-form voicemail_mode.
    big = make_campaign_payload(
        10_000,
        scheduled_at="2026-03-25T14:00:00.250+0000",
        config={"voicemail_mode": "leave_message", "call_timeout": 0, "extra": "kept"},
    )
    big["recipients"][0]["phone_number"] = "+123456789012345"
    response = post_campaign(sandbox, big, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["total_recipients"] == 10_000
    assert sandbox.stats()["campaigns"] == 2


# -- auth and malformed bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic aWtfdGVzdDp4"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong-token", "wrong-scheme", "empty-token"],
)
def test_bad_or_missing_token_is_401_and_creates_nothing(sandbox: SandboxClient, headers: dict[str, str]) -> None:
    response = requests.post(f"{sandbox.base_url}/campaigns", json=make_campaign_payload(), headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.json()["message"]
    assert sandbox.stats()["campaigns"] == 0


def test_token_is_checked_before_the_body(sandbox: SandboxClient) -> None:
    response = post_campaign(sandbox, token="nope", data=b"{not json")
    assert response.status_code == 401


def test_inspection_endpoints_need_the_token(sandbox: SandboxClient) -> None:
    assert requests.get(f"{sandbox.base_url}/campaigns", timeout=5).status_code == 401
    assert requests.get(f"{sandbox.base_url}/campaigns/{uuid.uuid4()}", timeout=5).status_code == 401


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"", b"[1, 2]", b'"a string"', b"null", b'{"name": NaN}', b"\xff\xfe"],
    ids=["broken", "empty", "array", "string", "null", "nan", "not-utf8"],
)
def test_undecodable_or_non_object_body_is_400(sandbox: SandboxClient, data: bytes) -> None:
    response = post_campaign(sandbox, data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert sandbox.stats()["campaigns"] == 0


# -- validation ------------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Any:
    """Mutation that sets a dotted path (integers index lists) in a valid payload."""

    def mutate(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Any:
    def mutate(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return mutate


VALIDATION_CASES = [
    ("name-empty", _set("name", ""), "name"),
    ("name-missing", _delete("name"), "name"),
    ("name-not-string", _set("name", 7), "name"),
    ("project-not-uuid", _set("project_id", "not-a-uuid"), "project_id"),
    ("project-uuid-without-hyphens", _set("project_id", "3c90c3cc0d444b5088888dd25736052a"), "project_id"),
    ("agent-int", _set("agent_id", 123), "agent_id"),
    ("phone-number-id-missing", _delete("phone_number_id"), "phone_number_id"),
    ("scheduled-without-tz", _set("scheduled_at", "2026-03-25T14:00:00"), "scheduled_at"),
    ("scheduled-date-only", _set("scheduled_at", "2026-03-25"), "scheduled_at"),
    ("scheduled-impossible-date", _set("scheduled_at", "2026-02-30T14:00:00Z"), "scheduled_at"),
    ("scheduled-epoch-number", _set("scheduled_at", 1774447200), "scheduled_at"),
    ("recipients-empty", _set("recipients", []), "recipients"),
    ("recipients-object", _set("recipients", {"phone_number": "+5511999999999"}), "recipients"),
    ("recipient-not-object", _set("recipients.0", "+5511999999999"), "recipients[0]"),
    ("phone-national", _set("recipients.1.phone_number", "11999999999"), "recipients[1].phone_number"),
    ("phone-leading-zero", _set("recipients.1.phone_number", "+0511999999999"), "recipients[1].phone_number"),
    ("phone-too-long", _set("recipients.1.phone_number", "+1234567890123456"), "recipients[1].phone_number"),
    ("phone-formatted", _set("recipients.1.phone_number", "+55 11 99999-9999"), "recipients[1].phone_number"),
    (
        "phone-unicode-digits",
        _set("recipients.1.phone_number", "+٥٥١١٩٩٩٩٩٩٩٩٩"),
        "recipients[1].phone_number",
    ),
    (
        "phone-trailing-newline",
        _set("recipients.1.phone_number", "+5511999999999\n"),
        "recipients[1].phone_number",
    ),
    ("phone-missing", _delete("recipients.2.phone_number"), "recipients[2].phone_number"),
    ("recipient-name-empty", _set("recipients.2.recipient_name", ""), "recipients[2].recipient_name"),
    ("recipient-name-missing", _delete("recipients.0.recipient_name"), "recipients[0].recipient_name"),
    ("vars-not-object", _set("recipients.0.dynamic_variables", ["a"]), "recipients[0].dynamic_variables"),
    ("vars-null", _set("recipients.0.dynamic_variables", None), "recipients[0].dynamic_variables"),
    (
        "vars-value-not-string",
        _set("recipients.1.dynamic_variables.leadName", 5),
        "recipients[1].dynamic_variables.leadName",
    ),
    ("config-not-object", _set("config", []), "config"),
    ("config-timeout-string", _set("config.call_timeout", "45"), "config.call_timeout"),
    ("config-timeout-bool", _set("config.call_timeout", True), "config.call_timeout"),
    ("config-timeout-float", _set("config.call_timeout", 45.5), "config.call_timeout"),
    ("config-voicemail-int", _set("config.voicemail_mode", 1), "config.voicemail_mode"),
    ("config-greet-string", _set("config.outbound_auto_greet", "yes"), "config.outbound_auto_greet"),
    ("config-concurrent-string", _set("config.max_concurrent", "2"), "config.max_concurrent"),
    ("unknown-top-level", _set("priority", "high"), "priority"),
]


@pytest.mark.parametrize(
    ("mutate", "field"), [case[1:] for case in VALIDATION_CASES], ids=[case[0] for case in VALIDATION_CASES]
)
def test_contract_violation_is_422_naming_the_field(sandbox: SandboxClient, mutate: Any, field: str) -> None:
    payload = make_campaign_payload(3)
    mutate(payload)

    response = post_campaign(sandbox, payload)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert [d["field"] for d in body["details"]] == [field]
    assert body["message"].startswith(field + " ")
    assert sandbox.stats()["campaigns"] == 0


def test_more_than_10000_recipients_is_422(sandbox: SandboxClient) -> None:
    response = post_campaign(sandbox, make_campaign_payload(10_001), timeout=30)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "recipients"
    assert "10000" in response.json()["details"][0]["message"]
    assert sandbox.stats()["campaigns"] == 0


def test_every_problem_is_listed_and_the_first_is_the_message(sandbox: SandboxClient) -> None:
    payload = make_campaign_payload(4, name="", scheduled_at="2026-03-25T14:00:00", junk=1)
    payload["recipients"][3]["phone_number"] = "999"
    response = post_campaign(sandbox, payload)

    assert response.status_code == 422
    body = response.json()
    assert [d["field"] for d in body["details"]] == [
        "name",
        "scheduled_at",
        "recipients[3].phone_number",
        "junk",
    ]
    assert body["message"] == f"name {body['details'][0]['message']}"


def test_validation_messages_never_echo_phone_numbers(sandbox: SandboxClient) -> None:
    payload = make_campaign_payload(1)
    payload["recipients"][0]["phone_number"] = "5511987654321"
    response = post_campaign(sandbox, payload)
    assert response.status_code == 422
    assert "987654321" not in response.text


# -- no idempotency --------------------------------------------------------------------------------


def test_same_body_twice_creates_two_campaigns_even_with_the_same_idempotency_key(
    sandbox: SandboxClient,
) -> None:
    payload = make_campaign_payload(2)
    headers = {"Idempotency-Key": "same-key"}
    first = post_campaign(sandbox, payload, headers=headers)
    second = post_campaign(sandbox, payload, headers=headers)

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    stored = sandbox.campaigns()
    assert len(stored) == 2
    assert [c["idempotency_key"] for c in stored] == ["same-key", "same-key"]
    assert stored[0]["request"] == stored[1]["request"] == payload


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "1"),
        ({"retry_after": "7"}, "7"),
        ({"retry_after": 30}, "30"),
        ({"retry_after": "Wed, 21 Oct 2026 07:28:00 GMT"}, "Wed, 21 Oct 2026 07:28:00 GMT"),
    ],
    ids=["default", "seconds", "int-seconds", "http-date"],
)
def test_rate_limit_fault_is_429_with_retry_after_and_creates_nothing(
    sandbox: SandboxClient, params: dict[str, Any], expected: str
) -> None:
    sandbox.inject("rate_limit", **params)

    limited = post_campaign(sandbox)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == expected
    assert limited.json()["error"] == "rate_limited"
    assert sandbox.stats()["campaigns"] == 0

    assert post_campaign(sandbox).status_code == 201  # the fault was used up
    assert sandbox.stats()["campaigns"] == 1


def test_error_before_create_is_500_and_creates_nothing(sandbox: SandboxClient) -> None:
    sandbox.inject("error_before_create")
    response = post_campaign(sandbox)
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert sandbox.stats()["campaigns"] == 0


def test_error_after_create_is_500_but_the_campaign_exists(sandbox: SandboxClient) -> None:
    sandbox.inject("error_after_create")
    payload = make_campaign_payload(2)
    response = post_campaign(sandbox, payload, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 500
    stored = sandbox.campaigns()
    assert len(stored) == 1
    assert stored[0]["request"] == payload
    assert stored[0]["idempotency_key"] == "k1"
    assert stored[0]["fault"] == "error_after_create"


def test_slow_after_create_times_out_the_client_but_the_campaign_exists(sandbox: SandboxClient) -> None:
    sandbox.inject("slow_after_create", delay=1.0)
    with pytest.raises(requests.ReadTimeout):
        post_campaign(sandbox, timeout=0.3)
    assert sandbox.stats()["campaigns"] == 1


def test_slow_after_create_answers_201_after_the_delay(sandbox: SandboxClient) -> None:
    sandbox.inject("slow_after_create", delay=0.6)
    started = time.monotonic()
    response = post_campaign(sandbox, timeout=5)
    assert response.status_code == 201
    assert time.monotonic() - started >= 0.6
    assert sandbox.campaigns()[0]["id"] == response.json()["id"]


def test_drop_after_create_closes_without_a_response_but_the_campaign_exists(sandbox: SandboxClient) -> None:
    sandbox.inject("drop_after_create")
    with pytest.raises(requests.ConnectionError) as excinfo:
        post_campaign(sandbox)
    assert "RemoteDisconnected" in repr(excinfo.value) or "closed connection" in str(excinfo.value)
    assert sandbox.stats()["campaigns"] == 1
    assert post_campaign(sandbox).status_code == 201  # the server is still fine
    assert sandbox.stats()["campaigns"] == 2


def test_unauthorized_fault_is_401_with_a_good_token(sandbox: SandboxClient) -> None:
    sandbox.inject("unauthorized")
    response = post_campaign(sandbox)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert sandbox.stats()["campaigns"] == 0


def test_validation_error_fault_is_422_naming_name(sandbox: SandboxClient) -> None:
    sandbox.inject("validation_error")
    response = post_campaign(sandbox)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert [d["field"] for d in response.json()["details"]] == ["name"]
    assert sandbox.stats()["campaigns"] == 0


def test_faults_are_fifo_and_each_applies_to_times_consecutive_posts(sandbox: SandboxClient) -> None:
    sandbox.inject("rate_limit", times=2, retry_after="3")
    queue = sandbox.inject("error_after_create")
    assert queue == [
        {"kind": "rate_limit", "times": 2, "retry_after": "3", "delay": 5.0},
        {"kind": "error_after_create", "times": 1, "retry_after": "1", "delay": 5.0},
    ]

    statuses = [post_campaign(sandbox).status_code for _ in range(4)]

    assert statuses == [429, 429, 500, 201]
    assert sandbox.stats() == {"campaign_posts": 4, "requests": 7, "campaigns": 2}  # 2 injects + 4 POSTs + this


def test_after_create_fault_does_not_hide_auth_or_validation_errors(sandbox: SandboxClient) -> None:
    sandbox.inject("error_after_create", times=2)
    assert post_campaign(sandbox, token="wrong").status_code == 401
    assert post_campaign(sandbox, make_campaign_payload(0)).status_code == 422
    # Each POST used one of the two; the next one is healthy.
    assert post_campaign(sandbox).status_code == 201
    assert sandbox.stats()["campaigns"] == 1


def test_faults_do_not_touch_inspection_requests(sandbox: SandboxClient) -> None:
    sandbox.inject("error_before_create")
    assert sandbox.campaigns() == []
    assert sandbox.stats()["campaign_posts"] == 0
    assert post_campaign(sandbox).status_code == 500


@pytest.mark.parametrize(
    "body",
    [
        {"faults": [{"kind": "meteor_strike"}]},
        {"faults": [{"kind": "rate_limit", "times": 0}]},
        {"faults": [{"kind": "slow_after_create", "delay": -1}]},
        {"faults": [{"kind": "rate_limit", "retry_after": ""}]},
        {"kind": "rate_limit"},
    ],
    ids=["unknown-kind", "zero-times", "negative-delay", "empty-retry-after", "not-a-list"],
)
def test_bad_fault_specs_are_rejected_and_queue_nothing(sandbox: SandboxClient, body: dict[str, Any]) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json=body, timeout=5)
    assert response.status_code == 400
    assert requests.get(f"{sandbox.url}/_sandbox/faults", timeout=5).json() == {"faults": []}
    assert post_campaign(sandbox).status_code == 201


# -- stats, reset, routing -------------------------------------------------------------------------


def test_stats_count_every_campaign_post_and_every_request(sandbox: SandboxClient) -> None:
    assert sandbox.stats() == {"campaign_posts": 0, "requests": 1, "campaigns": 0}  # counts itself
    post_campaign(sandbox)  # 201
    post_campaign(sandbox, token="bad")  # 401
    post_campaign(sandbox, make_campaign_payload(0))  # 422
    post_campaign(sandbox, data=b"{")  # 400
    sandbox.campaigns()
    requests.get(f"{sandbox.url}/nowhere", timeout=5)

    assert sandbox.stats() == {"campaign_posts": 4, "requests": 8, "campaigns": 1}


def test_reset_clears_campaigns_faults_and_counters(sandbox: SandboxClient) -> None:
    post_campaign(sandbox)
    sandbox.inject("error_before_create", times=5)

    sandbox.reset()

    assert sandbox.campaigns() == []
    assert sandbox.stats() == {"campaign_posts": 0, "requests": 2, "campaigns": 0}
    assert post_campaign(sandbox).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/campaigns/3c90c3cc-0d44-4b50-8888-8dd25736052a", 404),
        ("GET", "/api/v1/calls", 404),
        ("POST", "/api/v2/campaigns", 404),
        ("GET", "/", 404),
        ("DELETE", "/api/v1/campaigns", 405),
        ("GET", "/_sandbox/reset", 405),
    ],
)
def test_unknown_paths_and_methods_answer_json(sandbox: SandboxClient, method: str, path: str, status: int) -> None:
    response = requests.request(method, f"{sandbox.url}{path}", headers=sandbox.auth_headers, timeout=5)
    assert response.status_code == status
    assert response.json()["error"] in {"not_found", "method_not_allowed"}


def test_trailing_slash_and_query_string_reach_the_same_endpoint(sandbox: SandboxClient) -> None:
    response = requests.post(
        f"{sandbox.base_url}/campaigns/?source=test",
        json=make_campaign_payload(),
        headers=sandbox.auth_headers,
        timeout=5,
    )
    assert response.status_code == 201


def test_keep_alive_session_survives_errors(sandbox: SandboxClient) -> None:
    with requests.Session() as session:
        session.headers.update(sandbox.auth_headers)
        url = f"{sandbox.base_url}/campaigns"
        assert session.post(url, data=b"{", timeout=5).status_code == 400
        assert session.post(url, json=make_campaign_payload(0), timeout=5).status_code == 422
        assert session.post(url, json=make_campaign_payload(), timeout=5).status_code == 201
        assert session.get(url, timeout=5).status_code == 200


# -- hygiene, helpers, other ways to run it --------------------------------------------------------


def test_access_log_has_method_path_status_but_no_token_or_phone_numbers(sandbox: SandboxClient) -> None:
    payload = make_campaign_payload(1)
    payload["recipients"][0]["phone_number"] = "+5511987654321"
    post_campaign(sandbox, payload)
    requests.post(f"{sandbox.base_url}/campaigns?phone=%2B5511987654321", json={}, timeout=5)
    assert sandbox.log_path is not None

    log = ""
    for _ in range(50):  # the line is flushed before the response; allow for file-system lag anyway
        log = sandbox.log_path.read_text()
        if "POST /api/v1/campaigns 401" in log:
            break
        time.sleep(0.02)
    assert "POST /api/v1/campaigns 201" in log
    assert "POST /api/v1/campaigns 401" in log
    assert "987654321" not in log
    assert sandbox.token not in log


def test_airflow_conn_json_points_at_the_api_base(sandbox: SandboxClient) -> None:
    conn = json.loads(sandbox.airflow_conn_json())
    assert conn == {"conn_type": "http", "host": f"{sandbox.url}/api/v1", "password": sandbox.token}
    assert sandbox.base_url == conn["host"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.url)


def test_in_process_server_starts_on_a_free_port_and_stops() -> None:
    with SandboxServer("127.0.0.1", 0, "tok_inproc") as server:
        assert server.port > 0
        response = requests.post(
            f"{server.url}/api/v1/campaigns",
            json=make_campaign_payload(),
            headers={"Authorization": "Bearer tok_inproc"},
            timeout=5,
        )
        assert response.status_code == 201
        assert len(server.state.campaigns()) == 1
        url = server.url
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_sandbox/health", timeout=2)


def test_cli_reads_env_fallbacks_prints_the_url_and_stops_on_sigterm(tmp_path: Any) -> None:
    port_file = tmp_path / "port"
    env = {
        **os.environ,
        "INTEGRA_SANDBOX_HOST": "127.0.0.1",
        "INTEGRA_SANDBOX_PORT": "0",
        "INTEGRA_SANDBOX_TOKEN": "ik_env_token",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--port-file", str(port_file), "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"Integra sandbox listening on http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        assert port_file.read_text().strip() == match.group(1)
        base = f"http://127.0.0.1:{match.group(1)}/api/v1/campaigns"
        assert requests.get(base, headers={"Authorization": "Bearer ik_env_token"}, timeout=5).status_code == 200
        assert requests.get(base, headers={"Authorization": "Bearer ik_test_sandbox"}, timeout=5).status_code == 401

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
