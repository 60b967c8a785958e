"""build_recipients: extracted leads → valid, unique, callable recipients in batch files.

Every lead ends in exactly one bucket: batched, rejected (with a reason, written to the ledger),
duplicate, suppressed or cooled down. Suppression and cooldown are decided here, by E.164 number,
against the ledger (and the campaign's own ``suppression_sql`` numbers), never by the warehouse.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integra import batches, scheduling
from integra.exceptions import CampaignDefinitionError
from integra.ledger import Ledger, history, retention
from integra.ledger.checks import NumberChecks
from integra.masking import mask_phone
from integra.pipeline.batching import BatchWriter
from integra.pipeline.extract import run_dir
from integra.pipeline.names import MAX_VARIABLE_LENGTH, clean_names, has_control
from integra.pipeline.zones import ZoneGroups

if TYPE_CHECKING:
    import pandas as pd

    from integra.definitions import CampaignDefinition
    from integra.policy.contact import ContactPolicy

log = logging.getLogger(__name__)

REASON_TEXT = {
    "missing_phone": "no phone number",
    "invalid_phone": "not a valid phone number for the default region or its country code",
    "not_callable": "a valid number of a type that cannot take calls (premium, shared cost, pager …)",
    "missing_name": "no name to greet the person with",
    "invalid_name": "the name contains control characters",
    "name_too_long": "the name is longer than max_name_length",
    "invalid_variable": "a dynamic variable has control characters or is over 500 characters",
    "missing_lead_id": "the lead has no id, so it could not be tracked in the ledger",
    "duplicate_phone": "another lead of the same day has this number; the one already batched (or the first) is called",
    "capped": "another campaign may phone this number within the contact policy's per_days",
}
COUNTS = ("queried", "batched", "rejected", "duplicates", "suppressed", "cooled_down", "capped", "seen_before")


def chunks(location: str, columns: Collection[str] | None = None, size: int = 100_000) -> Iterator[pd.DataFrame]:
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


def warehouse_suppression(definition: CampaignDefinition, extracted: Mapping[str, Any]) -> set[str]:
    """The E.164 numbers of the campaign's ``suppression_sql``, whatever format the warehouse keeps them in."""
    from integra.phones import normalize_phones

    found = extracted.get("suppression")
    numbers: set[str] = set()
    if not found:
        return numbers
    for frame in chunks(found["location"]):
        e164 = normalize_phones(frame[found["column"]], definition.default_region)["e164"]
        numbers.update(e164.dropna().astype(str).tolist())
    return numbers


def _rejection(base: Mapping[str, Any], lead: str, why: str, field: str, original: Any) -> dict[str, Any]:
    return {**base, "lead_id": lead, "reason": why, "field": field, "detail": REASON_TEXT.get(why, why), **original}


