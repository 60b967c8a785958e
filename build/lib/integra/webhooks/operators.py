"""The outcomes DAG's steps, as classic operators (a DAG parse then costs nothing; see ``integra.tasks``)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias, BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)


def outcomes_asset(dag_id: str) -> Asset:
    """What a DAG that acts on call outcomes schedules on: one campaign definition's exported outcomes."""
    return Asset(name=f"integra_outcomes__{dag_id}", uri=f"integra://outcomes/{dag_id}", group="integra")


class ProcessEventsOperator(BaseOperator):
    """Processes deliveries the receiver stored but did not finish; links early outcomes to their leads."""

    ui_color = "#eef6e8"

    def __init__(self, *, ledger_conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id

    def execute(self, context: Context) -> dict[str, int]:
        from integra.ledger.outcomes import FAILED, link_outcomes, process_pending, unlinked_count
        from integra.ledger.store import Ledger
        from integra.policy.contact import load_policy

        ledger = Ledger(self.ledger_conn_id)
        counts = process_pending(ledger, load_policy())
        counts["linked"] = link_outcomes(ledger)
        counts["unlinked"] = unlinked_count(ledger)
        if counts.get(FAILED):
            log.warning(
                "%d webhook events could not be processed; see integra_webhook_events (status 'failed', column "
                "error). They are tried again every run.",
                counts[FAILED],
            )
        log.info("Webhook events: %s", counts)
        return counts


class ExportOutcomesOperator(BaseOperator):
    """Writes new outcomes to each campaign's warehouse; one Asset event per Integra campaign with its counts."""

    ui_color = "#eef6e8"

    def __init__(self, *, ledger_conn_id: str, targets: Mapping[str, str], alias: AssetAlias, **kwargs: Any) -> None:
        super().__init__(outlets=[alias], **kwargs)
        self.ledger_conn_id = ledger_conn_id
        self.targets = dict(targets)
        self.alias = alias

    def execute(self, context: Context) -> dict[str, int]:
        from integra.ledger.store import Ledger
        from integra.webhooks.export import export

        result = export(Ledger(self.ledger_conn_id), self.targets)
        per_dag: dict[str, int] = defaultdict(int)
        for counts in result.campaigns.values():
            context["outlet_events"][self.alias].add(outcomes_asset(counts.dag_id), extra=counts.as_extra())
            per_dag[counts.dag_id] += 1
        log.info(
            "Exported %d outcomes and %d campaign statuses; Asset events: %s",
            result.outcomes,
            result.statuses,
            dict(per_dag) or "none (nothing new)",
        )
        return {"outcomes": result.outcomes, "statuses": result.statuses, "campaigns": len(result.campaigns)}
