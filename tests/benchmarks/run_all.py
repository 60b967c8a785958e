"""`make bench`: every performance figure of the project in one Markdown table.

Each figure is the median of ``--reps`` runs (default 3, env BENCH_REPS; at least 7 for the
quick ones: DAG parse and the 100k transform; at least 5 for the ledger claims), each in a fresh
subprocess. Every comparison (ours vs naive, ours vs floor, our DAG vs a trivial one, the real DAG
vs an empty one of the same shape, a ledger claim vs a plain executemany) is measured side by side
in the same round and reported as the median of the per-round ratios, so the shared, noisy machine
affects both sides alike.
Variants are run in a rotating order from round to round. Untimed warm-up runs come first.

The table is printed and written to tests/benchmarks/results.md. Scratch data lives in a temp
directory that is removed at the end (``--keep`` keeps it).

Figure 7 needs the PostgreSQL and MariaDB servers of tests/fixtures/databases.py (127.0.0.1:5432 user
postgres, 127.0.0.1:3306 root); it creates a scratch database on each and drops it at the end. A
server that cannot be reached is reported as not measured.

Figure 9 runs `airflow dags test` of the project's DAG and of tests/benchmarks/hand_written_dag.py on
the same leads (100k: ``--reps`` rounds; 1M: one round, when the time budget allows); env
BENCH_HAND_SIZES=10000 (comma-separated) runs it at other sizes for a trial.

    python tests/benchmarks/run_all.py [--reps 3] [--only 1,2,3,4,5,6,7,8,9] [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    BENCH_DIR,
    CACHE,
    DAGS,
    INCLUDE,
    PYCACHE,
    ROOT,
    airflow_env,
    cache_key,
    median,
    run_json,
    sqlite_conn,
)
from bench_e2e import (
    TOKEN,
    ledger_template,
    migrate_template,
    run_once,
    sandbox_connection,
    seed_template,
    start_sandbox,
)
from bench_parse import SAME_SHAPE_DAGS, TRIVIAL_DAG

RESULTS = BENCH_DIR / "results.md"
SIZES = (100_000, 1_000_000)
NAIVE_1M_LIMIT_S = 180.0  # measure the naive 1M run only when 100k predicts it under 3 minutes
E2E_SIZES = (10_000, 100_000)
HAND_SIZES = (100_000, 1_000_000)  # figure 9; env BENCH_HAND_SIZES (comma-separated) for a trial
HAND_ONE_ROUND = 1_000_000  # from this size on: one round, and only when the time budget allows it
HAND_TARGETS = {100_000: (0.9, "≤ 0.9 at 100k"), 1_000_000: (0.5, "≤ 0.5 at 1M (issue 14)")}
RSS_TARGETS = {1_000_000: (0.5, "≤ 0.5 at 1M (issue 14)")}  # peak RSS, project ÷ hand-written
LEDGER_KINDS = ("sqlite", "postgres", "mysql")
LEDGER_MEMBERS = 10_000
CLAIM_TARGET_S = 0.050  # issue 14: claim with members + confirm
BATCH_TARGET_S = 0.200  # issue 14: claim + request build + POST to the sandbox + confirm
T0 = time.perf_counter()


SRC = ROOT / "src"
#: Issue 17: the campaigns page "well under a second" on a year of runs and 1M members.
UI_TARGET_S = 0.3


def log(message: str) -> None:
    print(f"[bench {time.perf_counter() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def fmt_s(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def fmt_n(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def rotate(items: list[Any], r: int) -> list[Any]:
    k = r % len(items)
    return items[k:] + items[:k]


def per_round(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], key: str = "seconds") -> float:
    """Median of the per-round ratios ours ÷ theirs of ``key``: rounds ran side by side, so their load matches."""
    return median([a[key] / b[key] for a, b in zip(ours, theirs, strict=True)])


def status(ok: bool) -> str:
    return "**met**" if ok else "**MISSED**"


class Bench:
    def __init__(self, work: Path, reps: int, budget: float) -> None:
        self.work = work
        self.reps = reps
        self.deadline = T0 + budget
        self.fresh_pycache = not PYCACHE.exists()
        self.rows: list[tuple[str, str, str, str, str]] = []  # figure, measured, comparison, target, status
        self.notes: list[str] = []
        self._e2e: tuple[Path, Path, str] | None = None
        self._warehouses: dict[int, Path] = {}
        self.seed_seconds: dict[int, float] = {}

    def env(self, name: str, **extra: str) -> dict[str, str]:
        return airflow_env(self.work / "homes" / name, extra=extra or None)

    def script(self, name: str, *args: Any, env: dict[str, str], timeout: float = 900) -> dict[str, Any]:
        return run_json([str(BENCH_DIR / name), *map(str, args)], env, timeout=timeout)

    # -- 1. DAG parse ---------------------------------------------------------------------------------

    def fig1_parse(self) -> None:
        trivial = self.work / "trivial_dags"
        trivial.mkdir(exist_ok=True)
        (trivial / "trivial_dag.py").write_text(TRIVIAL_DAG)
        same_shape = self.work / "same_shape_dags"
        same_shape.mkdir(exist_ok=True)
        (same_shape / "same_shape_dags.py").write_text(SAME_SHAPE_DAGS)
        folders = {"dags": DAGS, "trivial": trivial, "same shape": same_shape}
        env = self.env("parse")
        for folder in folders.values():  # warm-up: byte-code cache, disk cache
            self.script("bench_parse.py", folder, env=env)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in folders}
        rounds = max(self.reps, 7)  # a parse takes ~2 s: more rounds are cheap and steady the medians
        for r in range(rounds):
            for name in rotate(list(folders), r):
                result = self.script("bench_parse.py", folders[name], env=env)
                runs[name].append(result)
                wall, call = result["process_wall_s"], result["seconds"]
                log(f"parse {name}: process {wall:.3f} s, DagBag() {call * 1000:.1f} ms")
        ours, floor, shape = runs["dags"], runs["trivial"], runs["same shape"]

        def ratio_of(key: str, base: list[dict[str, Any]]) -> float:
            return median([a[key] / b[key] for a, b in zip(ours, base, strict=True)])

        errors = {k for run in ours for k in run["import_errors"]}
        heavy = sorted({m for run in ours for m in run["heavy_after"]})
        process_ratio, call_ratio = ratio_of("process_wall_s", floor), ratio_of("seconds", floor)
        self.rows.append(
            (
                "1. DAG parse: fresh process loading `dags/` vs loading a one-task DAG file",
                f"{fmt_s(median([x['process_wall_s'] for x in ours]))} vs "
                f"{fmt_s(median([x['process_wall_s'] for x in floor]))} (interpreter start, `import airflow`, "
                f"DagBag; {len(ours[0]['dag_ids'])} DAGs"
                + (f", import errors: {sorted(errors)}" if errors else "")
                + ")",
                f"ratio {process_ratio:.2f}×",
                "≤ 1.3×",
                status(process_ratio <= 1.3 and not errors),
            )
        )
        self.rows.append(
            (
                "1. DAG parse: the `DagBag(folder)` call alone, same processes",
                f"{fmt_s(median([x['seconds'] for x in ours]))} vs {fmt_s(median([x['seconds'] for x in floor]))}"
                f" ({ours[0]['new_modules']} modules imported vs {floor[0]['new_modules']})",
                f"ratio {call_ratio:.1f}× ({len(ours[0]['dag_ids'])} DAGs, {ours[0]['tasks']} tasks vs "
                f"{len(floor[0]['dag_ids'])} DAG, {floor[0]['tasks']} task)",
                "— (reported)",
                "—",
            )
        )
        self.rows.append(
            (
                "1. DAG parse: the `DagBag(folder)` call, `dags/` vs the same shape written by hand",
                f"{fmt_s(median([x['seconds'] for x in ours]))} vs {fmt_s(median([x['seconds'] for x in shape]))}"
                f" (hand-written: {len(shape[0]['dag_ids'])} DAGs, {shape[0]['tasks']} tasks, no project code)",
                f"ratio {ratio_of('seconds', shape):.1f}× (what the factory, the definition check and the "
                "`integra` imports add)",
                "— (reported)",
                "—",
            )
        )
        bad = [m for m in heavy if m != "numpy"]
        self.rows.append(
            (
                "1. Heavy modules loaded after parsing dags/",
                ", ".join(heavy) or "none",
                f"checked: {', '.join(('pandas', 'pyarrow', 'phonenumbers', 'numpy'))}",
                "none of pandas, pyarrow, phonenumbers",
                status(not bad),
            )
        )
        self.parse_modules = sorted(ours[0]["new_top_level"])

    # -- 2/3. Transform --------------------------------------------------------------------------------

    def fig2_transform(self) -> None:
        data = self.work / "transform"
        data.mkdir(exist_ok=True)
        gen_env = self.env("data")
        CACHE.mkdir(parents=True, exist_ok=True)
        sources = [INCLUDE / "demo" / "leads.py", BENCH_DIR / "bench_data.py"]
        inputs = {}
        for n in (2_000, *SIZES):
            # The query's columns hold no date, so the file depends only on n and the generator.
            inputs[n] = CACHE / f"leads-{n}-{cache_key('parquet', n, files=sources)}.parquet"
            if inputs[n].exists():
                log(f"{n} leads: cached {inputs[n]}")
                continue
            log(f"generating {n} leads → {inputs[n]}")
            partial = inputs[n].with_suffix(".partial")
            self.script("bench_data.py", "parquet", partial, n, env=gen_env)
            partial.rename(inputs[n])
        # build_recipients reads the ledger (this day's batches, suppression, cooldown) and, in a dry run,
        # writes nothing to it: one empty, upgraded ledger serves every transform run.
        ledger = data / "ledger.db"
        self.script("bench_data.py", "ledger", ledger, env=gen_env)
        extract_code = [SRC / "integra" / "pipeline" / "extract.py", SRC / "integra" / "sql.py"]
        checked = CACHE / f"check-{cache_key('check', files=[*sources, *extract_code])}.ok"
        if not checked.exists():
            check = self.script("bench_data.py", "check", data / "check", env=gen_env)
            log(f"input format check against the real extract_leads: {check}")
            checked.write_text("ok\n")
        env = self.env(
            "transform",
            AIRFLOW_CONN_INTEGRA_LEDGER=sqlite_conn(ledger),
            INTEGRA_DATA_PATH=f"file://{data / 'unused'}",
        )

        def one(mode: str, n: int, tag: str, timeout: float = 1200) -> dict[str, Any]:
            out = data / f"out-{mode}-{n}-{tag}"
            try:
                result = self.script("bench_transform.py", mode, inputs[n], out, env=env, timeout=timeout)
            finally:
                shutil.rmtree(out, ignore_errors=True)
            log(
                f"transform {mode} {fmt_n(n)}: {result['seconds']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MiB "
                f"(base {result['base_rss_mb']:.0f}), {result['batched']} batched"
            )
            return result

        for mode in ("floor", "ours", "naive"):
            one(mode, 2_000, "warmup")
        small, big = SIZES
        plan_small = [("ours", small), ("naive", small), ("floor", small)]
        plan_big = [("ours", big), ("floor", big)]
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {key: [] for key in plan_small + plan_big}
        # A 100k round takes seconds and a busy neighbour can slow one run by a third: take at least 7.
        for r in range(max(self.reps, 7)):
            for mode, n in rotate(plan_small, r):
                runs[(mode, n)].append(one(mode, n, str(r)))
        # The 1M rounds take minutes each: as many as the time budget allows (at least one).
        last_round = 0.0
        for r in range(self.reps):
            left = self.deadline - time.perf_counter()
            if r and left < last_round * 1.15:
                log(
                    f"{fmt_n(big)}: stopping after {r} round(s): {left:.0f} s of the budget left, "
                    f"a round takes ~{last_round:.0f} s"
                )
                break
            started = time.perf_counter()
            for mode, n in rotate(plan_big, r):
                runs[(mode, n)].append(one(mode, n, str(r)))
            last_round = time.perf_counter() - started
        self.big_runs = len(runs[("ours", big)])

        naive_small = runs[("naive", small)]
        predicted = median([x["seconds"] for x in naive_small]) * big / small
        naive_big: list[dict[str, Any]] | None = None
        if predicted < NAIVE_1M_LIMIT_S * 1.2 and self.deadline - time.perf_counter() > predicted * 1.2:
            log(f"naive {fmt_n(big)} predicted {predicted:.0f} s: measuring it once (limit {NAIVE_1M_LIMIT_S:.0f} s)")
            try:
                naive_big = [one("naive", big, "once", timeout=NAIVE_1M_LIMIT_S + 60)]
            except Exception as exc:
                log(f"naive {fmt_n(big)} not measured ({type(exc).__name__}); extrapolating")
        else:
            log(
                f"naive {fmt_n(big)} predicted {predicted:.0f} s > {NAIVE_1M_LIMIT_S:.0f} s: "
                f"extrapolating from {fmt_n(small)}"
            )

        peaks: dict[int, float] = {}
        for n in SIZES:
            ours, floor = runs[("ours", n)], runs[("floor", n)]
            secs = median([x["seconds"] for x in ours])
            rows = ours[0]["rows"]
            peaks[n] = median([x["peak_rss_mb"] for x in ours])
            base = median([x["base_rss_mb"] for x in ours])
            floor_ratio = per_round(ours, floor)
            if n == small or naive_big is not None:
                naive = naive_small if n == small else naive_big
                assert naive is not None
                naive_secs = median([x["seconds"] for x in naive])
                if len(naive) == len(ours):
                    speedup = median([b["seconds"] / a["seconds"] for a, b in zip(ours, naive, strict=True)])
                else:
                    speedup = naive_secs / secs
                how = "measured" if len(naive) > 1 else "measured once: 1 run, not a median"
                same = naive[0]["batched"], ours[0]["batched"]
            else:  # per round: that round's naive 100k time × 10, against that round's ours 1M
                extrapolated = [x["seconds"] * n / small for x in naive_small]
                naive_secs = median(extrapolated)
                speedup = median([b / a["seconds"] for a, b in zip(ours, extrapolated, strict=True)])
                how = f"**EXTRAPOLATED** from {fmt_n(small)} (×{n // small}; predicted {predicted:.0f} s > 3 min)"
                same = None
            runs_note = "" if len(ours) >= 3 else f" — **{len(ours)} run(s) only** (time budget)"
            self.rows.append(
                (
                    f"2. Transform {fmt_n(n)} leads: `build_recipients` (dry_run){runs_note}",
                    f"{fmt_s(secs)}, {rows / secs:,.0f} rows/s, peak RSS {peaks[n]:.0f} MiB "
                    f"(after imports {base:.0f} MiB); {ours[0]['batched']:,} batched in {ours[0]['batches']} batches",
                    f"naive {fmt_s(naive_secs)} ({how}) → ours **{speedup:.1f}×** faster"
                    + (
                        ""
                        if same is None
                        else ", same batched count"
                        if same[0] == same[1]
                        else f", batched: naive {same[0]:,} vs ours {same[1]:,} (naive checks no number type)"
                    )
                    + f"; floor {fmt_s(median([x['seconds'] for x in floor]))} → ours/floor {floor_ratio:.1f}×",
                    "≥ 10× vs naive at 1M (issue 14)" if n == big else "≥ 5× vs naive",
                    status(speedup >= (10 if n == big else 5)),
                )
            )
        growth = peaks[big] / peaks[small]
        self.rows.append(
            (
                f"3. Memory growth: peak RSS {fmt_n(big)} ÷ {fmt_n(small)}",
                f"{peaks[big]:.0f} MiB ÷ {peaks[small]:.0f} MiB",
                f"ratio {growth:.2f} (rows ×{big // small})",
                "≤ 2",
                status(growth <= 2),
            )
        )

    # -- 4. Request build -----------------------------------------------------------------------------

    def fig4_request(self) -> None:
        env = self.env("request")
        self.script("bench_request.py", 100, env=env)  # warm-up
        runs = []
        for _ in range(self.reps):
            result = self.script("bench_request.py", 10_000, env=env)
            runs.append(result)
            log(f"request: first {result['first_ms']:.0f} ms, repeat {result['repeat_ms']:.0f} ms")
        parts = {k: median([r["first_parts_ms"][k] for r in runs]) for k in runs[0]["first_parts_ms"]}
        self.rows.append(
            (
                "4. Request build: 10,000 recipients, `build_request` + `model_dump_json` (the POSTed body)",
                f"{median([r['first_ms'] for r in runs]):.0f} ms first call in a process "
                f"(validate {parts['build_request']:.0f} + JSON {parts['model_dump_json']:.0f}); "
                f"{median([r['repeat_ms'] for r in runs]):.0f} ms repeated",
                f"body {runs[0]['body_bytes'] / 1e6:.1f} MB",
                "— (reported)",
                "—",
            )
        )

    # -- 5/6. End to end ------------------------------------------------------------------------------

    def e2e_inputs(self) -> tuple[Path, Path, str]:
        """What every end-to-end run shares (figures 5/6 and 9), made once: the migrated metadata DB
        (cached in CACHE), the upgraded empty ledger, the logical date."""
        if self._e2e is None:
            import importlib.metadata

            from bench_data import run_at

            folder = self.work / "e2e"
            folder.mkdir(exist_ok=True)
            CACHE.mkdir(parents=True, exist_ok=True)
            db = CACHE / f"airflow-{cache_key('db', importlib.metadata.version('apache-airflow'), sys.version)}.db"
            if db.exists():
                log(f"migrated metadata DB: cached {db}")
            else:
                log("airflow db migrate (template metadata DB)")
                shutil.copyfile(migrate_template(folder), db)
            ledger = ledger_template(folder)  # upgraded once; each run gets a fresh copy
            self._e2e = (db, ledger, run_at().isoformat())
        return self._e2e

    def warehouse(self, n: int) -> Path:
        """The SQLite warehouse seeded with n leads (untimed), made once per scratch directory."""
        if n not in self._warehouses:
            self.e2e_inputs()
            started = time.perf_counter()
            self._warehouses[n] = seed_template(self.work / "e2e", n)
            self.seed_seconds[n] = time.perf_counter() - started
            log(f"warehouse {fmt_n(n)} seeded in {self.seed_seconds[n]:.0f} s")
        return self._warehouses[n]

    def e2e(self, kind: str, n: int, tag: str, map_indexes: int = 0) -> dict[str, Any]:
        """One `airflow dags test` (bench_e2e.run_once) of ``kind`` on n leads, in its own folder."""
        db, ledger, logical_date = self.e2e_inputs()
        workdir = self.work / "e2e" / f"run-{kind}-{n}-{tag}"
        result = run_once(
            workdir,
            kind=kind,
            n=n,
            airflow_db=db,
            warehouse_template=self.warehouse(n),
            ledger_template=ledger,
            logical_date=logical_date,
            map_indexes=map_indexes,
        )
        extra = ""
        if kind == "real":
            extra = f", posts {result['campaign_posts']} (expected {result['expected_posts']}), sent {result['sent']}"
        elif kind == "hand":
            extra = f", posts {result['campaign_posts']}, sent {result['sent']}"
        log(f"e2e {kind} {fmt_n(n)}: {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MiB{extra}")
        shutil.rmtree(workdir / "data", ignore_errors=True)
        (workdir / "warehouse.db").unlink(missing_ok=True)  # a copy of the template
        return result

    def fig56_e2e(self) -> None:
        for n in E2E_SIZES:
            self.warehouse(n)
        if self.fresh_pycache:  # the first ever run compiles the execution API and friends
            self.e2e("empty", E2E_SIZES[0], "warmup", map_indexes=1)
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {(k, n): [] for n in E2E_SIZES for k in ("real", "empty")}
        maps: dict[int, int] = {}
        for r in range(self.reps):
            for n in E2E_SIZES:
                kinds = ["real", "empty"] if r % 2 == 0 or n not in maps else ["empty", "real"]
                for kind in kinds:
                    result = self.e2e(kind, n, str(r), maps.get(n, 0))
                    runs[(kind, n)].append(result)
                    if kind == "real":
                        maps[n] = result["create_tasks"]

        real_runs = [x for n in E2E_SIZES for x in runs[("real", n)]]
        exact = all(x["campaign_posts"] == x["expected_posts"] for x in real_runs)
        detail = "; ".join(
            f"{fmt_n(n)}: posts "
            + "/".join(str(x["campaign_posts"]) for x in runs[("real", n)])
            + f" vs {runs[('real', n)][0]['expected_posts']} batches (zone groups; at the fewest ceil("
            f"{runs[('real', n)][0]['sent']:,} ÷ 10,000) = {runs[('real', n)][0]['fewest_batches']})"
            for n in E2E_SIZES
        )
        self.rows.append(
            (
                "5. Requests: sandbox `campaign_posts` vs the run's batches (one POST each)",
                detail,
                f"{sum(x['campaign_posts'] == x['expected_posts'] for x in real_runs)}/{len(real_runs)} runs exact",
                "exact",
                status(exact),
            )
        )
        for n in E2E_SIZES:
            real, empty = runs[("real", n)], runs[("empty", n)]
            ratio = per_round(real, empty)
            self.rows.append(
                (
                    f"6. End to end {fmt_n(n)} leads: `airflow dags test` (real vs empty, same shape)",
                    f"real {fmt_s(median([x['seconds'] for x in real]))} vs empty "
                    f"{fmt_s(median([x['seconds'] for x in empty]))} ({maps[n]} mapped create_campaign)",
                    f"ratio {ratio:.2f}×",
                    "— (reported)",
                    "—",
                )
            )

    # -- 9. End to end vs a DAG written by hand -----------------------------------------------------------

    def fig9_hand(self) -> None:
        """`airflow dags test` of the project's DAG vs hand_written_dag.py: same leads, sandbox, logical date.

        Sizes below HAND_ONE_ROUND get ``reps`` rounds; from it on one round, only when the budget allows.
        """
        sizes = HAND_SIZES
        if os.environ.get("BENCH_HAND_SIZES"):  # a trial at other sizes; the default is the issue's
            sizes = tuple(int(x) for x in os.environ["BENCH_HAND_SIZES"].split(",") if x.strip())
        if self.fresh_pycache:  # byte code of the Task SDK, integra, phonenumbers, pydantic, requests
            for kind in ("real", "hand"):
                self.e2e(kind, min(E2E_SIZES[0], *sizes), "warmup")
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        skipped: dict[int, str] = {}
        for n in sizes:
            rounds = self.reps if n < HAND_ONE_ROUND else 1
            if n >= HAND_ONE_ROUND:
                # Linear in n from the largest measured size, whole processes included (an upper bound:
                # interpreter start and `import airflow` do not grow), plus seeding its warehouse.
                done = [m for m in runs if m[0] == "real"]
                if done:
                    base = max(m for _, m in done)
                    one_round = sum(median([x["seconds"] for x in runs[(k, base)]]) for k in ("real", "hand"))
                    seed = 0.0 if n in self._warehouses else self.seed_seconds.get(base, 0.0) * n / base
                    predicted = (one_round * n / base + seed) * 1.15
                    left = self.deadline - time.perf_counter()
                    if predicted > left:
                        skipped[n] = f"predicted ~{predicted:.0f} s, {max(left, 0):.0f} s of the budget left"
                        log(f"hand-written {fmt_n(n)}: not measured (time budget: {skipped[n]})")
                        continue
            self.warehouse(n)
            runs[("real", n)], runs[("hand", n)] = [], []
            for r in range(rounds):
                for kind in ["real", "hand"] if r % 2 == 0 else ["hand", "real"]:
                    runs[(kind, n)].append(self.e2e(kind, n, str(r)))

        for n in sizes:
            threshold, target = HAND_TARGETS.get(n, (None, "— (the issue's targets are for 100k and 1M)"))
            label = (
                f"9. End to end {fmt_n(n)} leads: `airflow dags test`, the project's DAG vs a one-task DAG "
                "written by hand"
            )
            rss_threshold, rss_target = RSS_TARGETS.get(n, (None, "— (reported)"))
            rss_label = f"9. Peak RSS {fmt_n(n)} leads: the `airflow dags test` process, project vs hand-written"
            if n in skipped:
                self.rows.append((label, f"not measured: time budget ({skipped[n]})", "—", target, "not measured"))
                self.rows.append((rss_label, "not measured: time budget", "—", rss_target, "not measured"))
                continue
            real, hand = runs[("real", n)], runs[("hand", n)]
            once = len(real) == 1

            over = " (1 round)" if once else f" (median of {len(real)} per-round ratios)"
            ratio, rss = per_round(real, hand), per_round(real, hand, "peak_rss_mb")
            self.rows.append(
                (
                    label + (" — **1 round only** (not a median)" if once else ""),
                    f"project {fmt_s(median([x['seconds'] for x in real]))} vs hand-written "
                    f"{fmt_s(median([x['seconds'] for x in hand]))} (sent {real[0]['sent']:,} vs {hand[0]['sent']:,}; "
                    f"posts {real[0]['campaign_posts']} vs {hand[0]['campaign_posts']})",
                    f"ratio project ÷ hand-written {ratio:.2f}×{over}",
                    target,
                    "—" if threshold is None else status(ratio <= threshold),
                )
            )
            self.rows.append(
                (
                    rss_label + (" — **1 round only**" if once else ""),
                    f"project {median([x['peak_rss_mb'] for x in real]):.0f} MiB vs hand-written "
                    f"{median([x['peak_rss_mb'] for x in hand]):.0f} MiB (ru_maxrss of the process, from wait4)",
                    f"ratio project ÷ hand-written {rss:.2f}×{over}",
                    rss_target,
                    "—" if rss_threshold is None else status(rss <= rss_threshold),
                )
            )

    # -- 10. Fixed cost -------------------------------------------------------------------------------------

    def fig10_fixed(self) -> None:
        """A 1-lead day of the project's DAG vs a one-task DAG that does nothing: what the DAG adds to any run."""
        self.warehouse(1)
        runs: dict[str, list[dict[str, Any]]] = {"real": [], "trivial": []}
        for r in range(self.reps):
            for kind in ["real", "trivial"] if r % 2 == 0 else ["trivial", "real"]:
                runs[kind].append(self.e2e(kind, 1, f"fixed{r}"))
        real, trivial = runs["real"], runs["trivial"]
        ratio = per_round(real, trivial)
        self.rows.append(
            (
                "10. Fixed cost: `airflow dags test` of a 1-lead day vs a one-task DAG that does nothing",
                f"project {fmt_s(median([x['seconds'] for x in real]))} (sent {real[0]['sent']}, "
                f"{real[0]['create_tasks']} create_campaign) vs trivial "
                f"{fmt_s(median([x['seconds'] for x in trivial]))}",
                f"ratio {ratio:.2f}× (median of {len(real)} per-round ratios)",
                "≤ 1.5× (issue 14)",
                status(ratio <= 1.5),
            )
        )

    # -- 7. Ledger claim --------------------------------------------------------------------------------

    def fig8_ui(self) -> None:
        """The campaigns page on a ledger with a year of daily runs and 1M members (SQLite and PostgreSQL)."""
        from bench_ledger import LABELS, create_database, drop_database

        env = self.env("ui")
        targets = {"sqlite": str(self.work / "ui-ledger.db")}
        created: list[str] = []
        try:
            try:
                targets["postgres"] = create_database("postgres")
                created.append("postgres")
            except Exception as exc:  # the server is down: reported, not fatal
                log(f"ui PostgreSQL: not measured ({type(exc).__name__})")
            results: dict[str, dict[str, Any]] = {}
            for kind, target in targets.items():
                first = self.script("bench_ui.py", kind, target, env=env, timeout=1800)  # fills, then views
                again = self.script("bench_ui.py", kind, target, env=env)  # a fresh process on the filled ledger
                results[kind] = again
                view_ms = again["view_median_s"] * 1000
                log(f"ui {LABELS[kind]}: filled in {first['fill_s']:.0f} s; view median {view_ms:.1f} ms")
        finally:
            for kind in created:
                drop_database(kind, targets[kind])
        measured = ", ".join(
            f"{LABELS[k]} {fmt_s(r['view_median_s'])} (first view of the process {fmt_s(r['view_max_s'])})"
            for k, r in results.items()
        )
        worst = max(r["view_median_s"] for r in results.values())
        self.rows.append(
            (
                "8. Campaigns page: one view (its ledger queries with a lead looked up + the HTML), ledger with "
                "365 recorded days, 1,095 batches, 1M members, 36,500 rejected leads, 300,000 call outcomes",
                measured,
                "in process on the API server's code path (HTTP and the auth check add a few ms)",
                f"≤ {UI_TARGET_S * 1000:.0f} ms (issue 17: well under a second)",
                status(worst <= UI_TARGET_S),
            )
        )

    def fig7_ledger(self) -> None:
        from bench_ledger import LABELS, create_database, drop_database

        folder = self.work / "ledger"
        folder.mkdir(exist_ok=True)
        env = self.env("ledger")
        template = folder / "ledger-template.db"
        self.script("bench_ledger.py", "upgrade", "sqlite", template, env=env)
        targets: dict[str, str] = {"sqlite": str(template)}
        missing: dict[str, str] = {}
        created: list[str] = []
        modes = ("ours", "floor", "batch")
        sandbox, url = start_sandbox(folder)  # the whole path of one batch POSTs to it
        batch_env = {**env, "AIRFLOW_CONN_INTEGRA_DEFAULT": sandbox_connection(url, TOKEN)}
        try:
            for kind in LEDGER_KINDS[1:]:
                try:
                    targets[kind] = create_database(kind)
                except Exception as exc:  # the server is down or refuses us: reported, not fatal
                    missing[kind] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
                    log(f"ledger {LABELS[kind]}: not measured ({missing[kind]})")
                    continue
                created.append(kind)
                self.script("bench_ledger.py", "upgrade", kind, targets[kind], env=env)
                log(f"ledger {LABELS[kind]}: scratch database {targets[kind]}, upgraded")
            kinds = [kind for kind in LEDGER_KINDS if kind in targets]

            def one(kind: str, mode: str, tag: str) -> dict[str, Any]:
                target = targets[kind]
                copy = folder / f"ledger-{mode}-{tag}.db"
                if kind == "sqlite":  # a fresh copy of the upgraded ledger file per run
                    shutil.copyfile(template, copy)
                    target = str(copy)
                try:
                    if mode == "batch":
                        # Untimed: a sandbox that keeps every earlier run's request bodies answers ever slower.
                        reset = urllib.request.Request(f"{url}/_sandbox/reset", data=b"", method="POST")
                        urllib.request.urlopen(reset, timeout=10).close()
                        work = folder / f"batch-{tag}"
                        result = self.script(
                            "bench_batch.py", kind, target, work, "--members", LEDGER_MEMBERS, env=batch_env
                        )
                        shutil.rmtree(work, ignore_errors=True)
                    else:
                        result = self.script(
                            "bench_ledger.py", "run", kind, target, mode, "--members", LEDGER_MEMBERS, env=env
                        )
                finally:
                    copy.unlink(missing_ok=True)
                if mode == "batch":
                    later, first = result["later"], result["first"]
                    detail = (
                        f"send {later['seconds'] * 1000:.0f} ms (plan {later['plan_s'] * 1000:.0f} + claim "
                        f"{later['claim_s'] * 1000:.0f} + POST and confirm {later['post_s'] * 1000:.0f}); "
                        f"first of the process {first['seconds'] * 1000:.0f} ms"
                    )
                elif mode == "ours":
                    detail = f"claim {result['claim_s'] * 1000:.0f} ms + confirm {result['confirm_s'] * 1000:.0f} ms"
                else:
                    detail = f"executemany + commit {result['seconds'] * 1000:.0f} ms ({result['driver']})"
                log(f"ledger {LABELS[kind]} {mode}: {detail}")
                return result

            for kind in kinds:  # warm-up: byte-code cache, the servers' caches
                for mode in modes:
                    one(kind, mode, "warmup")
            runs: dict[tuple[str, str], list[dict[str, Any]]] = {(k, m): [] for k in kinds for m in modes}
            for r in range(max(self.reps, 5)):  # each run takes ~5 s and times ~0.1-1 s: cheap rounds, noisy values
                for kind in rotate(kinds, r):
                    for mode in rotate(list(modes), r):
                        runs[(kind, mode)].append(one(kind, mode, str(r)))
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)
            for kind in created:
                try:
                    drop_database(kind, targets[kind])
                except Exception as exc:
                    log(f"ledger {LABELS[kind]}: could not drop {targets[kind]}: {exc}")

        def each(value: Callable[[str], str], sep: str = ", ") -> str:
            return sep.join(f"{LABELS[kind]} {value(kind)}" for kind in kinds)

        def secs(kind: str, key: str, mode: str = "ours") -> float:
            return median([x[key] for x in runs[(kind, mode)]])

        def ratio(kind: str, key: str) -> float:
            pairs = zip(runs[(kind, "ours")], runs[(kind, "floor")], strict=True)
            return median([a[key] / b["seconds"] for a, b in pairs])

        not_measured = "".join(f"; {LABELS[k]}: not measured ({why})" for k, why in missing.items())
        floor = each(lambda k: fmt_s(secs(k, "seconds", "floor")))
        n = f"{LEDGER_MEMBERS:,}"
        self.rows.append(
            (
                f"7. Ledger: claim of one {n}-member batch (`idempotency.claim`: batch row + {n} member rows, "
                "one transaction)",
                each(lambda k: fmt_s(secs(k, "claim_s"))) + not_measured,
                f"floor (plain DB-API `executemany` INSERT of the same {n} rows + commit, the ledger's driver, "
                f"same database, table of the same shape): {floor} → claim/floor "
                + each(lambda k: f"{ratio(k, 'claim_s'):.1f}×"),
                "— (reported)",
                "—",
            )
        )
        self.rows.append(
            (
                "7. Ledger: confirm of that batch (`idempotency.confirm`: the batch becomes created)",
                each(lambda k: fmt_s(secs(k, "confirm_s"))) + not_measured,
                "confirm/floor " + each(lambda k: f"{ratio(k, 'confirm_s'):.2f}×"),
                "— (reported)",
                "—",
            )
        )
        self.rows.append(
            (
                f"7. Ledger: claim + confirm of a {n}-member batch (what create_campaign adds around its POST)",
                each(lambda k: fmt_s(secs(k, "seconds"))) + not_measured,
                "(claim + confirm)/floor " + each(lambda k: f"{ratio(k, 'seconds'):.1f}×"),
                f"≤ {CLAIM_TARGET_S * 1000:.0f} ms (issue 14)",
                each(lambda k: status(secs(k, "seconds") <= CLAIM_TARGET_S))
                + "".join(f", {LABELS[k]} not measured" for k in missing),
            )
        )

        def step(kind: str, which: str, key: str) -> float:
            return median([x[which][key] for x in runs[(kind, "batch")]])

        self.rows.append(
            (
                f"7. One {n}-person batch through `IntegraOperator.send`, each batch of a task instance but its "
                "first: plan (read its file, ask the ledger, schedule it, build and validate the request) + claim "
                "+ POST to the sandbox and confirm",
                each(
                    lambda k: (
                        f"{fmt_s(step(k, 'later', 'seconds'))} (plan {fmt_s(step(k, 'later', 'plan_s'))} + claim "
                        f"{fmt_s(step(k, 'later', 'claim_s'))} + POST and confirm {fmt_s(step(k, 'later', 'post_s'))})"
                    )
                )
                + not_measured,
                "a task instance's first batch (the HTTP hook and the request validator are built then): "
                + each(lambda k: fmt_s(step(k, "first", "seconds"))),
                f"≤ {BATCH_TARGET_S * 1000:.0f} ms (issue 14: claim + request build + POST + confirm; here also "
                "reading the file and scheduling)",
                each(lambda k: status(step(k, "later", "seconds") <= BATCH_TARGET_S))
                + "".join(f", {LABELS[k]} not measured" for k in missing),
            )
        )

    # -- output ----------------------------------------------------------------------------------------

    def table(self) -> str:
        lines = [
            "| Figure | Measured (median of runs) | Side-by-side comparison | Target | Status |",
            "|---|---|---|---|---|",
        ]
        rows = sorted(self.rows, key=lambda row: int(row[0].split(".")[0]))  # stable: figure order
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        return "\n".join(lines)


