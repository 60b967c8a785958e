"""The outcomes DAG: call outcomes from the ledger to the warehouse, and an Asset event per Integra campaign.

A real campaign run against the sandbox, outcomes for its recipients accepted by the receiver's own
code path, then ``dag.test()`` of ``integra_outcomes`` with the warehouse and the ledger on each backend.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.campaign import ROOT, future_run

SECRET = "whsec_outcomes_test"


def outcomes_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "integra_outcomes.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["integra_outcomes"]


def deliver_outcomes(created: list[dict[str, Any]], opt_out: str) -> int:
    """One ``call.completed`` per recipient (every third unanswered, ``opt_out`` opting out), then
    ``campaign.completed``, through the receiver's store-then-process path."""
    from integra.webhooks import receiver

    receiver.cached.clear()
    delivered = 0
    for campaign in created:
        numbers = [r["phone_number"] for r in campaign["request"]["recipients"]]
        for i, number in enumerate(numbers):
            data: dict[str, Any] = {"campaign_id": campaign["id"], "phone_number": number}
            if number == opt_out:
                data.update(status="completed", disposition="opt_out")
            else:
                data.update(status="no_answer" if i % 3 == 0 else "completed", disposition=None)
            body = {"id": f"evt_{campaign['id']}_{i}", "type": "call.completed", "data": data}
            assert receiver.accept(json.dumps(body).encode(), 1_700_000_000) == "processed"
            delivered += 1
        done = {
            "id": f"evt_{campaign['id']}_done",
            "type": "campaign.completed",
            "data": {"campaign_id": campaign["id"]},
        }
        assert receiver.accept(json.dumps(done).encode(), 1_700_000_000) == "processed"
    return delivered


def asset_events(dag_id: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        found = (
            session.query(AssetEvent.extra, AssetEvent.source_dag_id)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .filter(AssetModel.uri == f"integra://outcomes/{dag_id}")
            .all()
        )
    return [dict(extra) for extra, source in found if source == "integra_outcomes"]


def test_outcomes_reach_the_warehouse_once_with_an_asset_event_per_campaign(
    campaign: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_WEBHOOK", json.dumps({"conn_type": "generic", "password": SECRET}))
    campaign.define(max_recipients_per_campaign=40)
    run_at = future_run()
    campaign.seed(100, run_at, bad_ratio=0.0)
    assert str(campaign.run(run_at).state) == "success"
    created = campaign.sandbox.campaigns()
    assert len(created) >= 2
    opt_out = created[0]["request"]["recipients"][0]["phone_number"]
    before = {e["campaign_id"] for e in asset_events(campaign.dag_id)}
    delivered = deliver_outcomes(created, opt_out)

    dag_run = outcomes_dag().test()
    assert str(dag_run.state) == "success"
    exported = campaign.query("SELECT * FROM integra_outcomes")
    assert len(exported) == delivered
    assert {r["dag_id"] for r in exported} == {campaign.dag_id}
    assert all(r["lead_id"] for r in exported)  # every outcome carries the lead it was for
    assert sum(int(r["opted_out"]) for r in exported) == 1
    progress = campaign.query("SELECT * FROM integra_campaign_progress")
    assert sorted(p["campaign_id"] for p in progress) == sorted(c["id"] for c in created)
    assert {p["status"] for p in progress} == {"completed"}

    events = {e["campaign_id"]: e for e in asset_events(campaign.dag_id) if e["campaign_id"] not in before}
    assert sorted(events) == sorted(c["id"] for c in created)
    for c in created:
        numbers = [r["phone_number"] for r in c["request"]["recipients"]]
        unanswered = len(range(0, len(numbers), 3)) - (1 if opt_out in numbers[::3] else 0)
        assert events[c["id"]]["answered"] + events[c["id"]]["not_answered"] == len(numbers)
        assert events[c["id"]]["not_answered"] == unanswered
        assert events[c["id"]]["opted_out"] == (1 if opt_out in numbers else 0)
        assert events[c["id"]]["campaign_status"] == "completed"

    # Nothing new: the next run exports nothing and emits no event.
    count = len(asset_events(campaign.dag_id))
    assert str(outcomes_dag().test().state) == "success"
    assert len(campaign.query("SELECT * FROM integra_outcomes")) == delivered
    assert len(asset_events(campaign.dag_id)) == count

    # An export that died after writing to the warehouse but before marking the ledger is repeated: one copy.
    campaign.ledger_execute("UPDATE integra_call_outcomes SET exported_at = NULL")
    assert str(outcomes_dag().test().state) == "success"
    assert len(campaign.query("SELECT * FROM integra_outcomes")) == delivered
    assert len({r["event_id"] for r in campaign.query("SELECT event_id FROM integra_outcomes")}) == delivered


def test_outcomes_go_to_the_definitions_outcomes_connection(sqlite_campaign: Any, database_factory: Any) -> None:
    """A read-only warehouse for leads, outcomes elsewhere: ``outcomes_conn_id``."""
    campaign = sqlite_campaign
    elsewhere = database_factory("sqlite", "reporting")
    campaign.monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_REPORTING", elsewhere.airflow_conn)
    campaign.monkeypatch.setenv(
        "AIRFLOW_CONN_INTEGRA_WEBHOOK", json.dumps({"conn_type": "generic", "password": SECRET})
    )
    campaign.define(outcomes_conn_id="integra_reporting")
    run_at = future_run()
    campaign.seed(20, run_at, bad_ratio=0.0)
    assert str(campaign.run(run_at).state) == "success"
    delivered = deliver_outcomes(campaign.sandbox.campaigns(), opt_out="")
    assert str(outcomes_dag().test().state) == "success"
    assert len(elsewhere.query("SELECT * FROM integra_outcomes")) == delivered
    tables = campaign.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    assert "integra_outcomes" not in {t["name"] for t in tables}
