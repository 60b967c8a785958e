"""End-to-end runs: `airflow dags test` of the daily campaign against the Integra sandbox.

Used by run_all.py (figures 5 and 6); also a CLI for one run:

    python bench_e2e.py WORKDIR N [real|empty|hand|trivial]

Each run gets a private AIRFLOW_HOME whose metadata DB is a copy of one migrated template, a
fresh copy of a SQLite warehouse seeded with N leads, a fresh copy of an empty SQLite contact
ledger made by ``integra.ledger.upgrade`` (the connection ``integra_ledger``), and its own
sandbox (started like include/demo/run_demo.py does). ``empty`` runs a DAG of the same shape (4
tasks, the mapped one with the same number of map indexes) whose tasks do nothing, with the same
process setup. ``hand`` runs hand_written_dag.py (one task: sqlite3, phonenumbers, pydantic, requests;
no ledger), copied into a private DAGs folder, with the same process setup (figure 9). ``trivial`` runs
a one-task DAG whose task does nothing: the fixed cost of any `airflow dags test` (figure 10).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "include"))
from _common import BENCH_DIR, DAG_ID, PYTHON, airflow_env, run_json, sqlite_conn

TOKEN = "ik_test_bench_token"
EMPTY_DAG_ID = "integra_bench_empty_shape"
HAND_DAG_ID = "integra_bench_hand_written"
TRIVIAL_DAG_ID = "integra_bench_trivial"
TRIVIAL_DAG = '''\
"""One task that does nothing: what any `airflow dags test` costs."""
from datetime import datetime

from airflow.sdk import DAG, task

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2026, 11, 1), catchup=False):

    @task(task_id="noop")
    def noop():
        return 0

    noop()
'''
HAND_DAG_FILE = BENCH_DIR / "hand_written_dag.py"
BATCH_SIZE = 10_000

EMPTY_DAG = '''\
"""Same shape as integra_daily_campaign (extract -> build -> mapped create -> record), no work."""
from datetime import datetime, timedelta

from airflow.sdk import DAG, CronTriggerTimetable, task

MAP_INDEXES = {map_indexes}

with DAG(
    dag_id="{dag_id}",
    schedule=CronTriggerTimetable("0 7 * * *", timezone="America/Sao_Paulo", interval=timedelta(days=1)),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
):

    @task(task_id="extract_leads")
    def extract_leads():
        return {{"location": "nowhere", "rows": 0}}

    @task(task_id="build_recipients")
    def build_recipients(extracted):
        return [{{"batch_number": i + 1}} for i in range(MAP_INDEXES)]

    @task(task_id="create_campaign")
    def create_campaign(batch_number):
        return {{"batch_number": batch_number}}

    @task(task_id="record_campaigns")
    def record_campaigns(results):
        return len(list(results))

    record_campaigns(create_campaign.expand_kwargs(build_recipients(extract_leads())))
'''


def migrate_template(folder: Path) -> Path:
    """`airflow db migrate` once; every run copies the resulting airflow.db."""
    home = folder / "template-home"
    env = airflow_env(home)
    subprocess.run([PYTHON, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    return home / "airflow.db"


def seed_template(folder: Path, n: int) -> Path:
    path = folder / f"warehouse-{n}.db"
    run_json([str(BENCH_DIR / "bench_data.py"), "warehouse", str(path), str(n)], airflow_env(folder / "seed-home"))
    return path


def ledger_template(folder: Path) -> Path:
    """An empty contact ledger, upgraded once (untimed); every run gets its own copy, so no run sees
    another's batches, rejections or accounting."""
    path = folder / "ledger-template.db"
    run_json([str(BENCH_DIR / "bench_data.py"), "ledger", str(path)], airflow_env(folder / "seed-home"))
    return path


def start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The demo's own launcher, with this benchmark's token."""
    from demo.run_demo import start_sandbox as launch

    return launch(workdir, TOKEN)


def sandbox_connection(url: str, token: str) -> str:
    """The demo's connection JSON for a sandbox."""
    from demo.run_demo import sandbox_connection as connection

    return connection(url, token)


def sandbox_stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_sandbox/stats", timeout=10) as response:
        return json.load(response)


