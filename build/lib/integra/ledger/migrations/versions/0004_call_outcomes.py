"""Call outcomes back from Integra: webhook events, call outcomes, campaign progress.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integra.ledger.tables import LongText, UTCDateTime

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "integra_webhook_events",
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
    )
    op.create_index("ix_integra_webhook_events_status", "integra_webhook_events", ["status", "received_at"])
    op.create_table(
        "integra_call_outcomes",
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
    )
    op.create_index("ix_integra_call_outcomes_recorded", "integra_call_outcomes", ["recorded_at"])
    op.create_index("ix_integra_call_outcomes_unlinked", "integra_call_outcomes", ["campaign_key"])
    op.create_index("ix_integra_call_outcomes_export", "integra_call_outcomes", ["dag_id", "exported_at"])
    op.create_table(
        "integra_campaign_status",
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("exported_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", name="pk_integra_campaign_status"),
    )
    op.create_index("ix_integra_campaign_status_export", "integra_campaign_status", ["exported_at"])
    op.create_index("ix_integra_campaigns_campaign_id", "integra_campaigns", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_integra_campaigns_campaign_id", table_name="integra_campaigns")
    op.drop_table("integra_campaign_status")
    op.drop_table("integra_call_outcomes")
    op.drop_table("integra_webhook_events")
