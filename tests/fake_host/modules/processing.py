"""modules/processing.py: get_conds_with_caching (:440-491), setup_conds (:493-503),
calculate_hr_conds (:1499-1511) and the order of process_images_inner (:821-1148), reduced to what
decides the conds. "Sampling" records, for every denoiser call, the cond and uncond the denoiser
would use (sd_samplers_cfg_denoiser.py:168-169).

With a Forge engine loaded (one with ``set_clip_skip``) it follows Forge's processing.py instead where
the two differ: the option reaches the engine in get_conds_with_caching (:472), the engine's infotext
extras go through ``classic_engine.last_extra_generation_params`` and a third cache entry (:463-486,
:886, :964), and CFG 1 skips the negative prompt (:499-501)."""

from modules import extra_networks, prompt_parser, shared

SECOND_ORDER = {"Heun": 2}  # sd_samplers_common.py:14-19 total_steps


def _forge():
    return hasattr(shared.sd_model, "set_clip_skip")


class StableDiffusionProcessing:
    cached_c = [None, None]  # class-level, shared by every p (:188-189)
    cached_uc = [None, None]

    def __init__(
        self,
        prompt="",
        negative_prompt="",
        steps=4,
        batch_size=1,
        n_iter=1,
        sampler_name="Euler",
        cfg_scale=7.0,
        width=64,
        height=64,
        override_settings=None,
        script_args=(),
        scripts=(),
    ):
        self.prompt, self.negative_prompt, self.steps = prompt, negative_prompt, steps
        self.batch_size, self.n_iter, self.sampler_name = batch_size, n_iter, sampler_name
        self.cfg_scale = cfg_scale
        self.width, self.height = width, height
        self.override_settings = dict(override_settings or {})
        self.script_args, self.scripts = list(script_args), list(scripts)
        self.extra_generation_params = {}
        self.unknown_networks = []
        self.iteration = 0
        self.c = self.uc = None

    def setup_prompts(self):  # :418-438
        prompts = (
            self.prompt if isinstance(self.prompt, list) else [self.prompt] * self.batch_size * self.n_iter
        )
        negatives = self.negative_prompt
        self.all_prompts = prompts
        self.all_negative_prompts = negatives if isinstance(negatives, list) else [negatives] * len(prompts)

    def cached_params(
        self, required_prompts, steps, extra_network_data, hires_steps=None, use_old_scheduling=False
    ):
        return (
            required_prompts,
            steps,
            hires_steps,
            use_old_scheduling,
            shared.opts.CLIP_stop_at_last_layers,
            shared.sd_model.sd_checkpoint_info,
            extra_network_data,
            self.width,
            self.height,
            shared.opts.emphasis,
        )

    def get_conds_with_caching(
        self, function, required_prompts, steps, caches, extra_network_data, hires_steps=None
    ):
        cached_params = self.cached_params(
            required_prompts, steps, extra_network_data, hires_steps, shared.opts.use_old_scheduling
        )
        for cache in caches:
            if cache[0] is not None and cached_params == cache[0]:
                if _forge() and len(cache) > 2:  # Forge :465-466
                    shared.sd_model.extra_generation_params.update(cache[2])
                return cache[1]
        cache = caches[0]
        if _forge():  # Forge reads the option here (:472)
            shared.sd_model.set_clip_skip(int(shared.opts.CLIP_stop_at_last_layers))
        cache[1] = function(
            shared.sd_model, required_prompts, steps, hires_steps, shared.opts.use_old_scheduling
        )
        if _forge():  # Forge :476-485
            from backend.text_processing import classic_engine

            extras = classic_engine.last_extra_generation_params.copy()
            shared.sd_model.extra_generation_params.update(extras)
            if len(cache) > 2:
                cache[2] = extras
            classic_engine.last_extra_generation_params = {}
        cache[0] = cached_params
        return cache[1]

    def setup_conds(self):
        prompts = prompt_parser.SdConditioning(self.prompts, width=self.width, height=self.height)
        negative_prompts = prompt_parser.SdConditioning(
            self.negative_prompts, width=self.width, height=self.height, is_negative_prompt=True
        )
        total_steps = self.steps * SECOND_ORDER.get(self.sampler_name, 1)
        self.step_multiplier = total_steps // self.steps
        self.firstpass_steps = total_steps
        if _forge() and self.cfg_scale == 1:  # Forge :499-501
            self.uc = None
        else:
            self.uc = self.get_conds_with_caching(
                prompt_parser.get_learned_conditioning,
                negative_prompts,
                total_steps,
                [self.cached_uc],
                self.extra_network_data,
            )
        self.c = self.get_conds_with_caching(
            prompt_parser.get_multicond_learned_conditioning,
            prompts,
            total_steps,
            [self.cached_c],
            self.extra_network_data,
        )

    def parse_extra_network_prompts(self):  # :508-509
        self.prompts, self.extra_network_data = extra_networks.parse_prompts(self.prompts)

    def calls(self):
        return self.firstpass_steps


