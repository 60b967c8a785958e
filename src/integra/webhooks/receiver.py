"""The webhook receiver: a FastAPI app the Airflow API server mounts at ``/integra`` (see ``plugin.py``).

Airflow's login does not protect plugin apps, and Integra cannot log in anyway, so the signature is
the only gate: the body is size-limited before it is read, the HMAC is checked before anything is
parsed, and nothing of the body is logged. An accepted delivery is stored, then processed; the answer
is 200 as soon as both local transactions are done (no outbound call inside the request). A delivery
that cannot be stored gets a 503, so Integra's retries bring it back.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from integra import contract
from integra.webhooks.signatures import SignatureError, verify

if TYPE_CHECKING:
    from integra.ledger.store import Ledger
    from integra.policy.contact import ContactPolicy

log = logging.getLogger(__name__)

#: A rotated secret reaches every API server within this many seconds.
SETTINGS_TTL_S = 30.0


class ReceiverNotConfiguredError(Exception):
    """The webhook connection is missing or has no secret: the message names the fix."""


@dataclass(frozen=True)
class Settings:
    """What the receiver reads from the ``integra_webhook`` connection."""

    secrets: tuple[str, ...]
    ledger_conn_id: str

    @classmethod
    def load(cls, conn_id: str = contract.WEBHOOK_CONN_ID) -> Settings:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        from integra.ledger.schema import DEFAULT_CONN_ID

        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            raise ReceiverNotConfiguredError(
                f"connection '{conn_id}' is not defined: run `python -m integra.webhooks register --url "
                "https://<public host>/integra/webhooks` (it stores the secret Integra shows once)"
            ) from None
        extra = conn.extra_dejson
        secrets = tuple(s for s in (conn.password, extra.get("previous_secret")) if s)
        if not secrets:
            raise ReceiverNotConfiguredError(f"connection '{conn_id}' has no password: it must hold the webhook secret")
        return cls(secrets=secrets, ledger_conn_id=str(extra.get("ledger_conn_id") or DEFAULT_CONN_ID))


class _Cached:
    """Settings, the ledger and the contact policy, re-read every ``SETTINGS_TTL_S`` (secret rotation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded_at = -SETTINGS_TTL_S
        self._value: tuple[Settings, Ledger, ContactPolicy] | None = None

    def get(self) -> tuple[Settings, Ledger, ContactPolicy]:
        with self._lock:
            if self._value is None or time.monotonic() - self._loaded_at > SETTINGS_TTL_S:
                from integra.ledger.store import Ledger
                from integra.policy.contact import load_policy, policy_path

                if not policy_path().is_file():  # its opt-out dispositions decide who is never called again
                    raise ReceiverNotConfiguredError(
                        f"the contact policy file {policy_path()} is not on this API server: set "
                        "INTEGRA_CONTACT_POLICY (or INTEGRA_INCLUDE_DIR) to the organisation's contact_policy.yaml"
                    )
                settings = Settings.load()
                ledger = Ledger(settings.ledger_conn_id)
                ledger.engine  # noqa: B018 - fails here, not per request, when the ledger is not ready
                self._value = (settings, ledger, load_policy())
                self._loaded_at = time.monotonic()
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None


cached = _Cached()


def accept(body: bytes, signed_at: int) -> str:
    """Store the delivery once, then process it; ``duplicate`` when its event id was already stored."""
    from integra.ledger.outcomes import process_event, store_event
    from integra.webhooks.events import read_envelope

    _, ledger, policy = cached.get()
    envelope, event_id = read_envelope(body)
    if not store_event(ledger, event_id, envelope, body, datetime.fromtimestamp(signed_at, UTC)):
        return "duplicate"
    if envelope is None:
        log.warning("Webhook delivery stored as %s: not a JSON event with an id and a type", event_id)
        return "stored"
    return process_event(ledger, envelope, policy)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is longer than ``limit`` (never read past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _refuse(status: int, error: str) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status)


router = APIRouter()


@router.post("/webhooks")
async def receive(request: Request) -> JSONResponse:
    body = await _read_limited(request, contract.MAX_WEBHOOK_BODY_BYTES)
    if body is None:
        log.warning("Webhook delivery refused: body over %s bytes", contract.MAX_WEBHOOK_BODY_BYTES)
        return _refuse(413, "body too large")
    try:
        settings, _, _ = await run_in_threadpool(cached.get)
    except Exception as exc:  # a missing connection or an unreachable ledger: Integra retries later
        log.error("Webhook delivery not stored, receiver not ready: %s", exc)
        return _refuse(503, "receiver not configured")
    try:
        signed_at = verify(request.headers, body, settings.secrets)
    except SignatureError as exc:
        log.warning("Webhook delivery refused: %s", exc)
        return _refuse(401, "invalid signature")
    try:
        result = await run_in_threadpool(accept, body, signed_at)
    except Exception as exc:
        log.error("Webhook delivery not stored (Integra will retry): %s", type(exc).__name__)
        return _refuse(503, "not stored")
    return JSONResponse({"status": result})


@router.get("/health")
async def health() -> JSONResponse:
    """For a reverse proxy's health check: answers without touching the ledger or the secret."""
    return JSONResponse({"status": "ok"})


def create_app() -> FastAPI:
    """The receiver alone (the API server mounts it with the campaigns page, see ``integra.app``)."""
    app = FastAPI(title="Integra webhooks", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    return app
