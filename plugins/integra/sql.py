"""Portable SQL through Airflow's common-sql hooks.

SQL files in this project write bound parameters as ``:name``; each driver wants its own style
(``?`` for SQLite, ``%s`` for psycopg2 …). Converting here keeps one SQL text valid on every
warehouse while values are still bound by the driver, never formatted into the string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from integra.exceptions import IntegraConfigError

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

#: A comment, a string literal, a ``:name`` parameter (not a ``::`` cast), or a bare percent sign.
_TOKEN = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|(?<![:\w\\]):([A-Za-z_]\w*)|%", re.DOTALL)


def get_db_hook(conn_id: str) -> DbApiHook:
    """The common-sql hook of a warehouse connection, or an error that says how to define it."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise IntegraConfigError(
            f"Warehouse connection '{conn_id}' is not defined. Define it in the Airflow UI or as an "
            f"environment variable, e.g. AIRFLOW_CONN_{conn_id.upper()}='postgresql://user:pass@host:5432/db' "
            f'or AIRFLOW_CONN_{conn_id.upper()}=\'{{"conn_type": "sqlite", "host": "/path/warehouse.db"}}\'.'
        ) from exc
    hook = conn.get_hook()
    if not isinstance(hook, DbApiHook):
        raise IntegraConfigError(
            f"Connection '{conn_id}' has type '{conn.conn_type}', which is not a SQL database "
            "(no common-sql DbApiHook). Use a postgres, sqlite, snowflake, bigquery … connection."
        )
    return hook


def bind(sql: str, params: Mapping[str, Any], placeholder: str) -> tuple[str, list[Any]]:
    """Rewrite ``:name`` parameters to the driver's positional ``placeholder``, in order.

    Comments and string literals are left alone, so ``'10:30'`` stays text. With ``%s`` drivers every literal
    ``%`` is doubled, as psycopg2 requires whenever parameters are passed.
    """
    ordered: list[Any] = []
    pyformat = placeholder == "%s"

    def replace(match: re.Match[str]) -> str:
        token, name = match.group(0), match.group(1)
        if name is not None:
            if name not in params:
                raise KeyError(f"SQL parameter :{name} has no value; available: {', '.join(sorted(params))}")
            ordered.append(params[name])
            return placeholder
        return token.replace("%", "%%") if pyformat else token

    return _TOKEN.sub(replace, sql), ordered


def param_names(sql: str) -> list[str]:
    """The ``:name`` parameters of a statement, in order of appearance."""
    return [m.group(1) for m in _TOKEN.finditer(sql) if m.group(1)]


def split_statements(script: str) -> list[str]:
    """Split a DDL script on semicolons; this project's scripts keep semicolons out of comments."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


@contextmanager
def transaction(hook: DbApiHook) -> Iterator[Any]:
    """A cursor whose statements commit together, or not at all."""
    with closing(hook.get_conn()) as conn:
        cur = conn.cursor()
        try:
            yield cur
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            cur.close()


def run(cur: Any, placeholder: str, sql: str, params: Mapping[str, Any] | None = None) -> int:
    """Execute one ``:name`` statement on an open cursor; returns the affected row count."""
    text, values = bind(sql, params or {}, placeholder)
    cur.execute(text, values) if values else cur.execute(text)
    return int(cur.rowcount)


def run_many(cur: Any, placeholder: str, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute one ``:name`` statement over many rows on an open cursor."""
    if rows:
        text, _ = bind(sql, rows[0], placeholder)
        names = param_names(sql)
        cur.executemany(text, [[row[name] for name in names] for row in rows])


def execute(hook: DbApiHook, sql: str, params: Mapping[str, Any] | None = None) -> int:
    """Run one statement in its own transaction; returns the affected row count."""
    with transaction(hook) as cur:
        return run(cur, hook.placeholder, sql, params)


def execute_many(hook: DbApiHook, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """One statement over many rows, in one transaction."""
    if rows:
        with transaction(hook) as cur:
            run_many(cur, hook.placeholder, sql, rows)


def query(hook: DbApiHook, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows as dicts keyed by lower-case column name."""
    text, values = bind(sql, params or {}, hook.placeholder)
    with closing(hook.get_conn()) as conn:
        cur = conn.cursor()
        try:
            cur.execute(text, values) if values else cur.execute(text)
            names = [col[0].lower() for col in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            cur.close()


def run_script(hook: DbApiHook, script: str) -> None:
    """Run every statement of a script in one transaction."""
    with closing(hook.get_conn()) as conn:
        cur = conn.cursor()
        try:
            for statement in split_statements(script):
                cur.execute(statement)
            conn.commit()
        finally:
            cur.close()
