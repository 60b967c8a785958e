"""A local stand-in for the Integra API (``POST /api/v1/campaigns``) with injectable faults.

Why it exists: the real API has no idempotency and no lookup, so the only way to prove that this
project never phones anyone twice is to run it against a server that behaves like Integra, can be
told to fail at the worst moments (after the campaign was created), and lets a test count what was
actually created. Standard library only, so it runs with a bare ``python`` in any container:

    python include/integra_sandbox/server.py --host 127.0.0.1 --port 8765 --token ik_test_sandbox

Sandbox-only endpoints (not part of the real API): ``GET /api/v1/campaigns[/{id}]`` (bearer auth)
to inspect what was created, and the unauthenticated loopback controls under ``/_sandbox/``.
Webhooks (``/api/v1/webhooks``, signed deliveries of campaign and call events) are in webhooks.py.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, TextIO
from urllib.parse import urlsplit

if __package__:
    from . import webhooks
else:  # python include/integra_sandbox/server.py: this directory is sys.path[0]
    import webhooks  # type: ignore[no-redef]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_TOKEN = "ik_test_sandbox"  # noqa: S105 - a well-known test token, not a secret

API_PREFIX = "/api/v1"
CAMPAIGNS_PATH = f"{API_PREFIX}/campaigns"
WEBHOOKS_PATH = f"{API_PREFIX}/webhooks"
MAX_RECIPIENTS = 10_000
# Far above a legal request (10,000 recipients with variables is a few MB); stops runaway clients.
MAX_BODY_BYTES = 64 * 1024 * 1024

# re.ASCII: without it \d would also accept Arabic-Indic and other Unicode digits.
E164_RE = re.compile(r"\+[1-9][0-9]{7,14}", re.ASCII)
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE)
# ISO 8601 extended date-time; the zone group is optional here so that "no timezone" gets its own message.
DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?P<tz>Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)

TOP_LEVEL_FIELDS = (
    "name",
    "project_id",
    "agent_id",
    "phone_number_id",
    "scheduled_at",
    "recipients",
    "config",
)
CONFIG_TYPES: dict[str, tuple[type, str]] = {
    "call_timeout": (int, "an integer"),
    "voicemail_mode": (str, "a string"),
    "outbound_auto_greet": (bool, "a boolean"),
    "max_concurrent": (int, "an integer"),
}

FAULTS_BEFORE_CREATE = frozenset({"rate_limit", "error_before_create", "unauthorized", "validation_error"})
FAULTS_AFTER_CREATE = frozenset({"error_after_create", "slow_after_create", "drop_after_create"})
FAULT_KINDS = FAULTS_BEFORE_CREATE | FAULTS_AFTER_CREATE


# --------------------------------------------------------------------------------------------------
# Contract validation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One validation problem, addressed by a dot/bracket path such as ``recipients[3].phone_number``."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON shape of one entry of the 422 ``details`` list."""
        return {"field": self.field, "message": self.message}


def _is_int(value: object) -> bool:
    """JSON integers only: bool is an int subclass in Python but not in JSON."""
    return isinstance(value, int) and not isinstance(value, bool)


def _type_ok(value: object, expected: type) -> bool:
    """Type check that keeps booleans out of integer fields."""
    return _is_int(value) if expected is int else isinstance(value, expected)


def _check_datetime(value: object) -> str | None:
    """Return why ``value`` is not an ISO 8601 date-time with a timezone, or None if it is."""
    generic = "must be an ISO 8601 date-time with a timezone, e.g. 2026-03-25T14:00:00Z"
    if not isinstance(value, str):
        return generic
    match = DATETIME_RE.fullmatch(value)
    if match is None:
        return generic
    if match.group("tz") is None:
        return "must include a timezone (Z or an offset such as -03:00)"
    try:
        datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return generic
    return None


