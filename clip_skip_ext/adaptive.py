"""Prompt-style classifier for the "Auto" mode: Danbooru-style tag list, natural language, or a mix.

NovelAI-lineage anime models were trained on the penultimate CLIP layer, which suits Danbooru tag
prompts; natural-language prompts on photo models usually want the last layer. :func:`classify` reads
a prompt and says which style it is written in, with a score and the evidence, so that a policy can
pick a skip and the panel can explain why.

How it works (pure Python, no model, no download):

1. WebUI syntax is removed first: extra-network tokens (``<lora:…>``, ``<lyco:…>``, ``<hypernet:…>``,
   our own ``<clipskip:…>``, any ``<name:…>``), emphasis ``(x:1.2)`` ``((x))`` ``[x]`` ``{x}``, prompt
   editing ``[a:b:0.5]`` (the "to" text is kept) and alternation ``[a|b]`` (the first choice is kept),
   ``BREAK`` and composable ``AND`` (both become segment separators). None of them counts for style,
   except that emphasis groups are reported.
2. The rest is cut into segments at commas (also ``，`` ``、`` ``;``), line breaks and sentence ends.
3. Each segment is judged on its own: a known booru tag (``data/booru_tags.txt``), a count tag such as
   ``2girls``, an ``under_scored`` tag or a short phrase without articles or verbs looks like a tag; a
   segment with articles, pronouns or auxiliary verbs (in English, German, French, Spanish, Italian,
   Portuguese, Dutch and Russian), Chinese/Japanese grammatical particles, sentence punctuation, or
   several prepositions in a long segment reads like a sentence. A lone unknown word (which may be a
   textual-inversion embedding) is neutral on its own and weak tag evidence in a list of three or more.
4. The score is the mean of the segments' tag-ness weighted by ``words ** 0.75`` (a long sentence
   weighs more than a tag, but less than in proportion, so a sentence among many tags reads as
   ``mixed``), plus a small nudge for emphasis groups; from +1 (pure tag list) to -1 (pure prose).
   ``score >= 0.4`` is ``tags``, ``score <= -0.4`` is ``prose``, anything between is ``mixed``.

An empty prompt, or one with nothing left after removing the syntax, is ``mixed`` with score 0: there is
no evidence either way, so a policy should fall back to its default. Work is bounded: only the first
:data:`MAX_CHARS` characters and :data:`MAX_SEGMENTS` segments are read, and the reasons say so.

This module is pure: standard library only, never ``modules`` (the WebUI), ``gradio`` or ``torch``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

Label = Literal["tags", "prose", "mixed"]

MAX_CHARS = 12_000
"""Only this many characters of a prompt are read (a 1,000-word prompt is about 6,000)."""

MAX_SEGMENTS = 500
"""Only this many segments are judged."""

LABEL_THRESHOLD = 0.4
"""``score >= LABEL_THRESHOLD`` is "tags", ``score <= -LABEL_THRESHOLD`` is "prose", else "mixed"."""

EMPHASIS_NUDGE = 0.05
"""Score added per emphasis group (at most three): weights like ``(x:1.2)`` are a tag-prompt habit."""

_MAX_EXAMPLES = 5
_LENGTH_EXPONENT = 0.75  # a segment weighs (words ** 0.75): see _Segment.weight


@dataclass(frozen=True)
class Style:
    """The style of one prompt.

    Attributes:
        label: ``"tags"`` (Danbooru-style tag list), ``"prose"`` (natural language) or ``"mixed"``.
        score: from +1 (pure tag list) to -1 (pure prose); 0 means no evidence either way.
        reasons: short human-readable evidence, most important first, for the panel and the CLI.
    """

    label: Label
    score: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict: ``{"label": ..., "score": ..., "reasons": [...]}``."""
        return {"label": self.label, "score": self.score, "reasons": list(self.reasons)}


# --------------------------------------------------------------------------------------------------
# Vocabulary

