"""Which schedule each prompt of a generation gets, and where it comes from.

Precedence, highest first (DESIGN.md §1): a ``<clipskip:…>`` directive in the prompt, an XYZ axis
value, the panel (when enabled), Auto mode, the checkpoint default, the host's own Clip skip.
Within one source the "same as" rules of ``Settings`` apply: the negative prompt follows the
positive one, the hires pass follows the first pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from clip_skip_ext import conventions
from clip_skip_ext.params import Settings
from clip_skip_ext.schedule import Schedule, parse

# For each field: the directive it reads (positive or negative prompt), then the settings fields
# tried in order, then the field whose choice it falls back to.
_CHAINS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "positive": ("positive", ("positive",), None),
    "negative": ("negative", ("negative",), "positive"),
    "hires_positive": ("hires_positive", ("hires_positive",), "positive"),
    "hires_negative": ("hires_negative", ("hires_negative", "negative"), "hires_positive"),
}
FIELDS = tuple(_CHAINS)


@dataclass(frozen=True)
class Choice:
    schedule: Schedule | None  # None: leave the host alone
    source: str  # "prompt", "xyz", "panel", "auto", "checkpoint" or "host"


@lru_cache(maxsize=256)
def _parsed(text: str) -> Schedule:
    return parse(text)


@dataclass
class Plan:
    """The choices of one generation. Directives are indexed like the job's prompts; the hires
    lists default to the first pass's (the hires prompt is the prompt unless set on its own)."""

    settings: Settings = field(default_factory=Settings)
    xyz: frozenset[str] = frozenset()
    positive_directives: Sequence[Schedule | None] = ()
    negative_directives: Sequence[Schedule | None] = ()
    hires_positive_directives: Sequence[Schedule | None] | None = None
    hires_negative_directives: Sequence[Schedule | None] | None = None
    # Below the panel: Auto mode, then the checkpoint default, for image i's positive prompt
    # (every other field falls back to it). None: nothing below the panel.
    fallback: Callable[[int], Choice | None] | None = None
    count: int = 0  # images in the job

    def _directives(self, kind: str) -> Sequence[Schedule | None]:
        found = getattr(self, f"{kind}_directives")
        return getattr(self, f"{kind.removeprefix('hires_')}_directives") if found is None else found

    @property
    def mode(self) -> str:
        """The mode in effect: the panel's when enabled, or an XYZ value."""
        return self.settings.mode if (self.settings.enabled or "mode" in self.xyz) else Settings.mode

    def _set_here(self, name: str) -> str:
        value = getattr(self.settings, name)
        return value if (self.settings.enabled or name in self.xyz) else ""

    def choose(self, name: str, index: int) -> Choice:
        """The schedule for ``name`` (one of ``FIELDS``) of the job's prompt number ``index``."""
        kind, names, fallback = _CHAINS[name]
        directives = self._directives(kind)
        if index < len(directives) and directives[index] is not None:
            return Choice(directives[index], "prompt")
        for candidate in names:
            text = self._set_here(candidate)
            if text:
                return Choice(_parsed(text), "xyz" if candidate in self.xyz else "panel")
        if fallback is not None:
            return self.choose(fallback, index)
        found = self.fallback(index) if self.fallback is not None else None
        return found or Choice(None, "host")

    def for_pass(
        self, index: int, positive: Schedule | None = None, negative: Schedule | None = None
    ) -> Plan:
        """The plan of another pass over image ``index`` (ADetailer's detail pass): one prompt,
        chosen by the same rules as that image, where the pass's own prompt directives
        (``positive``, ``negative``) come first."""
        own = self.fallback

        def directive(kind: str, given: Schedule | None) -> list[Schedule | None]:
            found = self._directives(kind)
            return [given if given is not None else (found[index] if index < len(found) else None)]

        return replace(
            self,
            positive_directives=directive("positive", positive),
            negative_directives=directive("negative", negative),
            hires_positive_directives=None,
            hires_negative_directives=None,
            fallback=None if own is None else (lambda _: own(index)),
            count=1,
        )

    @property
    def touches_anything(self) -> bool:
        """False when the host's own behaviour is left completely alone."""
        kinds = ("positive", "negative", "hires_positive", "hires_negative")
        directives = [d for kind in kinds for d in self._directives(kind)]
        if any(d is not None for d in directives) or any(self._set_here(name) for name in FIELDS):
            return True
        return self.fallback is not None and any(self.fallback(i) for i in range(self.count))

    def recorded_settings(self) -> Settings:
        """What the infotext records: the fields set by the panel (when enabled) or by XYZ."""
        fields_set = {name: self._set_here(name) for name in FIELDS}
        return replace(Settings(enabled=True, mode=self.mode), **fields_set)

    def schedules(self) -> list[Schedule]:
        """Every schedule this plan can hand out (for validation against the model family)."""
        kinds = ("positive", "negative", "hires_positive", "hires_negative")
        found = [d for kind in kinds for d in self._directives(kind) if d is not None]
        found += [_parsed(text) for name in FIELDS if (text := self._set_here(name))]
        if self.fallback is not None:
            found += [c.schedule for i in range(self.count) if (c := self.fallback(i)) and c.schedule]
        return found


def check_family(schedules: Iterable[Schedule], family: str | None, host: str) -> None:
    """ConventionError naming the first value that ``host`` cannot take on ``family``."""
    if not conventions.moves(host, family):
        return
    for schedule in schedules:
        for item in schedule.items:
            conventions.neighbours(item.value, family, host)


def status(
    settings: Settings,
    family: str | None,
    host: str,
    host_value: int,
    auto: str | None = None,
    default: tuple[float, str] | None = None,
) -> str:
    """One line for the panel: what the values do on the loaded model, and their source.

    ``auto``: Auto mode's decision for the prompt in the prompt box, when there is one.
    ``default``: the checkpoint's known default that applies below the panel, and its label.
    """
    if family is None:
        return "No model loaded yet: the effect is shown once a model is loaded."
    if not conventions.moves(host, family):
        return f"Clip skip has no effect here: {conventions.no_effect(host, family)}."
    effective = settings.effective() if settings.enabled else {}
    positive = effective.get("positive") or ""
    if settings.enabled and settings.mode == "Auto" and not positive:
        return auto or "Auto: each prompt chooses its skip at generation time (see Settings for the policy)"
    if not positive and default is not None:
        value, label = default
        return f"checkpoint default {label}: {conventions.describe(value, family, host)}"
    if not positive:
        note = (
            " (no known default for this checkpoint)"
            if settings.enabled and settings.mode != "Manual"
            else ""
        )
        return f"host Clip skip {host_value}{note}: {conventions.describe(host_value, family, host)}"
    parts = []
    for label, name in (("positive", "positive"), ("negative", "negative"), ("hires", "hires_positive")):
        value = effective[name]
        if name != "positive" and value == positive:
            continue
        parts.append(f"{label} {value}: " + _effect(_parsed(value), family, host))
    return " · ".join([*parts, "source: panel"])


def _effect(schedule: Schedule, family: str, host: str) -> str:
    values = list(dict.fromkeys(item.value for item in schedule.items))
    described = [conventions.describe(v, family, host) for v in values]
    head = described[0].split(": ", 1)[0]
    bodies = [text.split(": ", 1)[1] for text in described]
    return head + ": " + (" → ".join(bodies) if len(bodies) > 1 else bodies[0])
