"""modules/prompt_parser.py: the data types (:136-154, :240-249, :270-277) and the functions the
host passes to get_conds_with_caching (:157-202, :252-267) and the denoiser uses (:280-349).
Prompt editing is reduced to one ``[a:b:N]`` with an integer N, which is what the tests use."""

import re
from collections import namedtuple

import torch

ScheduledPromptConditioning = namedtuple("ScheduledPromptConditioning", ["end_at_step", "cond"])
re_edit = re.compile(r"\[([^:\]]*):([^:\]]*):(\d+)\]")


class SdConditioning(list):  # :139-154
    def __init__(self, prompts, is_negative_prompt=False, width=None, height=None, copy_from=None):
        super().__init__()
        self.extend(prompts)
        if copy_from is None:
            copy_from = prompts
        self.is_negative_prompt = is_negative_prompt or getattr(copy_from, "is_negative_prompt", False)
        self.width = width or getattr(copy_from, "width", None)
        self.height = height or getattr(copy_from, "height", None)


def get_learned_conditioning_prompt_schedules(prompts, steps, hires_steps=None, use_old_scheduling=False):
    steps = hires_steps if hires_steps is not None else steps

    def schedule(prompt):
        m = re_edit.search(prompt)
        if not m or int(m.group(3)) >= steps:
            return [[steps, re_edit.sub(lambda x: x.group(1), prompt)]]
        before = prompt[: m.start()] + m.group(1) + prompt[m.end() :]
        after = prompt[: m.start()] + m.group(2) + prompt[m.end() :]
        return [[int(m.group(3)), before], [steps, after]]

    return [schedule(p) for p in prompts]


def get_learned_conditioning(model, prompts, steps, hires_steps=None, use_old_scheduling=False):  # :157-202
    res, cache = [], {}
    schedules = get_learned_conditioning_prompt_schedules(prompts, steps, hires_steps, use_old_scheduling)
    for prompt, prompt_schedule in zip(prompts, schedules):
        if prompt in cache:
            res.append(cache[prompt])
            continue
        texts = SdConditioning([x[1] for x in prompt_schedule], copy_from=prompts)
        conds = model.get_learned_conditioning(texts)
        cond_schedule = []
        for i, (end_at_step, _) in enumerate(prompt_schedule):
            cond = {k: v[i] for k, v in conds.items()} if isinstance(conds, dict) else conds[i]
            cond_schedule.append(ScheduledPromptConditioning(end_at_step, cond))
        cache[prompt] = cond_schedule
        res.append(cond_schedule)
    return res


re_AND = re.compile(r"\bAND\b")  # :205


def get_multicond_prompt_list(prompts):  # :208-237, weights omitted
    res_indexes, flat, indexes = [], [], {}
    for prompt in prompts:
        row = []
        for sub in re_AND.split(prompt):
            sub = sub.strip()
            if sub not in indexes:
                indexes[sub] = len(flat)
                flat.append(sub)
            row.append((indexes[sub], 1.0))
        res_indexes.append(row)
    return res_indexes, SdConditioning(flat, copy_from=prompts), indexes


class ComposableScheduledPromptConditioning:  # :240-243
    def __init__(self, schedules, weight=1.0):
        self.schedules = schedules
        self.weight = weight


class MulticondLearnedConditioning:  # :246-249
    def __init__(self, shape, batch):
        self.shape = shape
        self.batch = batch


def get_multicond_learned_conditioning(model, prompts, steps, hires_steps=None, use_old_scheduling=False):
    res_indexes, flat, _ = get_multicond_prompt_list(prompts)  # :252-267
    learned = get_learned_conditioning(model, flat, steps, hires_steps, use_old_scheduling)
    batch = [[ComposableScheduledPromptConditioning(learned[i], w) for i, w in row] for row in res_indexes]
    return MulticondLearnedConditioning(shape=(len(prompts),), batch=batch)


def _pick(schedules, current_step):  # :290-295 and :330-335
    target = 0
    for current, entry in enumerate(schedules):
        if current_step <= entry.end_at_step:
            target = current
            break
    return schedules[target].cond


def reconstruct_cond_batch(c, current_step):  # :280-304
    picked = [_pick(schedule, current_step) for schedule in c]
    if isinstance(picked[0], dict):
        return {k: torch.stack([x[k] for x in picked]) for k in picked[0]}
    return torch.stack(picked)


def reconstruct_multicond_batch(c, current_step):  # :321-349 (rows of equal length here)
    tensors, conds_list = [], []
    for composables in c.batch:
        row = []
        for composable in composables:
            row.append((len(tensors), composable.weight))
            tensors.append(_pick(composable.schedules, current_step))
        conds_list.append(row)
    if isinstance(tensors[0], dict):
        return conds_list, {k: torch.stack([x[k] for x in tensors]) for k in tensors[0]}
    return conds_list, torch.stack(tensors)
