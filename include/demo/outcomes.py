"""The demo's second half: the webhook receiver on a real ``airflow api-server``, Integra's (the sandbox's)
deliveries of call outcomes, the outcomes DAG, and what came back."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return json.load(response)


def start_api_server(env: dict[str, str], workdir: Path, timeout_s: float = 120) -> tuple[subprocess.Popen[bytes], str]:
    """``airflow api-server`` on a free loopback port, up once the plugin's receiver answers."""
    port = free_port()
    log = (workdir / "api_server.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - Airflow's own CLI
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if _get_json(f"{url}/integra/health", timeout=2).get("status") == "ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"The Airflow API server did not start; see {workdir / 'api_server.log'}")


def register(env: dict[str, str], receiver_url: str) -> dict[str, Any]:
    """``python -m integra.webhooks register``: the secret goes to the ``integra_webhook`` connection."""
    result = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "integra.webhooks", "register", "--url", receiver_url],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"Registering the webhook failed: {result.stderr.strip()[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def wait_for_deliveries(sandbox_url: str, timeout_s: float = 120) -> dict[str, Any]:
    """Until the sandbox has delivered (or given up on) every webhook it queued."""
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = _get_json(f"{sandbox_url}/_sandbox/webhooks/idle")
        if state.get("pending") == 0:
            return state
        time.sleep(0.5)
    return state


def summary(ledger: Path, warehouse: Path) -> dict[str, int]:
    """What came back: the ledger's events and opt-outs, and the warehouse's exported outcomes."""
    with closing(sqlite3.connect(ledger)) as conn:
        events = dict(conn.execute("SELECT status, COUNT(*) FROM integra_webhook_events GROUP BY status").fetchall())
        opted = conn.execute(
            "SELECT COUNT(*) FROM integra_suppression_list WHERE source = 'integra_webhook'"
        ).fetchone()[0]
    with closing(sqlite3.connect(warehouse)) as conn:
        answered, not_answered, opted_out, total = conn.execute(
            "SELECT COALESCE(SUM(answered), 0), COALESCE(SUM(1 - answered), 0), COALESCE(SUM(opted_out), 0), "
            "COUNT(*) FROM integra_outcomes"
        ).fetchone()
        completed = conn.execute(
            "SELECT COUNT(*) FROM integra_campaign_progress WHERE status = 'completed'"
        ).fetchone()[0]
    return {
        "events": sum(events.values()),
        "events_not_processed": sum(n for s, n in events.items() if s not in ("processed", "ignored")),
        "outcomes": int(total),
        "answered": int(answered),
        "not_answered": int(not_answered),
        "opted_out": int(opted_out),
        "suppressed_by_webhook": int(opted),
        "campaigns_completed": int(completed),
    }
