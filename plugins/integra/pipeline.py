"""The daily campaign's data steps: extract leads, build recipient batches, summarise the run.

Each function takes the validated campaign definition and the task context, and returns only
small, JSON-able values for XCom: file locations and counts, never people.
Heavy libraries (pandas, pyarrow, phonenumbers) are imported inside the functions, so parsing the
DAG file stays fast.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from contextlib import closing, nullcontext
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from integra import batches, scheduling, sql
from integra.ledger import Ledger, Status, campaign_key, logical_date_text
from integra.masking import mask_phone

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from airflow.sdk import ObjectStoragePath

    from integra.definitions import CampaignDefinition

log = logging.getLogger(__name__)

EXCLUSION_COLUMN = "integra_exclusion"
_CONTROL = r"[\x00-\x1f\x7f-\x9f\u2028\u2029]"
_CONTROL_RE2 = r"[\x00-\x1f\x7f-\x{9f}\x{2028}\x{2029}]"  # the same class in RE2 syntax, for pyarrow
MAX_VARIABLE_LENGTH = 500


# -- helpers -----------------------------------------------------------------------------------------


def _sql_time(value: datetime) -> str:
    """Bound timestamps are UTC text, which SQLite and PostgreSQL both compare correctly."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def run_day(context: Mapping[str, Any]) -> datetime:
    """The run's logical date (``run_after`` for a manual run that has none): it keys the ledger."""
    day = context.get("logical_date")
    if day is None:
        dag_run = context.get("dag_run")
        day = getattr(dag_run, "run_after", None)
    if day is None:
        raise ValueError("The run has neither a logical date nor run_after")
    return day


def run_dir(definition: CampaignDefinition, context: Mapping[str, Any]) -> ObjectStoragePath:
    """One folder per campaign and day, so a retry overwrites its own files and nothing else."""
    day = logical_date_text(run_day(context)).replace(":", "")
    path = batches.data_root(definition.data_path) / definition.dag_id / day
    path.mkdir(parents=True, exist_ok=True)
    return path


def leads_query(definition: CampaignDefinition) -> str:
    """The campaign's SQL, wrapped so the warehouse flags suppressed and cooled-down leads.

    The join against the ledger runs where the data is; rows come back flagged rather than
    filtered, so the run can account for every lead.
    """
    user_sql = definition.sql_path.read_text(encoding="utf-8").strip().rstrip(";")
    cols = definition.columns
    return f"""
WITH integra_leads AS (
{user_sql}
)
SELECT integra_leads.*,
       CASE
         WHEN EXISTS (SELECT 1 FROM integra_suppression_list s
                       WHERE s.phone_e164 = CAST(integra_leads.{cols.phone} AS VARCHAR(255)))
           THEN 'suppressed'
         WHEN EXISTS (SELECT 1 FROM integra_campaign_recipients r
                       WHERE r.dag_id = :dag_id
                         AND r.lead_id = CAST(integra_leads.{cols.lead_id} AS VARCHAR(255))
                         AND r.campaign_id IS NOT NULL
                         AND r.sent_at >= :cooldown_since
                         AND r.logical_date <> :ledger_logical_date)
           THEN 'cooled_down'
       END AS {EXCLUSION_COLUMN}
  FROM integra_leads
 ORDER BY integra_leads.{cols.lead_id}
"""


def query_params(definition: CampaignDefinition, context: Mapping[str, Any]) -> dict[str, Any]:
    """Values the leads SQL may use as ``:name`` parameters (always bound, never formatted in)."""
    day = run_day(context)
    start = context.get("data_interval_start") or day - timedelta(days=1)
    end = context.get("data_interval_end") or day
    return {
        "data_interval_start": _sql_time(start),
        "data_interval_end": _sql_time(end),
        "logical_date": _sql_time(day),
        "ds": day.astimezone(UTC).date().isoformat(),
        "dag_id": definition.dag_id,
        "cooldown_since": _sql_time(end - timedelta(days=definition.cooldown_days)),
        "ledger_logical_date": logical_date_text(day),
    }


# -- extract_leads -----------------------------------------------------------------------------------


def _cursor(conn: Any) -> Any:
    """A server-side cursor where the driver has one (psycopg2), so rows stream in chunks."""
    if type(conn).__module__.startswith("psycopg2"):
        cur = conn.cursor(name="integra_leads")
        cur.itersize = 10_000
        return cur
    return conn.cursor()


