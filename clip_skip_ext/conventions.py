"""What "clip skip N" selects on each host and model family, and translation between them.

The extension's one convention: a value means exactly what the running host's own "Clip skip"
means on that host and model family (DESIGN.md §2). Outside values (model cards, ComfyUI
workflows, diffusers scripts, kohya LoRA metadata) arrive in other numberings; ``translate`` maps
them through the layers they select, so two values are equivalent exactly when they pick the same
layer of every text encoder, with or without the final LayerNorm.

Layers are counted from the end of the *reference* encoder in Hugging Face terms:
``Layer(1, ...)`` is ``hidden_states[-1]`` (output of the last transformer block, before the final
LayerNorm) and ``Layer(encoder.layers + 1, ...)`` is ``hidden_states[0]``, the token embeddings.
Forge's SD2 engine keeps 23 of OpenCLIP-H's 24 blocks; its values are mapped onto the 24-block
reference so that every host speaks about the same layers.

Sources for every rule are cited next to it (file:line in the host's code, see
``shared/research/ecosystem.md`` §0 and ``forge-internals.md`` §1.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from clip_skip_ext.schedule import MAX_VALUE, Item, Schedule

Host = Literal["a1111", "forge", "reforge", "comfyui", "diffusers", "sdnext", "kohya", "neo", "classic"]
Family = Literal["sd1", "sd2", "sdxl", "sdxl-refiner", "sd3"]

HOSTS: tuple[Host, ...] = (
    "a1111",
    "forge",
    "reforge",
    "comfyui",
    "diffusers",
    "sdnext",
    "kohya",
    "neo",
    "classic",
)
FAMILIES: tuple[Family, ...] = ("sd1", "sd2", "sdxl", "sdxl-refiner", "sd3")

HOST_NAMES: dict[str, str] = {
    "a1111": "A1111",
    "forge": "Forge",
    "reforge": "reForge",
    "comfyui": "ComfyUI",
    "diffusers": "diffusers",
    "sdnext": "SD.Next",
    "kohya": "kohya sd-scripts",
    "neo": "Forge Neo",  # Haoming02/sd-webui-forge-classic, branch neo: Forge 2.x's backend
    "classic": "Forge Classic",  # the same repository's branch classic: Forge 1.x, no backend
}
FAMILY_NAMES: dict[str, str] = {
    "sd1": "SD1",
    "sd2": "SD2",
    "sdxl": "SDXL",
    "sdxl-refiner": "SDXL refiner",
    "sd3": "SD3",
    "flux": "Flux",
    "chroma": "Chroma",
    "wan": "Wan",
    "qwen-image": "Qwen-Image",
    "z-image": "Z-Image",
    "lumina2": "Lumina 2",
    "anima": "Anima",
    "flux2": "Flux.2",
    "no-clip": "this model",
    "unknown": "this model",
}
NO_CLIP_SKIP: dict[str, str] = {
    # Families whose conditioning no CLIP layer choice reaches, on any host.
    "flux": "Flux reads T5 and CLIP-L's pooled output only, which clip skip never moves "
    "(Forge backend/diffusion_engine/flux.py:83-92)",
}
# Where a host's own code says it differently (Forge Neo 3df257ae: the CLIP-L sequence output is
# computed and dropped, only ``pooled_l`` reaches the cond, flux.py:67-75).
NO_CLIP_SKIP_ON: dict[tuple[str, str], str] = {
    ("neo", "flux"): "Flux reads T5 and CLIP-L's pooled output only, which clip skip never moves "
    "(Forge Neo backend/diffusion_engine/flux.py:67-75)",
}
NO_CLIP = "this model has no CLIP text encoder"
# Families with no CLIP text encoder at all: what they read instead, with the engine that builds it
# (Forge backend/diffusion_engine/chroma.py, the others Forge Neo 3df257ae backend/diffusion_engine/).
NO_CLIP_ENCODER: dict[str, str] = {
    "chroma": "T5-XXL only (Forge chroma.py:38-43, Neo chroma.py:26-31)",
    "wan": "UMT5-XXL only (Neo wan.py:34-37)",
    "qwen-image": "Qwen2.5-VL 7B only (Neo qwen.py:37-40)",
    "z-image": "Qwen3 only (Neo zimage.py:28-31)",
    "lumina2": "Gemma 2 only (Neo lumina.py:28-31)",
    "anima": "Qwen3 0.6B only (Neo anima.py:29-33)",
    "flux2": "Qwen3 only (Neo flux2.py:34-37)",
    "no-clip": "no CLIP text engine",
}


class ConventionError(ValueError):
    """A value, host or family that a numbering convention does not accept."""


@dataclass(frozen=True)
class Layer:
    """One text encoder's output: a hidden state counted from the end, optionally final-normed."""

    from_end: int
    final_norm: bool


