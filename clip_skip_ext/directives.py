"""Per-prompt directives: ``<clipskip:SPEC>`` inside a prompt or negative prompt.

The directive looks like the WebUI's extra-network tags (``<lora:name:0.8>``), so Prompts from
file, XYZ Prompt S/R and wildcards carry it like any other text. It applies to the prompt it is
written in and is removed before the text is encoded.
"""

from __future__ import annotations

import re

from clip_skip_ext.schedule import Schedule, ScheduleError, parse

# Same shape as the WebUI's extra-network tag (modules/extra_networks.py:175 `<(\w+):([^>]+)>`).
# [^<>]: an unclosed "<clipskip:" stops at the next "<", so a prompt full of them is linear, not
# quadratic; ASCII: "ſ" (long s) and other letters that fold to ASCII under Unicode rules do not match.
DIRECTIVE = re.compile(r"<clipskip:([^<>]*)>", re.IGNORECASE | re.ASCII)


def extract(prompt: str, signed: bool = False) -> tuple[str, Schedule | None]:
    """The prompt without directives, and the schedule of the last directive (None if none).

    ``signed``: values may carry ComfyUI's minus sign (``<clipskip:-2>``), see ``schedule.parse``.
    Raises ScheduleError (naming the directive) when a directive's schedule is invalid.
    """
    found: Schedule | None = None
    for match in DIRECTIVE.finditer(prompt):
        try:
            found = parse(match.group(1), signed)
        except ScheduleError as error:
            raise ScheduleError(
                match.group(0), f"in the prompt: {error.problem}", error.position, error.expected
            ) from None
    return (DIRECTIVE.sub("", prompt), found) if found is not None else (prompt, None)


def strip(prompt: str) -> str:
    """The prompt without directives (nothing is parsed)."""
    return DIRECTIVE.sub("", prompt)
