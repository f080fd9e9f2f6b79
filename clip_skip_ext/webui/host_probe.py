"""Which A1111-family WebUI is running, found from what is installed, never by importing heavy modules
(``host.host_name`` is the adapter's entry)."""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

_VERSION = re.compile(r"""^version\s*=\s*["']([^"']*)["']""", re.MULTILINE)
# Engines only Forge Neo ships (3df257ae backend/diffusion_engine/; Forge 2.x has none of them).
_NEO_ENGINES = ("wan.py", "qwen.py", "zimage.py", "lumina.py", "anima.py", "flux2.py")


def _spec(name: str) -> Any:
    """Where ``name`` would be imported from, None when absent; imports at most its parents."""
    return importlib.util.find_spec(name)


def _folders(spec: Any) -> list[Path]:
    return [Path(folder) for folder in (getattr(spec, "submodule_search_locations", None) or [])]


def forge_version(spec: Any) -> str | None:
    """``modules_forge/forge_version.py``'s ``version``, read as text, not imported: "neo" on Forge Neo,
    "classic" on Forge Classic, e.g. "2.0.1v1.10.1" on Forge 2.x."""
    for folder in _folders(spec):
        try:
            found = _VERSION.search((folder / "forge_version.py").read_text(encoding="utf-8"))
        except OSError:
            continue
        if found:
            return found.group(1)
    return None


@functools.cache
def _cached() -> str:
    forge = _spec("modules_forge")
    if forge is None:
        return "a1111"
    version = forge_version(forge)
    backend = _spec("backend")
    if backend is None:  # Forge 1.x lines: A1111's models with modules_forge/forge_clip.py
        return "classic" if version == "classic" else "reforge"
    engines = [folder / "diffusion_engine" for folder in _folders(backend)]
    neo = version == "neo" or any((folder / name).is_file() for folder in engines for name in _NEO_ENGINES)
    return "neo" if neo else "forge"


def probe() -> str:
    """The host, probed once, by what is installed, never by imports of heavy modules:

    - "a1111": no ``modules_forge``;
    - "reforge" / "classic": ``modules_forge`` without Forge 2.x's ``backend``; Forge Classic (branch
      ``classic`` of Haoming02/sd-webui-forge-classic) says ``version = "classic"`` in forge_version.py;
    - "neo" / "forge": with ``backend``; Forge Neo says ``version = "neo"`` (3df257ae
      modules_forge/forge_version.py:1) and ships engines Forge lacks (backend/diffusion_engine/wan.py, ...).
    """
    return _cached()
