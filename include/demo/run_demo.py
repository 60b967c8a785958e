"""`make demo`: the main job end to end on this machine, with nothing but the project's own parts.

A SQLite warehouse with generated leads, the local Integra sandbox on a free loopback port, one
real `airflow dags test` of the daily campaign, then the call outcomes coming back: the sandbox
delivers signed webhooks to the receiver on a real `airflow api-server`, and `airflow dags test` of
the outcomes DAG copies them to the warehouse. A printed summary; everything stops at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "include"))

from demo import outcomes  # noqa: E402
from demo.leads import generate_leads, seed_sqlite  # noqa: E402

DAG_ID = "integra_daily_campaign"
OUTCOMES_DAG_ID = "integra_outcomes"
TIMEZONE = ZoneInfo("America/Sao_Paulo")
RUN_HOUR = 7  # the campaign's cron: 07:00 local
TOKEN = "ik_test_demo_token"  # noqa: S105 - the local sandbox's token, not a secret


def next_run_date(now: datetime) -> datetime:
    """Tomorrow's 07:00 run, so its 10:00 calls are in the future whatever the time now."""
    local = now.astimezone(TIMEZONE)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), TIMEZONE).replace(hour=RUN_HOUR)


def start_sandbox(workdir: Path, token: str = TOKEN) -> tuple[subprocess.Popen[bytes], str]:
    """The sandbox on a free loopback port (written to a port file); its process and URL."""
    port_file = workdir / "sandbox.port"
    port_file.unlink(missing_ok=True)
    log = (workdir / "sandbox.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own script
        [
            sys.executable,
            str(ROOT / "include/integra_sandbox/server.py"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--token",
            token,
            "--port-file",
            str(port_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(100):
        if port_file.exists() and port_file.read_text().strip():
            return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("The Integra sandbox did not start; see " + str(workdir / "sandbox.log"))


def sandbox_connection(url: str, token: str) -> str:
    """The ``integra_default`` connection (JSON) for a sandbox at ``url``, its panel links included."""
    return json.dumps(
        {"conn_type": "http", "host": f"{url}/api/v1", "password": token, "extra": {"panel_url": f"{url}/panel"}}
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=500, help="demo leads to generate (default 500)")
    parser.add_argument("--workdir", default=str(ROOT / ".airflow" / "demo"))
    args = parser.parse_args()

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse, ledger = workdir / "warehouse.db", workdir / "ledger.db"
    for old in (warehouse, ledger):
        old.unlink(missing_ok=True)
    run_at = next_run_date(datetime.now(TIMEZONE))
    start, end = run_at - timedelta(days=1), run_at
    seeded = seed_sqlite(warehouse, generate_leads(args.leads, start=start, end=end, seed=42), replace=True)
    print(
        f"Demo warehouse: {seeded} leads created between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} "
        f"(America/Sao_Paulo) in {warehouse}"
    )

    sandbox, url = start_sandbox(workdir)
    print(f"Integra sandbox: {url}")
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW_CONN_INTEGRA_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
            "AIRFLOW_CONN_INTEGRA_LEDGER": json.dumps({"conn_type": "sqlite", "host": str(ledger)}),
            "AIRFLOW_CONN_INTEGRA_DEFAULT": sandbox_connection(url, TOKEN),
            "INTEGRA_DATA_PATH": f"file://{workdir / 'data'}",
        }
    )
    airflow = [sys.executable, "-m", "airflow"]
    api_server = None
    came_back: dict[str, int] = {}
    try:
        subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)  # noqa: S603
        print(f"Contact ledger: python -m integra.ledger upgrade  ({ledger})")
        subprocess.run([sys.executable, "-m", "integra.ledger", "upgrade"], env=env, check=True, capture_output=True)
        api_server, api_url = outcomes.start_api_server(env, workdir)
        registration = outcomes.register(env, f"{api_url}/integra/webhooks")
        print(
            f"Webhook receiver: {api_url}/integra/webhooks on the Airflow API server, registered as "
            f"{registration['id']} (secret stored in the connection integra_webhook)"
        )
        print(f"Running: airflow dags test {DAG_ID} {run_at.isoformat()}")
        with (workdir / "dags_test.log").open("wb") as out:
            result = subprocess.run(  # noqa: S603
                [*airflow, "dags", "test", DAG_ID, run_at.isoformat()], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        request = urllib.request.Request(  # noqa: S310 - the loopback sandbox
            f"{url}/api/v1/campaigns", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            campaigns = json.load(response)["campaigns"]
        if result.returncode == 0:
            deliveries = outcomes.wait_for_deliveries(url)
            delivered, failed = deliveries.get("delivered"), deliveries.get("failed")
            print(f"Webhooks delivered by the sandbox: {delivered} ({failed} failed)")
            print(f"Running: airflow dags test {OUTCOMES_DAG_ID}")
            with (workdir / "outcomes_test.log").open("wb") as out:
                exported = subprocess.run(  # noqa: S603
                    [*airflow, "dags", "test", OUTCOMES_DAG_ID], env=env, stdout=out, stderr=subprocess.STDOUT
                )
            if exported.returncode == 0:
                came_back = outcomes.summary(ledger, warehouse)
    finally:
        for process in (api_server, sandbox):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)

    with sqlite3.connect(ledger) as conn:
        row = conn.execute(
            "SELECT summary FROM integra_runs WHERE dag_id = ? ORDER BY recorded_at DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
    if result.returncode != 0 or row is None:
        print(f"The DAG run failed; its log is in {workdir / 'dags_test.log'}")
        return 1
    summary = json.loads(row[0])
    counts = summary["counts"]
    print()
    print(f"Run for {summary['interval_end']} ({summary['status']})")
    print(f"  leads queried      {counts['queried']}")
    print(f"  sent               {counts['sent']}")
    print(f"  rejected           {counts['rejected']}  {summary['rejected_by_reason']}")
    print(f"  duplicates         {counts['duplicates']}")
    print(f"  suppressed         {counts['suppressed']}")
    print(f"  cooled down        {counts['cooled_down']}")
    print(f"  capped             {counts['capped']}  (another campaign holds the number)")
    print(f"  skipped (late)     {counts['skipped_late']}")
    for campaign in summary["campaigns"]:
        print(
            f"  campaign {campaign['campaign_id']}  {campaign['name']!r}  {campaign['recipients']} recipients  "
            f"scheduled_at {campaign['scheduled_at']}  [{campaign['status']}]"
        )
    print(f"The sandbox received {len(campaigns)} campaign(s). Full log: {workdir / 'dags_test.log'}")
    if not came_back:
        print(f"The outcomes did not come back; see {workdir / 'outcomes_test.log'} and {workdir / 'api_server.log'}")
        return 1
    print()
    print("Call outcomes back (webhooks -> ledger -> outcomes DAG -> warehouse table integra_outcomes)")
    print(f"  webhook events     {came_back['events']}  ({came_back['events_not_processed']} not processed)")
    print(f"  calls reported     {came_back['outcomes']}")
    print(f"  answered           {came_back['answered']}")
    print(f"  not answered       {came_back['not_answered']}")
    suppressed = came_back["suppressed_by_webhook"]
    print(f"  opted out          {came_back['opted_out']}  (now on the suppression list: {suppressed})")
    print(f"  campaigns done     {came_back['campaigns_completed']}  Log: {workdir / 'outcomes_test.log'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