def _check_recipient(index: int, item: object) -> list[Problem]:
    """Problems of one recipient; values are never echoed, since they are personal data."""
    path = f"recipients[{index}]"
    if not isinstance(item, dict):
        return [Problem(path, "must be an object")]
    problems: list[Problem] = []
    phone = item.get("phone_number")
    if "phone_number" not in item:
        problems.append(Problem(f"{path}.phone_number", "is required"))
    elif not isinstance(phone, str) or E164_RE.fullmatch(phone) is None:
        problems.append(Problem(f"{path}.phone_number", "must be an E.164 phone number, e.g. +5511999999999"))
    name = item.get("recipient_name")
    if "recipient_name" not in item:
        problems.append(Problem(f"{path}.recipient_name", "is required"))
    elif not isinstance(name, str) or not name:
        problems.append(Problem(f"{path}.recipient_name", "must be a non-empty string"))
    if "dynamic_variables" in item:
        variables = item["dynamic_variables"]
        if not isinstance(variables, dict):
            problems.append(Problem(f"{path}.dynamic_variables", "must be an object of string to string"))
        else:
            problems.extend(
                Problem(f"{path}.dynamic_variables.{key}", "must be a string")
                for key, val in variables.items()
                if not isinstance(val, str)
            )
    return problems


def validate_campaign(body: dict[str, Any]) -> list[Problem]:
    """Check a decoded request body against the documented contract; empty list means valid."""
    problems: list[Problem] = []

    name = body.get("name")
    if "name" not in body:
        problems.append(Problem("name", "is required"))
    elif not isinstance(name, str) or not name:
        problems.append(Problem("name", "must be a non-empty string"))

    for field in ("project_id", "agent_id", "phone_number_id"):
        value = body.get(field)
        if field not in body:
            problems.append(Problem(field, "is required"))
        elif not isinstance(value, str) or UUID_RE.fullmatch(value) is None:
            problems.append(Problem(field, "must be a UUID string"))

    if "scheduled_at" not in body:
        problems.append(Problem("scheduled_at", "is required"))
    elif (why := _check_datetime(body["scheduled_at"])) is not None:
        problems.append(Problem("scheduled_at", why))

    recipients = body.get("recipients")
    if "recipients" not in body:
        problems.append(Problem("recipients", "is required"))
    elif not isinstance(recipients, list):
        problems.append(Problem("recipients", "must be an array of recipient objects"))
    else:
        if not recipients:
            problems.append(Problem("recipients", "must contain at least 1 recipient"))
        elif len(recipients) > MAX_RECIPIENTS:
            problems.append(
                Problem("recipients", f"must contain at most {MAX_RECIPIENTS} recipients (got {len(recipients)})")
            )
        for index, item in enumerate(recipients):
            problems.extend(_check_recipient(index, item))

    if "config" in body:
        config = body["config"]
        if not isinstance(config, dict):
            problems.append(Problem("config", "must be an object"))
        else:
            for key, (expected, label) in CONFIG_TYPES.items():
                if key in config and not _type_ok(config[key], expected):
                    problems.append(Problem(f"config.{key}", f"must be {label}"))

    problems.extend(Problem(key, "is not a known field") for key in body if key not in TOP_LEVEL_FIELDS)
    return problems


# --------------------------------------------------------------------------------------------------
# State: campaigns, fault queue, counters
# --------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One queued fault; it applies to the next ``remaining`` POSTs to /api/v1/campaigns."""

    kind: str
    remaining: int
    retry_after: str = "1"
    delay: float = 5.0

    def as_dict(self) -> dict[str, Any]:
        """JSON shape used by ``GET /_sandbox/faults``."""
        return {
            "kind": self.kind,
            "times": self.remaining,
            "retry_after": self.retry_after,
            "delay": self.delay,
        }


