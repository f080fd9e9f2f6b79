"""What a job gets below the panel (DESIGN.md §1): a followed LoRA's training skip, else the loaded
checkpoint's known default, each switchable in Settings; as a ``Plan.fallback``."""

from __future__ import annotations

from collections.abc import Sequence

from clip_skip_ext.plan import Choice
from clip_skip_ext.schedule import Schedule
from clip_skip_ext.webui import checkpoint, lora


def job_default(
    prompts: Sequence[str],
    family: str | None,
    host: str,
    *,
    use_checkpoint: bool | None = None,
    use_lora: bool | None = None,
) -> checkpoint.Known | None:
    """The default below the panel for these prompts: the LoRAs' training skip when following
    LoRAs (Settings, or ``use_lora``), else the checkpoint's known default when applying defaults
    (Settings, or ``use_checkpoint``, e.g. True for the panel's "Checkpoint default" mode)."""
    if (checkpoint.follow_lora() if use_lora is None else use_lora) and (
        known := lora.default(prompts, family, host)
    ):
        return known
    if checkpoint.apply_defaults() if use_checkpoint is None else use_checkpoint:
        return checkpoint.current(family, host)
    return None


def choice(known: checkpoint.Known) -> Choice:
    """``known`` as a plan choice: a constant schedule, source "checkpoint" or "lora"."""
    return Choice(Schedule.constant(known.value), "lora" if known.kind == "lora" else "checkpoint")


class Fallback:
    """A ``Plan.fallback`` for Manual mode: image i gets ``job_default([prompts[i]])``, computed
    once per distinct prompt. ``defaults[i]`` is the ``checkpoint.Known`` behind image i's choice (or None)."""

    def __init__(
        self, prompts: Sequence[str], family: str | None, host: str, *, use_checkpoint: bool | None = None
    ) -> None:
        by_text: dict[str, checkpoint.Known | None] = {}
        for text in prompts:
            if text not in by_text:
                by_text[text] = job_default([text], family, host, use_checkpoint=use_checkpoint)
        self.defaults: list[checkpoint.Known | None] = [by_text[text] for text in prompts]

    def __bool__(self) -> bool:
        return any(self.defaults)

    def __call__(self, index: int) -> Choice | None:
        known = self.defaults[index] if index < len(self.defaults) else None
        return choice(known) if known else None

    def labels(self) -> list[str]:
        """The distinct ``checkpoint.Known.label`` values of the job, for the infotext."""
        return list(dict.fromkeys(known.label for known in self.defaults if known))