def build_recipients(
    definition: CampaignDefinition,
    extracted: Mapping[str, Any],
    context: Mapping[str, Any],
    policy: ContactPolicy | None = None,
) -> dict[str, Any]:
    """Turn extracted leads into batch files; returns the counts and one entry per batch.

    Leads already in a batch of this day that exists or may exist keep that batch (and its key), and
    their numbers stay theirs: a lead with another id and the same number is a duplicate, never re-sent.
    A number another campaign may phone within the contact ``policy``'s window is ``capped`` (checked
    again, race-safe, when each batch is claimed).
    """
    import pandas as pd

    from integra.phones import normalize_phones

    dry_run = bool((context.get("params") or {}).get("dry_run"))
    interval_end = scheduling.run_for(context)
    run_id = str(context.get("run_id") or "")
    cols = definition.columns
    ledger = Ledger(definition.ledger_conn_id)
    if policy is not None:  # a day whose look-back reaches pseudonymised history cannot be decided safely
        look_back = max(definition.look_back, policy.window)
        retention.check_history(interval_end - look_back, policy.retention_days)

    previous = history.day_members(ledger, definition.dag_id, interval_end)
    previous_by_lead = {row["lead_id"]: row for row in previous}
    previous_numbers = {row["phone_e164"] for row in previous}
    outside = warehouse_suppression(definition, extracted)
    counts: Counter[str] = Counter()
    rejected_by_reason: Counter[str] = Counter()
    seen_numbers: set[str] = set()
    writer = BatchWriter(
        run_dir(definition, context),
        definition.max_recipients_per_campaign,
        previous_by_lead,
        list(definition.dynamic_variables),
        ledger.digest_secret,
    )
    rules = definition.local_rules()
    try:
        definition.holidays.check()
    except ValueError as exc:
        raise CampaignDefinitionError(f"{Path(definition.source_file).name}: {exc}") from exc
    groups = ZoneGroups(rules, rules.calling_day(interval_end))
    since = interval_end - timedelta(days=definition.cooldown_days)
    requested = scheduling.base_scheduled_at(interval_end, send_time=definition.send_time, timezone=definition.timezone)
    checks = NumberChecks(
        ledger,
        dag_id=definition.dag_id,
        interval_end=interval_end,
        since=since,
        requested=requested,
        policy=policy,
    )
    base = {
        "dag_id": definition.dag_id,
        "interval_end": interval_end,
        "run_id": run_id,
        "recorded_at": datetime.now(UTC),
    }
    needed = {cols.lead_id, cols.phone, cols.name, *definition.dynamic_variables.values()}

    for frame in chunks(extracted["location"], needed):
        offset = counts["queried"]  # row numbers name leads that have no id
        counts["queried"] += len(frame)
        frame = frame.reset_index(drop=True)
        if definition.lookback_hours:  # leads an earlier day of this campaign already dealt with
            ids = _lead_ids(frame[cols.lead_id])
            with ledger.engine.connect() as conn:
                earlier = history.handled_earlier(
                    conn, dag_id=definition.dag_id, interval_end=interval_end, lead_ids=ids.dropna().unique().tolist()
                )
            seen = ids.isin(earlier).fillna(False).to_numpy(dtype=bool)
            counts["seen_before"] += int(seen.sum())
            frame = frame[~seen]

        lead_ids = _lead_ids(frame[cols.lead_id])
        phones = normalize_phones(frame[cols.phone], definition.default_region)
        names, name_reason = clean_names(
            frame[cols.name], title_case=definition.title_case_names, max_length=definition.max_name_length
        )
        reason = phones["reason"].astype("string")
        field = pd.Series("phone", index=frame.index, dtype="string")
        reason = reason.fillna(name_reason)
        field = field.mask(phones["reason"].isna() & name_reason.notna(), "name")
        variables = {}
        for variable, column in definition.dynamic_variables.items():
            values = frame[column].astype("string").fillna("").str.strip()
            bad = has_control(values) | values.str.len().gt(MAX_VARIABLE_LENGTH)
            field = field.mask(reason.isna() & bad, f"dynamic_variables.{variable}")
            reason = reason.mask(reason.isna() & bad, "invalid_variable")
            variables[variable] = values
        missing_id = lead_ids.isna() | lead_ids.eq("")
        field = field.mask(missing_id, "lead_id")
        reason = reason.mask(missing_id, "missing_lead_id")

        rejected = reason.notna()
        originals = {
            "phone": frame[cols.phone][rejected].tolist(),
            "name": frame[cols.name][rejected].tolist(),
            "lead_id": lead_ids[rejected].tolist(),
        }
        no_original = [None] * len(originals["lead_id"])  # a dynamic variable's value is not kept
        rejections = [
            _rejection(
                base,
                lead if not no_id else f"row:{offset + i}",
                why,
                where,
                {"original_value": _original(originals.get(where, no_original)[n])},
            )
            for n, (i, lead, no_id, why, where) in enumerate(
                zip(
                    frame.index[rejected],
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

        # Duplicates. A number already in a batch of this day belongs to the lead in that batch; then the
        # first lead with a number wins, within the chunk and across chunks.
        sticky = _in_set(good["lead_id"], previous_by_lead.keys())
        dup = _in_set(good["phone_number"], previous_numbers) & ~sticky
        rest = good["phone_number"][~dup]  # a row already set aside never counts as a number's first holder
        later = rest.duplicated(keep="first") | _in_set(rest, seen_numbers)
        dup[later.index[later]] = True
        rejections += [
            _rejection(base, str(lead), "duplicate_phone", "phone", {"original_value": mask_phone(str(number))})
            for lead, number in zip(good["lead_id"][dup].tolist(), good["phone_number"][dup].tolist(), strict=True)
        ]
        counts["duplicates"] += int(dup.sum())
        good, sticky = good[~dup], sticky[~dup]
        numbers = good["phone_number"].tolist()
        seen_numbers.update(numbers)

        # The promises, by E.164 number: suppressed (ledger list or the campaign's query), or phoned by
        # this campaign on another day within the cooldown (any batch that may exist).
        new = sorted(set(good["phone_number"][~sticky].tolist()))
        suppressed, recent, capped = checks.check(numbers, new)
        suppressed |= outside & set(numbers)
        capped = {n: keys for n, keys in capped.items() if n not in suppressed and n not in recent}
        is_suppressed = good["phone_number"].isin(suppressed)
        is_recent = good["phone_number"].isin(recent - suppressed)
        is_capped = good["phone_number"].isin(capped.keys()) & ~sticky
        counts["suppressed"] += int(is_suppressed.sum())
        counts["cooled_down"] += int(is_recent.sum())
        counts["capped"] += int(is_capped.sum())
        rejections += [
            _rejection(base, str(lead), "capped", "phone", {"original_value": mask_phone(str(number))})
            | {"detail": history.capped_detail(capped[str(number)])[:500]}
            for lead, number in zip(
                good["lead_id"][is_capped].tolist(), good["phone_number"][is_capped].tolist(), strict=True
            )
        ]
        keep = ~(is_suppressed | is_recent | is_capped)

        if rejections and not dry_run:
            ledger.record_rejections(rejections)
        counts["rejected"] += sum(1 for r in rejections if r["reason"] not in ("duplicate_phone", "capped"))
        kept = good[keep]
        group, kept["locality"] = groups.assign(kept["phone_number"])
        writer.add(kept, sticky[keep], group)

    batch_list = writer.close(definition, interval_end, groups)
    counts["batched"] = sum(b["recipients_count"] for b in batch_list)
    summary = {
        "counts": {k: counts[k] for k in COUNTS},
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


def _in_set(values: pd.Series, members: Collection[str]) -> pd.Series:
    """Membership in a large Python set, in O(len(values)): ``Series.isin`` copies the whole set each call."""
    import numpy as np
    import pandas as pd

    if not members:
        return pd.Series(False, index=values.index)
    found = np.fromiter((value in members for value in values.tolist()), dtype=bool, count=len(values))
    return pd.Series(found, index=values.index)


def _original(value: Any) -> str | None:
    """The value that caused the rejection, truncated: enough to fix the source row.

    A NUL is written as the four characters ``\\x00``: PostgreSQL text cannot hold it, and a warehouse
    (SQLite, say) may.
    """
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    return without_nul(str(value)[:200])


def _lead_ids(values: pd.Series) -> pd.Series:
    """Lead ids as ledger keys: stripped text, a NUL (PostgreSQL text cannot hold one) written as ``\\x00``."""
    return values.astype("string").str.strip().str.replace("\x00", "\\x00", regex=False)


def without_nul(text: str) -> str:
    return text.replace("\x00", "\\x00")
