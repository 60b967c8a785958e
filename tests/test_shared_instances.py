"""Several batches per ``create_campaign`` instance (``max_create_tasks``): each batch still on its own.

A day with more batches than ``max_create_tasks`` shares them among that many mapped instances. Each
batch keeps its own key, claim, POST and confirm, so a failed batch neither stops the others nor is
hidden by them, and rerunning the day sends only what was not created.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from integra.tasks import BATCH_KWARGS, spread
from tests.fixtures.campaign import future_run


def _batches(sizes: list[int]) -> list[dict[str, object]]:
    return [
        {
            "recipients": f"file:///batches/batch-{n:04d}.parquet",
            "batch_number": n,
            "batch_count": len(sizes),
            "name": f"Leads ({n}/{len(sizes)})",
            "idempotency_key": f"dag:day:b{n}:digest",
            "recipients_count": size,
        }
        for n, size in enumerate(sizes, start=1)
    ]


@pytest.mark.parametrize(
    ("sizes", "tasks"),
    [
        ([10_000] * 10 + [141, 3_000, 52, 7_700, 10_000, 1, 9_999, 420, 80, 2_500, 10], 4),
        ([10_000] * 104, 4),
        ([5, 10_000, 3], 4),
        ([10_000, 10_000], 1),
        ([1], 8),
    ],
)
def test_spread_shares_every_batch_once_among_at_most_the_tasks(sizes, tasks):
    batches = _batches(sizes)
    groups = spread(batches, tasks)
    assert len(groups) == min(tasks, len(batches))
    sent = [b["batch_number"] for g in groups for b in g["batches"]]
    assert sorted(sent) == list(range(1, len(batches) + 1)), "every batch in exactly one instance"
    for group in groups:
        numbers = [b["batch_number"] for b in group["batches"]]
        assert numbers == sorted(numbers), "an instance sends its batches in batch order"
        assert all(set(b) == set(BATCH_KWARGS) for b in group["batches"]), "only what the operator takes"
        if len(group["batches"]) == 1:
            assert group["name"] == group["batches"][0]["name"], "one batch: labelled with its campaign name"
        else:
            assert group["name"].startswith("batches ")
            assert f"of {len(batches)}" in group["name"]
    loads = [sum(sizes[b["batch_number"] - 1] for b in g["batches"]) for g in groups]
    assert max(loads) - min(loads) <= max(sizes), f"instances unevenly loaded: {loads}"


def _statuses(campaign) -> dict[str, str]:
    rows = campaign.ledger_query("SELECT campaign_key, status FROM integra_campaigns")
    return {r["campaign_key"]: r["status"] for r in rows}


def _posts(campaign) -> int:
    return int(campaign.sandbox.stats()["campaign_posts"])


def _phoned(campaign) -> list[str]:
    return [r["phone_number"] for c in campaign.sandbox.campaigns() for r in c["request"]["recipients"]]


def test_one_instance_sends_every_batch_of_the_day(sqlite_campaign):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.define(max_recipients_per_campaign=4, max_create_tasks=1)
    campaign.seed(12, run_at, bad_ratio=0.0)
    dag_run = campaign.run(run_at)
    assert str(dag_run.state) == "success"
    assert campaign.task_states(dag_run)["create_campaign"] == ["success"], "one instance for three batches"
    assert _posts(campaign) == 3
    assert sorted(_statuses(campaign).values()) == ["created"] * 3
    phoned = _phoned(campaign)
    assert len(phoned) == len(set(phoned)) == 12
    summary = campaign.summary(run_at)
    assert summary["counts"]["sent"] == 12
    assert sorted(c["batch_number"] for c in summary["campaigns"]) == [1, 2, 3]

    # The day again: every batch is found in the ledger, nothing is POSTed.
    assert str(campaign.run(run_at).state) == "success"
    assert _posts(campaign) == 3


def test_a_refused_batch_does_not_stop_the_others_and_a_rerun_sends_only_it(sqlite_campaign, capfd):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.define(max_recipients_per_campaign=4, max_create_tasks=1)
    campaign.seed(12, run_at, bad_ratio=0.0)
    campaign.sandbox.inject("validation_error")  # the instance's first POST is refused (422)
    dag_run = campaign.run(run_at)
    assert str(dag_run.state) == "failed"
    assert campaign.task_states(dag_run)["create_campaign"] == ["failed"]
    assert sorted(_statuses(campaign).values()) == ["created", "created", "not_created"]
    assert _posts(campaign) == 3, "the two batches after the refused one were still sent, once"
    out = capfd.readouterr().out
    assert re.search(r"1 of 3 batches failed: batch 1: Campaign '.*' was not created", out), out[-3000:]

    dag_run = campaign.run(run_at)
    assert str(dag_run.state) == "success"
    assert _posts(campaign) == 4, "only the refused batch is sent again"
    assert sorted(_statuses(campaign).values()) == ["created"] * 3
    phoned = _phoned(campaign)
    assert len(phoned) == len(set(phoned)) == 12, "nobody phoned twice"


def test_an_unknown_outcome_needs_a_person_while_the_other_batches_go(sqlite_campaign):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.define(max_recipients_per_campaign=4, max_create_tasks=2)
    campaign.seed(12, run_at, bad_ratio=0.0)
    campaign.sandbox.inject("error_after_create")  # created, but answered 500: outcome unknown
    dag_run = campaign.run(run_at)
    assert str(dag_run.state) == "failed"
    assert sorted(campaign.task_states(dag_run)["create_campaign"]) == ["failed", "success"]
    assert sorted(_statuses(campaign).values()) == ["created", "created", "unknown"]
    assert _posts(campaign) == 3, "never retried: the unknown batch may exist"

    # A rerun must not resend the unknown batch; it stays for a person, the others are reused.
    assert str(campaign.run(run_at).state) == "failed"
    assert _posts(campaign) == 3
    phoned = _phoned(campaign)
    assert len(phoned) == len(set(phoned)) == 12


def _campaign_links(dag_id: str, run_id: str) -> list[str]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from integra.links import IntegraCampaignLink

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id, key=IntegraCampaignLink().xcom_key)
        return [str(row.value).strip('"') for row in rows]


def test_the_campaign_button_opens_the_instances_last_created_campaign(sqlite_campaign):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.define(max_recipients_per_campaign=4, max_create_tasks=1)
    campaign.seed(12, run_at, bad_ratio=0.0)
    campaign.sandbox.inject("slow_after_create", times=2, delay=0)  # batches 1 and 2 are created as usual
    campaign.sandbox.inject("validation_error")  # the instance's last batch is refused
    dag_run = campaign.run(run_at)
    assert str(dag_run.state) == "failed"
    created = {c["request"]["name"]: c["id"] for c in campaign.sandbox.campaigns()}
    assert len(created) == 2
    rows = campaign.ledger_query("SELECT batch_number, campaign_id FROM integra_campaigns WHERE status = 'created'")
    second = next(r["campaign_id"] for r in rows if r["batch_number"] == 2)
    [link] = _campaign_links(dag_run.dag_id, dag_run.run_id)
    assert link.endswith(f"/campaigns/{second}"), "the failed batch after it does not hide the last campaign"

    dag_run = campaign.run(run_at)  # the refused batch is sent now: the button moves to it
    assert str(dag_run.state) == "success"
    third = next(
        r["campaign_id"]
        for r in campaign.ledger_query("SELECT batch_number, campaign_id FROM integra_campaigns")
        if r["batch_number"] == 3
    )
    [link] = _campaign_links(dag_run.dag_id, dag_run.run_id)
    assert link.endswith(f"/campaigns/{third}")


def _instant(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def test_the_next_batch_is_prepared_during_a_post_but_claimed_only_after_it(campaign, capfd):
    run_at = future_run()
    campaign.define(max_recipients_per_campaign=4, max_create_tasks=1)
    campaign.seed(12, run_at, bad_ratio=0.0)
    campaign.sandbox.inject("slow_after_create", delay=2)  # the first POST is answered 2 s after it arrives
    dag_run = campaign.run(run_at)
    assert str(dag_run.state) == "success"
    rows = {
        r["batch_number"]: r
        for r in campaign.ledger_query(
            "SELECT batch_number, campaign_key, campaign_id, claimed_at, updated_at FROM integra_campaigns"
        )
    }
    assert sorted(rows) == [1, 2, 3]
    assert all(r["campaign_id"] for r in rows.values())
    out = capfd.readouterr().out
    first_created = out.index(f"Integra campaign {rows[1]['campaign_id']} created")
    second_planned = out.index(f"Batch {rows[2]['campaign_key']}: scheduled_at")
    assert second_planned < first_created, "batch 2 was read, scheduled and built while batch 1's POST was waiting"
    # ...but its key was claimed only once batch 1 was answered and confirmed: a kill in between leaves no
    # claimed batch that was never sent.
    assert _instant(rows[2]["claimed_at"]) >= _instant(rows[1]["updated_at"])
    assert _instant(rows[3]["claimed_at"]) >= _instant(rows[2]["updated_at"])
    assert _posts(campaign) == 3
    phoned = _phoned(campaign)
    assert len(phoned) == len(set(phoned)) == 12
