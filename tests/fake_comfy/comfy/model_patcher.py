"""comfy/model_patcher.py ``ModelPatcher.get_model_object`` (the MODEL a node receives)."""

from comfy.model_sampling import ModelSamplingDiscrete


class ModelPatcher:
    def __init__(self):
        self.model_sampling = ModelSamplingDiscrete()
        self.load_device = "cpu"

    def get_model_object(self, name):
        if name != "model_sampling":
            raise AttributeError(name)
        return self.model_sampling
