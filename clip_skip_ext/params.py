"""The one parameter table: panel order, API names, infotext keys, XYZ axes and validation.

Everything that reads or writes the extension's settings (the panel, ``alwayson_scripts`` args,
the schema route, infotext, XYZ) is generated from ``PARAMS``; nothing repeats a name or a default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from clip_skip_ext import __version__
from clip_skip_ext.schedule import ScheduleError, format_schedule, parse

MODES = ("Manual", "Auto", "Checkpoint default")
VERSION_KEY = "Clip Skip Control version"
SOURCE_KEY = "Clip skip source"


@dataclass(frozen=True)
class Param:
    name: str  # attribute, API field
    label: str  # panel label
    kind: Literal["bool", "schedule", "choice"]
    default: Any
    infotext: str | None  # key in the generation parameters
    axis: str | None  # XYZ axis label
    help: str  # hover title and API schema description
    choices: tuple[str, ...] = ()


PARAMS: tuple[Param, ...] = (
    Param("enabled", "Clip Skip Control", "bool", False, None, None, "Turn the panel's values on."),
    Param(
        "positive",
        "Positive skip or schedule",
        "schedule",
        "",
        "Clip skip schedule",
        "[Clip skip] Positive",
        "A value (2, 1.5) or a schedule (2@40%, 1). Empty: the host's Clip skip.",
    ),
    Param(
        "negative",
        "Negative skip or schedule",
        "schedule",
        "",
        "Negative clip skip",
        "[Clip skip] Negative",
        "Empty: same as the positive prompt.",
    ),
    Param(
        "hires_positive",
        "Hires positive",
        "schedule",
        "",
        "Hires clip skip",
        None,
        "The hires pass, positive prompt. Empty: same as the first pass.",
    ),
    Param(
        "hires_negative",
        "Hires negative",
        "schedule",
        "",
        "Hires negative clip skip",
        None,
        "The hires pass, negative prompt. Empty: the first pass's negative if set, else the hires positive.",
    ),
    Param(
        "mode",
        "Mode",
        "choice",
        "Manual",
        "Clip skip mode",
        "[Clip skip] Mode",
        "Manual: the values above. Auto: chosen from the prompt. "
        "Checkpoint default: the model's known value.",
        MODES,
    ),
)
BY_NAME = {param.name: param for param in PARAMS}
BY_INFOTEXT = {param.infotext: param for param in PARAMS if param.infotext}
# XYZ axis that sets both prompts at once.
SCHEDULE_AXIS = "[Clip skip] Schedule"


class ParamError(ValueError):
    """Invalid settings; the message names every bad field and what it accepts."""


@dataclass(frozen=True)
class Settings:
    enabled: bool = False
    positive: str = ""
    negative: str = ""
    hires_positive: str = ""
    hires_negative: str = ""
    mode: str = "Manual"

    def effective(self) -> dict[str, str]:
        """The schedule text of each pass and prompt ("" = not set here), after the "same as" rules.

        Negative follows positive within a pass; the hires pass follows the first pass.
        """
        positive = self.positive
        negative = self.negative or positive
        hires_positive = self.hires_positive or positive
        hires_negative = self.hires_negative or (self.negative or hires_positive)
        return {
            "positive": positive,
            "negative": negative,
            "hires_positive": hires_positive,
            "hires_negative": hires_negative,
        }


assert [f.name for f in fields(Settings)] == [p.name for p in PARAMS]
assert all(getattr(Settings(), p.name) == p.default for p in PARAMS)


def _check(param: Param, value: Any) -> Any:
    """The canonical value of one field, or ParamError naming the field and what it accepts."""
    if param.kind == "bool":
        if isinstance(value, bool):
            return value
        if value in (0, 1, "true", "false", "True", "False"):
            return value in (1, "true", "True")
        raise ParamError(f"{param.name}: {value!r} is not true or false")
    if param.kind == "choice":
        for choice in param.choices:
            if isinstance(value, str) and value.strip().lower() == choice.lower():
                return choice
        raise ParamError(f"{param.name}: {value!r} is not one of {', '.join(param.choices)}")
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ParamError(f"{param.name}: {value!r} is not a clip skip value or schedule")
    text = str(value).strip()
    if text in ("", "None"):
        return ""
    try:
        return format_schedule(parse(text))
    except ScheduleError as error:
        raise ParamError(f"{param.name}: {error}") from None


def from_fields(values: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """Settings from named fields (API dict, XYZ overrides); unknown or invalid fields are errors."""
    unknown = sorted(set(values) - set(BY_NAME))
    problems = [f"unknown field {name!r}" for name in unknown]
    checked = {}
    for name, value in values.items():
        if name in BY_NAME:
            try:
                checked[name] = _check(BY_NAME[name], value)
            except ParamError as error:
                problems.append(str(error))
    if problems:
        fields_help = f" (fields: {', '.join(BY_NAME)})" if unknown else ""
        raise ParamError("; ".join(problems) + fields_help)
    return replace(base or Settings(), **checked)


def from_args(args: Sequence[Any]) -> Settings:
    """Settings from the script's positional args, in ``PARAMS`` order, or a dict of named fields.

    Missing trailing args keep their defaults, as the WebUI's API does. A dict comes as the first
    arg (the API's ``"args": [{...}]``); the WebUI fills the remaining slots with the panel's
    defaults, which are then ignored.
    """
    if args and isinstance(args[0], Mapping):
        return from_fields(args[0])
    if len(args) > len(PARAMS):
        raise ParamError(f"{len(args)} args given; at most {len(PARAMS)} ({', '.join(BY_NAME)})")
    return from_fields(dict(zip(BY_NAME, args)))


def to_args(settings: Settings) -> list[Any]:
    return [getattr(settings, param.name) for param in PARAMS]


def infotext(settings: Settings) -> dict[str, str]:
    """Generation-parameter entries for the non-default values (nothing when disabled)."""
    if not settings.enabled:
        return {}
    written = {}
    for param in PARAMS:
        value = getattr(settings, param.name)
        if param.infotext and value != param.default:
            written[param.infotext] = value.lower() if param.kind == "choice" else str(value)
    return written


def from_infotext(params: Mapping[str, Any]) -> Settings | None:
    """Settings restored from parsed generation parameters; None when no key of ours is there."""
    found = {BY_INFOTEXT[key].name: value for key, value in params.items() if key in BY_INFOTEXT}
    if not found:
        return None
    return from_fields({"enabled": True, **found})


def schema() -> dict[str, Any]:
    """The API schema of the named fields (the GET route)."""
    return {
        "title": "Clip Skip Control",
        "version": __version__,
        "fields": [
            {
                "name": p.name,
                "type": {"bool": "boolean", "schedule": "string", "choice": "string"}[p.kind],
                "default": p.default,
                **({"enum": list(p.choices)} if p.choices else {}),
                "infotext": p.infotext,
                "description": p.help,
            }
            for p in PARAMS
        ],
        "positional_order": list(BY_NAME),
    }
