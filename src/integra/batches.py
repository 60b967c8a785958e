"""Batch files: where recipients travel between tasks, so XCom carries locations, not people.

A batch is JSON lines or Parquet with the columns ``phone_number``, ``recipient_name`` and
``dynamic_variables`` (an object, or its JSON text), plus optional bookkeeping such as ``lead_id``
and, in the Parquet files build_recipients writes, each person's ``locality``.
Locations are ``ObjectStoragePath`` URIs (``file://``, ``s3://`` …) or plain local paths.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from integra.policy.local_time import Locality

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
    if path.name.lower().endswith(".parquet"):
        table = _read_parquet(path)
        # Column by column, then zipped: several times faster than Table.to_pylist() for 10,000 rows.
        names = table.column_names
        return [
            dict(zip(names, values, strict=True))
            for values in zip(*(c.to_pylist() for c in table.columns), strict=True)
        ]
    return _read_json_lines(path)


@dataclass(frozen=True)
class RecipientColumns:
    """One batch as columns (Python lists of equal length): what the operator reads, checks and sends."""

    lead_id: Sequence[Any]
    phone_number: Sequence[Any]
    recipient_name: Sequence[Any]
    dynamic_variables: Sequence[Any]
    #: ``Locality.text`` of each person, as build_recipients found it; only read from Parquet batch files.
    locality: Sequence[Any] | None = None

    def __len__(self) -> int:
        return len(self.phone_number)

    @cached_property
    def phones(self) -> list[str]:
        """The numbers as text, made once: the batch's key, schedule and ledger rows all read them."""
        return [str(phone) for phone in self.phone_number]

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> RecipientColumns:
        return cls(*([row.get(name) for row in rows] for name in COLUMN_FIELDS))

    def localities(self) -> set[Locality]:
        """Where the batch's people are: as its file records them (build_recipients looked them up), else
        looked up from their numbers."""
        from integra.policy.local_time import Locality, locality_of

        texts = set(self.locality) if self.locality is not None else set()
        if self.locality is not None and all(isinstance(text, str) for text in texts):
            return {Locality.from_text(text) for text in texts}
        return {locality_of(phone) for phone in self.phones}

    def recipients(self) -> list[dict[str, Any]]:
        """The contract's fields of each row; ``dynamic_variables`` stored as JSON text is decoded."""
        return [
            {"phone_number": phone, "recipient_name": name, "dynamic_variables": _variables(variables)}
            for phone, name, variables in zip(
                self.phone_number, self.recipient_name, self.dynamic_variables, strict=True
            )
        ]

    def members(self) -> list[dict[str, str]]:
        """Ledger rows for the people in the batch; a row without a lead id is keyed by its number."""
        from integra.masking import mask_phones

        phones = self.phones
        return [
            {
                "lead_id": lead if isinstance(lead, str) and lead else str(lead or phone),
                "phone_e164": phone,
                "phone_masked": masked,
                "recipient_name": str(name or ""),
            }
            for lead, phone, masked, name in zip(
                self.lead_id, phones, mask_phones(phones), self.recipient_name, strict=True
            )
        ]


def _variables(value: Any) -> Any:
    """``dynamic_variables`` as stored: an object, its JSON text, or nothing."""
    if isinstance(value, str):
        return json.loads(value) if value else {}
    return value or {}


#: The columns of a batch the operator uses, in ``RecipientColumns``' order.
COLUMN_FIELDS = ("lead_id", "phone_number", "recipient_name", "dynamic_variables")


def read_recipient_columns(location: str | ObjectStoragePath) -> RecipientColumns:
    """One batch file as columns: Parquet columns straight to lists, with no dict per row."""
    path = as_path(location)
    if not path.name.lower().endswith(".parquet"):
        return RecipientColumns.from_rows(_read_json_lines(path))
    table = _read_parquet(path)
    missing = [None] * table.num_rows
    names = [name for name in (*COLUMN_FIELDS, "locality") if name in table.column_names]
    found = {name: table.column(name).to_pylist() for name in names}
    lead_id, phone_number, recipient_name, dynamic_variables = (found.get(name, missing) for name in COLUMN_FIELDS)
    return RecipientColumns(lead_id, phone_number, recipient_name, dynamic_variables, locality=found.get("locality"))


def _read_parquet(path: ObjectStoragePath) -> Any:
    import pyarrow.parquet as pq  # heavy: imported only when a Parquet batch is read

    local = local_file(path)
    if local is not None:
        with pq.ParquetFile(local) as parquet:
            return parquet.read()
    with path.open("rb") as handle:
        return pq.read_table(handle)


def _read_json_lines(path: ObjectStoragePath) -> list[dict[str, Any]]:
    if not path.name.lower().endswith((".jsonl", ".ndjson", ".json")):
        raise ValueError(f"Unsupported batch file {path}: use JSON lines (.jsonl) or Parquet (.parquet).")
    local = local_file(path)
    with open(local, encoding="utf-8") if local is not None else path.open("r", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