@dataclass(frozen=True)
class Encoder:
    name: str
    layers: int
    native: Layer


Selection = tuple[Layer, ...]  # one Layer per encoder of the family, in ENCODERS order

ENCODERS: dict[str, tuple[Encoder, ...]] = {
    # SD1: CLIP ViT-L/14, 12 blocks, trained on the last layer + final LN.
    "sd1": (Encoder("CLIP-L", 12, Layer(1, True)),),
    # SD2: OpenCLIP ViT-H/14, 24 blocks, conditioned on the penultimate layer + ln_final
    # (ldm configs v2-inference.yaml `layer: "penultimate"`).
    "sd2": (Encoder("OpenCLIP-H", 24, Layer(2, True)),),
    # SDXL: CLIP-L `layer: hidden, layer_idx: 11` and bigG `layer: penultimate`, no final LN
    # (sgm configs/inference/sd_xl_base.yaml:42-60).
    "sdxl": (Encoder("CLIP-L", 12, Layer(2, False)), Encoder("CLIP-G", 32, Layer(2, False))),
    # SDXL refiner: bigG only, penultimate, no LN (sgm configs/inference/sd_xl_refiner.yaml).
    "sdxl-refiner": (Encoder("CLIP-G", 32, Layer(2, False)),),
    # SD3: CLIP-L and bigG penultimate without LN, beside T5, which no host's clip skip moves
    # (A1111 modules/models/sd3/sd3_cond.py:168 and other_impls.py:297-301, the SD3 reference code).
    "sd3": (Encoder("CLIP-L", 12, Layer(2, False)), Encoder("CLIP-G", 32, Layer(2, False))),
}


@dataclass(frozen=True)
class Rule:
    """How one host turns its value into layers for one family."""

    low: int
    high: int
    pick: Callable[[int], Selection]
    note: str


def _each(family: str, layer: Callable[[Encoder, int], Layer]) -> Callable[[int], Selection]:
    return lambda n: tuple(layer(encoder, n) for encoder in ENCODERS[family])


def _fixed(family: str) -> Callable[[int], Selection]:
    return lambda n: tuple(encoder.native for encoder in ENCODERS[family])


def _comfy(final_norm: bool) -> Callable[[Encoder, int], Layer]:
    # comfy/sd1_clip.py SDClipModel.set_clip_options: |k| > num_layers falls back to "last",
    # the final-normed last layer; otherwise hidden layer k, normed per encoder.
    return lambda enc, k: Layer(1, True) if k > enc.layers else Layer(k, final_norm)


_L_ONLY = "only CLIP-L moves (with the option sdxl_clip_l_skip, which Clip Skip Control sets)"