def sandbox_campaigns(url: str) -> list[dict[str, Any]]:
    """Every campaign the sandbox created (sandbox-only ``GET /api/v1/campaigns``, request bodies included)."""
    request = urllib.request.Request(f"{url}/api/v1/campaigns", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.load(response)["campaigns"]


def run_summary(ledger: Path) -> dict[str, Any] | None:
    """The run's accounting row in the ledger's ``integra_runs``."""
    with sqlite3.connect(ledger) as conn:
        row = conn.execute(
            "SELECT sent, summary FROM integra_runs WHERE dag_id = ? ORDER BY recorded_at DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
    if row is None:
        return None
    summary = json.loads(row[1])
    summary["sent_column"] = row[0]
    return summary


def run_measured(command: list[str], *, env: dict[str, str], out: Any, timeout: float) -> tuple[int, float]:
    """(exit code, peak RSS in MiB) of one command: ``wait4`` reports the largest resident set of that
    process and the descendants it waited for, not of anything else this benchmark started (the sandbox)."""
    proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return proc.returncode, usage.ru_maxrss / 1024  # KiB on Linux


def run_once(
    workdir: Path,
    *,
    kind: str,
    n: int,
    airflow_db: Path,
    warehouse_template: Path,
    ledger_template: Path,
    logical_date: str,
    map_indexes: int = 0,
) -> dict[str, Any]:
    """One `airflow dags test` in a fresh home; wall time of that command, plus what it did."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    home = workdir / "home"
    home.mkdir()
    shutil.copyfile(airflow_db, home / "airflow.db")
    warehouse = workdir / "warehouse.db"
    shutil.copyfile(warehouse_template, warehouse)
    ledger = workdir / "ledger.db"
    shutil.copyfile(ledger_template, ledger)
    if kind == "empty":
        dags = workdir / "dags"
        dags.mkdir()
        (dags / "empty_shape.py").write_text(EMPTY_DAG.format(map_indexes=map_indexes, dag_id=EMPTY_DAG_ID))
        dag_id = EMPTY_DAG_ID
    elif kind == "hand":
        dags = workdir / "dags"
        dags.mkdir()
        shutil.copyfile(HAND_DAG_FILE, dags / HAND_DAG_FILE.name)
        dag_id = HAND_DAG_ID
    elif kind == "trivial":
        dags = workdir / "dags"
        dags.mkdir()
        (dags / "trivial.py").write_text(TRIVIAL_DAG.format(dag_id=TRIVIAL_DAG_ID))
        dag_id = TRIVIAL_DAG_ID
    elif kind == "real":
        dags, dag_id = None, DAG_ID
    else:
        raise ValueError(f"unknown kind {kind!r}: real, empty, hand or trivial")
    sandbox, url = start_sandbox(workdir)
    try:
        env = airflow_env(
            home,
            dags_folder=dags,
            extra={
                "AIRFLOW_CONN_INTEGRA_WAREHOUSE": sqlite_conn(warehouse),
                "AIRFLOW_CONN_INTEGRA_LEDGER": sqlite_conn(ledger),
                "AIRFLOW_CONN_INTEGRA_DEFAULT": sandbox_connection(url, TOKEN),
                "INTEGRA_DATA_PATH": f"file://{workdir / 'data'}",
            },
        )
        log_path = workdir / "dags_test.log"
        start = time.perf_counter()
        with log_path.open("wb") as out:
            returncode, peak_rss_mb = run_measured(
                [PYTHON, "-m", "airflow", "dags", "test", dag_id, logical_date], env=env, out=out, timeout=1200
            )
        seconds = time.perf_counter() - start
        stats = sandbox_stats(url)
        # Only the counts are kept: at 1M the bodies are ~100 campaigns of 10,000 recipients.
        created = [c["total_recipients"] for c in sandbox_campaigns(url)] if kind == "hand" else []
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    result: dict[str, Any] = {
        "kind": kind,
        "n": n,
        "seconds": seconds,
        "rc": returncode,
        "peak_rss_mb": peak_rss_mb,
        "log": str(log_path),
    }
    if returncode != 0:
        raise RuntimeError(f"airflow dags test {dag_id} failed (rc {returncode}); log: {log_path}")
    if kind == "real":
        summary = run_summary(ledger)
        if summary is None or summary.get("status") != "ok":
            raise RuntimeError(f"the run recorded no ok summary ({summary and summary.get('status')}); log: {log_path}")
        sent = int(summary["counts"]["sent"])
        if n and not sent:  # e.g. a warehouse seeded for another day: a fast run that measured nothing
            raise RuntimeError(f"the run sent nobody of {n} leads ({summary['counts']}); log: {log_path}")
        result.update(
            sent=sent,
            queried=int(summary["counts"]["queried"]),
            campaigns=len(summary["campaigns"]),
            campaign_posts=int(stats["campaign_posts"]),
            requests=int(stats["requests"]),
            # One POST per batch: batches are per zone group, so at least ceil(sent / 10,000) of them.
            expected_posts=len(summary["campaigns"]),
            # Mapped create_campaign instances (max_create_tasks of the definition shares the batches).
            create_tasks=log_path.read_text(errors="replace").count("[DAG TEST] starting task_id=create_campaign "),
            fewest_batches=math.ceil(sent / BATCH_SIZE),
        )
    elif kind == "hand":
        # Every POST must have created a campaign (a 201), one per 10,000 recipients.
        sent, posts = sum(created), int(stats["campaign_posts"])
        if not created or posts != len(created) or posts != math.ceil(sent / BATCH_SIZE):
            raise RuntimeError(
                f"the hand-written DAG's POSTs were not all accepted: {posts} POSTs, {len(created)} campaigns "
                f"created with {sent} recipients; see {workdir / 'sandbox.log'} and {log_path}"
            )
        result.update(sent=sent, campaigns=len(created), campaign_posts=posts, requests=int(stats["requests"]))
    return result


def main(argv: list[str]) -> int:
    from bench_data import run_at

    workdir, n = Path(argv[0]), int(argv[1])
    kind = argv[2] if len(argv) > 2 else "real"
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "template-home" / "airflow.db"
    if not db.exists():
        db = migrate_template(workdir)
    warehouse = workdir / f"warehouse-{n}.db"
    if not warehouse.exists():
        warehouse = seed_template(workdir, n)
    ledger = workdir / "ledger-template.db"
    if not ledger.exists():
        ledger = ledger_template(workdir)
    result = run_once(
        workdir / f"run-{kind}-{n}",
        kind=kind,
        n=n,
        airflow_db=db,
        warehouse_template=warehouse,
        ledger_template=ledger,
        logical_date=run_at().isoformat(),
        map_indexes=math.ceil(n * 0.96 / BATCH_SIZE),
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
