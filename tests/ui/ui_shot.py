"""`make ui-shot`: screenshots of the real Airflow UI after the demo run, for the README.

1. Runs the demo (``include/demo/run_demo.py``): one real ``airflow dags test integra_daily_campaign``
   on the SQLite demo warehouse against the local Integra sandbox, metadata DB in ``.airflow/``.
2. Starts the real ``airflow api-server`` on that same home, on a free loopback port, in all-admins
   mode (no login page), and waits for ``/api/v2/monitor/health``.
3. Finds the demo's run through the REST API and takes headless-Chromium screenshots of the DAG's
   grid view and of the ``create_campaign`` task instance (map index 0) with its "Integra campaign"
   extra link.
4. Runs a gated copy of the demo campaign whose approval gate waits (``tests/ui/approval_shot.py``),
   screenshots its Required actions page, and rejects it.
5. Stops the api-server.

Writes ``docs/grid.png``, ``docs/create_campaign.png`` and ``docs/approval.png``. Needs Debian's
``/usr/bin/chromium``; installs it with apt-get when missing and allowed to (root), otherwise says how to.

    python tests/ui/ui_shot.py [--skip-demo] [--out-dir docs] [--budget-ms 15000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: the tests' process helpers are importable from the root

from tests.fixtures.processes import free_port, start_api_server, stop_group  # noqa: E402
from tests.ui import approval_shot  # noqa: E402

DAG_ID = "integra_daily_campaign"
TASK_ID = "create_campaign"
LINK_NAME = "Integra campaign"
CHROMIUM = Path("/usr/bin/chromium")
TASK_IDS = ("extract_leads", "build_recipients", TASK_ID, "record_campaigns")
STARTUP_TIMEOUT_S = 300  # the api-server imports a lot; slow on a busy machine
CHROMIUM_TIMEOUT_S = 180
WINDOW = (1600, 1000)
MIN_PNG_BYTES = 20_000  # a blank 1600x1000 page compresses to a few KB
WORKDIR = ROOT / ".airflow" / "ui-shot"


class Page(NamedTuple):
    url: str
    expect: tuple[str, ...]  # texts the rendered DOM must contain


def airflow_env() -> dict[str, str]:
    """The environment the Makefile exports: this checkout's home and DAGs (the package is installed)."""
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW_HOME": env.get("AIRFLOW_HOME") or str(ROOT / ".airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    return env


