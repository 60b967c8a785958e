"""IntegraOperator: create one outbound call campaign, safely retryable.

Like the HTTP provider's operator, it only turns arguments into one hook call; the safety around
that call (schedule, idempotency ledger, masking) is what makes it fit for a daily DAG.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from integra import arguments, batches, scheduling
from integra.contract import DEFAULT_CONN_ID
from integra.exceptions import (
    IntegraAPIError,
    IntegraConfigError,
    IntegraOutcomeUnknownError,
    IntegraRateLimitError,
    IntegraUnavailableError,
)
from integra.links import IntegraCampaignLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from integra.hooks import IntegraHook
    from integra.ledger import Ledger
    from integra.ledger.idempotency import BatchRecord
    from integra.models import CampaignCreated, CampaignRequest
    from integra.policy.local_time import Locality, LocalRules


@dataclass(frozen=True)
class Batch:
    """One batch to send: its people (inline rows or a batch file) and what names it."""

    name: str
    recipients: list[dict[str, Any]] | str
    batch_number: int = 1
    batch_count: int = 1
    idempotency_key: str | None = None

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Batch:
        return cls(
            name=str(spec["name"]),
            recipients=spec["recipients"],
            batch_number=int(spec.get("batch_number", 1)),
            batch_count=int(spec.get("batch_count", 1)),
            idempotency_key=spec.get("idempotency_key") or None,
        )


@dataclass(frozen=True)
class Planned:
    """A batch read, checked, scheduled and built; nothing written yet: its claim comes next."""

    batch: Batch
    record: BatchRecord
    scheduled_at: datetime
    request: CampaignRequest
    recipients: list[dict[str, Any]]
    columns: batches.RecipientColumns


@dataclass(frozen=True)
class Claimed:
    """A batch whose key this attempt holds: its POST (and the confirm) is the one step left."""

    batch: Batch
    key: str
    request: CampaignRequest
    capped: int = 0


class IntegraOperator(BaseOperator):
    """Create an Integra outbound call campaign for one batch of recipients.

    :param name: campaign name (templated); the batch key's short form is appended so a person can
        find it in the Integra panel.
    :param project_id: Integra project UUID (templated).
    :param agent_id: voice agent UUID (templated).
    :param phone_number_id: caller number UUID (templated).
    :param recipients: a list of recipient dicts, or the location of a batch file (JSON lines or
        Parquet; local path or ObjectStoragePath URI) (templated).
    :param scheduled_at: explicit ISO 8601 start with offset (templated); by default the day the run
        is for (:func:`integra.scheduling.run_for`) in ``timezone`` at ``send_time``.
    :param config: optional campaign config (templated).
    :param idempotency_key: explicit key (templated); by default DAG id, the day the run is for (end of its
        data interval), batch number and a keyed digest of the numbers.
    :param send_time: local wall-clock start, "HH:MM".
    :param timezone: IANA timezone of the campaign.
    :param calling_window: ``{"mon": "09:00-21:00", ..., "sun": None}``; default Brazilian rule. It applies
        in each recipient's own zone (from the number), narrowed by their state's law when ``state_rules``.
    :param holidays: ``integra.policy.calendars.HolidaySettings`` as a mapping (country, subdivisions,
        categories, extra), or a list of ISO dates added to the defaults (Brazil's and the recipient's state's
        public holidays).
    :param state_rules: narrow the window by state telemarketing laws (``integra.policy.state_rules``).
    :param late_policy: ``shift`` (default), ``skip`` or ``fail`` when the time is already past.
    :param late_grace: how far past the requested time a shift may go.
    :param dry_run: validate and log a summary; POST nothing, change no ledger state (templated).
    :param ledger_conn_id: connection of the contact ledger (PostgreSQL, MySQL/MariaDB or SQLite); None
        disables it (not safe for retries beyond the ``Idempotency-Key`` header).
    :param resend_keys: keys a person checked in the Integra panel and found no campaign for: a batch in
        ``unknown`` (or ``sending`` for longer than this task's ``execution_timeout``) is sent again (templated).
    :param contact_policy: the organisation's contact policy (``max_calls_per_number``, ``per_days``),
        enforced across campaigns when the batch is claimed; None (the default) enforces none.
    :param batch_number: 1-based batch number within the run; batch_count: batches in the run.
    :param batches: several batches for this one task instead of ``recipients``: a list of mappings with
        ``name``, ``recipients``, ``batch_number``, ``batch_count`` and ``idempotency_key`` (templated).
        Each batch keeps its own key, claim and POST; one that fails does not stop the others, and the
        task fails afterwards naming every failed batch (a retry re-sends none that was created). Returns a
        list of the per-batch results.
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
        "resend_keys",
        "batches",
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
        recipients: list[dict[str, Any]] | str | None = None,
        scheduled_at: str | datetime | None = None,
        config: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        integra_conn_id: str = DEFAULT_CONN_ID,
        send_time: str = "10:00",
        timezone: str = "America/Sao_Paulo",
        calling_window: Mapping[str, str | None] | None = None,
        holidays: Sequence[str] | Mapping[str, Any] = (),
        state_rules: bool = True,
        late_policy: str = scheduling.LatePolicy.SHIFT.value,
        late_grace: timedelta = timedelta(hours=6),
        dry_run: bool | str = False,
        ledger_conn_id: str | None = None,
        resend_keys: Sequence[str] | str = (),
        contact_policy: Mapping[str, Any] | None = None,
        batch_number: int = 1,
        batch_count: int = 1,
        batches: Sequence[Mapping[str, Any]] | None = None,
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
        self.state_rules = state_rules
        self.late_policy = late_policy
        self.late_grace = late_grace
        # Shadows BaseOperator.dry_run(), Airflow's legacy "render only" helper, on purpose: the
        # contract of this operator is a dry_run argument that validates and sends nothing.
        self.dry_run = dry_run  # type: ignore[assignment,method-assign]
        self.ledger_conn_id = ledger_conn_id
        self.resend_keys = resend_keys
        self.contact_policy = contact_policy
        self.batch_number = batch_number
        self.batch_count = batch_count
        self.batches = batches
        if recipients is None and batches is None:
            raise IntegraConfigError(f"IntegraOperator {self.task_id}: pass recipients (or batches) to send")
        self._inline_recipients: list[dict[str, Any]] | None = None
        self._inline_batches: list[Batch] | None = None

    @cached_property
    def hook(self) -> IntegraHook:
        from integra.hooks import IntegraHook  # requests and the HTTP provider: not at DAG parse time

        return IntegraHook(integra_conn_id=self.integra_conn_id)

    @cached_property
    def _ledger(self) -> Ledger | None:
        """One per task instance: its batches share the engine check and the digest secret."""
        from integra.ledger import Ledger

        return Ledger(self.ledger_conn_id) if self.ledger_conn_id else None

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render as usual, but keep inline phone numbers out of the stored rendered fields."""
        super().render_template_fields(context, jinja_env)
        if isinstance(self.recipients, list):
            self._inline_recipients = self.recipients
            self.recipients = f"<{len(self.recipients)} inline recipients, not shown>"
        if self.batches is not None:
            self._inline_batches = [Batch.of(spec) for spec in self.batches]
            self.batches = [
                {**spec, "recipients": f"<{len(spec['recipients'])} inline recipients, not shown>"}
                if isinstance(spec.get("recipients"), list)
                else spec
                for spec in self.batches
            ]

    # -- pieces -----------------------------------------------------------------------------------

    def _batches(self) -> list[Batch]:
        """What this task sends: its ``batches``, or the one batch of its own arguments."""
        if self._inline_batches is not None:
            return self._inline_batches
        if self.batches is not None:
            return [Batch.of(spec) for spec in self.batches]
        recipients = self._inline_recipients if self._inline_recipients is not None else self.recipients
        assert recipients is not None, "checked in __init__"
        return [Batch(self.name, recipients, self.batch_number, self.batch_count, self.idempotency_key)]

    @staticmethod
    def _recipient_columns(batch: Batch) -> batches.RecipientColumns:
        if isinstance(batch.recipients, list):
            return batches.RecipientColumns.from_rows(batch.recipients)
        try:
            return batches.read_recipient_columns(batch.recipients)
        except FileNotFoundError as exc:
            raise AirflowFailException(
                f"The batch file {batch.recipients} is gone: a run's files are removed once the run is recorded "
                "(keep_run_files: false). Clear the whole run (from extract_leads) instead: it writes the files "
                "again, and batches already created keep their keys and are not sent again."
            ) from exc

    def _rules(self) -> LocalRules:
        from integra.policy.local_time import LocalRules

        holidays = self.holidays if isinstance(self.holidays, Mapping) else list(self.holidays)
        return LocalRules.from_spec(self.calling_window, holidays, state_rules=self.state_rules, timezone=self.timezone)

    def decide_schedule(
        self,
        context: Context,
        *,
        now: datetime | None = None,
        numbers: Sequence[str] = (),
        localities: Collection[Locality] | None = None,
    ) -> scheduling.ScheduleDecision:
        """Requested time (explicit, or the run's day at send_time in the recipients' zones), then their
        window (every recipient's own hours, state rules and holidays) and the late policy. The recipients'
        ``localities`` are those of their ``numbers``, looked up here unless given (from a batch file)."""
        from integra.policy.local_time import locality_of

        rules = self._rules()
        try:
            rules.holidays.check()
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from exc
        day = rules.calling_day(scheduling.run_for(context))
        if localities is None:
            localities = {locality_of(str(number)) for number in numbers}
        if self.scheduled_at:
            requested = arguments.parse_scheduled_at(self.scheduled_at)
        else:
            requested = rules.requested(localities, day, arguments.parse_send_time(self.send_time))
        try:
            return scheduling.resolve_schedule(
                requested,
                now=now or datetime.now(UTC),
                window=rules.window(localities, day),
                policy=scheduling.LatePolicy(self.late_policy),
                grace=self.late_grace,
            )
        except scheduling.LateRunError as exc:
            raise AirflowFailException(str(exc)) from exc

    def _key(
        self, batch: Batch, interval_end: datetime, phone_numbers: list[str], ledger: Ledger | None
    ) -> tuple[str, str]:
        """(key, digest) of this batch: the digest is keyed by the ledger's secret (or, alone, the API token)."""
        from integra.ledger import idempotency as idem

        secret = ledger.digest_secret if ledger else self._token()
        digest = idem.batch_digest(secret, phone_numbers)
        return batch.idempotency_key or idem.batch_key(self.dag_id, interval_end, batch.batch_number, digest), digest

    def _token(self) -> bytes:
        return str(self.hook.connection.password or "").encode()

    def _stale_after(self) -> timedelta:
        """How long a ``sending`` key may still have a live worker: this task's own timeout."""
        from integra.ledger import idempotency as idem

        return self.execution_timeout or idem.DEFAULT_STALE_AFTER

    # -- execute ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any] | list[dict[str, Any]]:
        from integra.runtime import frozen_heap

        with frozen_heap():
            if self.batches is None:
                result = self.send(context, self._batches()[0])
                self._push_link(context, [result])
                return result
            return self._send_each(context, self._batches())

    def _push_link(self, context: Context, results: Sequence[Mapping[str, Any]]) -> None:
        """The **Integra campaign** button: the instance's last campaign. One XCom per instance, not per
        batch: each push is a round trip to the API server."""
        urls = [r["panel_url"] for r in results if r.get("panel_url")]
        if urls:
            context["ti"].xcom_push(key=IntegraCampaignLink().xcom_key, value=urls[-1])

    def _send_each(self, context: Context, todo: list[Batch]) -> list[dict[str, Any]]:
        from integra.sending import send_each

        results, failures, late = send_each(self, context, todo)
        self._push_link(context, results)
        if failures:
            final = [exc for _, exc in failures if isinstance(exc, AirflowFailException)]
            if not final:
                raise failures[0][1]  # nothing needs a person: Airflow's retry sends what is left
            text = "; ".join(f"batch {b.batch_number}: {exc}" for b, exc in failures)
            raise AirflowFailException(f"{len(failures)} of {len(todo)} batches failed: {text}") from final[0]
        if todo and len(late) == len(todo):
            raise AirflowSkipException("; ".join(late))
        return results

    def send(self, context: Context, batch: Batch) -> dict[str, Any]:
        """Claim, POST and confirm one batch; the whole exactly-once path."""
        step = self.plan(context, batch)
        claimed = self.claim(step) if isinstance(step, Planned) else step
        return self.post(claimed) if isinstance(claimed, Claimed) else claimed

    def plan(self, context: Context, batch: Batch) -> dict[str, Any] | Planned:
        """Read, check and build one batch; nothing written but a late-policy skip. A dict is its final result."""
        from integra.ledger import idempotency as idem  # SQLAlchemy tables: not at DAG parse time
        from integra.ledger import recovery

        columns = self._recipient_columns(batch)
        recipients = columns.recipients()
        ledger = self._ledger
        interval_end = scheduling.run_for(context)
        numbers = columns.phones
        key, digest = self._key(batch, interval_end, numbers, ledger)
        dry_run = arguments.to_bool(self.dry_run)

        # 1. The ledger first: a batch that exists, or may exist, is never rebuilt or re-sent.
        existing = idem.get(ledger, key) if ledger else None
        if existing and existing["status"] == idem.Status.CREATED and existing["campaign_id"]:
            self.log.info("Batch %s already has campaign %s: nothing sent", key, existing["campaign_id"])
            return self._result(existing, key, batch, reused=True)
        if existing and not idem.may_retake(existing, self._resend, datetime.now(UTC), self._stale_after()):
            raise AirflowFailException(recovery.in_doubt_message(existing, str(self.ledger_conn_id)))

        # 2. When: the requested time, the calling window and the late policy.
        decision = self.decide_schedule(context, localities=columns.localities())
        name = f"{batch.name} [{idem.short_key(key)}]"
        record = idem.BatchRecord(
            key=key,
            dag_id=self.dag_id,
            run_id=str(context.get("run_id") or ""),
            interval_end=interval_end,
            batch_number=batch.batch_number,
            batch_count=batch.batch_count,
            digest=digest,
            name=name,
            recipients_count=len(recipients),
        )
        if decision.action == "skip":
            self.log.warning("Batch %s skipped: %s", key, decision.reason)
            if ledger and not dry_run:
                idem.record_skip(ledger, record, reason=decision.reason)
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
                "batch_number": batch.batch_number,
            }
        return Planned(batch, record, decision.scheduled_at, request, recipients, columns)

    def claim(self, planned: Planned) -> dict[str, Any] | Claimed:
        """4. Claim the key (leaving out numbers over the contact policy's cap); right before its POST."""
        from integra.ledger import idempotency as idem
        from integra.ledger import recovery

        ledger, key, batch = self._ledger, planned.record.key, planned.batch
        if ledger is None:
            self.log.warning("No ledger_conn_id: only the Idempotency-Key header protects against resends")
            return Claimed(batch, key, planned.request)
        claim = idem.claim(
            ledger,
            planned.record,
            scheduled_at=planned.scheduled_at,
            members=planned.columns.members(),
            resend_keys=self._resend,
            stale_after=self._stale_after(),
            policy=self._policy,
        )
        if claim.state is idem.ClaimState.EXISTS:
            self.log.info("Batch %s already has campaign %s: nothing sent", key, claim.row["campaign_id"])
            return self._result(claim.row, key, batch, reused=True)
        if claim.state is idem.ClaimState.IN_DOUBT:
            raise AirflowFailException(recovery.in_doubt_message(claim.row, ledger.conn_id))
        if claim.capped:
            self.log.warning(
                "Batch %s: %d of %d recipients are over the contact policy's cap (another campaign holds them)",
                key,
                len(claim.capped),
                len(planned.recipients),
            )
        if claim.state is idem.ClaimState.ALL_CAPPED:
            return {
                "campaign_key": key,
                "status": "skipped",
                "reason": idem.ALL_CAPPED_REASON,
                "capped": len(claim.capped),
            }
        request = planned.request
        if claim.capped:
            kept = [r for r in planned.recipients if r["phone_number"] not in claim.capped]
            request = self._build(request.name, planned.scheduled_at, kept)
        return Claimed(batch, key, request, len(claim.capped))

    def post(self, claimed: Claimed) -> dict[str, Any]:
        """5. POST exactly once, then confirm (or settle) the key."""
        created = self._create(claimed.request, claimed.key, self._ledger)
        return self._result(created, claimed.key, claimed.batch, reused=False, capped=claimed.capped)

    @cached_property
    def _resend(self) -> frozenset[str]:
        return arguments.as_keys(self.resend_keys)

    @cached_property
    def _policy(self) -> Any:
        """The contact policy, validated once per task instance: every batch of it claims under the same one."""
        from integra.policy.contact import ContactPolicy

        return None if self.contact_policy is None else ContactPolicy.model_validate(dict(self.contact_policy))

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
                    "config": arguments.as_mapping(self.config),
                }
            )
        except IntegraConfigError as exc:
            raise AirflowFailException(str(exc)) from exc

    def _create(self, request: CampaignRequest, key: str, ledger: Ledger | None) -> CampaignCreated:
        """One POST; the ledger learns the outcome before anything else can go wrong."""
        from integra.ledger import idempotency as idem
        from integra.ledger import recovery

        try:
            created = self.hook.create_campaign(request, idempotency_key=key)
        except IntegraOutcomeUnknownError as exc:
            if ledger:
                idem.mark_unknown(ledger, key, str(exc))
            raise AirflowFailException(
                recovery.unknown_message(request.name, key, str(exc), str(self.ledger_conn_id))
            ) from exc
        except (IntegraRateLimitError, IntegraUnavailableError) as exc:
            if ledger:
                idem.release(ledger, key, str(exc))
            raise  # nothing was created: Airflow's own task retries may try again
        except (IntegraAPIError, IntegraConfigError) as exc:
            if ledger:
                idem.release(ledger, key, str(exc))
            raise AirflowFailException(f"Campaign {request.name!r} was not created: {exc}") from exc
        if ledger:
            idem.confirm(ledger, key, campaign_id=created.id, scheduled_at=created.scheduled_at)
        return created

    def _result(
        self,
        created: CampaignCreated | Mapping[str, Any],
        key: str,
        batch: Batch,
        *,
        reused: bool,
        capped: int = 0,
    ) -> dict[str, Any]:
        if isinstance(created, Mapping):
            campaign_id, name = str(created["campaign_id"]), str(created["name"])
            scheduled = scheduling.to_iso(created["scheduled_at"]) if created["scheduled_at"] else None
            status, total = "PENDING", int(created["recipients_count"])
        else:
            campaign_id, name, status = created.id, created.name, created.status
            scheduled, total = scheduling.to_iso(created.scheduled_at), created.total_recipients
        url = self.hook.campaign_url(campaign_id)
        return {
            "campaign_id": campaign_id,
            "name": name,
            "status": status,
            "scheduled_at": scheduled,
            "total_recipients": total,
            "campaign_key": key,
            "batch_number": batch.batch_number,
            "panel_url": url,
            "reused": reused,
            "capped": capped,
        }
