"""The approval gate: Airflow's human-in-the-loop ``ApprovalOperator`` before an unusual day is phoned.

Between ``build_recipients`` and ``create_campaign``. A usual day passes at once. An unusual one
(``integra.policy.volume``) waits in Airflow's Required actions for Approve or Reject, showing what
a person needs to decide; the timeout rejects. Every request and decision is kept in the ledger
(``integra_approvals``). Reject or timeout skips ``create_campaign``: nothing is POSTed, and
``record_campaigns`` records the day as ``rejected`` or ``approval_timed_out``. A rerun asks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from integra import scheduling
from integra.notifications import ApprovalRequestNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

    from integra.definitions import CampaignDefinition
    from integra.policy.volume import VolumeCheck

#: At most this many batches are listed (with their planned time) in a request.
LISTED_BATCHES = 20


class ApproveDayOperator(ApprovalOperator):
    """Approve or Reject the day's calls when their volume is unusual; pass at once when it is not."""

    ui_color = "#fef3c7"

    def __init__(self, *, definition: CampaignDefinition, **kwargs: Any) -> None:
        settings = definition.approval
        if settings is None:
            raise ValueError(f"{definition.dag_id}: ApproveDayOperator needs an approval block in the definition")
        notifiers = (
            [ApprovalRequestNotifier(http_conn_id=definition.failure_webhook_conn_id)]
            if definition.failure_webhook_conn_id
            else None
        )
        super().__init__(
            subject=f"Phone the people of {definition.dag_id} today?",
            defaults=[self.REJECT],  # the timeout rejects
            assigned_users=[{"id": user, "name": user} for user in settings.assigned_users] or None,
            response_timeout=timedelta(hours=settings.timeout_hours),
            notifiers=notifiers,
            **kwargs,
        )
        self.definition = definition
        self.settings = settings

    # -- waiting --------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        from integra.ledger import Ledger, approvals
        from integra.policy.volume import check_volume

        built = context["ti"].xcom_pull(task_ids="build_recipients", key="summary")
        interval_end = scheduling.run_for(context)
        ledger = Ledger(self.definition.ledger_conn_id)
        recent = approvals.recent_sent(ledger, self.definition.dag_id, interval_end, self.settings.history_days)
        check = check_volume(self.settings, int(built["counts"]["batched"]), recent)
        dry_run = bool((context.get("params") or {}).get("dry_run"))
        if not check.needs_approval or dry_run:
            verdict = "needs approval (dry run: not asked)" if check.needs_approval else "usual volume"
            self.log.info("%s: %s; %s", self.definition.dag_id, verdict, "; ".join(check.reasons) or "no approval")
            if not dry_run:
                approvals.record_request(ledger, self._row(context, check, approvals.Decision.NOT_NEEDED, ""))
            return {"required": check.needs_approval, "decision": "dry_run" if dry_run else "not_needed"}

        self.body = request_text(self.definition, built, check, interval_end, self.settings.sample_size)
        approvals.record_request(ledger, self._row(context, check, approvals.Decision.WAITING, self.body))
        self.response_timeout = self._timeout(interval_end)
        self.log.warning("%s: waiting for approval: %s", self.definition.dag_id, "; ".join(check.reasons))
        return super().execute(context)

    def _row(self, context: Context, check: VolumeCheck, decision: Any, shown: str) -> dict[str, Any]:
        return {
            "dag_id": self.definition.dag_id,
            "interval_end": scheduling.run_for(context),
            "run_id": str(context.get("run_id") or ""),
            "status": decision.value,
            "would_send": check.would_send,
            "baseline": check.baseline,
            "reasons": "; ".join(check.reasons),
            "shown": shown,
        }

    def _timeout(self, interval_end: datetime) -> timedelta:
        """The configured timeout, cut at the close of the calling day's window (campaign zone) if still ahead."""
        configured = timedelta(hours=self.settings.timeout_hours)
        window = self.definition.window()
        day = interval_end.astimezone(window.zone).date()
        hours = window.hours[day.weekday()]
        if hours is None:
            return configured
        closes = scheduling.at_local(day, hours[1], window.timezone)
        left = closes - datetime.now(UTC)
        return min(configured, left) if left > timedelta(minutes=1) else configured

    # -- answered -------------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from integra.ledger import Ledger, approvals

        chosen = list(event.get("chosen_options") or [])
        user = event.get("responded_by_user") or {}
        if event.get("timedout") or not user:
            decision = approvals.Decision.TIMED_OUT
        elif chosen == [self.APPROVE]:
            decision = approvals.Decision.APPROVED
        else:
            decision = approvals.Decision.REJECTED
        ledger = Ledger(self.definition.ledger_conn_id)
        interval_end = scheduling.run_for(context)
        waiting = [
            r
            for r in approvals.requests_for_day(ledger, self.definition.dag_id, interval_end)
            if r["status"] == approvals.Decision.WAITING and r["run_id"] == str(context.get("run_id") or "")
        ]
        who = str(user.get("name") or user.get("id")) if user else None
        responded = event.get("responded_at")
        for request in waiting[-1:]:
            approvals.record_decision(
                ledger,
                dag_id=self.definition.dag_id,
                interval_end=interval_end,
                requested_at=request["requested_at"],
                decision=decision,
                decided_by=who,
                decided_at=responded if isinstance(responded, datetime) else None,
            )
        self.log.warning("%s: %s%s", self.definition.dag_id, decision.value, f" by {who}" if who else "")
        return super().execute_complete(context, event)


