"""The folder walk of ``python -m clip_skip_ext scan DIR`` and its rows: every checkpoint and LoRA under a
folder, with its recommended skip.

Each model file under ``DIR`` goes through ``metadata.lookup`` and becomes one row (a dict, the JSON
object ``--json`` prints), sorted by path; ``scan_report`` renders them. A file that cannot be read
becomes a row with its error and the scan goes on.

What is a model: a file ending in ``.safetensors``, ``.ckpt``, ``.pt`` or ``.pth`` (any case). Hidden
files and folders (name starting with "."), and Python/Node folders (``venv``, ``site-packages``,
``__pycache__``, ``node_modules``) are skipped; symlinked folders are followed once.

Kind (checkpoint or LoRA), first rule that applies:

1. the nearest folder, among ``DIR`` itself and the folders below it, whose name is one of the WebUI
   model folders: ``Stable-diffusion`` (ComfyUI: ``checkpoints``) holds checkpoints, ``Lora`` and
   ``LyCORIS`` (ComfyUI: ``loras``) hold LoRAs; as in the WebUI, the folder decides;
2. otherwise, under another WebUI model folder (``VAE``, ``embeddings``, ``ControlNet``, ``ESRGAN``,
   ...; see ``OTHER_FOLDERS``): not a checkpoint or LoRA, skipped;
3. otherwise the safetensors header: a LoRA if it has ``ss_network_module``, a
   ``modelspec.architecture`` naming ``lora``/``lycoris``, or LoRA tensor names (``lora_unet_``,
   ``lora_te*_`` prefixes; ``.lora_down.``/``.lora_up.``/``.lora_A.``/``.lora_B.``, LoHa, LoKr);
   a textual-inversion embedding or a VAE is skipped; anything else is a checkpoint;
4. a file without a readable header (``.ckpt``, ``.pt``, ``.pth``, a broken ``.safetensors``) outside
   those folders is assumed to be a checkpoint, and the row says so.

Folders above ``DIR`` are not looked at (``/home/lora/...`` says nothing about the files).

Reading cost: what ``lookup`` reads (the safetensors header, and for checkpoints the 64 KiB AutoV1
window), plus, only for a safetensors file that rule 1 or 2 does not place, its header once more to
decide the kind. Whole files are read only with ``allow_hashing`` (``--hash``).

With a WebUI data folder (``--webui-dir``): the host's hash cache supplies known sha256 values, and
the user-override file ``clip_skip_overrides.json`` there is read once and never written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .conventions import HOST_NAMES
from .metadata import HostHashCache, ImageHistory, MetadataError, OverrideStore, ReadCounter, lookup
from .metadata import overrides as overrides_module
from .metadata.database import Candidate, Result
from .metadata.recommendation import Recommendation, format_skip
from .metadata.safetensors_header import SafetensorsHeader, read_header

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")

# Folder names, compared case-insensitively: A1111/Forge ``models/<name>``, and ComfyUI's.
CHECKPOINT_FOLDERS = frozenset({"stable-diffusion", "checkpoints"})
LORA_FOLDERS = frozenset({"lora", "lycoris", "loras"})
OTHER_FOLDERS = frozenset(
    {
        # A1111 / Forge models/ and the data dir
        "vae",
        "vae-approx",
        "embeddings",
        "hypernetworks",
        "controlnet",
        "controlnetpreprocessor",
        "esrgan",
        "realesrgan",
        "swinir",
        "gfpgan",
        "codeformer",
        "ldsr",
        "bsrgan",
        "scunet",
        "dat",
        "deepbooru",
        "karlo",
        "text_encoder",
        "diffusers",
        "svd",
        "z123",
        "adetailer",
        # ComfyUI models/
        "vae_approx",
        "upscale_models",
        "clip",
        "clip_vision",
        "text_encoders",
        "unet",
        "diffusion_models",
        "style_models",
        "gligen",
        "photomaker",
        "insightface",
        "facerestore_models",
        "ultralytics",
        "sams",
    }
)

# Never hold user models; a scan of a WebUI's install folder would otherwise walk its whole venv.
SKIPPED_FOLDERS = frozenset({"venv", "site-packages", "__pycache__", "node_modules"})

_LORA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_", "lora_te3_")
_LORA_MARKERS = (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", ".hada_w1_a", ".lokr_w1")
_EMBEDDING_TENSORS = frozenset({"emb_params", "clip_l", "clip_g"})
_VAE_PREFIXES = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")


@dataclass(frozen=True)
class Placement:
    """What the scan decided about one file: ``kind`` (None: not a checkpoint or LoRA) and why.

    ``models_dir`` is the checkpoint folder the host's hash-cache key is relative to.
    """

    kind: str | None
    reason: str
    models_dir: Path | None = None
    assumed: bool = False
    bytes_read: int = 0


@dataclass
class ScanOutcome:
    """The outcome of a scan: one row per model (sorted), files skipped, and warnings for stderr."""

    rows: list[dict[str, object]] = field(default_factory=list)
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)


# ---- finding and placing files ----------------------------------------------------------------------


def _is_model_file(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(MODEL_SUFFIXES)


def find_model_files(root: Path, warnings: list[str]) -> list[Path]:
    """Every model file under ``root`` (symlinked folders followed once), sorted by relative path."""
    seen: set[tuple[int, int]] = set()
    found: list[Path] = []

    def walk_error(error: OSError) -> None:
        warnings.append(f"cannot list {error.filename}: {error.strerror or error}")

    for folder, dirs, files in os.walk(root, onerror=walk_error, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:  # a symlink loop or a folder linked twice
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(name for name in dirs if not name.startswith(".") and name not in SKIPPED_FOLDERS)
        found += [Path(folder, name) for name in files if _is_model_file(name)]
    return sorted(found, key=lambda path: _sort_key(path, root))


def _sort_key(path: Path, root: Path) -> tuple[tuple[str, ...], str]:
    relative = path.relative_to(root)
    return tuple(part.casefold() for part in relative.parts), relative.as_posix()


def _folder_kind(path: Path, root: Path) -> Placement | None:
    """Rules 1 and 2: the WebUI folders among ``root`` and the folders between it and the file."""
    below = path.relative_to(root).parts[:-1]
    folders = [root, *(root.joinpath(*below[:depth]) for depth in range(1, len(below) + 1))]
    names = [Path(os.path.abspath(root)).name, *below]  # "scan ." names the current folder
    for folder, name in zip(reversed(folders), reversed(names)):
        if name.lower() in CHECKPOINT_FOLDERS:
            return Placement("checkpoint", f"in the {name} folder", models_dir=folder)
        if name.lower() in LORA_FOLDERS:
            return Placement("lora", f"in the {name} folder")
    other = next((name for name in reversed(names) if name.lower() in OTHER_FOLDERS), None)
    return Placement(None, f"in the {other} folder") if other else None


def _header_kind(header: SafetensorsHeader) -> tuple[str | None, str]:
    """Rule 3: (kind or None for "neither", reason) from a safetensors header."""
    meta = header.metadata
    if meta.get("ss_network_module", "").strip():
        return "lora", f"header ss_network_module = {meta['ss_network_module']!r}"
    architecture = meta.get("modelspec.architecture", "").strip()
    adapter = architecture.lower().partition("/")[2]
    if "lora" in adapter or "lycoris" in adapter:
        return "lora", f"header modelspec.architecture = {architecture!r}"
    if "textual-inversion" in adapter:
        return None, f"a textual-inversion embedding (modelspec.architecture = {architecture!r})"
    names = header.tensor_names
    lora = next((name for name in names if name.startswith(_LORA_PREFIXES)), None)
    lora = lora or next((name for name in names if any(mark in name for mark in _LORA_MARKERS)), None)
    if lora is not None:
        return "lora", f"LoRA tensor names ({lora[:40]})"
    if names and set(names) <= _EMBEDDING_TENSORS:
        return None, "a textual-inversion embedding (tensors " + ", ".join(sorted(names)) + ")"
    if names and all(name.startswith(_VAE_PREFIXES) for name in names):
        return None, "a VAE (only encoder/decoder tensors)"
    return "checkpoint", "header (no LoRA keys)"


def place(path: Path, root: Path) -> Placement:
    """Whether ``path`` is a checkpoint, a LoRA or neither (see the module docstring for the rule)."""
    by_folder = _folder_kind(path, root)
    if by_folder is not None:
        return by_folder
    if path.suffix.lower() != ".safetensors":
        return Placement("checkpoint", "assumed: no safetensors header and no WebUI model folder", root, True)
    counter = ReadCounter()
    try:
        header = read_header(path, counter)
    except MetadataError:
        return Placement(
            "checkpoint", "assumed: unreadable header and no WebUI model folder", root, True, counter.bytes
        )
    kind, reason = _header_kind(header)
    return Placement(kind, reason, root if kind == "checkpoint" else None, False, counter.bytes)


# ---- the user-override file, read-only ----------------------------------------------------------------


class ReadOnlyOverrides(OverrideStore):
    """The user's override file, read once when first needed and never written.

    ``OverrideStore.load`` re-reads the file on every lookup and, when the file is corrupt, takes the
    lock and moves it aside; a scan must not change the WebUI's files, so this one keeps the first
    reading and reports a corrupt file in ``problem`` instead. (It relies on the override module's
    parsers; a read-only mode in ``OverrideStore`` itself would make this class unnecessary.)
    """

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__(path)
        self.problem = ""
        self._entries: dict[str, overrides_module.Override] | None = None

    def load(self) -> dict[str, overrides_module.Override]:
        if self._entries is None:
            self._entries = self._read_once()
        return self._entries

    def _read_once(self) -> dict[str, overrides_module.Override]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as error:
            self.problem = f"{self.path}: cannot read the user overrides: {error.strerror or error}; ignored"
            return {}
        try:
            document, what = overrides_module._parse_document(raw)
        except RecursionError:
            document, what = None, "nested too deeply"
        if document is None:
            self.problem = f"{self.path}: the user overrides file is unreadable ({what}); ignored"
            return {}
        entries: dict[str, overrides_module.Override] = {}
        unreadable = 0
        for key, raw_entry in document["overrides"].items():
            try:
                entries[key] = overrides_module._parse_entry(key, raw_entry)
            except ValueError:
                unreadable += 1
        if unreadable:
            self.problem = f"{self.path}: {unreadable} unreadable override entr{'y' if unreadable == 1 else 'ies'} ignored"
        return entries


# ---- one row per model ----------------------------------------------------------------------------------


def _number(value: float | None) -> float | int | None:
    return int(value) if value is not None and float(value).is_integer() else value


def _plain_problem(candidate: Candidate) -> str:
    # The database phrases this for API callers ("pass family=..."); a scan has no such argument.
    return candidate.problem.partition("; pass family=")[0]


def short_source(recommendation: Recommendation) -> str:
    """A short label for the table: "header ss_clip_skip", "sidecar", "curated (by name)", ..."""
    origin, source = recommendation.origin, recommendation.source
    inner = re.search(r"\(([^)]*)\)", source)
    if origin == "header" and inner:
        return f"header {inner.group(1)}"
    if origin == "civitai" and inner:
        return f"{source.split(' ')[0]} ({inner.group(1)})"  # civitai.info, api_info.json, metadata.json
    if origin == "curated":
        how = re.search(r"matched by (sha256|Civitai version|Civitai model|name)", recommendation.detail)
        return f"curated (by {how.group(1)})" if how else "curated"
    if source.startswith("Lora-Manager"):
        return "Lora-Manager usage tips"
    labels = {
        "override": "user override",
        "sidecar": "sidecar .json",
        "history": "your images",
        "description": "description (prose)",
        "heuristic": "name (guess)",
    }
    return labels.get(origin, source[:40])


def _remarks(result: Result, placement: Placement, error: str, others: list[str]) -> list[str]:
    """What the text table's note column says about a row, most important first."""
    host = HOST_NAMES[result.host]
    remarks = [f"error: {error}"] if error else []
    suffix = Path(result.path).suffix.lower()
    if suffix != ".safetensors":
        remarks.append(f"no safetensors header ({suffix} file)")
    if placement.assumed:
        remarks.append("kind assumed")
    winner = result.winner
    passed = [c for c in result.candidates if c.value is None]
    if winner is None and result.candidates:
        first = result.candidates[0]
        remarks.append(
            f"no equivalent on {host} ({short_source(first.recommendation)}: {_plain_problem(first)})"
        )
    elif winner is not None and passed and passed[0] is result.candidates[0]:
        first = passed[0]
        remarks.append(
            f"{short_source(first.recommendation)} {format_skip(first.recommendation.skip)} "
            f"({first.recommendation.convention}) has no equivalent on {host}"
        )
    if result.is_heuristic:
        remarks.append("a guess from the file name")
    if winner is None and not result.candidates and not error:
        remarks.append(result.notes[0] if result.notes else "no clip skip recorded")
    remarks += [f"problem: {problem}" for problem in others]
    return remarks


