"""Alembic environment of the ledger: always run on a connection handed over by ``integra.ledger.schema``."""

from __future__ import annotations

from alembic import context

from integra.ledger.tables import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
