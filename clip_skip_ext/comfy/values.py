"""One clip skip value typed into a node field, in ComfyUI numbering (``-2`` and ``2`` alike)."""

from __future__ import annotations

from clip_skip_ext.schedule import parse


def one_value(field: str, text: str) -> float:
    """The value of ``text``; ScheduleError when it does not parse, ValueError when it is a schedule."""
    schedule = parse(text.strip(), signed=True)
    if len(schedule.items) != 1:
        raise ValueError(f"{field} {text!r}: one value (e.g. -2), not a schedule")
    return schedule.items[0].value
