"""The campaign DAG's own steps, as small operators around :mod:`integra.pipeline`.

Classic operators rather than ``@task`` functions: the TaskFlow decorator pulls the whole Python
operator machinery into every DAG parse (about 12 ms here, more than the rest of the parse), while
these classes cost nothing until a worker runs them; pandas and pyarrow are imported in ``execute``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from integra.definitions import CampaignDefinition
    from integra.policy.contact import ContactPolicy

log = logging.getLogger(__name__)

#: The keys of one batch that become one mapped ``IntegraOperator``'s arguments.
BATCH_KWARGS = ("recipients", "batch_number", "batch_count", "name", "idempotency_key")


class _CampaignStep(BaseOperator):
    """A step that reads its campaign definition (not serialised: the DAG file rebuilds it)."""

    ui_color = "#e8f1fb"

    def __init__(self, *, definition: CampaignDefinition, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.definition = definition


class ExtractLeadsOperator(_CampaignStep):
    """Runs the campaign's leads query and streams the rows to a Parquet file; returns its location."""

    def execute(self, context: Context) -> dict[str, Any]:
        from integra.ledger import Ledger
        from integra.pipeline.extract import extract_leads

        Ledger(self.definition.ledger_conn_id).engine  # noqa: B018 - fail fast, before reading, if the ledger is not ready
        return extract_leads(self.definition, context)


class BuildRecipientsOperator(_CampaignStep):
    """Turns extracted leads into batch files; returns the mapped ``create_campaign`` kwargs.

    The full counts go to the XCom key ``summary`` for ``record_campaigns``.
    """

    template_fields = ("extracted",)

    def __init__(self, *, extracted: Any, contact_policy: ContactPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extracted = extracted
        self.contact_policy = contact_policy

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from integra.pipeline.transform import build_recipients

        built = build_recipients(self.definition, self.extracted, context, self.contact_policy)
        context["ti"].xcom_push(key="summary", value=built)
        return [{k: batch[k] for k in BATCH_KWARGS} for batch in built["batches"]]


class RecordCampaignsOperator(_CampaignStep):
    """Writes the run summary to the ledger and the log, and annotates the ledger Asset event."""

    template_fields = ("results",)

    def __init__(self, *, results: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results = results

    def execute(self, context: Context) -> dict[str, Any]:
        from integra import scheduling
        from integra.ledger import Ledger
        from integra.pipeline.accounting import format_summary, summarise

        built = context["ti"].xcom_pull(task_ids="build_recipients", key="summary")
        results = [r for r in self.results or [] if r]
        summary = summarise(self.definition, built, results, context, self._approval(context))
        log.info("Run summary:\n%s", format_summary(summary))
        if summary["status"] != "dry_run":
            Ledger(self.definition.ledger_conn_id).record_run(summary, scheduling.run_for(context))
        for asset in self.outlets:
            context["outlet_events"][asset].extra = {
                "interval_end": summary["interval_end"],
                "status": summary["status"],
                "counts": summary["counts"],
                "campaign_ids": [c["campaign_id"] for c in summary["campaigns"] if c.get("campaign_id")],
            }
        return summary

    def _approval(self, context: Context) -> str | None:
        """This run's latest approval decision, when the campaign has a gate."""
        if self.definition.approval is None:
            return None
        from integra import scheduling
        from integra.ledger import Ledger
        from integra.ledger.approvals import requests_for_day

        ledger = Ledger(self.definition.ledger_conn_id)
        mine = [
            r
            for r in requests_for_day(ledger, self.definition.dag_id, scheduling.run_for(context))
            if r["run_id"] == str(context.get("run_id") or "")
        ]
        return str(mine[-1]["status"]) if mine else None
