"""The Auto-mode policy: prompt style × model family (× the checkpoint's known default) -> a skip.

:func:`decide` classifies a prompt (:func:`clip_skip_ext.adaptive.classify`), looks up the policy rule
for the model family and the prompt's style, and returns a :class:`Decision`: the skip or schedule in
the running host's numbering, with the reasons, for the panel, the API and ``python -m clip_skip_ext
explain``.

This is a heuristic, not a measurement. The evidence (``shared/research/ecosystem.md`` §4-5):

* NovelAI trained its SD1 anime model on the penultimate CLIP layer + final LayerNorm because "it let the
  model make better use of the dense information in tag based prompts"; almost every SD1.5 anime model
  descends from it and is documented at "clip skip 2" (§4, §5). That is a statement about *training*,
  made by the people who chose the layer for tag prompts; nobody has published a measurement of tag vs
  sentence prompts at different layers at *inference* time (§5: "an open gap").
* SD1 base (CLIP ViT-L) was trained on the last layer; Diffusion Lens (Toker et al. 2024) finds that
  relations and multi-object scenes emerge in the later text-encoder layers, which supports, as a
  hypothesis only, keeping natural-language prompts on the last layer.
* SDXL and SD2 are natively penultimate (§0, §4). On A1111 the SDXL value 2 is the native layer and a
  model card's "clip skip 2" for an SDXL model (Pony, Illustrious merges) means "native" (§0); A1111
  ignores clip skip on SD2 entirely. No evidence ties prompt style to a non-native SDXL/SD2 layer, so
  the policy does not move them.

The checkpoint's known default enters through one keyword, so the rule is in the policy text where the
user can read and edit it: a value ``checkpoint or X`` means "the checkpoint's known default when the
database has one, else X"; ``checkpoint`` alone means "else the host's native layer". A rule without the
keyword is used as written, whatever the checkpoint says (Auto mode ranks above the checkpoint default,
DESIGN.md §1), and the reasons mention the checkpoint value that was passed over. The shipped policy
uses ``checkpoint`` where the prompt gives no clear evidence (SD1 ``mixed``) and where the policy has no
style-based reason to move at all (SD2, SDXL); clear SD1 tag lists and clear prose get fixed values.

Policy text (:meth:`Policy.parse`, :meth:`Policy.format`, :data:`DEFAULT_POLICY_TEXT`), one rule a line,
``#`` starts a comment::

    numbering: a1111          # optional, default a1111; also forge, reforge, comfyui
    sd1 tags: 2               # FAMILY STYLE: VALUE
    sd1 mixed: checkpoint or 2@50%, 1

FAMILY is ``sd1``, ``sd2`` or ``sdxl``; STYLE is ``tags``, ``prose`` or ``mixed`` (the classifier's
labels); VALUE is a skip or schedule in the schedule grammar (``2``, ``1.5``, ``2@50%, 1``), ``native``
(the host's native layer), ``checkpoint`` or ``checkpoint or VALUE``. Values are written in the
policy's numbering (A1111's "Clip skip" unless a ``numbering:`` line says otherwise; ComfyUI values are
written without the minus sign) and translated to the running host with
:func:`clip_skip_ext.conventions.translate` when used; a value with no equivalent on the host falls back
to the host's native layer, and the reasons say so. A family and style with no rule behave as
``checkpoint``. Empty and syntax-only prompts carry no style evidence: they get the checkpoint's known
default, else the native layer, whatever the policy says.

Pure: standard library and the core modules only; never ``modules``, ``gradio`` or ``torch``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args

from clip_skip_ext import adaptive, conventions
from clip_skip_ext.conventions import FAMILY_NAMES, HOST_NAMES
from clip_skip_ext.schedule import Schedule, ScheduleError, format_schedule, format_value, parse

FAMILIES: tuple[str, ...] = ("sd1", "sd2", "sdxl")
"""Families a policy has rules for: every numbering below covers them. On the others (SD3, the SDXL
refiner) no rule applies, which means "checkpoint", else the native layer."""
STYLES: tuple[str, ...] = get_args(adaptive.Label)  # ("tags", "prose", "mixed")
NUMBERINGS: tuple[str, ...] = ("a1111", "forge", "reforge", "comfyui")
"""Numberings a policy may be written in: those that count from 1 and cover SD1, SD2 and SDXL, so that
every value fits the schedule grammar (diffusers and SD.Next count from 0; SD.Next and kohya have no
SD2 numbering)."""
DEFAULT_NUMBERING = "a1111"
MAX_TEXT = 20_000
"""Longest policy text accepted (characters); the default is about 1,800."""

_STYLE_WORDS = {"tags": "a tag list", "prose": "natural language", "mixed": "a mix of tags and sentences"}
_CHECKPOINT = "checkpoint"
_NATIVE = "native"
VALUE_HELP = 'a skip or schedule ("2", "1.5", "2@50%, 1"), "native", "checkpoint" or "checkpoint or VALUE"'
LINE_HELP = f"'FAMILY STYLE: VALUE' (FAMILY: {', '.join(FAMILIES)}; STYLE: {', '.join(STYLES)})"


class PolicyError(ValueError):
    """Policy text or a policy argument that cannot be used; names the line, the text and what is accepted."""

    def __init__(self, problem: str, line: int | None = None, text: str | None = None) -> None:
        where = f"policy line {line}" if line is not None else "policy"
        shown = "" if text is None else f" {text.strip()[:80]!r}"
        super().__init__(f"{where}{shown}: {problem}")
        self.problem, self.line, self.text = problem, line, text


# --------------------------------------------------------------------------------------------------
# One rule's value


@dataclass(frozen=True)
class PolicyValue:
    """What one rule says: a schedule (``None``: the host's native layer), optionally behind the checkpoint.

    ``checkpoint=True`` puts the checkpoint's known default first; ``schedule`` is then the fallback.
    """

    schedule: Schedule | None = None
    checkpoint: bool = False

    @classmethod
    def parse(cls, text: str) -> PolicyValue:
        """Parse a rule's VALUE; raises PolicyError (keyword misuse) or ScheduleError (schedule syntax)."""
        words = text.strip()
        lowered = words.lower()
        if lowered == _NATIVE:
            return cls(None, False)
        if lowered.split(None, 1)[:1] == [_CHECKPOINT]:
            rest = words[len(_CHECKPOINT) :].strip()
            if not rest:
                return cls(None, True)
            head, *tail = rest.split(None, 1)
            fallback = tail[0] if tail else ""
            if head.lower() != "or" or not fallback.strip():
                raise PolicyError(
                    f"expected 'checkpoint' or 'checkpoint or VALUE' after 'checkpoint', got {rest!r:.80}"
                )
            if fallback.split(None, 1)[0].lower() == _CHECKPOINT:  # checked before parsing: no recursion
                raise PolicyError("'checkpoint or checkpoint' says the same thing twice; write 'checkpoint'")
            inner = cls.parse(fallback)
            return cls(inner.schedule, True)
        if lowered and lowered[0].isalpha():
            raise PolicyError(f"unknown value {words!r}; expected {VALUE_HELP}")
        return cls(parse(words), False)

    def __str__(self) -> str:
        fallback = _NATIVE if self.schedule is None else format_schedule(self.schedule)
        if not self.checkpoint:
            return fallback
        return _CHECKPOINT if self.schedule is None else f"{_CHECKPOINT} or {fallback}"


def _values(schedule: Schedule) -> list[float]:
    return list(dict.fromkeys(item.value for item in schedule.items))


def _check_range(value: PolicyValue, family: str, numbering: str) -> None:
    """Raise ConventionError when a value of ``value`` is out of range for ``numbering`` on ``family``."""
    if value.schedule is not None:
        for number in _values(value.schedule):
            conventions.neighbours(number, family, numbering)


# --------------------------------------------------------------------------------------------------
# The policy


@dataclass(frozen=True)
class Policy:
    """Rules per (family, style), written in ``numbering``; hashable, compares by content.

    Build one with :meth:`parse` (the settings text) or :meth:`from_rules`; :data:`DEFAULT_POLICY` is the
    shipped one. ``rules`` is kept in canonical order (families, then styles, as in FAMILIES and STYLES).
    """

    rules: tuple[tuple[str, str, PolicyValue], ...] = ()
    numbering: str = DEFAULT_NUMBERING
    _index: Mapping[tuple[str, str], PolicyValue] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if self.numbering not in NUMBERINGS:
            raise PolicyError(
                f"unknown numbering {self.numbering!r}; expected one of {', '.join(NUMBERINGS)}"
            )
        index: dict[tuple[str, str], PolicyValue] = {}
        for family, style, value in self.rules:
            if family not in FAMILIES or style not in STYLES:
                raise PolicyError(f"unknown family/style {family}/{style}")
            if (family, style) in index:
                raise PolicyError(f"two rules for {family} {style}")
            try:
                _check_range(value, family, self.numbering)
            except conventions.ConventionError as error:
                raise PolicyError(str(error)) from None
            index[(family, style)] = value
        order = {key: n for n, key in enumerate((f, s) for f in FAMILIES for s in STYLES)}
        canonical = tuple(sorted(self.rules, key=lambda rule: order[rule[:2]]))
        object.__setattr__(self, "rules", canonical)
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_rules(
        cls, rules: Mapping[tuple[str, str], str | PolicyValue], numbering: str = DEFAULT_NUMBERING
    ) -> Policy:
        """E.g. ``Policy.from_rules({("sd1", "tags"): "2", ("sd1", "prose"): "checkpoint or 1"})``."""
        items = []
        for (family, style), value in rules.items():
            items.append(
                (family, style, value if isinstance(value, PolicyValue) else PolicyValue.parse(value))
            )
        return cls(tuple(items), numbering)

    def get(self, family: str, style: str) -> PolicyValue | None:
        """The rule for ``family`` and ``style``, or None when the policy has none."""
        return self._index.get((family, style))

    @classmethod
    def parse(cls, text: str) -> Policy:
        """Read the settings text; raises PolicyError naming the line, its text and what is accepted."""
        if not isinstance(text, str):
            raise PolicyError(f"expected text, got {type(text).__name__}")
        if len(text) > MAX_TEXT:
            raise PolicyError(f"the text is {len(text):,} characters long; the limit is {MAX_TEXT:,}")
        numbering: tuple[str, int] | None = None
        found: dict[tuple[str, str], tuple[PolicyValue, int, str]] = {}
        # lines end at \n, \r\n or \r only: str.splitlines() also splits at \v, \f, \x1c-\x1e, \x85,
        # U+2028 and U+2029, which would name the wrong line and end a # comment early
        for number, raw in enumerate(re.split(r"\r\n|\r|\n", text), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            head, colon, value_text = line.partition(":")
            words = head.lower().split()
            if not colon or not words:
                raise PolicyError(f"expected {LINE_HELP} or 'numbering: HOST'", number, raw)
            if words == ["numbering"]:
                name = value_text.strip().lower()
                if name not in NUMBERINGS:
                    raise PolicyError(
                        f"unknown numbering {value_text.strip()!r}; expected one of {', '.join(NUMBERINGS)}",
                        number,
                        raw,
                    )
                if numbering is not None:
                    raise PolicyError(
                        f"a second numbering line (the first is line {numbering[1]})", number, raw
                    )
                numbering = (name, number)
                continue
            if len(words) != 2:
                raise PolicyError(f"expected {LINE_HELP} before the ':', got {head.strip()!r}", number, raw)
            family, style = words
            if family not in FAMILIES:
                raise PolicyError(
                    f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)}", number, raw
                )
            if style not in STYLES:
                raise PolicyError(
                    f"unknown style {style!r}; expected one of {', '.join(STYLES)}", number, raw
                )
            if (family, style) in found:
                first = found[(family, style)][1]
                raise PolicyError(
                    f"a second rule for {family} {style} (the first is line {first})", number, raw
                )
            if not value_text.strip():
                raise PolicyError(f"no value after ':'; expected {VALUE_HELP}", number, raw)
            try:
                value = PolicyValue.parse(value_text)
            except (ScheduleError, PolicyError) as error:
                problem = error.problem if isinstance(error, PolicyError) else str(error)
                raise PolicyError(problem, number, raw) from None
            found[(family, style)] = (value, number, raw)
        chosen = numbering[0] if numbering else DEFAULT_NUMBERING
        for (family, _style), (value, number, raw) in found.items():
            try:
                _check_range(value, family, chosen)
            except conventions.ConventionError as error:
                raise PolicyError(f"{error} (numbering: {chosen})", number, raw) from None
        return cls(tuple((f, s, v) for (f, s), (v, _, _) in found.items()), chosen)

    def format(self) -> str:
        """Canonical text, comments dropped; ``Policy.parse(p.format()) == p``."""
        lines = [f"numbering: {self.numbering}"]
        lines += [f"{family} {style}: {value}" for family, style, value in self.rules]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.format()


