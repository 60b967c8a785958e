"""The ledger's tables, defined once with SQLAlchemy Core; Alembic (``migrations/``) versions them.

Every timestamp is a real timestamp column holding UTC (``UTCDateTime``): PostgreSQL, MySQL/MariaDB
and SQLite then compare and sort them alike, whatever the session time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

#: Alembic's version table for the ledger: not ``alembic_version``, so a ledger may share a database
#: (even Airflow's own) with another Alembic-managed schema.
VERSION_TABLE = "integra_ledger_version"
MAX_TEXT = 500


def plain_utc(value: datetime) -> datetime:
    """The same instant as a standard-library UTC datetime: drivers adapt ``datetime`` by its exact type,
    and Airflow hands tasks pendulum's subclass (sqlite3 refuses it, mysqlclient mis-formats it)."""
    utc = value.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as a naive UTC timestamp everywhere."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))  # microseconds, like the others
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"ledger timestamps must be timezone-aware, got {value!r}")
        return plain_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")

metadata = sa.MetaData()

#: One row per batch of a run: the idempotency key, claimed before the POST. ``status``: sending
#: (claimed; POST in flight or the attempt died), created (campaign_id stored), not_created (a failure
#: that provably created nothing), unknown (the answer was lost), skipped (the late policy skipped it).
campaigns = sa.Table(
    "integra_campaigns",
    metadata,
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
    sa.Index("ix_integra_campaigns_day", "dag_id", "interval_end"),
    sa.Index("ix_integra_campaigns_status", "status"),
    sa.Index("ix_integra_campaigns_campaign_id", "campaign_id"),
)

#: One row per person in a claimed batch, written in the claim's transaction: the ledger knows who
#: may have been phoned before the POST leaves. The campaign id and time live on the batch's row only,
#: so recording them (by the operator or a person) is one row, and no person can be left without them.
recipients = sa.Table(
    "integra_campaign_recipients",
    metadata,
    sa.Column("campaign_key", sa.String(255), nullable=False),
    sa.Column("lead_id", sa.String(255), nullable=False),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("interval_end", UTCDateTime(), nullable=False),
    sa.Column("phone_e164", sa.String(20), nullable=False),
    sa.Column("phone_masked", sa.String(20), nullable=False),
    sa.Column("recipient_name", sa.Text(), nullable=False),
    sa.Column("claimed_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("campaign_key", "lead_id", name="pk_integra_campaign_recipients"),
    sa.Index("ix_integra_recipients_phone", "phone_e164"),
    sa.Index("ix_integra_recipients_lead", "lead_id"),
)

#: One row per lead not sent because of its data (reason codes in the README), duplicates included.
rejected_leads = sa.Table(
    "integra_rejected_leads",
    metadata,
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
    sa.Index("ix_integra_rejected_lead", "dag_id", "lead_id"),
)

#: Numbers never to call (opt-outs, complaints), by E.164; kept by people or other jobs.
suppression_list = sa.Table(
    "integra_suppression_list",
    metadata,
    sa.Column("phone_e164", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("source", sa.String(100), nullable=True),
    sa.Column("added_at", UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("phone_e164", name="pk_integra_suppression_list"),
)

#: One row per campaign day: the accounting a person reads first.
runs = sa.Table(
    "integra_runs",
    metadata,
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
)

#: One row per approval request of a day (a rerun asks again): what a person saw, and what they decided.
approvals = sa.Table(
    "integra_approvals",
    metadata,
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("interval_end", UTCDateTime(), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("would_send", sa.Integer(), nullable=False),
    sa.Column("baseline", sa.Float(), nullable=True),
    sa.Column("reasons", sa.Text(), nullable=False),
    sa.Column("shown", LongText, nullable=False),
    sa.Column("decided_by", sa.String(250), nullable=True),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("dag_id", "interval_end", "requested_at", name="pk_integra_approvals"),
)

#: Every webhook delivery accepted (signature good), once per event id, raw JSON kept until processed
#: and exported: ``status`` received (stored, not yet processed), processed, ignored (a type this code
#: does not act on) or failed (``error`` says why; the outcomes DAG tries again).
webhook_events = sa.Table(
    "integra_webhook_events",
    metadata,
    sa.Column("event_id", sa.String(100), nullable=False),
    sa.Column("event_type", sa.String(60), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=True),
    sa.Column("signed_at", UTCDateTime(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("processed_at", UTCDateTime(), nullable=True),
    sa.Column("payload", LongText, nullable=False),
    sa.PrimaryKeyConstraint("event_id", name="pk_integra_webhook_events"),
    sa.Index("ix_integra_webhook_events_status", "status", "received_at"),
)

#: One row per recipient and call attempt Integra reported (``call.completed``). ``campaign_key``,
#: ``dag_id`` and ``lead_id`` are filled from the ledger's batches; an outcome that arrives before its
#: campaign id is recorded gets them when the outcomes DAG links it later.
call_outcomes = sa.Table(
    "integra_call_outcomes",
    metadata,
    sa.Column("campaign_id", sa.String(64), nullable=False),
    sa.Column("phone_e164", sa.String(20), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("call_id", sa.String(100), nullable=True),
    sa.Column("event_id", sa.String(100), nullable=False),
    sa.Column("campaign_key", sa.String(255), nullable=True),
    sa.Column("dag_id", sa.String(250), nullable=True),
    sa.Column("lead_id", sa.String(255), nullable=True),
    sa.Column("phone_masked", sa.String(20), nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("disposition", sa.String(100), nullable=True),
    sa.Column("answered", sa.Boolean(), nullable=False),
    sa.Column("opted_out", sa.Boolean(), nullable=False),
    sa.Column("duration_seconds", sa.Integer(), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("exported_at", UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("campaign_id", "phone_e164", "attempt", name="pk_integra_call_outcomes"),
    sa.Index("ix_integra_call_outcomes_recorded", "recorded_at"),
    sa.Index("ix_integra_call_outcomes_unlinked", "campaign_key"),
    sa.Index("ix_integra_call_outcomes_export", "dag_id", "exported_at"),
)

#: One row per Integra campaign with its progress from ``campaign.started`` / ``campaign.completed``,
#: keyed by Integra's id: an event may arrive before the operator has recorded that id on its batch.
campaign_status = sa.Table(
    "integra_campaign_status",
    metadata,
    sa.Column("campaign_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("calls", sa.Integer(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("exported_at", UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("campaign_id", name="pk_integra_campaign_status"),
    sa.Index("ix_integra_campaign_status_export", "exported_at"),
)

#: Settings the ledger keeps for itself, e.g. the secret that keys batch digests.
meta = sa.Table(
    "integra_ledger_meta",
    metadata,
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("name", name="pk_integra_ledger_meta"),
)
