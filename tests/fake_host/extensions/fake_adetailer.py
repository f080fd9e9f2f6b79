"""ADetailer's detail pass, reduced to what reaches the conditioning (Bing-su/adetailer 36189cb,
``scripts/!adetailer.py``): from its ``postprocess_image`` (:895-929), for image i of the batch,
``get_i2i_p`` (:498-565) builds a fresh ``StableDiffusionProcessingImg2Img``: the prompt is the
tab's ``ad_prompt`` or ``p.all_prompts[i]`` (``get_prompt`` :309-328), the negative
``p.all_negative_prompts[i]``; ``override_settings`` holds only its own options, with
``CLIP_stop_at_last_layers`` when "Use separate CLIP skip" is on (:395-414, :398-399);
``extra_generation_params`` is a copy without callables (:544, aaaaaa/helper.py:68); scripts are the
whitelisted file stems only (``script_filter`` :448-475; default list adetailer/args.py:275-283),
with the whole ``script_args`` list (:450); ``_ad_inner``/``_ad_disabled`` mark it (:554-555);
``process_images(p2)`` runs it (:873). Its steps: ``ad_steps`` when set, else the image's (:351-393).
Around its passes it calls the image's scripts again on shallow copies of ``p`` (which share its
``extra_generation_params``): ``postprocess(copy(p), dummy)`` before them for the batch's first image
(:906-909), ``before_process(copy_p)`` and ``process(copy_p)`` after them for its last (:923-927)."""

from copy import copy
from pathlib import Path

from modules import processing, scripts

SCRIPT_DEFAULT = (
    "dynamic_prompting,dynamic_thresholding,lora_block_weight,negpip,wildcard_recursive,wildcards"
)


class AfterDetailerScript(scripts.Script):
    filename = "extensions/adetailer/scripts/!adetailer.py"

    def __init__(
        self, ad_prompt="", use_clip_skip=False, clip_skip=1, steps=0, denoising=0.4, names=SCRIPT_DEFAULT
    ):
        self.ad_prompt, self.use_clip_skip, self.clip_skip = ad_prompt, use_clip_skip, clip_skip
        self.steps, self.denoising, self.names = steps, denoising, names
        self.passes = []  # what each detail pass's denoiser saw
        self.inner = []  # the detail passes' processing objects

    def postprocess_image(self, p, record, *args):
        if getattr(p, "_ad_disabled", False):
            return
        i = p.iteration * p.batch_size + p.batch_index
        if p.batch_index == 0:  # need_call_postprocess
            for script in p.scripts:
                script.postprocess(copy(p), None, *p.script_args)
        override = {"CLIP_stop_at_last_layers": self.clip_skip} if self.use_clip_skip else {}
        names = {name.strip() for name in self.names.split(",")}
        inner = processing.StableDiffusionProcessingImg2Img(
            prompt=self.ad_prompt or p.all_prompts[i],
            negative_prompt=p.all_negative_prompts[i],
            steps=self.steps or p.steps,
            denoising_strength=self.denoising,
            override_settings=override,
            script_args=list(p.script_args),
            scripts=[s for s in p.scripts if Path(getattr(s, "filename", "")).stem in names],
        )
        inner.extra_generation_params = {
            k: v for k, v in p.extra_generation_params.items() if not callable(v)
        }
        inner._ad_disabled = True
        inner._ad_inner = True
        self.inner.append(inner)
        self.passes.append(processing.process_images(inner)["first"][0])
        if p.batch_index == p.batch_size - 1:  # need_call_process
            copy_p = copy(p)
            for script in p.scripts:
                script.before_process(copy_p, *p.script_args)
                script.process(copy_p, *p.script_args)
