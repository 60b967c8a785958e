"""
### Integra: one campaign, by hand

`IntegraOperator` on its own: trigger with config to create one outbound call campaign from a
list of recipients or a batch file (JSON lines or Parquet; local path or object-storage URI).
No warehouse and no ledger: use it to try an agent, or as the pattern for your own DAGs. The
daily campaigns live in `integra_campaigns.py`.

```json
{"name": "Teste agente", "recipients": [{"phone_number": "+5511987650001", "recipient_name": "João"}]}
```
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from integra.operators import IntegraOperator

with DAG(
    dag_id="integra_example_single_campaign",
    description="Create one Integra campaign from recipients given at trigger time",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["integra", "example"],
    default_args={"owner": "integra", "retries": 0},
    params={
        "name": Param("Campanha manual", type="string", minLength=1),
        "recipients": Param(
            [], type=["array", "string"], description="Recipient objects, or the location of a batch file."
        ),
        "project_id": Param("3f6d8a52-4c1e-4b7a-9d21-6a0f2b8c9e14", type="string"),
        "agent_id": Param("8b2e4d10-7a3c-4f5e-b1d9-2c6e8f0a4b37", type="string"),
        "phone_number_id": Param("c5a1e7f3-2b9d-4e6c-8f04-1d3b5a7c9e20", type="string"),
        "scheduled_at": Param(None, type=["null", "string"], description="ISO 8601 with offset; default 10:00."),
        "dry_run": Param(False, type="boolean"),
    },
    render_template_as_native_obj=True,
):
    IntegraOperator(
        task_id="create_campaign",
        name="{{ params.name }} {{ ds }}",
        project_id="{{ params.project_id }}",
        agent_id="{{ params.agent_id }}",
        phone_number_id="{{ params.phone_number_id }}",
        recipients="{{ params.recipients }}",
        scheduled_at="{{ params.scheduled_at }}",
        config={"call_timeout": 45, "voicemail_mode": "hangup"},
        dry_run="{{ params.dry_run }}",
    )
