"""IntegraHook over real HTTP against the sandbox: what it retries, what it refuses to retry, what it logs.

The one property everything here protects: a campaign is created at most once per call. A failure
that proves nothing was created (429, refused connection) may be retried; one that may have created
a campaign (5xx, timeout after sending, cut connection) must surface as IntegraOutcomeUnknownError
after exactly one POST. The sandbox counts POSTs and campaigns, so each test asserts both.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests_mock as requests_mock_module

from integra import contract
from integra.exceptions import (
    IntegraAPIError,
    IntegraAuthError,
    IntegraConfigError,
    IntegraNotFoundError,
    IntegraOutcomeUnknownError,
    IntegraRateLimitError,
    IntegraUnavailableError,
    IntegraValidationError,
)
from integra.hooks import IntegraHook
from integra.models import CampaignCreated, CampaignRequest, build_request
from tests.fixtures.sandbox import DOCUMENTED_CREATED_BODY, SandboxClient, make_campaign_payload

CONN_ENV = "AIRFLOW_CONN_INTEGRA_DEFAULT"
FAKE_TOKEN = "ik_live_fake_token_for_mocked_tests"
CAMPAIGNS_URL = f"{contract.PRODUCTION_BASE_URL}/campaigns"


class RecordingSleep:
    """Stands in for time.sleep: remembers every wait, waits for none."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def conn_json(**fields: Any) -> str:
    return json.dumps({"conn_type": "http", **fields})


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def campaign_request() -> CampaignRequest:
    return build_request(make_campaign_payload(3))