def scan_file(
    path: Path,
    root: Path,
    *,
    host: str,
    placement: Placement,
    overrides: OverrideStore | None = None,
    hash_cache: HostHashCache | None = None,
    allow_hashing: bool = False,
    history: ImageHistory | None = None,
) -> dict[str, object]:
    """The row for one model file (``placement.kind`` must be "checkpoint" or "lora")."""
    relative = path.relative_to(root).as_posix()
    kind = placement.kind or "checkpoint"
    try:
        size: int | None = path.stat().st_size
    except OSError:
        size = None
    try:
        result = lookup(
            path,
            host=host,
            kind=kind,
            overrides=overrides,
            allow_hashing=allow_hashing,
            hash_cache=hash_cache,
            models_dir=placement.models_dir,
            history=history,
        )
    except Exception as error:  # a hostile file must not end the scan (e.g. RecursionError from JSON)
        result = Result(
            str(path), kind, host, None, "", problems=(f"{path}: {type(error).__name__}: {error}",)
        )
    own = f"{path}: "
    cache_problems = set(hash_cache.problems) if hash_cache is not None else set()
    errors = [problem[len(own) :] for problem in result.problems if problem.startswith(own)]
    others = [p for p in result.problems if not p.startswith(own) and p not in cache_problems]
    error = "; ".join(errors)
    winner = result.winner
    recommendation = winner.recommendation if winner else None
    return {
        "path": relative,
        "kind": kind,
        "kind_reason": placement.reason,
        "family": result.family,
        "family_reason": result.family_reason or None,
        "skip": _number(result.value),
        "convention": host,
        "source": recommendation.source if recommendation else None,
        "short_source": short_source(recommendation) if recommendation else None,
        "origin": recommendation.origin if recommendation else None,
        "confidence": recommendation.confidence if recommendation else None,
        "heuristic": result.is_heuristic,
        "original_skip": _number(recommendation.skip) if recommendation else None,
        "original_convention": recommendation.convention if recommendation else None,
        "broken": bool(error),
        "error": error or None,
        "remarks": _remarks(result, placement, error, others),
        "notes": list(result.notes),
        "problems": others,
        "candidates": [
            {
                "source": c.recommendation.source,
                "origin": c.recommendation.origin,
                "skip": _number(c.recommendation.skip),
                "convention": c.recommendation.convention,
                "value": _number(c.value),
                "problem": _plain_problem(c) or None,
            }
            for c in result.candidates
        ],
        "sha256": result.keys.sha256,
        "sha256_source": result.keys.sha256_source or None,
        "size": size,
        "bytes_read": result.bytes_read + placement.bytes_read,
    }


