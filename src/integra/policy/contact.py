"""The contact policy: at most ``max_calls_per_number`` calls to a number within ``per_days``, across
every campaign that uses the same ledger.

One YAML file (``include/contact_policy.yaml``, or ``$INTEGRA_CONTACT_POLICY``), validated when the
DAGs are parsed: a bad file is an import error that names the field and the fix, like a definition.
The cap itself is enforced by the ledger when a batch is claimed (see ``integra.ledger.idempotency``).
"""

from __future__ import annotations

import functools
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from integra.exceptions import IntegraConfigError
from integra.paths import include_dir

ENV = "INTEGRA_CONTACT_POLICY"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ContactPolicyError(IntegraConfigError):
    """The contact policy file is invalid; the message names the file, the field and the fix."""


class ContactPolicy(BaseModel):
    """How often one number may be phoned, whichever campaign phones it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_calls_per_number: Annotated[int, Field(ge=1, le=100)] = 1
    per_days: Annotated[int, Field(ge=1, le=365)] = 1
    #: Call dispositions that put the number on the suppression list when Integra reports them.
    opt_out_dispositions: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = (
        "do_not_call",
        "opt_out",
        "wrong_number",
    )

    #: After this many days the ledger keeps no full number or name (LGPD data minimisation); None: never.
    retention_days: Annotated[int | None, Field(ge=2, le=3650)] = None

    @model_validator(mode="after")
    def _retention_outlives_the_cap(self) -> ContactPolicy:
        if self.retention_days is not None and self.retention_days <= self.per_days:
            raise ValueError(
                f"retention_days ({self.retention_days}) must be longer than per_days ({self.per_days}): the cap "
                "looks back per_days and needs the numbers of that period"
            )
        return self

    def look_back_fits(self, days: float) -> bool:
        """Whether a look-back of ``days`` stays within the history retention keeps in full."""
        return self.retention_days is None or days < self.retention_days

    def opts_out(self, disposition: str | None) -> bool:
        """Whether a call that ended with ``disposition`` means: never phone this number again."""
        return bool(disposition) and str(disposition).strip().lower() in {d.lower() for d in self.opt_out_dispositions}

    @property
    def window(self) -> timedelta:
        """Two calls closer than this (by their ``scheduled_at``) count against the same cap."""
        return timedelta(days=self.per_days)


def policy_path() -> Path:
    return Path(os.environ.get(ENV) or include_dir() / "contact_policy.yaml")


def load_policy(path: Path | None = None) -> ContactPolicy:
    """The policy in force; a missing default file means the defaults (one call per number per day)."""
    chosen = path or policy_path()
    try:
        stat = chosen.stat()
    except FileNotFoundError:
        if ENV in os.environ and path is None:
            raise ContactPolicyError(
                f"{ENV}={os.environ[ENV]}: no such file; point it at a contact policy YAML or unset it"
            ) from None
        return ContactPolicy()
    return _load(str(chosen), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _load(location: str, _mtime_ns: int, _size: int) -> ContactPolicy:
    name = Path(location).name
    try:
        raw: Any = yaml.load(Path(location).read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        raise ContactPolicyError(f"{name}: not valid YAML: {exc}") from exc
    try:
        return ContactPolicy.model_validate(raw or {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:8]:
            field = ".".join(str(part) for part in err["loc"]) or "<file>"
            hint = err["msg"]
            if err["type"] == "extra_forbidden":
                hint = f"unknown field: the policy knows {', '.join(ContactPolicy.model_fields)}"
            problems.append(f"{field}: {hint}")
        raise ContactPolicyError(f"{name}: invalid contact policy: " + "; ".join(problems)) from exc
