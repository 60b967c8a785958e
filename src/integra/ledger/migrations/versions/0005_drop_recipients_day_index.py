"""Drop the people's (dag_id, interval_end) index: no query reads it, and every claim paid for it.

A day's people are found through its batches (``integra_campaigns`` by day, then the people by the
batch key, the primary key's first column). Writing 10,000 people into one more B-tree cost a claim
about a sixth of its time on SQLite.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.drop_index("ix_integra_recipients_day", table_name="integra_campaign_recipients")


def downgrade() -> None:
    op.create_index("ix_integra_recipients_day", "integra_campaign_recipients", ["dag_id", "interval_end"])
