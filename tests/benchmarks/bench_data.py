"""Benchmark inputs from include/demo/leads.py (default seed 42 and its default few per cent bad rows).

    python bench_data.py parquet PATH N     # leads in the Parquet format extract_leads writes
    python bench_data.py ledger PATH        # an empty SQLite contact ledger (integra.ledger.upgrade)
    python bench_data.py warehouse PATH N   # a SQLite warehouse seeded with N leads (demo seeder)
    python bench_data.py check DIR          # proof that `parquet` writes what extract_leads writes

All leads fall inside the data interval of ``RUN_AT`` (the day before it), as in run_demo.py.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / p) for p in ("include",)]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import sqlite_conn  # noqa: E402
from demo.leads import generate_leads, seed_sqlite  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TIMEZONE = ZoneInfo("America/Sao_Paulo")
# The query's columns (include/sql/integra_daily_campaign.sql), as extract_leads writes them.
QUERY_COLUMNS = ("lead_id", "full_name", "phone", "company", "product", "city")
EXTRACT_CHUNK_ROWS = 50_000  # the definition's default extract_chunk_rows: one row group per chunk


#: One run date for every process of a `make bench` (run_all.py sets it): a warehouse seeded after
#: midnight in São Paulo must still hold the day the earlier-computed runs are for.
RUN_AT_ENV = "BENCH_RUN_AT"


def run_at() -> datetime:
    """Tomorrow's 07:00 run in São Paulo (like run_demo.py), so its 10:00 calls are in the future;
    ``$BENCH_RUN_AT`` when set."""
    fixed = os.environ.get(RUN_AT_ENV)
    if fixed:
        return datetime.fromisoformat(fixed)
    local = datetime.now(TIMEZONE)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), TIMEZONE).replace(hour=7)


def leads(n: int, when: datetime) -> Iterator[dict[str, Any]]:
    return generate_leads(n, start=when - timedelta(days=1), end=when, seed=42)


def write_parquet(path: Path, n: int, when: datetime) -> int:
    """Rows as extract_leads writes them: every column a string, one row group per chunk.

    The campaign SQL has no ORDER BY, and extract_leads runs it as written: the SQLite warehouse
    returns the interval's rows by its created_at index, ties in insertion (= generation) order. The
    rows are sorted the same way here; ``check`` proves the result equal to the real extract.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.string()) for name in QUERY_COLUMNS])
    keys = ("created_at", *QUERY_COLUMNS)
    parts: list[pa.Table] = []
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        arrays = [pa.array([row.get(c) for row in chunk], type=pa.string()) for c in keys]
        parts.append(pa.Table.from_arrays(arrays, names=list(keys)))
        chunk.clear()

    for row in leads(n, when):
        chunk.append(row)
        if len(chunk) == EXTRACT_CHUNK_ROWS:
            flush()
    if chunk:
        flush()
    table = pa.concat_tables(parts)
    order = pa.Table.from_arrays(
        [table["created_at"], pa.array(range(table.num_rows), type=pa.int64())], names=["created_at", "seq"]
    ).sort_by([("created_at", "ascending"), ("seq", "ascending")])
    table = table.take(order["seq"]).select(list(QUERY_COLUMNS)).cast(schema).combine_chunks()
    with pq.ParquetWriter(str(path), schema) as writer:
        for batch in table.to_batches(max_chunksize=EXTRACT_CHUNK_ROWS):
            writer.write_table(pa.Table.from_batches([batch], schema=schema))
    return table.num_rows


def create_ledger(path: Path) -> tuple[str | None, str]:
    """A new SQLite contact ledger at ``path``, created the supported way: ``integra.ledger.upgrade``."""
    import os

    path.unlink(missing_ok=True)
    os.environ["AIRFLOW_CONN_INTEGRA_LEDGER"] = sqlite_conn(path)
    from integra.ledger import DEFAULT_CONN_ID, upgrade

    return upgrade(DEFAULT_CONN_ID)


def check(folder: Path) -> None:
    """Run the real extract_leads on a small seeded warehouse and compare with write_parquet's file."""
    import os

    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    when = run_at()
    db = folder / "check.db"
    db.unlink(missing_ok=True)
    seed_sqlite(db, leads(2_000, when))
    os.environ["AIRFLOW_CONN_INTEGRA_WAREHOUSE"] = sqlite_conn(db)
    os.environ["INTEGRA_DATA_PATH"] = f"file://{folder / 'data'}"
    from integra.definitions import load_definition
    from integra.pipeline.extract import extract_leads

    definition = load_definition(ROOT / "include" / "campaigns" / "integra_daily_campaign.yaml")
    context = {
        "logical_date": when,
        "data_interval_start": when - timedelta(days=1),
        "data_interval_end": when,
        "run_id": "bench-check",
        "params": {},
    }
    real = pq.read_table(extract_leads(definition, context)["location"])
    ours_path = folder / "ours.parquet"
    write_parquet(ours_path, 2_000, when)
    ours = pq.read_table(ours_path)
    if not real.equals(ours):
        raise SystemExit(f"bench parquet differs from extract_leads output:\n{real.schema}\n{ours.schema}")
    print(json.dumps({"check": "ok", "rows": real.num_rows}))


def main(argv: list[str]) -> int:
    command, path = argv[0], Path(argv[1])
    if command == "parquet":
        print(json.dumps({"rows": write_parquet(path, int(argv[2]), run_at())}))
    elif command == "ledger":
        before, after = create_ledger(path)
        print(json.dumps({"before": before, "revision": after}))
    elif command == "warehouse":
        path.unlink(missing_ok=True)
        print(json.dumps({"rows": seed_sqlite(path, leads(int(argv[2]), run_at()))}))
    elif command == "check":
        check(path)
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
