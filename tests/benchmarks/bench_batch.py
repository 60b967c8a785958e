"""One 10,000-person batch through ``IntegraOperator.send``, in this (fresh) process.

    python bench_batch.py KIND TARGET WORKDIR [--members N]

KIND and TARGET name the ledger as for bench_ledger.py (``integra_ledger``); the sandbox behind
``AIRFLOW_CONN_INTEGRA_DEFAULT`` must be running. ``send`` is the whole path of one batch in
create_campaign, timed step by step: ``plan`` (read the batch file, ask the ledger, schedule it in its
people's hours, build and validate the request), ``claim`` (the key with its members) and ``post`` (the
POST, then confirm the campaign id). Two batches are sent: the first of the process (what a task
instance's first batch costs: the HTTP hook and session and the request model's validator are built
then) and a second one (each later batch; ``seconds`` is its whole path). Untimed
before them: the batch files, the emptied ledger tables, the ledger's engine and readiness check, and
the operator. Checked after: each batch is ``created`` in the ledger with the campaign id the sandbox
answered and all its members. Prints JSON with seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))
from _common import DAG_ID, DEFINITION_FILE, emit
from bench_ledger import CONN_ID, KINDS, MEMBERS, airflow_conn, count_rows, members, reset_tables


def write_batch(path: Path, people: list[dict[str, str]], variables: list[str]) -> None:
    """A batch file as build_recipients writes it (integra.pipeline.batching.BatchWriter)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from integra.policy import local_time

    names = [p["recipient_name"] for p in people]
    places = [local_time.locality_of(p["phone_e164"]).text for p in people]
    local_time._LOCALITIES.clear()  # looked up as build_recipients does, in its process: this one starts cold
    columns = {
        "lead_id": pa.array([p["lead_id"] for p in people], pa.string()),
        "phone_number": pa.array([p["phone_e164"] for p in people], pa.string()),
        "recipient_name": pa.array(names, pa.string()),
        "locality": pa.array(places, pa.string()),
        "dynamic_variables": pa.StructArray.from_arrays(
            [pa.array(names if v == "leadName" else [f"{v} value"] * len(people), pa.string()) for v in variables],
            names=variables,
        ),
    }
    pq.write_table(pa.table(columns), path)


def run(kind: str, target: str, workdir: Path, n: int, profile: Path | None = None) -> dict[str, Any]:
    os.environ["AIRFLOW_CONN_INTEGRA_LEDGER"] = airflow_conn(kind, target)
    from airflow.sdk import DAG
    from bench_data import run_at

    from integra.definitions import load_definition
    from integra.ledger import Ledger
    from integra.ledger import idempotency as idem
    from integra.ledger.tables import recipients
    from integra.operators import Batch, Claimed, IntegraOperator, Planned
    from integra.policy.contact import load_policy
    from integra.runtime import frozen_heap

    definition = load_definition(DEFINITION_FILE)
    ledger = Ledger(CONN_ID)
    reset_tables(kind, ledger.engine)  # the readiness check, as extract_leads does before anything
    day = run_at()
    people = members(2 * n, day)
    files = []
    for number, part in enumerate((people[:n], people[n:]), start=1):
        path = workdir / f"batch-{number:04d}.parquet"
        write_batch(path, part, list(definition.dynamic_variables))
        files.append(path)
    with DAG(dag_id=DAG_ID, schedule=None):
        operator = IntegraOperator(
            task_id="create_campaign",
            name=definition.dag_id,
            project_id=str(definition.project_id),
            agent_id=str(definition.agent_id),
            phone_number_id=str(definition.phone_number_id),
            recipients=str(files[0]),
            ledger_conn_id=CONN_ID,
            contact_policy=load_policy().model_dump(),
        )
    context: Any = {
        "logical_date": day,
        "data_interval_start": day - timedelta(days=1),
        "data_interval_end": day,
        "run_id": "bench",
        "params": {},
    }
    timings: list[dict[str, float]] = []
    results = []
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    for number, path in enumerate(files, start=1):
        batch = Batch(f"Leads diários ({number}/2)", str(path), number, len(files))
        with frozen_heap():  # as IntegraOperator.execute runs every batch
            # IntegraOperator.send, step by step: plan, claim, post (the POST, then confirm).
            t0 = time.perf_counter()
            planned = operator.plan(context, batch)
            t1 = time.perf_counter()
            claimed = operator.claim(planned) if isinstance(planned, Planned) else planned
            t2 = time.perf_counter()
            result = operator.post(claimed) if isinstance(claimed, Claimed) else claimed
            t3 = time.perf_counter()
        timings.append({"plan_s": t1 - t0, "claim_s": t2 - t1, "post_s": t3 - t2, "seconds": t3 - t0})
        results.append(result)
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    for result in results:
        key, campaign_id = result.get("campaign_key"), result.get("campaign_id")
        row = idem.get(ledger, str(key)) or {}
        if not campaign_id or (row.get("status"), row.get("campaign_id")) != (idem.Status.CREATED, campaign_id):
            raise SystemExit(f"batch {key}: status {row.get('status')}, campaign {row.get('campaign_id')} ({result})")
        stored = count_rows(
            ledger.engine, f"SELECT COUNT(*) FROM {recipients.name} WHERE campaign_key = :key", {"key": key}
        )
        if stored != n:
            raise SystemExit(f"the ledger holds {stored} of {n} members of batch {key}")
    return {"kind": kind, "members": n, "first": timings[0], "later": timings[1], "seconds": timings[1]["seconds"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("target")
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--members", type=int, default=MEMBERS)
    parser.add_argument("--profile", type=Path, help="write cProfile stats of both batches to this file")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    emit(run(args.kind, args.target, args.workdir, args.members, args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
