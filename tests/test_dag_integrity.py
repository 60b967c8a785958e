"""Every DAG file loads, with no connections defined, and broken definitions stay contained."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from integra.exceptions import CampaignDefinitionError

ROOT = Path(__file__).resolve().parents[1]
# Never imported by parsing dags/: the data stack, and the TaskFlow/Python operator machinery (the
# campaign steps are classic operators so a parse does not pay for it).
HEAVY_AT_PARSE = (
    "pandas",
    "pyarrow",
    "phonenumbers",
    "requests",
    "airflow.providers.standard.operators.python",
    "integra.ledger.tables",  # SQLAlchemy table definitions: only when a task touches the ledger
    "alembic",
    "holidays",  # 0.2 s to import: only the tasks that decide when to call load it
    "airflow.providers.standard.operators.hitl",  # only for campaigns with an approval block
)


def _dagbag(folder: Path, env_overrides: dict[str, str] | None = None) -> tuple[dict, list[str], list[str]]:
    """Parse in a fresh process with no AIRFLOW_CONN_* at all: parse time must not need them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(env_overrides or {})
    code = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(folder)!r})\n"
        f"heavy = sorted(m for m in {HEAVY_AT_PARSE!r} if m in sys.modules)\n"
        "print(json.dumps({'errors': bag.import_errors, 'dags': sorted(bag.dag_ids), 'heavy': heavy}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["errors"], data["dags"], data["heavy"]


def test_every_dag_file_loads_without_connections():
    errors, dags, heavy = _dagbag(ROOT / "dags")
    assert errors == {}
    assert "integra_daily_campaign" in dags
    assert heavy == [], f"parsing imported heavy modules: {heavy}"


def test_campaign_dag_shape_and_docs():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags" / "integra_campaigns.py")).dags["integra_daily_campaign"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "extract_leads",
        "build_recipients",
        "create_campaign",
        "record_campaigns",
    ]
    assert dag.max_active_runs == 1
    assert dag.doc_md
    assert set(dag.tags) >= {"integra"}
    assert all(task.doc_md for task in dag.tasks)
    assert set(dag.params) == {"dry_run", "scheduled_at", "resend_keys"}
    # The run's logical date is its trigger time; its data interval is the 24 hours before.
    from datetime import timedelta

    assert dag.timetable.expression == "0 7 * * *"
    assert dag.timetable.interval == timedelta(days=1)
    assert "America/Sao_Paulo" in str(dag.timetable.timezone)


@pytest.fixture
def campaigns_dir(tmp_path):
    shutil.copytree(ROOT / "include" / "campaigns", tmp_path / "campaigns")
    shutil.copytree(ROOT / "include" / "sql", tmp_path / "sql")
    return tmp_path


@pytest.mark.parametrize(
    ("breakage", "field", "fix"),
    [
        ({"project_id": "not-a-uuid"}, "project_id", "UUID"),
        ({"max_recipients_per_campaign": 20000}, "max_recipients_per_campaign", "10000"),
        ({"sql": "missing.sql"}, "sql", "does not exist"),
        ({"send_tme": "10:00"}, "send_tme", "unknown field"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"calling_window": {"mon": "21:00-09:00"}}, "calling_window", "mon"),
        ({"name_template": "{day} ({batch})"}, "name_template", "{date}"),
        ({"columns": {"phone": "phone; DROP TABLE leads"}}, "columns.phone", "plain column name"),
        ({"schedule": {"cron": "0 2 * * *", "timezone": "UTC"}}, "schedule.cron / schedule.timezone", "send_time"),
        ({"send_time": "06:30"}, "schedule.cron", "not before send_time 06:30"),
        ({"cooldown_days": 0}, "cooldown_days", "acknowledge_no_cooldown: true"),
        ({"approval": {"timeout_hours": 2}}, "approval", "set max_recipients, max_deviation or both"),
        ({"approval": {"max_deviation": 0.5, "min_history": 20}}, "approval", "cannot exceed history_days"),
        ({"holidays": {"country": "Brazil"}}, "holidays.country", "pattern"),
        ({"holidays": {"subdivisions": "everywhere"}}, "holidays.subdivisions", "auto"),
        ({"max_create_tasks": 0}, "max_create_tasks", "greater than or equal to 1"),
    ],
)
def test_a_broken_definition_is_an_import_error_and_others_still_load(campaigns_dir, breakage, field, fix):
    good = yaml.safe_load((campaigns_dir / "campaigns" / "integra_daily_campaign.yaml").read_text())
    broken = {**good, "dag_id": "integra_broken_campaign", **breakage}
    (campaigns_dir / "campaigns" / "broken.yaml").write_text(yaml.safe_dump(broken))
    errors, dags, _ = _dagbag(
        ROOT / "dags",
        {"INTEGRA_CAMPAIGNS_DIR": str(campaigns_dir / "campaigns"), "INTEGRA_SQL_DIR": str(campaigns_dir / "sql")},
    )
    assert "integra_daily_campaign" in dags
    assert "integra_broken_campaign" not in dags
    [(path, message)] = errors.items()
    assert path.endswith("integra_definitions_check.py")
    assert "broken.yaml" in message
    assert field in message
    assert fix in message


