"""LoRA training skips in the WebUI: the LoRAs a prompt uses, the clip skip each records, and a note
when it differs from the skip an image uses (DESIGN.md §6).

- ``<lora:NAME:…>`` / ``<lyco:NAME:…>`` tags are the extra-network syntax (``extra_networks.py:175``,
  items split on ``:`` and ``=``, ``:31-43``); the Lora extension registers ``lora`` and the alias
  ``lyco`` (``extensions-builtin/Lora/scripts/lora_script.py:21-24``) and resolves NAME with
  ``available_networks`` / ``available_network_aliases`` / ``forbidden_network_aliases``
  (``Lora/networks.py:296-308``), filled by scanning ``--lora-dir`` and ``--lyco-dir-backcompat``
  for ``.pt``, ``.ckpt``, ``.safetensors`` (``networks.py:650-672``; Forge
  ``extensions-builtin/sd_forge_lora/networks.py:130-150``, ``--lora-dir`` only). That module is
  imported as ``networks`` while its folder is on ``sys.path`` (``modules/scripts.py:511-522``) and
  stays in ``sys.modules``; without it the folders are scanned here.
- What a LoRA records is read through ``checkpoint``'s cached metadata lookup (sidecar, header,
  civitai.info; never overrides, curated entries or name guesses).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from modules import shared

from clip_skip_ext import conventions
from clip_skip_ext.schedule import format_value
from clip_skip_ext.webui import checkpoint

# extra_networks.py:175 `<(\w+):([^>]+)>` for the two names the Lora extension registers.
LORA_TAG = re.compile(r"<(lora|lyco):([^<>]+)>")  # [^<>]: linear on unclosed tags
LORA_EXTENSIONS = (".pt", ".ckpt", ".safetensors")  # Lora/networks.py:651-652
_LOCK = threading.Lock()  # guards _SCANS
SCAN_SECONDS = 30.0  # how long a scan of the LoRA folders is reused (only without the host registry)


def _tag(arguments: str) -> str | None:
    """NAME of a tag's ``NAME:te:unet`` arguments, or None when both multipliers are 0.

    Items with one ``=`` are named (``extra_networks.py:31-43``); multipliers as
    ``Lora/extra_networks_lora.py:28-36``.
    """
    positional, named = [], {}
    for item in arguments.split(":"):
        parts = item.split("=", 2)
        if len(parts) == 2:
            named[parts[0]] = parts[1]
        else:
            positional.append(item)
    if not positional or not positional[0]:
        return None
    try:
        te = float(positional[1]) if len(positional) > 1 else 1.0
        te = float(named.get("te", te))
        unet = float(positional[2]) if len(positional) > 2 else te
        unet = float(named.get("unet", unet))
    except ValueError:
        return positional[0]
    return positional[0] if (te != 0 or unet != 0) else None


def _registry() -> Any | None:
    module = sys.modules.get("networks")
    wanted = ("available_networks", "available_network_aliases", "forbidden_network_aliases")
    return module if all(isinstance(getattr(module, name, None), dict) for name in wanted) else None


def _tag_names() -> tuple[str, ...]:
    """``lora``, and ``lyco`` unless the host's registry has Lora without that alias: A1111 adds it
    (``Lora/scripts/lora_script.py:24``), Forge does not (``sd_forge_lora/scripts/lora_script.py:18``)."""
    module = sys.modules.get("modules.extra_networks")
    registry = getattr(module, "extra_network_registry", None)
    aliases = getattr(module, "extra_network_aliases", None)
    if (
        isinstance(registry, dict)
        and "lora" in registry
        and isinstance(aliases, dict)
        and "lyco" not in aliases
    ):
        return ("lora",)
    return ("lora", "lyco")


def names(prompts: Iterable[str]) -> list[str]:
    """The LoRA names used in ``prompts`` (first seen first), plus Settings' "Add network to
    prompt" (``opts.sd_lora``, added at activation: ``Lora/extra_networks_lora.py:17-21``)."""
    names: list[str] = []
    tags = _tag_names()
    for text in prompts:
        for match in LORA_TAG.finditer(text or ""):
            if match.group(1) not in tags:
                continue
            name = _tag(match.group(2))
            if name and name not in names:
                names.append(name)
    extra = shared.opts.data.get("sd_lora", "None")
    registry = _registry()
    known = registry is not None and extra in registry.available_networks
    if known and extra not in (None, "", "None") and extra not in names:
        names.append(extra)
    return names


_SCANS: dict[tuple[str, ...], tuple[float, dict[str, str]]] = {}


def clear_cache() -> None:
    """Forget the folder scans (the metadata read through ``checkpoint`` has its own cache)."""
    with _LOCK:
        _SCANS.clear()


def _dirs() -> tuple[str, ...]:
    options = getattr(shared, "cmd_opts", None)
    found = (getattr(options, "lora_dir", None), getattr(options, "lyco_dir_backcompat", None))
    # Forge Neo also scans every --lora-dirs folder (sd_forge_lora/networks.py:162, cmd_args.py:83)
    found += tuple(getattr(options, "lora_dirs", None) or ())
    return tuple(dict.fromkeys(path for path in found if isinstance(path, str) and path))


