"""State telemarketing laws as calling-window presets, intersected with the campaign's own window.

Each preset is the hours the state's law allows; a recipient in that state is called only when both
the campaign's window and the preset allow it (``state_rules: false`` in a definition uses only the
campaign's window). Holidays are not part of a preset: they come from the ``holidays`` package per
state (see ``integra.policy.calendars``), which closes the day for every recipient there anyway.
Where a law names only weekdays, the days it does not name are closed: the reading that can never
phone someone the law protects.
"""

from __future__ import annotations

from dataclasses import dataclass

from integra.calling_window import DAY_NAMES, CallingWindow, Hours

__all__ = ["PRESETS", "StatePreset", "intersect_hours", "state_hours"]


@dataclass(frozen=True)
class StatePreset:
    """One state's legal calling hours and where they come from."""

    state: str
    spec: dict[str, str | None]
    source: str

    @property
    def hours(self) -> tuple[Hours | None, ...]:
        return CallingWindow.from_spec(self.spec).hours


PRESETS: dict[str, StatePreset] = {
    preset.state: preset
    for preset in (
        StatePreset(
            "RJ",
            {day: "08:00-18:00" for day in DAY_NAMES[:5]},
            "Rio de Janeiro, Lei Estadual nº 7.853/2018: Monday to Friday 08:00-18:00; "
            "no calls on weekends or holidays",
        ),
        StatePreset(
            "ES",
            {day: "08:00-19:00" for day in DAY_NAMES[:5]},
            "Espírito Santo, Lei Estadual nº 10.626/2017: Monday to Friday 08:00-19:00 (weekends not named: closed)",
        ),
        StatePreset(
            "GO",
            {**{day: "08:00-18:00" for day in DAY_NAMES[:5]}, "sat": "08:00-13:00"},
            "Goiás, Lei Estadual nº 16.606/2009: Monday to Friday 08:00-18:00, Saturday 08:00-13:00; "
            "no calls on Sundays or holidays",
        ),
    )
}


def intersect_hours(a: tuple[Hours | None, ...], b: tuple[Hours | None, ...]) -> tuple[Hours | None, ...]:
    """Per weekday, the hours both allow (closed when they do not overlap)."""
    out: list[Hours | None] = []
    for first, second in zip(a, b, strict=True):
        if first is None or second is None:
            out.append(None)
            continue
        opens, closes = max(first[0], second[0]), min(first[1], second[1])
        out.append((opens, closes) if opens < closes else None)
    return tuple(out)


def state_hours(hours: tuple[Hours | None, ...], state: str | None) -> tuple[Hours | None, ...]:
    """The campaign's ``hours`` narrowed by ``state``'s preset, if it has one."""
    preset = PRESETS.get(state or "")
    return hours if preset is None else intersect_hours(hours, preset.hours)
