"""Exactly-once, in one place: batch keys and the claim state machine.

Integra documents no idempotency and no look-up, so the ledger keeps the promise. Before a POST the
batch's key is *claimed* (a primary key makes concurrent workers safe) with its members in the same
transaction; every transition after that is a compare-and-set::

    (none) ──claim──► sending ──► created | not_created | unknown
    not_created / skipped ──retake──► sending          (nothing exists: safe)
    sending / unknown ──retake──► sending              (only for a key a person listed in resend_keys)
    (none) / not_created ──skip──► skipped

Who may have been phoned is read by :mod:`integra.ledger.history`; a person settles an unknown
outcome with :mod:`integra.ledger.recovery`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from integra.ledger import tables
from integra.ledger.history import capped_detail, over_cap
from integra.ledger.status import NOTHING_CREATED, Status
from integra.ledger.store import (
    Ledger,
    bulk_insert,
    clip,
    insert_ignore,
    upsert,
    utc_now,
)

if TYPE_CHECKING:
    from integra.policy.contact import ContactPolicy

#: A ``sending`` key this young may still have a live worker behind it: never retaken, whatever a param says.
DEFAULT_STALE_AFTER = timedelta(hours=1)


class ClaimState(enum.Enum):
    CLAIMED = "claimed"  # this attempt owns the key: POST (the members not capped)
    EXISTS = "exists"  # a campaign already exists: POST nothing, return it
    IN_DOUBT = "in_doubt"  # claimed earlier, outcome unknown: a person must look
    ALL_CAPPED = "all_capped"  # every member is over the contact policy's cap: nothing to send (skipped)


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    row: dict[str, Any]
    #: Numbers left out by the contact policy → keys of the batches that hold them.
    capped: dict[str, list[str]] = field(default_factory=dict)


def day_text(interval_end: datetime) -> str:
    """The run's day as it appears in keys: the end of its data interval, UTC, to the second."""
    return interval_end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def batch_digest(secret: bytes, numbers: Sequence[str]) -> str:
    """Order-independent HMAC-SHA256 of a batch's numbers, keyed by the ledger's own secret.

    Keyed, because a key travels in headers, names and logs, and an unkeyed hash of a phone number is
    reversed by trying every number.
    """
    return hmac.new(secret, "\n".join([*sorted(numbers), ""]).encode("utf-8"), hashlib.sha256).hexdigest()


def batch_key(dag_id: str, interval_end: datetime, batch_number: int, digest: str) -> str:
    """Same DAG, same day the run is for, same batch, same people → same key; never ``now()``."""
    return f"{dag_id}:{day_text(interval_end)}:b{batch_number}:{digest[:16]}"


def short_key(key: str) -> str:
    """What goes into the campaign name, so a person finds the campaign in the Integra panel."""
    return key.rsplit(":", 1)[-1][:8]


@dataclass(frozen=True)
class BatchRecord:
    """What names one batch in ``integra_campaigns``: written alike by a claim and by a skip."""

    key: str
    dag_id: str
    run_id: str
    interval_end: datetime
    batch_number: int
    batch_count: int
    digest: str
    name: str
    recipients_count: int

    def row(self, status: Status, now: datetime, **columns: Any) -> dict[str, Any]:
        values = asdict(self)
        return {
            "campaign_key": values.pop("key"),
            "batch_digest": values.pop("digest"),
            **values,
            "status": status.value,
            "attempts": 1,
            "claimed_at": now,
            "updated_at": now,
            **columns,
        }


