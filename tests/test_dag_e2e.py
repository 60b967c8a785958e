"""The daily campaign end to end: warehouse → recipients → sandbox campaigns → ledger."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from tests.fixtures.campaign import future_run
from tests.fixtures.hours import allowed


def _accounted(counts: dict) -> int:
    return sum(counts[k] for k in ("sent", "skipped_late", "rejected", "suppressed", "duplicates", "cooled_down"))


def test_daily_run_creates_campaigns_and_ledger(campaign):
    """The demo's national mix of leads: one batch family per zone group, each called in its own hours."""
    run_at = future_run()
    campaign.define(max_recipients_per_campaign=200)
    campaign.seed(500, run_at, area_codes=None)
    dag_run = campaign.run(run_at)
    assert str(dag_run.state) == "success"

    summary = campaign.summary(run_at)
    counts = summary["counts"]
    assert counts["queried"] == 500
    assert counts["queried"] == _accounted(counts)
    assert counts["rejected"] > 0
    assert counts["duplicates"] > 0
    created = campaign.sandbox.campaigns()
    assert len(created) == len(summary["campaigns"])
    assert sum(c["total_recipients"] for c in created) == counts["sent"]
    groups: dict[str, int] = {}
    for c in created:
        zone = c["request"]["name"].split(" · ")[1].rsplit(" [", 1)[0]
        groups[zone] = groups.get(zone, 0) + c["total_recipients"]
    assert len(groups) > 3, groups  # São Paulo time, Manaus time, Acre, Noronha, RJ/ES/GO rules, abroad …
    assert len(created) == sum(math.ceil(n / 200) for n in groups.values())

    phones = [r["phone_number"] for c in created for r in c["request"]["recipients"]]
    assert len(phones) == len(set(phones)), "a number was sent twice"
    for c in created:
        body = c["request"]
        at = datetime.fromisoformat(body["scheduled_at"])
        assert at > datetime.now(UTC)
        assert all(allowed(r["phone_number"], at) for r in body["recipients"]), body["name"]
        if " · UTC-3 " in body["name"] and "states" in body["name"]:  # the big São Paulo-time group
            assert at == run_at.replace(hour=10)
        assert body["config"] == {
            "call_timeout": 45,
            "voicemail_mode": "hangup",
            "outbound_auto_greet": True,
            "max_concurrent": 2,
        }
        assert body["name"].startswith(f"Leads diários {run_at.date().isoformat()} (")
        assert c["idempotency_key"].startswith("integra_test_campaign:")
        assert set(body["recipients"][0]["dynamic_variables"]) == {"leadName", "companyName", "product"}

    ledger = campaign.ledger_query("SELECT campaign_id, status, recipients_count FROM integra_campaigns")
    assert {r["campaign_id"] for r in ledger} == {c["id"] for c in created}
    assert {r["status"] for r in ledger} == {"created"}
    recipients = campaign.ledger_query(
        "SELECT COUNT(*) AS n FROM integra_campaign_recipients r JOIN integra_campaigns c "
        "ON c.campaign_key = r.campaign_key WHERE c.campaign_id IS NOT NULL"
    )
    assert recipients[0]["n"] == counts["sent"]
    rejected = campaign.ledger_query("SELECT reason, COUNT(*) AS n FROM integra_rejected_leads GROUP BY reason")
    by_reason = {r["reason"]: r["n"] for r in rejected}
    assert by_reason.pop("duplicate_phone") == counts["duplicates"]
    assert by_reason == summary["rejected_by_reason"]


def test_rerun_of_the_same_day_creates_nothing(sqlite_campaign):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.seed(300, run_at)
    assert str(campaign.run(run_at).state) == "success"
    first = campaign.sandbox.campaigns()
    assert str(campaign.run(run_at).state) == "success"
    assert campaign.sandbox.campaigns() == first
    assert campaign.summary(run_at)["counts"]["sent"] == sum(c["total_recipients"] for c in first)


def test_25000_valid_leads_make_three_campaigns(sqlite_campaign):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.seed(25_000, run_at, bad_ratio=0.0)
    assert str(campaign.run(run_at).state) == "success"
    created = campaign.sandbox.campaigns()
    counts = campaign.summary(run_at)["counts"]
    assert counts["sent"] == 25_000 - counts["duplicates"]
    assert len(created) == 3
    assert sorted(c["total_recipients"] for c in created) == [5_000, 10_000, 10_000]
    assert campaign.sandbox.stats()["campaign_posts"] == 3


def test_a_day_without_leads_posts_nothing(sqlite_campaign):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.seed(50, run_at - __import__("datetime").timedelta(days=5))  # other days only
    assert str(campaign.run(run_at).state) == "success"
    assert campaign.sandbox.stats()["campaign_posts"] == 0
    summary = campaign.summary(run_at)
    assert summary["counts"]["queried"] == 0
    assert summary["counts"]["sent"] == 0
    assert summary["campaigns"] == []


