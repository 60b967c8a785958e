"""IntegraHook: the one place that talks HTTP to Integra.

Modelled on the dbt Cloud provider: an ``HttpHook`` subclass with a bearer-token auth class, typed
results, its own exceptions, and retries only where a retry cannot create a second campaign.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import requests
import tenacity
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.log import mask_secret
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError

from integra import contract
from integra.exceptions import (
    IntegraAPIError,
    IntegraAuthError,
    IntegraConfigError,
    IntegraError,
    IntegraNotFoundError,
    IntegraOutcomeUnknownError,
    IntegraRateLimitError,
    IntegraUnavailableError,
    IntegraValidationError,
)
from integra.models import CampaignCreated, CampaignRequest

if TYPE_CHECKING:
    from requests import PreparedRequest, Response, Session

CONNECTION_HELP = (
    "Set it as an Airflow connection of type integra (or http) whose host is the API base URL and whose "
    "password is the organisation API token, e.g. "
    'AIRFLOW_CONN_{env}=\'{{"conn_type": "integra", "host": "{base}", "password": "ik_live_..."}}\''
)
#: Connection extras that configure this hook rather than becoming HTTP headers (also under the
#: ``extra__integra__`` prefix older forms write).
_HOOK_EXTRAS = ("panel_url", "connect_timeout", "read_timeout")
_PREFIX = "extra__integra__"


def hook_extras(extra: dict[str, Any]) -> dict[str, Any]:
    """This hook's own extras, whichever way the connection form stored them; empty values dropped."""
    found = {}
    for key in _HOOK_EXTRAS:
        value = extra.get(key, extra.get(_PREFIX + key))
        if value not in (None, ""):
            found[key] = value
    return found


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``; the token never appears in ``repr`` or logs."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<token>)"


