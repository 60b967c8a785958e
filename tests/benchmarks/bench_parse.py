"""Time one DagBag fill of a folder in this (fresh) process.

    python bench_parse.py DAG_FOLDER [--profile FILE]

Airflow and the DagBag class are imported first, then ``DagBag(folder)`` is timed (``seconds``); the
parent times the whole process (interpreter start to exit) from outside. Prints JSON: seconds,
dag_ids, tasks, files (with a DAG or an error), import_errors, which heavy modules are loaded
afterwards and how many modules the parse imported.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HEAVY_MODULES, emit

TRIVIAL_DAG = '''\
"""A one-task DAG: the parse-time floor."""
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="trivial_one_task", schedule=None, start_date=datetime(2026, 11, 1), catchup=False):
    EmptyOperator(task_id="noop")
'''

SAME_SHAPE_DAGS = '''"""The shape of dags/ written by hand with no project code: what Airflow itself costs for it.

A daily DAG like integra_daily_campaign (cron timetable, three params, extract -> build -> mapped
create -> record with an Asset outlet) and a one-task DAG with params like the example DAG.
"""
from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, BaseOperator, CronTriggerTimetable, Param, TriggerRule


class Step(BaseOperator):
    template_fields = ("value",)

    def __init__(self, *, value=None, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def execute(self, context):
        return self.value


PARAMS = {
    "dry_run": Param(False, type="boolean"),
    "scheduled_at": Param(None, type=["null", "string"]),
    "resend_keys": Param([], type="array"),
}

with DAG(
    dag_id="same_shape_daily",
    schedule=CronTriggerTimetable("0 7 * * *", timezone="America/Sao_Paulo", interval=timedelta(days=1)),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    render_template_as_native_obj=True,
):
    extract = Step(task_id="extract_leads")
    build = Step(task_id="build_recipients", value=extract.output)
    create = Step.partial(task_id="create_campaign").expand_kwargs(build.output)
    Step(
        task_id="record_campaigns",
        value=create.output,
        trigger_rule=TriggerRule.NONE_FAILED,
        outlets=[Asset(name="same_shape_ledger", uri="integra://ledger/same_shape_daily")],
    )

with DAG(dag_id="same_shape_single", schedule=None, start_date=datetime(2026, 11, 1), params=PARAMS):
    Step(task_id="create_campaign")
'''


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()

    import airflow  # noqa: F401 - the same process setup for both folders
    from airflow.dag_processing.dagbag import DagBag

    before = set(sys.modules)
    heavy_before = [m for m in HEAVY_MODULES if m in sys.modules]
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        start = time.perf_counter()
        bag = profiler.runcall(DagBag, str(args.folder))
        seconds = time.perf_counter() - start
        profiler.dump_stats(str(args.profile))
    else:
        start = time.perf_counter()
        bag = DagBag(str(args.folder))
        seconds = time.perf_counter() - start
    new = sorted(set(sys.modules) - before)
    emit(
        {
            "seconds": seconds,
            "dag_ids": sorted(bag.dag_ids),
            "tasks": sum(len(dag.tasks) for dag in bag.dags.values()),
            "files": len({dag.fileloc for dag in bag.dags.values()} | set(bag.import_errors)),
            "import_errors": {str(k): str(v)[:300] for k, v in bag.import_errors.items()},
            "heavy_after": [m for m in HEAVY_MODULES if m in sys.modules],
            "heavy_before": heavy_before,
            "new_modules": len(new),
            "new_top_level": sorted({m.split(".")[0] for m in new}),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
