"""One transform run over an extracted-leads Parquet file, in this (fresh) process.

    python bench_transform.py MODE INPUT OUT_DIR [--profile FILE]

MODE:
  ours   integra.pipeline.transform.build_recipients(definition, {"location": INPUT}, context) with
         params.dry_run = True (rejections are not written to the ledger; everything else,
         including the ledger's suppression/cooldown reads and the batch files, happens).
  naive  the textbook way: per row phonenumbers.parse + is_valid_number + format E.164 and a
         pydantic integra.models.Recipient validation, first number wins, 10,000-row batch files.
  floor  pyarrow reads the input and writes 10,000-row batch files; no validation at all.

Needs AIRFLOW_CONN_INTEGRA_LEDGER (an upgraded contact ledger, e.g. ``bench_data.py ledger``) for ``ours``.
Prints JSON: seconds (the transform call only), rows, batched, batches, base_rss_mb (ru_maxrss after
imports and setup, before the call) and peak_rss_mb (ru_maxrss after the call; raw, nothing subtracted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFINITION_FILE, emit, peak_rss_mb

BATCH_ROWS = 10_000
ROW_CHUNK = 100_000


def ours(location: Path, out: Path) -> tuple[dict[str, Any], Any]:
    os.environ["INTEGRA_DATA_PATH"] = f"file://{out}"
    # Loaded before the baseline: a task runs in a worker that has the Task SDK imported already;
    # pandas and pyarrow are what build_recipients imports first, alembic what the ledger's readiness
    # check imports. The ledger's engine and that check are left to the call: a fresh task pays them.
    import alembic.runtime.migration
    import alembic.script  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    from airflow.sdk import ObjectStoragePath  # noqa: F401

    from integra import phones  # noqa: F401
    from integra.definitions import load_definition
    from integra.pipeline.transform import build_recipients

    definition = load_definition(DEFINITION_FILE)
    when = _logical_date()
    context = {
        "logical_date": when,  # as `airflow dags test DAG <when>` of the CronTriggerTimetable
        "data_interval_start": when - timedelta(days=1),
        "data_interval_end": when,  # the day the run is for (integra.scheduling.run_for)
        "run_id": "bench",
        "params": {"dry_run": True},
    }

    def call() -> dict[str, Any]:
        summary = build_recipients(definition, {"location": str(location)}, context)
        counts = summary["counts"]
        return {
            "rows": counts["queried"],
            "batched": counts["batched"],
            "batches": len(summary["batches"]),
            "rejected": counts.get("rejected", 0),
            "duplicates": counts.get("duplicates", 0),
        }

    return {}, call


def naive(location: Path, out: Path) -> tuple[dict[str, Any], Any]:
    import phonenumbers
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pydantic import ValidationError

    from integra.definitions import load_definition
    from integra.models import Recipient

    definition = load_definition(DEFINITION_FILE)
    cols = definition.columns
    variables_of = dict(definition.dynamic_variables)
    region, max_name = definition.default_region, definition.max_name_length
    e164_format = phonenumbers.PhoneNumberFormat.E164

    def call() -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        pending: list[dict[str, Any]] = []
        rows = batches = batched = rejected = duplicates = 0

        def flush() -> None:
            nonlocal batches, batched
            batches += 1
            batched += len(pending)
            pq.write_table(pa.Table.from_pylist(pending), str(out / f"batch-{batches:04d}.parquet"))
            pending.clear()

        for record_batch in pq.ParquetFile(str(location)).iter_batches(batch_size=ROW_CHUNK):
            for row in record_batch.to_pylist():
                rows += 1
                phone = row[cols.phone]
                try:
                    if not phone or not phone.strip():
                        raise ValueError("missing_phone")
                    number = phonenumbers.parse(phone, region)
                    if not phonenumbers.is_valid_number(number):
                        raise ValueError("invalid_phone")
                except (ValueError, phonenumbers.NumberParseException):
                    rejected += 1
                    continue
                e164 = phonenumbers.format_number(number, e164_format)
                name = " ".join((row[cols.name] or "").split())
                variables = {var: (row[col] or "").strip() for var, col in variables_of.items()}
                try:
                    if len(name) > max_name:
                        raise ValueError("name_too_long")
                    Recipient.model_validate(
                        {"phone_number": e164, "recipient_name": name, "dynamic_variables": variables}
                    )
                except (ValueError, ValidationError):
                    rejected += 1
                    continue
                if e164 in seen:
                    duplicates += 1
                    continue
                seen.add(e164)
                pending.append(
                    {
                        "lead_id": row[cols.lead_id],
                        "phone_number": e164,
                        "recipient_name": name,
                        "dynamic_variables": json.dumps(variables, ensure_ascii=False),
                    }
                )
                if len(pending) == BATCH_ROWS:
                    flush()
        if pending:
            flush()
        return {"rows": rows, "batched": batched, "batches": batches, "rejected": rejected, "duplicates": duplicates}

    return {}, call


def floor(location: Path, out: Path) -> tuple[dict[str, Any], Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = ["lead_id", "phone", "full_name", "company", "product"]

    def call() -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        rows = batches = 0
        for record_batch in pq.ParquetFile(str(location)).iter_batches(batch_size=BATCH_ROWS, columns=columns):
            batches += 1
            rows += record_batch.num_rows
            pq.write_table(pa.Table.from_batches([record_batch]), str(out / f"batch-{batches:04d}.parquet"))
        return {"rows": rows, "batched": rows, "batches": batches}

    return {}, call


def _logical_date() -> datetime:
    from bench_data import run_at

    return run_at()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["ours", "naive", "floor"])
    parser.add_argument("input", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the call to this file")
    args = parser.parse_args()
    _, call = {"ours": ours, "naive": naive, "floor": floor}[args.mode](args.input, args.out)
    base = peak_rss_mb()
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        start = time.perf_counter()
        result = profiler.runcall(call)
        seconds = time.perf_counter() - start
        profiler.dump_stats(str(args.profile))
    else:
        start = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - start
    emit({"mode": args.mode, "seconds": seconds, "base_rss_mb": base, "peak_rss_mb": peak_rss_mb(), **result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
