"""
### Integra daily call campaigns

One DAG per campaign definition in `include/campaigns/*.yaml`. Each run takes the leads that
arrived during its data interval (the day before the run), turns them into valid, unique
recipients, and creates outbound call campaigns in Integra, scheduled for the run's day at the
campaign's `send_time`, inside its calling window.

**Tasks**: `extract_leads` → `build_recipients` → `create_campaign` (batches of at most
10,000 people, shared by at most `max_create_tasks` mapped instances) → `record_campaigns`.

**Safe to rerun**: every batch has a key claimed in the contact ledger (its own database,
`ledger_conn_id`) before it is sent. Clearing a task, rerunning a day or backfilling never creates a
campaign twice.

**Params** (Trigger DAG w/ config): `dry_run` validates everything and sends nothing;
`scheduled_at` overrides the start time (ISO 8601 with offset); `resend_keys` lists batch keys whose
earlier send has an unknown outcome and that you checked in the Integra panel: they are sent again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import DAG, Asset, CronTriggerTimetable, Param, TriggerRule

from integra.definitions import CampaignDefinition, definition_files, load_definition
from integra.exceptions import CampaignDefinitionError
from integra.notifications import CampaignFailureNotifier
from integra.operators import IntegraOperator
from integra.policy.contact import ContactPolicy, ContactPolicyError, load_policy
from integra.tasks import BuildRecipientsOperator, ExtractLeadsOperator, RecordCampaignsOperator

log = logging.getLogger(__name__)
#: One POST and two ledger writes; a claim younger than this may still have a live worker behind it.
CREATE_TIMEOUT = timedelta(minutes=30)

EXTRACT_DOC = """
Checks that the ledger is ready, then runs the campaign's SQL file as written against the warehouse
connection (read only) with the data interval bound as parameters, and streams the rows (and the
optional `suppression_sql` numbers) into Parquet files. XCom holds their locations and row counts.
**If it fails**: check the connection and the SQL file named in the error (or run the ledger upgrade
command it names); rerun the task.
"""
BUILD_DOC = """
Normalises numbers to E.164, cleans names, builds dynamic variables, drops duplicates, validates
every recipient, drops numbers on the suppression list or phoned within the cooldown (by E.164, against
the ledger), records rejected leads with their reason in `integra_rejected_leads`, and writes batches
of at most `max_recipients_per_campaign`. Numbers another campaign may phone within the contact
policy's `per_days` are `capped`. Batches are formed per zone group (the recipients' own time zones,
state rules and holidays; the group is in the campaign name). Leads already in a batch of this day
keep it, and so do their numbers.
**If it fails**: it sent nothing; fix the cause and clear the task.
"""
CREATE_DOC = """
`IntegraOperator`; each instance sends one or more batches (at most `max_create_tasks` instances),
each batch on its own. Schedules it inside every recipient's window in their own zone (from their
numbers), moving a closed day to the next open one. Claims the batch key in `integra_campaigns`
(leaving out numbers over the contact policy's cap, checked again here, race-safe), POSTs the
campaign once, stores its id. A failed batch does not stop the instance's other batches; the instance
then fails naming each failed batch, and clearing it sends none that was created again. The
**Integra campaign** button opens the instance's last campaign in the panel.
**If it fails with "outcome unknown"**: open the Integra panel and look for the campaign named in
the error. If it exists, run `python -m integra.ledger mark-created <key> <campaign_id>`; if it does
not, run `python -m integra.ledger release <key>`; then clear the task. Never just retry.
**If it fails otherwise** (401, 422, 404): nothing was created; fix the connection or definition
and clear the task.
"""
APPROVE_DOC = """
Only with an `approval` block. A usual day passes at once. A day over `max_recipients`, or further
than `max_deviation` from the median of the last good days, waits in **Required actions** for Approve
or Reject, showing the counts, the comparison, the batches and a few masked recipients. Reject, or no
answer before the timeout, sends nothing; the day is recorded as `rejected` / `approval_timed_out`.
**To decide from a script**: `PATCH /api/v2/dags/<dag>/dagRuns/<run>/taskInstances/approve_day/-1/hitlDetails`
with `{"chosen_options": ["Approve"]}`. Clearing the task asks again.
"""
RECORD_DOC = """
Writes the run summary to `integra_runs`, the log and XCom (queried = sent + skipped + rejected +
suppressed + duplicates + cooled down, checked), and emits an event on the campaign's ledger
Asset for downstream DAGs. **If it fails**: it is safe to clear; it only reads the ledger.
"""


def ledger_asset(dag_id: str) -> Asset:
    """The Asset downstream DAGs can schedule on: this campaign's ledger rows."""
    return Asset(name=f"integra_ledger__{dag_id}", uri=f"integra://ledger/{dag_id}", group="integra")


def build_dag(definition: CampaignDefinition, policy: ContactPolicy) -> DAG:
    """The daily DAG of one campaign definition, under the organisation's contact policy."""
    asset = ledger_asset(definition.dag_id)
    with DAG(
        dag_id=definition.dag_id,
        description=definition.description or f"Integra campaign {definition.dag_id}",
        doc_md=__doc__,
        schedule=CronTriggerTimetable(
            definition.schedule.cron, timezone=definition.schedule.timezone, interval=timedelta(days=1)
        ),
        start_date=definition.start_datetime,
        catchup=definition.catchup,
        max_active_runs=1,
        tags=definition.tags,
        default_args={
            "owner": definition.owner,
            "retries": definition.retries,
            "retry_delay": timedelta(minutes=definition.retry_delay_minutes),
            "on_failure_callback": (
                [CampaignFailureNotifier(http_conn_id=definition.failure_webhook_conn_id)]
                if definition.failure_webhook_conn_id
                else None
            ),
        },
        params={
            "dry_run": Param(False, type="boolean", description="Validate and log everything; send nothing."),
            "scheduled_at": Param(
                None,
                type=["null", "string"],
                description="Override the start time: ISO 8601 with offset, e.g. 2026-03-25T10:00:00-03:00.",
            ),
            "resend_keys": Param(
                [],
                type="array",
                items={"type": "string"},
                description="Batch keys to send again although their earlier send has an unknown outcome. "
                "Only after checking the Integra panel.",
            ),
        },
        render_template_as_native_obj=True,
    ) as dag:
        extracted = ExtractLeadsOperator(task_id="extract_leads", doc_md=EXTRACT_DOC, definition=definition)
        batches = BuildRecipientsOperator(
            task_id="build_recipients",
            doc_md=BUILD_DOC,
            definition=definition,
            extracted=extracted.output,
            contact_policy=policy,
        )
        created = IntegraOperator.partial(
            task_id="create_campaign",
            doc_md=CREATE_DOC,
            integra_conn_id=definition.integra_conn_id,
            ledger_conn_id=definition.ledger_conn_id,
            project_id=str(definition.project_id),
            agent_id=str(definition.agent_id),
            phone_number_id=str(definition.phone_number_id),
            config=definition.config.model_dump(exclude_none=True) if definition.config else None,
            send_time=definition.send_time.strftime("%H:%M"),
            timezone=definition.timezone,
            calling_window=definition.calling_window,
            holidays=definition.holidays.model_dump(mode="json"),
            state_rules=definition.state_rules,
            late_policy=definition.late_policy.value,
            late_grace=definition.late_grace,
            scheduled_at="{{ params.scheduled_at }}",
            dry_run="{{ params.dry_run }}",
            resend_keys="{{ params.resend_keys }}",
            contact_policy=policy.model_dump(),
            execution_timeout=CREATE_TIMEOUT,
            map_index_template="{{ task.name }}",
        ).expand_kwargs(batches.output)
        if definition.approval is not None:
            from integra.approval import ApproveDayOperator  # the HITL operators: only for gated campaigns

            batches >> ApproveDayOperator(task_id="approve_day", doc_md=APPROVE_DOC, definition=definition) >> created
        RecordCampaignsOperator(
            task_id="record_campaigns",
            doc_md=RECORD_DOC,
            definition=definition,
            results=created.output,
            trigger_rule=TriggerRule.NONE_FAILED,
            outlets=[asset],
        )
    return dag


try:
    _policy = load_policy()
except ContactPolicyError as _exc:
    # Reported as an import error by integra_definitions_check.py. No campaign runs without its policy.
    log.error("No campaign DAGs: %s", _exc)
    _policy = None
for _path in definition_files() if _policy is not None else []:
    try:
        _definition = load_definition(_path)
        _definition.check_policy(_policy)
    except CampaignDefinitionError as _exc:
        # Reported as an import error by integra_definitions_check.py; the other campaigns still load.
        log.error("Skipping campaign definition: %s", _exc)
        continue
    globals()[_definition.dag_id] = build_dag(_definition, _policy)
