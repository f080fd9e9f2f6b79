"""backend/text_processing/classic_engine.py: ``ClassicTextProcessingEngine`` reduced to what decides
its output (:124-148) and its infotext extras (:275-290). Tokenisation is the fake host's stand-in."""

from modules import shared
from modules.sd_hijack_clip import Embedder, Tokenizer, final_norm, tokenize

# Module state that processing.py:476-485 copies into the infotext and then clears.
last_extra_generation_params = {}


class Embedding:
    """A textual-inversion embedding as the fixes name it (modules/textual_inversion)."""

    def __init__(self, name):
        self.name = name


EMBEDDINGS = {name: Embedding(name) for name in ("easynegative", "badhands")}


class Embeddings:
    """``EmbeddingsWithFixes`` holder: the fixes of the current call (:31-35, set at :266)."""

    fixes = None


class ClassicTextProcessingEngine:
    def __init__(self, clip, minimal_clip_skip=1, final_layer_norm=True, return_pooled=False):
        self.text_encoder = type("CLIPTextEncoder", (), {})()  # the engine's text_encoder.transformer
        self.text_encoder.transformer = clip
        self.embeddings = Embeddings()
        self.minimal_clip_skip = minimal_clip_skip
        self.final_layer_norm = final_layer_norm
        self.return_pooled = return_pooled
        self.clip_skip = 1  # written by the diffusion engine's set_clip_skip
        self.tokenizer = Tokenizer()  # :70
        self.id_end = 49407  # :82

    def tokenize_line(self, line):  # :150-232, the fake host's stand-in tokenisation
        return Embedder.tokenize_line(self, line)

    def __call__(self, texts):
        global last_extra_generation_params
        self.embeddings.fixes = [
            [(col, EMBEDDINGS[word]) for col, word in enumerate(text.split()) if word in EMBEDDINGS]
            for text in texts
        ]
        used = [fix[1].name for row in self.embeddings.fixes for fix in row]
        transformer = self.text_encoder.transformer
        outputs = transformer(tokenize(texts), output_hidden_states=True)  # :133
        z = outputs.hidden_states[-max(self.clip_skip, self.minimal_clip_skip)]  # :135-136
        if self.final_layer_norm:
            z = final_norm(transformer)(z)  # :138-139
        if used:  # :277-286
            names = ", ".join(dict.fromkeys(used))
            if "TI" in last_extra_generation_params:
                last_extra_generation_params["TI"] += ", " + names
            else:
                last_extra_generation_params["TI"] = names
        if any("(" in x or "[" in x for x in texts) and shared.opts.emphasis != "Original":  # :288-289
            last_extra_generation_params["Emphasis"] = shared.opts.emphasis
        if self.return_pooled:  # :141-146 (the projection of non-CLIP-L pooled outputs is left out)
            return z, outputs.pooler_output
        return z