_VOCABULARY_FILE = "booru_tags.txt"
_BRACKETS_TO_SPACE = str.maketrans({c: " " for c in "()[]{}"})
_END_PUNCTUATION = " .!?。！？…\"'“”«»「」『』"
_TERMINALS = frozenset(".!?。！？…")
_CLOSING_QUOTES = " \"'”»」』"


def _normalise_tag(text: str) -> str:
    """Lower-case, read underscores and brackets as spaces, collapse whitespace, drop end punctuation."""
    text = text.lower().replace("_", " ").translate(_BRACKETS_TO_SPACE).replace("\\", " ")
    return " ".join(text.split()).strip(_END_PUNCTUATION)


@lru_cache(maxsize=1)
def booru_vocabulary() -> frozenset[str]:
    """The shipped list of common Danbooru-style tags (``data/booru_tags.txt``), normalised, loaded once."""
    text = resources.files("clip_skip_ext").joinpath("data", _VOCABULARY_FILE).read_text(encoding="utf-8")
    tags = (_normalise_tag(line) for line in text.splitlines() if not line.lstrip().startswith("#"))
    return frozenset(tag for tag in tags if tag)


# --------------------------------------------------------------------------------------------------
# Syntax removal

# Numbers are written \d+(?:\.\d*)?, not \d+\.?\d*: the latter splits a digit run between its two
# quantifiers in every possible way before failing (2.5 s on a 12,000-digit run after ":").
_ESCAPED_BRACKET = re.compile(r"\\[()\[\]{}]")
_EXTRA_NETWORK = re.compile(r"<([A-Za-z_][\w-]*):[^<>]*>")
_UNCLOSED_NETWORK = re.compile(r"<[A-Za-z_][\w-]*:[^<>]*$")
_WEIGHT_BEFORE_PAREN = re.compile(r":\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)\s*(?=\))")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_INNER_SQUARE = re.compile(r"\[([^\[\]]*)\]")
_EMPHASIS_OPEN = re.compile(r"[({]+")
_SEPARATOR_KEYWORD = re.compile(r"\b(?:BREAK|AND)\b")
_STRAY_WEIGHT = re.compile(r"(?<=\w)\s+:\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


@dataclass(frozen=True)
class _Stripped:
    text: str
    networks: tuple[str, ...]  # kinds of extra-network tokens removed, in order ("lora", "clipskip", ...)
    emphasis: int  # emphasis groups: (x), (x:1.2), ((x)), {x}, [x]
    editing: int  # prompt-editing / alternation groups: [a:b:N], [a:N], [a|b]
    separators: int  # BREAK and AND keywords


def _resolve_square(match: re.Match[str]) -> str:
    """``[a|b]`` -> a; ``[a:b:N]`` -> b (the text after the switch); ``[a::N]``, ``[a:N]``, ``[a]`` -> a."""
    content = match.group(1)
    if "|" in content:
        return " " + content.split("|", 1)[0] + " "
    parts = content.split(":")
    if len(parts) > 1 and _NUMBER.fullmatch(parts[-1].strip()):
        parts.pop()
    if len(parts) > 1 and parts[1].strip():
        return " " + parts[1] + " "
    return " " + parts[0] + " "


def _strip_syntax(prompt: str) -> _Stripped:
    """Remove WebUI syntax and count what was removed (see :func:`strip_syntax`)."""
    text = _ESCAPED_BRACKET.sub(" ", prompt)
    networks = tuple(m.group(1).lower() for m in _EXTRA_NETWORK.finditer(text))
    text = _UNCLOSED_NETWORK.sub(" ", _EXTRA_NETWORK.sub(" ", text))
    emphasis = len(_EMPHASIS_OPEN.findall(text))
    text = _WEIGHT_BEFORE_PAREN.sub("", text)
    editing = 0
    for _ in range(8):  # innermost groups first; nesting deeper than this is left to the bracket removal
        squares = _INNER_SQUARE.findall(text)
        if not squares:
            break
        editing += sum(1 for s in squares if ":" in s or "|" in s)
        emphasis += sum(1 for s in squares if ":" not in s and "|" not in s)
        text = _INNER_SQUARE.sub(_resolve_square, text)
    text, separators = _SEPARATOR_KEYWORD.subn(",", text)
    text = _STRAY_WEIGHT.sub(" ", text.translate(_BRACKETS_TO_SPACE))
    return _Stripped(text, networks, emphasis, editing, separators)


def strip_syntax(prompt: str) -> str:
    """Return the prompt's words without WebUI syntax (extra networks, emphasis, editing, BREAK, AND).

    ``BREAK`` and ``AND`` become commas; ``[a:b:N]`` keeps ``b``; ``[a|b]`` keeps ``a``.
    """
    return _strip_syntax(prompt).text


# --------------------------------------------------------------------------------------------------
# Segment evidence


def _word_set(*groups: str) -> frozenset[str]:
    """A set of lower-case words from space-separated strings."""
    return frozenset(" ".join(groups).split())


# Words that mark a sentence: articles, pronouns, auxiliary verbs, subordinators. Booru tags almost never
# contain them. Grouped by language; a few are shared between languages. Words that are also common
# English tag words (German "hat", "war"; Spanish "era"; English "can", "may") are left out.
_STRONG_WORDS = _word_set(
    # English
    "a an the is are was were be been being am has have had does did will would could should "
    "might must she he it they we i you her his its their our my your him them this that these those "
    "which who whom whose while where when because there here if "
    # German
    "der die das den dem des ein eine einen einem einer eines ist sind waren wird werden haben "
    "sie er es ich wir sein seine ihre ihr dass welche welcher während sich "
    # French
    "le la les un une des du est sont était il elle ils elles qui que dont se sa son ses leur ce cette "
    "nous vous je "
    # Spanish / Italian / Portuguese
    "el los las unos unas es está están ella él ellos su sus lo le mientras donde "
    "il lo gli è sono che della nel nella mentre "
    "o os um uma é são ela ele seu sua enquanto "
    # Dutch
    "het een zijn terwijl "
    # Russian
    "она он оно они это этот эта который которая которые был была было были есть её его их свой свою "
    "мы я вы что как где когда",
)

# Prepositions and conjunctions: common in booru tags too ("looking at viewer", "hand on hip"), so
# they only count in longer segments.
_WEAK_WORDS = _word_set(
    "of in on at with by from to for into onto through under over above below behind before after "
    "between near across along around against and or but "
    "und mit auf im am von zu bei in an über unter vor hinter durch aus nach für "
    "de et avec dans sur sous au aux en pour par à près "
    "y con en del al sobre bajo entre por para hacia "
    "di da con per tra fra nel sul "
    "e com no na do da em pelo pela "
    "en met op aan van "
    "и в на с под над у из по к за от до о об при через перед между а но",
)

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Chinese and Japanese grammatical markers: 一个/一位 (a, an), 在 正在 是 了 把 被 (verbs, aspect),
# 她 他 这 那 们 (pronouns); Japanese case particles は が を で へ に and verb endings.
_CJK_STRONG = re.compile(
    r"一[个位只座条张]|正在|ている|ています|ました|です|ます|[在是了把被她他它这那们はがをでへに]"
)
_CJK_WEAK = re.compile(r"[的和与の]")

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_COUNT_TAG = re.compile(r"\d+\+?(?:girl|boy|other)s?")
_UNDERSCORE_TAG = re.compile(r"(?:[^\W\d_]+|\d+)(?:_(?:[^\W\d_]+|\d+))+")
_SEGMENT_SPLIT = re.compile(r"[,，、;；|\n\r\t]+|(?<=[.!?…])\s+|(?<=[。！？])")


@dataclass(frozen=True)
class _Segment:
    kind: Literal["known", "underscore", "short", "word", "prose", "unclear"]
    tagness: float  # +1 tag ... -1 sentence
    units: float  # about the number of words (a Chinese or Japanese character counts as half a word)
    text: str
    markers: tuple[str, ...] = ()  # sentence markers found (for the reasons)

    @property
    def weight(self) -> float:
        """The segment's say in the score: grows with its length, but less than linearly, so that one
        long sentence does not outweigh a dozen tags."""
        return max(self.units, 1.0) ** _LENGTH_EXPONENT


def _read_segment(raw: str, vocabulary: frozenset[str], in_list: bool) -> _Segment | None:
    """Judge one segment; ``in_list`` says the prompt has at least three segments.

    Tag evidence: a known booru tag or count tag (+1), an ``under_scored`` tag (+1), a short phrase of 2-4
    words (+0.8) or 5-7 words without prepositions (+0.3), a lone word in a list (+0.5; alone it is
    neutral, it may be an embedding name). Sentence evidence: two grammar words (articles, pronouns,
    auxiliaries, particles), one in four or more words, two prepositions in five or more words, a full
    stop after four or more words, or twelve or more words with a preposition (-1); one grammar word in a
    short segment (-0.5). Anything else, e.g. eight or more words with no grammar word, is neutral (0).
    """
    text = _normalise_tag(raw)
    if not text:
        return None
    latin, cjk_chars = _CJK.subn(" ", text)
    words = _WORD.findall(latin)
    units = len(words) + cjk_chars / 2

    if text in vocabulary or _COUNT_TAG.fullmatch(text):
        return _Segment("known", 1.0, units, text)
    if "_" in raw and units <= 5 and _UNDERSCORE_TAG.fullmatch(raw.strip().lower()):
        return _Segment("underscore", 1.0, units, text)
    if units == 0:
        return None

    strong_words = [w for w in words if w in _STRONG_WORDS]
    weak_words = [w for w in words if w in _WEAK_WORDS]
    if cjk_chars:
        strong_words += _CJK_STRONG.findall(text)
        weak_words += _CJK_WEAK.findall(text)
    strong, weak = len(strong_words), len(weak_words)
    last_char = raw.rstrip(_CLOSING_QUOTES)[-1:]
    terminal = last_char in _TERMINALS
    # what the reasons show: grammar words first, then prepositions, then the full stop
    markers = tuple(strong_words + weak_words[: 2 if not strong else 0] + ([last_char] if terminal else []))

    if (
        strong >= 2
        or (strong and units >= 4)
        or (weak >= 2 and units >= 5)
        or (terminal and units >= 4)
        or (units >= 12 and weak)
    ):
        return _Segment("prose", -1.0, units, text, markers)
    if strong:
        return _Segment("prose", -0.5, units, text, markers)
    if units < 1.5:
        return _Segment("word", 0.5 if in_list else 0.0, units, text)
    if units <= 4:
        return _Segment("short", 0.8, units, text)
    if units < 8 and not weak:
        return _Segment("short", 0.3, units, text)
    return _Segment("unclear", 0.0, units, text)


# --------------------------------------------------------------------------------------------------
# Classification


def _plural(count: int, noun: str) -> str:
    """``_plural(1, "group")`` -> "1 group", ``_plural(3, "group")`` -> "3 groups"."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _examples(items: list[str]) -> str:
    """The first few distinct items, comma-separated, with a count of the rest."""
    unique = list(dict.fromkeys(items))
    shown = ", ".join(unique[:_MAX_EXAMPLES])
    return shown + (f" (+{len(unique) - _MAX_EXAMPLES} more)" if len(unique) > _MAX_EXAMPLES else "")


def _syntax_reasons(stripped: _Stripped) -> list[str]:
    """Reasons about the WebUI syntax that was removed before judging the words."""
    reasons = []
    if stripped.emphasis:
        reasons.append(
            f"{_plural(stripped.emphasis, 'emphasis group')} like (x:1.2) unwrapped (a tag-prompt habit)"
        )
    if stripped.editing:
        reasons.append(
            f"{_plural(stripped.editing, 'prompt-editing group')} like [a:b:0.5] read as their words"
        )
    if stripped.networks:
        kinds = ", ".join(dict.fromkeys(stripped.networks))
        reasons.append(f"ignored {_plural(len(stripped.networks), 'extra-network token')} ({kinds})")
    if stripped.separators:
        reasons.append(f"{_plural(stripped.separators, 'BREAK/AND keyword')} read as separators")
    return reasons


def _evidence_reasons(segments: list[_Segment]) -> list[str]:
    """Reasons about the segments: how many look like tags, which are known, which read like sentences."""
    reasons = []
    tag_like = [s for s in segments if s.tagness > 0]
    prose = [s for s in segments if s.tagness < 0]
    if tag_like:
        count = Counter(s.kind for s in tag_like)
        parts = [
            f"{count['known']} known" if count["known"] else "",
            f"{count['underscore']} with underscores" if count["underscore"] else "",
            _plural(count["short"], "short phrase") if count["short"] else "",
            _plural(count["word"], "lone word") + " in a list" if count["word"] else "",
        ]
        detail = ", ".join(part for part in parts if part)
        verb = "looks" if len(tag_like) == 1 else "look"
        reasons.append(f"{len(tag_like)} of {_plural(len(segments), 'segment')} {verb} like tags ({detail})")
        known = [s.text for s in tag_like if s.kind == "known"]
        if known:
            reasons.append(f"known booru tags: {_examples(known)}")
    if prose:
        words = _plural(round(sum(s.units for s in prose)), "word")
        markers = _examples([f"'{m}'" for s in prose for m in s.markers])
        verb = "reads like a sentence" if len(prose) == 1 else "read like sentences"
        reasons.append(
            f"{len(prose)} of {_plural(len(segments), 'segment')} {verb} ({words}; markers: {markers})"
        )
    if not tag_like and not prose:
        reasons.append("no clear tag or sentence evidence")
    return reasons


def _label(score: float) -> Label:
    if score >= LABEL_THRESHOLD:
        return "tags"
    if score <= -LABEL_THRESHOLD:
        return "prose"
    return "mixed"


def classify(prompt: str) -> Style:
    """Classify a prompt as a tag list, natural-language prose, or a mix of both.

    Args:
        prompt: the prompt as typed in the WebUI, syntax included.

    Returns:
        A :class:`Style`. Empty, whitespace-only and syntax-only prompts give label ``"mixed"`` with
        score 0 and a reason saying so. The result depends only on the text (deterministic).
    """
    if not prompt or prompt.isspace():
        return Style("mixed", 0.0, ("empty prompt",))

    limits: list[str] = []
    if len(prompt) > MAX_CHARS:
        limits.append(f"only the first {MAX_CHARS:,} of {len(prompt):,} characters were read")
        prompt = prompt[:MAX_CHARS]

    stripped = _strip_syntax(prompt)
    raw_segments = [s for s in _SEGMENT_SPLIT.split(stripped.text) if s and not s.isspace()]
    if len(raw_segments) > MAX_SEGMENTS:
        limits.append(f"only the first {MAX_SEGMENTS} of {len(raw_segments)} segments were read")
        raw_segments = raw_segments[:MAX_SEGMENTS]

    vocabulary = booru_vocabulary()
    in_list = len(raw_segments) >= 3
    segments = [s for s in (_read_segment(r, vocabulary, in_list) for r in raw_segments) if s is not None]
    if not segments:
        return Style(
            "mixed", 0.0, ("no words left after removing prompt syntax", *limits, *_syntax_reasons(stripped))
        )

    total_weight = sum(s.weight for s in segments)
    score = sum(s.tagness * s.weight for s in segments) / total_weight
    score = min(1.0, score + EMPHASIS_NUDGE * min(stripped.emphasis, 3))
    score = round(score, 3)

    reasons = [*limits, *_evidence_reasons(segments), *_syntax_reasons(stripped)]
    return Style(_label(score), score, tuple(reasons))
