"""One ledger claim of a 10,000-member batch, or its floor, in this (fresh) process.

    python bench_ledger.py create KIND                  # a scratch database on the server; prints its URI
    python bench_ledger.py upgrade KIND TARGET          # the ledger in it (integra.ledger.upgrade)
    python bench_ledger.py run KIND TARGET MODE [--members N] [--profile FILE]
    python bench_ledger.py drop KIND TARGET             # drop the scratch database

KIND is sqlite, postgres or mysql (MariaDB here); TARGET a SQLite file or the server URI, reached as
the Airflow connection ``integra_ledger`` (``AIRFLOW_CONN_INTEGRA_LEDGER``).

MODE:
  ours   what create_campaign does around its POST: ``idempotency.claim`` (the batch row and its N
         member rows in one transaction; with the contact policy create_campaign passes, when the
         claim takes one), then ``idempotency.confirm`` (the batch becomes created). Each call timed;
         the first batch of the process, as a mapped create_campaign task has, after the
         ``idempotency.get`` the operator does first, and inside ``integra.runtime.frozen_heap`` as
         ``IntegraOperator.execute`` runs every batch (the process's long-lived objects are not rescanned
         by the collector while the rows are built).
  floor  the same N member rows written by a plain DB-API ``cursor.executemany`` INSERT plus commit,
         with the driver alone, into a new table of the same shape (columns, types, primary key,
         indexes) in the same database: what the driver allows for the claim's bulk of work.

Before the timed part the tables a claim writes are emptied (TRUNCATE on the servers, DELETE on
SQLite) and the floor table is created anew, so every run starts from empty tables. Prints JSON
with seconds.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))
from _common import DAG_ID, emit, sqlite_conn

from tests.fixtures.databases import create_server_database, drop_server_database

CONN_ID = "integra_ledger"
KINDS = ("sqlite", "postgres", "mysql")
LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MariaDB"}
MEMBERS = 10_000
FLOOR_TABLE = "bench_floor_recipients"


# -- scratch databases ----------------------------------------------------------------------------------


def create_database(kind: str) -> str:
    """An empty scratch database ``integra_bench_<hex>`` on the server (the tests' own helper); its URI."""
    return create_server_database(kind, prefix="integra_bench_")


def drop_database(kind: str, uri: str) -> None:
    """Drop the scratch database behind ``uri``, ending sessions left in it first."""
    if not urlsplit(uri).path.lstrip("/").startswith("integra_bench_"):
        raise ValueError(f"not a benchmark scratch database: {uri!r}")
    drop_server_database(kind, uri)


def airflow_conn(kind: str, target: str) -> str:
    """The ``AIRFLOW_CONN_INTEGRA_LEDGER`` value for the ledger at ``target``."""
    return sqlite_conn(Path(target)) if kind == "sqlite" else target


def upgrade(kind: str, target: str) -> dict[str, Any]:
    os.environ["AIRFLOW_CONN_INTEGRA_LEDGER"] = airflow_conn(kind, target)
    from integra.ledger import upgrade as upgrade_ledger

    before, after = upgrade_ledger(CONN_ID)
    return {"before": before, "revision": after}


# -- the batch -----------------------------------------------------------------------------------------


def members(n: int, when: datetime) -> list[dict[str, str]]:
    """N people as create_campaign hands them to the claim: generated leads that build_recipients would
    batch (valid distinct numbers, names without control characters)."""
    from bench_data import leads

    from integra.masking import mask_phone
    from integra.phones import normalize_phone

    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for row in leads(n + n // 5 + 100, when):
        e164, reason = normalize_phone(row["phone"], "BR")
        name = " ".join((row["full_name"] or "").split())
        bad_name = not name or len(name) > 120 or any(ord(c) < 32 or ord(c) == 127 for c in name)
        if reason or not e164 or e164 in seen or bad_name or not row["lead_id"]:
            continue
        seen.add(e164)
        out.append(
            {
                "lead_id": str(row["lead_id"]),
                "phone_e164": e164,
                "phone_masked": mask_phone(e164),
                "recipient_name": name,
            }
        )
        if len(out) == n:
            return out
    raise SystemExit("not enough valid generated leads")


def member_rows(
    columns: Sequence[str],
    key: str,
    people: Sequence[Mapping[str, str]],
    *,
    day: datetime,
    scheduled_at: datetime,
    claimed_at: datetime,
) -> list[tuple[Any, ...]]:
    """The rows ``idempotency.claim`` writes, as tuples in ``columns`` order, timestamps as stored (naive UTC).

    Every column the member table has had is known here; the table's current ones are picked.
    """
    day, scheduled_at, claimed_at = (v.astimezone(UTC).replace(tzinfo=None) for v in (day, scheduled_at, claimed_at))
    common = {
        "campaign_key": key,
        "dag_id": DAG_ID,
        "interval_end": day,
        "campaign_id": None,
        "scheduled_at": scheduled_at,
        "claimed_at": claimed_at,
    }
    unknown = set(columns) - set(common) - {"lead_id", "phone_e164", "phone_masked", "recipient_name"}
    if unknown:
        raise SystemExit(f"the member table has columns this floor does not know: {sorted(unknown)}")
    return [tuple({**common, **m}[c] for c in columns) for m in people]


# -- the run ---------------------------------------------------------------------------------------------


def reset_tables(kind: str, engine: Any) -> None:
    """Empty batch tables and a new floor table of the recipients table's shape (untimed)."""
    import sqlalchemy as sa

    from integra.ledger import tables

    with engine.begin() as conn:
        for table in (tables.recipients, tables.campaigns, tables.rejected_leads):
            if kind == "sqlite":
                conn.execute(table.delete())
            else:
                conn.exec_driver_sql(f"TRUNCATE TABLE {table.name}")
    floor = floor_table(sa.MetaData())
    floor.drop(engine, checkfirst=True)
    floor.create(engine)


def floor_table(metadata: Any) -> Any:
    """The member table's shape under another name: its columns, primary key and indexes, as they are now."""
    import sqlalchemy as sa

    from integra.ledger import tables

    source = tables.recipients
    indexes = sorted(source.indexes, key=lambda index: str(index.name))
    return sa.Table(
        FLOOR_TABLE,
        metadata,
        *(column._copy() for column in source.columns),
        sa.PrimaryKeyConstraint(*(c.name for c in source.primary_key.columns), name=f"pk_{FLOOR_TABLE}"),
        *(
            sa.Index(f"ix_{FLOOR_TABLE}_{i}", *(c.name for c in index.columns), unique=bool(index.unique))
            for i, index in enumerate(indexes)
        ),
    )


def _driver_connect(engine: Any) -> Any:
    """A DB-API connection from the ledger engine's own driver module (sqlite3, psycopg, MySQLdb) with
    the connection arguments the engine derives from the URL, and nothing of SQLAlchemy's pool or events:
    the driver's defaults, so ``executemany`` runs in one transaction that ``commit`` ends."""
    dialect = engine.dialect
    args, kwargs = dialect.create_connect_args(engine.url)
    kwargs.pop("context", None)  # SQLAlchemy's own psycopg adapters
    return dialect.loaded_dbapi.connect(*args, **kwargs)


def count_rows(engine: Any, sql: str, params: Mapping[str, Any]) -> int:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), dict(params)).scalar() or 0)