def get(ledger: Ledger, key: str, connection: sa.Connection | None = None) -> dict[str, Any] | None:
    query = sa.select(tables.campaigns).where(tables.campaigns.c.campaign_key == key)
    if connection is not None:
        row = connection.execute(query).mappings().first()
    else:
        with ledger.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def claim(
    ledger: Ledger,
    batch: BatchRecord,
    *,
    scheduled_at: datetime,
    members: Sequence[Mapping[str, Any]],
    resend_keys: Collection[str] = (),
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    policy: ContactPolicy | None = None,
) -> Claim:
    """Take the key before POSTing; of any number of concurrent callers exactly one gets CLAIMED.

    Claims on one ledger take turns (a row lock on PostgreSQL/MySQL, SQLite's write lock), so the
    contact policy's cap is checked against every other campaign's committed batches and cannot be
    overrun by two campaigns claiming at once. Members over the cap are left out and recorded as
    ``capped``; the others are written in the claim's transaction, so the ledger knows who may have
    been phoned even if the process dies right after the POST.
    """
    now = utc_now()
    # Only a member's own columns are per row; the batch's key, day and claim time are shared (bulk_insert).
    people = [m if isinstance(m["lead_id"], str) else {**m, "lead_id": str(m["lead_id"])} for m in members]
    with ledger.engine.begin() as conn:
        _take_turn(conn)
        numbers = [p["phone_e164"] for p in people]
        capped = (
            over_cap(
                conn,
                dag_id=batch.dag_id,
                interval_end=batch.interval_end,
                scheduled_at=scheduled_at,
                numbers=numbers,
                policy=policy,
            )
            if policy
            else {}
        )
        kept = [p for p in people if p["phone_e164"] not in capped] if capped else people
        dropped = [p for p in people if p["phone_e164"] in capped] if capped else []
        status, reason = (Status.SENDING, None) if kept or not people else (Status.SKIPPED, ALL_CAPPED_REASON)
        values = batch.row(status, now, scheduled_at=scheduled_at, last_error=reason, recipients_count=len(kept))
        if conn.execute(insert_ignore(conn, tables.campaigns), values).rowcount == 1:
            return _write_people(conn, batch, values, kept, dropped, capped, now)
        row = get(ledger, batch.key, conn)
        assert row is not None, "the key was there a moment ago"
        if row["status"] == Status.CREATED and row["campaign_id"]:
            return Claim(ClaimState.EXISTS, row)
        if not may_retake(row, resend_keys, now, stale_after):
            return Claim(ClaimState.IN_DOUBT, row)
        retake = {k: v for k, v in values.items() if k not in ("campaign_key", "claimed_at", "attempts")}
        changed = conn.execute(compare_and_set(row).values(**retake, attempts=tables.campaigns.c.attempts + 1)).rowcount
        if changed != 1:  # pragma: no cover - claims take turns; kept as the compare-and-set's own guard
            return Claim(ClaimState.IN_DOUBT, get(ledger, batch.key, conn) or row)
        conn.execute(tables.recipients.delete().where(tables.recipients.c.campaign_key == batch.key))
        row = {**row, **retake, "attempts": row["attempts"] + 1}
        return _write_people(conn, batch, row, kept, dropped, capped, now)


#: A member's own columns in ``integra_campaign_recipients`` (the rest are the batch's).
MEMBER_COLUMNS = ("lead_id", "phone_e164", "phone_masked", "recipient_name")
ALL_CAPPED_REASON = "every recipient is over the contact policy's cap (phoned by another campaign): nothing to send"


def _take_turn(connection: sa.Connection) -> None:
    """Serialise claims on this ledger until the transaction ends (SQLite's BEGIN IMMEDIATE already does)."""
    meta = tables.meta
    connection.execute(sa.select(meta.c.name).where(meta.c.name == "digest_secret").with_for_update())


def _write_people(
    conn: sa.Connection,
    batch: BatchRecord,
    row: dict[str, Any],
    kept: Sequence[Mapping[str, Any]],
    dropped: Sequence[Mapping[str, Any]],
    capped: dict[str, list[str]],
    now: datetime,
) -> Claim:
    """The members who may be phoned, and a ``capped`` rejection (naming the holder) for each left out."""
    shared = {"campaign_key": batch.key, "dag_id": batch.dag_id, "interval_end": batch.interval_end, "claimed_at": now}
    bulk_insert(conn, tables.recipients, kept, shared, columns=MEMBER_COLUMNS)
    if dropped:
        conn.execute(
            upsert(conn, tables.rejected_leads, ("run_id", "field", "detail", "original_value", "recorded_at")),
            [
                {
                    "dag_id": batch.dag_id,
                    "interval_end": batch.interval_end,
                    "lead_id": person["lead_id"],
                    "reason": "capped",
                    "run_id": batch.run_id,
                    "field": "phone",
                    "detail": clip(capped_detail(capped[person["phone_e164"]])),
                    "original_value": person["phone_masked"],
                    "recorded_at": now,
                }
                for person in dropped
            ],
        )
    state = ClaimState.ALL_CAPPED if row["status"] == Status.SKIPPED else ClaimState.CLAIMED
    return Claim(state, row, capped)


