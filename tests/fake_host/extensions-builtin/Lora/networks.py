"""extensions-builtin/Lora/networks.py: the registry of LoRA files (:650-737) and, inlined,
``network.NetworkOnDisk`` (network.py:24-60) reduced to name, filename, metadata and alias.

In A1111 the module is imported as ``networks`` by ``scripts/lora_script.py:7`` while the Lora
folder is on ``sys.path`` (modules/scripts.py:511-522), so it stays in ``sys.modules["networks"]``.
The tests put this folder on ``sys.path`` and import it the same way. ``shared.cmd_opts.lora_dir``
(Lora/preload.py:7) and ``lyco_dir_backcompat`` (:8) are set by the tests.
"""

import json
import os
import struct

from modules import shared


def read_metadata_from_safetensors(filename):  # modules/sd_models.py:284-309, without the JSON decoding
    with open(filename, mode="rb") as file:
        metadata_len = struct.unpack("<Q", file.read(8))[0]
        return json.loads(file.read(metadata_len)).get("__metadata__", {})


class NetworkOnDisk:  # network.py:24-60
    def __init__(self, name, filename):
        self.name = name
        self.filename = filename
        self.metadata = {}
        self.is_safetensors = os.path.splitext(filename)[1].lower() == ".safetensors"
        if self.is_safetensors:
            self.metadata = read_metadata_from_safetensors(filename)
        self.alias = self.metadata.get("ss_output_name", self.name)  # :46


def _walk_files(path, allowed_extensions):  # modules/shared.py walk_files (os.walk, followlinks=True)
    if not path or not os.path.exists(path):
        return
    for root, _, files in os.walk(path, followlinks=True):
        for filename in sorted(files):
            if os.path.splitext(filename)[1].lower() in allowed_extensions:
                yield os.path.join(root, filename)


def process_network_files(names=None):  # :650-672
    extensions = [".pt", ".ckpt", ".safetensors"]
    candidates = list(_walk_files(shared.cmd_opts.lora_dir, extensions))
    candidates += list(_walk_files(getattr(shared.cmd_opts, "lyco_dir_backcompat", None), extensions))
    for filename in candidates:
        if os.path.isdir(filename):
            continue
        name = os.path.splitext(os.path.basename(filename))[0]
        if names and name not in names:
            continue
        entry = NetworkOnDisk(name, filename)

        available_networks[name] = entry

        if entry.alias in available_network_aliases:
            forbidden_network_aliases[entry.alias.lower()] = 1

        available_network_aliases[name] = entry
        available_network_aliases[entry.alias] = entry


def list_available_networks():  # :679-688
    available_networks.clear()
    available_network_aliases.clear()
    forbidden_network_aliases.clear()
    forbidden_network_aliases.update({"none": 1, "Addams": 1})
    process_network_files()


available_networks = {}  # :729-735
available_network_aliases = {}
forbidden_network_aliases = {}

list_available_networks()  # :737
