"""The value types every metadata source returns."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..conventions import HOSTS
from .safetensors_header import MetadataError

# Where a recommendation came from, in precedence order (highest first). DESIGN.md §6.
ORIGINS: tuple[str, ...] = (
    "override",
    "sidecar",
    "header",
    "civitai",
    "curated",
    "history",
    "description",
    "heuristic",
)

# Values that mean "not recorded" in the files we read: kohya stringifies an unset clip_skip as "None"
# (train_network.py, `{k: str(v)}`); JSON null; empty strings.
UNKNOWN_MARKERS = frozenset({"", "none", "null"})


@dataclass(frozen=True)
class Recommendation:
    """One recommended clip skip, as written by its source.

    ``skip`` is in the numbering of ``convention`` (a host name from ``conventions.HOSTS``), not yet
    in the running host's numbering; ``database.lookup`` translates it. ``confidence`` is 0..1 and is
    informational: precedence between sources is fixed by ``origin`` (see ``ORIGINS``).
    """

    skip: float
    convention: str
    source: str
    confidence: float
    detail: str = ""
    origin: str = ""

    def __post_init__(self) -> None:
        if self.convention not in HOSTS:
            raise ValueError(f"unknown convention {self.convention!r}; expected one of {', '.join(HOSTS)}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence!r} is outside 0..1")
        if self.origin and self.origin not in ORIGINS:
            raise ValueError(f"unknown origin {self.origin!r}; expected one of {', '.join(ORIGINS)}")

    @property
    def is_heuristic(self) -> bool:
        """True for guesses from the file name: show them as such."""
        return self.origin == "heuristic"


@dataclass(frozen=True)
class Finding:
    """What one source said about one model: recommendations (best first), problems and notes.

    ``problems`` are files that exist but cannot be used (each message names the file); ``notes``
    explain values that were present but ignored (e.g. ``ss_clip_skip = "None"``). ``family`` is the
    model family this source indicates, if any, with ``family_reason``. ``texts`` are the
    source's prose, (label, text) pairs, for the description source (``description.py``).
    """

    recommendations: tuple[Recommendation, ...] = ()
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    family: str | None = None
    family_reason: str = ""
    texts: tuple[tuple[str, str], ...] = ()

    @property
    def best(self) -> Recommendation | None:
        """The source's first recommendation, or None."""
        return self.recommendations[0] if self.recommendations else None


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a 10 MB value must not become a 10 MB message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"


def parse_skip(raw: object, where: str) -> float | None:
    """A clip skip value read from a file: a number, None for "not recorded", MetadataError otherwise.

    Accepts ints, floats and numeric strings ("2", "2.0", "-2" for ComfyUI); "None", "null", "" and
    JSON null mean not recorded. ``where`` names the file and key for the error message.
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise MetadataError(f"{where}: clip skip {raw!r} is a boolean; expected a number such as 2")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:  # an int of hundreds of digits
            raise MetadataError(f"{where}: clip skip {_shown(raw)} is not a finite number") from None
    elif isinstance(raw, str):
        text = raw.strip()
        if text.lower() in UNKNOWN_MARKERS:
            return None
        try:
            value = float(text)
        except ValueError:
            raise MetadataError(
                f"{where}: clip skip {_shown(raw)} is not a number; expected a number such as 2"
            ) from None
    else:
        raise MetadataError(
            f"{where}: clip skip is a {type(raw).__name__} ({_shown(raw, 40)}); expected a number such as 2"
        )
    if not math.isfinite(value):
        raise MetadataError(f"{where}: clip skip {_shown(raw)} is not a finite number")
    return value


def format_skip(value: float) -> str:
    """``2.0`` → ``"2"``, ``1.5`` → ``"1.5"``."""
    return f"{value:g}"
