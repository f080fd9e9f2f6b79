"""backend/text_processing/t5_engine.py:20-66: T5 has no clip skip; ``encode_with_transformers`` calls
``self.text_encoder(input_ids=tokens)`` (:57-66). A Hugging Face T5 encoder stands in for Forge's."""

from modules.sd_hijack_clip import tokenize


class T5TextProcessingEngine:
    def __init__(self, t5):
        self.text_encoder = t5

    def __call__(self, texts):
        ids = tokenize(texts) % self.text_encoder.config.vocab_size
        return self.text_encoder(input_ids=ids).last_hidden_state