DEFAULT_POLICY_TEXT = """\
# Clip Skip Control: Auto-mode policy. A heuristic, not a measurement: see the README.
# One rule a line:  FAMILY STYLE: VALUE      (# starts a comment)
#   FAMILY  sd1, sd2, sdxl      STYLE  tags, prose, mixed (what the prompt classifier says)
#   VALUE   a skip (2), a blend (1.5) or a schedule (2@50%, 1);
#           native: the host's native layer;
#           checkpoint or VALUE: the checkpoint's known default when one is known, else VALUE
#           (checkpoint alone: else the native layer).
# Values are in the numbering below and are translated to the running host (Forge, ComfyUI, ...).
# Empty prompts, and families or styles without a rule, get the checkpoint default or the native layer.
numbering: a1111

# SD1 tag lists: NovelAI trained its anime model on the penultimate layer (A1111 2) for tag prompts,
# and the NAI-lineage SD1 anime models are documented at 2 (research/ecosystem.md sections 4-5).
sd1 tags: 2
# SD1 natural language: SD1 was trained on the last layer (1); late layers carry relations between
# objects (Diffusion Lens, ecosystem.md section 5). A hypothesis, not a measured gain.
sd1 prose: 1
# SD1 mix: no clear style, so the checkpoint's own value when known; else 2, because a prompt with
# tags most likely runs on a NAI-lineage model (which is off at 1), while 2 costs little on others.
sd1 mixed: checkpoint or 2

# SD2 is natively penultimate and A1111 ignores clip skip on SD2: nothing to adapt.
sd2 tags: checkpoint
sd2 prose: checkpoint
sd2 mixed: checkpoint

# SDXL is natively penultimate: on A1111 that is 2 ("clip skip 2" on SDXL model cards such as Pony's
# means this native layer). No evidence ties prompt style to another SDXL layer, so it does not move.
sdxl tags: checkpoint or 2
sdxl prose: checkpoint or 2
sdxl mixed: checkpoint or 2
"""

