"""The campaigns page on a big ledger: a year of daily runs and 1M batch members.

    python bench_ui.py KIND TARGET [--rounds 7]    # KIND sqlite or postgres; TARGET a file or a server URI

Fills the ledger (reached as ``AIRFLOW_CONN_INTEGRA_LEDGER``) once, if empty: 365 recorded days of one
campaign, 3 batches a day (one left ``unknown``), 1,000,000 members, 36,500 rejected leads, 300,000
call outcomes. Then times, in this process, what one page view costs on the API server: the page's
queries (``integra.ui.routes.campaign_data``, with a lead looked up) plus rendering the HTML. Prints
JSON: the median and the slowest of ``rounds`` views, and the row counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median

DAG = "integra_bench_campaign"
DAYS, BATCHES, MEMBERS, REJECTED_PER_DAY, OUTCOMES = 365, 3, 1_000_000, 100, 300_000


def fill(ledger: object) -> dict[str, int]:
    import sqlalchemy as sa

    from integra.ledger import tables
    from integra.ledger.store import bulk_insert

    engine = ledger.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        existing = conn.execute(sa.select(sa.func.count()).select_from(tables.recipients)).scalar()
    if existing:
        return {"members": int(existing)}
    start = datetime(2025, 12, 1, 10, tzinfo=UTC)
    per_batch = MEMBERS // (DAYS * BATCHES) + 1
    member = 0
    with engine.begin() as conn:
        for d in range(DAYS):
            day = start + timedelta(days=d)
            campaigns, members, rejected = [], [], []
            for b in range(1, BATCHES + 1):
                key = f"{DAG}:{day:%Y-%m-%dT%H:%M:%SZ}:b{b}:{d:08x}"
                status = "unknown" if (d, b) == (DAYS - 2, 2) else "created"
                campaigns.append(
                    {
                        "campaign_key": key,
                        "dag_id": DAG,
                        "run_id": f"scheduled__{day:%Y-%m-%d}",
                        "interval_end": day,
                        "batch_number": b,
                        "batch_count": BATCHES,
                        "batch_digest": "0" * 64,
                        "name": f"Bench {day:%Y-%m-%d} ({b}/3)",
                        "status": status,
                        "campaign_id": None if status == "unknown" else f"cmp-{d}-{b}",
                        "scheduled_at": day + timedelta(hours=3),
                        "recipients_count": per_batch,
                        "attempts": 1,
                        "last_error": None,
                        "claimed_at": day,
                        "updated_at": day,
                    }
                )
                for _ in range(per_batch):
                    if member >= MEMBERS:
                        break
                    members.append(
                        {
                            "campaign_key": key,
                            "lead_id": f"L{member:08d}",
                            "dag_id": DAG,
                            "interval_end": day,
                            "phone_e164": f"+55119{member:08d}",
                            "phone_masked": f"+55*******{member % 10000:04d}",
                            "recipient_name": "Pessoa",
                            "claimed_at": day,
                        }
                    )
                    member += 1
            for r in range(REJECTED_PER_DAY):
                rejected.append(
                    {
                        "dag_id": DAG,
                        "interval_end": day,
                        "lead_id": f"R{d:03d}{r:04d}",
                        "reason": "invalid_phone",
                        "run_id": f"scheduled__{day:%Y-%m-%d}",
                        "field": "phone",
                        "detail": "not a valid number",
                        "original_value": "123",
                        "recorded_at": day,
                    }
                )
            summary = {
                "counts": {"queried": 3000, "sent": 2900, "rejected": REJECTED_PER_DAY},
                "rejected_by_reason": {"invalid_phone": REJECTED_PER_DAY},
            }
            bulk_insert(conn, tables.campaigns, campaigns)
            bulk_insert(conn, tables.recipients, members)
            bulk_insert(conn, tables.rejected_leads, rejected)
            run = {"dag_id": DAG, "interval_end": day, "run_id": f"scheduled__{day:%Y-%m-%d}", "status": "ok"}
            run |= {"queried": 3000, "sent": 2900, "rejected": REJECTED_PER_DAY, "suppressed": 0, "duplicates": 0}
            run |= {"cooled_down": 0, "skipped": 0, "campaigns": BATCHES, "summary": json.dumps(summary)}
            conn.execute(tables.runs.insert(), {**run, "recorded_at": day})
        outcomes = [
            {
                "campaign_id": f"cmp-{i % DAYS}-{1 + i % 2}",
                "phone_e164": f"+55119{i:08d}",
                "attempt": 1,
                "call_id": None,
                "event_id": f"evt{i}",
                "campaign_key": None,
                "dag_id": DAG,
                "lead_id": f"L{i:08d}",
                "phone_masked": "+55*******0000",
                "status": "completed",
                "disposition": None,
                "answered": i % 2 == 0,
                "opted_out": i % 50 == 0,
                "duration_seconds": 30,
                "started_at": None,
                "ended_at": None,
                "recorded_at": start,
                "exported_at": None,
            }
            for i in range(OUTCOMES)
        ]
        bulk_insert(conn, tables.call_outcomes, outcomes)
    return {"members": member}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("sqlite", "postgres"))
    parser.add_argument("target")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    conn = json.dumps({"conn_type": "sqlite", "host": args.target}) if args.kind == "sqlite" else args.target
    os.environ["AIRFLOW_CONN_INTEGRA_LEDGER"] = conn
    from integra.ledger import Ledger, upgrade
    from integra.ui import render
    from integra.ui.routes import campaign_data

    upgrade("integra_ledger")
    started = time.perf_counter()
    counts = fill(Ledger("integra_ledger"))
    fill_s = time.perf_counter() - started
    views = []
    for r in range(args.rounds):
        t0 = time.perf_counter()
        data = campaign_data(DAG, f"R{r:03d}0001")
        html = render.campaign_page(data, show_names=False)
        views.append(time.perf_counter() - t0)
        assert data["lead"]["rejections"], "the looked-up lead should be found"
        assert len(data["unsettled"]) == 1
        assert "unsettled" in html
    emit({"kind": args.kind, "view_median_s": median(views), "view_max_s": max(views), "fill_s": fill_s, **counts})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
