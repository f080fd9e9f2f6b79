"""combine() against the host's per-step rule, with A1111's own data shapes (namedtuple entries)."""

from collections import namedtuple

import torch

from clip_skip_ext.conds import blend_cond, combine, whole_values
from clip_skip_ext.schedule import parse

# modules/prompt_parser.py:136
ScheduledPromptConditioning = namedtuple("ScheduledPromptConditioning", ["end_at_step", "cond"])


def host_pick(entries, step):
    # modules/prompt_parser.py:290-295 (reconstruct_cond_batch): first entry with step <= end, else entry 0
    return next((e for e in entries if step <= e.end_at_step), entries[0])


def encoded(skip, texts_ends):
    """Stand-in conds that say which text and skip they were made from."""
    return [
        ScheduledPromptConditioning(end, torch.full((2, 3), 10.0 * i + skip))
        for i, end in enumerate(texts_ends)
    ]


def test_every_step_gets_the_right_text_at_the_right_skip():
    ends = [2, 20]  # A1111 [cat:dog:2] at 20 steps
    schedule = parse("2@40%, 1")
    by_skip = {1: encoded(1, ends), 2: encoded(2, ends)}
    merged = combine(by_skip, schedule.breakpoints(20))
    assert [e.end_at_step for e in merged] == [2, 7, 20]
    per_step = schedule.values(20)
    for call in range(20):
        text = 0 if call <= 2 else 1
        assert torch.equal(host_pick(merged, call).cond, by_skip[per_step[call]][text].cond)


def test_second_order_samplers_switch_after_the_last_call_of_a_step():
    by_skip = {1: encoded(1, [40]), 2: encoded(2, [40])}  # 20 steps, 2 calls each: host ends at 40
    merged = combine(by_skip, parse("2@5, 1").breakpoints(20, multiplier=2))
    assert [(e.end_at_step, e.cond[0, 0].item()) for e in merged] == [(9, 2.0), (40, 1.0)]


def test_fractional_values_blend_neighbours_exactly():
    by_skip = {1: encoded(1, [20]), 2: encoded(2, [20])}
    [entry] = combine(by_skip, parse("1.25").breakpoints(20))
    assert torch.equal(entry.cond, torch.lerp(by_skip[1][0].cond, by_skip[2][0].cond, 0.25))


def test_sdxl_dict_conds_blend_per_key():
    low = {"crossattn": torch.zeros(2, 4), "vector": torch.ones(3)}
    high = {"crossattn": torch.ones(2, 4), "vector": torch.ones(3)}
    mixed = blend_cond(low, high, 0.5)
    assert torch.equal(mixed["crossattn"], torch.full((2, 4), 0.5))
    assert torch.equal(mixed["vector"], low["vector"])


def test_inputs_are_not_mutated():
    by_skip = {1: encoded(1, [20]), 2: encoded(2, [20])}
    before = [[e.cond.clone() for e in v] for v in by_skip.values()]
    combine(by_skip, parse("2@5, 1.5").breakpoints(20))
    assert all(torch.equal(a, e.cond) for b, v in zip(before, by_skip.values()) for a, e in zip(b, v))


def test_whole_values():
    assert whole_values([2, 1.5, 3]) == [1, 2, 3]
    assert whole_values([1.25]) == [1, 2]
