"""comfy/samplers.py: what decides which conditioning a model call uses, and the KSampler's sigmas.

- ``calculate_start_end_timesteps`` (:628-650): ``start_percent``/``end_percent`` become
  ``timestep_start``/``timestep_end`` through ``model_sampling.percent_to_sigma``;
- ``get_area_and_mult`` (:30-42): a conditioning is skipped when ``sigma > timestep_start`` or
  ``sigma < timestep_end`` (both bounds inclusive); ``conds_at`` below applies exactly that test;
- ``simple_scheduler`` (:413-420), ``normal_scheduler`` (:439-461), ``calculate_sigmas`` (:1076-1085);
- ``KSampler`` (:1097-1139): ``SAMPLERS``/``SCHEDULERS``, samplers that discard the penultimate
  sigma, and ``set_steps`` with denoise (``int(steps / denoise)`` sigmas, the last ``steps + 1`` kept).
"""

import math

import torch


def simple_scheduler(model_sampling, steps):
    s = model_sampling
    ss = len(s.sigmas) / steps
    return torch.FloatTensor([float(s.sigmas[-(1 + int(x * ss))]) for x in range(steps)] + [0.0])


def normal_scheduler(model_sampling, steps):
    s = model_sampling
    start, end = s.timestep(s.sigma_max), s.timestep(s.sigma_min)
    append_zero = True
    if math.isclose(float(s.sigma(end)), 0, abs_tol=0.00001):
        steps += 1
        append_zero = False
    timesteps = torch.linspace(start, end, steps)
    sigs = [float(s.sigma(ts)) for ts in timesteps]
    return torch.FloatTensor(sigs + ([0.0] if append_zero else []))


def karras_scheduler(model_sampling, steps, rho=7.0):
    """k_diffusion/sampling.py get_sigmas_karras, as ComfyUI calls it (use_ms=False, :1063-1085)."""
    sigma_min, sigma_max = float(model_sampling.sigma_min), float(model_sampling.sigma_max)
    ramp = torch.linspace(0, 1, steps)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (max_inv + ramp * (min_inv - max_inv)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros([1])])


SCHEDULER_HANDLERS = {"simple": simple_scheduler, "normal": normal_scheduler, "karras": karras_scheduler}
SCHEDULER_NAMES = list(SCHEDULER_HANDLERS)
SAMPLER_NAMES = ["euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "uni_pc"]


def calculate_sigmas(model_sampling, scheduler_name, steps):
    if scheduler_name not in SCHEDULER_HANDLERS:
        raise ValueError(f"error invalid scheduler {scheduler_name}")
    return SCHEDULER_HANDLERS[scheduler_name](model_sampling, steps)


class KSampler:
    SCHEDULERS = SCHEDULER_NAMES
    SAMPLERS = SAMPLER_NAMES
    DISCARD_PENULTIMATE_SIGMA_SAMPLERS = {"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"}

    def __init__(self, model, steps, device, sampler=None, scheduler=None, denoise=None, model_options={}):  # noqa: B006
        self.model = model
        self.device = device
        self.scheduler = scheduler if scheduler in self.SCHEDULERS else self.SCHEDULERS[0]
        self.sampler = sampler if sampler in self.SAMPLERS else self.SAMPLERS[0]
        self.set_steps(steps, denoise)

    def calculate_sigmas(self, steps):
        discard = self.sampler in self.DISCARD_PENULTIMATE_SIGMA_SAMPLERS
        sigmas = calculate_sigmas(
            self.model.get_model_object("model_sampling"), self.scheduler, steps + discard
        )
        return torch.cat([sigmas[:-2], sigmas[-1:]]) if discard else sigmas

    def set_steps(self, steps, denoise=None):
        self.steps = steps
        if denoise is None or denoise > 0.9999:
            self.sigmas = self.calculate_sigmas(steps)
        elif denoise <= 0.0:
            self.sigmas = torch.FloatTensor([])
        else:
            self.sigmas = self.calculate_sigmas(int(steps / denoise))[-(steps + 1) :]


def calculate_start_end_timesteps(model, conds):
    s = model.get_model_object("model_sampling")
    for t, x in enumerate(conds):
        n = dict(x)
        if "start_percent" in x:
            n["timestep_start"] = s.percent_to_sigma(x["start_percent"])
        if "end_percent" in x:
            n["timestep_end"] = s.percent_to_sigma(x["end_percent"])
        conds[t] = n


def conds_at(conds, sigma):
    """The indices of the conditionings ``get_area_and_mult`` keeps for a model call at ``sigma``."""
    kept = []
    for index, c in enumerate(conds):
        if "timestep_start" in c and sigma > c["timestep_start"]:
            continue
        if "timestep_end" in c and sigma < c["timestep_end"]:
            continue
        kept.append(index)
    return kept
