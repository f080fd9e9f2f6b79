"""comfy/sdxl_clip.py:41-70: SDXL's two encoders. CLIP-L is ``SDClipModel(layer="hidden",
layer_idx=-2, layer_norm_hidden_state=False)`` (:44); bigG is ``SDXLClipG``, "penultimate", i.e.
hidden -2, no final norm (:5-14). Options go to both (:48-54); the conds of L and G are concatenated on
the last dim and the pooled output is bigG's (:56-62)."""

import torch

from comfy.sd1_clip import SDClipModel, SDTokenizer


class SDXLTokenizer:
    def __init__(self):
        self.clip_l, self.clip_g = SDTokenizer("l"), SDTokenizer("g", pad=0)

    def tokenize_with_weights(self, text, return_word_ids=False, **kwargs):
        return {**self.clip_l.tokenize_with_weights(text), **self.clip_g.tokenize_with_weights(text)}


class SDXLClipModel(torch.nn.Module):
    def __init__(self, config_l, config_g):
        super().__init__()
        self.clip_l = SDClipModel(config_l, layer="hidden", layer_idx=-2, layer_norm_hidden_state=False)
        self.clip_g = SDClipModel(config_g, layer="hidden", layer_idx=-2, layer_norm_hidden_state=False)

    def set_clip_options(self, options):
        self.clip_l.set_clip_options(options)
        self.clip_g.set_clip_options(options)

    def reset_clip_options(self):
        self.clip_g.reset_clip_options()
        self.clip_l.reset_clip_options()

    def encode_token_weights(self, token_weight_pairs):
        g_out, g_pooled = self.clip_g.encode_token_weights(token_weight_pairs["g"])
        l_out, _ = self.clip_l.encode_token_weights(token_weight_pairs["l"])
        cut = min(l_out.shape[1], g_out.shape[1])
        return torch.cat([l_out[:, :cut], g_out[:, :cut]], dim=-1), g_pooled
