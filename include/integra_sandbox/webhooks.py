"""Webhook deliveries of the Integra sandbox: registrations, signed POSTs, retries, outcomes, faults.

Why it exists: the project's webhook receiver must verify signatures, survive retries, duplicates,
reordering and stragglers, and honour opt-outs, and none of that can be rehearsed against the real,
billable API. Real Integra documents only ``POST /webhooks`` (an HTTPS URL, the events
``call.completed``, ``campaign.started``, ``campaign.completed``), HMAC-SHA256 signatures with a
secret shown once, and ``GET /webhooks/{id}`` with recent deliveries. The header names, the signed
string, the body shape, the retry policy and the outcome mix below are this project's assumptions;
the receiver verifies exactly them, so change both together (see README.md). Standard library only.

The HTTP routing lives in server.py; this module never sees a request, only decoded JSON.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import random
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit

EVENT_TYPES = ("campaign.started", "call.completed", "campaign.completed")
CALL_STATUSES = ("completed", "no_answer", "busy", "voicemail", "failed")
DISPOSITIONS = ("interested", "not_interested", "callback", "do_not_call", "opt_out", "wrong_number")
FAULT_KINDS = frozenset({"bad_signature", "duplicate", "out_of_order", "late"})

USER_AGENT = "integra-sandbox-webhooks"
EVENT_HEADER = "X-Integra-Event"
TIMESTAMP_HEADER = "X-Integra-Timestamp"
SIGNATURE_HEADER = "X-Integra-Signature"

DEFAULT_SEED = 0
DEFAULT_BACKOFF_S = 0.2
DEFAULT_ATTEMPTS = 5
DEFAULT_LATE_DELAY_S = 3.0
ATTEMPT_TIMEOUT_S = 5.0
WORKERS = 8
MAX_DELIVERIES_LISTED = 100
MAX_URL_LENGTH = 2048
# A receiver's answer is read (so the connection ends cleanly) but never used; cap what we read.
MAX_RESPONSE_BYTES = 64 * 1024
# Longest plausible call; bounds forced durations so a typo cannot produce nonsense timestamps.
MAX_DURATION_S = 24 * 3600

E164_RE = re.compile(r"\+[1-9][0-9]{7,14}", re.ASCII)

# Assumed mix of call outcomes (weights in percent of all calls).
STATUS_WEIGHTS = (("completed", 55), ("no_answer", 25), ("busy", 7), ("voicemail", 8), ("failed", 5))
# Of completed calls; opt_out + do_not_call = 11% of 55%, about 6% of all calls.
COMPLETED_DISPOSITION_WEIGHTS = (
    ("interested", 30),
    ("not_interested", 35),
    ("callback", 20),
    ("opt_out", 6),
    ("do_not_call", 5),
    ("wrong_number", 4),
)
# Share of failed calls that the carrier reports as a wrong number; the rest have no disposition.
FAILED_WRONG_NUMBER_SHARE = 0.3
# Talk time in seconds, inclusive; calls nobody answered last 0 s.
DURATION_RANGES = {"completed": (20, 300), "voicemail": (15, 45), "no_answer": (0, 0), "busy": (0, 0), "failed": (0, 0)}
# duration_seconds of a forced outcome that does not give one.
FORCED_DEFAULT_DURATION = {"completed": 60, "voicemail": 20}


def utc_iso(moment: datetime) -> str:
    """Timestamps in the documented shape: UTC, whole seconds, trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Integra-Signature`` value: HMAC-SHA256 keyed by the whole secret string over ``b"<ts>." + body``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def _is_int(value: object) -> bool:
    """JSON integers only: bool is an int subclass in Python but not in JSON."""
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------
# Input of the API and control endpoints
# --------------------------------------------------------------------------------------------------


