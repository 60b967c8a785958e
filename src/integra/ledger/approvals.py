"""Approval requests in the ledger: what a person was shown, what they decided, and when.

The recent good days that make the baseline are read from ``integra_runs`` here too, so the gate's
questions to the ledger live in one place.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from integra.ledger import tables
from integra.ledger.store import Ledger, utc_now


class Decision(StrEnum):
    WAITING = "waiting"
    NOT_NEEDED = "not_needed"
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "approval_timed_out"


def recent_sent(ledger: Ledger, dag_id: str, before: datetime, limit: int) -> list[int]:
    """``sent`` of the campaign's latest ``limit`` good days (status ``ok``) before ``before``."""
    runs = tables.runs
    query = (
        sa.select(runs.c.sent)
        .where(runs.c.dag_id == dag_id, runs.c.interval_end < before, runs.c.status == "ok")
        .order_by(runs.c.interval_end.desc())
        .limit(limit)
    )
    with ledger.engine.connect() as conn:
        return [int(value) for value in conn.execute(query).scalars()]


def record_request(ledger: Ledger, row: dict[str, Any]) -> datetime:
    """A new request (``waiting`` or ``not_needed``); returns its ``requested_at``, which names it."""
    requested_at = utc_now()
    with ledger.engine.begin() as conn:
        conn.execute(sa.insert(tables.approvals).values(**row, requested_at=requested_at))
    return requested_at


def record_decision(
    ledger: Ledger,
    *,
    dag_id: str,
    interval_end: datetime,
    requested_at: datetime,
    decision: Decision,
    decided_by: str | None,
    decided_at: datetime | None,
) -> None:
    approvals = tables.approvals
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.update(approvals)
            .where(
                approvals.c.dag_id == dag_id,
                approvals.c.interval_end == interval_end,
                approvals.c.requested_at == requested_at,
            )
            .values(status=decision.value, decided_by=decided_by, decided_at=decided_at or utc_now())
        )


def requests_for_day(ledger: Ledger, dag_id: str, interval_end: datetime) -> list[dict[str, Any]]:
    """Every request of the day, oldest first."""
    approvals = tables.approvals
    query = (
        sa.select(approvals)
        .where(approvals.c.dag_id == dag_id, approvals.c.interval_end == interval_end)
        .order_by(approvals.c.requested_at)
    )
    with ledger.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
