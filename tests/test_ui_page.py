"""The campaigns page in the Airflow UI, in headless Chromium against a real ``airflow api-server``.

Three days of a real campaign (rejected leads, call outcomes, and a day whose batch is left
``unknown``), then the API server with the simple auth manager asking for a login (not all-admins):
anonymous and forged requests get 401 and no data; a signed-in user finds the "Integra" entry in the
UI's navigation, sees the right counts, the unknown batch highlighted with its commands, and finds a
rejected lead by its id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fixtures.api_server import ApiServer
from tests.fixtures.campaign import future_run

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
USER, PASSWORD = "viewer", "viewer-password-for-tests"


def three_days(campaign: Any) -> dict[str, Any]:
    """Day 1 and 2 recorded, day 3 with an unknown batch; outcomes for day 1's calls."""
    from integra.webhooks import receiver

    campaign.monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_WEBHOOK", json.dumps({"conn_type": "generic", "password": "s"}))
    day1 = future_run()
    day2, day3 = day1 + timedelta(days=1), day1 + timedelta(days=2)
    campaign.seed(40, day1, prefix="A", bad_ratio=0.15)
    assert str(campaign.run(day1).state) == "success"
    receiver.cached.clear()
    for i, recipient in enumerate(campaign.sandbox.campaigns()[0]["request"]["recipients"][:10]):
        data = {
            "campaign_id": campaign.sandbox.campaigns()[0]["id"],
            "phone_number": recipient["phone_number"],
            "status": "completed" if i % 2 else "no_answer",
        }
        assert (
            receiver.accept(json.dumps({"id": f"e{i}", "type": "call.completed", "data": data}).encode(), 1)
            == "processed"
        )
    campaign.seed(25, day2, seed=2, prefix="B", bad_ratio=0.0)
    assert str(campaign.run(day2).state) == "success"
    campaign.seed(5, day3, seed=3, prefix="C", bad_ratio=0.0)
    campaign.sandbox.inject("error_after_create")
    assert str(campaign.run(day3).state) == "failed"
    unknown = campaign.ledger_query("SELECT campaign_key FROM integra_campaigns WHERE status = 'unknown'")
    rejected = campaign.ledger_query("SELECT lead_id, reason FROM integra_rejected_leads WHERE lead_id LIKE 'A%'")
    assert len(unknown) == 1
    assert rejected
    return {"days": (day1, day2, day3), "unknown": unknown[0]["campaign_key"], "rejected": rejected[0]}


@pytest.fixture
def signed_in_server(
    sqlite_campaign: Any, start_api_server: Callable[..., ApiServer], tmp_path: Path
) -> tuple[ApiServer, dict[str, Any], Any]:
    story = three_days(sqlite_campaign)
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    env = {
        **os.environ,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    return start_api_server(env, all_admins=False), story, sqlite_campaign


def token(server: ApiServer) -> str:
    answer = requests.post(f"{server.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["access_token"])


def test_the_data_needs_a_signed_in_airflow_user(signed_in_server: tuple[ApiServer, dict[str, Any], Any]) -> None:
    server, story, campaign = signed_in_server
    paths = ["/integra/ui/", f"/integra/ui/campaigns/{campaign.dag_id}", "/integra/api/campaigns",
             f"/integra/api/campaigns/{campaign.dag_id}?lead={story['rejected']['lead_id']}"]  # fmt: skip
    for path in paths:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Cookie": "_token=forged"}):
            answer = requests.get(server.url + path, headers=headers, timeout=30)
            assert answer.status_code == 401, (path, headers, answer.status_code)
            assert campaign.dag_id not in answer.text
            assert story["rejected"]["lead_id"] not in answer.text

    bearer = {"Authorization": f"Bearer {token(server)}"}
    listed = requests.get(f"{server.url}/integra/api/campaigns", headers=bearer, timeout=30).json()
    assert listed == {"campaigns": [campaign.dag_id]}
    data = requests.get(server.url + paths[3], headers=bearer, timeout=30)
    assert data.status_code == 200, data.text
    body = data.json()
    day1, day2, _ = story["days"]
    by_day = {d["day"][:10]: d for d in body["days"]}
    for day in (day1, day2):
        summary = campaign.summary(day)
        shown = by_day[summary["interval_end"][:10]]
        assert shown["counts"]["sent"] == summary["counts"]["sent"]
        assert shown["counts"]["rejected"] == summary["counts"]["rejected"]
    assert [b["campaign_key"] for b in body["unsettled"]] == [story["unknown"]]
    assert story["rejected"]["reason"] in {r["reason"] for r in body["lead"]["rejections"]}
    assert sum(o["calls"] for o in body["outcomes"].values()) == 10


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: make install puts it there")
def test_the_page_in_the_airflow_ui(signed_in_server: tuple[ApiServer, dict[str, Any], Any], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, story, campaign = signed_in_server
    lead_id = story["rejected"]["lead_id"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            page = context.new_page()
            page.goto(f"{server.url}/", wait_until="domcontentloaded")
            # Airflow's own login page (simple auth manager), as a person signs in.
            page.get_by_label("Username").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            nav = page.get_by_role("link", name="Integra").or_(page.get_by_role("button", name="Integra"))
            expect(nav.first).to_be_visible(timeout=60_000)
            nav.first.click()
            frame = page.frame_locator("iframe").first
            expect(frame.get_by_role("link", name=campaign.dag_id)).to_be_visible(timeout=60_000)
            page.screenshot(path=str(tmp_path / "nav.png"))
            frame.get_by_role("link", name=campaign.dag_id).click()
            expect(frame.locator("#attention")).to_contain_text(story["unknown"], timeout=30_000)
            expect(frame.locator("tr.unsettled")).to_have_count(1)
            sent = str(campaign.summary(story["days"][0])["counts"]["sent"])
            expect(frame.locator("#days")).to_contain_text(sent)
            frame.get_by_label("Lead id").fill(lead_id)
            frame.get_by_role("button", name="Find").click()
            expect(frame.locator("#lead-result")).to_contain_text(story["rejected"]["reason"], timeout=30_000)
            page.screenshot(path=str(tmp_path / "campaign.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "campaign.png").stat().st_size > 20_000


def test_the_page_data_on_every_ledger_backend(campaign: Any) -> None:
    """The page's queries on SQLite, PostgreSQL and MariaDB ledgers: days, batches, outcomes, a lead's story."""
    from integra.ui import render
    from integra.ui.routes import campaign_data

    story = three_days(campaign)
    day1 = story["days"][0]
    data = campaign_data(campaign.dag_id, story["rejected"]["lead_id"])
    summary = campaign.summary(day1)
    (shown,) = [d for d in data["days"] if d["day"].date() == day1.astimezone(day1.tzinfo).date()]
    assert shown["counts"]["sent"] == summary["counts"]["sent"]
    assert shown["not_sent"] == summary["counts"]["queried"] - summary["counts"]["sent"]
    assert [b["campaign_key"] for b in data["unsettled"]] == [story["unknown"]]
    assert story["unknown"] in {b["campaign_key"] for b in data["batches"]}
    assert sum(o["calls"] for o in data["outcomes"].values()) == 10
    assert story["rejected"]["reason"] in {r["reason"] for r in data["lead"]["rejections"]}
    page = render.campaign_page(data, show_names=False)
    assert 'class="unsettled"' in page
    assert story["unknown"] in page
    numbers = {r["phone_number"] for c in campaign.sandbox.campaigns() for r in c["request"]["recipients"]}
    assert not any(n in page for n in numbers)  # masked only
