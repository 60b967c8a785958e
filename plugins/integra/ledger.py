"""The idempotency ledger: the project's own promise that nobody is phoned twice.

Integra documents no idempotency and no lookup, so before every POST the batch's deterministic key
is *claimed* here (a primary key makes two workers race safely), and the campaign id is stored
after the answer. Any later attempt reads the key first. Tables: include/sql/ledger_ddl.sql.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integra import sql

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

DDL_PATH = Path(__file__).resolve().parents[2] / "include" / "sql" / "ledger_ddl.sql"
MAX_TEXT = 500
#: Numbers per IN (...) lookup: well under SQLite's 32,766 bound parameters.
_LOOKUP_CHUNK = 2_000


class Status(enum.StrEnum):
    """Lifecycle of a batch key; see the DDL for what each means."""

    SENDING = "sending"
    CREATED = "created"
    NOT_CREATED = "not_created"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


class ClaimState(enum.Enum):
    """What a claim attempt found."""

    CLAIMED = "claimed"  # this attempt owns the key: POST
    EXISTS = "exists"  # a campaign already exists: POST nothing, return it
    IN_DOUBT = "in_doubt"  # claimed earlier, outcome unknown: a person must look


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    row: dict[str, Any]


def utc_now() -> str:
    """Timestamps are bound as UTC text: the one form SQLite and PostgreSQL compare alike."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def logical_date_text(value: datetime) -> str:
    """The run's logical date as stored in the ledger (UTC, seconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def campaign_key(dag_id: str, logical_date: datetime, batch_number: int, digest: str) -> str:
    """Deterministic per batch: same DAG, day, batch and people → same key."""
    return f"{dag_id}:{logical_date_text(logical_date)}:b{batch_number}:{digest[:16]}"


_INSERT_BATCH_SQL = """
    INSERT INTO integra_campaigns (campaign_key, dag_id, run_id, logical_date, batch_number, batch_count,
        batch_hash, name, status, scheduled_at, recipients_count, attempts, last_error, claimed_at, updated_at)
    VALUES (:key, :dag_id, :run_id, :logical_date, :batch_number, :batch_count, :batch_hash, :name, :status,
        :scheduled_at, :recipients_count, 1, :last_error, :now, :now)
    ON CONFLICT (campaign_key) DO {on_conflict}
"""
#: The first claim of a key wins; a key that exists is left to ``claim``'s compare-and-set.
_CLAIM_SQL = _INSERT_BATCH_SQL.format(on_conflict="NOTHING")
#: A skipped batch is recorded with its reason; a rerun that skips again refreshes the reason.
_SKIP_SQL = _INSERT_BATCH_SQL.format(on_conflict="UPDATE SET last_error = :last_error, updated_at = :now")
_MEMBER_SQL = """
    INSERT INTO integra_campaign_recipients (campaign_key, lead_id, dag_id, run_id, logical_date, phone_e164,
        phone_masked, recipient_name, scheduled_at, sent_at)
    VALUES (:campaign_key, :lead_id, :dag_id, :run_id, :logical_date, :phone_e164, :phone_masked,
        :recipient_name, :scheduled_at, :sent_at)
    ON CONFLICT (campaign_key, lead_id) DO NOTHING
"""


@dataclass(frozen=True)
class BatchRecord:
    """What names one batch in ``integra_campaigns``: written alike by a claim and by a skip."""

    key: str
    dag_id: str
    run_id: str
    logical_date: str
    batch_number: int
    batch_count: int
    batch_hash: str
    name: str
    recipients_count: int

    def row(self, status: Status, now: str, **columns: Any) -> dict[str, Any]:
        """The statement parameters of this batch's row with ``status`` and any other ``columns``."""
        return {**asdict(self), "status": status.value, "now": now, **columns}