DEFAULT_POLICY = Policy.parse(DEFAULT_POLICY_TEXT)


# --------------------------------------------------------------------------------------------------
# Decisions


@dataclass(frozen=True)
class Decision:
    """What Auto mode chose for one prompt, and why.

    Attributes:
        style: the classifier's label, ``"tags"``, ``"prose"`` or ``"mixed"`` (``"mixed"`` with score 0
            for an empty prompt).
        score: the classifier's score, +1 (pure tag list) to -1 (pure prose).
        skip: the chosen skip or schedule, canonical schedule text, in the host's numbering.
        reasons: how the skip was chosen, in order: style, rule, checkpoint default, translation, effect.
        evidence: the classifier's own reasons (which segments look like tags or sentences).
        family, host: what the decision was made for.
        source: what supplied the skip: ``"policy"`` (a value in the policy), ``"checkpoint"`` (the
            checkpoint's known default) or ``"native"`` (the host's native layer).
        rule: the policy line applied, canonical (``"sd1 tags: 2"``); None when none was (empty prompt).
    """

    style: str
    score: float
    skip: str
    reasons: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    family: str = "sd1"
    host: str = "a1111"
    source: str = "policy"
    rule: str | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict with every field (tuples become lists)."""
        return {
            "style": self.style,
            "score": self.score,
            "skip": self.skip,
            "reasons": list(self.reasons),
            "evidence": list(self.evidence),
            "family": self.family,
            "host": self.host,
            "source": self.source,
            "rule": self.rule,
        }

    def summary(self) -> str:
        """One line for a status bar, e.g. ``Auto: tags (0.82) -> 2 [sd1 tags: 2]``."""
        where = f"[{self.rule}]" if self.rule else f"[{self.source}]"
        return f"Auto: {self.style} ({self.score:.2f}) -> {self.skip} {where}"


_WORDS = re.compile(r"[^\W_]")


def has_words(prompt: str) -> bool:
    """True when the prompt has words left after removing WebUI syntax (the classifier had evidence)."""
    return bool(prompt) and bool(_WORDS.search(adaptive.strip_syntax(prompt[: adaptive.MAX_CHARS])))


def _known(value: float | None, family: str, host: str) -> float | None:
    """The checkpoint default checked against the host's range; ComfyUI's -2 is read as 2."""
    if value is None:
        return None
    try:
        conventions.describe(value, family, host)  # checks: a finite number, in the host's range
    except conventions.ConventionError as error:
        raise conventions.ConventionError(f"checkpoint default: {error}") from None
    return -value if host == "comfyui" and value < 0 else value


def _native(family: str, host: str) -> float:
    """The host value of the native layers; where several select them (Forge SDXL 1 and 2), the one that
    A1111 uses for them, so that the native layer reads the same whichever path chose it."""
    reference = conventions.native_value(family, DEFAULT_NUMBERING)
    native = None if reference is None else conventions.translate(reference, family, DEFAULT_NUMBERING, host)
    if native is None:
        native = conventions.native_value(family, host)
    if native is None:  # no host in conventions.RULES lacks one; kept for a clear message
        raise conventions.ConventionError(
            f"{HOST_NAMES[host]} has no native value for {FAMILY_NAMES[family]}"
        )
    return native


def _effects(skip: Schedule, family: str, host: str) -> list[str]:
    return [f"skip {format_value(v)}: {conventions.describe(v, family, host)}" for v in _values(skip)]


def _apply(
    schedule: Schedule | None, family: str, host: str, numbering: str, native: float, reasons: list[str]
) -> tuple[Schedule, str]:
    """The rule's own value on the host (``None``: the native layer), with the reasons appended."""
    on = f"{FAMILY_NAMES[family]} on {HOST_NAMES[host]}"
    if schedule is None:
        reasons.append(f"the native layer of {on}: {format_value(native)}")
        return Schedule.constant(native), "native"
    translated, missing = conventions.translate_schedule(schedule, family, numbering, host)
    written = format_schedule(schedule)
    if translated is None:
        listed = ", ".join(format_value(v) for v in missing)
        reasons.append(
            f"{listed} in {HOST_NAMES[numbering]} numbering has no equivalent on {on}: "
            f"using the host's native layer, {format_value(native)}"
        )
        return Schedule.constant(native), "native"
    chosen = format_schedule(translated)
    if numbering != host:
        reasons.append(f"{written} in {HOST_NAMES[numbering]} numbering is {chosen} on {HOST_NAMES[host]}")
    return translated, "policy"


