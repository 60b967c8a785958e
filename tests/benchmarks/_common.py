"""Shared helpers of the benchmark scripts: paths, the Airflow environment, subprocess runs, medians.

Every measurement runs in a fresh subprocess that prints one JSON object as its last stdout line;
``run_json`` starts it and parses that line. Nothing here imports Airflow, pandas or pyarrow.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
INCLUDE = ROOT / "include"
DAGS = ROOT / "dags"
PYTHON = sys.executable
DAG_ID = "integra_daily_campaign"
DEFINITION_FILE = INCLUDE / "campaigns" / "integra_daily_campaign.yaml"
HEAVY_MODULES = ("pandas", "pyarrow", "phonenumbers", "numpy")
# Byte-code cache for every benchmark process, outside the source tree. This checkout's venv has no
# .pyc files and the shell sets PYTHONDONTWRITEBYTECODE, so without it each process would compile
# Airflow from source (~10 s); a deployed image has its .pyc files. Kept between runs on purpose.
PYCACHE = Path(tempfile.gettempdir()) / "integra-bench-pycache"
# Inputs that take minutes to make and do not change between runs (generated Parquet, a migrated
# metadata DB), keyed by what they are made from; outside the source tree too.
CACHE = Path(tempfile.gettempdir()) / "integra-bench-cache"


def cache_key(*parts: object, files: Sequence[Path] = ()) -> str:
    """A short digest of the parts and the contents of the files an input is made from."""
    import hashlib

    digest = hashlib.sha256(repr(parts).encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def airflow_env(
    home: Path, *, dags_folder: Path | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A private Airflow installation: its own home and metadata DB, no examples, this checkout's include/
    whatever the DAGs folder (the `integra` package and its plugin come from the venv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "INTEGRA_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "INTEGRA_INCLUDE_DIR": str(INCLUDE),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "PYTHONPATH": os.pathsep.join([str(INCLUDE), str(ROOT)]),
            "PYTHONPYCACHEPREFIX": str(PYCACHE),
        }
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if extra:
        env.update(extra)
    return env


def sqlite_conn(path: Path) -> str:
    """The ``AIRFLOW_CONN_*`` value (JSON) of a SQLite database file: a warehouse or a ledger."""
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


def run_json(
    args: Sequence[str], env: Mapping[str, str], *, timeout: float = 900, cwd: Path | None = None
) -> dict[str, Any]:
    """Run ``python args...`` in a fresh process; return the JSON on its last stdout line (+ wall_s)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, *args], env=dict(env), capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT
    )
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(args)} failed (rc {proc.returncode}):\n"
            f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-5000:]}"
        )
    result = json.loads(lines[-1])
    result.setdefault("process_wall_s", wall)
    return result


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def emit(result: Mapping[str, Any]) -> None:
    """The measurement's result: one JSON line, last on stdout."""
    sys.stdout.flush()
    print(json.dumps(result), flush=True)


def peak_rss_mb() -> float:
    """ru_maxrss of this process (KiB on Linux) in MiB: the high-water mark so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
