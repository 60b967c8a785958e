"""Webhook events and call outcomes in the ledger: stored once, then processed in their own transaction.

Persist first: an accepted delivery is one row of ``integra_webhook_events`` keyed by its event id, so
a duplicate delivery changes nothing. Then process: the event's effects (an outcome row, an opt-out on
the suppression list, the campaign's progress) and its ``processed`` status are written together, so
an event is either fully processed or still waiting for the next attempt; re-processing is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from integra import contract
from integra.ledger import tables
from integra.ledger.store import Ledger, clip, dialect_insert, insert_ignore, utc_now
from integra.masking import mask_phone
from integra.policy.contact import ContactPolicy
from integra.webhooks.events import CallCompleted, CampaignProgress, Envelope, EventError, data_of

log = logging.getLogger(__name__)

RECEIVED, PROCESSED, IGNORED, FAILED = "received", "processed", "ignored", "failed"
SUPPRESSION_SOURCE = "integra_webhook"
#: Events still ``received`` this long after arrival were interrupted (a crash between the two
#: transactions); younger ones may be in the hands of the request that stored them.
STALE_AFTER = timedelta(minutes=2)


def store_event(ledger: Ledger, event_id: str, envelope: Envelope | None, payload: bytes, signed_at: datetime) -> bool:
    """Store a delivery once; False when its event id was already stored (a duplicate or replay)."""
    row = {
        "event_id": event_id,
        "event_type": envelope.event_type if envelope else "unreadable",
        "created_at": envelope.created_at if envelope and envelope.created_at and envelope.created_at.tzinfo else None,
        "signed_at": signed_at,
        "received_at": utc_now(),
        "status": RECEIVED if envelope else FAILED,
        "error": None if envelope else "not a JSON event with an id and a type",
        "payload": payload.decode("utf-8", "replace"),
    }
    with ledger.engine.begin() as conn:
        return bool(conn.execute(insert_ignore(conn, tables.webhook_events), row).rowcount)


def process_event(ledger: Ledger, envelope: Envelope, policy: ContactPolicy) -> str:
    """Apply one stored event and mark it; returns its new status. Never raises for a bad event."""
    events = tables.webhook_events
    try:
        with ledger.engine.begin() as conn:
            status = _apply(conn, envelope, policy)
            conn.execute(
                events.update()
                .where(events.c.event_id == envelope.event_id)
                .values(status=status, error=None, processed_at=utc_now())
            )
        return status
    except (EventError, sa.exc.SQLAlchemyError) as exc:
        reason = str(exc) if isinstance(exc, EventError) else f"ledger error: {type(exc).__name__}"
        log.warning("Webhook event %s (%s) not processed: %s", envelope.event_id, envelope.event_type, reason)
        with ledger.engine.begin() as conn:
            conn.execute(
                events.update().where(events.c.event_id == envelope.event_id).values(status=FAILED, error=clip(reason))
            )
        return FAILED


def _apply(conn: sa.Connection, envelope: Envelope, policy: ContactPolicy) -> str:
    if envelope.event_type == contract.EVENT_CALL_COMPLETED:
        _record_call(conn, envelope, data_of(CallCompleted, envelope), policy)
        return PROCESSED
    if envelope.event_type in (contract.EVENT_CAMPAIGN_STARTED, contract.EVENT_CAMPAIGN_COMPLETED):
        _record_progress(conn, envelope, data_of(CampaignProgress, envelope))
        return PROCESSED
    return IGNORED  # stored with its raw JSON; a later version of this code may act on it


def _record_call(conn: sa.Connection, envelope: Envelope, call: CallCompleted, policy: ContactPolicy) -> None:
    opted_out = policy.opts_out(call.disposition)
    row = {
        "campaign_id": call.campaign_id,
        "phone_e164": call.phone_number,
        "attempt": call.attempt,
        "call_id": call.call_id,
        "event_id": envelope.event_id,
        **_lead_of(conn, call.campaign_id, call.phone_number),
        "phone_masked": mask_phone(call.phone_number),
        "status": call.status.strip().lower(),
        "disposition": call.disposition.strip().lower() if call.disposition else None,
        "answered": call.answered,
        "opted_out": opted_out,
        "duration_seconds": call.duration_seconds,
        "started_at": _aware(call.started_at),
        "ended_at": _aware(call.ended_at),
        "recorded_at": utc_now(),
    }
    conn.execute(insert_ignore(conn, tables.call_outcomes), row)  # the same attempt reported twice: first wins
    if opted_out:
        reason = f"Integra call outcome '{row['disposition']}' (event {envelope.event_id}, campaign {call.campaign_id})"
        suppression = {
            "phone_e164": call.phone_number,
            "reason": clip(reason),
            "source": SUPPRESSION_SOURCE,
            "added_at": utc_now(),
        }
        conn.execute(insert_ignore(conn, tables.suppression_list), suppression)


def _lead_of(conn: sa.Connection, campaign_id: str, phone: str) -> dict[str, Any]:
    """The ledger's batch and lead for a call, or Nones while the campaign id is not yet recorded."""
    campaigns, recipients = tables.campaigns, tables.recipients
    query = (
        sa.select(campaigns.c.campaign_key, campaigns.c.dag_id, recipients.c.lead_id)
        .select_from(campaigns)
        .outerjoin(
            recipients,
            sa.and_(recipients.c.campaign_key == campaigns.c.campaign_key, recipients.c.phone_e164 == phone),
        )
        .where(campaigns.c.campaign_id == campaign_id)
        .limit(1)
    )
    found = conn.execute(query).first()
    if found is None:
        return {"campaign_key": None, "dag_id": None, "lead_id": None}
    return {"campaign_key": found.campaign_key, "dag_id": found.dag_id, "lead_id": found.lead_id}


