"""The people's lead index holds the lead id alone, not (dag_id, lead_id).

Every claim inserts one entry per person at a random place in this index, so its size decides how many
pages a claim dirties. Look-ups by lead (a person's story on the campaigns page, leads an earlier day
already handled) name both the campaign and the lead: the seek on the lead id finds a lead's handful of
rows, and the campaign filter costs nothing after it.

Measured on SQLite, 10,000 rows per transaction into a table of this shape (``executemany`` + commit, mean
per transaction): 107 → 85 ms over the first 100,000 people, 200 → 139 ms up to 300,000, and 297 → 268 ms
up to a million.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"

TABLE = "integra_campaign_recipients"
INDEX = "ix_integra_recipients_lead"


def upgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["lead_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["dag_id", "lead_id"])
