"""Clip skip recommendations written in prose: model descriptions and notes.

Model cards say it in words: "Clip skip: 2", "CLIP skip 2 recommended", "use clip skip 1",
"CLIPSetLastLayer -2". The texts come from the files other sources already read (Civitai's version
``description`` and ``model.description`` HTML in ``.civitai.info``, ``.api_info.json`` and
ComfyUI-Lora-Manager's ``.metadata.json``; the A1111 sidecar's ``description`` and ``notes``;
Lora-Manager's ``modelDescription`` and ``notes``) and from ``<model>.description.txt``.

The reading is deliberately narrow; a statement counts only when a clip skip mention is followed,
through connecting words only ("is", "of", "set to", ":", "="), by one whole number:

- 1 to 4 is A1111 numbering (the numbering model cards are written in); -1 to -4 is ComfyUI's;
  larger values in prose are remarks ("clip skip 12 is the maximum"), not advice;
- a range or a choice ("1-2", "1 or 2", "1~2", "2 or higher", "2 (use 1 for realistic)") states no
  single value;
- a negation before the mention ("don't use clip skip 2", "without clip skip 2") or of the
  statement itself ("clip skip 2 is not needed") states none;
- texts that state different values state none (each is named in a note).

This is a low-confidence source of its own (origin "description"), below every structured source;
``tests/data/descriptions.json`` is the labelled set it is held to.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .jsonfile import beside, read_text_file
from .recommendation import Finding, Recommendation, format_skip

CONFIDENCE = 0.3
MAX_TEXT_CHARS = 200_000  # a description is a few KB; the rest of a huge one is not read
TEXT_SUFFIX = ".description.txt"

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^<>]{0,2000}>", re.IGNORECASE | re.DOTALL)
_BLOCK_END = re.compile(r"<\s*(?:br|/p|/li|/div|/h[1-6]|/tr|p|li|hr)\b[^<>]{0,2000}>", re.IGNORECASE)
# Clauses end at line breaks, sentence ends, semicolons, pipes and bullets (a comma does not end one:
# "clip skip 1, 2 also works" is one clause).
_CLAUSE_END = re.compile(r"[\n;|•]|(?<=[.!?])\s+")
_MENTION = re.compile(
    r"\bclip[\s_-]*skip(?:ping)?\b|\bclipsetlastlayer\b|\bstop[\s_]+at[\s_]+last[\s_]+layers?\b",
    re.IGNORECASE,
)
_CONNECTOR = (
    r"(?:[\s:=>\-–—→(\[]|\*|\bis\b|\bof\b|\bto\b|\bat\b|\bbe\b|\bset\b|\bshould\b|\bvalue\b|"
    r"\brecommended\b|\buse\b|\busing\b|\baround\b|\bstrictly\b|\bmust\b|\bplease\b|\bnode\b|"
    r"\bclip\b|\bmodel\b|\bthe\b|\ba\b){0,12}?"
)
_VALUE = re.compile(_CONNECTOR + r"(?<![\w.])(-?\d{1,3})(?![\w%]|\.\d)", re.IGNORECASE)
_ALTERNATIVE = re.compile(r"\s*(?:-|–|~|/|\bor\b|\bto\b|\+)\s*(?:-?\d|higher|more|above|less|lower)")
# Another value offered later in the clause: "clip skip 2 (use 1 for realistic)", "… or try 3".
_OTHER_VALUE = re.compile(r"\b(?:use|try|or)\s+(?:clip[\s_-]*skip\s*)?-?\d{1,2}\b", re.IGNORECASE)
_NEGATION = re.compile(
    r"\b(?:no|not|never|without|avoid|don'?t|doesn'?t|do\s+not|does\s+not|isn'?t|aren'?t|"
    r"unnecessary|irrelevant|matter)\b|n't\b",
    re.IGNORECASE,
)
# The statement itself denied right after its value: "clip skip 2 is not needed", "… doesn't work".
_DENIED = re.compile(
    r"\s*(?:\w+\s+){0,2}?(?:is\s+not|isn'?t|not\s+(?:needed|necessary|required|recommended)|"
    r"doesn'?t|does\s+not|don'?t|do\s+not|never|is\s+unnecessary)\b",
    re.IGNORECASE,
)
LARGEST = 4  # model cards recommend 1 to 3 (4 at most); "clip skip 12 is the maximum" is no advice


@dataclass(frozen=True)
class Statement:
    """One clip skip a text states: the value, its numbering and the clause that says it."""

    skip: int
    convention: str
    quote: str


def plain_text(text: str) -> str:
    """HTML (Civitai descriptions) as plain text: tags removed, block ends as line breaks, entities decoded."""
    text = text[:MAX_TEXT_CHARS]
    text = _BLOCK_END.sub("\n", text)
    text = _TAG.sub(" ", text)
    return html.unescape(text).replace("\xa0", " ")


def _clauses(text: str) -> list[str]:
    return [clause.strip() for clause in _CLAUSE_END.split(text) if clause.strip()]


def statements(text: str) -> tuple[list[Statement], list[str]]:
    """(single values the text states, clauses that mention clip skip without one)."""
    found: list[Statement] = []
    unclear: list[str] = []
    for clause in _clauses(plain_text(text)):
        for mention in _MENTION.finditer(clause):
            value = _VALUE.match(clause, mention.end())
            quote = clause if len(clause) <= 120 else clause[:119] + "…"
            if value is None:
                unclear.append(quote)
                continue
            number = int(value.group(1))
            rest = clause[value.end() :]
            negated = _NEGATION.search(clause[: mention.start()]) or _DENIED.match(rest)
            offered = _ALTERNATIVE.match(rest) or _OTHER_VALUE.search(rest)
            if offered or negated or not 1 <= abs(number) <= LARGEST:
                unclear.append(quote)
                continue
            convention = "comfyui" if number < 0 else "a1111"
            found.append(Statement(number, convention, quote))
    return found, unclear


def read_descriptions(texts: list[tuple[str, str]]) -> Finding:
    """The clip skip stated by ``texts`` ((label, text) pairs, best first), as one recommendation."""
    stated: dict[tuple[int, str], list[str]] = {}
    first_quote: dict[tuple[int, str], tuple[str, str]] = {}
    unclear: list[str] = []
    for label, text in texts:
        found, vague = statements(text)
        unclear += [f"{label}: {quote!r}" for quote in vague]
        for statement in found:
            key = (statement.skip, statement.convention)
            stated.setdefault(key, []).append(label)
            first_quote.setdefault(key, (label, statement.quote))
    if not stated:
        notes = (f"prose mentions clip skip without one value ({unclear[0]})",) if unclear else ()
        return Finding(notes=notes)
    if len(stated) > 1:
        said = "; ".join(f"{first_quote[key][0]} says {format_skip(key[0])}" for key in stated)
        return Finding(notes=(f"descriptions disagree ({said}); no value taken from prose",))
    (skip, convention), labels = next(iter(stated.items()))
    label, quote = first_quote[(skip, convention)]
    where = ", ".join(dict.fromkeys(labels))
    recommendation = Recommendation(
        skip=float(skip),
        convention=convention,
        source=f"description ({label})",
        confidence=CONFIDENCE,
        detail=f"prose in {where}: {quote!r}",
        origin="description",
    )
    return Finding(recommendations=(recommendation,))


def description_text_path(model_path: str | os.PathLike[str]) -> Path:
    """``<model without extension>.description.txt``."""
    return beside(model_path, TEXT_SUFFIX)


def read_description_file(model_path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """The model's ``.description.txt`` as a (label, text) pair, if there is one."""
    path = description_text_path(model_path)
    if not path.is_file():
        return []
    return [(path.name, read_text_file(path, "the description file", MAX_TEXT_CHARS * 4))]
