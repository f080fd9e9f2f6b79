"""XYZ plot axes, appended to the live ``xyz_grid.py`` module (A1111 ``scripts/xyz_grid.py``).

Axes must exist before the XYZ script's ``ui()`` snapshots ``axis_options`` (:420): appended at
import of our entry script (``xyz_grid.py`` is already loaded, ``modules/scripts.py:393-468``),
and again from ``on_before_ui`` if a reload lost them. Values are checked by ``confirm`` before
the grid starts.
"""

from __future__ import annotations

from typing import Any

from modules import scripts

from clip_skip_ext import params
from clip_skip_ext.plan import check_family
from clip_skip_ext.schedule import parse
from clip_skip_ext.webui import host
from clip_skip_ext.webui.hook import ClipSkipError

XYZ_ATTR = "_clip_skip_xyz"
AXES: dict[str, tuple[str, ...]] = {
    "[Clip skip] Positive": ("positive",),
    "[Clip skip] Negative": ("negative",),
    params.SCHEDULE_AXIS: ("positive", "negative"),
    "[Clip skip] Mode": ("mode",),
}


def xyz_module() -> Any | None:
    for data in scripts.scripts_data:
        if data.script_class.__module__ in ("xyz_grid.py", "scripts.xyz_grid"):
            return data.module
    return None


def _apply(names: tuple[str, ...]):
    def apply(p, value, values):
        setattr(p, XYZ_ATTR, {**getattr(p, XYZ_ATTR, {}), **dict.fromkeys(names, value)})

    return apply


def _confirm(label: str, names: tuple[str, ...]):
    def confirm(p, values):
        family, host_name = host.current_family(), host.host_name()
        for value in values:
            try:
                settings = params.from_fields(dict.fromkeys(names, value))
                schedules = [
                    parse(text) for name in names if (text := getattr(settings, name)) and name != "mode"
                ]
                check_family(schedules, family, host_name)
            except ValueError as error:
                # with a status_code, the API answers 422, not 500 (A1111 api.py:167-181; Forge and
                # Neo api.py handle_exception read it the same way)
                raise ClipSkipError(f"XYZ axis {label}: {error}") from None

    return confirm


def add_axes(*_: Any) -> None:
    module = xyz_module()
    if module is None:
        return
    present = {option.label for option in module.axis_options}
    for label, names in AXES.items():
        if label in present:
            continue
        choices = (lambda: list(params.MODES)) if names == ("mode",) else None
        module.axis_options.append(
            module.AxisOption(label, str, _apply(names), confirm=_confirm(label, names), choices=choices)
        )