def parse_fault(spec: object) -> Fault:
    """Build a Fault from a control-endpoint entry; ValueError names what is wrong."""
    if not isinstance(spec, dict):
        raise ValueError("each fault must be an object")
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}")
    times = spec.get("times", 1)
    if not _is_int(times) or times < 1:
        raise ValueError("fault times must be a positive integer")
    retry_after = spec.get("retry_after", "1")
    if _is_int(retry_after):
        retry_after = str(retry_after)
    if not isinstance(retry_after, str) or not retry_after:
        raise ValueError("fault retry_after must be a non-empty string (seconds or an HTTP date)")
    delay = spec.get("delay", 5.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise ValueError("fault delay must be a non-negative number of seconds")
    return Fault(kind=kind, remaining=times, retry_after=retry_after, delay=float(delay))


class SandboxState:
    """Everything the server remembers; one lock, because handlers run on many threads."""

    def __init__(self, hub: webhooks.WebhookHub | None = None) -> None:
        self.webhooks = hub if hub is not None else webhooks.WebhookHub()
        self._lock = threading.Lock()
        self._campaigns: dict[str, dict[str, Any]] = {}
        self._faults: deque[Fault] = deque()
        self._campaign_posts = 0
        self._requests = 0

    def count_request(self) -> None:
        """Count any HTTP request, whatever its path or outcome."""
        with self._lock:
            self._requests += 1

    def begin_campaign_post(self) -> Fault | None:
        """Count a campaign POST and consume one use of the fault at the head of the queue."""
        with self._lock:
            self._campaign_posts += 1
            if not self._faults:
                return None
            head = self._faults[0]
            head.remaining -= 1
            if head.remaining <= 0:
                self._faults.popleft()
            return Fault(head.kind, 1, head.retry_after, head.delay)

    def add_campaign(self, record: dict[str, Any]) -> None:
        """Store a created campaign (id is unique: uuid4)."""
        with self._lock:
            self._campaigns[record["id"]] = record

    def campaigns(self) -> list[dict[str, Any]]:
        """Stored campaigns in creation order."""
        with self._lock:
            return list(self._campaigns.values())

    def campaign(self, campaign_id: str) -> dict[str, Any] | None:
        """One stored campaign, or None."""
        with self._lock:
            return self._campaigns.get(campaign_id)

    def add_faults(self, faults: list[Fault]) -> list[dict[str, Any]]:
        """Append to the FIFO fault queue; returns the whole queue."""
        with self._lock:
            self._faults.extend(faults)
            return [fault.as_dict() for fault in self._faults]

    def faults(self) -> list[dict[str, Any]]:
        """The pending fault queue, head first."""
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def stats(self) -> dict[str, int]:
        """Counters a test asserts on: how often the client tried, and what exists."""
        with self._lock:
            return {
                "campaign_posts": self._campaign_posts,
                "requests": self._requests,
                "campaigns": len(self._campaigns),
            }

    def reset(self) -> None:
        """Forget campaigns, faults, counters and all webhook state, so each test starts from nothing."""
        with self._lock:
            self._campaigns.clear()
            self._faults.clear()
            self._campaign_posts = 0
            self._requests = 0
        self.webhooks.reset()


# --------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------


class _BadRequestError(Exception):
    """The body could not be read or decoded; carries the HTTP status to answer with."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _utc_now_iso() -> str:
    """created_at in the documented shape: UTC, seconds, trailing Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reject_constant(name: str) -> Any:
    """JSON has no NaN/Infinity; Python's decoder would accept them."""
    raise ValueError(f"invalid JSON constant {name}")


def _fault_specs(raw: bytes) -> list[Any]:
    """The entries of a ``{"faults": [...]}`` control body; ValueError if it is not that."""
    payload = json.loads(raw.decode("utf-8") or "null")
    if not isinstance(payload, dict) or not isinstance(payload.get("faults"), list):
        raise ValueError('body must be {"faults": [...]}')
    return list(payload["faults"])


class SandboxHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that carries the sandbox state and closes live connections on stop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], token: str, state: SandboxState, log: TextIO | None) -> None:
        self.token = token
        self.state = state
        self.log = log
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, SandboxRequestHandler)

    def track(self, conn: socket.socket, *, alive: bool) -> None:
        """Remember open client sockets so that stop() does not leave keep-alive threads behind."""
        with self._connections_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Shut down every client socket still open."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line instead of a traceback: a traceback could quote request data."""
        exc = sys.exc_info()[1]
        if self.log is not None and not isinstance(exc, ConnectionError | TimeoutError):
            self.log.write(f"{_utc_now_iso()} sandbox error: {type(exc).__name__}\n")
            self.log.flush()


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Routes requests; keeps HTTP/1.1 keep-alive so client sessions behave as against a real API."""

    protocol_version = "HTTP/1.1"
    server_version = "IntegraSandbox/1.0"
    sys_version = ""
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 120
    server: SandboxHTTPServer

    # -- plumbing ---------------------------------------------------------------------------------

    def version_string(self) -> str:
        """Server header without the Python version."""
        return self.server_version

    def setup(self) -> None:
        """Track the connection (see SandboxHTTPServer.close_connections)."""
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        """Untrack the connection; a client that vanished is not an error."""
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, alive=False)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Access log: method, path (no query string) and status only; never headers or bodies."""
        log = self.server.log
        if log is None:
            return
        code = int(code) if isinstance(code, HTTPStatus) else code
        method = self.command or "-"
        log.write(f"{_utc_now_iso()} {method} {self._route_path()} {code}\n")
        log.flush()

    def log_error(self, format: str, *args: Any) -> None:
        """Silenced: the base class would quote the raw request line; log_request still logs the status."""

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced for the same reason as log_error."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON instead of the base class's HTML, for malformed requests and unknown methods."""
        status = HTTPStatus(code)
        self.close_connection = True
        self._send_json(
            status,
            {"error": status.phrase.lower().replace(" ", "_"), "message": message or status.description},
        )

    def _route_path(self) -> str:
        """Request path without query string or trailing slash; "-" before the request line is parsed."""
        raw = getattr(self, "path", None)
        if not raw:
            return "-"
        path = urlsplit(raw).path
        return path.rstrip("/") or "/"

    def _send_json(self, status: HTTPStatus, payload: object, headers: dict[str, str] | None = None) -> None:
        """Write one complete JSON response; a client that already hung up is ignored."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _error(self, status: HTTPStatus, error: str, message: str, **extra: Any) -> None:
        """Error body in the shape the project's client parses: {"error", "message", ...}."""
        self._send_json(status, {"error": error, "message": message, **extra})

    def _read_body(self) -> bytes:
        """Read the whole request body (Content-Length or chunked) before answering anything."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            raise _BadRequestError(HTTPStatus.BAD_REQUEST, "invalid Content-Length") from None
        if length < 0:
            raise _BadRequestError(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BadRequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        """Minimal chunked transfer decoding (some clients stream bodies)."""
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _BadRequestError(HTTPStatus.BAD_REQUEST, "invalid chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BadRequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _authorized(self) -> bool:
        """Bearer token check in constant time."""
        scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return False
        return hmac.compare_digest(credentials.strip().encode("utf-8"), self.server.token.encode("utf-8"))

    def _unauthorized(self) -> None:
        self._error(HTTPStatus.UNAUTHORIZED, "unauthorized", "missing or invalid bearer token")

    # -- dispatch ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        """Inspection and sandbox status endpoints."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Campaign creation and sandbox controls."""
        self._dispatch("POST")

    def do_PUT(self) -> None:
        """Unsupported on every path: 404/405 JSON."""
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        """Unsupported on every path: 404/405 JSON."""
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        """Webhook removal; elsewhere 404/405 JSON."""
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:
        """Unsupported on every path: 404/405 JSON headers, no body."""
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        """Unsupported on every path: 404/405 JSON."""
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        """Route by (method, path); every request is counted and its body read before answering."""
        self.server.state.count_request()
        path = self._route_path()
        routes: dict[str, dict[str, Any]] = {
            CAMPAIGNS_PATH: {"POST": self._create_campaign, "GET": self._list_campaigns},
            "/_sandbox/faults": {"POST": self._add_faults, "GET": self._get_faults},
            "/_sandbox/stats": {"GET": self._get_stats},
            "/_sandbox/reset": {"POST": self._reset},
            "/_sandbox/health": {"GET": self._health},
            WEBHOOKS_PATH: {"POST": self._bearer(self._register_webhook), "GET": self._bearer(self._list_webhooks)},
            "/_sandbox/outcomes": {"POST": self._force_outcomes},
            "/_sandbox/webhook_faults": {"POST": self._add_webhook_faults, "GET": self._get_webhook_faults},
            "/_sandbox/webhooks/idle": {"GET": self._webhooks_idle},
        }
        if path in routes:
            handlers = routes[path]
        elif path.startswith(CAMPAIGNS_PATH + "/") and path.count("/") == CAMPAIGNS_PATH.count("/") + 1:
            handlers = {"GET": self._get_campaign}
        elif path.startswith(WEBHOOKS_PATH + "/") and path.count("/") == WEBHOOKS_PATH.count("/") + 1:
            handlers = {"GET": self._bearer(self._get_webhook), "DELETE": self._bearer(self._delete_webhook)}
        else:
            handlers = {}

        is_campaign_post = path == CAMPAIGNS_PATH and method == "POST"
        # Counted and fault-consumed before anything can fail: every POST is one attempt.
        fault = self.server.state.begin_campaign_post() if is_campaign_post else None
        try:
            body = self._read_body()
        except _BadRequestError as exc:
            self.close_connection = True
            self._error(exc.status, "bad_request", exc.message)
            return

        if is_campaign_post:
            self._create_campaign(body, fault)
            return
        handler = handlers.get(method)
        if handler is None:
            if handlers:
                self._send_json(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    {"error": "method_not_allowed", "message": f"{method} is not allowed on {path}"},
                    {"Allow": ", ".join(sorted(handlers))},
                )
            else:
                self._error(HTTPStatus.NOT_FOUND, "not_found", f"no route for {method} {path}")
            return
        handler(body)

    # -- the documented endpoint ------------------------------------------------------------------

    def _create_campaign(self, raw: bytes, fault: Fault | None) -> None:
        """POST /api/v1/campaigns: auth, decode, validate, create; faults interleave as documented."""
        if fault is not None and fault.kind in FAULTS_BEFORE_CREATE:
            self._apply_fault_before_create(fault)
            return
        if not self._authorized():
            self._unauthorized()
            return
        if (body := self._decode_object(raw)) is None or self._reject(validate_campaign(body)):
            return

        created = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "status": "PENDING",
            "total_recipients": len(body["recipients"]),
            "scheduled_at": body["scheduled_at"],
            "created_at": _utc_now_iso(),
        }
        self.server.state.add_campaign(
            {
                **created,
                "idempotency_key": self.headers.get("Idempotency-Key"),
                "fault": fault.kind if fault is not None else None,
                "request": body,
            }
        )
        # Queued now and delivered by the webhook workers, so events may beat this response.
        self.server.state.webhooks.campaign_created(created["id"], [r["phone_number"] for r in body["recipients"]])

        if fault is None:
            self._send_json(HTTPStatus.CREATED, created)
        elif fault.kind == "error_after_create":
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "sandbox fault: error after create")
        elif fault.kind == "slow_after_create":
            time.sleep(fault.delay)
            self._send_json(HTTPStatus.CREATED, created)
        elif fault.kind == "drop_after_create":
            # No status line, no headers: the client sees the connection close (RemoteDisconnected).
            self.close_connection = True
            self.log_request("dropped")

    def _decode_object(self, raw: bytes) -> dict[str, Any] | None:
        """The body as a JSON object, or None after answering 400."""
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            self._error(HTTPStatus.BAD_REQUEST, "bad_request", "request body is not valid JSON")
            return None
        if not isinstance(body, dict):
            self._error(HTTPStatus.BAD_REQUEST, "bad_request", "request body must be a JSON object")
            return None
        return body

    def _reject(self, problems: list[Problem]) -> bool:
        """Answer 422 listing every problem (the first is the message); False if there are none."""
        if problems:
            first = problems[0]
            details = [problem.as_dict() for problem in problems]
            self._error(
                HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", f"{first.field} {first.message}", details=details
            )
        return bool(problems)

    def _apply_fault_before_create(self, fault: Fault) -> None:
        """Faults that answer before (and instead of) auth, validation and creation."""
        if fault.kind == "rate_limit":
            self._send_json(
                HTTPStatus.TOO_MANY_REQUESTS,
                {"error": "rate_limited", "message": "sandbox fault: too many requests"},
                {"Retry-After": fault.retry_after},
            )
        elif fault.kind == "error_before_create":
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "sandbox fault: error before create")
        elif fault.kind == "unauthorized":
            self._error(HTTPStatus.UNAUTHORIZED, "unauthorized", "sandbox fault: token rejected")
        elif fault.kind == "validation_error":
            self._error(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "validation_error",
                "name sandbox fault: rejected",
                details=[{"field": "name", "message": "sandbox fault: rejected"}],
            )

    # -- sandbox-only inspection (bearer auth) ----------------------------------------------------

    def _list_campaigns(self, _body: bytes) -> None:
        """GET /api/v1/campaigns: every stored campaign with its request and Idempotency-Key."""
        if not self._authorized():
            self._unauthorized()
            return
        self._send_json(HTTPStatus.OK, {"campaigns": self.server.state.campaigns()})

    def _get_campaign(self, _body: bytes) -> None:
        """GET /api/v1/campaigns/{id}."""
        if not self._authorized():
            self._unauthorized()
            return
        campaign_id = self._route_path().rsplit("/", 1)[1]
        record = self.server.state.campaign(campaign_id)
        if record is None:
            self._error(HTTPStatus.NOT_FOUND, "not_found", "campaign not found")
            return
        self._send_json(HTTPStatus.OK, record)

    # -- sandbox-only controls (no auth; bind to loopback) ----------------------------------------

    def _control(self, apply: Callable[[], object]) -> None:
        """Answer 200 with what ``apply`` returns, or 400 with its ValueError (a bad control body)."""
        try:
            payload = apply()
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            self._error(HTTPStatus.BAD_REQUEST, "bad_request", str(exc))
            return
        self._send_json(HTTPStatus.OK, payload)

    def _add_faults(self, raw: bytes) -> None:
        """POST /_sandbox/faults {"faults": [{"kind": ..., "times": 1, ...}]}: append to the FIFO queue."""
        self._control(lambda: {"faults": self.server.state.add_faults([parse_fault(f) for f in _fault_specs(raw)])})

    def _get_faults(self, _body: bytes) -> None:
        """GET /_sandbox/faults: the pending queue."""
        self._send_json(HTTPStatus.OK, {"faults": self.server.state.faults()})

    def _get_stats(self, _body: bytes) -> None:
        """GET /_sandbox/stats; the stats request itself is included in "requests"."""
        self._send_json(HTTPStatus.OK, self.server.state.stats())

    def _reset(self, _body: bytes) -> None:
        """POST /_sandbox/reset: campaigns, faults and counters back to zero."""
        self.server.state.reset()
        self._send_json(HTTPStatus.OK, {"status": "reset"})

    def _health(self, _body: bytes) -> None:
        """GET /_sandbox/health: for readiness checks (docker-compose healthcheck, fixtures)."""
        self._send_json(HTTPStatus.OK, {"status": "ok"})

    # -- webhooks (machinery in webhooks.py) ------------------------------------------------------

    def _bearer(self, handler: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """``handler`` behind the bearer token check."""
        return lambda body: handler(body) if self._authorized() else self._unauthorized()

    def _register_webhook(self, raw: bytes) -> None:
        """POST /api/v1/webhooks: 201 with the secret, the only answer that ever shows it."""
        if (body := self._decode_object(raw)) is None:
            return
        url, events, problems = webhooks.parse_registration(body)
        if not self._reject([Problem(field, message) for field, message in problems]):
            self._send_json(HTTPStatus.CREATED, self.server.state.webhooks.register(url, events))

    def _list_webhooks(self, _body: bytes) -> None:
        """GET /api/v1/webhooks: registrations without secrets."""
        self._send_json(HTTPStatus.OK, {"webhooks": self.server.state.webhooks.registrations()})

    def _get_webhook(self, _body: bytes) -> None:
        """GET /api/v1/webhooks/{id}: the registration and its last 100 deliveries, newest first."""
        record = self.server.state.webhooks.registration(self._route_path().rsplit("/", 1)[1])
        if record is None:
            self._error(HTTPStatus.NOT_FOUND, "not_found", "webhook not found")
        else:
            self._send_json(HTTPStatus.OK, record)

    def _delete_webhook(self, _body: bytes) -> None:
        """DELETE /api/v1/webhooks/{id}: 204 and nothing more is delivered to it."""
        if not self.server.state.webhooks.delete(self._route_path().rsplit("/", 1)[1]):
            self._error(HTTPStatus.NOT_FOUND, "not_found", "webhook not found")
            return
        with contextlib.suppress(OSError):
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()

    def _force_outcomes(self, raw: bytes) -> None:
        """POST /_sandbox/outcomes {"+5511...": {"status", "disposition", "duration_seconds"}}: merge."""
        hub = self.server.state.webhooks
        parse = webhooks.parse_outcomes
        self._control(lambda: {"outcomes": hub.force_outcomes(parse(json.loads(raw.decode("utf-8") or "null")))})

    def _add_webhook_faults(self, raw: bytes) -> None:
        """POST /_sandbox/webhook_faults {"faults": [{"kind": ..., "times": 1, "delay": 3}]}: append."""
        hub = self.server.state.webhooks
        self._control(lambda: {"faults": hub.add_faults([webhooks.parse_fault(f) for f in _fault_specs(raw)])})

    def _get_webhook_faults(self, _body: bytes) -> None:
        """GET /_sandbox/webhook_faults: the pending webhook fault queue."""
        self._send_json(HTTPStatus.OK, {"faults": self.server.state.webhooks.faults()})

    def _webhooks_idle(self, _body: bytes) -> None:
        """GET /_sandbox/webhooks/idle: {"pending", "delivered", "failed"}; wait for pending 0."""
        self._send_json(HTTPStatus.OK, self.server.state.webhooks.idle())


# --------------------------------------------------------------------------------------------------
# Embedding and CLI
# --------------------------------------------------------------------------------------------------


class SandboxServer:
    """The sandbox in a background thread, for in-process use: ``with SandboxServer() as s: s.url``."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        *,
        log: TextIO | None = None,
        webhook_seed: int = webhooks.DEFAULT_SEED,
        webhook_backoff: float = webhooks.DEFAULT_BACKOFF_S,
        webhook_attempts: int = webhooks.DEFAULT_ATTEMPTS,
    ) -> None:
        if not token:
            raise ValueError("token must be non-empty")
        self.host = host
        self.requested_port = port
        self.token = token
        hub = webhooks.WebhookHub(seed=webhook_seed, backoff=webhook_backoff, attempts=webhook_attempts, log=log)
        self.state = SandboxState(hub)
        self._log = log
        self._httpd: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        """Bind (port 0 picks a free port) and serve from a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("sandbox already started")
        self._httpd = SandboxHTTPServer((self.host, self.requested_port), self.token, self.state, self._log)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="integra-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close open connections, stop webhook deliveries, release the port; safe twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        self.state.webhooks.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        if self._httpd is None:
            raise RuntimeError("sandbox not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:8765 (the API lives under /api/v1)."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _write_port_file(path: str, port: int) -> None:
    """Atomic write, so a waiting reader never sees a half-written number."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f"{port}\n")
    os.replace(tmp, path)


def build_parser() -> argparse.ArgumentParser:
    """CLI flags; each falls back to an INTEGRA_SANDBOX_* environment variable."""
    env = os.environ
    parser = argparse.ArgumentParser(description="Local sandbox of the Integra campaigns API.")
    parser.add_argument(
        "--host",
        default=env.get("INTEGRA_SANDBOX_HOST", DEFAULT_HOST),
        help="bind address (env INTEGRA_SANDBOX_HOST)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=env.get("INTEGRA_SANDBOX_PORT", str(DEFAULT_PORT)),
        help="port; 0 picks a free one (env INTEGRA_SANDBOX_PORT)",
    )
    parser.add_argument(
        "--token",
        default=env.get("INTEGRA_SANDBOX_TOKEN", DEFAULT_TOKEN),
        help="bearer token clients must send (env INTEGRA_SANDBOX_TOKEN)",
    )
    parser.add_argument("--port-file", help="write the bound port to this file once listening")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    for flag, kind, default, what in (
        ("seed", int, webhooks.DEFAULT_SEED, "seed of the simulated call outcomes"),
        ("backoff", float, webhooks.DEFAULT_BACKOFF_S, "seconds before the first retry, doubled per retry"),
        ("attempts", int, webhooks.DEFAULT_ATTEMPTS, "delivery attempts per event before giving up"),
    ):
        name = f"INTEGRA_SANDBOX_WEBHOOK_{flag.upper()}"
        parser.add_argument(
            f"--webhook-{flag}", type=kind, default=env.get(name, str(default)), help=f"{what} (env {name})"
        )
    return parser


class _StopRequestedError(Exception):
    """Raised from the SIGTERM handler to leave the main loop (a handler must not take locks)."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequestedError


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM or SIGINT, then stop cleanly (exit status 0)."""
    args = build_parser().parse_args(argv)
    if not args.token:
        print("error: --token must be non-empty", file=sys.stderr)
        return 2
    if args.webhook_backoff < 0 or args.webhook_attempts < 1:
        print("error: --webhook-backoff must be >= 0 and --webhook-attempts >= 1", file=sys.stderr)
        return 2
    hooks = {f"webhook_{key}": getattr(args, f"webhook_{key}") for key in ("seed", "backoff", "attempts")}
    server = SandboxServer(args.host, args.port, args.token, log=None if args.quiet else sys.stderr, **hooks)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    server.start()
    try:
        if args.port_file:
            _write_port_file(args.port_file, server.port)
        print(f"Integra sandbox listening on {server.url}", flush=True)
        while True:
            time.sleep(3600)
    except _StopRequestedError:
        pass
    finally:
        server.stop()
    print("Integra sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
