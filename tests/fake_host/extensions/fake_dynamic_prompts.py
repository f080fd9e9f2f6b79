"""Dynamic Prompts' prompt expansion (adieyal/sd-dynamic-prompts e8326b5,
``sd_dynamic_prompts/dynamic_prompting.py``): in its ``process`` (:346-547), which runs after Clip
Skip Control's (extension folders load in name order, modules/extensions.py:244-248), the template
``p.all_prompts[0]`` becomes one prompt per variant (combinatorial mode) or a random one per image,
written back as ``p.all_prompts`` / ``p.all_negative_prompts`` (:526-527). Variants here are
``{a|b}`` groups only, expanded combinatorially, as the dynamicprompts grammar does."""

import itertools
import re

from modules import scripts

GROUP = re.compile(r"\{([^{}]*)\}")


def expand(template):
    parts = GROUP.split(template)
    choices = [part.split("|") if index % 2 else [part] for index, part in enumerate(parts)]
    return ["".join(combo) for combo in itertools.product(*choices)]


class DynamicPromptsScript(scripts.Script):
    filename = "extensions/sd-dynamic-prompts/scripts/dynamic_prompting.py"

    def process(self, p, *args):
        prompts = expand(p.all_prompts[0])
        p.all_prompts = prompts
        p.all_negative_prompts = [p.all_negative_prompts[0]] * len(prompts)
        p.batch_size, p.n_iter = len(prompts), 1
