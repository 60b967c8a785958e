"""IntegraOperator on its own, in a small example DAG run with dag.test(), against the sandbox."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.fixtures.campaign import ROOT, future_run

RECIPIENTS = [
    {"phone_number": "+5511987650001", "recipient_name": "João Silva", "dynamic_variables": {"leadName": "João"}},
    {"phone_number": "+5521987650002", "recipient_name": "Maria Souza", "dynamic_variables": {"leadName": "Maria"}},
]


DAG_ID = "integra_example_single_campaign"
PROJECT = "3f6d8a52-4c1e-4b7a-9d21-6a0f2b8c9e14"


def _run(run_at, **conf):
    """The shipped example DAG (dags/integra_example_single_campaign.py), triggered with config."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags" / "integra_example_single_campaign.py")).dags[DAG_ID]
    return dag.test(logical_date=run_at, run_conf=conf)


def _records(dag_id: str, run_id: str):
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = {x.key: x.value for x in session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id)}
        [rendered] = [
            r.rendered_fields for r in session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_id, run_id=run_id)
        ]
    return xcoms, rendered


@pytest.fixture
def integra_conn(sandbox, monkeypatch, airflow_db):
    conn = json.loads(sandbox.airflow_conn_json())
    conn["extra"] = {"panel_url": "https://panel.example.test"}
    monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_DEFAULT", json.dumps(conn))
    return sandbox


def test_operator_creates_a_campaign_with_inline_recipients(integra_conn):
    run_at = future_run()
    dag_run = _run(run_at, name="Campanha exemplo", recipients=RECIPIENTS)
    assert str(dag_run.state) == "success"
    [campaign] = integra_conn.campaigns()
    body = campaign["request"]
    assert body["name"].startswith(f"Campanha exemplo {run_at.astimezone(__import__('datetime').UTC).date()}")
    assert body["scheduled_at"] == run_at.replace(hour=10).isoformat()
    assert body["recipients"] == RECIPIENTS
    assert body["config"] == {"call_timeout": 45, "voicemail_mode": "hangup"}

    xcoms, rendered = _records(DAG_ID, dag_run.run_id)
    result = xcoms["return_value"]
    result = json.loads(result) if isinstance(result, str) else result
    assert result["campaign_id"] == campaign["id"]
    assert result["status"] == "PENDING"
    link = xcoms["_link_IntegraCampaignLink"]
    assert campaign["id"] in str(link)
    assert str(link).strip('"') == f"https://panel.example.test/campaigns/{campaign['id']}"
    # Inline recipients are kept out of the stored rendered fields.
    assert "+5511987650001" not in json.dumps(rendered, default=str)
    assert "inline recipients, not shown" in json.dumps(rendered, default=str)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_operator_reads_a_batch_file(integra_conn, tmp_path, fmt):
    import pandas as pd

    path = tmp_path / f"batch.{fmt}"
    if fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECIPIENTS), encoding="utf-8")
    else:
        frame = pd.DataFrame(RECIPIENTS)
        frame["dynamic_variables"] = frame["dynamic_variables"].map(json.dumps)
        frame.to_parquet(path)
    assert str(_run(future_run(), recipients=str(path)).state) == "success"
    [campaign] = integra_conn.campaigns()
    assert campaign["request"]["recipients"] == RECIPIENTS


@pytest.mark.parametrize("fmt", ["inline", "jsonl", "parquet"])
def test_a_batch_read_as_columns_gives_the_request_and_the_ledger_rows(tmp_path, fmt):
    """Every batch format: the contract's fields for the request, and one ledger row per person whose lead
    id falls back to the number, is text, and whose number is masked."""
    import pandas as pd

    from integra import batches

    rows = [
        {**RECIPIENTS[0], "lead_id": "L1"},
        {**RECIPIENTS[1], "lead_id": None},
        {"phone_number": "+5531987650003", "recipient_name": "Ana", "dynamic_variables": None, "lead_id": 7},
    ]
    if fmt == "inline":
        columns = batches.RecipientColumns.from_rows(rows)
    elif fmt == "jsonl":
        path = tmp_path / "batch.jsonl"
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
        columns = batches.read_recipient_columns(str(path))
    else:
        frame = pd.DataFrame(rows)
        frame["dynamic_variables"] = frame["dynamic_variables"].map(lambda v: json.dumps(v) if v else "")
        frame["lead_id"] = frame["lead_id"].map(lambda v: None if v is None else str(v))
        path = tmp_path / "batch.parquet"
        frame.to_parquet(path)
        columns = batches.read_recipient_columns(str(path))

    assert len(columns) == 3
    assert columns.recipients() == [
        *RECIPIENTS,
        {"phone_number": "+5531987650003", "recipient_name": "Ana", "dynamic_variables": {}},
    ]
    assert columns.members() == [
        {
            "lead_id": "L1",
            "phone_e164": "+5511987650001",
            "phone_masked": "+55*******0001",
            "recipient_name": "João Silva",
        },
        {
            "lead_id": "+5521987650002",
            "phone_e164": "+5521987650002",
            "phone_masked": "+55*******0002",
            "recipient_name": "Maria Souza",
        },
        {"lead_id": "7", "phone_e164": "+5531987650003", "phone_masked": "+55*******0003", "recipient_name": "Ana"},
    ]


