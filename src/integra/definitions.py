"""Campaign definitions: one YAML file per recurring campaign, validated before a DAG exists.

Validation runs at DAG parse time, so it stays cheap (pydantic and YAML only: no database, no
network, no pandas) and every message names the file, the field and the fix.
"""

from __future__ import annotations

import functools
import os
import re
import string
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from integra import scheduling
from integra.contract import MAX_RECIPIENTS
from integra.exceptions import CampaignDefinitionError
from integra.models import CampaignConfig, field_path
from integra.paths import include_dir
from integra.policy.calendars import HolidaySettings
from integra.policy.volume import ApprovalSettings

if TYPE_CHECKING:
    from integra.policy.contact import ContactPolicy
    from integra.policy.local_time import LocalRules

# LibYAML's safe loader when PyYAML was built with it (about 10x faster), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def definitions_dir() -> Path:
    """Where campaign definitions live: ``$INTEGRA_CAMPAIGNS_DIR`` or include/campaigns."""
    return Path(os.environ.get("INTEGRA_CAMPAIGNS_DIR") or include_dir() / "campaigns")


def sql_dir() -> Path:
    """Where their SQL files live: ``$INTEGRA_SQL_DIR`` or include/sql."""
    return Path(os.environ.get("INTEGRA_SQL_DIR") or include_dir() / "sql")


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME_FIELDS = {"date", "batch", "batches", "dag_id", "zone"}


def _identifier(value: str) -> str:
    """Column names are put into SQL as identifiers, so only plain names are allowed."""
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a plain column name (letters, digits, underscore)")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=63)]


class _Strict(BaseModel):
    # defer_build: the validator is built when the first definition is validated, not on import.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Schedule(_Strict):
    """When the DAG runs; the data interval is the day before the run."""

    cron: str = "0 7 * * *"
    timezone: str = "America/Sao_Paulo"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter  # small, already an Airflow dependency

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression; e.g. '0 7 * * *' runs daily at 07:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _timezone(value)


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA timezone; use e.g. America/Sao_Paulo") from exc
    return value


class Columns(_Strict):
    """Which result columns of the leads query hold what."""

    lead_id: Identifier = "lead_id"
    phone: Identifier = "phone"
    name: Identifier = "name"

    @field_validator("lead_id", "phone", "name")
    @classmethod
    def _plain(cls, value: str) -> str:
        return _identifier(value)


