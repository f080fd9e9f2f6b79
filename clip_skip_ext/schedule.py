"""Clip skip schedules: grammar, canonical formatting, and resolving to sampling steps.

Grammar (whitespace is free between tokens)::

    schedule := item ("," item)*
    item     := VALUE ["@" WHEN]
    VALUE    := a number from 1 to 24 with at most 2 decimals      (1.5 blends skip 1 and 2)
    WHEN     := STEP | FRACTION | PERCENT
    STEP     := an integer >= 1: the item covers up to that sampling step (1-based)
    FRACTION := a decimal strictly between 0 and 1 (at most 4 decimals): floor(WHEN * steps)
    PERCENT  := a number strictly between 0 and 100 followed by "%": floor(WHEN / 100 * steps)

Three forms:

* ``2``: a constant.
* ``2@40%, 1``: every item but the last has ``@WHEN``; an item covers the steps after the
  previous item up to its own end; the last item runs to the end. Ends of the same kind (steps,
  or fractions and percentages) must increase strictly; an item whose end falls at or before the
  previous end (possible when step numbers and fractions are mixed) covers no step and is dropped.
* ``9, 7, 4, 3, 2``: no ``@`` at all: one value per step, the last one repeats.

With 20 steps ``2@40%, 1`` gives skip 2 on steps 1-8 and skip 1 on steps 9-20.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Literal, TypeVar

MAX_LENGTH = 1000
MIN_VALUE, MAX_VALUE = 1, 24
VALUE_HELP = f"a skip value (a number from {MIN_VALUE} to {MAX_VALUE}, at most 2 decimals)"
WHEN_HELP = "a step number (8), a fraction between 0 and 1 (0.4) or a percentage (40%)"

Unit = Literal["step", "fraction", "percent"]
A = TypeVar("A")
B = TypeVar("B")


class ScheduleError(ValueError):
    """A schedule that does not follow the grammar; names the text, where, and what was expected."""

    def __init__(self, text: str, problem: str, position: int | None = None, expected: str = "") -> None:
        shown = text if len(text) <= 60 else text[:57] + "..."
        where = f" at character {position}" if position is not None else ""
        message = f"clip skip schedule {shown!r}: {problem}{where}"
        if expected:
            message += f"; expected {expected}"
        super().__init__(message)
        self.text, self.problem, self.position, self.expected = text, problem, position, expected


@dataclass(frozen=True)
class When:
    """Where an item ends: a step number, a fraction of the steps, or a percentage of them."""

    amount: Decimal
    unit: Unit

    def last_step(self, steps: int) -> int:
        """The last 1-based step this end covers when sampling ``steps`` steps (may be 0)."""
        if self.unit == "step":
            return int(self.amount)
        share = self.amount if self.unit == "fraction" else self.amount / 100
        return int((share * steps).to_integral_value(rounding=ROUND_FLOOR))

    def __str__(self) -> str:
        return _decimal(self.amount) + ("%" if self.unit == "percent" else "")


@dataclass(frozen=True)
class Item:
    value: float
    until: When | None = None


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. ``per_step`` marks the bare-list form, which formats without ``@``."""

    items: tuple[Item, ...]
    per_step: bool = False

    @classmethod
    def constant(cls, value: float) -> Schedule:
        return cls((Item(value),))

    @classmethod
    def from_list(cls, values: Sequence[float]) -> Schedule:
        """The per-step form: value i applies to step i + 1, the last one repeats."""
        untils = [When(Decimal(i + 1), "step") for i in range(len(values) - 1)] + [None]
        return cls(tuple(Item(v, u) for v, u in zip(values, untils)), per_step=len(values) > 1)

    @property
    def is_constant(self) -> bool:
        return len({item.value for item in self.items}) == 1

    def segments(self, steps: int) -> list[tuple[int, float]]:
        """``(last step, value)`` pairs covering steps 1..steps; neighbours with one value merge."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        out: list[tuple[int, float]] = []
        first = 1
        for item in self.items:
            end = steps if item.until is None else min(item.until.last_step(steps), steps)
            if end < first:
                continue
            if out and out[-1][1] == item.value:
                out[-1] = (end, item.value)
            else:
                out.append((end, item.value))
            first = end + 1
            if first > steps:
                break
        return out

    def values(self, steps: int) -> list[float]:
        """The skip of every step, step 1 first."""
        out: list[float] = []
        for end, value in self.segments(steps):
            out += [value] * (end - len(out))
        return out

    def distinct(self, steps: int) -> list[float]:
        """The skips used over ``steps`` steps, in order of first use."""
        return list(dict.fromkeys(value for _, value in self.segments(steps)))

    def breakpoints(self, steps: int, multiplier: int = 1) -> list[tuple[int, float]]:
        """``(end_at_step, value)`` in the host's sampler units.

        The WebUI's denoiser counts calls from 0 and uses an entry while ``call <= end_at_step``
        (A1111 ``prompt_parser.reconstruct_cond_batch``). Second-order samplers make
        ``multiplier`` calls per user step, so user step S ends at call ``S * multiplier - 1``.
        """
        return [(end * multiplier - 1, value) for end, value in self.segments(steps)]

    def __str__(self) -> str:
        return format_schedule(self)


def merge(a: Sequence[tuple[int, A]], b: Sequence[tuple[int, B]]) -> list[tuple[int, A, B]]:
    """Union of two ``end_at_step`` lists: at every end of either, the entry each one uses.

    Both lists are sorted by end. Past its last end a list keeps its last entry. Consecutive
    results that use the same pair of entries are merged, so the result ends at the larger of the
    two last ends (pass the host's prompt-editing list as one side to keep its last end).
    """
    if not a or not b:
        raise ValueError("merge needs two non-empty end_at_step lists")
    ends = sorted({end for end, _ in a} | {end for end, _ in b})
    out: list[tuple[int, A, B]] = []
    last_pair: tuple[int, int] | None = None
    i = j = 0
    for end in ends:
        while i < len(a) - 1 and a[i][0] < end:
            i += 1
        while j < len(b) - 1 and b[j][0] < end:
            j += 1
        if (i, j) == last_pair:
            out[-1] = (end, a[i][1], b[j][1])
        else:
            out.append((end, a[i][1], b[j][1]))
        last_pair = (i, j)
    return out


# [0-9], not \d: "２" or "٤" are digits to Python but not to anyone writing a schedule
_TOKEN = re.compile(r"\s*(?:(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)|(?P<punct>[,@%-])|(?P<other>\S))")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, 1-based position) for every token; kind is "number", "," "@" "%" or "other"."""
    out = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        token = match.group(kind)
        out.append((token if kind == "punct" else kind, token, match.start(kind) + 1))
    return out


def _decimals(token: str) -> int:
    return len(token.partition(".")[2].rstrip("0"))


def parse(text: str, signed: bool = False) -> Schedule:
    """Parse a schedule; raises ScheduleError naming the offending text, position and expectation.

    ``signed``: a value may be written with a minus sign, as ComfyUI writes its layers (``-2@40%, -1``);
    the sign is dropped (``conventions`` reads ComfyUI's -N and N alike).
    """
    if not isinstance(text, str):
        raise ScheduleError(repr(text), f"expected text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ScheduleError(text, f"is {len(text)} characters long; the limit is {MAX_LENGTH}")
    tokens = _tokens(text)
    if not tokens:
        raise ScheduleError(text, "is empty", expected=VALUE_HELP + ", e.g. 2 or 2@40%, 1")
    items: list[tuple[float, When | None, int]] = []
    pos = 0

    def take(kinds: tuple[str, ...], expected: str) -> tuple[str, str, int]:
        nonlocal pos
        if pos >= len(tokens):
            raise ScheduleError(text, "ends too early", len(text) + 1, expected)
        token = tokens[pos]
        if token[0] not in kinds:
            raise ScheduleError(text, f"unexpected {token[1]!r}", token[2], expected)
        pos += 1
        return token

    while True:
        if signed and pos < len(tokens) and tokens[pos][0] == "-":
            pos += 1
        _, number, at = take(("number",), VALUE_HELP)
        value = _value(text, number, at)
        until = None
        if pos < len(tokens) and tokens[pos][0] == "@":
            pos += 1
            _, amount, when_at = take(("number",), WHEN_HELP)
            percent = pos < len(tokens) and tokens[pos][0] == "%"
            pos += percent
            until = _when(text, amount, percent, when_at)
        items.append((value, until, at))
        if pos == len(tokens):
            break
        take((",",), "',' between items" + ("" if until else " or '@' after a value"))
    return _assemble(text, items)


def _value(text: str, token: str, at: int) -> float:
    value = float(token)
    if not MIN_VALUE <= value <= MAX_VALUE or _decimals(token) > 2:
        raise ScheduleError(text, f"skip value {token} is not allowed", at, VALUE_HELP)
    return value


def _when(text: str, token: str, percent: bool, at: int) -> When:
    amount = Decimal(token)
    if percent:
        if not 0 < amount < 100 or _decimals(token) > 2:
            raise ScheduleError(text, f"{token}% is not allowed", at, "a percentage above 0 and below 100")
        return When(amount.normalize(), "percent")
    if "." not in token:
        if amount < 1:
            raise ScheduleError(text, f"step {token} is not allowed", at, "steps counted from 1")
        return When(amount, "step")
    if not 0 < amount < 1 or _decimals(token) > 4:
        raise ScheduleError(text, f"{token} is neither a step number nor a fraction", at, WHEN_HELP)
    return When(amount.normalize(), "fraction")


def _assemble(text: str, items: list[tuple[float, When | None, int]]) -> Schedule:
    if len(items) > 1 and all(until is None for _, until, _ in items):
        return Schedule.from_list([value for value, _, _ in items])
    *body, (_, last_until, last_at) = items
    if last_until is not None:
        raise ScheduleError(
            text, "the last item has an @", last_at, "a last item without @ (it runs to the end)"
        )
    previous: dict[bool, tuple[Decimal, int]] = {}
    for _, until, at in body:
        if until is None:
            raise ScheduleError(text, "an item without @ before the last one", at, "VALUE@WHEN")
        relative = until.unit != "step"
        share = until.amount / 100 if until.unit == "percent" else until.amount
        if relative in previous and share <= previous[relative][0]:
            raise ScheduleError(text, f"@{until} does not come after the previous end", at, "increasing ends")
        previous[relative] = (share, at)
    return Schedule(tuple(Item(value, until) for value, until, _ in items))


def _decimal(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


def format_value(value: float) -> str:
    """Canonical text of a skip value: ``2``, ``1.5``, ``1.25``."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def format_schedule(schedule: Schedule) -> str:
    """Canonical text; ``parse(format_schedule(s)) == s`` for every valid schedule."""
    if schedule.per_step:
        return ", ".join(format_value(item.value) for item in schedule.items)
    parts = []
    for item in schedule.items:
        parts.append(format_value(item.value) + ("" if item.until is None else f"@{item.until}"))
    return ", ".join(parts)
