"""One call per person across campaigns: the contact policy, enforced by the ledger when batches are claimed.

Two campaigns over the same leads on the same day, one after the other through ``dag.test()`` and at
the same moment as concurrent claims on every ledger backend: each number is phoned once, and the
other campaign accounts it as ``capped``, naming the batch that holds it.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from tests.fixtures.campaign import BASE_DEFINITION, ROOT, future_run
from tests.fixtures.databases import KIND_PARAMS
from tests.fixtures.ledger import batch_record, members

BUCKETS = ("sent", "skipped_late", "rejected", "suppressed", "duplicates", "cooled_down", "capped")


def _second_campaign(campaign, dag_id: str = "integra_second_campaign") -> None:
    """Another definition over the same SQL and leads, as a second team would add it."""
    definition = {**BASE_DEFINITION, "dag_id": dag_id, "retries": 0}
    (campaign.tmp / "campaigns" / f"{dag_id}.yaml").write_text(yaml.safe_dump(definition, allow_unicode=True))


def _run(campaign, dag_id: str, run_at: datetime):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "integra_campaigns.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id].test(logical_date=run_at)


def _summary(dag_id: str, run_at: datetime) -> dict:
    from integra.ledger import Ledger

    summary = Ledger().run_summary(dag_id, run_at)
    assert summary is not None
    return summary


def _sent_numbers(campaign, dag_id: str) -> list[str]:
    return [
        r["phone_number"]
        for c in campaign.sandbox.campaigns()
        if c["idempotency_key"].startswith(f"{dag_id}:")
        for r in c["request"]["recipients"]
    ]


def test_a_second_campaign_the_same_day_phones_nobody_twice(sqlite_campaign):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.seed(40, run_at, bad_ratio=0.0)
    _second_campaign(campaign)
    assert str(_run(campaign, campaign.dag_id, run_at).state) == "success"
    first = _sent_numbers(campaign, campaign.dag_id)
    assert first

    assert str(_run(campaign, "integra_second_campaign", run_at).state) == "success"
    assert _sent_numbers(campaign, "integra_second_campaign") == [], "the second campaign phoned people again"
    counts = _summary("integra_second_campaign", run_at)["counts"]
    assert counts["capped"] == len(first)
    assert counts["sent"] == 0
    assert counts["queried"] == sum(counts[k] for k in BUCKETS)
    held = campaign.ledger_query(
        "SELECT lead_id, detail FROM integra_rejected_leads WHERE dag_id = ? AND reason = 'capped'",
        ("integra_second_campaign",),
    )
    assert len(held) == len(first)
    [key] = {
        r["campaign_key"]
        for r in campaign.ledger_query(
            "SELECT campaign_key FROM integra_campaigns WHERE dag_id = ?", (campaign.dag_id,)
        )
    }
    assert all(key in r["detail"] for r in held), "the rejection names the batch that holds the number"


def test_the_policy_allows_what_it_says(sqlite_campaign, tmp_path):
    """max_calls_per_number: 2 lets the second campaign call; per_days bounds the window."""
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.seed(20, run_at, bad_ratio=0.0)
    _second_campaign(campaign)
    policy = tmp_path / "policy.yaml"
    policy.write_text("max_calls_per_number: 2\nper_days: 1\n")
    campaign.monkeypatch.setenv("INTEGRA_CONTACT_POLICY", str(policy))
    assert str(_run(campaign, campaign.dag_id, run_at).state) == "success"
    assert str(_run(campaign, "integra_second_campaign", run_at).state) == "success"
    assert sorted(_sent_numbers(campaign, "integra_second_campaign")) == sorted(
        _sent_numbers(campaign, campaign.dag_id)
    )
    assert _summary("integra_second_campaign", run_at)["counts"]["capped"] == 0


def test_a_bad_policy_file_withholds_every_campaign_and_names_the_field(sqlite_campaign, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    policy = tmp_path / "policy.yaml"
    policy.write_text("max_calls_per_number: 0\nper_dayz: 1\n")
    sqlite_campaign.monkeypatch.setenv("INTEGRA_CONTACT_POLICY", str(policy))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    errors = "\n".join(bag.import_errors.values())
    assert "policy.yaml: invalid contact policy" in errors
    assert "max_calls_per_number" in errors
    assert "per_dayz: unknown field" in errors
    assert sqlite_campaign.dag_id not in bag.dag_ids, "a campaign ran without its contact policy"


RUN_SCRIPT = """
import sys
from datetime import datetime
sys.path[:0] = [{root!r}]
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder={dagfile!r}).dags[{dag_id!r}]
print("STATE", dag.test(logical_date=datetime.fromisoformat({day!r})).state)
"""


def test_two_campaigns_running_at_the_same_moment_phone_each_number_once(sqlite_campaign):
    """Both DAG runs at once, in two processes, against one ledger: the claims take turns."""
    import subprocess
    import sys

    campaign = sqlite_campaign
    run_at = future_run()
    campaign.seed(300, run_at, bad_ratio=0.0)
    campaign.define(max_recipients_per_campaign=50)
    _second_campaign(campaign)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RUN_SCRIPT.format(
                    root=str(ROOT),
                    dagfile=str(ROOT / "dags" / "integra_campaigns.py"),
                    dag_id=dag_id,
                    day=run_at.isoformat(),
                ),
            ],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for dag_id in (campaign.dag_id, "integra_second_campaign")
    ]
    outputs = [p.communicate(timeout=600)[0].decode(errors="replace") for p in procs]
    for out in outputs:
        assert "STATE success" in out, out[-3000:]
    first, second = _sent_numbers(campaign, campaign.dag_id), _sent_numbers(campaign, "integra_second_campaign")
    assert len(first) + len(second) == len(set(first) | set(second)), "a number was phoned by both campaigns"
    counts = [_summary(d, run_at)["counts"] for d in (campaign.dag_id, "integra_second_campaign")]
    for c in counts:
        assert c["queried"] == sum(c[k] for k in BUCKETS), c
    assert sum(c["sent"] for c in counts) == len(set(first) | set(second))
    assert sum(c["capped"] for c in counts) == sum(c["queried"] - c["duplicates"] for c in counts) // 2


def _claim(args):
    from integra.ledger import Ledger
    from integra.ledger import idempotency as idem
    from integra.policy.contact import ContactPolicy

    conn_env, dag_id, numbers = args
    os.environ["AIRFLOW_CONN_INTEGRA_LEDGER"] = conn_env
    day = datetime(2026, 1, 1, 10, tzinfo=UTC)
    batch = batch_record(f"{dag_id}:k", dag_id, day, len(numbers))
    claim = idem.claim(
        Ledger("integra_ledger"),
        batch,
        scheduled_at=day + timedelta(hours=3),
        members=members(numbers),
        policy=ContactPolicy(),
    )
    return claim.state.value, sorted(claim.capped)


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_two_campaigns_claiming_at_once_never_both_get_a_number(kind, database_factory, monkeypatch):
    """12 processes: 6 claim campaign A's batch, 6 campaign B's, whose numbers overlap by half."""
    from integra.ledger import upgrade

    ledger = database_factory(kind, "ledger")
    monkeypatch.setenv("AIRFLOW_CONN_INTEGRA_LEDGER", ledger.airflow_conn)
    upgrade("integra_ledger")
    a = [f"+5511987{i:06d}" for i in range(0, 400)]
    b = [f"+5511987{i:06d}" for i in range(200, 600)]
    jobs = [(ledger.airflow_conn, "campaign_a", a), (ledger.airflow_conn, "campaign_b", b)] * 6
    with multiprocessing.get_context("spawn").Pool(12) as pool:
        outcomes = pool.map(_claim, jobs)
    assert sorted(state for state, _ in outcomes).count("claimed") == 2
    members = ledger.query("SELECT phone_e164, campaign_key FROM integra_campaign_recipients")
    numbers = [m["phone_e164"] for m in members]
    assert len(numbers) == len(set(numbers)) == 600, "a number is in both campaigns"
    capped = [c for state, c in outcomes if state == "claimed" and c]
    assert capped == [sorted(set(a) & set(b))], "the later claim left out exactly the shared numbers"
    rejected = ledger.query("SELECT COUNT(*) AS n FROM integra_rejected_leads WHERE reason = 'capped'")
    assert rejected[0]["n"] == 200
