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


def final_norm(model):
    return getattr(model, "text_model", model).final_layer_norm


class Wrapped:
    """``FrozenCLIPEmbedder``: the Hugging Face text model at ``.transformer`` (sd_hijack_clip.py:351)."""

    def __init__(self, transformer):
        self.transformer = transformer


class OpenClipWrapped:
    """``FrozenOpenCLIPEmbedder2``: ``encode_with_transformer(tokens)`` returns the named layers
    (sgm modules.py:466-489, read by sd_hijack_open_clip.py:56-64). An HF model stands in for OpenCLIP."""

    layer = "penultimate"

    def __init__(self, model):
        self.model = model

    def encode_with_transformer(self, tokens):
        out = self.model(input_ids=tokens, output_hidden_states=True)
        return {"penultimate": out.hidden_states[-2], "pooled": out.pooler_output}


class PromptChunk:  # :10-27
    def __init__(self, tokens):
        self.tokens = tokens


class Tokenizer:
    """The Hugging Face tokenizer's ``convert_ids_to_tokens`` (BPE words end in ``</w>``)."""

    def convert_ids_to_tokens(self, ids):
        return [f"w{i}</w>" for i in ids]


class Embedder:
    """``FrozenCLIPEmbedderWithCustomWords``: ``wrapped``, ``tokenizer`` (:319), ``id_end`` (:343) and
    ``tokenize_line`` (:81-174: chunks of 77 ids, start and end tokens included, and the token count)."""

    id_end = 49407

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.tokenizer = Tokenizer()

    def tokenize_line(self, line):
        words = line.replace(",", " ").split()
        chunks = []
        for start in range(0, max(len(words), 1), 75):
            piece = " ".join(words[start : start + 75])
            chunks.append(PromptChunk(tokenize([piece])[0].tolist()))
        return chunks, len(words)


class FakeSD1:
    is_sd1, is_sd2, is_sdxl = True, False, False
    sd_checkpoint_info = "fake-sd1.safetensors"

    def __init__(self, clip):
        self.clip = clip
        self.cond_stage_model = Embedder(Wrapped(clip))
        self.encodes = []  # (texts, skip) per call, for the tests

    def get_learned_conditioning(self, texts):
        n = shared.opts.CLIP_stop_at_last_layers
        self.encodes.append((list(texts), n))
        transformer = self.cond_stage_model.wrapped.transformer
        with torch.no_grad():  # sd_hijack_clip.py:351-360
            out = transformer(input_ids=tokenize(texts), output_hidden_states=-n)
            return out.last_hidden_state if n <= 1 else final_norm(transformer)(out.hidden_states[-n])


class FakeConditioner:
    def __init__(self, embedders):
        self.embedders = embedders


class FakeSDXL:
    is_sd1, is_sd2, is_sdxl = False, False, True
    sd_checkpoint_info = "fake-sdxl.safetensors"

    def __init__(self, clip_l, clip_g):
        self.clip_l, self.clip_g = clip_l, clip_g
        self.conditioner = FakeConditioner([Embedder(Wrapped(clip_l)), Embedder(OpenClipWrapped(clip_g))])
        self.encodes = []

    def get_learned_conditioning(self, texts):
        n = shared.opts.CLIP_stop_at_last_layers
        moved = shared.opts.sdxl_clip_l_skip is True
        self.encodes.append((list(texts), n, moved))
        ids = tokenize(texts)
        clip_l, clip_g = self.conditioner.embedders
        with torch.no_grad():  # sd_hijack_clip.py:374-384 (layer "hidden", layer_idx 11)
            l_states = clip_l.wrapped.transformer(input_ids=ids, output_hidden_states=True).hidden_states
            g = clip_g.wrapped.encode_with_transformer(ids)
        l_out = l_states[-n] if moved else l_states[-2]
        return {"crossattn": torch.cat([l_out, g["penultimate"]], dim=2), "vector": g["pooled"]}
