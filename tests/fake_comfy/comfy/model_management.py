"""comfy/model_management.py: the three calls the CLIP path makes (everything runs on the CPU here)."""

import torch


def intermediate_device():
    return torch.device("cpu")


def load_model_gpu(patcher):
    return None


def throw_exception_if_processing_interrupted():
    return None
