"""Auto mode in the WebUI: every prompt of the job decides its own skip from the policy.

The decision itself is pure (``clip_skip_ext.policy.decide``); this wires it to the job's prompts,
the policy text in Settings and the loaded model, and records what was chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from clip_skip_ext.plan import Choice
from clip_skip_ext.policy import Decision, Policy, decide
from clip_skip_ext.schedule import parse
from clip_skip_ext.webui import settings

INFOTEXT_KEY = "Clip skip auto"


@lru_cache(maxsize=4)
def _parse(text: str) -> Policy:
    return Policy.parse(text)


def current_policy() -> Policy:
    """The policy from Settings; PolicyError (naming the line) when its text is invalid."""
    return _parse(settings.get("clip_skip_policy"))


class AutoChoices:
    """Decisions for the job's prompts, made once per distinct prompt text."""

    def __init__(
        self, prompts: Sequence[str], family: str, host: str, known: tuple[float, str] | None = None
    ):
        self.prompts, self.family, self.host = list(prompts), family, host
        self.known_default, self.known_source = known if known else (None, None)
        self.policy = current_policy()
        self._decisions: dict[str, Decision] = {}

    def decision(self, index: int) -> Decision:
        text = self.prompts[index] if index < len(self.prompts) else ""
        if text not in self._decisions:
            self._decisions[text] = decide(
                text, self.family, self.host, self.policy, self.known_default, self.known_source
            )
        return self._decisions[text]

    def __call__(self, index: int) -> Choice:
        return Choice(parse(self.decision(index).skip), "auto")

    def infotext(self) -> list[str]:
        """Per image: the style, its score and the skip chosen, e.g. ``tags 0.82 → 2``."""
        return [f"{d.style} {d.score:.2f} → {d.skip}" for d in map(self.decision, range(len(self.prompts)))]


def explain(prompt: str, family: str, host: str) -> dict:
    """The decision for one prompt, for the API route and the panel."""
    return decide(prompt, family, host, current_policy()).to_dict()
