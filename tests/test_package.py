"""The `integra-airflow` distribution installed into a fresh virtual environment, as a deployment would.

No PYTHONPATH, no plugins folder, the package built from pyproject.toml (not this checkout's editable
install): Airflow finds the provider (its `integra` connection type and form) and the plugin through
their entry points, `airflow connections add/test` work for the type, and the DAG factory file copied
next to an `include/` folder runs a real day against the sandbox from that install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.campaign import ROOT, future_run

pytestmark = pytest.mark.slow

UV = Path(sys.executable).parent / "uv"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with requirements.txt (pinned) and the package built from this checkout; its bin/."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"  # built from a copy: a build leaves build/ and *.egg-info behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = work / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--python", str(python), "-r", str(ROOT / "requirements.txt"),
         "-c", str(ROOT / "constraints.txt"), str(source)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    return venv / "bin"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """Only what a deployment sets: no PYTHONPATH, no test-session Airflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "INTEGRA_", "PYTHON"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "project" / "dags"),
            **extra,
        }
    )
    return env


def run(bin_dir: Path, env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        env=env,
        cwd=env["AIRFLOW_HOME"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_installed_package_registers_itself_and_runs_the_dag_factory(
    installed: Path, tmp_path: Path, sandbox: Any
) -> None:
    home = tmp_path / "home"
    project = home / "project"
    (project / "dags").mkdir(parents=True)
    shutil.copy(ROOT / "dags" / "integra_campaigns.py", project / "dags")
    shutil.copytree(ROOT / "include" / "campaigns", project / "include" / "campaigns")
    shutil.copytree(ROOT / "include" / "sql", project / "include" / "sql")
    shutil.copy(ROOT / "include" / "contact_policy.yaml", project / "include")
    warehouse, ledger = tmp_path / "warehouse.db", tmp_path / "ledger.db"
    env = clean_env(
        home,
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW_CONN_INTEGRA_WAREHOUSE=json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        AIRFLOW_CONN_INTEGRA_LEDGER=json.dumps({"conn_type": "sqlite", "host": str(ledger)}),
        INTEGRA_DATA_PATH=f"file://{tmp_path / 'data'}",
    )

    where = run(installed, env, "python", "-c", "import integra; print(integra.__file__)")
    assert where.returncode == 0, where.stderr
    assert str(ROOT) not in where.stdout  # the built package in the venv, not this checkout
    assert "site-packages" in where.stdout

    providers = run(installed, env, "airflow", "providers", "list", "--output", "json")
    assert providers.returncode == 0, providers.stderr[-2000:]
    assert "integra-airflow" in {p["package_name"] for p in json.loads(providers.stdout)}

    form = run(
        installed,
        env,
        "python",
        "-c",
        "import json; from airflow.providers_manager import ProvidersManager as P; m = P(); "
        "print(json.dumps({'hooks': m.hooks['integra'].hook_class_name, 'behaviour': m.field_behaviours['integra'], "
        "'widgets': sorted(m.connection_form_widgets)}))",
    )
    assert form.returncode == 0, form.stderr[-2000:]
    metadata = json.loads(form.stdout.strip().splitlines()[-1])
    assert metadata["hooks"] == "integra.hooks.IntegraHook"
    assert metadata["behaviour"]["relabeling"] == {"host": "API base URL", "password": "API token"}
    assert set(metadata["behaviour"]["hidden_fields"]) == {"login", "port", "schema"}
    assert {f"extra__integra__{name}" for name in ("panel_url", "connect_timeout", "read_timeout")} <= set(
        metadata["widgets"]
    )

    plugins = run(installed, env, "airflow", "plugins", "--output", "json")
    assert plugins.returncode == 0, plugins.stderr[-2000:]
    (plugin,) = [p for p in json.loads(plugins.stdout) if p["name"] == "integra"]
    assert "integra-airflow" in plugin["source"]  # from the entry point, not a plugins folder
    assert "/integra" in json.dumps(plugin["fastapi_apps"])

    assert run(installed, env, "airflow", "db", "migrate", timeout=600).returncode == 0
    added = run(
        installed, env, "airflow", "connections", "add", "integra_default", "--conn-type", "integra",
        "--conn-host", sandbox.base_url, "--conn-password", sandbox.token,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr[-2000:]
    tested = run(installed, env, "airflow", "connections", "test", "integra_default")
    assert tested.returncode == 0, tested.stderr[-2000:]
    assert "Connection success" in tested.stdout
    run(installed, env, "airflow", "connections", "add", "integra_bad", "--conn-type", "integra",
        "--conn-host", sandbox.base_url, "--conn-password", "ik_wrong")  # fmt: skip
    refused = run(installed, env, "airflow", "connections", "test", "integra_bad")
    assert "refused the API token" in refused.stdout + refused.stderr
    assert "ik_wrong" not in refused.stdout + refused.stderr

    upgraded = run(installed, env, "python", "-m", "integra.ledger", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    sys.path.insert(0, str(ROOT / "include"))
    from demo.leads import generate_leads, seed_sqlite

    run_at = future_run()
    seed_sqlite(warehouse, generate_leads(20, start=run_at - timedelta(days=1), end=run_at, seed=7, area_codes=("11",)))
    day = run(installed, env, "airflow", "dags", "test", "integra_daily_campaign", run_at.isoformat(), timeout=600)
    assert day.returncode == 0, (day.stdout + day.stderr)[-4000:]
    sent = {r["phone_number"] for c in sandbox.campaigns() for r in c["request"]["recipients"]}
    assert len(sent) >= 15
