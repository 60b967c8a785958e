"""Where the ledger is and whether it is ready: its engine, its Alembic upgrade, the readiness check.

The ledger must enforce unique keys and transactions, so only PostgreSQL, MySQL/MariaDB and SQLite
connections are accepted. The engine comes from the connection's common-sql hook, as Airflow builds it.
"""

from __future__ import annotations

import fcntl
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integra.exceptions import IntegraConfigError
from integra.ledger.tables import VERSION_TABLE

if TYPE_CHECKING:
    import sqlalchemy as sa
    from alembic.config import Config

#: Connection types whose databases enforce unique keys and transactions (Snowflake and BigQuery don't).
SUPPORTED = {"postgres": "PostgreSQL", "mysql": "MySQL/MariaDB", "sqlite": "SQLite"}
DEFAULT_CONN_ID = "integra_ledger"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "python -m integra.ledger upgrade --conn-id {conn_id}"
#: Seconds a SQLite writer waits for another's lock before failing (a claim of 10,000 members is short).
SQLITE_BUSY_TIMEOUT_S = 60
#: SQLite's page cache per connection, in KiB (negative: a size, not pages). The default 2 MiB spills
#: a claim's 10,000 random index inserts to disk mid-transaction; 64 MiB is taken only as it fills.
SQLITE_CACHE_KIB = 65_536
_LOCK_NAME = "integra_ledger_upgrade"
_PG_LOCK_ID = 0x1A7E6EA  # any constant: pg_advisory_lock takes a number


class LedgerNotReadyError(IntegraConfigError):
    """The ledger is missing, behind or ahead of this code: one command fixes the first two."""


def upgrade_command(conn_id: str) -> str:
    return UPGRADE_COMMAND.format(conn_id=conn_id)


def engine_for(conn_id: str) -> sa.Engine:
    """The ledger's SQLAlchemy engine, from the Airflow connection ``conn_id`` (validated)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise IntegraConfigError(
            f"ledger_conn_id: the ledger connection '{conn_id}' is not defined. Define it in the Airflow UI or as "
            f"AIRFLOW_CONN_{conn_id.upper()}, e.g. 'postgresql://user:pass@host:5432/integra_ledger', "
            f"'mysql://user:pass@host:3306/integra_ledger' or "
            f'\'{{"conn_type": "sqlite", "host": "/data/integra-ledger.db"}}\'; then run: {upgrade_command(conn_id)}'
        ) from exc
    if conn.conn_type not in SUPPORTED:
        raise IntegraConfigError(
            f"ledger_conn_id: connection '{conn_id}' has type '{conn.conn_type}', which cannot hold the ledger. "
            f"The ledger needs a database that enforces unique keys and transactions: "
            f"{', '.join(SUPPORTED.values())} (conn types {', '.join(SUPPORTED)}). Point ledger_conn_id at one of "
            "those; the warehouse (warehouse_conn_id) may stay where it is."
        )
    uri = str(conn.get_hook().get_uri())  # the common-sql hook's own URI: its driver, its reading of extras
    engine = _ENGINES.pop(uri, None) or _engine(uri, conn.conn_type)
    _ENGINES[uri] = engine  # most recently used last
    while len(_ENGINES) > _MAX_ENGINES:  # a process that moved on to other ledgers closes the old pools
        _ENGINES.pop(next(iter(_ENGINES))).dispose()
    return engine


_ENGINES: dict[str, sa.Engine] = {}
_MAX_ENGINES = 4


def _engine(uri: str, conn_type: str) -> sa.Engine:
    """One engine (and pool) per process and database; reads and writes see the latest committed rows."""
    import sqlalchemy as sa

    if conn_type == "sqlite":
        engine = sa.create_engine(uri, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" below decides how a transaction starts
            dbapi_conn.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")

        @sa.event.listens_for(engine, "begin")
        def _begin_immediate(conn: sa.Connection) -> None:
            # Take the write lock up front: two writers that both read first would otherwise deadlock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(uri, isolation_level="READ COMMITTED", pool_pre_ping=True, pool_size=2, max_overflow=4)


def _alembic_config(connection: sa.Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory(str(MIGRATIONS)).get_current_head())


def current_revision(connection: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


@contextmanager
def _upgrade_lock(engine: sa.Engine, connection: sa.Connection) -> Iterator[None]:
    """One upgrade at a time per database: advisory locks on the servers, a file lock beside a SQLite file."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_LOCK_ID})")
        connection.commit()
        try:
            yield
        finally:
            connection.rollback()  # a failed upgrade leaves its transaction aborted
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_ID})")
            connection.commit()
    elif dialect == "mysql":
        got = connection.exec_driver_sql(f"SELECT GET_LOCK('{_LOCK_NAME}', 600)").scalar()
        connection.commit()
        if got != 1:
            raise LedgerNotReadyError("Another ledger upgrade has held the upgrade lock for 10 minutes; try again")
        try:
            yield
        finally:
            connection.rollback()
            connection.exec_driver_sql(f"SELECT RELEASE_LOCK('{_LOCK_NAME}')")
            connection.commit()
    else:
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.upgrade-lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(conn_id: str = DEFAULT_CONN_ID) -> tuple[str | None, str]:
    """Create the ledger or bring it to the newest revision; safe to run from two places at once.

    A ledger left by the first version (its tables, no version table) is stamped at revision 0001 and
    migrated with its rows. Returns (revision before, revision after).
    """
    import sqlalchemy as sa
    from alembic import command

    engine = engine_for(conn_id)
    with engine.connect() as connection, _upgrade_lock(engine, connection):
        before = current_revision(connection)
        connection.commit()
        config = _alembic_config(connection)
        if before is None and sa.inspect(connection).has_table("integra_campaigns"):
            command.stamp(config, "0001")
            connection.commit()
        command.upgrade(config, "head")
        connection.commit()
        after = current_revision(connection)
        connection.commit()
    _ready.cache_clear()
    return before, str(after)


def check_ready(conn_id: str) -> sa.Engine:
    """The ledger's engine if its schema is this code's; else an error that names the one command to run."""
    engine = engine_for(conn_id)
    _ready(conn_id, str(engine.url))
    return engine


@functools.lru_cache(maxsize=32)
def _ready(conn_id: str, url: str) -> None:
    """Checked once per process and database: the schema does not change under a running task."""
    engine = engine_for(conn_id)
    try:
        with engine.connect() as connection:
            current = current_revision(connection)
    except Exception as exc:
        raise LedgerNotReadyError(
            f"ledger_conn_id: cannot reach the ledger at connection '{conn_id}' ({engine.url.render_as_string()}): "
            f"{exc}"
        ) from exc
    head = head_revision()
    if current == head:
        return
    state = "has no Integra ledger yet" if current is None else f"is at ledger revision {current}"
    raise LedgerNotReadyError(
        f"ledger_conn_id: the database of connection '{conn_id}' {state}; this code needs revision {head}. "
        f"Run once (safe to repeat, safe from two places at once): {upgrade_command(conn_id)}"
    )
