"""IntegraOperator: create one outbound call campaign, safely retryable.

Like the HTTP provider's operator, it only turns arguments into one hook call; the safety around
that call (schedule, idempotency ledger, masking) is what makes it fit for a daily DAG.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from integra import batches, scheduling
from integra.contract import DEFAULT_CONN_ID
from integra.exceptions import (
    IntegraAPIError,
    IntegraConfigError,
    IntegraOutcomeUnknownError,
    IntegraRateLimitError,
    IntegraUnavailableError,
)
from integra.ledger import BatchRecord, ClaimState, Ledger, Status, campaign_key, logical_date_text
from integra.links import IntegraCampaignLink
from integra.masking import mask_phone

if TYPE_CHECKING:
    from airflow.sdk import Context

    from integra.hooks import IntegraHook
    from integra.models import CampaignCreated, CampaignRequest


def to_bool(value: Any) -> bool:
    """Templated flags arrive as text ("True", "false", "") unless rendered natively."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def parse_send_time(value: str | time) -> time:
    """``"10:00"`` → 10:00, with an error that names the field and the format."""
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise IntegraConfigError(f"send_time: {value!r} is not a time; write it as HH:MM, e.g. 10:00") from exc


def parse_scheduled_at(value: str | datetime) -> datetime:
    """An explicit ``scheduled_at`` must carry its timezone: a bare local time is ambiguous."""
    parsed = value if isinstance(value, datetime) else None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise IntegraConfigError(
                f"scheduled_at: {value!r} is not an ISO 8601 date-time; write e.g. 2026-03-25T10:00:00-03:00"
            ) from exc
    if parsed.tzinfo is None:
        raise IntegraConfigError(
            f"scheduled_at: {value!r} has no timezone; add an offset, e.g. 2026-03-25T10:00:00-03:00"
        )
    return parsed


