"""comfy/sd1_clip.py: the CLIP-L encoder ComfyUI builds for SD1 (and inside SDXL), as the nodes meet it.

- ``SDClipModel`` (:81-300): ``layer`` "last" / "hidden" with ``layer_idx``; ``set_clip_options``
  (:154-163): ``{"layer": k}`` selects hidden layer k unless ``abs(k) > num_layers`` (then "last");
  ``reset_clip_options`` (:165-168) restores the defaults; ``forward`` (:251-290) takes ``outputs[0]``
  for "last", else ``outputs[1]`` (the intermediate, final-normed when ``layer_norm_hidden_state``),
  pooled output ``outputs[2]``; parameters are frozen (:150-152).
- ``ClipTokenWeightEncoder.encode_token_weights`` (:27-78): every 77-token section and, when any weight
  is not 1, an empty section are encoded in one batch; weighted tokens are written *into* the output
  (``z[i][j] = (z[i][j] - z_empty[j]) * weight + z_empty[j]``); sections are concatenated on dim -2;
  the pooled output is the first section's.
- ``SD1ClipModel`` (:662-694): holds ``clip_l``, forwards options, reads ``token_weight_pairs["l"]``.
- ``SDTokenizer.tokenize_with_weights`` (:462-634) is replaced by a word-hash tokenizer with the same
  output shape (sections of 77 ``(token, weight)`` pairs, start 49406, end and pad 49407, ``(text:w)``
  weights): the real one needs the CLIP vocabulary files.
"""

import re
import zlib

import torch

from comfy import model_management
from comfy.clip_model import CLIPTextModel

START, END = 49406, 49407


def _weighted_words(text):
    for match in re.finditer(r"\(([^():]+):([0-9.]+)\)|([^\s(),]+)", text):
        if match.group(3):
            yield match.group(3), 1.0
        else:
            for word in match.group(1).split():
                yield word, float(match.group(2))


class SDTokenizer:
    def __init__(self, key="l", pad=END):
        self.key, self.pad = key, pad

    def tokenize_with_weights(self, text, return_word_ids=False, **kwargs):
        ids = [
            (zlib.crc32(word.lower().encode()) % 49000 + 1, weight) for word, weight in _weighted_words(text)
        ]
        sections = [ids[i : i + 75] for i in range(0, max(len(ids), 1), 75)]
        out = []
        for section in sections:
            row = [(START, 1.0), *section, (END, 1.0)]
            out.append(row + [(self.pad, 1.0)] * (77 - len(row)))
        return {self.key: out}


class SD1Tokenizer(SDTokenizer):
    pass


class ClipTokenWeightEncoder:
    def encode_token_weights(self, token_weight_pairs):
        to_encode = [[token for token, _ in section] for section in token_weight_pairs]
        has_weights = any(weight != 1.0 for section in token_weight_pairs for _, weight in section)
        sections = len(to_encode)
        if has_weights or sections == 0:
            to_encode.append([START] + [END] * 76)
        out, pooled = self.encode(to_encode)[:2]
        first_pooled = pooled[0:1].to(model_management.intermediate_device()) if pooled is not None else None
        output = []
        for k in range(sections):
            z = out[k : k + 1]
            if has_weights:
                z_empty = out[-1]
                for i in range(len(z)):
                    for j in range(len(z[i])):
                        weight = token_weight_pairs[k][j][1]
                        if weight != 1.0:
                            z[i][j] = (z[i][j] - z_empty[j]) * weight + z_empty[j]
            output.append(z)
        return torch.cat(output, dim=-2).to(model_management.intermediate_device()), first_pooled


class SDClipModel(torch.nn.Module, ClipTokenWeightEncoder):
    def __init__(self, config, layer="last", layer_idx=None, layer_norm_hidden_state=True):
        super().__init__()
        self.transformer = CLIPTextModel(config)
        self.num_layers = self.transformer.num_layers
        self.layer, self.layer_idx = layer, layer_idx
        self.layer_norm_hidden_state = layer_norm_hidden_state
        self.options_default = (self.layer, self.layer_idx)
        for param in self.parameters():
            param.requires_grad = False

    def set_clip_options(self, options):
        layer_idx = options.get("layer", self.layer_idx)
        if layer_idx is None or abs(layer_idx) > self.num_layers:
            self.layer = "last"
        else:
            self.layer = "hidden"
            self.layer_idx = layer_idx

    def reset_clip_options(self):
        self.layer, self.layer_idx = self.options_default

    def forward(self, tokens):
        ids = torch.tensor(tokens, dtype=torch.long)
        outputs = self.transformer(
            ids,
            intermediate_output=self.layer_idx,
            final_layer_norm_intermediate=self.layer_norm_hidden_state,
        )
        z = outputs[0].float() if self.layer == "last" else outputs[1].float()
        return z, outputs[2].float()

    def encode(self, tokens):
        return self(tokens)


class SD1ClipModel(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.clip_name, self.clip = "l", "clip_l"
        self.clip_l = SDClipModel(config)

    def set_clip_options(self, options):
        self.clip_l.set_clip_options(options)

    def reset_clip_options(self):
        self.clip_l.reset_clip_options()

    def encode_token_weights(self, token_weight_pairs):
        return self.clip_l.encode_token_weights(token_weight_pairs["l"])