class CampaignDefinition(_Strict):
    """Everything one recurring campaign needs; ``include/campaigns/*.yaml``."""

    dag_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,200}$")]
    description: str = ""
    owner: str = "integra"
    tags: list[str] = Field(default_factory=lambda: ["integra"])
    schedule: Schedule = Field(default_factory=Schedule)
    start_date: date
    catchup: bool = False
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    retry_delay_minutes: Annotated[float, Field(gt=0, le=1440)] = 5

    warehouse_conn_id: str = "integra_warehouse"
    ledger_conn_id: str = "integra_ledger"
    #: Where the outcomes DAG writes call outcomes; the warehouse by default (it may be read-only there).
    outcomes_conn_id: str | None = None
    integra_conn_id: str = "integra_default"
    sql: str
    suppression_sql: str | None = None
    columns: Columns = Field(default_factory=Columns)
    dynamic_variables: dict[str, Identifier] = Field(default_factory=dict)

    project_id: UUID
    agent_id: UUID
    phone_number_id: UUID
    config: CampaignConfig | None = None
    name_template: str = "{dag_id} {date} ({batch}/{batches})"

    send_time: time = time(10, 0)
    timezone: str = "America/Sao_Paulo"
    calling_window: dict[str, str | None] | None = None
    state_rules: bool = True
    holidays: HolidaySettings = Field(default_factory=HolidaySettings)
    late_policy: scheduling.LatePolicy = scheduling.LatePolicy.SHIFT
    late_grace_hours: Annotated[float, Field(ge=0, le=72)] = 6

    default_region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "BR"
    title_case_names: bool = False
    max_name_length: Annotated[int, Field(ge=1, le=1000)] = 120
    max_recipients_per_campaign: Annotated[int, Field(ge=1, le=MAX_RECIPIENTS)] = MAX_RECIPIENTS
    #: At most this many mapped ``create_campaign`` instances per run; more batches share them (each batch
    #: keeps its own key, claim and POST). Fewer instances cost less scheduling; more send in parallel.
    max_create_tasks: Annotated[int, Field(ge=1, le=1024)] = 4
    cooldown_days: Annotated[int, Field(ge=0, le=365)] = 7
    acknowledge_no_cooldown: bool = False
    extract_chunk_rows: Annotated[int, Field(ge=100, le=1_000_000)] = 50_000
    lookback_hours: Annotated[float, Field(ge=0, le=168)] = 0
    approval: ApprovalSettings | None = None
    data_path: str | None = None
    #: The run's lead and batch files are deleted once the run is recorded, unless this is true.
    keep_run_files: bool = False
    failure_webhook_conn_id: str | None = None

    source_file: str = Field(default="", exclude=True)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _timezone(value)

    @field_validator("dynamic_variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        for variable, column in value.items():
            if not variable or not variable.replace("_", "a").isalnum():
                raise ValueError(f"variable name {variable!r} must be letters, digits or underscore")
            _identifier(column)
        return value

    @field_validator("name_template")
    @classmethod
    def _name_template(cls, value: str) -> str:
        names = {field for _, field, _, _ in string.Formatter().parse(value) if field is not None}
        unknown = names - _NAME_FIELDS
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {sorted(unknown)}; "
                "use only {date}, {batch}, {batches}, {zone}, {dag_id}"
            )
        return value

    @field_validator("sql", "suppression_sql")
    @classmethod
    def _sql_file(cls, value: str | None) -> str | None:
        if value is None:
            return None
        folder = sql_dir().resolve()
        path = (folder / value).resolve()
        if folder not in path.parents:
            raise ValueError(f"{value!r} must be a file inside {folder}")
        if not path.is_file():
            raise ValueError(f"{folder / value} does not exist; create it or fix the file name")
        return value

    @property
    def look_back(self) -> timedelta:
        """How far back in the ledger a run of this campaign looks to decide who may be called."""
        return max(timedelta(days=self.cooldown_days), timedelta(hours=self.lookback_hours))

    def check_policy(self, policy: ContactPolicy) -> None:
        """A campaign that looks back further than the ledger keeps full numbers cannot keep its promises."""
        days = max(self.look_back / timedelta(days=1), float(policy.per_days))
        if not policy.look_back_fits(days):
            raise CampaignDefinitionError(
                f"{Path(self.source_file).name}: cooldown_days/lookback_hours look back {days:g} days, but the contact "
                f"policy's retention_days ({policy.retention_days}) pseudonymises numbers after that: lower "
                "cooldown_days or raise retention_days"
            )

    @model_validator(mode="after")
    def _cooldown(self) -> CampaignDefinition:
        if self.cooldown_days == 0 and not self.acknowledge_no_cooldown:
            raise ValueError(
                "cooldown_days: 0 lets this campaign phone the same number again on the next run; if that is "
                "intended, add acknowledge_no_cooldown: true, otherwise set cooldown_days to 1 or more"
            )
        return self

    @model_validator(mode="after")
    def _one_notion_of_time(self) -> CampaignDefinition:
        """The DAG must fire before ``send_time`` on the calling day, in the campaign's own zone.

        A run is for the day it fires (its data interval's end). A cron that fires after ``send_time``
        there (``0 2 * * *`` UTC is 23:00 the day before in São Paulo) makes every day late, and the
        late policy would skip them all with a green DAG.
        """
        from croniter import croniter

        schedule_zone, campaign_zone = ZoneInfo(self.schedule.timezone), ZoneInfo(self.timezone)
        fires = croniter(self.schedule.cron, self.start_datetime.astimezone(schedule_zone))
        for _ in range(14):  # two weeks: every weekday, and a DST change if the zones have one soon
            fire = fires.get_next(datetime).astimezone(campaign_zone)
            if fire.time() >= self.send_time:
                raise ValueError(
                    f"schedule.cron / schedule.timezone: the DAG fires at {fire:%H:%M} {self.timezone} "
                    f"({self.schedule.cron!r} in {self.schedule.timezone}), not before send_time "
                    f"{self.send_time:%H:%M} of that day in timezone {self.timezone}, so every day would be late "
                    "and skipped. Fire earlier on the calling day (e.g. cron '0 7 * * *' with schedule.timezone "
                    f"{self.timezone}) or change send_time/timezone"
                )
        return self

    @model_validator(mode="after")
    def _window(self) -> CampaignDefinition:
        try:
            self.window()
        except ValueError as exc:
            raise ValueError(f"calling_window: {exc}") from exc
        return self

    # -- derived --------------------------------------------------------------------------------

    def window(self) -> scheduling.CallingWindow:
        """The campaign's own hours in its own zone, closed on the ``extra`` holidays only."""
        if self.calling_window is None:
            default = scheduling.CallingWindow.default(self.timezone)
            return scheduling.CallingWindow(
                hours=default.hours, holidays=frozenset(self.holidays.extra), timezone=self.timezone
            )
        return scheduling.CallingWindow.from_spec(self.calling_window, self.holidays.extra, timezone=self.timezone)

    def local_rules(self) -> LocalRules:
        """The rules each recipient is called under, in their own zone (see ``integra.policy.local_time``)."""
        from integra.policy.local_time import LocalRules

        return LocalRules.from_spec(
            self.calling_window, self.holidays, state_rules=self.state_rules, timezone=self.timezone
        )

    @property
    def sql_path(self) -> Path:
        return sql_dir() / self.sql

    @property
    def suppression_sql_path(self) -> Path | None:
        return None if self.suppression_sql is None else sql_dir() / self.suppression_sql

    @property
    def late_grace(self) -> timedelta:
        return timedelta(hours=self.late_grace_hours)

    @property
    def start_datetime(self) -> datetime:
        return datetime.combine(self.start_date, time(0), tzinfo=ZoneInfo(self.schedule.timezone))

    def campaign_name(self, *, day: str, batch: int, batches: int, zone: str = "") -> str:
        """The template filled in; a template without ``{zone}`` gets the zone group appended."""
        name = self.name_template.format(date=day, batch=batch, batches=batches, dag_id=self.dag_id, zone=zone)
        return name if not zone or "{zone}" in self.name_template else f"{name} · {zone}"


