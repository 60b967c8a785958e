"""A batch's status in ``integra_campaigns``, and which statuses count its people as phoned.

Shared by the claim's state machine (:mod:`integra.ledger.idempotency`), the history look-ups
(:mod:`integra.ledger.history`), recovery and the campaigns page.
"""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    SENDING = "sending"
    CREATED = "created"
    NOT_CREATED = "not_created"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


#: Batches that exist or may exist: their people count as called.
MAY_EXIST = (Status.CREATED.value, Status.SENDING.value, Status.UNKNOWN.value)
#: Batches known to have created nothing: a later attempt may take them again.
NOTHING_CREATED = (Status.NOT_CREATED.value, Status.SKIPPED.value)
