"""backend/diffusion_engine/*.py: each family's engine as ``modules/processing.py`` drives it,
``set_clip_skip(n)`` (processing.py:472) then ``get_learned_conditioning(prompts)``.

Layers and flags as Forge builds them: sd15.py:39-66, sdxl.py:44-119 (base) and :180-204 (refiner),
sd35.py:56-131, flux.py:56-92. Size embeddings and padding widths are stand-ins of the right kind.
"""

import torch

from backend.text_processing.classic_engine import ClassicTextProcessingEngine as Classic
from backend.text_processing.t5_engine import T5TextProcessingEngine


class _Engine:
    is_sd1 = is_sd2 = is_sdxl = is_sd3 = False

    def __init__(self, name):
        self.sd_checkpoint_info = f"fake-forge-{name}.safetensors"
        self.extra_generation_params = {}
        self.encodes = []  # (texts, skip) per call, for the tests

    def get_learned_conditioning(self, texts):
        self.encodes.append((list(texts), self._skip()))
        with torch.no_grad():
            return self._encode(texts)


def _zero_empty_negative(texts, *tensors):
    """sdxl.py:109-114, sd35.py:114-121: an empty negative prompt is all zeros."""
    if getattr(texts, "is_negative_prompt", False) and all(x == "" for x in texts):
        return [torch.zeros_like(t) for t in tensors]
    return list(tensors)


class ForgeSD1(_Engine):
    is_sd1 = True

    def __init__(self, clip):
        super().__init__("sd1")
        self.text_processing_engine = Classic(clip)

    def set_clip_skip(self, clip_skip):  # sd15.py:60-61
        self.text_processing_engine.clip_skip = clip_skip

    def _skip(self):
        return self.text_processing_engine.clip_skip

    def _encode(self, texts):
        return self.text_processing_engine(texts)


class ForgeSDXL(_Engine):
    is_sdxl = True

    def __init__(self, clip_l, clip_g):
        super().__init__("sdxl")
        self.text_processing_engine_l = Classic(clip_l, 2, final_layer_norm=False)
        self.text_processing_engine_g = Classic(clip_g, 2, final_layer_norm=False, return_pooled=True)

    def set_clip_skip(self, clip_skip):  # sdxl.py:81-83
        self.text_processing_engine_l.clip_skip = clip_skip
        self.text_processing_engine_g.clip_skip = clip_skip

    def _skip(self):
        return self.text_processing_engine_l.clip_skip

    def _encode(self, texts):
        cond_l = self.text_processing_engine_l(texts)
        cond_g, pooled = self.text_processing_engine_g(texts)
        sizes = torch.tensor(
            [[texts.height, texts.width, 0, 0, texts.height, texts.width]], dtype=pooled.dtype
        )
        flat = sizes.repeat(pooled.shape[0], 1)
        pooled, cond_l, cond_g = _zero_empty_negative(texts, pooled, cond_l, cond_g)
        return {"crossattn": torch.cat([cond_l, cond_g], dim=2), "vector": torch.cat([pooled, flat], dim=1)}


class ForgeSDXLRefiner(_Engine):
    is_sdxl = True

    def __init__(self, clip_g):
        super().__init__("sdxl-refiner")
        self.text_processing_engine_g = Classic(clip_g, 2, final_layer_norm=False, return_pooled=True)

    def set_clip_skip(self, clip_skip):  # sdxl.py:203-204
        self.text_processing_engine_g.clip_skip = clip_skip

    def _skip(self):
        return self.text_processing_engine_g.clip_skip

    def _encode(self, texts):
        cond_g, pooled = self.text_processing_engine_g(texts)
        return {"crossattn": cond_g, "vector": pooled}


class ForgeSD3(_Engine):
    is_sd3 = True

    def __init__(self, clip_l, clip_g, t5):
        super().__init__("sd3")
        self.text_processing_engine_l = Classic(clip_l, 1, final_layer_norm=False, return_pooled=True)
        self.text_processing_engine_g = Classic(clip_g, 1, final_layer_norm=False, return_pooled=True)
        self.text_processing_engine_t5 = T5TextProcessingEngine(t5)

    def set_clip_skip(self, clip_skip):  # sd35.py:97-99
        self.text_processing_engine_l.clip_skip = clip_skip
        self.text_processing_engine_g.clip_skip = clip_skip

    def _skip(self):
        return self.text_processing_engine_l.clip_skip

    def _encode(self, texts):  # sd35.py:101-131
        cond_g, g_pooled = self.text_processing_engine_g(texts)
        cond_l, l_pooled = self.text_processing_engine_l(texts)
        cond_t5 = self.text_processing_engine_t5(texts)
        l_pooled, g_pooled, cond_l, cond_g, cond_t5 = _zero_empty_negative(
            texts, l_pooled, g_pooled, cond_l, cond_g, cond_t5
        )
        cond_lg = torch.cat([cond_l, cond_g], dim=-1)
        cond_lg = torch.nn.functional.pad(cond_lg, (0, cond_t5.shape[-1] - cond_lg.shape[-1]))
        return {
            "crossattn": torch.cat([cond_lg, cond_t5], dim=-2),
            "vector": torch.cat([l_pooled, g_pooled], dim=-1),
        }


class ForgeFlux(_Engine):
    def __init__(self, clip_l, t5):
        super().__init__("flux")
        self.text_processing_engine_l = Classic(clip_l, 1, final_layer_norm=True, return_pooled=True)
        self.text_processing_engine_t5 = T5TextProcessingEngine(t5)

    def set_clip_skip(self, clip_skip):  # flux.py:80-81
        self.text_processing_engine_l.clip_skip = clip_skip

    def _skip(self):
        return self.text_processing_engine_l.clip_skip

    def _encode(self, texts):  # flux.py:83-92: the CLIP-L sequence output is thrown away
        _cond_l, pooled_l = self.text_processing_engine_l(texts)
        return {"crossattn": self.text_processing_engine_t5(texts), "vector": pooled_l}