def test_a_parquet_batch_without_lead_ids_or_variables_is_keyed_by_number(tmp_path):
    import pandas as pd

    from integra import batches

    path = tmp_path / "batch.parquet"
    pd.DataFrame([{"phone_number": "+5511987650001", "recipient_name": "João Silva"}]).to_parquet(path)
    columns = batches.read_recipient_columns(str(path))
    assert columns.recipients() == [
        {"phone_number": "+5511987650001", "recipient_name": "João Silva", "dynamic_variables": {}}
    ]
    assert [m["lead_id"] for m in columns.members()] == ["+5511987650001"]


def test_a_batch_file_is_scheduled_from_the_localities_build_recorded(integra_conn, tmp_path, monkeypatch):
    """build_recipients writes each person's locality into the batch file; create_campaign schedules from
    it (no phonenumbers look-up per number in its own process), to the time a look-up gives. A batch file
    without the column, or inline rows, are looked up."""
    import pandas as pd

    from integra.operators import Batch, IntegraOperator
    from integra.policy import local_time

    numbers = ["+5511987650001", "+5568999990001", "+5592999990001"]  # São Paulo; Acre (UTC-5); Amazonas
    run_at = future_run()
    context = {"data_interval_end": run_at, "logical_date": run_at, "params": {}}
    op = IntegraOperator(
        task_id="t",
        name="n",
        project_id=PROJECT,
        agent_id=PROJECT,
        phone_number_id=PROJECT,
        recipients=[],
        dry_run=True,
    )
    rows = {"phone_number": numbers, "recipient_name": ["Ana", "Bia", "Caio"]}
    plain, recorded, wrong = (tmp_path / f"{name}.parquet" for name in ("plain", "recorded", "wrong"))
    pd.DataFrame(rows).to_parquet(plain)
    pd.DataFrame({**rows, "locality": [local_time.locality_of(n).text for n in numbers]}).to_parquet(recorded)
    sao_paulo = local_time.locality_of(numbers[0]).text
    pd.DataFrame({**rows, "locality": [sao_paulo] * 3}).to_parquet(wrong)

    looked_up = op.plan(context, Batch("n", str(plain)))["scheduled_at"]
    acre = datetime.combine(run_at.date(), time(10), tzinfo=ZoneInfo("America/Rio_Branco"))
    assert looked_up == acre.isoformat(), "10:00 in the westernmost zone: nobody is called before 10:00"

    def no_look_up(number: str) -> None:
        raise AssertionError("looked up a number whose locality the batch file records")

    monkeypatch.setattr(local_time, "locality_of", no_look_up)
    assert op.plan(context, Batch("n", str(recorded)))["scheduled_at"] == looked_up
    # The file is what decides: had build recorded everyone in São Paulo, they would be called at 10:00 there.
    assert op.plan(context, Batch("n", str(wrong)))["scheduled_at"] == run_at.replace(hour=10).isoformat()
    with pytest.raises(AssertionError, match="looked up"):
        op.plan(context, Batch("n", [{**row, "locality": sao_paulo} for row in pd.DataFrame(rows).to_dict("records")]))


def test_dry_run_posts_nothing(integra_conn):
    dag_run = _run(future_run(), recipients=RECIPIENTS, dry_run=True)
    assert str(dag_run.state) == "success"
    assert integra_conn.stats()["campaign_posts"] == 0


def test_sunday_moves_to_monday_opening(integra_conn):
    run_at = future_run(days=7)
    sunday = run_at + timedelta(days=(6 - run_at.weekday()))
    assert str(_run(sunday, recipients=RECIPIENTS).state) == "success"
    [campaign] = integra_conn.campaigns()
    monday_open = (sunday + timedelta(days=1)).replace(hour=9)
    assert campaign["request"]["scheduled_at"] == monday_open.isoformat()


def test_invalid_recipient_fails_naming_the_field(integra_conn, capfd):
    bad = [*RECIPIENTS, {"phone_number": "11987650003", "recipient_name": "Sem DDI"}]
    assert str(_run(future_run(), recipients=bad).state) == "failed"
    assert integra_conn.stats()["campaign_posts"] == 0
    out = capfd.readouterr().out
    assert "recipients[2].phone_number" in out
    assert "11987650003" not in out


def test_scheduled_runs_call_on_the_day_they_run_not_their_logical_date():
    """A cron run at 07:00 on day D has logical date D-1 07:00 (start of its data interval)."""
    from zoneinfo import ZoneInfo

    from integra.operators import IntegraOperator

    sp = ZoneInfo("America/Sao_Paulo")
    run_at = future_run()
    context = {
        "logical_date": run_at - timedelta(days=1),
        "data_interval_start": run_at - timedelta(days=1),
        "data_interval_end": run_at,
    }
    op = IntegraOperator(task_id="t", name="n", project_id="p", agent_id="a", phone_number_id="n", recipients=[])
    decision = op.decide_schedule(context, now=run_at)
    assert decision.action == "send"
    assert decision.scheduled_at == datetime.combine(run_at.date(), datetime.min.time(), sp).replace(hour=10)