def extract_leads(definition: CampaignDefinition, context: Mapping[str, Any]) -> dict[str, Any]:
    """Run the leads query and stream its rows, as text columns, into a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ledger = Ledger(definition.warehouse_conn_id)
    ledger.ensure_schema()
    hook = ledger.hook
    text, values = sql.bind(leads_query(definition), query_params(definition, context), hook.placeholder)
    target = run_dir(definition, context) / "leads.parquet"
    rows = 0
    with closing(hook.get_conn()) as conn:
        cur = _cursor(conn)
        try:
            cur.execute(text, values)
            chunk = cur.fetchmany(definition.extract_chunk_rows)
            columns = [str(col[0]).lower() for col in cur.description]
            _check_columns(definition, columns)
            schema = pa.schema([(name, pa.string()) for name in columns])
            with target.open("wb") as handle, pq.ParquetWriter(handle, schema) as writer:
                while chunk:
                    arrays = [
                        pa.array([None if row[i] is None else str(row[i]) for row in chunk], type=pa.string())
                        for i in range(len(columns))
                    ]
                    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                    rows += len(chunk)
                    chunk = cur.fetchmany(definition.extract_chunk_rows)
        finally:
            cur.close()
        conn.commit()
    log.info("Extracted %d leads for %s into %s", rows, definition.dag_id, target)
    return {"location": str(target), "rows": rows}


def _check_columns(definition: CampaignDefinition, columns: list[str]) -> None:
    needed = {definition.columns.lead_id, definition.columns.phone, definition.columns.name}
    needed |= set(definition.dynamic_variables.values())
    missing = sorted(c for c in needed if c.lower() not in columns)
    if missing:
        raise ValueError(
            f"{definition.sql}: the query returns no column(s) {missing} named in the definition "
            f"({definition.source_file}); it returns {columns}. Fix 'columns'/'dynamic_variables' or the SQL."
        )


# -- build_recipients --------------------------------------------------------------------------------


def _chunks(location: str, columns: Collection[str] | None = None, size: int = 100_000) -> Iterator[pd.DataFrame]:
    """The file's rows as frames of ``size`` rows, with only the ``columns`` it has of those asked (or all).

    A local file is read by pyarrow itself, not through an ObjectStoragePath file object (see
    ``batches.local_file``); unused columns are never decoded.
    """
    import pyarrow.parquet as pq

    path = batches.as_path(location)
    local = batches.local_file(path)
    with path.open("rb") if local is None else nullcontext(local) as source, pq.ParquetFile(source) as parquet:
        names = parquet.schema_arrow.names
        wanted = None if columns is None else [name for name in names if name in columns]
        for record_batch in parquet.iter_batches(batch_size=size, columns=wanted):
            yield record_batch.to_pandas()


def _arrow(values: pd.Series) -> Any:
    """The column as one Arrow string array, for pyarrow.compute's vectorised string kernels."""
    import pyarrow as pa

    array = pa.array(values, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _may_have_control(text: pa.Array) -> bool:
    """Whether the array's UTF-8 bytes hold any that can start a control character; if not, none has one.

    C0 and DEL are single bytes; U+0080-U+009F start with 0xC2 and U+2028/U+2029 with 0xE2. Four byte
    scans clear clean text, the usual case, at a fraction of the cost of the regex over every row.
    """
    import numpy as np

    data = text.buffers()[2]  # a superset of the rows' bytes (a slice shares its parent's): only ever "maybe"
    if data is None:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    return bool((raw < 0x20).any() or (raw == 0x7F).any() or (raw == 0xC2).any() or (raw == 0xE2).any())


def _control_mask(text: pa.Array) -> np.ndarray:
    """Per row, whether the text has a control character (null: no)."""
    import numpy as np
    import pyarrow.compute as pc

    if not _may_have_control(text):
        return np.zeros(len(text), dtype=bool)
    return pc.fill_null(pc.match_substring_regex(text, _CONTROL_RE2), False).to_numpy(zero_copy_only=False)


def _has_control(values: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.Series(_control_mask(_arrow(values)), index=values.index)


def _collapse_whitespace(text: pa.Array) -> pa.Array:
    """``re.sub(r"\\s+", " ")`` (RE2's ``\\s``) on an Arrow string array, rewriting only the rows that change.

    Most names hold single spaces only, and finding the others costs a fifth of rewriting every row.
    """
    import pyarrow.compute as pc

    irregular = pc.fill_null(pc.match_substring_regex(text, r"\s\s|[^\S ]"), False)
    if not pc.any(irregular).as_py():
        return text
    return pc.replace_with_mask(text, irregular, pc.replace_substring_regex(text.filter(irregular), r"\s+", " "))


def _clean_names(names: pd.Series, *, title_case: bool, max_length: int) -> tuple[pd.Series, pd.Series]:
    """Trimmed names and, per row, the reason they cannot be used (or NA)."""
    import numpy as np
    import pandas as pd
    import pyarrow.compute as pc

    text = _arrow(names)
    cleaned = pc.utf8_trim_whitespace(_collapse_whitespace(text))
    if title_case:
        cleaned = pc.utf8_title(cleaned)
    too_long = pc.fill_null(pc.greater(pc.utf8_length(cleaned), max_length), False).to_numpy(zero_copy_only=False)
    control = _control_mask(text)
    missing = pc.fill_null(pc.equal(cleaned, ""), True).to_numpy(zero_copy_only=False)
    # The first reason that applies, in this order (assigned last wins); None for a usable name. An object
    # array of shared strings, not np.select's fixed-width text (52 bytes a row).
    reason = np.full(len(text), None, dtype=object)
    reason[too_long] = "name_too_long"
    reason[control] = "invalid_name"
    reason[missing] = "missing_name"
    reason_series = pd.Series(reason, index=names.index, dtype="string")
    return pd.Series(cleaned, index=names.index, dtype="string"), reason_series


def build_recipients(
    definition: CampaignDefinition, extracted: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """Turn extracted leads into batch files of valid, unique, callable recipients.

    Every lead ends in exactly one bucket: batched, rejected (with a reason, written to the
    ledger), duplicate, suppressed or cooled down. Leads already in a batch of this day that exists
    or may exist keep that batch (and its key), so a rerun can never re-send them under a new key.
    """
    import pandas as pd

    from integra.phones import normalize_phones

    params = context.get("params") or {}
    dry_run = bool(params.get("dry_run"))
    day = run_day(context)
    day_text = logical_date_text(day)
    run_id = str(context.get("run_id") or "")
    cols = definition.columns
    ledger = Ledger(definition.warehouse_conn_id)

    previous = {row["lead_id"]: row for row in ledger.day_members(definition.dag_id, day_text)}
    counts: Counter[str] = Counter()
    rejected_by_reason: Counter[str] = Counter()
    seen_numbers: set[str] = set()
    last_numbers: list[str] = []  # the previous chunk's, added to seen_numbers only if another chunk comes
    writer = _BatchWriter(
        run_dir(definition, context),
        definition.max_recipients_per_campaign,
        previous,
        list(definition.dynamic_variables),
    )
    cooldown_since = _sql_time((scheduling.run_reference(context) or day) - timedelta(days=definition.cooldown_days))
    now = _sql_time(datetime.now(UTC))
    needed = {EXCLUSION_COLUMN, cols.lead_id, cols.phone, cols.name, *definition.dynamic_variables.values()}

    with ledger.number_checks(dag_id=definition.dag_id, since=cooldown_since, logical_date=day_text) as check_numbers:
        for frame in _chunks(extracted["location"], needed):
            offset = counts["queried"]  # row numbers name leads that have no id
            counts["queried"] += len(frame)
            frame = frame.reset_index(drop=True)
            flag = frame[EXCLUSION_COLUMN] if EXCLUSION_COLUMN in frame else pd.Series(pd.NA, index=frame.index)
            counts["suppressed"] += int(flag.eq("suppressed").sum())
            counts["cooled_down"] += int(flag.eq("cooled_down").sum())
            frame = frame[flag.isna()]

            lead_ids = frame[cols.lead_id].astype("string").str.strip()
            phones = normalize_phones(frame[cols.phone], definition.default_region)
            names, name_reason = _clean_names(
                frame[cols.name], title_case=definition.title_case_names, max_length=definition.max_name_length
            )
            reason = phones["reason"].astype("string")
            field = pd.Series("phone", index=frame.index, dtype="string")
            reason = reason.fillna(name_reason)
            field = field.mask(phones["reason"].isna() & name_reason.notna(), "name")
            variables = {}
            for variable, column in definition.dynamic_variables.items():
                values = frame[column].astype("string").fillna("").str.strip()
                bad = _has_control(values) | values.str.len().gt(MAX_VARIABLE_LENGTH)
                field = field.mask(reason.isna() & bad, f"dynamic_variables.{variable}")
                reason = reason.mask(reason.isna() & bad, "invalid_variable")
                variables[variable] = values
            missing_id = lead_ids.isna() | lead_ids.eq("")
            field = field.mask(missing_id, "lead_id")
            reason = reason.mask(missing_id, "missing_lead_id")

            rejected = reason.notna()
            bad_rows = frame.index[rejected]
            originals = {
                "phone": frame[cols.phone][rejected].tolist(),
                "name": frame[cols.name][rejected].tolist(),
                "lead_id": lead_ids[rejected].tolist(),
            }
            rejections = [
                {
                    "dag_id": definition.dag_id,
                    "logical_date": day_text,
                    "lead_id": lead if not no_id else f"row:{offset + i}",
                    "reason": why,
                    "run_id": run_id,
                    "field": where,
                    "detail": _REASON_TEXT.get(why, why),
                    "original_value": _original(originals.get(where, [None] * len(bad_rows))[n]),
                    "recorded_at": now,
                }
                for n, (i, lead, no_id, why, where) in enumerate(
                    zip(
                        bad_rows,
                        originals["lead_id"],
                        missing_id[rejected].tolist(),
                        reason[rejected].tolist(),
                        field[rejected].tolist(),
                        strict=True,
                    )
                )
            ]
            for row in rejections:
                rejected_by_reason[str(row["reason"])] += 1

            ok = frame.index[~rejected]
            good = pd.DataFrame(
                {
                    "lead_id": lead_ids[ok],
                    "phone_number": phones["e164"][ok].astype("string"),
                    "recipient_name": names[ok],
                }
            )
            for variable, values in variables.items():
                good[f"var.{variable}"] = values[ok]

            # Duplicates: the first lead with a number wins, within the chunk and across chunks.
            seen_numbers.update(last_numbers)
            dup = good["phone_number"].duplicated(keep="first") | _in_set(good["phone_number"], seen_numbers)
            rejections += [
                {
                    "dag_id": definition.dag_id,
                    "logical_date": day_text,
                    "lead_id": str(lead),
                    "reason": "duplicate_phone",
                    "run_id": run_id,
                    "field": "phone",
                    "detail": _REASON_TEXT["duplicate_phone"],
                    "original_value": mask_phone(str(number)),
                    "recorded_at": now,
                }
                for lead, number in zip(good["lead_id"][dup].tolist(), good["phone_number"][dup].tolist(), strict=True)
            ]
            counts["duplicates"] += int(dup.sum())
            good = good[~dup]
            last_numbers = good["phone_number"].tolist()

            # Numbers normalised here may match the suppression list or the cooldown where the raw
            # warehouse text did not: check the E.164 form too.
            suppressed, recent = check_numbers(last_numbers)
            counts["suppressed"] += int(good["phone_number"].isin(suppressed).sum())
            counts["cooled_down"] += int(good["phone_number"].isin(recent).sum())
            good = good[~good["phone_number"].isin(suppressed | recent)]

            if rejections and not dry_run:
                ledger.record_rejections(rejections)
            counts["rejected"] += sum(1 for r in rejections if r["reason"] != "duplicate_phone")
            writer.add(good)

    batch_list = writer.close(definition, day, scheduling.run_reference(context) or day)
    counts["batched"] = sum(b["recipients_count"] for b in batch_list)
    summary = {
        "counts": {k: counts[k] for k in ("queried", "batched", "rejected", "duplicates", "suppressed", "cooled_down")},
        "rejected_by_reason": {k: v for k, v in sorted(rejected_by_reason.items()) if k != "duplicate_phone"},
        "batches": batch_list,
    }
    log.info(
        "Leads: %d queried, %d batched in %d batch(es), %d rejected %s, %d duplicates, %d suppressed, %d cooled down",
        counts["queried"],
        counts["batched"],
        len(batch_list),
        counts["rejected"],
        summary["rejected_by_reason"],
        counts["duplicates"],
        counts["suppressed"],
        counts["cooled_down"],
    )
    return summary


_REASON_TEXT = {
    "missing_phone": "no phone number",
    "invalid_phone": "not a valid phone number for the default region or its country code",
    "not_callable": "a valid number of a type that cannot take calls (premium, shared cost, pager …)",
    "missing_name": "no name to greet the person with",
    "invalid_name": "the name contains control characters",
    "name_too_long": "the name is longer than max_name_length",
    "invalid_variable": "a dynamic variable has control characters or is over 500 characters",
    "missing_lead_id": "the lead has no id, so it could not be tracked in the ledger",
    "duplicate_phone": "another lead of the same run has this number; the first one is called",
}


def _in_set(values: pd.Series, members: set[str]) -> pd.Series:
    """Membership in a large Python set, in O(len(values)): ``Series.isin`` copies the whole set each call."""
    import numpy as np
    import pandas as pd

    if not members:  # the first chunk: nothing seen yet
        return pd.Series(False, index=values.index)
    found = np.fromiter((value in members for value in values.tolist()), dtype=bool, count=len(values))
    return pd.Series(found, index=values.index)


def _original(value: Any) -> str | None:
    """The value that caused the rejection, truncated: enough to fix the source row."""
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    return str(value)[:200]


class _BatchWriter:
    """Writes batch files of at most ``size`` rows as soon as they fill, keeping only their metadata.

    Leads already in a batch of this day (``previous``: lead id → ledger row) go back into that
    batch, under its key; new batches are numbered after the existing ones.
    """

    def __init__(
        self, folder: ObjectStoragePath, size: int, previous: Mapping[str, Mapping[str, Any]], variables: list[str]
    ) -> None:
        self.folder = folder
        self.size = size
        self.previous = previous
        self.variables = variables
        self.pending: list[pd.DataFrame] = []
        self.pending_rows = 0
        self.next_number = max((int(row["batch_number"]) for row in previous.values()), default=0) + 1
        self.written: list[dict[str, Any]] = []  # new batches: number, path, rows, digest
        self.sticky: dict[str, list[pd.DataFrame]] = {}

    def add(self, good: pd.DataFrame) -> None:
        if self.previous:
            keys = good["lead_id"].map(lambda lead: self.previous.get(lead, {}).get("campaign_key"))
            for key, part in good[keys.notna()].groupby(keys[keys.notna()]):
                self.sticky.setdefault(str(key), []).append(part)
            good = good[keys.isna()]
        self.pending.append(good)
        self.pending_rows += len(good)
        while self.pending_rows >= self.size:
            self._cut(self.size)

    def _cut(self, rows: int) -> None:
        import pandas as pd

        frame = pd.concat(self.pending, ignore_index=True)
        batch, rest = frame.iloc[:rows], frame.iloc[rows:]
        self.pending, self.pending_rows = [rest], len(rest)
        number = self.next_number
        self.next_number += 1
        self.written.append(
            {
                "number": number,
                "path": self._write(batch, number),
                "rows": len(batch),
                "digest": batches.phones_digest(batch["phone_number"].tolist()),
            }
        )

    def _write(self, frame: pd.DataFrame, number: int) -> str:
        """Parquet with ``dynamic_variables`` as a struct column: no per-row JSON encoding."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        def strings(column: str) -> pa.Array:
            array = pa.array(frame[column], type=pa.string())  # Arrow-backed pandas strings may come chunked
            return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array

        columns = {name: strings(name) for name in ("lead_id", "phone_number", "recipient_name")}
        if self.variables:
            columns["dynamic_variables"] = pa.StructArray.from_arrays(
                [strings(f"var.{v}") for v in self.variables], names=self.variables
            )
        path = self.folder / f"batch-{number:04d}.parquet"
        local = batches.local_file(path)
        if local is not None:  # pyarrow writes the file itself: see batches.local_file
            pq.write_table(pa.table(columns), local)
        else:
            with path.open("wb") as handle:
                pq.write_table(pa.table(columns), handle)
        return str(path)

    def close(self, definition: CampaignDefinition, day: datetime, calling_day: datetime) -> list[dict[str, Any]]:
        """Write what is left; ``day`` keys the batches, ``calling_day`` names them."""
        import pandas as pd

        if self.pending_rows:
            self._cut(self.pending_rows)
        first_rows = {row["campaign_key"]: row for row in self.previous.values()}
        entries = [
            (
                int(first_rows[key]["batch_number"]),
                key,
                self._write(pd.concat(parts), int(first_rows[key]["batch_number"])),
                sum(len(p) for p in parts),
            )
            for key, parts in self.sticky.items()
        ]
        entries += [
            (b["number"], campaign_key(definition.dag_id, day, b["number"], b["digest"]), b["path"], b["rows"])
            for b in self.written
        ]
        total = len(entries)
        local_day = calling_day.astimezone(definition.window().zone).date().isoformat()
        return [
            {
                "recipients": path,
                "batch_number": number,
                "batch_count": total,
                "name": definition.campaign_name(day=local_day, batch=number, batches=total),
                "idempotency_key": key,
                "recipients_count": rows,
            }
            for number, key, path, rows in sorted(entries)
        ]


# -- record_campaigns --------------------------------------------------------------------------------


def summarise(
    definition: CampaignDefinition,
    built: Mapping[str, Any],
    results: list[Mapping[str, Any]],
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """The run's accounting from the ledger (the source of truth) and the batch results."""
    params = context.get("params") or {}
    dry_run = bool(params.get("dry_run"))
    day = run_day(context)
    day_text = logical_date_text(day)
    counts = dict(built["counts"])
    keys = {b["idempotency_key"] for b in built["batches"]}
    campaigns: list[dict[str, Any]] = []
    sent = skipped = would_send = 0
    if dry_run:
        would_send = sum(int(r.get("total_recipients", 0)) for r in results)
        campaigns = [dict(r) for r in results]
    else:
        for row in Ledger(definition.warehouse_conn_id).campaigns_for_run(definition.dag_id, day_text):
            if row["campaign_key"] not in keys:
                continue
            if row["status"] == Status.CREATED:
                sent += int(row["recipients_count"])
            elif row["status"] == Status.SKIPPED:
                skipped += int(row["recipients_count"])
            campaigns.append(
                {
                    "batch_number": row["batch_number"],
                    "campaign_key": row["campaign_key"],
                    "campaign_id": row["campaign_id"],
                    "status": row["status"],
                    "name": row["name"],
                    "scheduled_at": row["scheduled_at"],
                    "recipients": row["recipients_count"],
                    "reason": row["last_error"] if row["status"] == Status.SKIPPED else None,
                }
            )
    counts.update(sent=sent, skipped_late=skipped, dry_run_not_sent=would_send)
    accounted = sum(
        counts[k]
        for k in ("sent", "skipped_late", "dry_run_not_sent", "rejected", "suppressed", "duplicates", "cooled_down")
    )
    status = "dry_run" if dry_run else ("skipped" if skipped and not sent else "ok")
    summary = {
        "dag_id": definition.dag_id,
        "logical_date": day_text,
        "run_id": str(context.get("run_id") or ""),
        "status": status,
        "counts": counts,
        "rejected_by_reason": built.get("rejected_by_reason", {}),
        "campaigns": campaigns,
    }
    if accounted != counts.get("queried", 0):
        raise RuntimeError(
            f"Accounting mismatch for {definition.dag_id} {day_text}: queried {counts.get('queried')} but "
            f"sent+skipped+rejected+suppressed+duplicates+cooled_down = {accounted}: {json.dumps(counts)}"
        )
    return summary


def format_summary(summary: Mapping[str, Any]) -> str:
    """A few lines a person reads in the task log or the demo's output."""
    c = summary["counts"]
    lines = [
        f"{summary['dag_id']} {summary['logical_date']} ({summary['status']}): "
        f"{c.get('queried', 0)} leads queried, {c.get('sent', 0)} sent, {c.get('rejected', 0)} rejected, "
        f"{c.get('duplicates', 0)} duplicates, {c.get('suppressed', 0)} suppressed, "
        f"{c.get('cooled_down', 0)} cooled down, {c.get('skipped_late', 0)} skipped (late)"
        + (f", {c.get('dry_run_not_sent', 0)} in dry run" if c.get("dry_run_not_sent") else ""),
    ]
    if summary.get("rejected_by_reason"):
        reasons = ", ".join(f"{k}={v}" for k, v in summary["rejected_by_reason"].items())
        lines.append(f"  rejected by reason: {reasons}")
    for campaign in summary["campaigns"]:
        lines.append(
            f"  batch {campaign.get('batch_number')}: campaign {campaign.get('campaign_id') or '-'} "
            f"[{campaign.get('status', 'dry_run')}] {campaign.get('recipients', campaign.get('total_recipients'))} "
            f"recipients, scheduled_at {campaign.get('scheduled_at') or '-'}"
        )
    return "\n".join(lines)
