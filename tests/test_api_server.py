"""The real ``airflow api-server`` after a real run: what an operator sees through REST API v2.

One ``dag.test()`` of a test campaign (three batches, so three mapped ``create_campaign``
instances) against the Integra sandbox, then the API server on the test session's metadata DB: the
DAG with its docs and tags, the run and its task instances, the plugin, and the "Integra campaign"
extra link of every mapped instance pointing at the campaign the sandbox created.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.api_server import ApiServer
from tests.fixtures.campaign import future_run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LINK_NAME = "Integra campaign"


def test_rest_api_shows_the_run_and_links_to_the_campaigns(
    sqlite_campaign: Any, start_api_server: Callable[[], ApiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from integra import contract

    campaign = sqlite_campaign
    panel = f"{campaign.sandbox.url}/panel"
    monkeypatch.setenv(
        "AIRFLOW_CONN_INTEGRA_DEFAULT",
        json.dumps({**json.loads(campaign.sandbox.airflow_conn_json()), "extra": {"panel_url": panel}}),
    )
    definition = campaign.define(max_recipients_per_campaign=80)
    run_at = future_run()
    campaign.seed(200, run_at)
    dag_run = campaign.run(run_at)
    assert str(dag_run.state) == "success"
    created = campaign.sandbox.campaigns()
    assert len(created) == 3, [c["total_recipients"] for c in created]

    api_server = start_api_server()

    # Authenticate as a client would: all-admins mode hands out a token without credentials.
    token = api_server.session.get(f"{api_server.url}/auth/token", timeout=30)
    assert token.status_code in (200, 201), token.text
    api_server.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    dag_id = campaign.dag_id
    dag = api_server.get(f"/dags/{dag_id}")
    assert dag["dag_id"] == dag_id
    assert sorted(tag["name"] for tag in dag["tags"]) == sorted(definition["tags"])
    assert dag["description"] == definition["description"]
    assert dag["owners"] == [definition["owner"]]
    details = api_server.get(f"/dags/{dag_id}/details")
    doc = ast.get_docstring(ast.parse((ROOT / "dags" / "integra_campaigns.py").read_text()))
    assert details["doc_md"].strip() == doc
    assert "### Integra daily call campaigns" in details["doc_md"]
    assert set(details["params"]) == {"dry_run", "scheduled_at", "resend_keys"}

    # Other tests of the session may have run the same dag_id: look for this run among them.
    runs = {r["dag_run_id"]: r for r in api_server.get(f"/dags/{dag_id}/dagRuns")["dag_runs"]}
    run_id = dag_run.run_id
    assert run_id in runs, sorted(runs)
    assert runs[run_id]["state"] == "success"

    instances = api_server.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in instances}
    assert states == {
        ("extract_leads", -1): "success",
        ("build_recipients", -1): "success",
        ("create_campaign", 0): "success",
        ("create_campaign", 1): "success",
        ("create_campaign", 2): "success",
        ("record_campaigns", -1): "success",
    }
    mapped = sorted((ti for ti in instances if ti["task_id"] == "create_campaign"), key=lambda ti: ti["map_index"])
    # The map index shows the campaign name: "(k/n)" counts the day's batches by position, then the zone group.
    labels = [ti["rendered_map_index"] for ti in mapped]
    assert [label.split(" · ")[0].rsplit(" ", 1)[-1] for label in labels] == ["(1/3)", "(2/3)", "(3/3)"], labels
    assert all(label.endswith(" · UTC-3 SP") for label in labels), labels

    plugins = {p["name"]: p for p in api_server.get("/plugins")["plugins"]}
    assert "integra" in plugins, plugins
    assert any("IntegraCampaignLink" in link for link in plugins["integra"]["operator_extra_links"]), plugins["integra"]

    by_id = {c["id"]: c for c in created}
    links = {}
    for index in range(3):
        base = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/create_campaign"
        body = api_server.get(f"{base}/links", map_index=index)
        assert body["total_entries"] == 1, body
        result = api_server.get(f"{base}/xcomEntries/return_value", map_index=index, deserialize=True)["value"]
        if isinstance(result, str):
            result = json.loads(result)
        # Each instance returns one result per batch it sent: three batches, three instances, one each.
        assert isinstance(result, list), result
        [result] = result
        assert result["campaign_id"] in by_id, result
        assert result["batch_number"] == index + 1, result
        assert body["extra_links"][LINK_NAME] == contract.panel_campaign_url(panel, result["campaign_id"])
        links[result["campaign_id"]] = body["extra_links"][LINK_NAME]
    assert sorted(links) == sorted(by_id), "every campaign is linked from exactly one mapped instance"
    first = created[0]["id"]
    assert links[first] == f"{panel}/campaigns/{first}"