RULES: dict[tuple[str, str], Rule | None] = {
    # A1111 1.10 modules/sd_hijack_clip.py:351-360: N=1 last_hidden_state, N>=2
    # final_layer_norm(hidden_states[-N]); 13 = token embeddings, 14 raises IndexError.
    ("a1111", "sd1"): Rule(
        1, 13, _each("sd1", lambda e, n: Layer(n, True)), "layer N from the end + final norm"
    ),
    # sd_hijack_open_clip.py:26-30: CLIP_stop_at_last_layers is never read for SD2.
    ("a1111", "sd2"): Rule(1, 24, _fixed("sd2"), "the host never reads clip skip"),
    # sd_hijack_clip.py:374-384 with sdxl_clip_l_skip: CLIP-L hidden_states[-N], no LN;
    # bigG (sd_hijack_open_clip.py:56-64) and the pooled vector never move.
    ("a1111", "sdxl"): Rule(
        1, 13, lambda n: (Layer(n, False), ENCODERS["sdxl"][1].native), _L_ONLY + "; CLIP-G stays native"
    ),
    # The refiner's bigG embedder is OpenCLIP's (sd_hijack_open_clip.py:56-64), which never reads it.
    ("a1111", "sdxl-refiner"): Rule(1, 13, _fixed("sdxl-refiner"), "the host never reads clip skip"),
    # modules/models/sd3/sd3_cond.py:168-171: fixed layers; CLIP_stop_at_last_layers is never read.
    ("a1111", "sd3"): Rule(1, 13, _fixed("sd3"), "the host never reads clip skip"),
    # Forge backend/text_processing/classic_engine.py:135: hidden_states[-max(N, minimal)].
    ("forge", "sd1"): Rule(
        1, 13, _each("sd1", lambda e, n: Layer(n, True)), "layer N from the end + final norm"
    ),
    # Forge sd20.py: the engine keeps 23 of 24 blocks, so its N is one deeper on the reference.
    ("forge", "sd2"): Rule(
        1,
        24,
        _each("sd2", lambda e, n: Layer(n + 1, True)),
        "the 23-block engine: N=1 is the native penultimate",
    ),
    # Forge sdxl.py: set_clip_skip moves CLIP-L and CLIP-G, minimal_clip_skip=2, no LN.
    ("forge", "sdxl"): Rule(
        1,
        13,
        _each("sdxl", lambda e, n: Layer(max(n, 2), False)),
        "CLIP-L and CLIP-G move together; 1 and 2 are native",
    ),
    # Forge sdxl.py:180-204: the refiner's engine is bigG alone, minimal_clip_skip=2, no LN.
    ("forge", "sdxl-refiner"): Rule(
        1, 13, _each("sdxl-refiner", lambda e, n: Layer(max(n, 2), False)), "CLIP-G only; 1 and 2 are native"
    ),
    # Forge sd35.py:56-99: CLIP-L and bigG engines with minimal_clip_skip=1 and no LN; T5 has no skip.
    ("forge", "sd3"): Rule(
        1,
        13,
        _each("sd3", lambda e, n: Layer(n, False)),
        "CLIP-L and CLIP-G move together, T5 never; 2 is native, Forge's default 1 is the last layer",
    ),
    # reForge modules_forge/forge_clip.py:16-35 (SD1 as A1111), 38-68 (SD2: 24 blocks, minimal 2),
    # 71-124 (SDXL: L and G, minimal 2, no LN).
    ("reforge", "sd1"): Rule(
        1, 13, _each("sd1", lambda e, n: Layer(n, True)), "layer N from the end + final norm"
    ),
    ("reforge", "sd2"): Rule(
        1,
        25,
        _each("sd2", lambda e, n: Layer(max(n, 2), True)),
        "1 and 2 are the native penultimate + final norm",
    ),
    ("reforge", "sdxl"): Rule(
        1,
        13,
        _each("sdxl", lambda e, n: Layer(max(n, 2), False)),
        "CLIP-L and CLIP-G move together; 1 and 2 are native",
    ),
    ("reforge", "sdxl-refiner"): None,  # not documented by reForge's forge_clip.py
    ("reforge", "sd3"): None,
    # Neo removed the SD2 and SD3 engines (backend/diffusion_engine/ has no sd20.py or sd35.py).
    ("neo", "sd2"): None,
    ("neo", "sd3"): None,
    # Forge Classic (branch classic, 1f95d717): A1111 1.x with modules_forge/forge_clip.py. SD1 as
    # A1111 (:15-27); SD2 fixed penultimate + LN (:30-53); SDXL CLIP-L at its config layer and bigG
    # penultimate (:56-97, no sdxl_clip_l_skip), so clip skip never reaches SDXL or its refiner
    # (whose one embedder is bigG, forge_loader.py:210-225). No SD3.
    ("classic", "sd1"): Rule(
        1, 13, _each("sd1", lambda e, n: Layer(n, True)), "layer N from the end + final norm"
    ),
    ("classic", "sd2"): Rule(1, 24, _fixed("sd2"), "the host never reads clip skip"),
    ("classic", "sdxl"): Rule(1, 13, _fixed("sdxl"), "the host never reads clip skip"),
    ("classic", "sdxl-refiner"): Rule(1, 13, _fixed("sdxl-refiner"), "the host never reads clip skip"),
    ("classic", "sd3"): None,
    # ComfyUI CLIPSetLastLayer(k), k in [-24, -1], written here as |k|: every encoder of the model,
    # final LN for SD1/SD2 (layer_norm_hidden_state default), none for SDXL (sdxl_clip.py).
    ("comfyui", "sd1"): Rule(1, 24, _each("sd1", _comfy(True)), "CLIPSetLastLayer(-N) + final norm"),
    ("comfyui", "sd2"): Rule(1, 24, _each("sd2", _comfy(True)), "CLIPSetLastLayer(-N) + final norm"),
    ("comfyui", "sdxl"): Rule(
        1,
        24,
        _each("sdxl", _comfy(False)),
        "CLIPSetLastLayer(-N) on CLIP-L and CLIP-G; -1 is NOT native, -2 is",
    ),
    # comfy/sdxl_clip.py SDXLRefinerClipModel and text_encoders/sd3_clip.py SD3ClipModel: bigG (and
    # CLIP-L) at layer_idx -2 with layer_norm_hidden_state=False; the T5 of SD3 takes no clip options.
    ("comfyui", "sdxl-refiner"): Rule(
        1, 24, _each("sdxl-refiner", _comfy(False)), "CLIPSetLastLayer(-N); -2 is native"
    ),
    ("comfyui", "sd3"): Rule(
        1, 24, _each("sd3", _comfy(False)), "CLIPSetLastLayer(-N) on CLIP-L and CLIP-G; -2 is native"
    ),
    # diffusers clip_skip=k (None = 0): SD1 hidden_states[-(k+1)] + LN (pipeline_stable_diffusion.py
    # L422-437); SDXL hidden_states[-(k+2)] on both, no LN (pipeline_stable_diffusion_xl.py L411-415);
    # SD2 checkpoints ship a 23-block text encoder, so k selects one deeper on the reference.
    ("diffusers", "sd1"): Rule(
        0, 12, _each("sd1", lambda e, k: Layer(k + 1, True)), "clip_skip=k is A1111 k+1"
    ),
    ("diffusers", "sd2"): Rule(0, 23, _each("sd2", lambda e, k: Layer(k + 2, True)), "clip_skip=0 is native"),
    ("diffusers", "sdxl"): Rule(
        0, 11, _each("sdxl", lambda e, k: Layer(k + 2, False)), "clip_skip=k goes k layers below native"
    ),
    # The refiner's img2img pipeline and pipeline_stable_diffusion_3.py _get_clip_prompt_embeds index the
    # same way: hidden_states[-(k+2)], no LN.
    ("diffusers", "sdxl-refiner"): Rule(
        0,
        30,
        _each("sdxl-refiner", lambda e, k: Layer(k + 2, False)),
        "clip_skip=k goes k layers below native",
    ),
    ("diffusers", "sd3"): Rule(
        0, 11, _each("sd3", lambda e, k: Layer(k + 2, False)), "clip_skip=k goes k layers below native"
    ),
    # SD.Next modules/prompt_parser_diffusers.py: SD1 hidden_states[-N] + LN; SDXL -(N+1), no LN.
    ("sdnext", "sd1"): Rule(
        1, 12, _each("sd1", lambda e, n: Layer(n, True)), "layer N from the end + final norm"
    ),
    ("sdnext", "sd2"): None,  # not documented by SD.Next; no translation is offered
    ("sdnext", "sdxl"): Rule(
        0, 12, _each("sdxl", lambda e, n: Layer(n + 1, False)), "1 is native; 2 goes one layer deeper"
    ),
    ("sdnext", "sdxl-refiner"): None,
    ("sdnext", "sd3"): None,
    # kohya --clip_skip n: train_util.py L5617-5622 hidden_states[-n] + LN (= A1111); ignored for
    # SDXL with a warning (sdxl_train_util.py L351-352), so training used the native layers;
    # SD2 behaviour is flagged "unexpected" by kohya itself: no translation.
    ("kohya", "sd1"): Rule(1, 12, _each("sd1", lambda e, n: Layer(n, True)), "--clip_skip n = A1111 n"),
    ("kohya", "sd2"): None,
    ("kohya", "sdxl"): Rule(1, 12, _fixed("sdxl"), "ignored when training SDXL: native layers"),
    ("kohya", "sdxl-refiner"): None,
    ("kohya", "sd3"): None,
}
# Forge Neo 3df257ae runs Forge's engines and reads them the same way (classic_engine.py:109-115:
# hidden_states[-max(N, minimal_clip_skip)], final LN per engine): SD1 sd15.py:26-37 (minimal 1, LN),
# SDXL sdxl.py:28-52 and :63-65 (L and G, minimal 2, no LN), the refiner sdxl.py:146-157 and :168-169.
RULES.update({("neo", family): RULES[("forge", family)] for family in ("sd1", "sdxl", "sdxl-refiner")})