def _scan(dirs: tuple[str, ...]) -> dict[str, str]:
    """stem -> file for the LoRA folders (``networks.py:650-660``: later files of a stem win)."""
    now = time.monotonic()
    with _LOCK:
        found = _SCANS.get(dirs)
    if found is not None and now - found[0] < SCAN_SECONDS:
        return found[1]
    files: dict[str, str] = {}
    for folder in dirs:
        for root, _, names in os.walk(folder, followlinks=True):
            for file in sorted(names):
                stem, extension = os.path.splitext(file)
                if extension.lower() in LORA_EXTENSIONS:
                    files[stem] = os.path.join(root, file)
    with _LOCK:
        _SCANS[dirs] = (now, files)
    return files


def file(name: str) -> str | None:
    """The file of the LoRA that ``<lora:name:…>`` loads, as the host resolves it
    (``networks.py:296-308``: the file name, or an alias unless several files share it)."""
    registry = _registry()
    if registry is not None:
        if name.lower() in registry.forbidden_network_aliases:
            entry = registry.available_networks.get(name)
        else:
            entry = registry.available_network_aliases.get(name)
        filename = getattr(entry, "filename", None)
        if isinstance(filename, str) and os.path.isfile(filename):
            return filename
    filename = _scan(_dirs()).get(name)
    return filename if filename and os.path.isfile(filename) else None


def _known_lora(name: str, family: str, host: str) -> checkpoint.Known | None:
    """The training skip a LoRA records, in host numbering, if its family is the loaded one."""
    try:
        path = file(name)
        if path is None:
            return None
        result = checkpoint.cached_lookup(path, kind="lora", family=None, host=host)
        if result.family is None and not result.family_reason:  # nothing says: assume the loaded family
            result = checkpoint.cached_lookup(path, kind="lora", family=family, host=host)
        if result.family != family:  # an SD1 LoRA on SDXL, a Flux LoRA...: not comparable
            return None
        known = checkpoint.to_known(result, host, kind="lora", model=name)
    except Exception as error:  # metadata must never break a generation
        checkpoint.warn_once(f"cannot read the metadata of LoRA {name!r}: {error}")
        return None
    if known is None:
        return None
    key = re.fullmatch(r"safetensors header \((.+)\)", known.source)
    return replace(known, source=f"LoRA {name} ({key.group(1) if key else known.source})")


def _layers(value: float, family: str, host: str) -> tuple:
    """What ``value`` selects on ``host``: equal for equivalent values (Forge SDXL 1 and 2)."""
    low, high, weight = conventions.neighbours(value, family, host)
    first, second = conventions.select(low, family, host), conventions.select(high, family, host)
    return (first,) if weight == 0 or first == second else (first, second, weight)


def _same(a: float, b: float, family: str, host: str) -> bool:
    try:
        return _layers(a, family, host) == _layers(b, family, host)
    except conventions.ConventionError:
        return a == b


def default(prompts: Sequence[str], family: str | None, host: str) -> checkpoint.Known | None:
    """The training skip the prompts' LoRAs agree on (None when none records one or they differ)."""
    if not conventions.moves(host, family):
        return None
    found = [known for name in names(prompts) if (known := _known_lora(name, family, host))]
    if not found or any(not _same(known.value, found[0].value, family, host) for known in found):
        return None
    if len(found) == 1:
        return found[0]
    return replace(found[0], source="; ".join(known.source for known in found), model="")


def skip(prompts: Sequence[str], family: str | None, host: str) -> tuple[float, str] | None:
    """(value in host numbering, source) of ``default``, e.g. ``(1.0, "LoRA foo (ss_clip_skip)")``."""
    known = default(prompts, family, host)
    return (known.value, known.source) if known else None


def notes(prompts: Sequence[str], skip_in_use: float | None, family: str | None, host: str) -> list[str]:
    """One warning per LoRA whose recorded training skip differs from ``skip_in_use`` (host
    numbering), e.g. "LoRA foo was trained at clip skip 1 (ss_clip_skip), this image uses 2".

    Silent for LoRAs that record nothing (``"None"``), SDXL LoRAs (kohya ignores clip skip
    there), LoRAs of another family, unresolved names, and when ``skip_in_use`` is None.
    """
    if skip_in_use is None or not conventions.moves(host, family):
        return []
    notes = []
    for name in names(prompts):
        known = _known_lora(name, family, host)
        if known is None or _same(known.value, skip_in_use, family, host):
            continue
        where = known.source.removeprefix(f"LoRA {name} (").removesuffix(")")
        written = f", written as {known.numbering}" if known.numbering else ""
        notes.append(
            f"LoRA {name} was trained at clip skip {format_value(known.value)} ({where}{written}), "
            f"this image uses {format_value(skip_in_use)}"
        )
    return notes
