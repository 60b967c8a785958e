"""The ledger store: a SQLAlchemy engine on the ledger connection, and the writes that are not batch keys.

Batch keys and their state machine live in :mod:`integra.ledger.idempotency`; this module holds what
every step shares: the engine (checked ready), the digest secret, the dialect's insert-or-ignore and
upsert, suppression look-ups, rejected leads and the run's accounting.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from integra.ledger import schema, tables

#: Values per IN (...) look-up: one batch at once, under SQLite's 32,766 bound parameters.
LOOKUP_CHUNK = 10_000


def utc_now() -> datetime:
    return datetime.now(UTC)


def clip(value: str | None, limit: int = tables.MAX_TEXT) -> str | None:
    return value[:limit] if isinstance(value, str) else value


def number_in(connection: sa.Connection, column: sa.ColumnElement[str], numbers: Sequence[str]) -> Any:
    """``column IN numbers``; on PostgreSQL ``= ANY(array)``, one parameter the planner handles well at 10,000."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam("numbers", list(numbers), type_=ARRAY(sa.String())))
    return column.in_(numbers)


#: Every suppressed number.
SUPPRESSED = sa.select(tables.suppression_list.c.phone_e164)


def in_chunks(
    connection: sa.Connection, query: sa.Select[Any], column: sa.ColumnElement[str], numbers: Sequence[str]
) -> list[sa.Row[Any]]:
    """The rows of ``query`` whose ``column`` is one of ``numbers``, asked ``LOOKUP_CHUNK`` numbers at a time."""
    rows: list[sa.Row[Any]] = []
    for start in range(0, len(numbers), LOOKUP_CHUNK):
        rows += connection.execute(query.where(number_in(connection, column, numbers[start : start + LOOKUP_CHUNK])))
    return rows


def at_most(connection: sa.Connection, query: sa.Select[Any], limit: int) -> list[sa.Row[Any]] | None:
    """All rows of ``query`` if there are at most ``limit``, else None: a small side is cheaper fetched once
    and intersected in memory than asked about in thousands of IN (...) look-ups."""
    rows = list(connection.execute(query.limit(limit + 1)))
    return rows if len(rows) <= limit else None


def dialect_insert(connection: sa.Connection, table: sa.Table) -> Any:
    """The dialect's own ``insert()`` (PostgreSQL, SQLite, MySQL), which knows its conflict clause."""
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    module: Any = {"postgresql": postgresql, "sqlite": sqlite}.get(connection.dialect.name, mysql)
    return module.insert(table)


def insert_ignore(connection: sa.Connection, table: sa.Table) -> Any:
    """``INSERT`` that leaves an existing primary key alone: ON CONFLICT DO NOTHING, or MySQL's IGNORE.

    The affected row count tells the caller whether its row went in (1) or one was already there (0);
    SQLAlchemy keeps an INSERT's row count only when asked (``preserve_rowcount``).
    """
    statement = dialect_insert(connection, table)
    if connection.dialect.name == "mysql":
        statement = statement.prefix_with("IGNORE")
    else:
        statement = statement.on_conflict_do_nothing()
    return statement.execution_options(preserve_rowcount=True)


def upsert(connection: sa.Connection, table: sa.Table, update: Collection[str]) -> Any:
    """``INSERT`` that overwrites ``update`` columns of an existing primary key, in the dialect's own words."""
    statement = dialect_insert(connection, table)
    if connection.dialect.name == "mysql":
        return statement.on_duplicate_key_update({c: statement.inserted[c] for c in update})
    return statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns), set_={c: statement.excluded[c] for c in update}
    )


def bulk_insert(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Many rows of one shape in one driver call: ``COPY`` on PostgreSQL (psycopg 3), ``executemany``
    elsewhere (mysqlclient sends it as multi-row INSERTs, sqlite3 loops in C).

    ``columns`` names the rows' own columns to write (default: every key of the first row). ``shared``
    holds the columns every row has alike (a batch's key, day and claim time): each goes through
    its bind processor once and is added to every row at the driver's level, not copied into every mapping.
    Of the rows' own columns, each distinct value goes through its processor once, instead of
    SQLAlchemy's per-row parameter processing, which costs more than the writes.
    """
    if not rows:
        return
    fixed = dict(shared or {})
    own = [c for c in (columns or rows[0]) if c not in fixed]
    layout = [*own, *fixed]
    dialect = connection.dialect
    driver: Any = connection.connection.driver_connection
    copying = dialect.name == "postgresql" and hasattr(driver, "pgconn")  # psycopg 3
    compiled = table.insert().compile(dialect=dialect, column_keys=layout)
    named = not copying and not compiled.positional
    order = layout if copying or named else list(compiled.positiontup or ())
    processors = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in order}
    tail = tuple(_processed(processors[c], v) for c, v in fixed.items())
    own_values = _getter(own)
    if order == layout:
        values = [list(own_values(row) + tail) for row in rows]
    else:  # the statement's own column order (positional drivers)
        reorder = _getter([layout.index(c) for c in order])
        values = [list(reorder(own_values(row) + tail)) for row in rows]
    for index, column in enumerate(order):
        process = processors[column]
        if process is not None and column not in fixed:
            seen: dict[Any, Any] = {}
            for row in values:
                raw = row[index]
                if raw is not None:
                    if raw not in seen:
                        seen[raw] = process(raw)
                    row[index] = seen[raw]
    if copying:
        names = ", ".join(dialect.identifier_preparer.quote(c) for c in order)
        with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        return
    params: list[Any] = [dict(zip(order, row, strict=True)) for row in values] if named else list(map(tuple, values))
    connection.exec_driver_sql(compiled.string, params)


def _getter(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``operator.itemgetter`` that always returns a tuple (itemgetter of one key returns the item)."""
    if len(keys) == 1:
        key = keys[0]
        return lambda item: (item[key],)
    return operator.itemgetter(*keys) if keys else (lambda item: ())


def _processed(process: Callable[[Any], Any] | None, value: Any) -> Any:
    return value if process is None or value is None else process(value)


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
        return {row[0] for row in in_chunks(connection, SUPPRESSED, column, numbers)}

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
