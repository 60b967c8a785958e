"""The shape of a webhook event, as assumed in :mod:`integra.contract`, read leniently.

The envelope is what the receiver needs to store a delivery once (its id and type). The ``data`` of
each event type is read only when the event is processed, so a delivery whose data this code does not
understand is still stored, and processed again once the code is corrected.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from integra import contract

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
M = TypeVar("M", bound=BaseModel)


class EventError(ValueError):
    """An event that cannot be processed as its type says; stored with this reason, processed later."""


class Envelope(BaseModel):
    """The fields every event is assumed to have; unknown fields are kept in the raw payload only."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event_id: Annotated[str, Field(alias=contract.EVENT_ID_FIELD, min_length=1, max_length=100)]
    event_type: Annotated[str, Field(alias=contract.EVENT_TYPE_FIELD, min_length=1, max_length=60)]
    created_at: Annotated[datetime | None, Field(alias=contract.EVENT_CREATED_FIELD)] = None
    data: Annotated[dict[str, Any], Field(alias=contract.EVENT_DATA_FIELD)] = Field(default_factory=dict)


def read_envelope(body: bytes) -> tuple[Envelope | None, str]:
    """The event's envelope and its id; a body without a usable id is keyed by its own digest so that
    it is stored once too, with ``None`` for the envelope (it is recorded as failed, never dropped)."""
    try:
        envelope = Envelope.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        return None, "sha256:" + hashlib.sha256(body).hexdigest()[:64]
    return envelope, envelope.event_id


class CallCompleted(BaseModel):
    """``call.completed``: one call attempt to one recipient of a campaign."""

    model_config = ConfigDict(extra="ignore")

    campaign_id: Annotated[str, Field(min_length=1, max_length=64)]
    phone_number: str
    attempt: Annotated[int, Field(ge=1, le=1000)] = 1
    call_id: Annotated[str | None, Field(max_length=100)] = None
    status: Annotated[str, Field(min_length=1, max_length=40)]
    disposition: Annotated[str | None, Field(max_length=100)] = None
    duration_seconds: Annotated[int | None, Field(ge=0)] = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        text = str(value).strip()
        if not E164.match(text):
            raise ValueError("phone_number is not an E.164 number")
        return text

    @property
    def answered(self) -> bool:
        return self.status.strip().lower() in contract.CALL_ANSWERED_STATUSES


class CampaignProgress(BaseModel):
    """``campaign.started`` / ``campaign.completed``."""

    model_config = ConfigDict(extra="ignore")

    campaign_id: Annotated[str, Field(min_length=1, max_length=64)]
    started_at: datetime | None = None
    completed_at: datetime | None = None
    calls: Annotated[int | None, Field(ge=0)] = None


def data_of(model: type[M], envelope: Envelope) -> M:
    """The event's ``data`` as ``model``, or an :class:`EventError` naming the fields (never their values)."""
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) or "data" for err in exc.errors()[:5])
        raise EventError(f"{envelope.event_type} data not understood (fields: {fields})") from None
