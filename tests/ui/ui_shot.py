"""`make ui-shot`: screenshots of the real Airflow UI after the demo run, for the README.

1. Runs the demo (``include/demo/run_demo.py``): one real ``airflow dags test integra_daily_campaign``
   on the SQLite demo warehouse against the local Integra sandbox, metadata DB in ``.airflow/``.
2. Starts the real ``airflow api-server`` on that same home, on a free loopback port, in all-admins
   mode (no login page), and waits for ``/api/v2/monitor/health``.
3. Finds the demo's run through the REST API and takes headless-Chromium screenshots of the DAG's
   grid view and of the ``create_campaign`` task instance (map index 0) with its "Integra campaign"
   extra link.
4. Screenshots the "Integra" campaigns page: as the UI shows it (navigation entry, page in its frame)
   and the page itself, with the demo's days, batches, call outcomes and a rejected lead looked up.
5. Stops the api-server.

Writes ``docs/grid.png``, ``docs/create_campaign.png``, ``docs/integra_nav.png`` and
``docs/integra_campaign.png``. Needs Debian's
``/usr/bin/chromium``; installs it with apt-get when missing and allowed to (root), otherwise says how to.

    python tests/ui/ui_shot.py [--skip-demo] [--out-dir docs] [--timeout 90]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: the tests' process helpers are importable from the root

from tests.fixtures.processes import free_port, start_api_server, stop_group  # noqa: E402

DAG_ID = "integra_daily_campaign"
TASK_ID = "create_campaign"
LINK_NAME = "Integra campaign"
CHROMIUM = Path("/usr/bin/chromium")
TASK_IDS = ("extract_leads", "build_recipients", TASK_ID, "record_campaigns")
STARTUP_TIMEOUT_S = 300  # the api-server imports a lot; slow on a busy machine
WINDOW = (1600, 1000)
MIN_PNG_BYTES = 20_000  # a blank 1600x1000 page compresses to a few KB
WORKDIR = ROOT / ".airflow" / "ui-shot"
DEMO = ROOT / ".airflow" / "demo"
REJECTED_LEAD = "L00000012"  # one of the demo's broken leads (seed 42): invalid_phone


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
            # The demo's ledger, for the campaigns page.
            "AIRFLOW_CONN_INTEGRA_LEDGER": json.dumps({"conn_type": "sqlite", "host": str(DEMO / "ledger.db")}),
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


def shoot(browser: Any, page: Page, out: Path, timeout_s: float) -> None:
    """Waits until the page shows what it should (not a blank or login page), then screenshots it.

    Texts may be in the page or in its frame (the UI shows plugin pages in one)."""
    tab = browser.new_page(viewport={"width": WINDOW[0], "height": WINDOW[1]})
    try:
        tab.goto(page.url, wait_until="domcontentloaded")
        deadline = time.monotonic() + timeout_s
        missing: list[str] = list(page.expect)
        while missing and time.monotonic() < deadline:
            text = " ".join(frame.locator("body").inner_text() for frame in tab.frames if frame.url != "about:blank")
            missing = [t for t in page.expect if t not in text]
            if missing:
                tab.wait_for_timeout(500)
        if missing:
            raise SystemExit(f"{page.url} rendered without {missing} after {timeout_s:.0f}s; no screenshot written.")
        tab.wait_for_timeout(1000)  # let late requests settle
        out.unlink(missing_ok=True)
        tab.screenshot(path=str(out), full_page=True)
    finally:
        tab.close()
    if not out.exists() or out.stat().st_size < MIN_PNG_BYTES:
        raise SystemExit(f"No screenshot of {page.url}, or a blank one, at {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-demo", action="store_true", help="reuse the metadata DB of an earlier demo run")
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    parser.add_argument("--timeout", type=float, default=90, help="seconds a page may take to show its texts")
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
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(chromium_binary), args=["--no-sandbox"])
    try:
        wait_healthy(server, api, log_path)
        run_id = latest_run_id(api)
        check_extra_link(api, run_id)
        run_url = f"{api}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}"
        pages: dict[str, Page] = {
            # The run page: the DAG's grid on the left, the run's task instances on the right.
            "grid.png": Page(run_url, (DAG_ID, *TASK_IDS, "Success")),
            # The mapped task instance's Details tab, where Airflow 3 shows the extra-link buttons.
            "create_campaign.png": Page(f"{run_url}/tasks/{TASK_ID}/mapped/0/details", (LINK_NAME, "IntegraOperator")),
        }
        for name, page in pages.items():
            out = out_dir / name
            print(f"Screenshot {page.url} -> {out}", flush=True)
            shoot(browser, page, out, args.timeout)
            print(f"  {out.stat().st_size / 1024:.0f} KB", flush=True)

        integra: dict[str, Page] = {
            # The navigation entry and the page in the UI's frame (the frame's content is not in the DOM dump).
            "integra_nav.png": Page(f"{api}/plugin/integra", ("Integra",)),
            # The page itself: days, batches with their calls reported, a rejected lead looked up.
            "integra_campaign.png": Page(
                f"{api}/integra/ui/campaigns/{DAG_ID}?lead={REJECTED_LEAD}",
                (DAG_ID, "Batches of the last days", "answered", "not sent because"),
            ),
        }
        for name, page in integra.items():
            print(f"Screenshot {page.url} -> {out_dir / name}", flush=True)
            shoot(browser, page, out_dir / name, args.timeout)
    finally:
        browser.close()
        playwright.stop()
        stop_group(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
