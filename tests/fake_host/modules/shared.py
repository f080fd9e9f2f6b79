"""modules/shared.py + modules/options.py (Options, OptionInfo) + modules/shared_options.py."""


class OptionInfo:  # options.py:13-58 (the fields the extension uses)
    def __init__(self, default=None, label="", component=None, component_args=None, section=None, **kwargs):
        self.default, self.label, self.section = default, label, section


class Options:  # options.py:79-142
    def __init__(self, data_labels):
        object.__setattr__(self, "data_labels", dict(data_labels))
        object.__setattr__(self, "data", {})

    def __getattr__(self, item):  # options.py:131-142: data first, then the registered default
        if item in self.data:
            return self.data[item]
        if item in self.data_labels:
            return self.data_labels[item].default
        raise AttributeError(item)

    def __setattr__(self, key, value):  # options.py:90-103 (no restrictions needed here)
        self.data[key] = value

    def add_option(self, key, info):  # options.py:256-259
        self.data_labels[key] = info
        if key not in self.data and not getattr(info, "do_not_save", False):
            self.data[key] = info.default


opts = Options(
    {
        "CLIP_stop_at_last_layers": OptionInfo(1, "Clip skip"),  # shared_options.py:181
        "sdxl_clip_l_skip": OptionInfo(False, "Clip skip SDXL"),  # shared_options.py:180
        "persistent_cond_cache": OptionInfo(True, "persistent cond cache"),
        "use_old_scheduling": OptionInfo(False, "old scheduling"),
        "img2img_fix_steps": OptionInfo(False, "img2img fix steps"),
        "emphasis": OptionInfo("Original", "Emphasis mode"),
        "sdxl_zero_neg": OptionInfo(False, "SDXL zero negative"),  # Forge Neo shared_options.py:336
    }
)
# Forge Neo 3df257ae modules/shared_options.py:224: its own Clip skip defaults to 2 (slider 1-12).
NEO_OPTIONS = {"CLIP_stop_at_last_layers": OptionInfo(2, "Clip Skip")}
sd_model = None
