"""The first ledger: the tables the project used to create in the warehouse (include/sql/ledger_ddl.sql).

A ledger left by that version has these tables and no version table; ``upgrade`` stamps it at this
revision and migrates it from here. Timestamps and the run's day were text then.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "integra_campaigns",
        sa.Column("campaign_key", sa.String(255), primary_key=True),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("logical_date", sa.String(40), nullable=False),
        sa.Column("batch_number", sa.Integer(), nullable=False),
        sa.Column("batch_count", sa.Integer(), nullable=False),
        sa.Column("batch_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("scheduled_at", sa.String(40)),
        sa.Column("recipients_count", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("last_error", sa.Text()),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_integra_campaigns_run", "integra_campaigns", ["dag_id", "logical_date"])
    op.create_table(
        "integra_campaign_recipients",
        sa.Column("campaign_key", sa.String(255), primary_key=True),
        sa.Column("lead_id", sa.String(255), primary_key=True),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("logical_date", sa.String(40), nullable=False),
        sa.Column("phone_e164", sa.String(20), nullable=False),
        sa.Column("phone_masked", sa.String(20), nullable=False),
        sa.Column("recipient_name", sa.Text(), nullable=False),
        sa.Column("scheduled_at", sa.String(40), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_integra_recipients_lead", "integra_campaign_recipients", ["dag_id", "lead_id", "sent_at"])
    op.create_index("ix_integra_recipients_phone", "integra_campaign_recipients", ["phone_e164", "sent_at"])
    op.create_table(
        "integra_rejected_leads",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("logical_date", sa.String(40), primary_key=True),
        sa.Column("lead_id", sa.String(255), primary_key=True),
        sa.Column("reason", sa.String(40), primary_key=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("field", sa.String(100)),
        sa.Column("detail", sa.Text()),
        sa.Column("original_value", sa.Text()),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "integra_suppression_list",
        sa.Column("phone_e164", sa.String(20), primary_key=True),
        sa.Column("reason", sa.Text()),
        sa.Column("added_at", sa.DateTime()),
    )
    op.create_table(
        "integra_runs",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("logical_date", sa.String(40), primary_key=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("queried", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("cooled_down", sa.Integer(), nullable=False),
        sa.Column("campaigns", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )
