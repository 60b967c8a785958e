"""The DAGs' own steps, as small operators around :mod:`integra.pipeline` and the ledger.

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

#: The keys of one batch that ``IntegraOperator`` sends (one entry of its ``batches`` argument).
BATCH_KWARGS = ("recipients", "batch_number", "batch_count", "name", "idempotency_key")


def spread(batches: list[dict[str, Any]], tasks: int) -> list[dict[str, Any]]:
    """The mapped ``create_campaign`` kwargs: the batches shared by at most ``tasks`` instances.

    Largest batches first, each to the instance with the fewest people so far, so parallel instances
    finish together; inside an instance batches go in batch order. One batch per instance when there
    are at most ``tasks`` batches, labelled with its campaign name as before.
    """
    groups: list[list[dict[str, Any]]] = [[] for _ in range(min(tasks, len(batches)))]
    load = [0] * len(groups)
    for batch in sorted(batches, key=lambda b: (-int(b["recipients_count"]), b["batch_number"])):
        index = load.index(min(load))
        groups[index].append(batch)
        load[index] += int(batch["recipients_count"])
    out = []
    for group in sorted(groups, key=lambda g: min(b["batch_number"] for b in g)):
        group.sort(key=lambda b: b["batch_number"])
        label = group[0]["name"] if len(group) == 1 else _label(group)
        out.append({"name": label, "batches": [{k: b[k] for k in BATCH_KWARGS} for b in group]})
    return out


def _label(group: list[dict[str, Any]]) -> str:
    numbers = ", ".join(str(b["batch_number"]) for b in group)
    return f"batches {numbers} of {group[0]['batch_count']} ({sum(int(b['recipients_count']) for b in group)} people)"


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
        from integra.runtime import frozen_heap

        Ledger(self.definition.ledger_conn_id).engine  # noqa: B018 - fail fast, before reading, if the ledger is not ready
        with frozen_heap():
            return extract_leads(self.definition, context)


class BuildRecipientsOperator(_CampaignStep):
    """Turns extracted leads into batch files; returns the mapped ``create_campaign`` kwargs (:func:`spread`).

    The full counts go to the XCom key ``summary`` for ``record_campaigns``.
    """

    template_fields = ("extracted",)

    def __init__(self, *, extracted: Any, contact_policy: ContactPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extracted = extracted
        self.contact_policy = contact_policy

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow.sdk.exceptions import AirflowFailException

        from integra.ledger.retention import HistoryGoneError
        from integra.pipeline.transform import build_recipients
        from integra.runtime import frozen_heap

        try:
            with frozen_heap():
                built = build_recipients(self.definition, self.extracted, context, self.contact_policy)
        except HistoryGoneError as exc:  # no retry can bring the history back
            raise AirflowFailException(str(exc)) from exc
        context["ti"].xcom_push(key="summary", value=built)
        return spread(built["batches"], self.definition.max_create_tasks)


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
        # One list per create_campaign instance (one entry per batch it sent); None for a skipped instance.
        results = [r for group in self.results or [] if group for r in (group if isinstance(group, list) else [group])]
        summary = summarise(self.definition, built, results, context, self._approval(context))
        log.info("Run summary:\n%s", format_summary(summary))
        if summary["status"] != "dry_run":
            Ledger(self.definition.ledger_conn_id).record_run(summary, scheduling.run_for(context))
        self._remove_run_files(summary, context)
        for asset in self.outlets:
            context["outlet_events"][asset].extra = {
                "interval_end": summary["interval_end"],
                "status": summary["status"],
                "counts": summary["counts"],
                "campaign_ids": [c["campaign_id"] for c in summary["campaigns"] if c.get("campaign_id")],
            }
        return summary

    def _remove_run_files(self, summary: dict[str, Any], context: Context) -> None:
        """Personal data no longer needed: the day's lead and batch files, once the run is recorded.

        Kept when the ledger holds a batch of this day whose outcome is not settled (a person may resend
        it from its file), when the day was not approved (clearing ``approve_day`` shows them again), on
        a dry run, and when the definition says ``keep_run_files``. A rerun of the day writes them anew.
        """
        from integra import scheduling
        from integra.batches import local_file
        from integra.ledger import Ledger
        from integra.ledger.recovery import unsettled_on
        from integra.pipeline.extract import run_dir

        if self.definition.keep_run_files or summary["status"] in ("dry_run", "rejected", "approval_timed_out"):
            return
        day = scheduling.run_for(context)
        if unsettled_on(Ledger(self.definition.ledger_conn_id), self.definition.dag_id, day):
            return
        folder = run_dir(self.definition, context)
        local = local_file(folder)
        if local is not None:
            import shutil

            shutil.rmtree(local, ignore_errors=True)
        else:
            from contextlib import suppress

            with suppress(FileNotFoundError, NotADirectoryError):  # an object store's empty prefix: nothing left
                folder.rmdir(recursive=True)
        log.info("Removed this run's lead and batch files (%s): the ledger holds what the run decided", folder)

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


class ApplyRetentionOperator(BaseOperator):
    """Pseudonymises personal data in the ledger older than the contact policy's ``retention_days``."""

    ui_color = "#eef6e8"

    def __init__(self, *, ledger_conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id

    def execute(self, context: Context) -> dict[str, int]:
        from integra.ledger import Ledger
        from integra.ledger.retention import apply_retention
        from integra.policy.contact import load_policy

        days = load_policy().retention_days
        if days is None:
            log.info("retention_days is not set in the contact policy: the ledger keeps personal data")
            return {}
        counts = apply_retention(Ledger(self.ledger_conn_id), days)
        log.info("Retention (%d days): rows pseudonymised or cleared per table: %s", days, counts)
        return counts
