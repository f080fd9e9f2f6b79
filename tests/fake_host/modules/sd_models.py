"""modules/sd_models.py: the checkpoint registries (:21-26), ``CheckpointInfo`` (:56-103, without
the safetensors metadata read of :70-80), ``get_closet_checkpoint_match`` (:183-200) and
``model_hash`` (:203-215). ``shared.cmd_opts`` (``ckpt_dir``) is set by the tests.

A1111 also keeps ``model_data`` (:664-720), whose ``get_sd_model`` loads the model on first access
through the ``shared.sd_model`` property (shared_items.py:172-175); here ``shared.sd_model`` is a
plain attribute, so there is no ``model_data``.
"""

import os
import re

from modules import hashes, paths_internal, shared

model_dir = "Stable-diffusion"
model_path = os.path.abspath(os.path.join(paths_internal.models_path, model_dir))  # :21-22

checkpoints_list = {}
checkpoint_aliases = {}


class CheckpointInfo:
    def __init__(self, filename):  # :56-103
        self.filename = filename
        abspath = os.path.abspath(filename)
        ckpt_dir = getattr(getattr(shared, "cmd_opts", None), "ckpt_dir", None)
        abs_ckpt_dir = os.path.abspath(ckpt_dir) if ckpt_dir is not None else None

        self.is_safetensors = os.path.splitext(filename)[1].lower() == ".safetensors"

        if abs_ckpt_dir and abspath.startswith(abs_ckpt_dir):
            name = abspath.replace(abs_ckpt_dir, "")
        elif abspath.startswith(model_path):
            name = abspath.replace(model_path, "")
        else:
            name = os.path.basename(filename)

        if name.startswith("\\") or name.startswith("/"):
            name = name[1:]

        self.metadata = {}  # :70-80 read the safetensors header through the host's cache
        self.name = name
        self.name_for_extra = os.path.splitext(os.path.basename(filename))[0]
        self.model_name = os.path.splitext(name.replace("/", "_").replace("\\", "_"))[0]
        self.hash = model_hash(filename)

        self.sha256 = hashes.sha256_from_cache(self.filename, f"checkpoint/{name}")
        self.shorthash = self.sha256[0:10] if self.sha256 else None

        self.title = name if self.shorthash is None else f"{name} [{self.shorthash}]"
        self.short_title = (
            self.name_for_extra if self.shorthash is None else f"{self.name_for_extra} [{self.shorthash}]"
        )

        self.ids = [
            self.hash,
            self.model_name,
            self.title,
            name,
            self.name_for_extra,
            f"{name} [{self.hash}]",
        ]
        if self.shorthash:
            self.ids += [
                self.shorthash,
                self.sha256,
                f"{self.name} [{self.shorthash}]",
                f"{self.name_for_extra} [{self.shorthash}]",
            ]

    def register(self):  # :105-108
        checkpoints_list[self.title] = self
        for id in self.ids:
            checkpoint_aliases[id] = self


re_strip_checksum = re.compile(r"\s*\[[^]]+]\s*$")


def get_closet_checkpoint_match(search_string):  # :183-200
    if not search_string:
        return None

    checkpoint_info = checkpoint_aliases.get(search_string)
    if checkpoint_info is not None:
        return checkpoint_info

    found = sorted(
        [info for info in checkpoints_list.values() if search_string in info.title],
        key=lambda x: len(x.title),
    )
    if found:
        return found[0]

    search_string_without_checksum = re.sub(re_strip_checksum, "", search_string)
    found = sorted(
        [info for info in checkpoints_list.values() if search_string_without_checksum in info.title],
        key=lambda x: len(x.title),
    )
    if found:
        return found[0]

    return None


def model_hash(filename):  # :203-215: 64 KiB at offset 1 MiB
    try:
        with open(filename, "rb") as file:
            import hashlib

            m = hashlib.sha256()

            file.seek(0x100000)
            m.update(file.read(0x10000))
            return m.hexdigest()[0:8]
    except FileNotFoundError:
        return "NOFILE"
