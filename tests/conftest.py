"""Test session setup: a private AIRFLOW_HOME, this project's dags and plugins, real databases.

Environment variables are set at import time, before anything imports Airflow, so every test
(and every Airflow subprocess a test starts) sees the same isolated installation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="integra-airflow-home-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "INTEGRA_DATA_PATH": f"file://{_HOME / 'integra-data'}",
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "plugins"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
)
for entry in (str(ROOT / "plugins"), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.campaign"]

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (SQLite), once per test session."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=600,
    )
    return _HOME


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


def _postgres_or_skip() -> None:
    import psycopg2

    try:
        psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="test", connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} ({str(exc).strip()}); Postgres tests skipped"
        if os.environ.get("INTEGRA_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " but INTEGRA_REQUIRE_POSTGRES=1")
        pytest.skip(reason)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; its URI. Dropped afterwards."""
    import psycopg2

    _postgres_or_skip()
    name = f"integra_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="test")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