class Ledger:
    """Ledger tables in a warehouse reached through a common-sql connection."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id

    @cached_property
    def hook(self) -> DbApiHook:
        return sql.get_db_hook(self.conn_id)

    def ensure_schema(self) -> None:
        """Create the ledger tables if missing (every statement is IF NOT EXISTS)."""
        sql.run_script(self.hook, DDL_PATH.read_text(encoding="utf-8"))

    # -- campaigns: claim → confirm / release / unknown -------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        rows = sql.query(self.hook, "SELECT * FROM integra_campaigns WHERE campaign_key = :key", {"key": key})
        return rows[0] if rows else None

    def claim(
        self,
        batch: BatchRecord,
        *,
        scheduled_at: str,
        members: Sequence[Mapping[str, Any]] = (),
        resend_unconfirmed: bool = False,
    ) -> Claim:
        """Take the key before POSTing; exactly one concurrent caller gets CLAIMED.

        The batch's members are written in the same transaction as the claim, so the ledger always
        knows who may have been phoned, even if this process dies right after the POST.
        """
        now = utc_now()
        key = batch.key
        row_values = batch.row(Status.SENDING, now, scheduled_at=scheduled_at, last_error=None)
        member_rows = [
            {
                **m,
                "campaign_key": key,
                "dag_id": batch.dag_id,
                "run_id": batch.run_id,
                "logical_date": batch.logical_date,
                "scheduled_at": scheduled_at,
                "sent_at": now,
            }
            for m in members
        ]
        with sql.transaction(self.hook) as cur:
            inserted = sql.run(cur, self.hook.placeholder, _CLAIM_SQL, row_values)
            if inserted == 1:
                sql.run_many(cur, self.hook.placeholder, _MEMBER_SQL, member_rows)
        row = self.get(key)
        if row is None:  # pragma: no cover - the row was just inserted or already there
            raise RuntimeError(f"Ledger row {key} vanished right after the claim")
        if inserted == 1:
            return Claim(ClaimState.CLAIMED, row)
        status = row["status"]
        if status == Status.CREATED and row.get("campaign_id"):
            return Claim(ClaimState.EXISTS, row)
        retake = {Status.NOT_CREATED.value, Status.SKIPPED.value}
        if resend_unconfirmed:
            retake |= {Status.SENDING.value, Status.UNKNOWN.value}
        if status in retake and self._retake(key, row, row_values, member_rows):
            return Claim(ClaimState.CLAIMED, self.get(key) or row)
        fresh = self.get(key) or row
        if fresh["status"] == Status.CREATED and fresh.get("campaign_id"):
            return Claim(ClaimState.EXISTS, fresh)
        return Claim(ClaimState.IN_DOUBT, fresh)

    def _retake(
        self,
        key: str,
        seen: Mapping[str, Any],
        values: Mapping[str, Any],
        member_rows: Sequence[Mapping[str, Any]],
    ) -> bool:
        """Compare-and-set on (status, attempts), so two retakers cannot both win."""
        with sql.transaction(self.hook) as cur:
            changed = sql.run(
                cur,
                self.hook.placeholder,
                """
                UPDATE integra_campaigns
                   SET status = :status, attempts = attempts + 1, run_id = :run_id, name = :name,
                       scheduled_at = :scheduled_at, recipients_count = :recipients_count,
                       last_error = NULL, updated_at = :now
                 WHERE campaign_key = :key AND status = :seen_status AND attempts = :seen_attempts
                """,
                {**values, "seen_status": seen["status"], "seen_attempts": seen["attempts"]},
            )
            if changed == 1:
                sql.run(
                    cur,
                    self.hook.placeholder,
                    "DELETE FROM integra_campaign_recipients WHERE campaign_key = :key",
                    {"key": key},
                )
                sql.run_many(cur, self.hook.placeholder, _MEMBER_SQL, member_rows)
        return changed == 1

    def confirm(self, key: str, *, campaign_id: str, scheduled_at: str) -> None:
        """The API created the campaign: from now on every attempt returns it."""
        with sql.transaction(self.hook) as cur:
            sql.run(
                cur,
                self.hook.placeholder,
                "UPDATE integra_campaigns SET status = :status, campaign_id = :campaign_id, "
                "scheduled_at = :scheduled_at, last_error = NULL, updated_at = :now WHERE campaign_key = :key",
                {
                    "status": Status.CREATED.value,
                    "campaign_id": campaign_id,
                    "scheduled_at": scheduled_at,
                    "now": utc_now(),
                    "key": key,
                },
            )
            sql.run(
                cur,
                self.hook.placeholder,
                "UPDATE integra_campaign_recipients SET campaign_id = :campaign_id, scheduled_at = :scheduled_at "
                "WHERE campaign_key = :key",
                {"campaign_id": campaign_id, "scheduled_at": scheduled_at, "key": key},
            )

    def release(self, key: str, error: str) -> None:
        """The attempt provably created nothing: a later attempt may POST again."""
        self._set(key, Status.NOT_CREATED, last_error=error)

    def mark_unknown(self, key: str, error: str) -> None:
        """The answer was lost: only a person (or ``resend_unconfirmed``) may resend."""
        self._set(key, Status.UNKNOWN, last_error=error)

    def _set(self, key: str, status: Status, **values: Any) -> None:
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        values = {k: (v[:MAX_TEXT] if isinstance(v, str) else v) for k, v in values.items()}
        sql.execute(
            self.hook,
            f"UPDATE integra_campaigns SET status = :status, {assignments}, updated_at = :now "
            "WHERE campaign_key = :key",
            {"status": status.value, "now": utc_now(), "key": key, **values},
        )

    def record_skip(self, batch: BatchRecord, *, reason: str) -> None:
        """The late policy skipped this batch: recorded, so the day's summary says why."""
        row = batch.row(Status.SKIPPED, utc_now(), scheduled_at=None, last_error=reason[:MAX_TEXT])
        sql.execute(self.hook, _SKIP_SQL, row)

    def campaigns_for_run(self, dag_id: str, logical_date: str) -> list[dict[str, Any]]:
        return sql.query(
            self.hook,
            "SELECT * FROM integra_campaigns WHERE dag_id = :dag_id AND logical_date = :logical_date "
            "ORDER BY batch_number",
            {"dag_id": dag_id, "logical_date": logical_date},
        )

    # -- people -----------------------------------------------------------------------------------

    def day_members(self, dag_id: str, logical_date: str) -> list[dict[str, Any]]:
        """Leads already in a batch of this day that exists or may exist (created, sending, unknown)."""
        return sql.query(
            self.hook,
            """
            SELECT r.lead_id, c.campaign_key, c.batch_number, c.status
              FROM integra_campaign_recipients r
              JOIN integra_campaigns c ON c.campaign_key = r.campaign_key
             WHERE c.dag_id = :dag_id AND c.logical_date = :logical_date
               AND c.status IN ('created', 'sending', 'unknown')
            """,
            {"dag_id": dag_id, "logical_date": logical_date},
        )

    def record_rejections(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Leads not sent because of their data; a rerun of the day overwrites, never duplicates."""
        sql.execute_many(
            self.hook,
            """
            INSERT INTO integra_rejected_leads (dag_id, logical_date, lead_id, reason, run_id, field,
                detail, original_value, recorded_at)
            VALUES (:dag_id, :logical_date, :lead_id, :reason, :run_id, :field, :detail,
                :original_value, :recorded_at)
            ON CONFLICT (dag_id, logical_date, lead_id, reason) DO UPDATE SET
                run_id = excluded.run_id, detail = excluded.detail, recorded_at = excluded.recorded_at
            """,
            rows,
        )

    @contextmanager
    def number_checks(
        self, *, dag_id: str, since: str, logical_date: str
    ) -> Iterator[Callable[[Sequence[str]], tuple[set[str], set[str]]]]:
        """A lookup, on one connection for the whole run, of which E.164 numbers are suppressed and
        which this campaign called since ``since`` on another day (a rerun of a day is not a repeat).
        """
        placeholder = self.hook.placeholder
        with closing(self.hook.get_conn()) as conn:
            cur = conn.cursor()

            def check(numbers: Sequence[str]) -> tuple[set[str], set[str]]:
                suppressed: set[str] = set()
                recent: set[str] = set()
                wanted = sorted(set(numbers))
                for start in range(0, len(wanted), _LOOKUP_CHUNK):
                    chunk = wanted[start : start + _LOOKUP_CHUNK]
                    # Positional markers straight away: rewriting thousands of :names costs more than the query.
                    marks = ", ".join([placeholder] * len(chunk))
                    cur.execute(f"SELECT phone_e164 FROM integra_suppression_list WHERE phone_e164 IN ({marks})", chunk)
                    suppressed.update(row[0] for row in cur.fetchall())
                    cur.execute(
                        f"SELECT DISTINCT phone_e164 FROM integra_campaign_recipients WHERE dag_id = {placeholder} "
                        f"AND campaign_id IS NOT NULL AND sent_at >= {placeholder} AND logical_date <> {placeholder} "
                        f"AND phone_e164 IN ({marks})",
                        [dag_id, since, logical_date, *chunk],
                    )
                    recent.update(row[0] for row in cur.fetchall())
                return suppressed, recent - suppressed

            try:
                yield check
            finally:
                cur.close()

    def record_run(self, summary: Mapping[str, Any]) -> None:
        """The day's accounting; a rerun replaces the row for the same logical date."""
        counts = summary["counts"]
        sql.execute(
            self.hook,
            """
            INSERT INTO integra_runs (dag_id, logical_date, run_id, status, queried, sent, rejected,
                suppressed, duplicates, cooled_down, campaigns, summary, recorded_at)
            VALUES (:dag_id, :logical_date, :run_id, :status, :queried, :sent, :rejected, :suppressed,
                :duplicates, :cooled_down, :campaigns, :summary, :now)
            ON CONFLICT (dag_id, logical_date) DO UPDATE SET run_id = excluded.run_id,
                status = excluded.status, queried = excluded.queried, sent = excluded.sent,
                rejected = excluded.rejected, suppressed = excluded.suppressed,
                duplicates = excluded.duplicates, cooled_down = excluded.cooled_down,
                campaigns = excluded.campaigns, summary = excluded.summary,
                recorded_at = excluded.recorded_at
            """,
            {
                "dag_id": summary["dag_id"],
                "logical_date": summary["logical_date"],
                "run_id": summary["run_id"],
                "status": summary["status"],
                "queried": counts["queried"],
                "sent": counts["sent"],
                "rejected": counts["rejected"],
                "suppressed": counts["suppressed"],
                "duplicates": counts["duplicates"],
                "cooled_down": counts["cooled_down"],
                "campaigns": len(summary["campaigns"]),
                "summary": json.dumps(summary, sort_keys=True, default=str),
                "now": utc_now(),
            },
        )
