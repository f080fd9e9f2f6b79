"""Clip skip recorded in a safetensors header's ``__metadata__``.

- ``modelspec.encoder_layer`` (Stability ModelSpec: "for 'clip skip' in Stable Diffusion models …
  value 2 in an SD model indicates clip_skip=2 should be used"). kohya sd-scripts writes it as
  ``str(clip_skip)`` (``library/sai_model_spec.py``, "Handle encoder layer (clip skip)"); a header that
  also carries kohya's ``ss_*`` training keys is read in kohya numbering, any other in A1111 numbering.
- ``ss_clip_skip`` (kohya ``train_network.py``: ``"ss_clip_skip": args.clip_skip``, all values
  stringified, so unset is ``"None"``), read on LoRAs only: a checkpoint's ``ss_*`` keys may come from
  a LoRA merged into it.

A header is kohya's when it carries ``ss_*`` training keys or ``modelspec.implementation_version``
``"sd-scripts/<commit>"`` (sd-scripts' SDXL checkpoints carry no ``ss_*`` keys). kohya ignores clip
skip when training SDXL (``library/sdxl_train_util.py``: "clip_skip will be unexpected"), so a kohya
value on an SDXL model means the native layers whatever it says, and is reported as that note.

``ss_clip_skip = "None"`` on an SD1 LoRA means ``--clip_skip`` was not given, and kohya then trains on
the last layer (``train_util.py`` ``get_hidden_states``: no skip, ``last_hidden_state``), A1111 1. That
stays "not recorded" (no recommendation, so a Civitai value or the curated list still decides), with a
note saying what kohya's default was: a default is not a choice the trainer made.
"""

from __future__ import annotations

from .recommendation import Finding, Recommendation, format_skip, parse_skip
from .safetensors_header import MetadataError, SafetensorsHeader

MODELSPEC_CONFIDENCE = 0.8
KOHYA_CONFIDENCE = 0.7


def _written_by_kohya(metadata: dict[str, str]) -> bool:
    implementation = metadata.get("modelspec.implementation_version", "").strip().lower()
    return implementation.startswith("sd-scripts") or any(key.startswith("ss_") for key in metadata)


def read_header_values(header: SafetensorsHeader, kind: str, family: str | None) -> Finding:
    """The clip skip values in ``header`` for a model of ``kind`` ("checkpoint" or "lora") and ``family``."""
    metadata = header.metadata
    kohya = _written_by_kohya(metadata)
    recommendations: list[Recommendation] = []
    problems: list[str] = []
    notes: list[str] = list(header.notes)
    keys = ["modelspec.encoder_layer"] + (["ss_clip_skip"] if kind == "lora" else [])
    if kind != "lora" and "ss_clip_skip" in metadata:
        notes.append(
            f"ss_clip_skip = {metadata['ss_clip_skip']!r} ignored: "
            "on a checkpoint it may come from a merged LoRA"
        )
    for key in keys:
        if key not in metadata:
            continue
        try:
            skip = parse_skip(metadata[key], f"{header.path} [{key}]")
        except MetadataError as error:
            problems.append(str(error))
            continue
        convention = "kohya" if (kohya or key == "ss_clip_skip") else "a1111"
        if convention == "kohya" and family == "sdxl":
            notes.append(
                f"{key} = {metadata[key]!r} ignored: kohya does not apply clip skip when training SDXL "
                "(it trains on the native layers)"
            )
            continue
        if skip is None and key == "ss_clip_skip" and family == "sd1":
            notes.append(
                f"{key} = {metadata[key]!r}: not recorded (unknown); --clip_skip was not given, so kohya "
                "trained on the last layer (A1111 1), its default, not a choice"
            )
            continue
        if skip is None:
            notes.append(f"{key} = {metadata[key]!r}: not recorded (unknown)")
            continue
        recommendations.append(
            Recommendation(
                skip=skip,
                convention=convention,
                source=f"safetensors header ({key})",
                confidence=MODELSPEC_CONFIDENCE if convention == "a1111" else KOHYA_CONFIDENCE,
                detail=f"{key} = {metadata[key]!r}"
                + (" (kohya training metadata: kohya numbering)" if convention == "kohya" else "")
                + ("" if metadata[key].strip() == format_skip(skip) else f", read as {format_skip(skip)}"),
                origin="header",
            )
        )
    return Finding(recommendations=tuple(recommendations), problems=tuple(problems), notes=tuple(notes))