# Cells with no rule because the host has no engine for the family (see the comments above).
CANNOT_LOAD: frozenset[tuple[str, str]] = frozenset({("neo", "sd2"), ("neo", "sd3"), ("classic", "sd3")})


def rule(host: str, family: str) -> Rule:
    """The rule for ``host`` on ``family``; ConventionError if either is unknown or undocumented."""
    if host not in HOSTS:
        raise ConventionError(f"unknown host {host!r}; expected one of {', '.join(HOSTS)}")
    if family not in FAMILIES:
        raise ConventionError(f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)}")
    found = RULES[(host, family)]
    if found is None:
        raise ConventionError(
            f"{HOST_NAMES[host]} has no documented clip skip numbering for {FAMILY_NAMES[family]}"
        )
    return found


def moves(host: str, family: str | None) -> bool:
    """Whether ``host``'s own clip skip changes ``family``'s conditioning (so Clip Skip Control can):
    False for unknown families, undocumented numberings and rules that always select the same layers."""
    found = RULES.get((host, family or ""))
    return found is not None and len({found.pick(n) for n in range(found.low, found.high + 1)}) > 1


def no_effect(host: str, family: str | None) -> str | None:
    """Why clip skip cannot change ``family``'s conditioning on ``host``, or None when it can."""
    if family is None:
        return "no model is loaded yet"
    on = HOST_NAMES.get(host, host)
    if family in NO_CLIP_ENCODER:
        return f"{NO_CLIP}: {FAMILY_NAMES[family]} on {on} reads {NO_CLIP_ENCODER[family]}"
    if family in NO_CLIP_SKIP:
        return NO_CLIP_SKIP_ON.get((host, family), NO_CLIP_SKIP[family])
    if family not in FAMILIES:
        return f"{family}: a model family Clip Skip Control does not know (on {on})"
    name = f"{FAMILY_NAMES[family]} on {on}"
    found = RULES.get((host, family))
    if (host, family) in CANNOT_LOAD:
        return f"{name}: {on} has no engine for this family (it cannot load it)"
    if found is None:
        return f"{name}: no documented clip skip numbering, so the host's own is left alone"
    return None if moves(host, family) else f"{name}: {found.note}"


