"""Retention of personal data in the ledger: after ``retention_days``, names go and numbers become keyed hashes.

What exactly-once and the contact rules need survives: batch keys and their states (keyed digests
already), who was in which batch (the lead id and a pseudonym of the number), counts, campaign ids.
What identifies a person goes: full numbers and names of batch members, the original values of
rejected leads, the raw webhook payloads and the full numbers of call outcomes.

Safe because nothing that decides a call looks back that far: the contact policy refuses a
``retention_days`` that is not longer than every look-back (``per_days``, each campaign's
``cooldown_days`` and ``lookback_hours``), and a run whose look-back would reach pseudonymised history
(a very late backfill) fails instead of deciding on incomplete data (:func:`check_history`). The
suppression list is kept in full: it exists to remember a number.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from integra.exceptions import IntegraError
from integra.ledger import tables
from integra.ledger.store import Ledger, utc_now

#: A pseudonymised number: never a valid E.164 number (it has no ``+``), and it fits the column.
PREFIX = "h:"
#: Rows per UPDATE round: bounded transactions on a large ledger.
CHUNK = 5_000


class HistoryGoneError(IntegraError):
    """A run would need ledger history that retention has already pseudonymised."""


def pseudonym(secret: bytes, number: str) -> str:
    """A keyed hash of the number: equal numbers stay equal, and the number cannot be read back."""
    return PREFIX + hmac.new(secret, number.encode("utf-8"), hashlib.sha256).hexdigest()[:18]


def horizon(retention_days: int, now: datetime | None = None) -> datetime:
    """Rows older than this hold no full number or name."""
    return (now or utc_now()) - timedelta(days=retention_days)


def check_history(needed_from: datetime, retention_days: int | None, now: datetime | None = None) -> None:
    """Fail when a run's look-back starts before the retention horizon: its decisions would miss people."""
    if retention_days and needed_from < horizon(retention_days, now):
        raise HistoryGoneError(
            f"this run needs the ledger's history from {needed_from:%Y-%m-%d %H:%M} UTC, but retention_days="
            f"{retention_days} has pseudonymised everything before {horizon(retention_days, now):%Y-%m-%d %H:%M} "
            "UTC: it could not tell who was already phoned. Days this old cannot be run again."
        )


def apply_retention(ledger: Ledger, retention_days: int, *, now: datetime | None = None) -> dict[str, int]:
    """Pseudonymise or delete personal data older than ``retention_days``; returns rows changed per table."""
    cutoff = horizon(retention_days, now)
    secret = ledger.digest_secret
    recipients, outcomes, campaigns = tables.recipients, tables.call_outcomes, tables.campaigns
    # A batch counts against the contact cap around its scheduled_at, which a person may have set later
    # than the claim: its members keep their numbers until both are past the horizon.
    old_batches = sa.select(campaigns.c.campaign_key).where(
        campaigns.c.claimed_at < cutoff, sa.or_(campaigns.c.scheduled_at.is_(None), campaigns.c.scheduled_at < cutoff)
    )
    counts = {
        "recipients": _pseudonymise(
            ledger,
            recipients,
            keys=(recipients.c.campaign_key, recipients.c.lead_id),
            when=sa.and_(recipients.c.claimed_at < cutoff, recipients.c.campaign_key.in_(old_batches)),
            secret=secret,
            clear={"recipient_name": ""},
        ),
        "call_outcomes": _pseudonymise(
            ledger,
            outcomes,
            keys=(outcomes.c.campaign_id, outcomes.c.phone_e164, outcomes.c.attempt),
            when=outcomes.c.recorded_at < cutoff,
            secret=secret,
            clear={},
        ),
    }
    rejected, events, approvals = tables.rejected_leads, tables.webhook_events, tables.approvals
    with ledger.engine.begin() as conn:
        counts["rejected_leads"] = int(
            conn.execute(
                rejected.update()
                .where(rejected.c.recorded_at < cutoff, rejected.c.original_value.is_not(None))
                .values(original_value=None, detail=None)
            ).rowcount
            or 0
        )
        counts["webhook_events"] = int(
            conn.execute(
                events.update()
                # Only what was acted on: a failed or unprocessed event keeps its payload for the fix that
                # processes it. The row stays, so a late duplicate delivery is still recognised.
                .where(
                    events.c.received_at < cutoff, events.c.payload != "", events.c.status.in_(("processed", "ignored"))
                )
                .values(payload="")
            ).rowcount
            or 0
        )
        counts["approvals"] = int(
            conn.execute(
                approvals.update()
                .where(approvals.c.requested_at < cutoff, approvals.c.shown != "")
                .values(shown="")  # what the approver saw held first names and masked numbers
            ).rowcount
            or 0
        )
    return counts


def _drop_duplicates(
    conn: sa.Connection,
    table: sa.Table,
    key_columns: list[sa.Column[Any]],
    names: list[str],
    params: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Delete the rows whose pseudonymised key exists already (the same call reported again after its first
    report was pseudonymised); return the others to update."""
    phone = table.c.phone_e164
    existing = {
        tuple(row) for row in conn.execute(sa.select(*key_columns).where(phone.in_({p["pseudonym"] for p in params})))
    }
    keep = []
    for p in params:
        pseudonymised = tuple(
            p["pseudonym"] if c.name == "phone_e164" else p[n] for c, n in zip(key_columns, names, strict=True)
        )
        if pseudonymised in existing:
            conn.execute(table.delete().where(*(c == p[n] for c, n in zip(key_columns, names, strict=True))))
        else:
            keep.append(p)
    return keep


def _pseudonymise(
    ledger: Ledger,
    table: sa.Table,
    *,
    keys: Iterable[sa.Column[Any]],
    when: sa.ColumnElement[bool],
    secret: bytes,
    clear: dict[str, Any],
) -> int:
    key_columns = list(keys)
    phone = table.c.phone_e164
    query = sa.select(*key_columns, phone).where(when, sa.not_(phone.startswith(PREFIX))).limit(CHUNK)
    changed = 0
    names = [f"k_{column.name}" for column in key_columns]
    update = (
        table.update()
        .where(*(column == sa.bindparam(name) for column, name in zip(key_columns, names, strict=True)))
        .values(phone_e164=sa.bindparam("pseudonym"), **clear)
    )
    in_key = phone.primary_key
    while True:
        with ledger.engine.begin() as conn:
            rows = list(conn.execute(query))
            params = [
                {**dict(zip(names, row[:-1], strict=True)), "pseudonym": pseudonym(secret, row[-1])} for row in rows
            ]
            if in_key:  # the number is part of the key: a row already pseudonymised under it makes this a duplicate
                params = _drop_duplicates(conn, table, key_columns, names, params)
            if params:  # one executemany per chunk, not a round trip per row
                conn.execute(update, params)
        changed += len(rows)
        if len(rows) < CHUNK:
            return changed