def _is_connect_failure(exc: BaseException) -> bool:
    """True when the request never left this machine (refused, DNS, connect timeout): safe to resend."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return False
    reason = getattr(exc.args[0], "reason", None)
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError and DNS errors subclass it


class IntegraHook(HttpHook):
    """Create outbound call campaigns through the Integra HTTP API.

    :param integra_conn_id: an ``integra`` (or ``http``) connection; host = API base URL (default the
        production URL), password = the organisation API token, extra ``panel_url`` = the panel's base URL, extras
        ``connect_timeout`` / ``read_timeout`` (seconds) override the arguments below.
    :param connect_timeout: seconds to establish the TCP/TLS connection.
    :param read_timeout: seconds to wait for the answer once the request was sent.
    :param rate_limit_attempts: attempts in all while the API answers 429.
    """

    conn_name_attr = "integra_conn_id"
    default_conn_name = contract.DEFAULT_CONN_ID
    conn_type = "integra"  # its form is declared in provider_info.py; http connections work the same
    hook_name = "Integra"
    default_host = contract.PRODUCTION_BASE_URL

    def __init__(
        self,
        integra_conn_id: str = default_conn_name,
        *,
        connect_timeout: float = contract.CONNECT_TIMEOUT,
        read_timeout: float = contract.READ_TIMEOUT,
        rate_limit_attempts: int = contract.RATE_LIMIT_ATTEMPTS,
        sleep: Callable[[float], None] = tenacity.nap.sleep,
    ) -> None:
        super().__init__(method="POST", http_conn_id=integra_conn_id)
        self.integra_conn_id = integra_conn_id
        self.timeout = (connect_timeout, read_timeout)
        self.rate_limit_attempts = rate_limit_attempts
        self._sleep = sleep

    # -- connection -------------------------------------------------------------------------------

    @cached_property
    def connection(self) -> Any:
        """The Airflow connection, or a config error that says how to create it."""
        env = self.integra_conn_id.upper()
        try:
            conn = self.get_connection(self.integra_conn_id)
        except AirflowNotFoundException as exc:
            raise IntegraConfigError(
                f"Connection '{self.integra_conn_id}' is not defined. "
                + CONNECTION_HELP.format(env=env, base=contract.PRODUCTION_BASE_URL)
            ) from exc
        if not conn.password:
            raise IntegraConfigError(
                f"Connection '{self.integra_conn_id}' has no API token (its password field is empty). "
                + CONNECTION_HELP.format(env=env, base=contract.PRODUCTION_BASE_URL)
            )
        mask_secret(conn.password)
        extra = hook_extras(conn.extra_dejson)
        if "connect_timeout" in extra or "read_timeout" in extra:
            try:
                self.timeout = (
                    float(extra.get("connect_timeout", self.timeout[0])),
                    float(extra.get("read_timeout", self.timeout[1])),
                )
            except (TypeError, ValueError) as exc:
                raise IntegraConfigError(
                    f"Connection '{self.integra_conn_id}': extras connect_timeout/read_timeout must be numbers "
                    'of seconds, e.g. {"read_timeout": 60}'
                ) from exc
        return conn

    def get_conn(self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None) -> Session:
        """A requests session with bearer auth; login/password basic auth is never used."""
        token = self.connection.password
        session = super().get_conn(headers, extra_options)
        for key in _HOOK_EXTRAS:
            session.headers.pop(key, None)
            session.headers.pop(_PREFIX + key, None)
        session.auth = BearerAuth(token)
        return session

    def _set_base_url(self, connection: Any) -> None:
        """Like HttpHook, but a bare host gets the documented ``/api/v1`` prefix."""
        super()._set_base_url(connection)
        if urlparse(self.base_url).path in ("", "/"):
            self.base_url = self.base_url.rstrip("/") + contract.API_PREFIX

    @property
    def panel_url(self) -> str:
        """Base URL of the Integra panel, for links a person can click."""
        return str(hook_extras(self.connection.extra_dejson).get("panel_url") or contract.DEFAULT_PANEL_URL)

    def campaign_url(self, campaign_id: str) -> str:
        """Where the campaign can be seen in the Integra panel."""
        return contract.panel_campaign_url(self.panel_url, campaign_id)

    def test_connection(self) -> tuple[bool, str]:
        """``airflow connections test`` and the UI's Test button: one authenticated GET that creates nothing.

        Integra documents no "who am I" call; asking for a webhook registration that cannot exist is
        answered 404 by a valid token and 401/403 by a bad one (assumed in ``contract.py``).
        """
        try:
            self.webhook(contract.CONNECTION_TEST_WEBHOOK_ID)
        except IntegraNotFoundError:
            return True, f"Integra at {self.base_url} accepted the API token"
        except IntegraAuthError as exc:
            return False, f"Integra at {self.base_url} refused the API token: {exc.api_message}"
        except IntegraError as exc:
            return False, str(exc)
        return True, f"Integra at {self.base_url} accepted the API token"

    # -- API --------------------------------------------------------------------------------------

    def create_campaign(self, request: CampaignRequest, *, idempotency_key: str | None = None) -> CampaignCreated:
        """POST /campaigns once, retrying only answers that prove nothing was created.

        429 and connection failures before sending are retried here. A read timeout, a connection
        cut after sending, or a 5xx raises :class:`IntegraOutcomeUnknownError` and is never retried.
        """
        self.connection  # noqa: B018 - fail fast on a missing token; reads the timeouts from the extras
        # pydantic's own JSON encoder: UTF-8 (names and emoji intact), compact, no None fields; same body as
        # json.dumps(request.to_payload()) at a sixth of the cost for 10,000 recipients.
        body = request.model_dump_json(exclude_none=True)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if idempotency_key:
            headers[contract.IDEMPOTENCY_HEADER] = idempotency_key
        self.log.info(
            "Creating Integra campaign %r: %d recipients, scheduled_at %s",
            request.name,
            len(request.recipients),
            request.scheduled_at.isoformat(),
        )
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(self._safe_to_retry),
            stop=self._stop,
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        response = retrying(self._post, body.encode("utf-8"), headers)
        return self._parse_created(response, request)

    def _post(self, body: bytes, headers: dict[str, str]) -> Response:
        try:
            response = self.run(
                contract.CAMPAIGNS_ENDPOINT,
                data=body,  # type: ignore[arg-type] # bytes: UTF-8 JSON, names and emoji intact
                headers=headers,
                # A redirect of a POST would be replayed as a GET: never follow one.
                extra_options={"check_response": False, "timeout": self.timeout, "allow_redirects": False},
            )
        except requests.exceptions.RequestException as exc:
            if _is_connect_failure(exc):
                raise IntegraUnavailableError(
                    f"Could not connect to Integra at {self.base_url}: {type(exc).__name__}. "
                    "Nothing was sent; check the connection host and the network."
                ) from exc
            raise IntegraOutcomeUnknownError(
                f"No answer from Integra after the request was sent ({type(exc).__name__}); "
                "the campaign may or may not have been created."
            ) from exc
        outcome = contract.classify_status(response.status_code)
        if outcome is contract.Outcome.CREATED:
            return response
        message, field = contract.error_details(response.text)
        if outcome is contract.Outcome.RATE_LIMITED:
            error = IntegraRateLimitError(429, message)
            error.retry_after = contract.parse_retry_after(response.headers.get("Retry-After"))  # type: ignore[attr-defined]
            raise error
        if outcome is contract.Outcome.UNKNOWN:
            raise IntegraOutcomeUnknownError(
                f"Integra answered {response.status_code} ({message}); the campaign may or may not have been created.",
                status_code=response.status_code,
            )
        raise self._rejection(response.status_code, message, field)

    def register_webhook(self, url: str, events: Sequence[str] = contract.WEBHOOK_EVENTS) -> dict[str, Any]:
        """POST /webhooks: the registration, with the secret Integra shows only in this answer."""
        return self._json_call("POST", contract.WEBHOOKS_ENDPOINT, {"url": url, "events": list(events)})

    def webhook(self, webhook_id: str) -> dict[str, Any]:
        """GET /webhooks/{id}: the registration and its recent deliveries."""
        return self._json_call("GET", f"{contract.WEBHOOKS_ENDPOINT}/{webhook_id}")

    def delete_webhook(self, webhook_id: str) -> None:
        """DELETE /webhooks/{id} (assumed: undocumented) once a rotation's new registration works."""
        self._json_call("DELETE", f"{contract.WEBHOOKS_ENDPOINT}/{webhook_id}")

    def _json_call(self, method: str, endpoint: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request outside the campaign path: no retries (a lost registration answer is re-run by hand)."""
        self.connection  # noqa: B018 - fail fast on a missing token
        self.method = method
        try:
            response = self.run(
                endpoint,
                json=payload,
                headers={"Accept": "application/json"},
                extra_options={"check_response": False, "timeout": self.timeout, "allow_redirects": False},
            )
        except requests.exceptions.RequestException as exc:
            raise IntegraUnavailableError(f"{method} {endpoint}: no answer ({type(exc).__name__})") from exc
        finally:
            self.method = "POST"
        if response.status_code >= 300:
            message, field = contract.error_details(response.text)
            raise self._rejection(response.status_code, f"{method} {endpoint}: {message}", field)
        return dict(response.json()) if response.content else {}

    @staticmethod
    def _rejection(status: int, message: str, field: str | None) -> IntegraAPIError:
        if status in (401, 403):
            return IntegraAuthError(
                status,
                f"{message}. Check the API token in the connection's password and that it has "
                "access to the project_id.",
            )
        if status == 404:
            return IntegraNotFoundError(
                status, f"{message}. Check project_id, agent_id and phone_number_id in the Integra panel."
            )
        if status in (400, 422):
            return IntegraValidationError(status, message, field=field)
        return IntegraAPIError(status, message, field=field)

    def _safe_to_retry(self, exc: BaseException) -> bool:
        return isinstance(exc, IntegraRateLimitError | IntegraUnavailableError)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        limit = contract.CONNECT_ATTEMPTS if isinstance(exc, IntegraUnavailableError) else self.rate_limit_attempts
        return state.attempt_number >= limit

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Honour Retry-After (capped); otherwise jittered exponential backoff."""
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(min(retry_after, contract.RETRY_AFTER_CAP))
        backoff = min(contract.BACKOFF_MAX, contract.BACKOFF_BASE * 2 ** (state.attempt_number - 1))
        return random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter, not cryptography

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self.log.warning("Integra: %s; nothing was created, retrying in %.1fs", exc, wait)

    def _parse_created(self, response: Response, request: CampaignRequest) -> CampaignCreated:
        try:
            created = CampaignCreated.model_validate_json(response.content)
        except ValueError as exc:
            raise IntegraOutcomeUnknownError(
                f"Integra answered {response.status_code} but the body is not a campaign; "
                "the campaign was probably created: find it in the panel by its name "
                f"{request.name!r}."
            ) from exc
        self.log.info("Integra campaign %s created (%s)", created.id, created.status)
        return created
