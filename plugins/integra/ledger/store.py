"""The ledger store: a SQLAlchemy engine on the ledger connection, and the writes that are not batch keys.

Batch keys and their state machine live in :mod:`integra.ledger.idempotency`; this module holds what
every step shares: the engine (checked ready), the digest secret, the dialect's insert-or-ignore and
upsert, suppression look-ups, rejected leads and the run's accounting.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from integra.ledger import schema, tables

#: Values per IN (...) look-up: well under SQLite's 32,766 bound parameters and MySQL's packet limits.
LOOKUP_CHUNK = 2_000


def utc_now() -> datetime:
    return datetime.now(UTC)


def clip(value: str | None, limit: int = tables.MAX_TEXT) -> str | None:
    return value[:limit] if isinstance(value, str) else value


def _dialect_insert(connection: sa.Connection, table: sa.Table) -> Any:
    """The dialect's own ``insert()`` (PostgreSQL, SQLite, MySQL), which knows its conflict clause."""
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    module: Any = {"postgresql": postgresql, "sqlite": sqlite}.get(connection.dialect.name, mysql)
    return module.insert(table)


def insert_ignore(connection: sa.Connection, table: sa.Table) -> Any:
    """``INSERT`` that leaves an existing primary key alone: ON CONFLICT DO NOTHING, or MySQL's IGNORE.

    The affected row count tells the caller whether its row went in (1) or one was already there (0);
    SQLAlchemy keeps an INSERT's row count only when asked (``preserve_rowcount``).
    """
    statement = _dialect_insert(connection, table)
    if connection.dialect.name == "mysql":
        statement = statement.prefix_with("IGNORE")
    else:
        statement = statement.on_conflict_do_nothing()
    return statement.execution_options(preserve_rowcount=True)


def upsert(connection: sa.Connection, table: sa.Table, update: Collection[str]) -> Any:
    """``INSERT`` that overwrites ``update`` columns of an existing primary key, in the dialect's own words."""
    statement = _dialect_insert(connection, table)
    if connection.dialect.name == "mysql":
        return statement.on_duplicate_key_update({c: statement.inserted[c] for c in update})
    return statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns), set_={c: statement.excluded[c] for c in update}
    )


class Ledger:
    """The contact ledger on the connection ``conn_id`` (PostgreSQL, MySQL/MariaDB or SQLite)."""

    def __init__(self, conn_id: str = schema.DEFAULT_CONN_ID) -> None:
        self.conn_id = conn_id

    @cached_property
    def engine(self) -> sa.Engine:
        """Fails at once, naming the upgrade command, when the ledger is missing or behind."""
        return schema.check_ready(self.conn_id)

    @cached_property
    def digest_secret(self) -> bytes:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(tables.meta.c.value).where(tables.meta.c.name == "digest_secret")).scalar()
        if not value:
            raise schema.LedgerNotReadyError(
                f"The ledger at '{self.conn_id}' has no digest secret; run: {schema.upgrade_command(self.conn_id)}"
            )
        return str(value).encode("ascii")

    def suppressed(self, connection: sa.Connection, numbers: Sequence[str]) -> set[str]:
        """Which of ``numbers`` (E.164) are on the suppression list."""
        column = tables.suppression_list.c.phone_e164
        found: set[str] = set()
        for start in range(0, len(numbers), LOOKUP_CHUNK):
            chunk = numbers[start : start + LOOKUP_CHUNK]
            found.update(connection.execute(sa.select(column).where(column.in_(chunk))).scalars())
        return found

    def suppress(self, numbers: Iterable[str], *, reason: str, source: str) -> int:
        """Add numbers to the suppression list (an existing entry keeps its first reason)."""
        now = utc_now()
        rows = [
            {"phone_e164": n, "reason": clip(reason), "source": clip(source, 100), "added_at": now} for n in numbers
        ]
        if not rows:
            return 0
        with self.engine.begin() as conn:
            return int(conn.execute(insert_ignore(conn, tables.suppression_list), rows).rowcount or 0)

    def record_rejections(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Leads not sent because of their data; a rerun of the day overwrites, never duplicates."""
        if rows:
            with self.engine.begin() as conn:
                conn.execute(
                    upsert(conn, tables.rejected_leads, ("run_id", "field", "detail", "original_value", "recorded_at")),
                    list(rows),
                )

    def rejections(self, dag_id: str, interval_end: datetime) -> list[dict[str, Any]]:
        table = tables.rejected_leads
        query = sa.select(table).where(table.c.dag_id == dag_id, table.c.interval_end == interval_end)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def record_run(self, summary: Mapping[str, Any], interval_end: datetime) -> None:
        """The day's accounting; a rerun replaces the row of the same day."""
        counts = summary["counts"]
        row = {
            "dag_id": summary["dag_id"],
            "interval_end": interval_end,
            "run_id": summary["run_id"],
            "status": summary["status"],
            **{k: int(counts.get(k, 0)) for k in ("queried", "sent", "rejected", "suppressed", "duplicates")},
            "cooled_down": int(counts.get("cooled_down", 0)),
            "skipped": int(counts.get("skipped_late", 0)),
            "campaigns": len(summary["campaigns"]),
            "summary": json.dumps(summary, sort_keys=True, default=str),
            "recorded_at": utc_now(),
        }
        with self.engine.begin() as conn:
            conn.execute(upsert(conn, tables.runs, [c for c in row if c not in ("dag_id", "interval_end")]), row)

    def run_summary(self, dag_id: str, interval_end: datetime) -> dict[str, Any] | None:
        table = tables.runs
        query = sa.select(table.c.summary).where(table.c.dag_id == dag_id, table.c.interval_end == interval_end)
        with self.engine.connect() as conn:
            text = conn.execute(query).scalar()
        return json.loads(text) if text else None
