"""Forge Neo 3df257ae (``nolanlane/sd-webui-forge-classic``, Haoming02's branch neo): where its
``backend/diffusion_engine/*.py`` differ from Forge's, on the text path only.

- base.py:42-43: ``ForgeDiffusionEngine.set_clip_skip`` is a no-op that engines without CLIP keep;
  base.py:63-69: the flags are ``is_sd1``, ``is_sdxl`` and ``is_wan`` (no ``is_sd2``/``is_sd3``:
  sd20.py and sd35.py are gone; the inherited False flags read the same); base.py:78-83:
  ``cond_stage_model`` is a property, the CLIP patcher's ``JointTextEncoder``, never None once loaded.
- sd15.py:26-37, :46-47: the SD1 engine is Forge's (``ForgeSD1``).
- sdxl.py:28-52: CLIP-L and bigG with ``minimal_clip_skip=2`` (and ``clip_skip=2`` at build);
  :86-89: an empty negative prompt is zeroed only with ``opts.sdxl_zero_neg``, off by default
  (shared_options.py:336); :91-94: L and G padded to the same length (equal here).
- flux.py:45-61, :67-75: CLIP-L (pooled, final LN, minimal 1) and T5; only ``pooled_l`` is used.
- wan.py:18, :34-44: ``Wan`` holds a UMT5 engine at ``text_processing_engine_t5`` and ``is_wan``;
  no CLIP engine, no ``set_clip_skip`` of its own.
- qwen.py:21, :37-46: ``QwenImage`` holds a Qwen2.5-VL engine at ``text_processing_engine_qwen``.

A Hugging Face T5 encoder stands in for UMT5 and for Qwen2.5-VL: what matters is that no CLIP engine
exists and that every encode is recorded.
"""

import torch
from modules import shared

from backend.diffusion_engine import ForgeFlux, ForgeSD1, ForgeSDXL, _Engine, _zero_empty_negative
from backend.text_processing.t5_engine import T5TextProcessingEngine


class JointTextEncoder:
    """backend/patcher/clip.py:6-18, a ModuleDict of the text encoders: no ``.wrapped``."""


class _Neo:
    is_wan = False  # base.py:69

    @property
    def cond_stage_model(self):  # base.py:78-83
        return JointTextEncoder()


class NeoSD1(_Neo, ForgeSD1):
    pass


class _NeoEngine(_Neo, _Engine):
    is_sd1 = is_sdxl = False  # base.py:63-69

    def set_clip_skip(self, clip_skip):  # base.py:42-43
        pass

    def _skip(self):
        return None


class NeoSDXL(_Neo, ForgeSDXL):
    def __init__(self, clip_l, clip_g):
        super().__init__(clip_l, clip_g)
        self.set_clip_skip(2)  # sdxl.py:36, :49

    def _encode(self, texts):  # sdxl.py:67-101
        cond_l = self.text_processing_engine_l(texts)
        cond_g, pooled = self.text_processing_engine_g(texts)
        sizes = torch.tensor(
            [[texts.height, texts.width, 0, 0, texts.height, texts.width]], dtype=pooled.dtype
        )
        flat = sizes.repeat(pooled.shape[0], 1)
        if shared.opts.sdxl_zero_neg:  # :86-89
            pooled, cond_l, cond_g = _zero_empty_negative(texts, pooled, cond_l, cond_g)
        return {"crossattn": torch.cat([cond_l, cond_g], dim=2), "vector": torch.cat([pooled, flat], dim=1)}


class Flux(_Neo, ForgeFlux):  # flux.py:20, the class name Neo uses
    pass


class Wan(_NeoEngine):  # wan.py:18
    is_wan = True  # wan.py:44

    def __init__(self, umt5):
        super().__init__("wan")
        self.text_processing_engine_t5 = T5TextProcessingEngine(umt5)  # wan.py:34-37 (UMT5)

    def _encode(self, texts):  # wan.py:51-58
        return self.text_processing_engine_t5(texts)


class QwenImage(_NeoEngine):  # qwen.py:21
    is_wan = True  # qwen.py:46 (its VAE is Wan's)

    def __init__(self, qwen):
        super().__init__("qwen-image")
        self.text_processing_engine_qwen = T5TextProcessingEngine(qwen)  # qwen.py:37-40

    def _encode(self, texts):  # qwen.py:48-63 (no reference images)
        return self.text_processing_engine_qwen(texts)