def test_unparseable_yaml_names_the_file(campaigns_dir):
    (campaigns_dir / "campaigns" / "bad.yaml").write_text("dag_id: [unclosed\n")
    errors, dags, _ = _dagbag(
        ROOT / "dags",
        {"INTEGRA_CAMPAIGNS_DIR": str(campaigns_dir / "campaigns"), "INTEGRA_SQL_DIR": str(campaigns_dir / "sql")},
    )
    assert "integra_daily_campaign" in dags
    assert any("bad.yaml" in message and "YAML" in message for message in errors.values())


def test_an_unchanged_definition_is_validated_once_and_an_edit_is_seen(campaigns_dir, monkeypatch):
    from integra import definitions

    monkeypatch.setenv("INTEGRA_SQL_DIR", str(campaigns_dir / "sql"))
    path = campaigns_dir / "campaigns" / "integra_daily_campaign.yaml"
    first = definitions.load_definition(path)
    assert definitions.load_definition(path) is first  # cached: the same validated object

    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "owner": "someone-else"}))
    edited = definitions.load_definition(path)
    assert edited.owner == "someone-else"

    path.write_text(yaml.safe_dump({**raw, "project_id": "not-a-uuid"}))
    with pytest.raises(CampaignDefinitionError, match="project_id"):
        definitions.load_definition(path)


def test_a_cached_definition_whose_sql_file_disappears_is_an_error(campaigns_dir, monkeypatch):
    from integra import definitions

    monkeypatch.setenv("INTEGRA_SQL_DIR", str(campaigns_dir / "sql"))
    path = campaigns_dir / "campaigns" / "integra_daily_campaign.yaml"
    definition = definitions.load_definition(path)
    definition.sql_path.unlink()
    with pytest.raises(CampaignDefinitionError, match="does not exist"):
        definitions.load_definition(path)


def test_no_cooldown_loads_once_acknowledged(campaigns_dir):
    good = yaml.safe_load((campaigns_dir / "campaigns" / "integra_daily_campaign.yaml").read_text())
    again = {**good, "dag_id": "integra_every_day", "cooldown_days": 0, "acknowledge_no_cooldown": True}
    (campaigns_dir / "campaigns" / "again.yaml").write_text(yaml.safe_dump(again))
    errors, dags, _ = _dagbag(
        ROOT / "dags",
        {"INTEGRA_CAMPAIGNS_DIR": str(campaigns_dir / "campaigns"), "INTEGRA_SQL_DIR": str(campaigns_dir / "sql")},
    )
    assert errors == {}
    assert "integra_every_day" in dags


def test_a_gated_campaign_gets_its_approval_task_between_build_and_create(campaigns_dir):
    good = yaml.safe_load((campaigns_dir / "campaigns" / "integra_daily_campaign.yaml").read_text())
    gated = {**good, "dag_id": "integra_gated_campaign", "approval": {"max_recipients": 5000, "max_deviation": 0.5}}
    (campaigns_dir / "campaigns" / "gated.yaml").write_text(yaml.safe_dump(gated))
    env = {"INTEGRA_CAMPAIGNS_DIR": str(campaigns_dir / "campaigns"), "INTEGRA_SQL_DIR": str(campaigns_dir / "sql")}
    errors, dags, _ = _dagbag(ROOT / "dags", env)
    assert not errors
    assert {"integra_daily_campaign", "integra_gated_campaign"} <= set(dags)

    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        bag = DagBag(dag_folder=str(ROOT / "dags" / "integra_campaigns.py"))
    gate = bag.dags["integra_gated_campaign"].get_task("approve_day")
    assert gate.upstream_task_ids == {"build_recipients"}
    assert gate.downstream_task_ids == {"create_campaign"}
    assert gate.defaults == ["Reject"]
    assert "approve_day" not in bag.dags["integra_daily_campaign"].task_ids
