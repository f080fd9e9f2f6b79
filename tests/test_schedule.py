import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clip_skip_ext.schedule import (
    MAX_LENGTH,
    Item,
    Schedule,
    ScheduleError,
    When,
    format_schedule,
    merge,
    parse,
)


@pytest.mark.parametrize(
    ("spec", "steps", "expected"),
    [
        ("2", 3, [2, 2, 2]),
        ("1.5", 2, [1.5, 1.5]),
        ("2@40%, 1", 20, [2] * 8 + [1] * 12),  # the example
        ("2@0.4, 1", 20, [2] * 8 + [1] * 12),
        ("2@8, 1", 20, [2] * 8 + [1] * 12),
        ("  2 @ 8 ,\t1  ", 10, [2] * 8 + [1] * 2),
        ("3@2, 2@50%, 1", 10, [3, 3, 2, 2, 2, 1, 1, 1, 1, 1]),
        ("2@40%, 1", 2, [1, 1]),  # floor(0.8) = 0: the first item covers no step
        ("2@29%, 1", 100, [2] * 29 + [1] * 71),  # exact decimal arithmetic, no 28.999...
        ("2@8, 1", 5, [2] * 5),  # the last item covers no step
        ("1@10, 2@0.5, 1", 20, [1] * 20),  # 2@0.5 ends at step 10, not after 10: dropped
        ("1@10, 2@0.5, 3", 30, [1] * 10 + [2] * 5 + [3] * 15),
        ("9,7,4,3,2", 7, [9, 7, 4, 3, 2, 2, 2]),
        ("9, 7, 4", 2, [9, 7]),
        ("1.25@0.5, 2.75", 4, [1.25, 1.25, 2.75, 2.75]),
        ("24", 1, [24]),
    ],
)
def test_values(spec, steps, expected):
    assert parse(spec).values(steps) == expected


@pytest.mark.parametrize(
    ("spec", "position", "fragment"),
    [
        ("", None, "is empty; expected a skip value"),
        ("   ", None, "is empty"),
        ("2,,1", 3, "unexpected ','"),
        ("2,", 3, "ends too early"),
        (
            "2@",
            3,
            "ends too early at character 3; expected a step number (8), a fraction between 0 and 1 (0.4)",
        ),
        ("2@40%", 1, "the last item has an @"),
        ("2@40%, 1, 3", 8, "an item without @ before the last one"),
        ("0.5", 1, "skip value 0.5 is not allowed"),
        ("25", 1, "skip value 25 is not allowed"),
        ("1.125", 1, "skip value 1.125 is not allowed"),
        ("2@0, 1", 3, "step 0 is not allowed"),
        ("2@1.0, 1", 3, "1.0 is neither a step number nor a fraction"),
        ("2@0.12345, 1", 3, "0.12345 is neither a step number nor a fraction"),
        ("2@100%, 1", 3, "100% is not allowed"),
        ("2@8, 1@8, 1", 6, "@8 does not come after the previous end"),
        ("2@50%, 1@0.5, 1", 8, "@0.5 does not come after the previous end"),
        ("2 3", 3, "unexpected '3'"),
        ("-1", 1, "unexpected '-'"),
        ("two", 1, "unexpected 't'"),
        ("2@40%%, 1", 6, "unexpected '%'"),
        ("2;1", 2, "unexpected ';'"),
    ],
)
def test_errors_name_text_position_and_expectation(spec, position, fragment):
    with pytest.raises(ScheduleError) as caught:
        parse(spec)
    error = caught.value
    assert error.position == position
    assert fragment in str(error)
    assert repr(spec[:57]) in str(error) or spec[:57] in str(error)
    if position is not None:
        assert f"at character {position}" in str(error)


def test_huge_input_fails_fast_with_the_limit():
    with pytest.raises(ScheduleError, match=f"is 1048576 characters long; the limit is {MAX_LENGTH}"):
        parse("1," * (1 << 19))


def test_non_text_is_rejected():
    with pytest.raises(ScheduleError, match="expected text, got int"):
        parse(2)


def test_accepts_trailing_zeros_and_keeps_notation():
    assert parse("1.50@40.0%, 1.0") == parse("1.5@40%, 1")
    assert format_schedule(parse("2@40%, 1")) == "2@40%, 1"
    assert format_schedule(parse("2@0.40, 1")) == "2@0.4, 1"
    assert format_schedule(parse(" 9,7 ,4 ")) == "9, 7, 4"


