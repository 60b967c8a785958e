"""The warehouse through Airflow's common-sql hooks: the campaign's SQL with ``:name`` parameters.

Campaign SQL files write bound parameters as ``:name``; each driver wants its own style (``?`` for
SQLite, ``%s`` for psycopg2 and mysqlclient …). Converting here keeps one SQL text valid on every
warehouse while values are still bound by the driver, never formatted into the string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