def parse_registration(body: dict[str, Any]) -> tuple[str, tuple[str, ...], list[tuple[str, str]]]:
    """(url, events, problems) of a ``POST /api/v1/webhooks`` body; problems are (field, message)."""
    problems: list[tuple[str, str]] = []
    url = body.get("url")
    if "url" not in body:
        problems.append(("url", "is required"))
    elif not isinstance(url, str):
        problems.append(("url", "must be an http(s) URL"))
    elif (why := _check_url(url)) is not None:
        problems.append(("url", why))

    events: tuple[str, ...] = EVENT_TYPES
    if "events" in body:
        raw = body["events"]
        if not isinstance(raw, list):
            problems.append(("events", f"must be an array of event types {list(EVENT_TYPES)}"))
        elif not raw:
            problems.append(("events", "must contain at least 1 event type"))
        else:
            problems.extend(
                (f"events[{index}]", f"must be one of {list(EVENT_TYPES)}")
                for index, item in enumerate(raw)
                if item not in EVENT_TYPES
            )
            events = tuple(kind for kind in EVENT_TYPES if kind in raw)
    problems.extend((key, "is not a known field") for key in body if key not in ("url", "events"))
    return (url if isinstance(url, str) else ""), events, problems


def _check_url(url: str) -> str | None:
    """Why ``url`` cannot receive deliveries, or None. http:// is accepted: the sandbox is for loopback."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if not url.isascii() or any(char.isspace() for char in url):
        return "must be ASCII without whitespace (percent-encode the rest)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "must be an http(s) URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    return None


@dataclass
class WebhookFault:
    """One queued webhook fault; each delivered event (per registration) consumes one use."""

    kind: str
    remaining: int
    delay: float = DEFAULT_LATE_DELAY_S

    def as_dict(self) -> dict[str, Any]:
        """JSON shape used by ``GET /_sandbox/webhook_faults``."""
        return {"kind": self.kind, "times": self.remaining, "delay": self.delay}


def parse_fault(spec: object) -> WebhookFault:
    """Build a WebhookFault from a control-endpoint entry; ValueError names what is wrong."""
    if not isinstance(spec, dict):
        raise ValueError("each webhook fault must be an object")
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"webhook fault kind must be one of {sorted(FAULT_KINDS)}")
    times = spec.get("times", 1)
    if not _is_int(times) or times < 1:
        raise ValueError("webhook fault times must be a positive integer")
    delay = spec.get("delay", DEFAULT_LATE_DELAY_S)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 3600:
        raise ValueError("webhook fault delay must be a number of seconds between 0 and 3600")
    return WebhookFault(kind=kind, remaining=times, delay=float(delay))


@dataclass(frozen=True)
class Outcome:
    """How one call ended."""

    status: str
    disposition: str | None
    duration_seconds: int


def _check_disposition(status: str, disposition: object) -> str | None:
    """Why ``disposition`` cannot go with ``status``, or None."""
    if disposition is None:
        return None
    if disposition not in DISPOSITIONS:
        return f"disposition must be null or one of {list(DISPOSITIONS)}"
    if status == "completed" or (status == "failed" and disposition == "wrong_number"):
        return None
    return "a disposition needs status completed (or wrong_number with failed)"


def parse_outcomes(payload: object) -> dict[str, Outcome]:
    """``{"+E164": {"status", "disposition"?, "duration_seconds"?}}``; ValueError never quotes a number."""
    if not isinstance(payload, dict):
        raise ValueError('body must be {"+5511...": {"status": ..., "disposition": ..., "duration_seconds": ...}}')
    parsed: dict[str, Outcome] = {}
    for phone, spec in payload.items():
        if E164_RE.fullmatch(phone) is None:
            raise ValueError("outcome keys must be E.164 phone numbers")
        if not isinstance(spec, dict) or set(spec) - {"status", "disposition", "duration_seconds"}:
            raise ValueError("each outcome must be an object with status, disposition, duration_seconds")
        status = spec.get("status")
        if status not in CALL_STATUSES:
            raise ValueError(f"outcome status must be one of {list(CALL_STATUSES)}")
        disposition = spec.get("disposition")
        if (why := _check_disposition(status, disposition)) is not None:
            raise ValueError(f"outcome {why}")
        duration = spec.get("duration_seconds", FORCED_DEFAULT_DURATION.get(status, 0))
        if not _is_int(duration) or not 0 <= duration <= MAX_DURATION_S:
            raise ValueError(f"outcome duration_seconds must be an integer between 0 and {MAX_DURATION_S}")
        parsed[phone] = Outcome(status, disposition, duration)
    return parsed


# --------------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------------


def _pick(weights: tuple[tuple[str, int], ...], roll: float) -> str:
    """The entry whose cumulative weight band contains ``roll`` (0 <= roll < 1)."""
    total = sum(weight for _, weight in weights)
    threshold = roll * total
    for name, weight in weights:
        threshold -= weight
        if threshold < 0:
            return name
    return weights[-1][0]


class OutcomeGenerator:
    """Seeded call outcomes, so a run is reproducible; every call draws exactly three numbers.

    A fixed number of draws per call keeps later calls' outcomes the same whatever earlier ones
    turned out to be, and whether or not an outcome was forced for a number.
    """

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed
        self._rng = random.Random(seed)  # noqa: S311 - reproducible outcomes, not cryptography

    def reseed(self) -> None:
        """Start the sequence again from the seed (a sandbox reset)."""
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible outcomes, not cryptography

    def draw(self) -> Outcome:
        """The next outcome."""
        status_roll, disposition_roll, duration_roll = (self._rng.random() for _ in range(3))
        status = _pick(STATUS_WEIGHTS, status_roll)
        disposition: str | None = None
        if status == "completed":
            disposition = _pick(COMPLETED_DISPOSITION_WEIGHTS, disposition_roll)
        elif status == "failed" and disposition_roll < FAILED_WRONG_NUMBER_SHARE:
            disposition = "wrong_number"
        low, high = DURATION_RANGES[status]
        return Outcome(status, disposition, low + int(duration_roll * (high - low + 1)))


# --------------------------------------------------------------------------------------------------
# Registrations, events and the delivery queue
# --------------------------------------------------------------------------------------------------


@dataclass
class Registration:
    """One ``POST /api/v1/webhooks``; the secret never leaves this object after the 201."""

    id: str
    url: str
    events: tuple[str, ...]
    created_at: str
    secret: str
    deliveries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_DELIVERIES_LISTED))
    deleted: bool = False

    def public(self) -> dict[str, Any]:
        """The registration without its secret or deliveries."""
        return {"id": self.id, "url": self.url, "events": list(self.events), "created_at": self.created_at}


@dataclass(frozen=True)
class Event:
    """One event, serialised once: every attempt and every registration gets the same bytes."""

    id: str
    type: str
    body: bytes


@dataclass
class _Item:
    """One delivery of one event to one registration."""

    event: Event
    bad_signature: bool = False  # the first attempt is signed with a wrong secret
    duplicate: bool = False  # a second copy, sent only if the item before it was delivered
    attempts: int = 0
    record: dict[str, Any] | None = None


@dataclass
class _Stream:
    """Items for one registration, delivered one at a time and in order."""

    registration: Registration
    items: deque[_Item]
    generation: int
    previous_delivered: bool = False


class _Scheduler:
    """A small worker pool over a time-ordered queue of streams; close() never waits on a sleep."""

    def __init__(self, workers: int, run: Callable[[_Stream], None], on_error: Callable[[Exception], None]) -> None:
        self._size = workers
        self._run = run
        self._on_error = on_error
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Stream]] = []
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, stream: _Stream, delay: float = 0.0) -> None:
        """Run ``stream`` on a worker after ``delay`` seconds; workers start on first use, never after close()."""
        with self._cond:
            if self._closed:
                return
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._work, name=f"integra-webhooks-{n}", daemon=True)
                    for n in range(self._size)
                ]
                for thread in self._threads:
                    thread.start()
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), stream))
            self._cond.notify_all()

    def clear(self) -> None:
        """Drop everything queued (a reset); a stream being worked on finishes its attempt."""
        with self._cond:
            self._heap.clear()

    def close(self, timeout: float) -> None:
        """Stop the workers and drop the queue, for good."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            threads, self._threads = self._threads, []
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        while (stream := self._next()) is not None:
            try:
                self._run(stream)
            except Exception as exc:  # a worker must outlive a bug; a traceback could quote data
                self._on_error(exc)

    def _next(self) -> _Stream | None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                stream = heapq.heappop(self._heap)[2]
                if self._heap:
                    self._cond.notify()
                return stream
            return None


