"""Batch files: where recipients travel between tasks, so XCom carries locations, not people.

A batch is JSON lines or Parquet with the columns ``phone_number``, ``recipient_name`` and
``dynamic_variables`` (an object, or its JSON text), plus optional bookkeeping such as ``lead_id``.
Locations are ``ObjectStoragePath`` URIs (``file://``, ``s3://`` …) or plain local paths.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

RECIPIENT_FIELDS = ("phone_number", "recipient_name", "dynamic_variables")
DEFAULT_DATA_PATH_ENV = "INTEGRA_DATA_PATH"


def data_root(base: str | None = None) -> ObjectStoragePath:
    """Where this project writes batch files: an explicit base, ``$INTEGRA_DATA_PATH``, or local."""
    chosen = base or os.environ.get(DEFAULT_DATA_PATH_ENV)
    if not chosen:
        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        chosen = "file://" + os.path.join(os.path.abspath(home), "integra-data")
    return as_path(chosen)


def as_path(location: str | os.PathLike[str] | ObjectStoragePath) -> ObjectStoragePath:
    """A plain local path is accepted as ``file://`` so users can pass what they have."""
    from airflow.sdk import ObjectStoragePath  # fsspec: only when files are touched

    if isinstance(location, ObjectStoragePath):
        return location
    text = os.fspath(location)
    if "://" not in text:
        text = "file://" + os.path.abspath(text)
    return ObjectStoragePath(text)


def local_file(path: ObjectStoragePath) -> str | None:
    """The OS path behind a local ``file://`` location, else ``None`` (S3, GCS … keep going through fsspec).

    Local files are opened with ``open()`` or pyarrow directly: an ObjectStoragePath file object wraps every
    read and write in a lineage hook whose first use discovers all providers' asset factories (~0.1 s a task),
    and fsspec's Python file layer adds a per-call cost; neither buys anything on a local disk.
    """
    if path.protocol in ("file", "local") and path.conn_id is None:
        return str(path.path)
    return None


def read_recipient_rows(location: str | ObjectStoragePath) -> list[dict[str, Any]]:
    """All rows of one batch file (a batch is at most 10,000 rows, so it fits in memory)."""
    path = as_path(location)
    local = local_file(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq  # heavy: imported only when a Parquet batch is read

        if local is not None:
            with pq.ParquetFile(local) as parquet:
                table = parquet.read()
        else:
            with path.open("rb") as handle:
                table = pq.read_table(handle)
        # Column by column, then zipped: several times faster than Table.to_pylist() for 10,000 rows.
        names = table.column_names
        rows: list[dict[str, Any]] = [
            dict(zip(names, values, strict=True))
            for values in zip(*(c.to_pylist() for c in table.columns), strict=True)
        ]
    elif name.endswith((".jsonl", ".ndjson", ".json")):
        with open(local, encoding="utf-8") if local is not None else path.open("r", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    else:
        raise ValueError(f"Unsupported batch file {path}: use JSON lines (.jsonl) or Parquet (.parquet).")
    return rows


def to_recipients(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Keep only the contract's fields; decode ``dynamic_variables`` stored as JSON text."""
    out = []
    for row in rows:
        variables = row.get("dynamic_variables") or {}
        if isinstance(variables, str):
            variables = json.loads(variables)
        out.append(
            {
                "phone_number": row.get("phone_number"),
                "recipient_name": row.get("recipient_name"),
                "dynamic_variables": variables,
            }
        )
    return out
