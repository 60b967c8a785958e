"""When a day's volume is unusual enough that a person must say yes before anyone is phoned.

A broken query or a fanned-out join turns 500 calls into 50,000; a swapped table turns 5,000 into 12.
Both are caught before the POST: over ``max_recipients``, or further than ``max_deviation`` from the
median of the campaign's recent good days (either way), once there are ``min_history`` of them.
Validated at DAG parse time with pydantic alone.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ApprovalSettings(BaseModel):
    """``approval:`` of a definition; absent means no gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A day that would send more than this many people waits for a person.
    max_recipients: Annotated[int, Field(ge=1)] | None = None
    #: A day further than this fraction from the recent median (0.5 = below half or above 1.5×) waits too.
    max_deviation: Annotated[float, Field(gt=0, le=100)] | None = None
    #: How many of the campaign's latest good days (status ``ok`` in ``integra_runs``) make the median.
    history_days: Annotated[int, Field(ge=1, le=90)] = 14
    #: Fewer good days than this: the deviation check does not apply yet (``max_recipients`` still does).
    min_history: Annotated[int, Field(ge=1, le=90)] = 5
    #: How long a request waits before it is rejected; never past the close of the day's calling window.
    timeout_hours: Annotated[float, Field(gt=0, le=24)] = 3
    #: Who may answer (Airflow user ids); empty: anyone with access to the DAG.
    assigned_users: tuple[str, ...] = ()
    #: Masked sample recipients shown in the request.
    sample_size: Annotated[int, Field(ge=0, le=20)] = 5

    @model_validator(mode="after")
    def _something_to_check(self) -> ApprovalSettings:
        if self.max_recipients is None and self.max_deviation is None:
            raise ValueError("set max_recipients, max_deviation or both (e.g. max_deviation: 0.5)")
        if self.min_history > self.history_days:
            raise ValueError(f"min_history ({self.min_history}) cannot exceed history_days ({self.history_days})")
        return self


@dataclass(frozen=True)
class VolumeCheck:
    """The outcome: whether a person must decide, and the reasons in words they can act on."""

    would_send: int
    baseline: float | None
    history: int
    reasons: tuple[str, ...]

    @property
    def needs_approval(self) -> bool:
        return bool(self.reasons)


def check_volume(settings: ApprovalSettings, would_send: int, recent: Sequence[int]) -> VolumeCheck:
    """Compare the day's would-send count with the absolute cap and the recent days' median."""
    reasons = []
    if settings.max_recipients is not None and would_send > settings.max_recipients:
        reasons.append(f"{would_send} people would be phoned, over max_recipients {settings.max_recipients}")
    baseline = float(statistics.median(recent)) if recent else None
    if settings.max_deviation is not None and baseline is not None and len(recent) >= settings.min_history:
        low, high = baseline * (1 - settings.max_deviation), baseline * (1 + settings.max_deviation)
        if not low <= would_send <= high:
            reasons.append(
                f"{would_send} people would be phoned, outside {low:.0f}–{high:.0f} "
                f"(median {baseline:.0f} of the last {len(recent)} good days ± {settings.max_deviation:.0%})"
            )
    return VolumeCheck(would_send=would_send, baseline=baseline, history=len(recent), reasons=tuple(reasons))
