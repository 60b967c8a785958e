"""Recovery, by key, for a person: the commands that settle a batch whose outcome is unknown.

``python -m integra.ledger`` calls these; the operator's error messages name them. Each one keeps the
promise: a key that may still have a live worker is not released, a created one is not overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from integra.ledger import tables
from integra.ledger.idempotency import DEFAULT_STALE_AFTER, compare_and_set, get, set_created
from integra.ledger.status import MAY_EXIST, NOTHING_CREATED, Status
from integra.ledger.store import Ledger, clip, utc_now

RECOVER_COMMAND = "python -m integra.ledger {action} {key}{extra} --conn-id {conn_id}"


class RecoveryError(ValueError):
    """A recovery command that would break a promise, with what to do instead."""


def unsettled_on(ledger: Ledger, dag_id: str, interval_end: datetime) -> bool:
    """Whether a batch of this campaign day may or may not exist (``sending``/``unknown``): a person may
    still resend it from its batch file."""
    table = tables.campaigns
    query = sa.select(table.c.campaign_key).where(
        table.c.dag_id == dag_id,
        table.c.interval_end == interval_end,
        table.c.status.in_((Status.SENDING.value, Status.UNKNOWN.value)),
    )
    with ledger.engine.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None


def mark_created(ledger: Ledger, key: str, campaign_id: str) -> dict[str, Any]:
    """A person found the campaign in the panel: record it on the batch (its people refer to it) and no
    later attempt resends it; its people count as phoned for the cooldown and the cap from then on."""
    row = require(ledger, key)
    if row["status"] == Status.CREATED and row["campaign_id"] not in (None, campaign_id):
        raise RecoveryError(f"{key} is already created as campaign {row['campaign_id']}; nothing changed")
    set_created(ledger, key, campaign_id, scheduled_at=None, only_from=(*MAY_EXIST, *NOTHING_CREATED))
    return require(ledger, key)


def release_key(
    ledger: Ledger, key: str, *, note: str, force: bool = False, stale_after: timedelta = DEFAULT_STALE_AFTER
) -> dict[str, Any]:
    """A person checked the panel and found no campaign: the next attempt of the day may send it.

    A ``sending`` key younger than ``stale_after`` may have a live worker; it is refused unless ``force``.
    """
    row = require(ledger, key)
    if row["status"] not in (Status.SENDING, Status.UNKNOWN):
        raise RecoveryError(f"{key} is {row['status']}: only a sending or unknown key can be released")
    age = utc_now() - row["updated_at"]
    if row["status"] == Status.SENDING and age < stale_after and not force:
        raise RecoveryError(
            f"{key} was claimed {int(age.total_seconds())} s ago and may still be sending; wait until its task "
            "has ended (or pass --force if you are sure no worker holds it)"
        )
    with ledger.engine.begin() as conn:
        changed = conn.execute(
            compare_and_set(row).values(
                status=Status.NOT_CREATED.value, last_error=clip(f"released by a person: {note}"), updated_at=utc_now()
            )
        ).rowcount
    if changed != 1:
        raise RecoveryError(f"{key} changed while releasing it (now {require(ledger, key)['status']}); look again")
    return require(ledger, key)


def require(ledger: Ledger, key: str) -> dict[str, Any]:
    row = get(ledger, key)
    if row is None:
        raise RecoveryError(f"no batch with key {key!r} in the ledger at '{ledger.conn_id}'")
    return row


def unresolved(ledger: Ledger) -> list[dict[str, Any]]:
    """Every batch whose outcome a person must settle (sending or unknown), oldest first."""
    c = tables.campaigns.c
    query = (
        sa.select(tables.campaigns)
        .where(c.status.in_((Status.SENDING.value, Status.UNKNOWN.value)))
        .order_by(c.updated_at)
    )
    with ledger.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def recovery_commands(key: str, conn_id: str) -> tuple[str, str]:
    """(if the campaign exists, if it does not): the one command for each answer."""
    return (
        RECOVER_COMMAND.format(action="mark-created", key=key, extra=" <campaign_id>", conn_id=conn_id),
        RECOVER_COMMAND.format(action="release", key=key, extra="", conn_id=conn_id),
    )


def in_doubt_message(row: Mapping[str, Any], conn_id: str) -> str:
    exists, missing = recovery_commands(row["campaign_key"], conn_id)
    return (
        f"Campaign {row['name']!r} (key {row['campaign_key']}) was claimed by an earlier attempt "
        f"(status {row['status']}, attempts {row['attempts']}, last error: {row.get('last_error') or 'none'}) "
        "and its outcome is unknown, or another worker is sending it right now. Nothing was sent. Open the "
        f"Integra panel and look for a campaign with this name. If it exists, run: {exists} . If it does not, "
        f'run: {missing} (or trigger the day with resend_keys=["{row["campaign_key"]}"]), then clear this task.'
    )


def unknown_message(name: str, key: str, error: str, conn_id: str) -> str:
    exists, missing = recovery_commands(key, conn_id)
    return (
        f"Outcome unknown for campaign {name!r} (key {key}): {error} Retrying blindly could phone people twice. "
        "Before anything else, open the Integra panel and look for a campaign with this name. "
        f"If it exists, run: {exists} . If it does not, run: {missing} , then clear this task."
    )
