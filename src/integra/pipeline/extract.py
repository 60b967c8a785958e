"""extract_leads: the campaign's own SQL, run as written on the warehouse, streamed to Parquet.

The warehouse is only read. Suppression and cooldown are decided later, by E.164 number against the
ledger, so any common-sql warehouse works, whatever SQL dialect it speaks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from integra import batches, scheduling, sql
from integra.ledger.idempotency import day_text
from integra.ledger.tables import plain_utc

if TYPE_CHECKING:
    import pyarrow as pa
    from airflow.sdk import ObjectStoragePath

    from integra.definitions import CampaignDefinition

log = logging.getLogger(__name__)


def interval(context: Mapping[str, Any], lookback: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
    """The data interval the run is for, its start moved back by ``lookback`` (late-arriving leads); a
    run without one covers the day before its reference."""
    end = scheduling.run_for(context)
    start = context.get("data_interval_start")
    return (start if isinstance(start, datetime) else end - timedelta(days=1)) - lookback, end


def run_dir(definition: CampaignDefinition, context: Mapping[str, Any]) -> ObjectStoragePath:
    """One folder per campaign and day, so a retry overwrites its own files and nothing else."""
    day = day_text(scheduling.run_for(context)).replace(":", "")
    path = batches.data_root(definition.data_path) / definition.dag_id / day
    path.mkdir(parents=True, exist_ok=True)
    return path


def query_params(definition: CampaignDefinition, context: Mapping[str, Any]) -> dict[str, Any]:
    """Values the SQL may use as ``:name`` parameters, bound by the driver as datetimes, never formatted in.

    ``:data_interval_start``/``_end`` are timezone-aware (for ``timestamptz`` columns); the ``_utc``
    forms are naive UTC (for columns that hold UTC wall time without a zone). With ``lookback_hours``
    the start is that much earlier, so a lead inserted after its own day's run is read again.
    """
    lookback = timedelta(hours=definition.lookback_hours)
    start, end = (plain_utc(value) for value in interval(context, lookback))
    logical = context.get("logical_date")
    logical = plain_utc(logical) if isinstance(logical, datetime) else end
    return {
        "data_interval_start": start,
        "data_interval_end": end,
        "data_interval_start_utc": start.replace(tzinfo=None),
        "data_interval_end_utc": end.replace(tzinfo=None),
        "logical_date": logical,
        "ds": end.date().isoformat(),
        "dag_id": definition.dag_id,
    }


def _cursor(conn: Any) -> Any:
    """A server-side cursor where the driver has one, so rows stream in chunks instead of all at once."""
    module = type(conn).__module__
    if module.startswith("psycopg2"):
        cur = conn.cursor(name="integra_leads")
        cur.itersize = 10_000
        return cur
    if module.startswith("MySQLdb"):
        from MySQLdb.cursors import SSCursor

        return conn.cursor(SSCursor)
    return conn.cursor()


def _text(value: Any) -> str | None:
    """A driver value as text; an integral float or decimal (a phone stored as a number) becomes its digits."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _column(values: Sequence[Any]) -> pa.Array:
    """One text column: as it came in the usual case (Arrow refuses any non-text value), else via ``_text``."""
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # numbers, decimals, invalid UTF-8 bytes
        return pa.array([_text(v) for v in values], type=pa.string())


def _columns(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> list[pa.Array]:
    """The rows as one text array per column. Arrow converts rows of text in one pass (rows as a struct);
    a chunk it refuses (numbers, invalid UTF-8 bytes) goes column by column through ``_column``."""
    import pyarrow as pa

    try:
        return pa.array(rows, type=pa.struct(schema)).flatten()
    except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError):
        return [_column(values) for values in zip(*rows, strict=True)]


def stream_query(
    hook: Any,
    text: str,
    values: Sequence[Any],
    target: ObjectStoragePath,
    chunk_rows: int,
    check: Callable[[list[str]], None] | None = None,
) -> tuple[int, list[str]]:
    """Run one query and write its rows, as text columns, to a Parquet file; returns (rows, column names).

    ``check`` sees the column names before any row is read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    with closing(hook.get_conn()) as conn:
        cur = _cursor(conn)
        try:
            cur.execute(text, values) if values else cur.execute(text)
            columns = [str(col[0]).lower() for col in cur.description]
            if check is not None:
                check(columns)
            schema = pa.schema([(name, pa.string()) for name in columns])
            # A local file is written by pyarrow itself (see batches.local_file): an ObjectStoragePath file
            # object would first discover every provider's asset factories for its lineage hook.
            local = batches.local_file(target)
            with (
                open(local, "wb") if local is not None else target.open("wb") as handle,
                pq.ParquetWriter(handle, schema) as writer,
            ):
                while chunk := cur.fetchmany(chunk_rows):
                    writer.write_table(pa.Table.from_arrays(_columns(chunk, schema), schema=schema))
                    rows += len(chunk)
        finally:
            cur.close()
        conn.commit()
    return rows, columns


def extract_leads(definition: CampaignDefinition, context: Mapping[str, Any]) -> dict[str, Any]:
    """Stream the leads (and the optional suppression query's numbers) into Parquet files."""
    hook = sql.get_db_hook(definition.warehouse_conn_id)
    params = query_params(definition, context)
    folder = run_dir(definition, context)
    text, values = sql.bind(
        definition.sql_path.read_text(encoding="utf-8").strip().rstrip(";"), params, hook.placeholder
    )
    target = folder / "leads.parquet"
    rows, _ = stream_query(
        hook, text, values, target, definition.extract_chunk_rows, lambda found: _check_columns(definition, found)
    )
    log.info("Extracted %d leads for %s into %s", rows, definition.dag_id, target)
    result: dict[str, Any] = {"location": str(target), "rows": rows}
    if definition.suppression_sql_path is not None:
        query = definition.suppression_sql_path.read_text(encoding="utf-8").strip().rstrip(";")
        text, values = sql.bind(query, params, hook.placeholder)
        target = folder / "suppression.parquet"
        count, columns = stream_query(hook, text, values, target, definition.extract_chunk_rows)
        log.info("Read %d numbers from the suppression query %s", count, definition.suppression_sql)
        result["suppression"] = {"location": str(target), "rows": count, "column": columns[0]}
    return result


def _check_columns(definition: CampaignDefinition, columns: list[str]) -> None:
    needed = {definition.columns.lead_id, definition.columns.phone, definition.columns.name}
    needed |= set(definition.dynamic_variables.values())
    missing = sorted(c for c in needed if c.lower() not in columns)
    if missing:
        raise ValueError(
            f"{definition.sql}: the query returns no column(s) {missing} named in the definition "
            f"({definition.source_file}); it returns {columns}. Fix 'columns'/'dynamic_variables' or the SQL."
        )
