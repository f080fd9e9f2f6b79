"""comfy/sd.py:96-270: the ``CLIP`` object nodes receive.

``clone`` (:137-146) shares ``cond_stage_model`` and copies ``layer_idx``; ``clip_layer`` (:154-155)
only stores the index; ``encode_from_tokens`` (:237-262) resets the options, sets
``{"layer": layer_idx}`` when one is set, and calls ``cond_stage_model.encode_token_weights``;
``encode_from_tokens_scheduled`` without hooks (:171-181) returns ``[[cond, {"pooled_output": ...}]]``.
"""

from comfy import model_management


class CLIP:
    def __init__(self, cond_stage_model=None, tokenizer=None, no_init=False):
        if no_init:
            return
        self.cond_stage_model = cond_stage_model
        self.tokenizer = tokenizer
        self.layer_idx = None
        self.encodes = 0  # calls into cond_stage_model (for tests)

    def clone(self):
        n = CLIP(no_init=True)
        n.cond_stage_model = self.cond_stage_model
        n.tokenizer = self.tokenizer
        n.layer_idx = self.layer_idx
        n.encodes = 0
        return n

    def clip_layer(self, layer_idx):
        self.layer_idx = layer_idx

    def tokenize(self, text, return_word_ids=False, **kwargs):
        return self.tokenizer.tokenize_with_weights(text, return_word_ids, **kwargs)

    def encode_from_tokens_scheduled(self, tokens, unprojected=False, add_dict={}, show_pbar=True):  # noqa: B006
        pooled_dict = self.encode_from_tokens(tokens, return_pooled=True, return_dict=True)
        cond = pooled_dict.pop("cond")
        pooled_dict.update(add_dict)
        return [[cond, pooled_dict]]

    def encode_from_tokens(self, tokens, return_pooled=False, return_dict=False):
        self.cond_stage_model.reset_clip_options()
        if self.layer_idx is not None:
            self.cond_stage_model.set_clip_options({"layer": self.layer_idx})
        self.load_model()
        self.encodes += 1
        cond, pooled = self.cond_stage_model.encode_token_weights(tokens)[:2]
        if return_dict:
            return {"cond": cond, "pooled_output": pooled}
        return (cond, pooled) if return_pooled else cond

    def load_model(self):
        model_management.load_model_gpu(self)