def _record_progress(conn: sa.Connection, envelope: Envelope, progress: CampaignProgress) -> None:
    """Campaign progress only moves forward, whatever order the events arrive in."""
    table = tables.campaign_status
    completed = envelope.event_type == contract.EVENT_CAMPAIGN_COMPLETED
    row = {
        "campaign_id": progress.campaign_id,
        "status": "completed" if completed else "started",
        "started_at": _aware(progress.started_at),
        "completed_at": _aware(progress.completed_at) if completed else None,
        "calls": progress.calls if completed else None,
        "updated_at": utc_now(),
    }
    statement = dialect_insert(conn, table)
    new = statement.inserted if conn.dialect.name == "mysql" else statement.excluded
    merged = {
        "status": sa.case((table.c.status == "completed", table.c.status), else_=new.status),
        "started_at": sa.func.coalesce(table.c.started_at, new.started_at),
        "completed_at": sa.func.coalesce(table.c.completed_at, new.completed_at),
        "calls": sa.func.coalesce(new.calls, table.c.calls),
        "updated_at": new.updated_at,
        "exported_at": sa.null(),
    }
    if conn.dialect.name == "mysql":
        conn.execute(statement.on_duplicate_key_update(merged), row)
    else:
        conn.execute(statement.on_conflict_do_update(index_elements=["campaign_id"], set_=merged), row)


def _aware(value: datetime | None) -> datetime | None:
    return value if value is not None and value.tzinfo is not None else None


def process_pending(ledger: Ledger, policy: ContactPolicy, *, limit: int = 10_000) -> dict[str, int]:
    """Process events left ``received`` (a crash between store and process) or ``failed`` (code since
    corrected): the outcomes DAG's first step. Returns how many ended in each status."""
    events = tables.webhook_events
    query = (
        sa.select(events.c.event_id, events.c.payload)
        .where(
            sa.or_(
                sa.and_(events.c.status == RECEIVED, events.c.received_at < utc_now() - STALE_AFTER),
                events.c.status == FAILED,
            )
        )
        .order_by(events.c.received_at)
        .limit(limit)
    )
    from integra.webhooks.events import read_envelope

    with ledger.engine.connect() as conn:
        rows = list(conn.execute(query))
    counts: dict[str, int] = {}
    for event_id, payload in rows:
        envelope, _ = read_envelope(payload.encode("utf-8"))
        if envelope is None or envelope.event_id != event_id:
            counts[FAILED] = counts.get(FAILED, 0) + 1
            continue
        status = process_event(ledger, envelope, policy)
        counts[status] = counts.get(status, 0) + 1
    return counts