def may_retake(row: Mapping[str, Any], resend_keys: Collection[str], now: datetime, stale_after: timedelta) -> bool:
    """Whether a later attempt may take this key again: the one rule, for the claim and for the operator."""
    if row["status"] in NOTHING_CREATED:
        return True
    if row["campaign_key"] not in resend_keys:
        return False
    if row["status"] == Status.SENDING:
        return bool(now - row["updated_at"] >= stale_after)  # a live worker may still be sending it
    return row["status"] == Status.UNKNOWN


def compare_and_set(seen: Mapping[str, Any]) -> sa.Update:
    """An UPDATE that applies only if the row is still as ``seen`` (status and attempt count)."""
    c = tables.campaigns.c
    return tables.campaigns.update().where(
        c.campaign_key == seen["campaign_key"], c.status == seen["status"], c.attempts == seen["attempts"]
    )


def confirm(ledger: Ledger, key: str, *, campaign_id: str, scheduled_at: datetime) -> None:
    """The API created the campaign: from now on every attempt returns it (one row: its people refer to it)."""
    set_created(ledger, key, campaign_id, scheduled_at=scheduled_at, only_from=(Status.SENDING.value,))


def set_created(
    ledger: Ledger, key: str, campaign_id: str, *, scheduled_at: datetime | None, only_from: Collection[str]
) -> int:
    c = tables.campaigns.c
    values: dict[str, Any] = {"status": Status.CREATED.value, "campaign_id": campaign_id, "last_error": None}
    if scheduled_at is not None:
        values["scheduled_at"] = scheduled_at
    with ledger.engine.begin() as conn:
        changed = conn.execute(
            tables.campaigns.update()
            .where(c.campaign_key == key, c.status.in_(only_from))
            .values(**values, updated_at=utc_now())
        ).rowcount
    return int(changed)


def release(ledger: Ledger, key: str, error: str) -> None:
    """This attempt provably created nothing (4xx, refused connection, 429): a later attempt may POST."""
    _transition(ledger, key, Status.NOT_CREATED, error)


def mark_unknown(ledger: Ledger, key: str, error: str) -> None:
    """The answer was lost (timeout, cut connection, 5xx): only a person may have it sent again."""
    _transition(ledger, key, Status.UNKNOWN, error)


def _transition(ledger: Ledger, key: str, status: Status, error: str) -> int:
    c = tables.campaigns.c
    with ledger.engine.begin() as conn:
        return int(
            conn.execute(
                tables.campaigns.update()
                .where(c.campaign_key == key, c.status == Status.SENDING.value)
                .values(status=status.value, last_error=clip(error), updated_at=utc_now())
            ).rowcount
        )


def record_skip(ledger: Ledger, batch: BatchRecord, *, reason: str) -> None:
    """The late policy skipped this batch: recorded with status ``skipped``, so the day says why.

    Only a batch that created nothing becomes ``skipped``; one that exists or may exist is never touched.
    """
    now = utc_now()
    with ledger.engine.begin() as conn:
        values = batch.row(Status.SKIPPED, now, scheduled_at=None, last_error=clip(reason))
        if conn.execute(insert_ignore(conn, tables.campaigns), values).rowcount == 1:
            return
        c = tables.campaigns.c
        conn.execute(
            tables.campaigns.update()
            .where(c.campaign_key == batch.key, c.status.in_(NOTHING_CREATED))
            .values(status=Status.SKIPPED.value, last_error=clip(reason), updated_at=now)
        )


def campaigns_for_day(ledger: Ledger, dag_id: str, interval_end: datetime) -> list[dict[str, Any]]:
    c = tables.campaigns.c
    query = (
        sa.select(tables.campaigns)
        .where(c.dag_id == dag_id, c.interval_end == interval_end)
        .order_by(c.batch_number, c.campaign_key)
    )
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