def code_state() -> tuple[str, str]:
    """(label, fingerprint) of the measured code: src/, dags/, include/ (read-only git).

    The fingerprint is of those folders' files as they are on disk (tracked and untracked, ignored
    ones left out), so committing measured code unchanged does not count as a change, a commit
    elsewhere neither, and an edit does, committed or not.
    """
    import hashlib
    import subprocess

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
        except OSError:
            return ""
        return out.stdout.strip()

    folders = ("src", "dags", "include")
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", *folders)
    digest = hashlib.sha256()
    for name in sorted(git("ls-files", "-co", "--exclude-standard", "--", *folders).splitlines()):
        try:
            content = hashlib.sha256((ROOT / name).read_bytes()).digest()
        except OSError:  # listed, then deleted
            content = b"-"
        digest.update(name.encode() + b"\0" + content)
    fingerprint = digest.hexdigest()[:8]
    label = f"commit {head}" + (f" + uncommitted changes in {len(dirty.splitlines())} file(s)" if dirty else "")
    return f"{label}, measured code {fingerprint}", fingerprint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", "3")))
    parser.add_argument(
        "--only",
        # 9 after 2: figure 9's 1M check parses the sandbox's campaigns in this process, and a child forked from
        # a big parent starts with its ru_maxrss (figure 2's peak RSS would show ours, not the transform's).
        default="1,4,5,10,7,8,2,9",
        help="figures to run, in order: 1, 2 (also 3), 4, 5 (also 6), 7, 8, 9, 10",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=float(os.environ.get("BENCH_BUDGET_S", "1140")),
        help="seconds; the 1M transform rounds (run last) stop when the next would not fit",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    if args.reps < 3:
        log(f"warning: --reps {args.reps} < 3; figures are not the median of 3 runs")

    # SIGTERM unwinds like an error, so the finally blocks stop the sandbox and the Airflow child
    # (subprocess.run kills its child on any exception) and remove the scratch directory.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from bench_data import RUN_AT_ENV, run_at

    # Fixed once for every child process: a run crossing midnight in São Paulo would otherwise seed its
    # 1M warehouse for the next day while the runs are for this one (and send nobody).
    os.environ.setdefault(RUN_AT_ENV, run_at().isoformat())
    work = Path(tempfile.mkdtemp(prefix="integra-bench-"))
    bench = Bench(work, args.reps, args.budget)
    started = datetime.now(UTC)
    state_start = code_state()
    load_start = os.getloadavg()
    steps: dict[str, Callable[[], None]] = {
        "1": bench.fig1_parse,
        "2": bench.fig2_transform,
        "4": bench.fig4_request,
        "5": bench.fig56_e2e,
        "7": bench.fig7_ledger,
        "8": bench.fig8_ui,
        "9": bench.fig9_hand,
        "10": bench.fig10_fixed,
    }
    log(f"scratch {work}; byte-code cache {PYCACHE}; {args.reps} runs per figure")
    try:
        for key in args.only.replace("3", "2").replace("6", "5").split(","):
            if key.strip():
                log(f"figure {key}")
                steps[key.strip()]()
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    elapsed = time.perf_counter() - T0
    state_end = code_state()
    table = bench.table()
    notes = [
        f"Run {started:%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}), {elapsed / 60:.1f} min; load average at start "
        f"{load_start[0]:.1f}, at end {os.getloadavg()[0]:.1f} (shared machine: read the ratios). "
        f"Code: {state_start[0]}"
        + ("" if state_end[1] == state_start[1] else f"; at the end: {state_end[0]} (it CHANGED during the run)")
        + ".",
        f"Every figure: median of {args.reps} runs ({max(args.reps, 7)} for the DAG parse and the 100k transform, "
        f"{max(args.reps, 5)} for the ledger claims), "
        "each in a fresh subprocess; comparisons are medians of "
        "per-round ratios, variants run side by side in rotating order after untimed warm-ups.",
        "Leads: include/demo/leads.py generate_leads (seed 42, default bad_ratio 0.04, ~1% foreign numbers). "
        "Transform input: Parquet in extract_leads' format (all-string columns), "
        "checked equal to a real extract_leads output; ledger: an empty SQLite contact ledger made by "
        "`integra.ledger.upgrade` (connection integra_ledger).",
        "Transform: only the call is timed (imports of pandas, pyarrow, alembic, the Task SDK and integra, and "
        "the definition load, are done before it; the ledger engine and its readiness check are in it, as in "
        "a fresh task process); context params.dry_run=True, "
        "so rejections are NOT written to the ledger (suppression/cooldown reads and batch files still happen). "
        "Peak RSS = raw ru_maxrss of the subprocess; 'after imports' = ru_maxrss before the call. "
        "Naive = per row phonenumbers.parse + is_valid_number + format E.164 + pydantic Recipient, "
        "same 10,000-row batch files; floor = pyarrow read + 10,000-row batch files, no validation.",
        "DAG parse: the same script in both processes imports airflow and DagBag, then calls DagBag(folder); "
        "'fresh process' = the parent's wall time of the whole process (what a parse costs from nothing), "
        "'the call alone' = DagBag(folder) timed inside it (what a reparse costs a process that has airflow "
        "imported). "
        f"Modules the dags/ parse imports (top level): {', '.join(getattr(bench, 'parse_modules', []) or ['-'])}.",
        "End to end: private AIRFLOW_HOME per run with a copy of one migrated SQLite metadata DB, a fresh "
        "copy of the seeded warehouse, a fresh copy of an empty upgraded SQLite ledger (upgraded once, "
        "untimed), its own sandbox; wall time of the whole `airflow dags test` process. "
        "'sent' is from the ledger's integra_runs row.",
        "Figure 9: the project's DAG vs tests/benchmarks/hand_written_dag.py, same process setup, warehouse copy, "
        "sandbox and logical date; one task: sqlite3 rows of the same data interval and filter as "
        "include/sql/integra_daily_campaign.sql, per row phonenumbers parse (BR) + is_valid_number + E.164 + a "
        "pydantic model, a set for duplicates (rows without a name, invalid or repeated numbers skipped), one "
        "`requests.post` per 10,000 recipients; no ledger, suppression, cooldown or calling window. Its 'sent' "
        "is the sum of the sandbox campaigns' total_recipients (every POST checked to have created one). "
        "Project and hand-written alternate order every round (project first in even rounds); 1M: one round, "
        "skipped when the time budget would be exceeded (prediction: linear in n from 100k, an upper bound).",
        "Ledger claims: one process per run (the ledger as connection integra_ledger); the ledger's engine, "
        "its readiness check and the `idempotency.get` the operator does first come before the timer, so each"
        " timed claim is the first batch of a process with a pooled connection, as a mapped create_campaign "
        "task has, and inside integra.runtime.frozen_heap as IntegraOperator.execute runs it (runs before "
        "2026-11-30 20:30 UTC timed it without, so the collector rescanned the process's heap: about 100 ms "
        "more per SQLite claim); the claim gets the contact policy create_campaign passes "
        "(include/contact_policy.yaml) when its signature takes one. Members: generated leads that "
        "build_recipients would batch (valid distinct numbers, clean names). Before each run the tables a "
        "claim writes are empty (SQLite: a fresh copy of one upgraded file; servers: TRUNCATE in a scratch "
        "database made for this figure, upgraded once and dropped at the end) and the floor table is created "
        "anew. Floor = the same rows, timestamps as stored, sent by the ledger engine's own driver module "
        "(sqlite3, psycopg 3, mysqlclient) with a plain `cursor.executemany` + `commit`, into a table with "
        "the member table's columns, types, primary key and indexes. Ratios are medians of per-round "
        "ours/floor; ours and floor alternate order every round.",
        "One batch through `IntegraOperator.send` (tests/benchmarks/bench_batch.py): a process per run with the "
        "same emptied ledger; two batch files written as build_recipients writes them (with each person's "
        "locality; the process's locality cache is emptied after), an operator of the campaign's definition "
        "and contact policy, one sandbox for the figure reset before each run; `plan`, `claim` and `post` (the "
        "POST, then confirm) timed apart for each batch; checked after: both `created` with the sandbox's "
        "campaign id and all their members. The status reads the second batch of the process.",
        f"Byte code: cached in {PYCACHE} (this venv ships no .pyc and PYTHONDONTWRITEBYTECODE is set in "
        "the shell, so otherwise every process compiles Airflow from source).",
    ]
    text = table + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    print(text)
    RESULTS.write_text("# `make bench` results\n\n" + text, encoding="utf-8")
    log(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
