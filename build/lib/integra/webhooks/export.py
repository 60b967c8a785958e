"""Call outcomes and campaign progress from the ledger to the warehouse, and counts for Asset events.

Rows go to each campaign's ``outcomes_conn_id`` (its warehouse unless the definition says otherwise),
through the connection's common-sql hook: missing tables are created with SQLAlchemy, then the rows are
deleted by key and inserted with ``insert_rows``, so an export interrupted anywhere is simply repeated.
A row is marked exported in the ledger only after the warehouse has it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

warehouse_metadata = sa.MetaData()

#: One row per call attempt, keyed by the event that reported it (stable: the first report wins).
OUTCOMES = sa.Table(
    "integra_outcomes",
    warehouse_metadata,
    sa.Column("event_id", sa.String(100), primary_key=True),
    sa.Column("campaign_id", sa.String(64), nullable=False),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("campaign_key", sa.String(255)),
    sa.Column("lead_id", sa.String(255)),
    sa.Column("phone_e164", sa.String(20), nullable=False),
    sa.Column("phone_masked", sa.String(20), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("call_id", sa.String(100)),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("disposition", sa.String(100)),
    sa.Column("answered", sa.SmallInteger, nullable=False),  # 0/1: a portable flag that sums in every SQL
    sa.Column("opted_out", sa.SmallInteger, nullable=False),
    sa.Column("duration_seconds", sa.Integer),
    sa.Column("started_at", sa.DateTime),
    sa.Column("ended_at", sa.DateTime),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
)

#: One row per Integra campaign: its progress as the last export saw it (timestamps in UTC).
PROGRESS = sa.Table(
    "integra_campaign_progress",
    warehouse_metadata,
    sa.Column("campaign_id", sa.String(64), primary_key=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("campaign_key", sa.String(255)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", sa.DateTime),
    sa.Column("completed_at", sa.DateTime),
    sa.Column("calls", sa.Integer),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

#: Keys per DELETE ... IN (...): well under every driver's parameter limit.
DELETE_CHUNK = 500


@dataclass
class CampaignCounts:
    """What one Integra campaign's newly exported outcomes say, for its Asset event."""

    dag_id: str
    campaign_id: str
    answered: int = 0
    not_answered: int = 0
    opted_out: int = 0
    status: str | None = None

    def as_extra(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "campaign_id": self.campaign_id,
            "answered": self.answered,
            "not_answered": self.not_answered,
            "opted_out": self.opted_out,
            "campaign_status": self.status,
        }


@dataclass
class ExportResult:
    outcomes: int = 0
    statuses: int = 0
    campaigns: dict[str, CampaignCounts] = field(default_factory=dict)


def _cell(value: Any) -> Any:
    """Warehouse timestamps are plain UTC (every driver takes a naive datetime) and flags are 0/1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _write(hook: Any, table: sa.Table, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Delete ``rows`` by ``key``, then insert them: repeating an interrupted export leaves one copy."""
    columns = [c.name for c in table.columns]
    for start in range(0, len(rows), DELETE_CHUNK):
        chunk = rows[start : start + DELETE_CHUNK]
        marks = ", ".join([hook.placeholder] * len(chunk))
        hook.run(f"DELETE FROM {table.name} WHERE {key} IN ({marks})", parameters=[r[key] for r in chunk])
    values = [tuple(_cell(row.get(c)) for c in columns) for row in rows]
    hook.insert_rows(table.name, values, target_fields=columns, commit_every=5_000, executemany=True)


def export(
    ledger: Any,
    targets: Mapping[str, str],
    *,
    hooks: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Export what is new for each DAG in ``targets`` (dag_id → warehouse connection id)."""
    from integra.ledger import outcomes as ledger_outcomes
    from integra.sql import get_db_hook

    result = ExportResult()
    by_conn: dict[str, list[str]] = defaultdict(list)
    for dag_id, conn_id in targets.items():
        by_conn[conn_id].append(dag_id)
    for conn_id, dag_ids in by_conn.items():
        outcome_rows = ledger_outcomes.pending_outcomes(ledger, dag_ids)
        status_rows = ledger_outcomes.pending_statuses(ledger, dag_ids)
        if not outcome_rows and not status_rows:
            continue
        hook = (hooks or {}).get(conn_id) or get_db_hook(conn_id)
        warehouse_metadata.create_all(hook.get_sqlalchemy_engine(), checkfirst=True)
        _write(hook, OUTCOMES, "event_id", outcome_rows)
        _write(hook, PROGRESS, "campaign_id", status_rows)
        ledger_outcomes.mark_exported(ledger, outcome_rows, status_rows)
        log.info("Exported %d outcomes and %d campaign statuses to '%s'", len(outcome_rows), len(status_rows), conn_id)
        result.outcomes += len(outcome_rows)
        result.statuses += len(status_rows)
        _count(result, outcome_rows, status_rows)
    return result


Rows = Sequence[Mapping[str, Any]]


def _count(result: ExportResult, outcome_rows: Rows, status_rows: Rows) -> None:
    for row in outcome_rows:
        counts = result.campaigns.setdefault(row["campaign_id"], CampaignCounts(row["dag_id"], row["campaign_id"]))
        if row["answered"]:
            counts.answered += 1
        else:
            counts.not_answered += 1
        counts.opted_out += int(bool(row["opted_out"]))
    for row in status_rows:
        counts = result.campaigns.setdefault(row["campaign_id"], CampaignCounts(row["dag_id"], row["campaign_id"]))
        counts.status = row["status"]
