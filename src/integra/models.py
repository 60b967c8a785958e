"""Pydantic models of the Integra API contract (shared/INTEGRA_API.md, "Documented").

They mirror the documented field names exactly, so a payload built from them is the payload the
API expects, and a bad payload fails here, naming the field, before any HTTP request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_serializer,
    field_validator,
)

from integra.contract import MAX_RECIPIENTS
from integra.exceptions import IntegraConfigError

E164_PATTERN = r"^\+[1-9][0-9]{7,14}$"
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class _Contract(BaseModel):
    # hide_input_in_errors: a validation error must never carry a phone number into a traceback.
    # defer_build: the DAG files import this module; the validators are built on first use, in a task.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, defer_build=True)


class Recipient(_Contract):
    """One person to call."""

    phone_number: Annotated[StrictStr, Field(pattern=E164_PATTERN)]
    recipient_name: Annotated[StrictStr, Field(min_length=1)]
    dynamic_variables: dict[StrictStr, StrictStr] = Field(default_factory=dict)

    @field_validator("recipient_name")
    @classmethod
    def _readable_name(cls, value: str) -> str:
        # The agent says this name aloud: blank or control characters mean broken data upstream.
        if not value.strip():
            raise ValueError("must not be blank")
        if _CONTROL_CHARS.search(value):
            raise ValueError("must not contain control characters")
        return value


class CampaignConfig(_Contract):
    """Optional campaign settings; types are documented, ranges are not, so only types are checked."""

    call_timeout: StrictInt | None = None
    voicemail_mode: StrictStr | None = None
    outbound_auto_greet: StrictBool | None = None
    max_concurrent: StrictInt | None = None


class CampaignRequest(_Contract):
    """Body of ``POST /campaigns``."""

    name: Annotated[StrictStr, Field(min_length=1)]
    project_id: UUID
    agent_id: UUID
    phone_number_id: UUID
    scheduled_at: AwareDatetime
    recipients: Annotated[list[Recipient], Field(min_length=1, max_length=MAX_RECIPIENTS)]
    config: CampaignConfig | None = None

    @field_serializer("scheduled_at")
    def _iso_with_offset(self, value: AwareDatetime) -> str:
        return value.isoformat(timespec="seconds")

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready body; an absent config is left out rather than sent as null."""
        return self.model_dump(mode="json", exclude_none=True)


class CampaignCreated(BaseModel):
    """The documented success body; unknown extra fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    name: str
    status: str
    total_recipients: int
    scheduled_at: AwareDatetime
    created_at: AwareDatetime


def field_path(loc: Sequence[int | str]) -> str:
    """``('recipients', 3, 'phone_number')`` → ``recipients[3].phone_number``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<body>"


def describe_validation_error(exc: ValidationError, *, limit: int = 5) -> str:
    """A message a person can act on: each bad field with its rule, never the bad value itself."""
    problems = [f"{field_path(err['loc'])}: {err['msg']}" for err in exc.errors()[:limit]]
    more = exc.error_count() - len(problems)
    if more > 0:
        problems.append(f"... and {more} more")
    return "; ".join(problems)


def build_request(data: Mapping[str, Any]) -> CampaignRequest:
    """Validate a request body, turning pydantic's error into one that names the fields."""
    try:
        return CampaignRequest.model_validate(data)
    except ValidationError as exc:
        raise IntegraConfigError(f"Invalid campaign request: {describe_validation_error(exc)}") from exc