def request_text(
    definition: CampaignDefinition, built: Mapping[str, Any], check: VolumeCheck, interval_end: datetime, samples: int
) -> str:
    """What a person needs to decide, in Markdown: counts, the comparison, the batches, a few masked people."""
    counts = built["counts"]
    rejected = ", ".join(f"{k} {v}" for k, v in (built.get("rejected_by_reason") or {}).items()) or "none"
    if check.baseline is None:
        comparison = "no earlier good day in the ledger to compare with"
    else:
        comparison = f"median of the last {check.history} good days: **{check.baseline:.0f}**"
    lines = [
        f"**{check.would_send}** people would be phoned today ({comparison}).",
        "",
        *[f"- {reason}" for reason in check.reasons],
        "",
        "| leads queried | would send | rejected | duplicates | suppressed | cooled down | capped |",
        "|---|---|---|---|---|---|---|",
        f"| {counts.get('queried', 0)} | {counts.get('batched', 0)} | {counts.get('rejected', 0)} "
        f"| {counts.get('duplicates', 0)} | {counts.get('suppressed', 0)} | {counts.get('cooled_down', 0)} "
        f"| {counts.get('capped', 0)} |",
        "",
        f"Rejected by reason: {rejected}.",
        "",
        "| batch | people | planned start |",
        "|---|---|---|",
    ]
    batch_list = list(built.get("batches") or [])
    for batch in batch_list[:LISTED_BATCHES]:
        planned = _planned(definition, batch, interval_end)
        lines.append(f"| {batch['name']} | {batch['recipients_count']} | {planned} |")
    if len(batch_list) > LISTED_BATCHES:
        lines.append(f"| … and {len(batch_list) - LISTED_BATCHES} more | | |")
    if samples and batch_list:
        lines += ["", "Sample recipients: " + ", ".join(_samples(batch_list[0]["recipients"], samples)) + "."]
    lines += ["", "**Approve** sends as an unguarded run would; **Reject** (or no answer in time) sends nothing."]
    return "\n".join(lines)


def _planned(definition: CampaignDefinition, batch: Mapping[str, Any], interval_end: datetime) -> str:
    """The batch's on-time start in its recipients' zones (the late policy may still move it)."""
    from integra import batches

    path = batches.local_file(batches.as_path(batch["recipients"]))
    if path is None or not path.endswith(".parquet"):
        return "-"
    rules = definition.local_rules()
    localities = batches.read_recipient_columns(path).localities()  # as create_campaign schedules it
    day = rules.calling_day(interval_end)
    requested = rules.requested(localities, day, definition.send_time)
    opening = rules.window(localities, day).next_opening(requested)
    return scheduling.to_iso(opening) if opening else "closed"


def _samples(location: str, size: int) -> list[str]:
    """A few recipients as a person may see them: masked number and first name."""
    from integra import batches
    from integra.masking import mask_phone

    rows = batches.read_recipient_rows(location)[:size]
    return [f"{mask_phone(r.get('phone_number'))} ({str(r.get('recipient_name') or '').split(' ')[0]})" for r in rows]
