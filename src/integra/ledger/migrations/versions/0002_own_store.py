"""The ledger as its own store: real UTC timestamps, the run's day as ``interval_end``, a digest secret.

People no longer carry a copy of their batch's campaign id and time: the batch row is the one place.

Each table is rebuilt (old renamed to ``*_v1``, new created, rows copied in chunks, old dropped), the
one way that changes column types alike on PostgreSQL, MySQL/MariaDB and SQLite. Text timestamps of
the first version are parsed as UTC. Rows keep their keys, so a batch created before the upgrade is
still found by every later attempt.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from integra.ledger.tables import LongText, UTCDateTime

revision = "0002"
down_revision = "0001"

_CHUNK = 5_000


def _utc(value: Any) -> datetime | None:
    """A first-version timestamp (text in any ISO form, or a naive UTC datetime) as an aware UTC one."""
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _copy(old: str, new: sa.Table, convert: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
    bind = op.get_bind()
    result = bind.execute(sa.text(f"SELECT * FROM {old}").execution_options(yield_per=_CHUNK))
    for part in result.mappings().partitions(_CHUNK):
        bind.execute(new.insert(), [convert(dict(row)) for row in part])


def _rebuild(name: str, *columns: Any, convert: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
    op.rename_table(name, f"{name}_v1")
    table = op.create_table(name, *columns)
    assert table is not None
    _copy(f"{name}_v1", table, convert)
    op.drop_table(f"{name}_v1")


def upgrade() -> None:
    op.drop_index("ix_integra_campaigns_run", table_name="integra_campaigns")
    op.drop_index("ix_integra_recipients_lead", table_name="integra_campaign_recipients")
    op.drop_index("ix_integra_recipients_phone", table_name="integra_campaign_recipients")

    _rebuild(
        "integra_campaigns",
        sa.Column("campaign_key", sa.String(255), nullable=False),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("interval_end", UTCDateTime(), nullable=False),
        sa.Column("batch_number", sa.Integer(), nullable=False),
        sa.Column("batch_count", sa.Integer(), nullable=False),
        sa.Column("batch_digest", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("scheduled_at", UTCDateTime(), nullable=True),
        sa.Column("recipients_count", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_key", name="pk_integra_campaigns"),
        convert=lambda r: {
            **{k: r[k] for k in ("campaign_key", "dag_id", "run_id", "batch_number", "batch_count", "name")},
            **{k: r[k] for k in ("status", "campaign_id", "recipients_count", "attempts", "last_error")},
            "interval_end": _utc(r["logical_date"]),
            "batch_digest": r["batch_hash"],
            "scheduled_at": _utc(r["scheduled_at"]),
            "claimed_at": _utc(r["claimed_at"]),
            "updated_at": _utc(r["updated_at"]),
        },
    )
    op.create_index("ix_integra_campaigns_day", "integra_campaigns", ["dag_id", "interval_end"])
    op.create_index("ix_integra_campaigns_status", "integra_campaigns", ["status"])

    _rebuild(
        "integra_campaign_recipients",
        sa.Column("campaign_key", sa.String(255), nullable=False),
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("interval_end", UTCDateTime(), nullable=False),
        sa.Column("phone_e164", sa.String(20), nullable=False),
        sa.Column("phone_masked", sa.String(20), nullable=False),
        sa.Column("recipient_name", sa.Text(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_key", "lead_id", name="pk_integra_campaign_recipients"),
        # The campaign id and time of a person are their batch's (one row, integra_campaigns).
        convert=lambda r: {
            **{k: r[k] for k in ("campaign_key", "lead_id", "dag_id", "phone_e164", "phone_masked")},
            "recipient_name": r["recipient_name"],
            "interval_end": _utc(r["logical_date"]),
            "claimed_at": _utc(r["sent_at"]),
        },
    )
    op.create_index("ix_integra_recipients_phone", "integra_campaign_recipients", ["phone_e164", "claimed_at"])
    op.create_index("ix_integra_recipients_day", "integra_campaign_recipients", ["dag_id", "interval_end"])
    op.create_index("ix_integra_recipients_lead", "integra_campaign_recipients", ["dag_id", "lead_id"])

    _rebuild(
        "integra_rejected_leads",
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("interval_end", UTCDateTime(), nullable=False),
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("field", sa.String(100), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("original_value", sa.Text(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dag_id", "interval_end", "lead_id", "reason", name="pk_integra_rejected_leads"),
        convert=lambda r: {
            **{k: r[k] for k in ("dag_id", "lead_id", "reason", "run_id", "field", "detail", "original_value")},
            "interval_end": _utc(r["logical_date"]),
            "recorded_at": _utc(r["recorded_at"]),
        },
    )

    op.create_index("ix_integra_rejected_lead", "integra_rejected_leads", ["dag_id", "lead_id"])

    _rebuild(
        "integra_suppression_list",
        sa.Column("phone_e164", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(100), nullable=True),
        sa.Column("added_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("phone_e164", name="pk_integra_suppression_list"),
        convert=lambda r: {
            "phone_e164": r["phone_e164"],
            "reason": r["reason"],
            "source": None,
            "added_at": _utc(r["added_at"]),
        },
    )

    def run_row(r: Mapping[str, Any]) -> dict[str, Any]:
        try:
            skipped = int(json.loads(r["summary"])["counts"].get("skipped_late", 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            skipped = 0
        counts = ("queried", "sent", "rejected", "suppressed", "duplicates", "cooled_down", "campaigns")
        return {
            **{k: r[k] for k in ("dag_id", "run_id", "status", "summary", *counts)},
            "interval_end": _utc(r["logical_date"]),
            "skipped": skipped,
            "recorded_at": _utc(r["recorded_at"]),
        }

    _rebuild(
        "integra_runs",
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("interval_end", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("queried", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("cooled_down", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("campaigns", sa.Integer(), nullable=False),
        sa.Column("summary", LongText, nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dag_id", "interval_end", name="pk_integra_runs"),
        convert=run_row,
    )

    meta = op.create_table(
        "integra_ledger_meta",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_integra_ledger_meta"),
    )
    assert meta is not None
    # Keys the batch digests (DESIGN: a keyed digest, so a key in a log or header reveals no number).
    op.bulk_insert(meta, [{"name": "digest_secret", "value": secrets.token_hex(32)}])
