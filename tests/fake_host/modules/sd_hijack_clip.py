"""The encoders as A1111 runs them: ``encode_with_transformers`` reads ``opts`` at encode time.

SD1 (modules/sd_hijack_clip.py:351-360): N = opts.CLIP_stop_at_last_layers; N=1 last_hidden_state,
N>=2 final_layer_norm(hidden_states[-N]). SDXL (:374-384): CLIP-L hidden_states[-N] only with
opts.sdxl_clip_l_skip, else its config layer hidden_states[11] (= [-2]); OpenCLIP-G always its
penultimate (sd_hijack_open_clip.py:56-64), crossattn = [CLIP-L | CLIP-G] on the channel axis.
Tokenisation is a stand-in: words hashed to ids, BOS, EOS padding to 77.
"""

import zlib

import torch

from modules import shared


def tokenize(texts, vocab=49406):
    ids = torch.full((len(texts), 77), 49407)
    ids[:, 0] = 49406
    for row, text in enumerate(texts):
        words = text.replace(",", " ").split()[:75]
        for col, word in enumerate(words, start=1):
            ids[row, col] = zlib.crc32(word.encode()) % vocab
    return ids


def _final_norm(model):
    return getattr(model, "text_model", model).final_layer_norm


class FakeSD1:
    is_sd1, is_sd2, is_sdxl = True, False, False
    sd_checkpoint_info = "fake-sd1.safetensors"

    def __init__(self, clip):
        self.clip = clip
        self.encodes = []  # (texts, skip) per call, for the tests

    def get_learned_conditioning(self, texts):
        n = shared.opts.CLIP_stop_at_last_layers
        self.encodes.append((list(texts), n))
        with torch.no_grad():
            out = self.clip(input_ids=tokenize(texts), output_hidden_states=-n)
            return out.last_hidden_state if n <= 1 else _final_norm(self.clip)(out.hidden_states[-n])


class FakeConditioner:
    def __init__(self, embedders):
        self.embedders = embedders


class FakeSDXL:
    is_sd1, is_sd2, is_sdxl = False, False, True
    sd_checkpoint_info = "fake-sdxl.safetensors"

    def __init__(self, clip_l, clip_g):
        self.clip_l, self.clip_g = clip_l, clip_g
        self.conditioner = FakeConditioner([clip_l, clip_g])
        self.encodes = []

    def get_learned_conditioning(self, texts):
        n = shared.opts.CLIP_stop_at_last_layers
        moved = shared.opts.sdxl_clip_l_skip is True
        self.encodes.append((list(texts), n, moved))
        ids = tokenize(texts)
        with torch.no_grad():
            l_states = self.clip_l(input_ids=ids, output_hidden_states=True).hidden_states
            g_out = self.clip_g(input_ids=ids, output_hidden_states=True)
        clip_l = l_states[-n] if moved else l_states[-2]
        return {
            "crossattn": torch.cat([clip_l, g_out.hidden_states[-2]], dim=2),
            "vector": g_out.pooler_output,
        }