class WebhookHub:
    """Registrations, outcome overrides, webhook faults and background delivery; one lock.

    Events are built when a campaign is created (outcomes drawn in recipient order, so a seed
    reproduces them) and delivered later by the worker pool, never inside that request.
    """

    def __init__(
        self,
        *,
        seed: int = DEFAULT_SEED,
        backoff: float = DEFAULT_BACKOFF_S,
        attempts: int = DEFAULT_ATTEMPTS,
        timeout: float = ATTEMPT_TIMEOUT_S,
        workers: int = WORKERS,
        log: TextIO | None = None,
    ) -> None:
        if backoff < 0 or attempts < 1 or timeout <= 0 or workers < 1:
            raise ValueError("backoff >= 0, attempts >= 1, timeout > 0 and workers >= 1 are required")
        self.backoff = backoff
        self.attempts = attempts
        self.timeout = timeout
        self._log = log
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._outcomes = OutcomeGenerator(seed)
        self._forced: dict[str, Outcome] = {}
        self._registrations: dict[str, Registration] = {}
        self._faults: deque[WebhookFault] = deque()
        self._generation = 0
        self._pending = 0
        self._delivered = 0
        self._failed = 0
        self._connections: set[http.client.HTTPConnection] = set()
        self._scheduler = _Scheduler(
            workers, self._step, lambda exc: self._write_log(f"webhook error: {type(exc).__name__}")
        )

    # -- registrations ----------------------------------------------------------------------------

    def register(self, url: str, events: tuple[str, ...]) -> dict[str, Any]:
        """Create a registration; the only answer that ever contains its secret."""
        registration = Registration(
            id=f"wh_{secrets.token_hex(12)}",
            url=url,
            events=events,
            created_at=utc_iso(datetime.now(UTC)),
            secret=f"whsec_{secrets.token_urlsafe(32)}",
        )
        with self._lock:
            self._registrations[registration.id] = registration
        return {**registration.public(), "secret": registration.secret}

    def registrations(self) -> list[dict[str, Any]]:
        """Every live registration, oldest first, without secrets."""
        with self._lock:
            return [registration.public() for registration in self._registrations.values()]

    def registration(self, webhook_id: str) -> dict[str, Any] | None:
        """One registration with its recent deliveries (newest first), or None."""
        with self._lock:
            registration = self._registrations.get(webhook_id)
            if registration is None:
                return None
            return {**registration.public(), "deliveries": [dict(record) for record in registration.deliveries]}

    def delete(self, webhook_id: str) -> bool:
        """Forget a registration; its queued deliveries are dropped before their next attempt."""
        with self._lock:
            registration = self._registrations.pop(webhook_id, None)
            if registration is None:
                return False
            registration.deleted = True
            return True

    # -- controls ---------------------------------------------------------------------------------

    def force_outcomes(self, outcomes: dict[str, Outcome]) -> int:
        """Merge forced outcomes by phone number; returns how many numbers have one."""
        with self._lock:
            self._forced.update(outcomes)
            return len(self._forced)

    def add_faults(self, faults: list[WebhookFault]) -> list[dict[str, Any]]:
        """Append to the FIFO webhook fault queue; returns the whole queue."""
        with self._lock:
            self._faults.extend(faults)
            return [fault.as_dict() for fault in self._faults]

    def faults(self) -> list[dict[str, Any]]:
        """The pending webhook fault queue, head first."""
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def idle(self) -> dict[str, int]:
        """Deliveries still to finish, and how many ended delivered or given up, since the last reset."""
        with self._lock:
            return {"pending": self._pending, "delivered": self._delivered, "failed": self._failed}

    def reset(self) -> None:
        """Forget registrations, deliveries, overrides and faults; the outcome sequence restarts."""
        with self._lock:
            self._generation += 1
            for registration in self._registrations.values():
                registration.deleted = True
            self._registrations.clear()
            self._forced.clear()
            self._faults.clear()
            self._outcomes.reseed()
            self._pending = self._delivered = self._failed = 0
            self._scheduler.clear()

    def close(self, timeout: float = 2.0) -> None:
        """Stop delivering for good: abort attempts in flight and stop the workers, without hanging."""
        with self._lock:
            self._generation += 1
            self._pending = 0
            connections = list(self._connections)
        for conn in connections:
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
        self._scheduler.close(timeout)

    # -- events -----------------------------------------------------------------------------------

    def campaign_created(self, campaign_id: str, phone_numbers: list[str]) -> None:
        """Queue campaign.started, one call.completed per recipient, campaign.completed for every registration."""
        start = datetime.now(UTC).replace(microsecond=0)
        with self._lock:
            # Drawn even when forced or unsubscribed, so the other calls' outcomes do not shift.
            drawn = [self._outcomes.draw() for _ in phone_numbers]
            outcomes = [self._forced.get(phone, outcome) for phone, outcome in zip(phone_numbers, drawn, strict=True)]
            registrations = list(self._registrations.values())
            if not registrations:
                return
            events = _campaign_events(campaign_id, start, phone_numbers, outcomes)
            later: list[tuple[float, _Stream]] = []
            for registration in registrations:
                later.extend(self._streams_for(registration, [e for e in events if e.type in registration.events]))
        for delay, stream in later:
            self._scheduler.submit(stream, delay)

    def _streams_for(self, registration: Registration, events: list[Event]) -> list[tuple[float, _Stream]]:
        """(delay, stream) pairs for one registration, faults applied; holds the lock."""
        units: list[list[_Item]] = []
        late: list[tuple[float, _Stream]] = []
        reverse = False
        for event in events:
            fault = self._take_fault()
            kind = fault.kind if fault is not None else None
            if kind == "late" and fault is not None:
                late.append((fault.delay, _Stream(registration, deque([_Item(event)]), self._generation)))
            elif kind == "duplicate":
                units.append([_Item(event), _Item(event, duplicate=True)])
            else:
                units.append([_Item(event, bad_signature=kind == "bad_signature")])
                reverse = reverse or kind == "out_of_order"
        if reverse:
            units.reverse()
        items = deque(item for unit in units for item in unit)
        self._pending += len(items) + len(late)
        streams = [(0.0, _Stream(registration, items, self._generation))] if items else []
        return streams + late

    def _take_fault(self) -> WebhookFault | None:
        """Consume one use of the fault at the head of the queue; holds the lock."""
        if not self._faults:
            return None
        head = self._faults[0]
        head.remaining -= 1
        if head.remaining <= 0:
            self._faults.popleft()
        return WebhookFault(head.kind, 1, head.delay)

    # -- delivery ---------------------------------------------------------------------------------

    def _step(self, stream: _Stream) -> None:
        """One attempt at the head item of ``stream``; reschedules the stream if anything is left."""
        with self._lock:
            item = self._head(stream)
            if item is None:
                return
            attempt = item.attempts + 1
        registration = stream.registration
        status = self._post(registration, item, attempt)
        ok = status is not None and 200 <= status < 300
        self._write_log(f"webhook {item.event.type} -> {registration.id} {status or 'no response'} (attempt {attempt})")
        delay = 0.0
        with self._lock:
            if stream.generation != self._generation:
                return
            item.attempts = attempt
            if item.record is None:
                item.record = {"event_id": item.event.id, "type": item.event.type}
                registration.deliveries.appendleft(item.record)
            item.record.update(
                status_code=status,
                attempts=attempt,
                last_attempt_at=utc_iso(datetime.now(UTC)),
                delivered=ok,
            )
            if ok or attempt >= self.attempts:
                stream.items.popleft()
                stream.previous_delivered = ok
                self._pending -= 1
                if ok:
                    self._delivered += 1
                else:
                    self._failed += 1
            else:
                delay = self.backoff * 2 ** (attempt - 1)
            more = bool(stream.items)
        if more:
            self._scheduler.submit(stream, delay)

    def _head(self, stream: _Stream) -> _Item | None:
        """The next item to attempt, dropping what must not be sent any more; holds the lock."""
        if stream.generation != self._generation:
            return None
        while stream.items:
            if stream.registration.deleted:
                self._pending -= len(stream.items)
                stream.items.clear()
                return None
            item = stream.items[0]
            if item.duplicate and not stream.previous_delivered:
                stream.items.popleft()
                self._pending -= 1
                continue
            return item
        return None

    def _post(self, registration: Registration, item: _Item, attempt: int) -> int | None:
        """One signed POST; the receiver's status code, or None if there was no HTTP answer."""
        parts = urlsplit(registration.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        timestamp = int(time.time())
        secret = registration.secret
        if item.bad_signature and attempt == 1:
            secret = f"whsec_{secrets.token_urlsafe(32)}"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: item.event.type,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, item.event.body),
            "Connection": "close",
        }
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=self.timeout)
        with self._lock:
            self._connections.add(conn)
        try:
            conn.request("POST", target, body=item.event.body, headers=headers)
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            return response.status
        except (OSError, http.client.HTTPException, ValueError):  # ValueError: a URL http.client refuses
            return None
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _write_log(self, line: str) -> None:
        """Event type, registration id, status, attempt: never URLs, bodies, secrets or phone numbers."""
        if self._log is None:
            return
        with self._log_lock:
            self._log.write(f"{utc_iso(datetime.now(UTC))} {line}\n")
            self._log.flush()