def link_outcomes(ledger: Ledger) -> int:
    """Give outcomes that arrived before their campaign id was recorded their batch, DAG and lead."""
    outcomes = tables.call_outcomes
    with ledger.engine.connect() as conn:
        unlinked = list(
            conn.execute(
                sa.select(outcomes.c.campaign_id, outcomes.c.phone_e164, outcomes.c.attempt).where(
                    outcomes.c.campaign_key.is_(None)
                )
            )
        )
    linked = 0
    for campaign_id, phone, attempt in unlinked:
        with ledger.engine.begin() as conn:
            lead = _lead_of(conn, campaign_id, phone)
            if lead["campaign_key"] is None:
                continue
            conn.execute(
                outcomes.update()
                .where(
                    outcomes.c.campaign_id == campaign_id,
                    outcomes.c.phone_e164 == phone,
                    outcomes.c.attempt == attempt,
                )
                .values(**lead, recorded_at=utc_now(), exported_at=None)
            )
            linked += 1
    return linked


def pending_outcomes(ledger: Ledger, dag_ids: Sequence[str], limit: int = 50_000) -> list[dict[str, Any]]:
    """Outcomes of these DAGs not exported since they were recorded or linked: the outcomes DAG's input."""
    outcomes = tables.call_outcomes
    query = (
        sa.select(outcomes)
        .where(outcomes.c.dag_id.in_(list(dag_ids)), outcomes.c.exported_at.is_(None))
        .order_by(outcomes.c.recorded_at)
        .limit(limit)
    )
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def pending_statuses(ledger: Ledger, dag_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Campaign progress of these DAGs changed since its last export, with the batch it belongs to."""
    status, campaigns = tables.campaign_status, tables.campaigns
    query = (
        sa.select(status, campaigns.c.campaign_key, campaigns.c.dag_id)
        .select_from(status.join(campaigns, campaigns.c.campaign_id == status.c.campaign_id))
        .where(campaigns.c.dag_id.in_(list(dag_ids)), status.c.exported_at.is_(None))
    )
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def mark_exported(ledger: Ledger, outcomes: Sequence[Mapping[str, Any]], statuses: Sequence[Mapping[str, Any]]) -> None:
    """Mark what was written to the warehouse, unless the row changed meanwhile (then it goes next time)."""
    now = utc_now()
    table, progress = tables.call_outcomes, tables.campaign_status
    with ledger.engine.begin() as conn:
        for row in outcomes:
            conn.execute(
                table.update()
                .where(
                    table.c.campaign_id == row["campaign_id"],
                    table.c.phone_e164 == row["phone_e164"],
                    table.c.attempt == row["attempt"],
                    table.c.recorded_at == row["recorded_at"],
                )
                .values(exported_at=now)
            )
        for row in statuses:
            conn.execute(
                progress.update()
                .where(progress.c.campaign_id == row["campaign_id"], progress.c.updated_at == row["updated_at"])
                .values(exported_at=now)
            )


def unlinked_count(ledger: Ledger) -> int:
    """Outcomes whose campaign id no batch of this ledger holds (yet)."""
    outcomes = tables.call_outcomes
    query = sa.select(sa.func.count()).select_from(outcomes).where(outcomes.c.campaign_key.is_(None))
    with ledger.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def events_by_status(ledger: Ledger, statuses: Sequence[str] = (RECEIVED, FAILED)) -> list[dict[str, Any]]:
    """Events not (yet) processed, without their payloads: what an operator looks at first."""
    events = tables.webhook_events
    query = sa.select(
        events.c.event_id, events.c.event_type, events.c.status, events.c.error, events.c.received_at
    ).where(events.c.status.in_(list(statuses)))
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