def decide(
    prompt: str,
    family: str,
    host: str,
    policy: Policy | None = None,
    known_default: float | None = None,
    known_source: str | None = None,
) -> Decision:
    """Choose the skip for one prompt.

    Args:
        prompt: the prompt as typed (WebUI syntax included); each prompt of a batch decides for itself.
        family: ``"sd1"``, ``"sd2"`` or ``"sdxl"``.
        host: the running host (a name from ``conventions.HOSTS``); the skip is in its numbering.
        policy: the policy; :data:`DEFAULT_POLICY` when None.
        known_default: the checkpoint's known default in the host's numbering (e.g. from
            ``metadata.lookup(...).value``), or None.
        known_source: where that default comes from, shown in the reasons.

    Raises:
        ConventionError: unknown host or family, a host without a numbering for the family, or a
            ``known_default`` out of the host's range.
    """
    policy = DEFAULT_POLICY if policy is None else policy
    conventions.rule(host, family)
    known = _known(known_default, family, host)
    native = _native(family, host)
    on = f"{FAMILY_NAMES[family]} on {HOST_NAMES[host]}"
    style = adaptive.classify(prompt)
    reasons: list[str] = []
    checkpoint_text = ""
    if known is not None:
        checkpoint_text = f"checkpoint default {format_value(known)}" + (
            f" (source: {known_source})" if known_source else ""
        )

    def fallback(why: str) -> tuple[Schedule, str]:
        if known is not None:
            reasons.append(f"{why}: {checkpoint_text}")
            return Schedule.constant(known), "checkpoint"
        reasons.append(
            f"{why}: no checkpoint default is known, so the native layer of {on}, {format_value(native)}"
        )
        return Schedule.constant(native), "native"

    rule_text: str | None = None
    if not has_words(prompt):
        reasons.append("the prompt is empty or only syntax: no style evidence, the policy is not used")
        skip, source = fallback("empty prompt")
    else:
        reasons.append(
            f"prompt reads as {style.label} ({_STYLE_WORDS[style.label]}), score {style.score:.2f} "
            f"(tags at {adaptive.LABEL_THRESHOLD:g} or more, prose at -{adaptive.LABEL_THRESHOLD:g} or less)"
        )
        value = policy.get(family, style.label)
        if value is None:
            reasons.append(f"the policy has no rule for {family} {style.label}, which means 'checkpoint'")
            value = PolicyValue(None, True)
        else:
            rule_text = f"{family} {style.label}: {value}"
            reasons.append(f"policy rule '{rule_text}' ({HOST_NAMES[policy.numbering]} numbering)")
        if value.checkpoint and known is not None:
            reasons.append(f"the rule puts the checkpoint first: {checkpoint_text}")
            skip, source = Schedule.constant(known), "checkpoint"
        else:
            if value.checkpoint:
                reasons.append("no checkpoint default is known: the rule's fallback applies")
            elif known is not None:
                reasons.append(f"{checkpoint_text} not used: the rule gives its own value")
            skip, source = _apply(value.schedule, family, host, policy.numbering, native, reasons)
    reasons += _effects(skip, family, host)
    return Decision(
        style=style.label,
        score=style.score,
        skip=format_schedule(skip),
        reasons=tuple(reasons),
        evidence=style.reasons,
        family=family,
        host=host,
        source=source,
        rule=rule_text,
    )
