"""The token and people's numbers stay out of Airflow; hostile data is rejected or bound, never run."""

from __future__ import annotations

import json
import re
from datetime import UTC

import pytest

from tests.fixtures.campaign import _make, future_run


def _airflow_records(dag_id: str, run_id: str) -> str:
    """Every XCom value and rendered template field of one run, as text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = session.query(XComModel.value).filter_by(dag_id=dag_id, run_id=run_id).all()
        rendered = (
            session.query(RenderedTaskInstanceFields.rendered_fields).filter_by(dag_id=dag_id, run_id=run_id).all()
        )
    assert xcoms
    assert rendered
    return json.dumps([str(v) for (v,) in xcoms] + [json.dumps(r, default=str) for (r,) in rendered])


def test_token_and_phone_numbers_never_reach_logs_xcom_or_rendered_fields(sqlite_campaign, capfd, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    run_at = future_run()
    sqlite_campaign.seed(120, run_at)
    dag_run = sqlite_campaign.run(run_at)
    assert str(dag_run.state) == "success"
    output = capfd.readouterr()
    # Task logs reach the terminal or Python logging depending on how logging was set up first.
    logs = output.out + output.err + caplog.text
    records = _airflow_records(sqlite_campaign.dag_id, dag_run.run_id)

    sent = [r["phone_number"] for c in sqlite_campaign.sandbox.campaigns() for r in c["request"]["recipients"]]
    assert sent
    token = sqlite_campaign.sandbox.token
    assert token not in logs
    assert token not in records
    for number in sent:
        assert number not in records, "a full phone number reached XCom or rendered fields"
        assert number not in logs, "a full phone number reached a log line"
        assert number[1:] not in logs
    # The log does show masked numbers where it needs to talk about people.
    assert "Extracted 120 leads" in logs
    assert "Authorization" not in logs


HOSTILE_LEADS = [
    ("H1", "Robert'); DROP TABLE leads;--", "+55 11 98765-0001", "Acme", "ok"),
    ("H2", "x" * 100_000, "+55 11 98765-0002", "Acme", "name_too_long"),
    ("H3", "Ana\x07Paula", "+55 11 98765-0003", "Acme", "invalid_name"),
    ("H4", "Jo\u00e3o \U0001f600 Silva", "+55 11 98765-0004", "Acme", "ok"),
    ("H5", "Maria", "'; DELETE FROM leads; --", "Acme", "invalid_phone"),
    ("H6", "Carla", "+55 11 98765-0006", "Evil\x00Corp", "invalid_variable"),
    ("H7", "Pedro", "+55 11 98765-0007", "y" * 1000, "invalid_variable"),
    ("H8'; --", "Lucas", "+55 11 98765-0008", "Acme", "ok"),
    ("H9", "   ", "+55 11 98765-0009", "Acme", "missing_name"),
    ("H10", "Beatriz", "+55 11 1234", "Acme", "invalid_phone"),
    ("H11", "Ana\x00Paula", "+55 11 98765-0011", "Acme", "invalid_name"),
]


@pytest.fixture(
    params=[
        pytest.param(("sqlite", "sqlite"), id="ledger-sqlite"),
        # A SQLite warehouse keeps NUL in text; PostgreSQL refuses it, so the ledger must not be handed one.
        pytest.param(("sqlite", "postgres"), id="ledger-postgres", marks=pytest.mark.postgres),
        pytest.param(("sqlite", "mysql"), id="ledger-mariadb", marks=pytest.mark.mysql),
    ]
)
def hostile_campaign(request, tmp_path, sandbox, monkeypatch, airflow_db):
    """A SQLite warehouse (it stores any text, NUL included) with the ledger on each backend."""
    return _make(request, request.param, tmp_path, sandbox, monkeypatch)


def test_hostile_lead_values_are_rejected_with_reasons_or_sent_verbatim(hostile_campaign):
    sqlite_campaign = hostile_campaign
    run_at = future_run()
    sqlite_campaign.seed(1, run_at, bad_ratio=0.0)  # creates the leads table
    created = run_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    sqlite_campaign.execute("DELETE FROM leads")
    for lead_id, name, phone, company, _ in HOSTILE_LEADS:
        sqlite_campaign.execute(
            "INSERT INTO leads (lead_id, full_name, phone, company, product, city, created_at) "
            "VALUES (?, ?, ?, ?, 'p', 'c', datetime(?, '-1 hour'))",
            (lead_id, name, phone, company, created),
        )
    dag_run = sqlite_campaign.run(run_at)
    assert str(dag_run.state) == "success"
    assert sqlite_campaign.query("SELECT COUNT(*) AS n FROM leads")[0]["n"] == len(HOSTILE_LEADS)

    reasons = {
        r["lead_id"]: r["reason"]
        for r in sqlite_campaign.ledger_query("SELECT lead_id, reason FROM integra_rejected_leads")
    }
    expected = {lead_id: reason for lead_id, _, _, _, reason in HOSTILE_LEADS if reason != "ok"}
    assert reasons == expected
    [campaign] = sqlite_campaign.sandbox.campaigns()
    names = sorted(r["recipient_name"] for r in campaign["request"]["recipients"])
    assert names == sorted(["Robert'); DROP TABLE leads;--", "Jo\u00e3o \U0001f600 Silva", "Lucas"])
    counts = sqlite_campaign.summary(run_at)["counts"]
    assert counts["queried"] == len(HOSTILE_LEADS)
    assert counts["sent"] == 3
    [nul] = sqlite_campaign.ledger_query("SELECT original_value FROM integra_rejected_leads WHERE lead_id = 'H11'")
    assert nul["original_value"] == "Ana\\x00Paula", "the NUL is kept visible, escaped, not dropped"


def test_hostile_scheduled_at_param_fails_naming_the_field(sqlite_campaign, capfd):
    run_at = future_run()
    sqlite_campaign.seed(20, run_at, bad_ratio=0.0)
    dag_run = sqlite_campaign.run(run_at, scheduled_at="2026-01-01'; DROP TABLE leads; --")
    assert str(dag_run.state) == "failed"
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 0
    assert sqlite_campaign.query("SELECT COUNT(*) AS n FROM leads")[0]["n"] == 20
    out = capfd.readouterr().out
    assert re.search(r"scheduled_at: .* is not an ISO 8601 date-time", out)


def test_wrongly_typed_param_is_refused_before_the_run(sqlite_campaign):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        sqlite_campaign.run(future_run(), scheduled_at=12345)
    assert sqlite_campaign.sandbox.stats()["campaign_posts"] == 0


def test_explicit_scheduled_at_param_is_used_inside_the_window(sqlite_campaign):
    run_at = future_run(days=3)
    sqlite_campaign.seed(20, run_at, bad_ratio=0.0)
    wanted = run_at.replace(hour=14, minute=30)
    assert str(sqlite_campaign.run(run_at, scheduled_at=wanted.isoformat()).state) == "success"
    [campaign] = sqlite_campaign.sandbox.campaigns()
    assert campaign["request"]["scheduled_at"] == wanted.isoformat()