def test_breakpoints_in_sampler_units():
    schedule = parse("2@40%, 1")
    assert schedule.segments(20) == [(8, 2), (20, 1)]
    assert schedule.breakpoints(20) == [(7, 2), (19, 1)]
    assert schedule.breakpoints(20, multiplier=2) == [(15, 2), (39, 1)]
    assert parse("1.5").breakpoints(4) == [(3, 1.5)]
    assert parse("2, 2, 1").segments(4) == [(2, 2), (4, 1)]  # neighbours with one value merge


def test_merge_with_prompt_editing():
    # A1111 [cat:dog:2] at 20 steps: [[2, cat], [20, dog]]; the host's last end (20) is kept.
    assert merge([(2, "cat"), (20, "dog")], parse("2@40%, 1").breakpoints(20)) == [
        (2, "cat", 2),
        (7, "dog", 2),
        (20, "dog", 1),
    ]
    assert merge([(20, "a")], [(19, 2)]) == [(20, "a", 2)]
    assert merge([(5, "a"), (20, "b")], [(5, 1), (19, 2)]) == [(5, "a", 1), (20, "b", 2)]
    with pytest.raises(ValueError, match="two non-empty"):
        merge([], [(1, 1)])


def test_steps_must_be_positive():
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        parse("2").values(0)


def test_distinct_and_constant():
    assert parse("3@2, 2@50%, 1").distinct(10) == [3, 2, 1]
    assert parse("3@2, 2@50%, 1").distinct(1) == [3]
    assert parse("2").is_constant
    assert not parse("2@5, 1").is_constant


# --- properties -------------------------------------------------------------------------------

values = st.integers(100, 2400).map(lambda n: n / 100)
step_ends = st.integers(1, 500).map(lambda n: When(Decimal(n), "step"))
fraction_ends = st.integers(1, 9999).map(lambda n: When((Decimal(n) / 10000).normalize(), "fraction"))
percent_ends = st.integers(1, 9999).map(lambda n: When((Decimal(n) / 100).normalize(), "percent"))


@st.composite
def schedules(draw):
    if draw(st.booleans()):
        return Schedule.from_list(draw(st.lists(values, min_size=1, max_size=12)))
    ends = draw(st.lists(st.one_of(step_ends, fraction_ends, percent_ends), max_size=6))
    ends = _increasing(ends)
    items = [Item(draw(values), end) for end in ends] + [Item(draw(values))]
    return Schedule(tuple(items))


def _increasing(ends):
    """Keep only ends that increase within their kind (steps; fractions and percentages)."""
    kept, last = [], {}
    for end in ends:
        relative = end.unit != "step"
        share = end.amount / 100 if end.unit == "percent" else end.amount
        if relative not in last or share > last[relative]:
            kept.append(end)
            last[relative] = share
    return kept


@given(schedules())
def test_format_then_parse_is_identity(schedule):
    assert parse(format_schedule(schedule)) == schedule


@given(schedules(), st.integers(1, 300))
def test_segments_cover_every_step_once(schedule, steps):
    segments = schedule.segments(steps)
    assert segments[-1][0] == steps
    assert all(a[0] < b[0] for a, b in itertools.pairwise(segments))
    assert all(a[1] != b[1] for a, b in itertools.pairwise(segments))
    per_step = schedule.values(steps)
    assert len(per_step) == steps
    assert set(per_step) <= {item.value for item in schedule.items}


@given(st.text(alphabet="0123456789.,@% \t-x", max_size=40))
@settings(max_examples=400)
def test_any_text_parses_or_raises_schedule_error(text):
    try:
        schedule = parse(text)
    except ScheduleError as error:
        position = error.position
        assert position is None or 1 <= position <= len(text) + 1
        return
    assert parse(format_schedule(schedule)) == schedule


@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=6, unique=True).map(sorted),
    st.lists(st.integers(0, 60), min_size=1, max_size=6, unique=True).map(sorted),
    st.integers(0, 70),
)
def test_merge_picks_what_each_side_would_pick(ends_a, ends_b, call):
    a = [(end, f"a{i}") for i, end in enumerate(ends_a)]
    b = [(end, f"b{i}") for i, end in enumerate(ends_b)]

    def pick(entries, step):  # the host's rule: first entry with step <= end, else the last
        return next((payload for end, payload in entries if step <= end), entries[-1][1])

    merged = merge(a, b)
    assert merged[-1][0] == max(ends_a[-1], ends_b[-1])
    picked = next((entry for entry in merged if call <= entry[0]), merged[-1])
    assert picked[1:] == (pick(a, call), pick(b, call))