class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    cached_hr_c = [None, None]
    cached_hr_uc = [None, None]

    def __init__(
        self, enable_hr=False, hr_second_pass_steps=0, hr_prompt="", hr_negative_prompt="", **kwargs
    ):
        super().__init__(**kwargs)
        self.enable_hr, self.hr_second_pass_steps = enable_hr, hr_second_pass_steps
        self.hr_prompt, self.hr_negative_prompt = hr_prompt, hr_negative_prompt
        self.hr_c = self.hr_uc = None

    def init(self):  # :1474-1497 (hr prompts default to the prompts)
        self.all_hr_prompts = [self.hr_prompt or x for x in self.all_prompts]
        self.all_hr_negative_prompts = [self.hr_negative_prompt or x for x in self.all_negative_prompts]

    def parse_extra_network_prompts(self):  # :1544-1553
        super().parse_extra_network_prompts()
        if self.enable_hr:
            n, bs = self.iteration, self.batch_size
            self.hr_prompts = self.all_hr_prompts[n * bs : (n + 1) * bs]
            self.hr_negative_prompts = self.all_hr_negative_prompts[n * bs : (n + 1) * bs]
            self.hr_prompts, self.hr_extra_network_data = extra_networks.parse_prompts(self.hr_prompts)

    def calculate_hr_conds(self):  # :1499-1511
        hr_prompts = prompt_parser.SdConditioning(self.hr_prompts, width=self.width, height=self.height)
        hr_negative_prompts = prompt_parser.SdConditioning(
            self.hr_negative_prompts, width=self.width, height=self.height, is_negative_prompt=True
        )
        steps = self.hr_second_pass_steps or self.steps
        total_steps = steps * SECOND_ORDER.get(self.sampler_name, 1)
        self.hr_uc = self.get_conds_with_caching(
            prompt_parser.get_learned_conditioning,
            hr_negative_prompts,
            self.firstpass_steps,
            [self.cached_hr_uc, self.cached_uc],
            self.hr_extra_network_data,
            total_steps,
        )
        self.hr_c = self.get_conds_with_caching(
            prompt_parser.get_multicond_learned_conditioning,
            hr_prompts,
            self.firstpass_steps,
            [self.cached_hr_c, self.cached_c],
            self.hr_extra_network_data,
            total_steps,
        )
        return total_steps


class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    def __init__(self, init_images=(None,), denoising_strength=0.5, **kwargs):
        super().__init__(**kwargs)
        self.init_images, self.denoising_strength = list(init_images), denoising_strength

    def calls(self):  # sd_samplers_common.setup_img2img_steps (:22-31): t_enc + 1 steps run
        t_enc = int(min(self.denoising_strength, 0.999) * self.steps)
        return (t_enc + 1) * self.step_multiplier


def _sample(c, uc, calls):
    """What the denoiser would use at each call."""
    return [
        (
            prompt_parser.reconstruct_multicond_batch(c, i)[1],
            None if uc is None else prompt_parser.reconstruct_cond_batch(uc, i),  # Forge: CFG 1
        )
        for i in range(calls)
    ]


def _run_scripts(hook, p, *extra, **kwargs):  # modules/scripts.py:828-834: errors are reported, not raised
    for script in p.scripts:
        try:
            getattr(script, hook)(p, *extra, *p.script_args, **kwargs)
        except Exception as error:
            p.script_errors = [*getattr(p, "script_errors", []), (hook, error)]


def process_images(p):
    """Returns {"first": [(cond, uncond) per call] per batch, "hires": [...] per batch}."""
    stored = {k: shared.opts.data[k] for k in p.override_settings if k in shared.opts.data}  # :823-839
    try:
        shared.opts.data.update(p.override_settings)
        if _forge():
            shared.sd_model.extra_generation_params = {}  # Forge :886
        p.setup_prompts()
        _run_scripts("process", p)  # :915
        if hasattr(p, "init"):
            p.init()
        record = {"first": [], "hires": []}
        for n in range(p.n_iter):
            p.iteration = n
            bs = p.batch_size
            p.prompts = p.all_prompts[n * bs : (n + 1) * bs]
            p.negative_prompts = p.all_negative_prompts[n * bs : (n + 1) * bs]
            _run_scripts("before_process_batch", p, batch_number=n, prompts=p.prompts)  # :952
            p.parse_extra_network_prompts()  # :957
            extra_networks.activate(p, p.extra_network_data)  # :961
            _run_scripts("process_batch", p, batch_number=n, prompts=p.prompts)  # :964
            p.setup_conds()  # :966
            if _forge():
                p.extra_generation_params.update(shared.sd_model.extra_generation_params)  # Forge :964
            record["first"].append(_sample(p.c, p.uc, p.calls()))
            if getattr(p, "enable_hr", False):
                hires_calls = p.calculate_hr_conds()
                record["hires"].append(_sample(p.hr_c, p.hr_uc, hires_calls))
            for i in range(len(p.prompts)):  # :1031-1052, one call per decoded image
                p.batch_index = i
                _run_scripts("postprocess_image", p, record)
        record["infotexts"] = [  # create_infotext (:705-792): a list value is indexed by image
            {k: (v[i] if isinstance(v, list) else v) for k, v in p.extra_generation_params.items()}
            for i in range(len(p.all_prompts))
        ]
        _run_scripts("postprocess", p, None)  # scripts.py: postprocess(p, processed, *args)
        return record
    finally:
        shared.opts.data.update(stored)  # :852-858
