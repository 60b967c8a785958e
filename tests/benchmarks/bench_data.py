"""Benchmark inputs from include/demo/leads.py (default seed 42 and its default few per cent bad rows).

    python bench_data.py parquet PATH N     # leads in the Parquet format extract_leads writes
    python bench_data.py ledger PATH        # an empty warehouse with the ledger tables
    python bench_data.py warehouse PATH N   # a SQLite warehouse seeded with N leads (demo seeder)
    python bench_data.py check DIR          # proof that `parquet` writes what extract_leads writes

All leads fall inside the data interval of ``RUN_AT`` (the day before it), as in run_demo.py.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / p) for p in ("include", "plugins")]

from demo.leads import generate_leads, seed_sqlite  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TIMEZONE = ZoneInfo("America/Sao_Paulo")
# The query's columns (include/sql/integra_daily_campaign.sql) plus the flag the DAG adds.
QUERY_COLUMNS = ("lead_id", "full_name", "phone", "company", "product", "city", "integra_exclusion")
EXTRACT_CHUNK_ROWS = 50_000  # the definition's default extract_chunk_rows: one row group per chunk


def run_at() -> datetime:
    """Tomorrow's 07:00 run in São Paulo (like run_demo.py), so its 10:00 calls are in the future."""
    local = datetime.now(TIMEZONE)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), TIMEZONE).replace(hour=7)


def leads(n: int, when: datetime):
    return generate_leads(n, start=when - timedelta(days=1), end=when, seed=42)


def write_parquet(path: Path, n: int, when: datetime) -> int:
    """Rows as extract_leads writes them: every column a string, NULL flag, one row group per chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.string()) for name in QUERY_COLUMNS])
    rows = 0
    chunk: list[dict] = []
    with pq.ParquetWriter(str(path), schema) as writer:

        def flush() -> None:
            arrays = [pa.array([row.get(c) for row in chunk], type=pa.string()) for c in QUERY_COLUMNS]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))

        for row in leads(n, when):  # already in lead_id order, as the query's ORDER BY returns them
            chunk.append(row)
            if len(chunk) == EXTRACT_CHUNK_ROWS:
                flush()
                rows += len(chunk)
                chunk = []
        if chunk:
            flush()
            rows += len(chunk)
    return rows


def create_ledger(path: Path) -> None:
    ddl = (ROOT / "include" / "sql" / "ledger_ddl.sql").read_text(encoding="utf-8")
    with sqlite3.connect(path) as conn:
        conn.executescript(ddl)


def check(folder: Path) -> None:
    """Run the real extract_leads on a small seeded warehouse and compare with write_parquet's file."""
    import os

    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    when = run_at()
    db = folder / "check.db"
    db.unlink(missing_ok=True)
    seed_sqlite(db, leads(2_000, when))
    os.environ["AIRFLOW_CONN_INTEGRA_WAREHOUSE"] = f'{{"conn_type": "sqlite", "host": "{db}"}}'
    os.environ["INTEGRA_DATA_PATH"] = f"file://{folder / 'data'}"
    from integra import pipeline
    from integra.definitions import load_definition

    definition = load_definition(ROOT / "include" / "campaigns" / "integra_daily_campaign.yaml")
    context = {
        "logical_date": when,
        "data_interval_start": when - timedelta(days=1),
        "data_interval_end": when,
        "run_id": "bench-check",
        "params": {},
    }
    real = pq.read_table(pipeline.extract_leads(definition, context)["location"])
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
        create_ledger(path)
        print("{}")
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