def _normalise(value: float, host: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConventionError(f"clip skip value {value!r} is not a number")
    # ComfyUI writes CLIPSetLastLayer values as negative numbers; both spellings are accepted.
    return -value if host == "comfyui" and value < 0 else value


def _check(value: float, host: str, family: str) -> tuple[Rule, float]:
    found = rule(host, family)
    value = _normalise(value, host)
    if not found.low <= value <= found.high:
        raise ConventionError(
            f"clip skip {_fmt(value)} is out of range for {HOST_NAMES[host]} on {FAMILY_NAMES[family]}; "
            f"accepted: {found.low} to {found.high}"
        )
    return found, value


def select(value: int, family: str, host: str) -> Selection:
    """The layers that the integer ``value`` selects on ``host`` for ``family``."""
    found, value = _check(value, host, family)
    if value != int(value):
        raise ConventionError(f"select() takes whole values; {_fmt(value)} is a blend, see neighbours()")
    return found.pick(int(value))


def neighbours(value: float, family: str, host: str) -> tuple[int, int, float]:
    """(lower, upper, weight of upper): a fractional value blends the outputs of two whole values."""
    found, value = _check(value, host, family)
    low = math.floor(value)
    return low, min(low + 1, found.high), round(value - low, 2)


def _candidates(selection: Selection, family: str, host: str) -> list[int]:
    found = rule(host, family)
    return [n for n in range(found.low, found.high + 1) if found.pick(n) == selection]


def _prefer(candidates: list[int], wanted: float) -> int | None:
    if not candidates:
        return None
    return int(wanted) if wanted in candidates else candidates[0]


def translate(value: float, family: str, source: str, target: str) -> float | None:
    """The value on ``target`` that selects the same layers as ``value`` on ``source``.

    Returns None when no value of the target host selects those layers ("no equivalent"). When
    several do (Forge SDXL 1 and 2), the source's own number is kept if it is one of them, else
    the smallest. A fractional value translates when both of its neighbours translate to
    neighbouring values (or to the same one, when the blend is of two identical outputs).

    >>> translate(2, "sdxl", "comfyui", "a1111")
    2
    >>> translate(1, "sdxl", "comfyui", "a1111") is None
    True
    """
    low, high, weight = neighbours(value, family, source)
    value = _normalise(value, source)
    if weight == 0:
        return _prefer(_candidates(select(low, family, source), family, target), value)
    sel_low, sel_high = select(low, family, source), select(high, family, source)
    if sel_low == sel_high:
        return _prefer(_candidates(sel_low, family, target), value)
    t_low = _prefer(_candidates(sel_low, family, target), low)
    t_high = _prefer(_candidates(sel_high, family, target), high)
    if t_low is None or t_high is None or abs(t_high - t_low) != 1:
        return None
    return round(t_low + (t_high - t_low) * weight, 2)


def translate_schedule(
    schedule: Schedule, family: str, source: str, target: str
) -> tuple[Schedule | None, list[float]]:
    """``schedule`` with every value translated (``translate``); ``(None, the values without an
    equivalent)`` when any has none, or when its equivalent is outside what a schedule can say
    (reForge's SD2 25, the token embeddings, which Forge writes 24)."""
    items, missing = [], []
    for item in schedule.items:
        value = translate(item.value, family, source, target)
        if value is None or value > MAX_VALUE:
            missing.append(item.value)
        else:
            items.append(Item(value, item.until))
    if missing:
        return None, list(dict.fromkeys(missing))
    return Schedule(tuple(items), schedule.per_step), []


def minimal_value(host: str, family: str) -> int | None:
    """The highest value that selects what the lowest does: on Forge and Forge Neo the engines'
    ``minimal_clip_skip`` that the rule assumes (classic_engine.py: ``hidden_states[-max(N, minimal)]``).
    None when ``host`` has no rule for ``family``."""
    found = RULES.get((host, family))
    if found is None:
        return None
    lowest = found.pick(found.low)
    same = [n for n in range(found.low, found.high + 1) if found.pick(n) == lowest]
    return max(same) if len(same) < found.high - found.low + 1 else None


def native_value(family: str, host: str) -> int | None:
    """The host value that selects the layers the base model was trained on."""
    native = tuple(encoder.native for encoder in ENCODERS[family])
    candidates = _candidates(native, family, host)
    return candidates[0] if candidates else None


def describe_layer(layer: Layer, encoder: Encoder) -> str:
    """E.g. "layer 11 of 12 + final norm", "embeddings (no block)"."""
    index = encoder.layers + 1 - layer.from_end
    where = f"layer {index} of {encoder.layers}" if index > 0 else "token embeddings"
    return where + (" + final norm" if layer.final_norm else ", no norm")


def describe(value: float, family: str, host: str) -> str:
    """One line for the panel: what ``value`` does on ``host`` for ``family``.

    >>> describe(2, "sd1", "a1111")
    'SD1: CLIP-L layer 11 of 12 + final norm'
    """
    found, value = _check(value, host, family)
    low, high, weight = neighbours(value, family, host)
    head = f"{FAMILY_NAMES[family]} on {HOST_NAMES[host]}" if family != "sd1" else FAMILY_NAMES[family]
    parts = []
    for index, encoder in enumerate(ENCODERS[family]):
        lo = describe_layer(found.pick(low)[index], encoder)
        if weight and found.pick(high)[index] != found.pick(low)[index]:
            hi = describe_layer(found.pick(high)[index], encoder)
            parts.append(f"{encoder.name} {round(1 - weight, 2):g}×({lo}) + {round(weight, 2):g}×({hi})")
        else:
            native = " (native)" if found.pick(low)[index] == encoder.native else ""
            parts.append(f"{encoder.name} {lo}{native}")
    text = f"{head}: {'; '.join(parts)}"
    if family != "sd1":
        text += f" [{found.note}]"
    return text


def _fmt(value: float) -> str:
    return f"{value:g}"