class IntegraOperator(BaseOperator):
    """Create an Integra outbound call campaign for one batch of recipients.

    :param name: campaign name (templated); the batch key's short form is appended so a person can
        find it in the Integra panel.
    :param project_id: Integra project UUID (templated).
    :param agent_id: voice agent UUID (templated).
    :param phone_number_id: caller number UUID (templated).
    :param recipients: a list of recipient dicts, or the location of a batch file (JSON lines or
        Parquet; local path or ObjectStoragePath URI) (templated).
    :param scheduled_at: explicit ISO 8601 start with offset (templated); by default the run's
        logical date in ``timezone`` at ``send_time``.
    :param config: optional campaign config (templated).
    :param idempotency_key: explicit key (templated); by default DAG id, logical date, batch number
        and a hash of the numbers.
    :param send_time: local wall-clock start, "HH:MM".
    :param timezone: IANA timezone of the campaign.
    :param calling_window: ``{"mon": "09:00-21:00", ..., "sun": None}``; default Brazilian rule.
    :param holidays: ISO dates on which nobody is called.
    :param late_policy: ``shift`` (default), ``skip`` or ``fail`` when the time is already past.
    :param late_grace: how far past the requested time a shift may go.
    :param dry_run: validate and log a summary; POST nothing, change no ledger state (templated).
    :param ledger_conn_id: SQL connection of the idempotency ledger; None disables it (not safe for
        retries beyond the ``Idempotency-Key`` header).
    :param resend_unconfirmed: resend a batch whose earlier POST has an unknown outcome (templated).
    :param batch_number: 1-based batch number within the run; batch_count: batches in the run.
    """

    template_fields: Sequence[str] = (
        "name",
        "project_id",
        "agent_id",
        "phone_number_id",
        "scheduled_at",
        "recipients",
        "config",
        "idempotency_key",
        "dry_run",
        "resend_unconfirmed",
    )
    template_fields_renderers = {"config": "json"}  # noqa: RUF012 - Airflow reads this class attribute
    operator_extra_links = (IntegraCampaignLink(),)
    ui_color = "#dbeafe"

    def __init__(
        self,
        *,
        name: str,
        project_id: str,
        agent_id: str,
        phone_number_id: str,
        recipients: list[dict[str, Any]] | str,
        scheduled_at: str | datetime | None = None,
        config: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        integra_conn_id: str = DEFAULT_CONN_ID,
        send_time: str = "10:00",
        timezone: str = "America/Sao_Paulo",
        calling_window: Mapping[str, str | None] | None = None,
        holidays: Sequence[str] = (),
        late_policy: str = scheduling.LatePolicy.SHIFT.value,
        late_grace: timedelta = timedelta(hours=6),
        dry_run: bool | str = False,
        ledger_conn_id: str | None = None,
        resend_unconfirmed: bool | str = False,
        batch_number: int = 1,
        batch_count: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.project_id = project_id
        self.agent_id = agent_id
        self.phone_number_id = phone_number_id
        self.recipients = recipients
        self.scheduled_at = scheduled_at
        self.config = config
        self.idempotency_key = idempotency_key
        self.integra_conn_id = integra_conn_id
        self.send_time = send_time
        self.timezone = timezone
        self.calling_window = calling_window
        self.holidays = holidays
        self.late_policy = late_policy
        self.late_grace = late_grace
        # Shadows BaseOperator.dry_run(), Airflow's legacy "render only" helper, on purpose: the
        # contract of this operator is a dry_run argument that validates and sends nothing.
        self.dry_run = dry_run  # type: ignore[assignment,method-assign]
        self.ledger_conn_id = ledger_conn_id
        self.resend_unconfirmed = resend_unconfirmed
        self.batch_number = batch_number
        self.batch_count = batch_count
        self._inline_recipients: list[dict[str, Any]] | None = None

    @cached_property
    def hook(self) -> IntegraHook:
        from integra.hooks import IntegraHook  # requests and the HTTP provider: not at DAG parse time

        return IntegraHook(integra_conn_id=self.integra_conn_id)

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render as usual, but keep inline phone numbers out of the stored rendered fields."""
        super().render_template_fields(context, jinja_env)
        if isinstance(self.recipients, list):
            self._inline_recipients = self.recipients
            self.recipients = f"<{len(self.recipients)} inline recipients, not shown>"

    # -- pieces -----------------------------------------------------------------------------------

    def _recipient_rows(self) -> list[dict[str, Any]]:
        if self._inline_recipients is not None:
            return self._inline_recipients
        if isinstance(self.recipients, list):
            return self.recipients
        return batches.read_recipient_rows(self.recipients)

    def _window(self) -> scheduling.CallingWindow:
        from datetime import date

        holidays = [date.fromisoformat(str(day)) for day in self.holidays]
        if self.calling_window is None:
            base = scheduling.CallingWindow.default(self.timezone)
            return scheduling.CallingWindow(hours=base.hours, holidays=frozenset(holidays), timezone=self.timezone)
        return scheduling.CallingWindow.from_spec(self.calling_window, holidays, timezone=self.timezone)

    def decide_schedule(self, context: Context, *, now: datetime | None = None) -> scheduling.ScheduleDecision:
        """Requested time (explicit, or the run's day at send_time), then window and late policy."""
        if self.scheduled_at:
            requested = parse_scheduled_at(self.scheduled_at)
        else:
            requested = scheduling.base_scheduled_at(
                scheduling.run_reference(context),
                _run_after(context),
                send_time=parse_send_time(self.send_time),
                timezone=self.timezone,
            )
        try:
            return scheduling.resolve_schedule(
                requested,
                now=now or datetime.now(UTC),
                window=self._window(),
                policy=scheduling.LatePolicy(self.late_policy),
                grace=self.late_grace,
            )
        except scheduling.LateRunError as exc:
            raise AirflowFailException(str(exc)) from exc

    def _key(self, context: Context, phone_numbers: list[str]) -> tuple[str, str, str]:
        """(key, batch digest, logical date text) for this batch."""
        digest = batches.phones_digest(phone_numbers)
        day = context.get("logical_date") or _run_after(context) or datetime.now(UTC)
        key = self.idempotency_key or campaign_key(self.dag_id, day, self.batch_number, digest)
        return key, digest, logical_date_text(day)

    # -- execute ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        rows = self._recipient_rows()
        recipients = batches.to_recipients(rows)
        phone_numbers = [str(r["phone_number"]) for r in recipients]
        key, digest, day = self._key(context, phone_numbers)
        dry_run = to_bool(self.dry_run)
        resend = to_bool(self.resend_unconfirmed)
        ledger = Ledger(self.ledger_conn_id) if self.ledger_conn_id else None

        # 1. The ledger first: a batch that exists, or may exist, is never rebuilt or re-sent.
        existing = ledger.get(key) if ledger else None
        if existing and existing["status"] == Status.CREATED and existing.get("campaign_id"):
            self.log.info("Batch %s already has campaign %s: nothing sent", key, existing["campaign_id"])
            return self._result(context, existing, key, reused=True)
        if existing and existing["status"] in (Status.SENDING, Status.UNKNOWN) and not resend:
            raise AirflowFailException(self._in_doubt_message(existing))

        # 2. When: the requested time, the calling window and the late policy.
        decision = self.decide_schedule(context)
        name = f"{self.name} [{key.rsplit(':', 1)[-1][:8]}]"
        batch = BatchRecord(
            key=key,
            dag_id=self.dag_id,
            run_id=str(context.get("run_id") or ""),
            logical_date=day,
            batch_number=self.batch_number,
            batch_count=self.batch_count,
            batch_hash=digest,
            name=name,
            recipients_count=len(recipients),
        )
        if decision.action == "skip":
            self.log.warning("Batch %s skipped: %s", key, decision.reason)
            if ledger and not dry_run:
                ledger.record_skip(batch, reason=decision.reason)
            raise AirflowSkipException(f"Campaign {name!r} not sent: {decision.reason}")
        assert decision.scheduled_at is not None
        scheduled = scheduling.to_iso(decision.scheduled_at)
        self.log.info("Batch %s: scheduled_at %s (%s)", key, scheduled, decision.reason)

        # 3. What: the contract's validation, before any state changes.
        request = self._build(name, decision.scheduled_at, recipients)
        if dry_run:
            self.log.info(
                "Dry run: would create %r with %d recipients at %s; nothing sent, ledger unchanged",
                name,
                len(request.recipients),
                scheduled,
            )
            return {
                "dry_run": True,
                "campaign_key": key,
                "name": name,
                "scheduled_at": scheduled,
                "total_recipients": len(request.recipients),
                "batch_number": self.batch_number,
            }
        if ledger is None:
            self.log.warning("No ledger_conn_id: only the Idempotency-Key header protects against resends")
            return self._result(context, self._create(request, key, None), key, reused=False)

        # 4. Claim, then POST exactly once.
        claim = ledger.claim(batch, scheduled_at=scheduled, members=_members(rows), resend_unconfirmed=resend)
        if claim.state is ClaimState.EXISTS:
            self.log.info("Batch %s already has campaign %s: nothing sent", key, claim.row["campaign_id"])
            return self._result(context, claim.row, key, reused=True)
        if claim.state is ClaimState.IN_DOUBT:
            raise AirflowFailException(self._in_doubt_message(claim.row))
        created = self._create(request, key, ledger)
        return self._result(context, created, key, reused=False)

    def _build(self, name: str, scheduled_at: datetime, recipients: list[dict[str, Any]]) -> CampaignRequest:
        from integra.models import build_request

        try:
            return build_request(
                {
                    "name": name,
                    "project_id": self.project_id,
                    "agent_id": self.agent_id,
                    "phone_number_id": self.phone_number_id,
                    "scheduled_at": scheduled_at,
                    "recipients": recipients,
                    "config": _as_mapping(self.config),
                }
            )
        except IntegraConfigError as exc:
            raise AirflowFailException(str(exc)) from exc

    def _create(self, request: CampaignRequest, key: str, ledger: Ledger | None) -> CampaignCreated:
        """One POST; the ledger learns the outcome before anything else can go wrong."""
        try:
            created = self.hook.create_campaign(request, idempotency_key=key)
        except IntegraOutcomeUnknownError as exc:
            if ledger:
                ledger.mark_unknown(key, str(exc))
            raise AirflowFailException(self._unknown_message(request.name, key, str(exc))) from exc
        except (IntegraRateLimitError, IntegraUnavailableError) as exc:
            if ledger:
                ledger.release(key, str(exc))
            raise  # nothing was created: Airflow's own task retries may try again
        except (IntegraAPIError, IntegraConfigError) as exc:
            if ledger:
                ledger.release(key, str(exc))
            raise AirflowFailException(f"Campaign {request.name!r} was not created: {exc}") from exc
        if ledger:
            ledger.confirm(key, campaign_id=created.id, scheduled_at=scheduling.to_iso(created.scheduled_at))
        return created

    def _result(
        self, context: Context, created: CampaignCreated | Mapping[str, Any], key: str, *, reused: bool
    ) -> dict[str, Any]:
        if isinstance(created, Mapping):
            campaign_id, name = str(created["campaign_id"]), str(created["name"])
            scheduled, status, total = created["scheduled_at"], "PENDING", int(created["recipients_count"])
        else:
            campaign_id, name, status = created.id, created.name, created.status
            scheduled, total = scheduling.to_iso(created.scheduled_at), created.total_recipients
        url = self.hook.campaign_url(campaign_id)
        context["ti"].xcom_push(key=IntegraCampaignLink().xcom_key, value=url)
        return {
            "campaign_id": campaign_id,
            "name": name,
            "status": status,
            "scheduled_at": scheduled,
            "total_recipients": total,
            "campaign_key": key,
            "batch_number": self.batch_number,
            "panel_url": url,
            "reused": reused,
        }

    def _unknown_message(self, name: str, key: str, error: str) -> str:
        return (
            f"Outcome unknown for campaign {name!r} (key {key}): {error} "
            "Before anything else, open the Integra panel and look for a campaign with this name. "
            "If it exists, nothing more is needed: record its id in integra_campaigns "
            "(status 'created', campaign_id) and clear this task. If it does not exist, trigger the "
            "day again with the param resend_unconfirmed=true. Retrying blindly could phone people twice."
        )

    def _in_doubt_message(self, row: Mapping[str, Any]) -> str:
        return (
            f"Campaign {row['name']!r} (key {row['campaign_key']}) was claimed by an earlier attempt "
            f"(status {row['status']}, attempts {row['attempts']}, last error: {row.get('last_error') or 'none'}) "
            "and its outcome is unknown, or another worker is sending it right now. Open the Integra "
            "panel and look for a campaign with this name. If it exists, set its id in "
            "integra_campaigns (status 'created') and clear this task; if not, rerun with the param "
            "resend_unconfirmed=true."
        )


def _members(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ledger rows for the people in a batch; a row without a lead id is keyed by its number."""
    return [
        {
            "lead_id": str(row.get("lead_id") or row.get("phone_number")),
            "phone_e164": str(row.get("phone_number")),
            "phone_masked": mask_phone(str(row.get("phone_number"))),
            "recipient_name": str(row.get("recipient_name") or ""),
        }
        for row in rows
    ]


def _run_after(context: Mapping[str, Any]) -> datetime | None:
    dag_run = context.get("dag_run")
    value = getattr(dag_run, "run_after", None) if dag_run is not None else None
    return value if isinstance(value, datetime) else None


def _as_mapping(value: Any) -> dict[str, Any] | None:
    """Config may arrive as a JSON string when templated without native rendering."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, str):
        parsed = json.loads(value)
        return dict(parsed) if parsed else None
    return dict(value)
