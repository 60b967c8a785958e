"""The approval gate's screen for `make ui-shot`: a day waiting in Required actions, then rejected.

Runs ``airflow dags test`` of a gated copy of the demo campaign (``approval: {max_recipients: 100}``,
so the demo's 480 people wait) on the demo's warehouse and ledger, in the background; once its
``approve_day`` waits, screenshots the task's Required actions page through the running api-server,
then rejects it through the REST API so the run ends without phoning anyone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "include"))

from demo.run_demo import TIMEZONE, next_run_date  # noqa: E402

GATED = "integra_daily_campaign_gated"
WAIT_S = 240


def gated_env(env: dict[str, str], workdir: Path) -> dict[str, str]:
    """The demo's connections, a folder with the gated copy, and a policy that lets it read the same people."""
    demo = ROOT / ".airflow" / "demo"
    folder = workdir / "campaigns"
    folder.mkdir(parents=True, exist_ok=True)
    definition = yaml.safe_load((ROOT / "include/campaigns/integra_daily_campaign.yaml").read_text())
    definition.update(dag_id=GATED, approval={"max_recipients": 100, "timeout_hours": 1})
    (folder / f"{GATED}.yaml").write_text(yaml.safe_dump(definition, allow_unicode=True))
    policy = workdir / "contact_policy.yaml"
    policy.write_text("max_calls_per_number: 5\nper_days: 1\n")  # the demo campaign already holds these numbers
    return {
        **env,
        "INTEGRA_CAMPAIGNS_DIR": str(folder),
        "INTEGRA_CONTACT_POLICY": str(policy),
        "INTEGRA_DATA_PATH": f"file://{workdir / 'data'}",
        "AIRFLOW_CONN_INTEGRA_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(demo / "warehouse.db")}),
        "AIRFLOW_CONN_INTEGRA_LEDGER": json.dumps({"conn_type": "sqlite", "host": str(demo / "ledger.db")}),
        # Never called: the request is rejected before create_campaign.
        "AIRFLOW_CONN_INTEGRA_DEFAULT": json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/api/v1"}),
    }


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _waiting_run(api: str) -> str | None:
    """The gated run whose approve_day waits for input, if any."""
    try:
        runs = _call(f"{api}/api/v2/dags/{GATED}/dagRuns?order_by=-run_after&limit=1")["dag_runs"]
        if not runs:
            return None
        run_id = str(runs[0]["dag_run_id"])
        quoted = urllib.parse.quote(run_id, safe="")
        task = _call(f"{api}/api/v2/dags/{GATED}/dagRuns/{quoted}/taskInstances/approve_day")
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None
    return run_id if task.get("state") == "awaiting_input" else None


def shoot_request(api: str, env: dict[str, str], workdir: Path, out: Path, shoot: Callable[[str, Path], None]) -> None:
    """``shoot(url, out)`` the waiting request's page, then reject it and let the run finish."""
    run_at = next_run_date(datetime.now(TIMEZONE))
    log = (workdir / "gated_dags_test.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "dags", "test", GATED, run_at.isoformat()],
        env=gated_env(env, workdir),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    run_id = None
    try:
        deadline = time.monotonic() + WAIT_S
        while run_id is None and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"airflow dags test {GATED} exited ({proc.returncode}); see {log.name}")
            run_id = _waiting_run(api)
            time.sleep(1)
        if run_id is None:
            raise SystemExit(f"{GATED}'s approve_day never waited for input; see {log.name}")
        quoted = urllib.parse.quote(run_id, safe="")
        shoot(f"{api}/dags/{GATED}/runs/{quoted}/tasks/approve_day/required_actions", out)
    finally:
        if run_id is not None:
            quoted = urllib.parse.quote(run_id, safe="")
            path = f"{api}/api/v2/dags/{GATED}/dagRuns/{quoted}/taskInstances/approve_day/-1/hitlDetails"
            _call(path, "PATCH", {"chosen_options": ["Reject"]})
        try:
            proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
