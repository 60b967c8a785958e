"""Test session setup: a private AIRFLOW_HOME, this project's dags (the `integra` package is installed), real databases.

Environment variables are set at import time, before anything imports Airflow, so every test
(and every Airflow subprocess a test starts) sees the same isolated installation. The database
fixtures (SQLite, PostgreSQL, MariaDB) are built by tests/fixtures/databases.py.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.databases import Database, Kind, make_database, server_database

ROOT = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="integra-airflow-home-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(_HOME / "plugins"),  # empty: the plugin comes from the package
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # One key for every process of the session: a connection one stores encrypted, another reads.
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "INTEGRA_DATA_PATH": f"file://{_HOME / 'integra-data'}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.campaign", "tests.fixtures.api_server"]


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


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; its URI. Dropped afterwards.

    Skipped when the server is down, failed instead under INTEGRA_REQUIRE_POSTGRES=1 (CI).
    """
    yield from server_database("postgres")


@pytest.fixture
def mysql_database() -> Iterator[str]:
    """A fresh, empty MariaDB database (utf8mb4, binary collation) for one test; its URI. Dropped afterwards.

    Skipped when the server is down, failed instead under INTEGRA_REQUIRE_MARIADB=1 (CI).
    """
    yield from server_database("mysql")


@pytest.fixture
def sqlite_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A SQLite Database at tmp_path / "database.db" (created on first use)."""
    return make_database(request, "sqlite", tmp_path, "database")


@pytest.fixture
def pg_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A fresh PostgreSQL Database (pg_database's unless the test takes that fixture too)."""
    return make_database(request, "postgres", tmp_path, "database")


@pytest.fixture
def mysql_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A fresh MariaDB Database (mysql_database's unless the test takes that fixture too)."""
    return make_database(request, "mysql", tmp_path, "database")


@pytest.fixture
def database_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Kind, str], Database]:
    """make(kind, name) -> a Database; one per (kind, name), e.g. a warehouse and a ledger on MariaDB."""
    made: dict[tuple[Kind, str], Database] = {}

    def make(kind: Kind, name: str) -> Database:
        if (kind, name) not in made:
            made[kind, name] = make_database(request, kind, tmp_path, name)
        return made[kind, name]

    return make
