"""Serialise one campaign request of N recipients (default 10,000), as the operator and hook do.

    python bench_request.py [N] [--profile FILE]

Timed: ``integra.models.build_request(body)``, then ``.model_dump_json(exclude_none=True)``, the body
IntegraHook.create_campaign POSTs.
The recipients are N distinct valid generated leads shaped as ``batches.to_recipients`` returns
them. The first call in the process is what a mapped create_campaign task pays; the repeat calls
show the warm cost. Prints JSON with milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFINITION_FILE, emit
from bench_data import leads, run_at

REPEATS = 5


def recipients(n: int) -> list[dict[str, Any]]:
    from integra.definitions import load_definition
    from integra.phones import normalize_phone

    definition = load_definition(DEFINITION_FILE)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in leads(n + n // 5 + 100, run_at()):
        e164, reason = normalize_phone(row["phone"], "BR")
        name = " ".join((row["full_name"] or "").split())
        if reason or e164 in seen or not name or len(name) > 120 or any(ord(c) < 32 or ord(c) == 127 for c in name):
            continue
        seen.add(e164)
        out.append(
            {
                "phone_number": e164,
                "recipient_name": name,
                "dynamic_variables": {
                    var: (row[col] or "").strip() for var, col in definition.dynamic_variables.items()
                },
            }
        )
        if len(out) == n:
            return out
    raise SystemExit("not enough valid generated leads")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=10_000)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()

    from integra.definitions import load_definition
    from integra.models import build_request

    definition = load_definition(DEFINITION_FILE)
    people = recipients(args.n)
    body = {
        "name": "Leads diários 2026-11-27 (1/1) [c85721a2]",
        "project_id": str(definition.project_id),
        "agent_id": str(definition.agent_id),
        "phone_number_id": str(definition.phone_number_id),
        "scheduled_at": run_at().replace(hour=10),
        "recipients": people,
        "config": definition.config.model_dump(exclude_none=True) if definition.config else None,
    }

    def once() -> tuple[float, float, int]:
        t0 = time.perf_counter()
        request = build_request(body)
        t1 = time.perf_counter()
        text = request.model_dump_json(exclude_none=True)  # the body IntegraHook.create_campaign POSTs
        t2 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t1) * 1000, len(text.encode("utf-8"))

    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        first = profiler.runcall(once)
        profiler.dump_stats(str(args.profile))
    else:
        first = once()
    repeats = [once() for _ in range(REPEATS)]
    emit(
        {
            "n": args.n,
            "first_ms": sum(first[:2]),
            "first_parts_ms": {"build_request": first[0], "model_dump_json": first[1]},
            "repeat_ms": statistics.median(sum(r[:2]) for r in repeats),
            "repeat_parts_ms": {
                k: statistics.median(r[i] for r in repeats) for i, k in enumerate(("build_request", "model_dump_json"))
            },
            "body_bytes": first[2],
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