def run(kind: str, target: str, mode: str, n: int) -> tuple[dict[str, Any], Callable[[], dict[str, Any]]]:
    """(setup facts, the timed call): everything but the call is done here, untimed."""
    os.environ["AIRFLOW_CONN_INTEGRA_LEDGER"] = airflow_conn(kind, target)
    from bench_data import run_at

    from integra.ledger import Ledger
    from integra.ledger import idempotency as idem
    from integra.ledger.tables import recipients

    ledger = Ledger(CONN_ID)
    engine = ledger.engine  # the readiness check, as extract_leads does before anything
    reset_tables(kind, engine)
    day = run_at()
    scheduled_at = day.replace(hour=10)
    people = members(n, day)
    numbers = [m["phone_e164"] for m in people]
    digest = idem.batch_digest(ledger.digest_secret, numbers)
    key = idem.batch_key(DAG_ID, day, 1, digest)
    batch = idem.BatchRecord(
        key=key,
        dag_id=DAG_ID,
        run_id="bench",
        interval_end=day,
        batch_number=1,
        batch_count=1,
        digest=digest,
        name=f"Leads diários (1/1) [{idem.short_key(key)}]",
        recipients_count=len(people),
    )
    facts: dict[str, Any] = {"kind": kind, "mode": mode, "members": len(people)}

    if mode == "ours":
        from integra.runtime import frozen_heap

        extra: dict[str, Any] = {}
        if "policy" in inspect.signature(idem.claim).parameters:  # the contact policy create_campaign passes
            from integra.policy.contact import load_policy

            extra["policy"] = load_policy()
            facts["policy"] = extra["policy"].model_dump()
        if idem.get(ledger, key) is not None:  # what the operator asks first (and the pool's connection)
            raise SystemExit(f"the emptied ledger still holds {key}")
        campaign_id = str(uuid.uuid4())

        def call() -> dict[str, Any]:
            with frozen_heap():  # as IntegraOperator.execute runs every batch
                t0 = time.perf_counter()
                claim = idem.claim(ledger, batch, scheduled_at=scheduled_at, members=people, **extra)
                t1 = time.perf_counter()
                idem.confirm(ledger, key, campaign_id=campaign_id, scheduled_at=scheduled_at)
                t2 = time.perf_counter()
            if claim.state is not idem.ClaimState.CLAIMED:
                raise SystemExit(f"claim returned {claim.state}")
            row = idem.get(ledger, key) or {}
            if (row.get("status"), row.get("campaign_id")) != (idem.Status.CREATED, campaign_id):
                raise SystemExit(f"after confirm: status {row.get('status')}, campaign {row.get('campaign_id')}")
            sql = f"SELECT COUNT(*) FROM {recipients.name} WHERE campaign_key = :key"
            if "campaign_id" in recipients.c:  # members carry the campaign id too
                sql += " AND campaign_id = :id"
            stored = count_rows(engine, sql, {"key": key, "id": campaign_id})
            if stored != len(people):
                raise SystemExit(f"the ledger holds {stored} of {len(people)} members of the confirmed batch")
            return {"claim_s": t1 - t0, "confirm_s": t2 - t1, "seconds": t2 - t0, "rows": stored}

        return facts, call

    columns = [c.name for c in recipients.columns]
    rows = member_rows(columns, key, people, day=day, scheduled_at=scheduled_at, claimed_at=datetime.now(UTC))
    mark = "?" if kind == "sqlite" else "%s"
    sql = f"INSERT INTO {FLOOR_TABLE} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    conn = _driver_connect(engine)
    driver = engine.dialect.driver

    def floor_call() -> dict[str, Any]:
        try:
            cur = conn.cursor()
            t0 = time.perf_counter()
            cur.executemany(sql, rows)
            conn.commit()
            seconds = time.perf_counter() - t0
            cur.close()
        finally:
            conn.close()
        stored = count_rows(engine, f"SELECT COUNT(*) FROM {FLOOR_TABLE} WHERE campaign_key = :key", {"key": key})
        if stored != len(rows):
            raise SystemExit(f"the floor stored {stored} of {len(rows)} rows")
        return {"seconds": seconds, "rows": stored, "driver": driver}

    return facts, floor_call


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create").add_argument("kind", choices=KINDS[1:])
    for name in ("upgrade", "drop"):
        sub = commands.add_parser(name)
        sub.add_argument("kind", choices=KINDS if name == "upgrade" else KINDS[1:])
        sub.add_argument("target")
    one = commands.add_parser("run")
    one.add_argument("kind", choices=KINDS)
    one.add_argument("target")
    one.add_argument("mode", choices=["ours", "floor"])
    one.add_argument("--members", type=int, default=MEMBERS)
    one.add_argument("--profile", type=Path, help="write cProfile stats of the call to this file")
    args = parser.parse_args(argv)

    if args.command == "create":
        emit({"uri": create_database(args.kind)})
    elif args.command == "drop":
        drop_database(args.kind, args.target)
        emit({"dropped": args.target})
    elif args.command == "upgrade":
        emit(upgrade(args.kind, args.target))
    else:
        facts, call = run(args.kind, args.target, args.mode, args.members)
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            result = profiler.runcall(call)
            profiler.dump_stats(str(args.profile))
        else:
            result = call()
        emit({**facts, **result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