@pytest.fixture
def sandbox_conn(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> SandboxClient:
    monkeypatch.setenv(CONN_ENV, sandbox.airflow_conn_json())
    return sandbox


@pytest.fixture
def mocked_api(monkeypatch: pytest.MonkeyPatch) -> Any:
    """No network: the production URL answered by requests_mock, the connection has only a token."""
    monkeypatch.setenv(CONN_ENV, conn_json(password=FAKE_TOKEN, extra={"panel_url": "https://panel.example"}))
    with requests_mock_module.Mocker() as mocker:
        yield mocker


# -- success ---------------------------------------------------------------------------------------


def test_success_returns_the_created_campaign_and_the_sandbox_holds_exactly_one(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    created = IntegraHook(sleep=sleep).create_campaign(campaign_request, idempotency_key="dag.run.batch-0")

    assert isinstance(created, CampaignCreated)
    assert created.status == "PENDING"
    assert created.total_recipients == 3
    assert created.name == campaign_request.name
    stored = sandbox_conn.campaigns()
    assert len(stored) == 1
    assert stored[0]["id"] == created.id
    assert stored[0]["idempotency_key"] == "dag.run.batch-0"
    assert stored[0]["request"] == campaign_request.to_payload()
    assert sandbox_conn.stats()["campaign_posts"] == 1
    assert sleep.waits == []


def test_without_an_idempotency_key_no_header_is_sent(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest
) -> None:
    IntegraHook().create_campaign(campaign_request)

    [stored] = sandbox_conn.campaigns()
    assert stored["idempotency_key"] is None


def test_two_calls_create_two_campaigns_the_hook_does_not_deduplicate(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest
) -> None:
    # Pins the contract: no idempotency on the API side, so deduplication is the ledger's job.
    hook = IntegraHook()
    first = hook.create_campaign(campaign_request, idempotency_key="same")
    second = hook.create_campaign(campaign_request, idempotency_key="same")

    assert first.id != second.id
    assert sandbox_conn.stats()["campaigns"] == 2


# -- 429 -------------------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_waits_that_long_then_succeeds(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("rate_limit", retry_after="2")

    created = IntegraHook(sleep=sleep).create_campaign(campaign_request, idempotency_key="k")

    assert sleep.waits == [2.0]
    assert [c["id"] for c in sandbox_conn.campaigns()] == [created.id]
    assert sandbox_conn.stats()["campaign_posts"] == 2


def test_429_with_an_http_date_waits_until_then(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    sandbox_conn.inject("rate_limit", retry_after=format_datetime(when, usegmt=True))

    IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert len(sleep.waits) == 1
    assert 27.0 <= sleep.waits[0] <= 30.0
    assert sandbox_conn.stats()["campaigns"] == 1


def test_429_with_an_http_date_in_the_past_retries_at_once(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("rate_limit", retry_after="Wed, 21 Oct 2015 07:28:00 GMT")

    IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert sleep.waits == [0.0]
    assert sandbox_conn.stats()["campaigns"] == 1


def test_429_retry_after_is_capped(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("rate_limit", times=2, retry_after="86400")

    IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert sleep.waits == [contract.RETRY_AFTER_CAP, contract.RETRY_AFTER_CAP]
    assert sandbox_conn.stats()["campaigns"] == 1


def test_429_with_unparseable_retry_after_backs_off_with_jitter(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("rate_limit", times=3, retry_after="later")

    IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert len(sleep.waits) == 3
    for attempt, wait in enumerate(sleep.waits, start=1):
        ceiling = min(contract.BACKOFF_MAX, contract.BACKOFF_BASE * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert sandbox_conn.stats()["campaigns"] == 1


@pytest.mark.parametrize("attempts", [None, 2])
def test_429_forever_gives_up_after_rate_limit_attempts_and_creates_nothing(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep, attempts: int | None
) -> None:
    sandbox_conn.inject("rate_limit", times=50, retry_after="1")
    hook = IntegraHook(sleep=sleep) if attempts is None else IntegraHook(sleep=sleep, rate_limit_attempts=attempts)
    expected = contract.RATE_LIMIT_ATTEMPTS if attempts is None else attempts

    with pytest.raises(IntegraRateLimitError) as caught:
        hook.create_campaign(campaign_request)

    assert caught.value.status_code == 429
    assert sandbox_conn.stats()["campaign_posts"] == expected
    assert sandbox_conn.stats()["campaigns"] == 0
    assert sleep.waits == [1.0] * (expected - 1)


# -- outcome unknown: never retried ---------------------------------------------------------------


def test_500_before_create_is_unknown_and_not_retried(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("error_before_create")

    with pytest.raises(IntegraOutcomeUnknownError) as caught:
        IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert caught.value.status_code == 500
    assert "may or may not" in str(caught.value)
    assert sandbox_conn.stats()["campaign_posts"] == 1
    assert sandbox_conn.campaigns() == []
    assert sleep.waits == []


def test_500_after_create_is_unknown_and_not_retried(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("error_after_create")

    with pytest.raises(IntegraOutcomeUnknownError) as caught:
        IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert caught.value.status_code == 500
    assert len(sandbox_conn.campaigns()) == 1
    assert sandbox_conn.stats()["campaign_posts"] == 1
    assert sleep.waits == []


def test_read_timeout_after_create_is_unknown_and_not_retried(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("slow_after_create", delay=2)
    hook = IntegraHook(read_timeout=0.5, sleep=sleep)

    started = time.monotonic()
    with pytest.raises(IntegraOutcomeUnknownError) as caught:
        hook.create_campaign(campaign_request)
    elapsed = time.monotonic() - started

    assert elapsed < 1.8, "the hook waited for the slow answer instead of timing out"
    assert caught.value.status_code is None
    assert "may or may not" in str(caught.value)
    assert len(sandbox_conn.campaigns()) == 1
    assert sandbox_conn.stats()["campaign_posts"] == 1
    assert sleep.waits == []


def test_connection_dropped_after_create_is_unknown_and_not_retried(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("drop_after_create")

    with pytest.raises(IntegraOutcomeUnknownError):
        IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert len(sandbox_conn.campaigns()) == 1
    assert sandbox_conn.stats()["campaign_posts"] == 1
    assert sleep.waits == []


def test_read_timeout_from_the_connection_extra_is_honoured(
    sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch, campaign_request: CampaignRequest
) -> None:
    extra = {"read_timeout": 0.5, "connect_timeout": 3}
    monkeypatch.setenv(CONN_ENV, conn_json(host=sandbox.base_url, password=sandbox.token, extra=extra))
    sandbox.inject("slow_after_create", delay=2)
    hook = IntegraHook()

    started = time.monotonic()
    with pytest.raises(IntegraOutcomeUnknownError):
        hook.create_campaign(campaign_request)

    assert time.monotonic() - started < 1.8
    assert hook.timeout == (3.0, 0.5)
    assert sandbox.stats()["campaign_posts"] == 1
    assert len(sandbox.campaigns()) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_every_5xx_is_unknown_and_sent_once(
    mocked_api: Any, campaign_request: CampaignRequest, sleep: RecordingSleep, status: int
) -> None:
    mocked_api.post(CAMPAIGNS_URL, status_code=status, text="<html>upstream trouble</html>")

    with pytest.raises(IntegraOutcomeUnknownError) as caught:
        IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert caught.value.status_code == status
    assert mocked_api.call_count == 1
    assert sleep.waits == []


def test_success_status_with_a_body_that_is_not_a_campaign_is_unknown(
    mocked_api: Any, campaign_request: CampaignRequest
) -> None:
    mocked_api.post(CAMPAIGNS_URL, status_code=201, text="OK")

    with pytest.raises(IntegraOutcomeUnknownError, match="Campanha Março 2026"):
        IntegraHook().create_campaign(campaign_request)

    assert mocked_api.call_count == 1


def test_a_redirect_is_not_followed_and_counts_as_unknown(mocked_api: Any, campaign_request: CampaignRequest) -> None:
    mocked_api.post(CAMPAIGNS_URL, status_code=302, headers={"Location": f"{CAMPAIGNS_URL}/moved"})
    mocked_api.get(f"{CAMPAIGNS_URL}/moved", json=DOCUMENTED_CREATED_BODY)

    with pytest.raises(IntegraOutcomeUnknownError) as caught:
        IntegraHook().create_campaign(campaign_request)

    assert caught.value.status_code == 302
    assert mocked_api.call_count == 1


# -- rejections: not retried, nothing created ----------------------------------------------------


def test_wrong_token_is_an_auth_error_and_not_retried(
    sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    monkeypatch.setenv(CONN_ENV, conn_json(host=sandbox.base_url, password="ik_live_wrong_token"))

    with pytest.raises(IntegraAuthError) as caught:
        IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert caught.value.status_code == 401
    assert "check the api token" in str(caught.value).lower()
    assert "ik_live_wrong_token" not in str(caught.value)
    assert sandbox.stats()["campaign_posts"] == 1
    assert sandbox.campaigns() == []
    assert sleep.waits == []


def test_unauthorized_fault_is_an_auth_error_and_not_retried(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("unauthorized")

    with pytest.raises(IntegraAuthError) as caught:
        IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert caught.value.status_code == 401
    assert "token" in str(caught.value).lower()
    assert sandbox_conn.stats()["campaign_posts"] == 1
    assert sandbox_conn.campaigns() == []
    assert sleep.waits == []


def test_validation_fault_is_a_validation_error_naming_the_field(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest, sleep: RecordingSleep
) -> None:
    sandbox_conn.inject("validation_error")

    with pytest.raises(IntegraValidationError) as caught:
        IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert caught.value.status_code == 422
    assert caught.value.field == "name"
    assert "(field name)" in str(caught.value)
    assert sandbox_conn.stats()["campaign_posts"] == 1
    assert sandbox_conn.campaigns() == []
    assert sleep.waits == []


def test_a_real_422_from_the_sandbox_names_the_recipient_field_without_the_number(
    sandbox_conn: SandboxClient, campaign_request: CampaignRequest
) -> None:
    # model_copy skips validation: the only way to get a contract-breaking body past the models.
    bad_recipient = campaign_request.recipients[1].model_copy(update={"phone_number": "11987654321"})
    recipients = [campaign_request.recipients[0], bad_recipient, campaign_request.recipients[2]]
    bad = campaign_request.model_copy(update={"recipients": recipients})

    with pytest.raises(IntegraValidationError) as caught:
        IntegraHook().create_campaign(bad)

    assert caught.value.status_code == 422
    assert caught.value.field == "recipients[1].phone_number"
    assert "11987654321" not in str(caught.value)
    assert sandbox_conn.stats()["campaign_posts"] == 1
    assert sandbox_conn.campaigns() == []


@pytest.mark.parametrize(
    ("status", "error", "hint"),
    [
        (400, IntegraValidationError, "bad body"),
        (401, IntegraAuthError, "Check the API token"),
        (403, IntegraAuthError, "access to the project_id"),
        (404, IntegraNotFoundError, "Check project_id, agent_id and phone_number_id"),
        (409, IntegraAPIError, "bad body"),
        (422, IntegraValidationError, "bad body"),
    ],
)
def test_4xx_map_to_their_errors_and_are_sent_once(
    mocked_api: Any,
    campaign_request: CampaignRequest,
    sleep: RecordingSleep,
    status: int,
    error: type[IntegraAPIError],
    hint: str,
) -> None:
    mocked_api.post(CAMPAIGNS_URL, status_code=status, json={"message": "bad body"})

    with pytest.raises(error) as caught:
        IntegraHook(sleep=sleep).create_campaign(campaign_request)

    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert hint in str(caught.value)
    assert mocked_api.call_count == 1
    assert sleep.waits == []


# -- connection failures ---------------------------------------------------------------------------


def test_connection_refused_is_retried_then_unavailable_and_nothing_is_sent(
    sandbox: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
    campaign_request: CampaignRequest,
    sleep: RecordingSleep,
) -> None:
    port = closed_port()
    monkeypatch.setenv(CONN_ENV, conn_json(host=f"http://127.0.0.1:{port}/api/v1", password=sandbox.token))
    hook = IntegraHook(sleep=sleep)
    calls: list[str] = []
    original_run = hook.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else kwargs.get("endpoint"))
        return original_run(*args, **kwargs)

    monkeypatch.setattr(hook, "run", counting_run)

    with pytest.raises(IntegraUnavailableError) as caught:
        hook.create_campaign(campaign_request)

    assert len(calls) == contract.CONNECT_ATTEMPTS
    assert len(sleep.waits) == contract.CONNECT_ATTEMPTS - 1
    assert all(0 < wait <= contract.BACKOFF_MAX for wait in sleep.waits)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "Nothing was sent" in str(caught.value)
    assert sandbox.stats()["campaign_posts"] == 0


# -- configuration ---------------------------------------------------------------------------------


def test_missing_connection_is_a_config_error_that_says_how_to_set_it(
    monkeypatch: pytest.MonkeyPatch, campaign_request: CampaignRequest
) -> None:
    monkeypatch.delenv(CONN_ENV, raising=False)

    with pytest.raises(IntegraConfigError) as caught:
        IntegraHook().create_campaign(campaign_request)

    assert "AIRFLOW_CONN_INTEGRA_DEFAULT" in str(caught.value)
    assert "integra_default" in str(caught.value)


def test_missing_custom_connection_names_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_INTEGRA_STAGING", raising=False)

    with pytest.raises(IntegraConfigError, match="AIRFLOW_CONN_INTEGRA_STAGING"):
        IntegraHook("integra_staging").get_conn()


@pytest.mark.parametrize("fields", [{"host": "http://127.0.0.1:9/api/v1"}, {"login": "someone", "password": ""}])
def test_connection_without_password_is_a_config_error_about_the_token(
    monkeypatch: pytest.MonkeyPatch, campaign_request: CampaignRequest, fields: dict[str, str]
) -> None:
    monkeypatch.setenv(CONN_ENV, conn_json(**fields))

    with pytest.raises(IntegraConfigError) as caught:
        IntegraHook().create_campaign(campaign_request)

    message = str(caught.value).lower()
    assert "password" in message
    assert "token" in message


@pytest.mark.parametrize("suffix", ["", "/"])
def test_bare_host_gets_the_api_prefix_and_reaches_the_sandbox(
    sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch, campaign_request: CampaignRequest, suffix: str
) -> None:
    monkeypatch.setenv(CONN_ENV, conn_json(host=sandbox.url + suffix, password=sandbox.token))
    hook = IntegraHook()

    created = hook.create_campaign(campaign_request)

    assert hook.base_url == sandbox.base_url
    assert [c["id"] for c in sandbox.campaigns()] == [created.id]


def test_host_and_port_fields_also_get_the_api_prefix(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> None:
    port = int(sandbox.url.rsplit(":", 1)[1])
    monkeypatch.setenv(CONN_ENV, conn_json(host="127.0.0.1", port=port, password=sandbox.token))
    hook = IntegraHook()

    hook.get_conn()

    assert hook.base_url == sandbox.base_url


def test_host_with_a_path_is_kept_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, conn_json(host="https://staging.example/integra/api/v2", password=FAKE_TOKEN))
    hook = IntegraHook()

    hook.get_conn()

    assert hook.base_url == "https://staging.example/integra/api/v2"


def test_empty_host_defaults_to_the_production_url(mocked_api: Any, campaign_request: CampaignRequest) -> None:
    hook = IntegraHook()
    hook.get_conn()
    assert hook.base_url == contract.PRODUCTION_BASE_URL

    mocked_api.post(CAMPAIGNS_URL, status_code=201, json=DOCUMENTED_CREATED_BODY)
    created = hook.create_campaign(campaign_request, idempotency_key="key-1")

    assert created.id == DOCUMENTED_CREATED_BODY["id"]
    sent = mocked_api.last_request
    assert sent.url == CAMPAIGNS_URL
    assert sent.method == "POST"
    assert sent.headers["Authorization"] == f"Bearer {FAKE_TOKEN}"
    assert sent.headers[contract.IDEMPOTENCY_HEADER] == "key-1"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.json() == campaign_request.to_payload()


def test_panel_url_extra_is_not_sent_as_a_header(mocked_api: Any, campaign_request: CampaignRequest) -> None:
    mocked_api.post(CAMPAIGNS_URL, status_code=201, json=DOCUMENTED_CREATED_BODY)

    IntegraHook().create_campaign(campaign_request)

    headers = {key.lower() for key in mocked_api.last_request.headers}
    assert "panel_url" not in headers
    assert "authorization" in headers
    assert all("panel.example" not in value for value in mocked_api.last_request.headers.values())


def test_timeout_extras_are_not_sent_as_headers(
    monkeypatch: pytest.MonkeyPatch, campaign_request: CampaignRequest
) -> None:
    extra = {"panel_url": "https://panel.example", "read_timeout": 60, "connect_timeout": 5}
    monkeypatch.setenv(CONN_ENV, conn_json(password=FAKE_TOKEN, extra=extra))
    with requests_mock_module.Mocker() as mocker:
        mocker.post(CAMPAIGNS_URL, status_code=201, json=DOCUMENTED_CREATED_BODY)
        IntegraHook().create_campaign(campaign_request)

    headers = {key.lower() for key in mocker.last_request.headers}
    assert not headers & {"panel_url", "read_timeout", "connect_timeout"}
    assert mocker.last_request.timeout == (5.0, 60.0)


def test_login_in_the_connection_does_not_turn_into_basic_auth(
    monkeypatch: pytest.MonkeyPatch, campaign_request: CampaignRequest
) -> None:
    monkeypatch.setenv(CONN_ENV, conn_json(login="someone", password=FAKE_TOKEN))
    with requests_mock_module.Mocker() as mocker:
        mocker.post(CAMPAIGNS_URL, status_code=201, json=DOCUMENTED_CREATED_BODY)
        IntegraHook().create_campaign(campaign_request)

    assert mocker.last_request.headers["Authorization"] == f"Bearer {FAKE_TOKEN}"


def test_campaign_url_uses_the_panel_url_extra(mocked_api: Any) -> None:
    assert IntegraHook().campaign_url("abc-123") == "https://panel.example/campaigns/abc-123"


def test_campaign_url_defaults_to_the_integra_panel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, conn_json(password=FAKE_TOKEN))

    assert IntegraHook().campaign_url("abc-123") == f"{contract.DEFAULT_PANEL_URL}/campaigns/abc-123"


def test_bearer_auth_repr_hides_the_token(mocked_api: Any) -> None:
    session = IntegraHook().get_conn()

    assert FAKE_TOKEN not in repr(session.auth)


# -- secrets and personal data stay out of logs ----------------------------------------------------


@pytest.mark.parametrize("logger", ["airflow", "stdlib-debug"])
def test_token_and_phone_numbers_never_reach_the_logs(
    sandbox_conn: SandboxClient,
    campaign_request: CampaignRequest,
    sleep: RecordingSleep,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    logger: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = IntegraHook(sleep=sleep)
    if logger == "stdlib-debug":
        # Airflow's structlog logger drops DEBUG (and masks registered secrets): a plain logger at
        # DEBUG shows everything the hook hands to its logger, before any masking.
        stdlib_logger = logging.getLogger("tests.integra_hook")
        stdlib_logger.setLevel(logging.DEBUG)
        hook._log = stdlib_logger  # type: ignore[assignment]

    sandbox_conn.inject("rate_limit", retry_after="1")
    hook.create_campaign(campaign_request, idempotency_key="k")  # one 429, one retry, one success
    sandbox_conn.inject("unauthorized")
    with pytest.raises(IntegraAuthError):
        hook.create_campaign(campaign_request)
    sandbox_conn.inject("error_after_create")
    with pytest.raises(IntegraOutcomeUnknownError):
        hook.create_campaign(campaign_request)

    captured = capsys.readouterr()
    rendered = "\n".join(
        [caplog.text, captured.out, captured.err, *(str(record.__dict__) for record in caplog.records)]
    )
    assert "Creating Integra campaign" in rendered, "nothing was captured: the checks below would be vacuous"
    assert "retrying in" in rendered
    if logger == "stdlib-debug":
        assert "Sending 'POST' to url" in caplog.text, "DEBUG records of the hook were not captured"
    assert sandbox_conn.token not in rendered
    for item in campaign_request.recipients:
        assert item.phone_number not in rendered
        assert item.phone_number.lstrip("+") not in rendered
