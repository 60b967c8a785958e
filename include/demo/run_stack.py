"""`make stack`: the production topology as local processes, to watch Celery run the demo in the UI.

No Docker: the machine's PostgreSQL (metadata and the contact ledger, each in a database of its own),
a redis-server started here on a free port (the Celery broker), the demo's SQLite warehouse and the
Integra sandbox, then ``airflow api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and two
``airflow celery worker`` processes sharing one ``INTEGRA_DATA_PATH``. It triggers
``integra_daily_campaign`` for yesterday (the scheduler runs no future logical date), with its calls
set for tomorrow 10:00 (the ``scheduled_at`` param), and prints where to watch the batches spread over
the workers. Ctrl-C stops everything it started, and nothing keeps running.

    python include/demo/run_stack.py [--postgres postgresql://postgres@127.0.0.1:5432] [--port 8080]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "include"))

from demo.leads import generate_leads, seed_sqlite  # noqa: E402
from demo.run_demo import TIMEZONE, TOKEN, next_run_date, sandbox_connection, start_sandbox  # noqa: E402

DAG_ID = "integra_daily_campaign"
WORKERS = ("worker-1", "worker-2")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_database(server: str, name: str) -> str:
    """A fresh database on the PostgreSQL server (dropped first); its SQLAlchemy URL."""
    import psycopg2

    conn = psycopg2.connect(f"{server}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return f"{server}/{name}"


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own components
            args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the component's process group, SIGKILL after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)


def wait_for(url: str, processes: dict[str, subprocess.Popen[bytes]], timeout: float = 300) -> None:
    """Until ``url`` answers 200 (the api-server is up and the DAG serialised), or a component dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [name for name, p in processes.items() if p.poll() is not None]
        if dead:
            raise SystemExit(f"{', '.join(dead)} exited before the stack was ready")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=5).close()  # noqa: S310 - loopback
            return
        time.sleep(1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--port", type=int, default=8080, help="the api-server's (UI's) port")
    parser.add_argument("--leads", type=int, default=25_000, help="demo leads for tomorrow's run (3 batches)")
    parser.add_argument("--stop-after", type=float, default=0, help="seconds until it stops by itself (0: Ctrl-C)")
    args = parser.parse_args()

    redis = shutil.which("redis-server")
    if redis is None:
        raise SystemExit("redis-server is missing: apt-get install redis-server (the Celery broker)")
    workdir = ROOT / ".airflow" / "stack"
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "logs").mkdir(parents=True)
    metadata = create_database(args.postgres, "integra_stack_airflow")
    create_database(args.postgres, "integra_stack_ledger")
    warehouse = workdir / "warehouse.db"
    calls_at = next_run_date(datetime.now(TIMEZONE)).replace(hour=10)
    run_at = calls_at.replace(hour=7) - timedelta(days=2)  # yesterday's 07:00 run
    seed_sqlite(warehouse, generate_leads(args.leads, start=run_at - timedelta(days=1), end=run_at, seed=42))

    processes: dict[str, subprocess.Popen[bytes]] = {}
    sandbox, sandbox_url = start_sandbox(workdir)
    broker_port = free_port()
    processes["redis"] = start(
        [redis, "--port", str(broker_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        dict(os.environ),
        workdir / "logs" / "redis.log",
    )
    api = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(workdir / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata.replace("postgresql://", "postgresql+psycopg2://", 1),
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{broker_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": metadata.replace("postgresql://", "db+postgresql://", 1),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # runs only when triggered
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Shared storage: one disk here, an object store when workers are on different hosts.
        "INTEGRA_DATA_PATH": f"file://{workdir / 'data'}",
        "AIRFLOW_CONN_INTEGRA_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "AIRFLOW_CONN_INTEGRA_LEDGER": json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "login": "postgres", "schema": "integra_stack_ledger"}
        ),
        "AIRFLOW_CONN_INTEGRA_DEFAULT": sandbox_connection(sandbox_url, TOKEN),
        "PYTHONUNBUFFERED": "1",
    }
    airflow = [sys.executable, "-m", "airflow"]
    try:
        subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)  # noqa: S603
        subprocess.run([sys.executable, "-m", "integra.ledger", "upgrade"], env=env, check=True, capture_output=True)
        for name in COMPONENTS:
            extra = ["--port", str(args.port), "--host", "127.0.0.1"] if name == "api-server" else []
            processes[name] = start([*airflow, name, *extra], env, workdir / "logs" / f"{name}.log")
        for name in WORKERS:
            command = [*airflow, "celery", "worker", "--celery-hostname", f"{name}@%h"]
            processes[name] = start(command, env, workdir / "logs" / f"{name}.log")
        wait_for(f"{api}/api/v2/dags/{DAG_ID}", processes)
        body = {"logical_date": run_at.isoformat(), "conf": {"scheduled_at": calls_at.isoformat()}}
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{api}/api/v2/dags/{DAG_ID}/dagRuns",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            run_id = json.load(response)["dag_run_id"]
        print(f"Airflow UI: {api}  (CeleryExecutor, workers {', '.join(WORKERS)}; logs in {workdir / 'logs'})")
        print(f"Triggered {DAG_ID} for {run_at:%Y-%m-%d} ({args.leads} demo leads, calls at {calls_at.isoformat()}):")
        print(f"  {api}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}")
        print(f"Integra sandbox panel: {sandbox_url}/panel. Ctrl-C stops everything.", flush=True)
        end = time.monotonic() + args.stop_after if args.stop_after else None
        while end is None or time.monotonic() < end:
            dead = [name for name, p in processes.items() if p.poll() is not None]
            if dead:
                print(f"{', '.join(dead)} exited; see {workdir / 'logs'}. Stopping.")
                return 1
            time.sleep(1)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        print("Stopping ...", flush=True)
        for process in reversed(list(processes.values())):
            stop(process)
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
