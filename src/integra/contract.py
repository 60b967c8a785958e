"""Everything about the Integra API that is *assumed* rather than documented, in one place.

The public documentation fixes the request and response bodies; it is silent on status codes,
idempotency, rate limits and the panel's URLs. Each guess lives here so a correction is one line.
"""

from __future__ import annotations

import enum
import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

#: The Airflow connection the hook and operator use unless told otherwise.
DEFAULT_CONN_ID = "integra_default"
#: Documented base URL; the connection's host overrides it (sandbox, staging).
PRODUCTION_BASE_URL = "https://api.useintegra.com.br/api/v1"
#: Path appended to a connection host that has no path of its own.
API_PREFIX = "/api/v1"
CAMPAIGNS_ENDPOINT = "campaigns"
#: Documented: 1 to 10,000 recipients per campaign.
MAX_RECIPIENTS = 10_000

#: Assumed: where a person opens a campaign in the Integra panel (connection extra ``panel_url``).
DEFAULT_PANEL_URL = "https://app.useintegra.com.br"
PANEL_CAMPAIGN_PATH = "/campaigns/{campaign_id}"

#: Timeouts in seconds: connecting is cheap, creating a 10,000-recipient campaign may not be.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0

#: 429 handling: attempts in all, the longest single wait honoured, the fallback backoff.
RATE_LIMIT_ATTEMPTS = 5
RETRY_AFTER_CAP = 120.0
BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0
#: Connection refused / DNS failures: nothing was sent, so a few quick retries are safe.
CONNECT_ATTEMPTS = 3

#: Assumed: Integra may honour this header; the project never relies on it.
IDEMPOTENCY_HEADER = "Idempotency-Key"


class Outcome(enum.Enum):
    """What an HTTP status tells us about whether a campaign now exists."""

    CREATED = "created"
    RATE_LIMITED = "rate_limited"  # nothing created, try again later
    REJECTED = "rejected"  # nothing created, retrying will not help
    UNKNOWN = "unknown"  # may have been created


def classify_status(status_code: int) -> Outcome:
    """Map a status code to what it implies; anything unexpected counts as unknown (safe side)."""
    if status_code in (200, 201):
        return Outcome.CREATED
    if status_code == 429:
        return Outcome.RATE_LIMITED
    if 400 <= status_code < 500:
        return Outcome.REJECTED
    return Outcome.UNKNOWN


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None  # neither delta-seconds nor an HTTP date: ignore it, back off instead
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)


def error_details(body: str) -> tuple[str, str | None]:
    """The API's own message and the field it names, from whatever error JSON came back."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return (body.strip()[:300] or "no message"), None
    if not isinstance(data, dict):
        return str(data)[:300], None
    field = None
    details = data.get("details") or data.get("errors")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        field = details[0].get("field") or details[0].get("loc")
        if isinstance(field, list):
            field = ".".join(str(part) for part in field)
    message = data.get("message") or data.get("detail") or data.get("error") or "no message"
    return str(message)[:500], (str(field) if field else None)


def panel_campaign_url(panel_url: str | None, campaign_id: str) -> str:
    """Where a person sees the campaign in the Integra panel; a ``panel_url`` that is not http(s) (say,
    ``javascript:`` typed into a connection) is ignored for the default, so a link can only lead to a page."""
    from urllib.parse import quote, urlsplit

    chosen = panel_url if panel_url and urlsplit(panel_url).scheme in ("http", "https") else DEFAULT_PANEL_URL
    return chosen.rstrip("/") + PANEL_CAMPAIGN_PATH.format(campaign_id=quote(str(campaign_id), safe=""))


# --- Webhooks: documented are the three events and HMAC-SHA256 with a secret shown once; the rest is assumed.

WEBHOOKS_ENDPOINT = "webhooks"
#: ``airflow connections test`` asks for this registration: assumed 404 with a good token, 401/403 without.
CONNECTION_TEST_WEBHOOK_ID = "wh_connection_test"
#: The connection that holds the webhook secret (password); extra ``previous_secret`` during a rotation.
WEBHOOK_CONN_ID = "integra_webhook"
EVENT_CALL_COMPLETED = "call.completed"
EVENT_CAMPAIGN_STARTED = "campaign.started"
EVENT_CAMPAIGN_COMPLETED = "campaign.completed"
WEBHOOK_EVENTS = (EVENT_CALL_COMPLETED, EVENT_CAMPAIGN_STARTED, EVENT_CAMPAIGN_COMPLETED)
#: Assumed: ``X-Integra-Signature: sha256=<hex HMAC-SHA256(secret, b"<timestamp>." + raw body)>``.
SIGNATURE_HEADER = "X-Integra-Signature"
SIGNATURE_PREFIX = "sha256="
#: Assumed: unix seconds of the delivery attempt, part of what is signed (each retry is signed anew).
TIMESTAMP_HEADER = "X-Integra-Timestamp"
#: A delivery signed longer ago than this (either way) is refused as stale or replayed.
TIMESTAMP_TOLERANCE_S = 300
#: One event per delivery: a call's outcome is small; anything larger is refused before it is read.
MAX_WEBHOOK_BODY_BYTES = 256 * 1024
#: Assumed body: ``{"id", "type", "created_at", "data": {...}}``; the event id is unique per event.
EVENT_ID_FIELD = "id"
EVENT_TYPE_FIELD = "type"
EVENT_CREATED_FIELD = "created_at"
EVENT_DATA_FIELD = "data"
#: Assumed ``data`` of ``call.completed``: ``campaign_id``, ``call_id``, ``phone_number`` (E.164),
#: ``attempt``, ``status`` (completed, no_answer, busy, voicemail, failed), ``disposition`` (free text, set
#: when a person answered), ``duration_seconds``, ``started_at``, ``ended_at``. ``campaign.started`` has
#: ``started_at``, ``campaign.completed`` ``completed_at``; both have ``campaign_id``.
CALL_ANSWERED_STATUSES = frozenset({"completed"})
#: Assumed registration answer: ``{"id", "url", "events", "created_at", "secret"}`` (the secret only here);
#: ``GET /webhooks/{id}`` adds ``deliveries: [{"event_id", "type", "status_code", "attempts", ...}]``.
WEBHOOK_SECRET_FIELD = "secret"  # noqa: S105 - a field name, not a secret