def _campaign_events(campaign_id: str, start: datetime, phones: list[str], outcomes: list[Outcome]) -> list[Event]:
    """The campaign's events in their natural order.

    ``created_at`` is when the sandbox emitted them (all at once, when the campaign was created);
    the calls run on a simulated timeline from then, all in parallel, so ``ended_at`` and
    ``completed_at`` can lie minutes after the delivery.
    """
    created_at = utc_iso(start)
    completed_at = start + timedelta(seconds=max((o.duration_seconds for o in outcomes), default=0))

    def event(kind: str, data: dict[str, Any]) -> Event:
        event_id = f"evt_{uuid.uuid4().hex}"
        payload = {"id": event_id, "type": kind, "created_at": created_at, "data": data}
        return Event(event_id, kind, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))

    events = [event("campaign.started", {"campaign_id": campaign_id, "started_at": created_at})]
    for phone, outcome in zip(phones, outcomes, strict=True):
        data = {
            "campaign_id": campaign_id,
            "call_id": f"call_{uuid.uuid4().hex}",
            "phone_number": phone,
            "attempt": 1,
            "status": outcome.status,
            "disposition": outcome.disposition,
            "duration_seconds": outcome.duration_seconds,
            "started_at": created_at,
            "ended_at": utc_iso(start + timedelta(seconds=outcome.duration_seconds)),
        }
        events.append(event("call.completed", data))
    events.append(
        event(
            "campaign.completed",
            {"campaign_id": campaign_id, "completed_at": utc_iso(completed_at), "calls": len(phones)},
        )
    )
    return events