def ensure_chromium() -> Path:
    """Debian's chromium; installed with apt-get when missing and we are root."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise SystemExit(
            f"{CHROMIUM} is missing and cannot be installed from here (needs apt-get and root). "
            "Install it with: sudo apt-get update && sudo apt-get install -y chromium"
        )
    print("Installing chromium (apt-get install -y chromium) ...", flush=True)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in ([apt, "update"], [apt, "install", "-y", "chromium"]):
        result = subprocess.run(args, env=apt_env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(
                f"{' '.join(args)} failed (exit {result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}\n"
                "Install chromium yourself (apt-get install -y chromium) and run make ui-shot again."
            )
    if not CHROMIUM.exists():
        raise SystemExit(f"apt-get installed chromium but {CHROMIUM} is still missing.")
    return CHROMIUM


def run_demo(env: dict[str, str]) -> None:
    print("Running the demo (include/demo/run_demo.py) ...", flush=True)
    result = subprocess.run([sys.executable, str(ROOT / "include/demo/run_demo.py")], env=env, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"The demo failed (exit {result.returncode}); no screenshots taken.")


def get_json(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback api-server
        return json.load(response)


def wait_healthy(proc: subprocess.Popen[bytes], api: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"The api-server exited ({proc.returncode}); see {log_path}")
        try:
            get_json(f"{api}/api/v2/monitor/health", timeout=5)
            return
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(1)
    raise SystemExit(f"The api-server was not healthy after {STARTUP_TIMEOUT_S}s; see {log_path}")


def latest_run_id(api: str) -> str:
    runs = get_json(f"{api}/api/v2/dags/{DAG_ID}/dagRuns?order_by=-run_after&limit=1")["dag_runs"]
    if not runs:
        raise SystemExit(f"The api-server knows no run of {DAG_ID}; did the demo run?")
    run = runs[0]
    print(f"Run: {run['dag_run_id']} ({run['state']})")
    return str(run["dag_run_id"])


def check_extra_link(api: str, run_id: str) -> None:
    quoted = urllib.parse.quote(run_id, safe="")
    links = get_json(f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances/{TASK_ID}/links?map_index=0")
    url = links.get("extra_links", {}).get(LINK_NAME)
    if not url:
        raise SystemExit(f"{TASK_ID}[0] has no {LINK_NAME!r} link: {links}")
    print(f"Extra link {LINK_NAME!r}: {url}")


def chromium(binary: Path, url: str, budget_ms: int, action: str) -> subprocess.CompletedProcess[str]:
    """One headless chromium run on a fresh profile; ``action`` is ``--screenshot=<file>`` or ``--dump-dom``."""
    with tempfile.TemporaryDirectory(prefix="ui-shot-chromium-") as profile:
        args = [
            str(binary),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            f"--virtual-time-budget={budget_ms}",
            action,
            url,
        ]
        result = subprocess.run(args, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S)
    if result.returncode != 0:
        raise SystemExit(f"chromium {action} failed on {url} (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result


def shoot(binary: Path, page: Page, out: Path, budget_ms: int) -> None:
    """Checks that the rendered page shows what it should (not a blank or login page), then screenshots it."""
    dom = chromium(binary, page.url, budget_ms, "--dump-dom").stdout
    missing = [text for text in page.expect if text not in dom]
    if missing:
        raise SystemExit(
            f"{page.url} rendered without {missing} after {budget_ms} ms of virtual time "
            "(try a larger --budget-ms); no screenshot written."
        )
    out.unlink(missing_ok=True)
    chromium(binary, page.url, budget_ms, f"--screenshot={out}")
    if not out.exists() or out.stat().st_size < MIN_PNG_BYTES:
        raise SystemExit(f"chromium wrote no screenshot of {page.url}, or a blank one, to {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-demo", action="store_true", help="reuse the metadata DB of an earlier demo run")
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    parser.add_argument("--budget-ms", type=int, default=15000, help="chromium's --virtual-time-budget")
    args = parser.parse_args()

    chromium_binary = ensure_chromium()
    env = airflow_env()
    if not args.skip_demo:
        run_demo(env)

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    log_path = WORKDIR / "api-server.log"
    print(f"Starting airflow api-server on {api} (log: {log_path}) ...", flush=True)
    server = start_api_server(env, port, log_path, cwd=ROOT)
    try:
        wait_healthy(server, api, log_path)
        run_id = latest_run_id(api)
        check_extra_link(api, run_id)
        run_url = f"{api}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}"
        pages = {
            # The run page: the DAG's grid on the left, the run's task instances on the right.
            "grid.png": Page(run_url, (DAG_ID, *TASK_IDS, "Success")),
            # The mapped task instance's Details tab, where Airflow 3 shows the extra-link buttons.
            "create_campaign.png": Page(f"{run_url}/tasks/{TASK_ID}/mapped/0/details", (LINK_NAME, "IntegraOperator")),
        }
        for name, page in pages.items():
            out = out_dir / name
            print(f"Screenshot {page.url} -> {out}", flush=True)
            shoot(chromium_binary, page, out, args.budget_ms)
            print(f"  {out.stat().st_size / 1024:.0f} KB", flush=True)

        def request_page(url: str, out: Path) -> None:
            print(f"Screenshot {url} -> {out}", flush=True)
            shoot(chromium_binary, Page(url, ("Approve", "Reject", "people would be phoned")), out, args.budget_ms)

        print(f"A gated copy of the demo waits for approval ({approval_shot.GATED}) ...", flush=True)
        approval_shot.shoot_request(api, env, WORKDIR, out_dir / "approval.png", request_page)
    finally:
        stop_group(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
