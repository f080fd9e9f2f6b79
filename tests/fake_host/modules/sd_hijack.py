"""modules/sd_hijack.py: ``model_hijack.fixes``, the textual-inversion fixes of the current encoder
call, set by process_tokens and consumed (reset to None) by EmbeddingsWithFixes.forward (:347-351)."""


class StableDiffusionModelHijack:
    fixes = None


model_hijack = StableDiffusionModelHijack()