def load_definition(path: Path) -> CampaignDefinition:
    """Parse and validate one file; any problem becomes a :class:`CampaignDefinitionError`.

    Both DAG files of a parse read every definition: an unchanged file (same size and modification
    time, same SQL folder, its SQL file still there) is validated once per process.
    """
    try:
        stat = path.stat()
    except OSError:
        return _validate(path)  # raises, naming the file
    definition = _validated(str(path), stat.st_mtime_ns, stat.st_size, str(sql_dir()))
    sql_files = [definition.sql_path, definition.suppression_sql_path]
    if not all(
        p.is_file() for p in sql_files if p is not None
    ):  # removed since it was validated: report it as the first time
        return _validate(path)
    return definition


@functools.lru_cache(maxsize=256)
def _validated(location: str, mtime_ns: int, size: int, sql_folder: str) -> CampaignDefinition:
    """:func:`_validate`, remembered per file state (the arguments after the path are the cache key)."""
    return _validate(Path(location))


def _validate(path: Path) -> CampaignDefinition:
    """Read and validate, uncached; the messages name the file, the field and the fix."""
    where = path.name
    try:
        raw: Any = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except OSError as exc:
        raise CampaignDefinitionError(f"{where}: cannot read the file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CampaignDefinitionError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise CampaignDefinitionError(f"{where}: expected a mapping of fields (dag_id: ..., sql: ...)")
    try:
        definition = CampaignDefinition.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:8]:
            field = field_path(err["loc"]) if err["loc"] else "<file>"
            hint = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                hint = "required: add it to the file"
            elif err["type"] == "extra_forbidden":
                hint = "unknown field: check the spelling against the README's campaign reference"
            problems.append(f"{field}: {hint}")
        raise CampaignDefinitionError(f"{where}: invalid campaign definition: " + "; ".join(problems)) from exc
    return definition.model_copy(update={"source_file": str(path)})


def definition_files(directory: Path | None = None) -> list[Path]:
    folder = directory or definitions_dir()
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
