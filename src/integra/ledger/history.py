"""Who may have been phoned: the ledger's look-ups behind same-day membership, the cooldown and the cap.

A person counts as phoned as soon as their batch may exist (created, sending, unknown: ``MAY_EXIST``),
by phone number as well as by lead id; these are the queries that apply that rule before a send.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from integra.ledger import tables
from integra.ledger.status import MAY_EXIST
from integra.ledger.store import LOOKUP_CHUNK, Ledger, at_most, in_chunks

if TYPE_CHECKING:
    from integra.policy.contact import ContactPolicy


def day_members(ledger: Ledger, dag_id: str, interval_end: datetime) -> list[dict[str, Any]]:
    """People already in a batch of this day that exists or may exist, with their batch."""
    r, c = tables.recipients.c, tables.campaigns.c
    query = (
        sa.select(r.lead_id, r.phone_e164, c.campaign_key, c.batch_number, c.status)
        .join_from(tables.recipients, tables.campaigns, r.campaign_key == c.campaign_key)
        .where(c.dag_id == dag_id, c.interval_end == interval_end, c.status.in_(MAY_EXIST))
    )
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def handled_earlier(
    connection: sa.Connection, *, dag_id: str, interval_end: datetime, lead_ids: Sequence[str]
) -> set[str]:
    """Which ``lead_ids`` an earlier day of this campaign already dealt with: in a batch that may exist,
    or rejected. A run that looks back over the previous day's window reads them again; it must not
    phone them again, nor count them twice."""
    r, c, x = tables.recipients.c, tables.campaigns.c, tables.rejected_leads.c
    found: set[str] = set()
    for start in range(0, len(lead_ids), LOOKUP_CHUNK):
        chunk = lead_ids[start : start + LOOKUP_CHUNK]
        batched = (
            sa.select(r.lead_id)
            .join_from(tables.recipients, tables.campaigns, r.campaign_key == c.campaign_key)
            .where(r.dag_id == dag_id, r.lead_id.in_(chunk), r.interval_end != interval_end, c.status.in_(MAY_EXIST))
        )
        rejected = sa.select(x.lead_id).where(x.dag_id == dag_id, x.lead_id.in_(chunk), x.interval_end != interval_end)
        found.update(connection.execute(batched.union(rejected)).scalars())
    return found


def cooled_down(
    connection: sa.Connection, *, dag_id: str, since: datetime, interval_end: datetime, numbers: Sequence[str]
) -> set[str]:
    """Which ``numbers`` this campaign may have phoned since ``since`` on another day.

    Counts every batch that exists or may exist (created, sending, unknown), not only confirmed ones:
    a batch whose answer was lost may well have phoned its people.
    """
    query = cooled_down_query(dag_id=dag_id, since=since, interval_end=interval_end)
    return {row[0] for row in in_chunks(connection, query, tables.recipients.c.phone_e164, numbers)}


def cooled_down_query(*, dag_id: str, since: datetime, interval_end: datetime) -> sa.Select[Any]:
    """The numbers of :func:`cooled_down`, for any number."""
    r, c = tables.recipients.c, tables.campaigns.c
    return (
        sa.select(r.phone_e164)
        .distinct()
        .join_from(tables.recipients, tables.campaigns, r.campaign_key == c.campaign_key)
        .where(r.dag_id == dag_id, r.claimed_at >= since, r.interval_end != interval_end, c.status.in_(MAY_EXIST))
    )


def over_cap(
    connection: sa.Connection,
    *,
    dag_id: str,
    interval_end: datetime,
    scheduled_at: datetime,
    numbers: Sequence[str],
    policy: ContactPolicy,
) -> dict[str, list[str]]:
    """Numbers already in ``max_calls_per_number`` batches of *other* campaign days that may call them
    within ``per_days`` of ``scheduled_at``; each with the keys of those batches.

    This campaign's own batches of the same day do not count: they are this very call.
    """
    query = cap_holders_query(dag_id=dag_id, interval_end=interval_end, scheduled_at=scheduled_at, policy=policy)
    few = at_most(connection, query, LOOKUP_CHUNK)  # a short history: read it once, intersect here
    if few is not None:
        wanted = set(numbers)
        return capped_numbers((row for row in few if row[0] in wanted), policy)
    return capped_numbers(in_chunks(connection, query, tables.recipients.c.phone_e164, numbers), policy)


def cap_holders_query(
    *, dag_id: str, interval_end: datetime, scheduled_at: datetime, policy: ContactPolicy
) -> sa.Select[Any]:
    """(number, key) of every person in another campaign day's batch that may call within the window."""
    r, c = tables.recipients.c, tables.campaigns.c
    return (
        sa.select(r.phone_e164, c.campaign_key)
        .join_from(tables.recipients, tables.campaigns, r.campaign_key == c.campaign_key)
        .where(
            c.status.in_(MAY_EXIST),
            c.scheduled_at > scheduled_at - policy.window,
            c.scheduled_at < scheduled_at + policy.window,
            ~sa.and_(c.dag_id == dag_id, c.interval_end == interval_end),
        )
    )


def capped_numbers(holders: Iterable[Sequence[Any]], policy: ContactPolicy) -> dict[str, list[str]]:
    """Numbers held by at least ``max_calls_per_number`` batches, with those batches' keys."""
    keys: defaultdict[str, list[str]] = defaultdict(list)
    for number, key in holders:
        keys[number].append(key)
    return {n: sorted(k) for n, k in keys.items() if len(k) >= policy.max_calls_per_number}


def capped_detail(keys: Sequence[str]) -> str:
    return f"over the contact policy's cap: already in {', '.join(keys)}"
