"""
### Integra call outcomes

What Integra reported back about the calls (webhooks received by the API server at
`/integra/webhooks`, stored in the contact ledger), copied to the warehouse.

**Tasks**: `process_events` processes deliveries the receiver stored but could not process (a crash,
a payload this code did not understand then) and links outcomes that arrived before their campaign id
was recorded → `export_outcomes` writes new outcomes and campaign progress to each campaign's
`outcomes_conn_id` (its warehouse by default; tables `integra_outcomes`, `integra_campaign_progress`)
and emits one event per Integra campaign on the Asset `integra://outcomes/<campaign dag_id>`, with
`answered`, `not_answered` and `opted_out` counts in its extra → `apply_retention` pseudonymises the
ledger's personal data older than the contact policy's `retention_days` (full numbers become keyed
hashes, names and raw payloads are cleared), after they are exported.

**Safe to rerun**: rows are written by key and marked exported only afterwards. Opt-outs do not wait
for this DAG: the receiver puts them on the suppression list as they arrive.

**Schedule**: `INTEGRA_OUTCOMES_SCHEDULE` (any Airflow schedule string; default `@hourly`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime

from airflow.sdk import DAG, AssetAlias

from integra.definitions import CampaignDefinition, definition_files, load_definition
from integra.exceptions import CampaignDefinitionError
from integra.tasks import ApplyRetentionOperator
from integra.webhooks.operators import ExportOutcomesOperator, ProcessEventsOperator

SCHEDULE_ENV = "INTEGRA_OUTCOMES_SCHEDULE"
#: The ledger of a definition that names none: its outcomes DAG is plain ``integra_outcomes``.
DEFAULT_LEDGER = CampaignDefinition.model_fields["ledger_conn_id"].default


def build_outcomes_dag(ledger_conn_id: str, definitions: list[CampaignDefinition]) -> DAG:
    """The outcomes DAG of one ledger: its campaigns' outcomes to their warehouses."""
    suffix = "" if ledger_conn_id == DEFAULT_LEDGER else f"__{ledger_conn_id}"
    alias = AssetAlias(f"integra_outcomes{suffix}")
    targets = {d.dag_id: d.outcomes_conn_id or d.warehouse_conn_id for d in definitions}
    with DAG(
        dag_id=f"integra_outcomes{suffix}",
        description=f"Integra call outcomes from ledger '{ledger_conn_id}' to the warehouse",
        doc_md=__doc__,
        schedule=os.environ.get(SCHEDULE_ENV) or "@hourly",
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["integra", "outcomes"],
    ) as dag:
        processed = ProcessEventsOperator(task_id="process_events", ledger_conn_id=ledger_conn_id)
        exported = ExportOutcomesOperator(
            task_id="export_outcomes", ledger_conn_id=ledger_conn_id, targets=targets, alias=alias
        )
        processed >> exported >> ApplyRetentionOperator(task_id="apply_retention", ledger_conn_id=ledger_conn_id)
    return dag


_by_ledger: dict[str, list[CampaignDefinition]] = defaultdict(list)
for _path in definition_files():
    try:
        _definition = load_definition(_path)
    except CampaignDefinitionError:
        continue  # reported by integra_definitions_check.py
    _by_ledger[_definition.ledger_conn_id].append(_definition)
for _ledger, _definitions in _by_ledger.items():
    _dag = build_outcomes_dag(_ledger, _definitions)
    globals()[_dag.dag_id] = _dag
