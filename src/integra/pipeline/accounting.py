"""The run's accounting: every lead this run read lands in exactly one bucket, or the run fails.

Counts are what this run read and decided; the ledger only says which of this run's batches exist.
A batch created by an earlier attempt of the day counts as sent with the people this run put in it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from integra import scheduling
from integra.ledger import Ledger
from integra.ledger import idempotency as idem

#: The buckets that add up to ``queried``.
BUCKETS = (
    "sent",
    "skipped_late",
    "dry_run_not_sent",
    "rejected",
    "suppressed",
    "duplicates",
    "cooled_down",
    "capped",
    "seen_before",
    "not_approved",
)
#: Approval decisions that stop a day (``integra.ledger.approvals.Decision`` values).
STOPPED = ("rejected", "approval_timed_out")


class AccountingError(RuntimeError):
    """The buckets do not add up to what was read: a lead was lost or counted twice."""


def summarise(
    definition: Any,
    built: Mapping[str, Any],
    results: list[Mapping[str, Any]],
    context: Mapping[str, Any],
    approval: str | None = None,
) -> dict[str, Any]:
    """The run's summary: this run's counts, each batch's ledger state, and the check that they add up."""
    dry_run = bool((context.get("params") or {}).get("dry_run"))
    interval_end = scheduling.run_for(context)
    counts = {"capped": 0, "seen_before": 0, **built["counts"]}
    by_key = {r["campaign_key"]: r for r in results if r.get("campaign_key")}
    # Left out when their batch was claimed: another campaign claimed the number first.
    capped_at_claim = sum(int(r.get("capped", 0)) for r in by_key.values())
    campaigns: list[dict[str, Any]] = []
    sent = skipped = would_send = not_approved = 0
    if dry_run:
        would_send = sum(int(r.get("total_recipients", 0)) for r in results)
        campaigns = [dict(r) for r in results]
    else:
        rows = {
            row["campaign_key"]: row
            for row in idem.campaigns_for_day(Ledger(definition.ledger_conn_id), definition.dag_id, interval_end)
        }
        for batch in built["batches"]:
            row = rows.get(batch["idempotency_key"])
            status = row["status"] if row else "missing"
            people = int(batch["recipients_count"]) - int(by_key.get(batch["idempotency_key"], {}).get("capped", 0))
            if status == idem.Status.CREATED:
                sent += people
            elif status == idem.Status.SKIPPED:
                skipped += people
            elif status == "missing" and approval in STOPPED:
                not_approved += people
                status = approval
            campaigns.append(
                {
                    "batch_number": batch["batch_number"],
                    "campaign_key": batch["idempotency_key"],
                    "campaign_id": row["campaign_id"] if row else None,
                    "status": status,
                    "name": row["name"] if row else batch["name"],
                    "scheduled_at": _local_iso(row["scheduled_at"], definition.timezone) if row else None,
                    "recipients": people,
                    "reason": row["last_error"] if row and status == idem.Status.SKIPPED else None,
                }
            )
    counts.update(
        sent=sent,
        skipped_late=skipped,
        dry_run_not_sent=would_send,
        capped=counts["capped"] + capped_at_claim,
        not_approved=not_approved,
    )
    accounted = sum(counts[k] for k in BUCKETS)
    status = "dry_run" if dry_run else ("skipped" if skipped and not sent else "ok")
    if approval in STOPPED and not dry_run:
        status = str(approval)
    summary = {
        "dag_id": definition.dag_id,
        "interval_end": idem.day_text(interval_end),
        "run_id": str(context.get("run_id") or ""),
        "status": status,
        "counts": counts,
        "rejected_by_reason": built.get("rejected_by_reason", {}),
        "campaigns": campaigns,
    }
    if accounted != counts.get("queried", 0):
        raise AccountingError(
            f"Accounting mismatch for {definition.dag_id} {summary['interval_end']}: queried {counts.get('queried')} "
            f"but {' + '.join(BUCKETS)} = {accounted}: {json.dumps(counts)}"
        )
    return summary


def _local_iso(value: datetime | None, timezone: str) -> str | None:
    """The ledger keeps UTC; a person reads the campaign's own time."""
    return None if value is None else scheduling.to_iso(value.astimezone(ZoneInfo(timezone)))


def format_summary(summary: Mapping[str, Any]) -> str:
    """A few lines a person reads in the task log or the demo's output."""
    c = summary["counts"]
    lines = [
        f"{summary['dag_id']} {summary['interval_end']} ({summary['status']}): "
        f"{c.get('queried', 0)} leads queried, {c.get('sent', 0)} sent, {c.get('rejected', 0)} rejected, "
        f"{c.get('duplicates', 0)} duplicates, {c.get('suppressed', 0)} suppressed, "
        f"{c.get('cooled_down', 0)} cooled down, {c.get('capped', 0)} capped, {c.get('skipped_late', 0)} skipped (late)"
        + (f", {c['seen_before']} seen on an earlier day" if c.get("seen_before") else "")
        + (f", {c.get('dry_run_not_sent', 0)} in dry run" if c.get("dry_run_not_sent") else "")
        + (f", {c['not_approved']} not approved" if c.get("not_approved") else ""),
    ]
    if summary.get("rejected_by_reason"):
        reasons = ", ".join(f"{k}={v}" for k, v in summary["rejected_by_reason"].items())
        lines.append(f"  rejected by reason: {reasons}")
    for campaign in summary["campaigns"]:
        lines.append(
            f"  batch {campaign.get('batch_number')}: campaign {campaign.get('campaign_id') or '-'} "
            f"[{campaign.get('status', 'dry_run')}] {campaign.get('recipients', campaign.get('total_recipients'))} "
            f"recipients, scheduled_at {campaign.get('scheduled_at') or '-'}"
        )
    return "\n".join(lines)
