"""Approval requests and decisions: a person's yes or no before an unusual day is phoned.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integra.ledger.tables import LongText, UTCDateTime

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "integra_approvals",
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


def downgrade() -> None:
    op.drop_table("integra_approvals")