# ---- the scan ----------------------------------------------------------------------------------------------


def scan(
    root: Path,
    *,
    host: str = "a1111",
    overrides: OverrideStore | None = None,
    hash_cache: HostHashCache | None = None,
    allow_hashing: bool = False,
    progress: Callable[[int, int, Path, bool], None] | None = None,
    history: ImageHistory | None = None,
) -> ScanOutcome:
    """Look up every checkpoint and LoRA under ``root``; ``progress(index, total, path, hashing)``."""
    outcome = ScanOutcome()
    paths = find_model_files(root, outcome.warnings)
    for index, path in enumerate(paths, 1):
        if progress is not None:
            progress(index, len(paths), path, False)
        placement = place(path, root)
        if placement.kind is None:
            outcome.skipped += 1
            continue
        if progress is not None and allow_hashing and not _hash_known(path, placement, hash_cache):
            progress(index, len(paths), path, True)
        outcome.rows.append(
            scan_file(
                path,
                root,
                host=host,
                placement=placement,
                overrides=overrides,
                hash_cache=hash_cache,
                allow_hashing=allow_hashing,
                history=history,
            )
        )
    if hash_cache is not None:
        outcome.warnings += hash_cache.problems
    problem = getattr(overrides, "problem", "")
    if problem:
        outcome.warnings.append(problem)
    return outcome


def _hash_known(path: Path, placement: Placement, hash_cache: HostHashCache | None) -> bool:
    if hash_cache is None or placement.kind is None:
        return False
    return (
        hash_cache.sha256(HostHashCache.title(placement.kind, path, placement.models_dir), path) is not None
    )
