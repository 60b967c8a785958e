"""What the campaigns page reads from the ledger: every query bounded and served by an index.

Days come from ``integra_runs`` (one row per campaign day), batches from ``integra_campaigns`` (by DAG
and day), a lead's story from ``integra_rejected_leads`` and ``integra_campaign_recipients`` (by DAG and
lead id), outcomes from ``integra_call_outcomes`` (by campaign id, its primary key's prefix). Nothing
here scans the people of a batch, so the page stays fast on a ledger of millions of recipients.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from integra.ledger import tables
from integra.ledger.status import MAY_EXIST
from integra.ledger.store import Ledger

#: Batches whose outcome a person must settle (see "Recover from outcome unknown").
UNSETTLED = ("sending", "unknown")
#: Rows of one lead's story: a lead is in at most one batch and one rejection per reason a day.
LEAD_ROWS = 1_000
NOT_SENT = (
    "rejected", "duplicates", "suppressed", "cooled_down", "capped", "skipped_late", "seen_before", "not_approved"
)  # fmt: skip


def campaign_dags(ledger: Ledger) -> list[str]:
    """Every DAG with a recorded day in this ledger."""
    runs = tables.runs
    with ledger.engine.connect() as conn:
        return sorted(str(d) for d in conn.execute(sa.select(runs.c.dag_id).distinct()).scalars())


def days(ledger: Ledger, dag_id: str, limit: int = 30) -> list[dict[str, Any]]:
    """The latest ``limit`` recorded days, newest first, with the counts of their summaries."""
    runs = tables.runs
    query = (
        sa.select(runs.c.interval_end, runs.c.status, runs.c.campaigns, runs.c.summary)
        .where(runs.c.dag_id == dag_id)
        .order_by(runs.c.interval_end.desc())
        .limit(limit)
    )
    with ledger.engine.connect() as conn:
        rows = list(conn.execute(query))
    out = []
    for interval_end, status, campaigns, summary_text in rows:
        summary = json.loads(summary_text) if summary_text else {}
        counts = {k: int(v) for k, v in (summary.get("counts") or {}).items() if isinstance(v, int | float)}
        out.append(
            {
                "day": interval_end,
                "status": status,
                "campaigns": int(campaigns),
                "counts": counts,
                "not_sent": sum(counts.get(k, 0) for k in NOT_SENT),
                "rejected_by_reason": summary.get("rejected_by_reason") or {},
            }
        )
    return out


def batches(ledger: Ledger, dag_id: str, day_list: Sequence[datetime]) -> list[dict[str, Any]]:
    """The batches of these days, newest day first, in batch order."""
    if not day_list:
        return []
    table = tables.campaigns
    query = (
        sa.select(
            table.c.campaign_key,
            table.c.interval_end,
            table.c.batch_number,
            table.c.batch_count,
            table.c.name,
            table.c.status,
            table.c.campaign_id,
            table.c.scheduled_at,
            table.c.recipients_count,
            table.c.attempts,
            table.c.last_error,
        )
        .where(table.c.dag_id == dag_id, table.c.interval_end.in_(list(day_list)))
        .order_by(table.c.interval_end.desc(), table.c.batch_number)
    )
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def unsettled(ledger: Ledger, dag_id: str) -> list[dict[str, Any]]:
    """Batches of any day whose outcome nobody knows yet: what a person must look at first."""
    table = tables.campaigns
    query = (
        sa.select(table.c.campaign_key, table.c.interval_end, table.c.name, table.c.status, table.c.last_error)
        .where(table.c.dag_id == dag_id, table.c.status.in_(UNSETTLED))
        .order_by(table.c.interval_end.desc())
        .limit(100)
    )
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def outcomes(ledger: Ledger, campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Calls reported back per Integra campaign: answered, not answered, opted out."""
    if not campaign_ids:
        return {}
    table = tables.call_outcomes
    answered = sa.func.sum(sa.case((table.c.answered, 1), else_=0))
    opted = sa.func.sum(sa.case((table.c.opted_out, 1), else_=0))
    query = (
        sa.select(table.c.campaign_id, sa.func.count(), answered, opted)
        .where(table.c.campaign_id.in_(list(campaign_ids)))
        .group_by(table.c.campaign_id)
    )
    with ledger.engine.connect() as conn:
        return {
            str(cid): {
                "calls": int(n),
                "answered": int(a or 0),
                "not_answered": int(n) - int(a or 0),
                "opted_out": int(o or 0),
            }
            for cid, n, a, o in conn.execute(query)
        }


def lead(ledger: Ledger, dag_id: str, lead_id: str) -> dict[str, list[dict[str, Any]]]:
    """One lead's story in this campaign: why it was not sent, and the batches it was in."""
    rejected, members, campaigns = tables.rejected_leads, tables.recipients, tables.campaigns
    why = (
        sa.select(
            rejected.c.interval_end, rejected.c.reason, rejected.c.field, rejected.c.detail, rejected.c.original_value
        )
        .where(rejected.c.dag_id == dag_id, rejected.c.lead_id == lead_id)
        .limit(LEAD_ROWS)
    )
    sent = (
        sa.select(
            members.c.interval_end,
            members.c.phone_masked,
            campaigns.c.campaign_key,
            campaigns.c.status,
            campaigns.c.campaign_id,
            campaigns.c.scheduled_at,
        )
        .join(campaigns, campaigns.c.campaign_key == members.c.campaign_key)
        .where(members.c.dag_id == dag_id, members.c.lead_id == lead_id, campaigns.c.status.in_(MAY_EXIST))
        .limit(LEAD_ROWS)
    )
    # Sorted here, not by ORDER BY: a sort on the day could lead a planner to read every member of the
    # campaign in day order instead of seeking the lead index.
    with ledger.engine.connect() as conn:
        return {
            "rejections": sorted((dict(r) for r in conn.execute(why).mappings()), key=_newest_first),
            "batches": sorted((dict(r) for r in conn.execute(sent).mappings()), key=_newest_first),
        }


def _newest_first(row: dict[str, Any]) -> float:
    return -row["interval_end"].timestamp()