def test_cooldown_skips_leads_called_on_a_previous_day(sqlite_campaign):
    from datetime import timedelta

    campaign = sqlite_campaign
    day1 = future_run()
    day2 = day1 + timedelta(days=1)
    while day2.weekday() >= 5:
        day2 += timedelta(days=1)
    # The second day's query window is widened to include day 1's leads (overlap).
    (campaign.tmp / "sql" / "wide.sql").write_text(
        "SELECT lead_id, full_name, phone, company, product, city FROM leads WHERE created_at < :data_interval_end_utc"
    )
    campaign.define(sql="wide.sql")
    campaign.seed(200, day1, seed=1, prefix="A")
    assert str(campaign.run(day1).state) == "success"
    sent_day1 = campaign.summary(day1)["counts"]["sent"]
    campaign.seed(100, day2, seed=2, prefix="B")
    assert str(campaign.run(day2).state) == "success"
    counts = campaign.summary(day2)["counts"]
    assert counts["queried"] == 300
    assert counts["cooled_down"] == sent_day1
    assert counts["queried"] == _accounted(counts)
    day2_phones = {r["phone_number"] for c in campaign.sandbox.campaigns()[1:] for r in c["request"]["recipients"]}
    day1_phones = {r["phone_number"] for r in campaign.sandbox.campaigns()[0]["request"]["recipients"]}
    assert not day1_phones & day2_phones


def test_suppressed_numbers_are_never_sent(sqlite_campaign):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.seed(100, run_at, bad_ratio=0.0)
    # Suppress two leads by their normalised number (the ledger exists before any run).
    leads = campaign.query("SELECT phone FROM leads ORDER BY lead_id LIMIT 2")
    import phonenumbers

    numbers = [
        phonenumbers.format_number(phonenumbers.parse(r["phone"], "BR"), phonenumbers.PhoneNumberFormat.E164)
        for r in leads
    ]
    for number in numbers:
        campaign.ledger_execute(
            "INSERT INTO integra_suppression_list (phone_e164, reason) VALUES (?, 'opt-out')", (number,)
        )
    assert str(campaign.run(run_at).state) == "success"
    sent = {r["phone_number"] for c in campaign.sandbox.campaigns() for r in c["request"]["recipients"]}
    assert not sent & set(numbers)
    assert campaign.summary(run_at)["counts"]["suppressed"] == 2


def test_dry_run_sends_nothing_and_changes_no_ledger_state(sqlite_campaign):
    campaign = sqlite_campaign
    run_at = future_run()
    campaign.seed(100, run_at)
    assert str(campaign.run(run_at, dry_run=True).state) == "success"
    assert campaign.sandbox.stats()["campaign_posts"] == 0
    for table in ("integra_campaigns", "integra_campaign_recipients", "integra_rejected_leads", "integra_runs"):
        assert campaign.ledger_query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] == 0, table


def test_a_run_with_its_files_on_an_object_store(sqlite_campaign):
    """Local files are opened by pyarrow directly; any other store goes through ObjectStoragePath.

    fsspec's in-memory filesystem, attached the way a provider attaches S3 or GCS, stands in for them
    (``dag.test`` runs every task in this process, so they all see it).
    """
    import fsspec
    from airflow.sdk.io import attach

    attach(protocol="memory", fs=fsspec.filesystem("memory"))

    campaign = sqlite_campaign
    run_at = future_run()
    campaign.define(max_recipients_per_campaign=100, keep_run_files=True)  # to look at them afterwards
    campaign.seed(300, run_at)
    base = f"memory://integra-test-{run_at:%Y%m%d}"
    campaign.monkeypatch.setenv("INTEGRA_DATA_PATH", base)
    assert str(campaign.run(run_at).state) == "success"

    written = fsspec.filesystem("memory").find(base.removeprefix("memory://"))
    assert any(p.endswith("leads.parquet") for p in written), written
    batch_files = [p for p in written if "/batch-" in p and p.endswith(".parquet")]
    assert not (campaign.tmp / "data").exists(), "a file went to the local disk"

    counts = campaign.summary(run_at)["counts"]
    created = campaign.sandbox.campaigns()
    assert counts["queried"] == 300 == _accounted(counts)
    assert len(created) == len(batch_files) == math.ceil(counts["sent"] / 100)
    phones = [r["phone_number"] for c in created for r in c["request"]["recipients"]]
    assert len(phones) == len(set(phones)) == counts["sent"]

    # Without keep_run_files, the next day's files are removed from the store once the run is recorded.
    campaign.define(max_recipients_per_campaign=100)
    next_day = run_at + timedelta(days=1)
    campaign.seed(50, next_day, seed=5, prefix="N")
    assert str(campaign.run(next_day).state) == "success"
    assert campaign.summary(next_day)["counts"]["sent"] > 0
    remaining = fsspec.filesystem("memory").find(base.removeprefix("memory://"))
    assert sorted(remaining) == sorted(written), "the second day's files should be gone, the first day's kept"


def test_batch_files_record_each_persons_locality_as_a_look_up_finds_it(sqlite_campaign):
    """create_campaign schedules a batch from the localities its file records (no look-up per number):
    every row's recorded locality must be the one its number has, and the campaign is called at
    send_time in the batch's westernmost zone."""
    import pyarrow.parquet as pq

    from integra.policy.local_time import Locality, locality_of

    campaign = sqlite_campaign
    run_at = future_run()
    campaign.define(keep_run_files=True)
    campaign.seed(300, run_at, area_codes=None)  # the demo's national mix: several states and zones
    assert str(campaign.run(run_at).state) == "success"

    files = sorted((campaign.tmp / "data").rglob("batch-*.parquet"))
    rows = [row for path in files for row in pq.read_table(path).to_pylist()]
    assert files
    assert len(rows) == campaign.summary(run_at)["counts"]["sent"]
    assert all(Locality.from_text(row["locality"]) == locality_of(row["phone_number"]) for row in rows)
    assert len({row["locality"] for row in rows}) > 3, "several states and zones"
