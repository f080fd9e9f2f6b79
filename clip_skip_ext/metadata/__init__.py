"""Model metadata database: where a model's recommended clip skip comes from.

Pure core (no WebUI imports). Entry point: ``lookup(path, host=..., kind=..., family=...)``, which
reads the sources below in precedence order and translates the winner to the host's numbering:

1. user overrides (``OverrideStore``, one JSON file in the WebUI's data dir),
2. the A1111 user-metadata sidecar ``<model>.json`` (``"clip skip"`` key), then
   ComfyUI-Lora-Manager's ``usage_tips`` in ``<model>.metadata.json`` (``lora_manager.py``),
3. the safetensors header (``modelspec.encoder_layer``; ``ss_clip_skip`` on LoRAs),
4. Civitai Helper's ``<model>.civitai.info``, else CivitAI Browser+'s ``<model>.api_info.json``, else
   the Lora-Manager file's ``civitai`` section (training parameters; majority of example images),
5. curated entries shipped in ``clip_skip_ext/data/curated_models.json``,
6. the user's own images, when an ``ImageHistory`` is given (``image_history.py``),
7. prose: descriptions and notes in those files, ``<model>.description.txt`` (``description.py``),
8. name heuristics (flagged).
"""

from .civitai_info import CivitaiInfo, civitai_info_path, load_civitai_info
from .curated import CuratedEntry, default_entries, find_curated, load_curated
from .database import COMPANION_SUFFIXES, KINDS, Candidate, ModelKeys, Result, companion_files, lookup
from .family import family_from_civitai_base_model, family_from_header, family_from_sd_version
from .hashes import (
    HostHashCache,
    addnet_hash,
    autov1,
    autov2,
    autov3,
    normalize_sha256,
    sha256_and_addnet_hash,
    sha256_file,
)
from .header_source import read_header_values
from .heuristics import guess_from_name
from .image_history import ImageHistory
from .overrides import DEFAULT_FILENAME, Override, OverrideStore, OverrideStoreError
from .recommendation import ORIGINS, Finding, Recommendation, parse_skip
from .safetensors_header import MAX_HEADER_BYTES, MetadataError, ReadCounter, SafetensorsHeader, read_header
from .sidecar import read_sidecar, sidecar_path

__all__ = [
    "COMPANION_SUFFIXES",
    "DEFAULT_FILENAME",
    "KINDS",
    "MAX_HEADER_BYTES",
    "ORIGINS",
    "Candidate",
    "CivitaiInfo",
    "CuratedEntry",
    "Finding",
    "HostHashCache",
    "ImageHistory",
    "MetadataError",
    "ModelKeys",
    "Override",
    "OverrideStore",
    "OverrideStoreError",
    "ReadCounter",
    "Recommendation",
    "Result",
    "SafetensorsHeader",
    "addnet_hash",
    "autov1",
    "autov2",
    "autov3",
    "civitai_info_path",
    "companion_files",
    "default_entries",
    "family_from_civitai_base_model",
    "family_from_header",
    "family_from_sd_version",
    "find_curated",
    "guess_from_name",
    "load_civitai_info",
    "load_curated",
    "lookup",
    "normalize_sha256",
    "parse_skip",
    "read_header",
    "read_header_values",
    "read_sidecar",
    "sha256_and_addnet_hash",
    "sha256_file",
    "sidecar_path",
]
