"""Holidays from the ``holidays`` package: the country's and the recipient's state's, plus extra dates.

Carnival, Corpus Christi and Good Friday move every year and each state has its own days, so no one
types them by hand. The settings are validated at DAG parse time with pydantic alone; the package
itself (about 0.2 s to import) is loaded only by the tasks that decide when to call.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SubdivisionCode = Annotated[str, Field(min_length=1, max_length=40)]


class HolidaySettings(BaseModel):
    """``holidays:`` of a definition; a plain list of dates means ``extra`` with the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ISO 3166-1 alpha-2 code the ``holidays`` package knows, or null for ``extra`` only.
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = "BR"
    #: ``auto``: each recipient's own state (from the area code); ``none``: national days only;
    #: or a list of subdivision codes applied to everyone.
    subdivisions: Literal["auto", "none"] | tuple[SubdivisionCode, ...] = "auto"
    #: The package's categories, e.g. ``[public, optional]`` (optional adds Carnival in Brazil).
    categories: tuple[str, ...] = ("public",)
    extra: tuple[date, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _plain_list(cls, value: object) -> object:
        """A plain list of dates keeps its old meaning, now on top of the package's holidays."""
        return {"extra": value} if isinstance(value, list | tuple) else value

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("give at least one category (e.g. [public]) or set country: null")
        return value

    def check(self) -> None:
        """Ask the package whether it knows the country, subdivisions and categories; ValueError naming the field."""
        if self.country is None:
            return
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"holidays.country: {self.country!r} is not a country the holidays package knows")
        known = set(supported[self.country])
        if isinstance(self.subdivisions, tuple):
            unknown = sorted(set(self.subdivisions) - known)
            if unknown:
                raise ValueError(
                    f"holidays.subdivisions: {unknown} are not subdivisions of {self.country}: {sorted(known)}"
                )
        categories = set(holidays.country_holidays(self.country).supported_categories)
        unknown = sorted(set(self.categories) - categories)
        if unknown:
            raise ValueError(f"holidays.categories: {unknown} unknown for {self.country}; it has {sorted(categories)}")

    def days(self, state: str | None, years: Iterable[int]) -> frozenset[date]:
        """Closed days for a recipient in ``state`` (None when unknown) over ``years``."""
        if self.country is None:
            return frozenset(self.extra)
        if self.subdivisions == "auto":
            subdivisions: tuple[str | None, ...] = (state,) if state else (None,)
        elif self.subdivisions == "none":
            subdivisions = (None,)
        else:
            subdivisions = tuple(self.subdivisions)
        found: set[date] = set(self.extra)
        for subdivision in subdivisions:
            found |= _package_days(self.country, subdivision, self.categories, tuple(sorted(years)))
        return frozenset(found)


@functools.lru_cache(maxsize=512)
def _package_days(
    country: str, subdivision: str | None, categories: tuple[str, ...], years: tuple[int, ...]
) -> frozenset[date]:
    import holidays

    subdiv = subdivision if subdivision in holidays.list_supported_countries()[country] else None
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=years, categories=categories))
