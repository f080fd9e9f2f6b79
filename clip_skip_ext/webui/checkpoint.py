"""Per-checkpoint defaults in the WebUI (DESIGN.md §1 and §6); LoRAs in ``lora``, the job's choice in
``defaults``.

The known default of the loaded checkpoint comes from the metadata database
(``clip_skip_ext.metadata.lookup``): user override > sidecar ``<model>.json`` > safetensors header >
``<model>.civitai.info`` > curated entries. Name heuristics are shown (``route``) but never applied.
It sits below the panel, XYZ and prompt directives and Auto mode, above the host's own Clip skip
(DESIGN.md §1); ``Settings → Clip Skip Control`` can turn it off (``OPTIONS``).

Host facts this relies on (A1111 v1.10.1; Forge is the same where not said):

- the loaded checkpoint is ``sd_model.sd_checkpoint_info`` (A1111 ``modules/sd_models.py:527-529``,
  Forge ``sd_models.py:509``), a ``CheckpointInfo`` (``sd_models.py:56-103``): ``filename`` (path),
  ``name`` (relative to the models folder, the host's hash-cache title ``checkpoint/<name>``),
  ``sha256`` (from the host's hash cache, or computed at load unless ``--no-hashing``: ``:92``,
  ``:111``). A1111's ``shared.sd_model`` is a property that *loads* the model on first access
  (``shared_items.py:172-175``, ``sd_models.py:683-701``), so this module reads
  ``sd_models.model_data.sd_model`` instead, which never loads anything;
- a missing sha256 is taken from the host's cache with ``hashes.sha256_from_cache``
  (``modules/hashes.py:22-38``), never ``hashes.sha256`` (``:41-67``, which hashes the whole file);
- the user override file lives in the WebUI's data folder, ``modules.paths_internal.data_path``
  (``--data-dir``; ``paths_internal.py:25-30``, re-exported by ``paths.py:3``; Forge
  ``paths_internal.py:30``), not in the extension folder, so updates and reinstalls keep it;

- with ``Settings → Clip Skip Control → Count the clip skip you used in your own images`` (off by
  default) the PNGs in the host's output folders (``OUTPUT_FOLDER_KEYS``) are indexed, at most once a
  minute, into ``clip_skip_image_index.json`` beside the override file (``metadata.ImageHistory``).

Reading never breaks a generation: any error is logged once and the answer is "not known". Results
are cached per (file, its mtime and size, each file beside it that the lookup reads, family, host,
sha256, override file, image index), so a generation reads no model file again until something changes.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules import shared

from clip_skip_ext import conventions
from clip_skip_ext.metadata import (
    DEFAULT_FILENAME,
    ImageHistory,
    OverrideStore,
    OverrideStoreError,
    Result,
    companion_files,
    default_entries,
    lookup,
    normalize_sha256,
)
from clip_skip_ext.metadata.recommendation import Recommendation
from clip_skip_ext.schedule import format_value, parse
from clip_skip_ext.webui import host as webui_host

log = logging.getLogger(__name__)

APPLY_KEY = "clip_skip_checkpoint_defaults"
FOLLOW_LORA_KEY = "clip_skip_follow_lora"
HISTORY_KEY = "clip_skip_image_history"
HISTORY_FILENAME = "clip_skip_image_index.json"
HISTORY_REFRESH_SECONDS = 60.0
# Where the host saves images (A1111/Forge modules/shared_options.py: "outdir_samples" overrides the
# per-tab folders "outdir_txt2img_samples" / "outdir_img2img_samples" when set; processing.py save).
OUTPUT_FOLDER_KEYS = ("outdir_samples", "outdir_txt2img_samples", "outdir_img2img_samples")
OPTIONS: dict[str, tuple[Any, str]] = {
    APPLY_KEY: (
        True,
        "Apply a checkpoint's known clip skip automatically (your saved default, the model's metadata, "
        "the curated list) when no panel, XYZ or prompt value is set",
    ),
    FOLLOW_LORA_KEY: (
        False,
        "Follow the training clip skip recorded in a LoRA of the prompt (ss_clip_skip) instead of "
        "only warning when it differs",
    ),
    HISTORY_KEY: (
        False,
        "Count the clip skip you used in your own images (the outputs folders) as a checkpoint's default, "
        "below its metadata and the curated list (reads only the PNGs' text chunks; index kept in the "
        "data folder)",
    ),
}


MAX_CACHED = 256


@dataclass(frozen=True)
class Known:
    """A known default clip skip: for the loaded checkpoint, or a LoRA's training value.

    ``value`` is in the running host's numbering (what the host's own "Clip skip" would need);
    ``original`` and ``convention`` are what the source wrote; ``source`` is the short text for
    the panel and the infotext ("user override", "safetensors header (modelspec.encoder_layer)",
    "curated: AI Horde reference, 2DN", "LoRA foo (ss_clip_skip)"); ``detail`` its full wording.
    ``origin`` is the database's origin ("override", "sidecar", "header", "civitai", "curated");
    ``kind`` is "checkpoint" or "lora"; ``model`` the file name (checkpoint) or tag name (LoRA).
    """

    value: float
    original: float
    convention: str
    source: str
    confidence: float
    origin: str
    host: str
    kind: str = "checkpoint"
    model: str = ""
    detail: str = ""

    @property
    def label(self) -> str:
        """``2 (user override)``: the value and its source, for the infotext."""
        return f"{format_value(self.value)} ({self.source})"

    @property
    def numbering(self) -> str:
        """How the source wrote it when that is another number, e.g. ``-2 in ComfyUI numbering``."""
        if self.original == self.value:
            return ""
        return f"{format_value(self.original)} in {conventions.HOST_NAMES[self.convention]} numbering"

    @property
    def summary(self) -> str:
        """One phrase for the panel, e.g. ``checkpoint default 2 from user override``."""
        what = "checkpoint default" if self.kind == "checkpoint" else "LoRA training skip"
        extra = f" (written as {self.numbering})" if self.numbering else ""
        return f"{what} {format_value(self.value)} from {self.source}{extra}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "original": self.original,
            "convention": self.convention,
            "source": self.source,
            "confidence": self.confidence,
            "origin": self.origin,
            "kind": self.kind,
            "model": self.model,
            "detail": self.detail,
        }


# ---- settings and paths ----------------------------------------------------------------------------


def _setting(key: str) -> Any:
    # opts.<key> raises before the option is registered (A1111 options.py:131-142): read the data.
    return shared.opts.data.get(key, OPTIONS[key][0])


def apply_defaults() -> bool:
    """Settings: apply known checkpoint defaults automatically."""
    return bool(_setting(APPLY_KEY))


def follow_lora() -> bool:
    """Settings: follow a LoRA's training skip instead of only warning."""
    return bool(_setting(FOLLOW_LORA_KEY))


def overrides_path() -> Path:
    """The user override file: ``<data dir>/clip_skip_overrides.json`` (``--data-dir``,
    ``modules/paths_internal.py:25-30``), outside the extension folder."""
    from modules import paths_internal

    return Path(os.path.abspath(paths_internal.data_path)) / DEFAULT_FILENAME


def _store() -> OverrideStore:
    return OverrideStore(overrides_path())


_HISTORY: dict[tuple, ImageHistory] = {}


def output_folders() -> list[str]:
    """The folders the host saves txt2img and img2img images in (absolute, from its settings)."""
    data = shared.opts.data
    if data.get("outdir_samples"):
        names = [data["outdir_samples"]]
    else:
        names = [
            data.get("outdir_txt2img_samples", "outputs/txt2img-images"),
            data.get("outdir_img2img_samples", "outputs/img2img-images"),
        ]
    return list(dict.fromkeys(os.path.abspath(name) for name in names if isinstance(name, str) and name))


def image_history() -> ImageHistory | None:
    """The index of the user's images when the setting is on (refreshed at most once a minute);
    None when it is off. Its problems are logged once each."""
    if not _setting(HISTORY_KEY):
        return None
    host = webui_host.host_name()
    folders = output_folders()
    key = (tuple(folders), host)
    with _LOCK:
        history = _HISTORY.get(key)
        if history is None:
            _HISTORY.clear()
            cache = overrides_path().with_name(HISTORY_FILENAME)
            history = _HISTORY[key] = ImageHistory(folders, convention=host, cache_path=cache)
    history.refresh(min_interval=HISTORY_REFRESH_SECONDS)
    for problem in history.problems[:5]:
        warn_once(problem)
    return history


# ---- the loaded checkpoint -------------------------------------------------------------------------


def _usable(info: Any) -> bool:
    return isinstance(getattr(info, "filename", None), str) and bool(info.filename)


def loaded_checkpoint() -> Any | None:
    """The ``CheckpointInfo`` of the loaded model, or None (nothing loaded; Forge's
    ``FakeInitialModel`` before the first generation, ``sd_models.py:385-393``, has none)."""
    info = getattr(webui_host.loaded_model(), "sd_checkpoint_info", None)
    return info if _usable(info) else None


def _selected_checkpoint() -> Any | None:
    """The checkpoint chosen in Settings (``opts.sd_model_checkpoint``, a title or alias; A1111
    ``select_checkpoint``, ``sd_models.py:218-222``), for the route when nothing is loaded yet."""
    try:
        from modules import sd_models

        info = sd_models.checkpoint_aliases.get(shared.opts.data.get("sd_model_checkpoint"))
    except Exception:  # an optional nicety
        return None
    return info if _usable(info) else None


def selected_family(host: str) -> tuple[str, str] | None:
    """(family, file name) of the checkpoint selected in Settings, from its metadata, while no model
    is loaded: Forge loads it at the first generation (``processing.py:836``). Never raises."""
    info = _selected_checkpoint()
    if info is None or loaded_checkpoint() is not None:
        return None
    try:
        family = _checkpoint_result(info, None, host).family
    except Exception:  # only a hint for the panel
        return None
    return (family, _file_name(info)) if family else None


def _file_name(info: Any) -> str:
    return os.path.basename(info.filename)


def _sha256(info: Any) -> str | None:
    """The checkpoint's full sha256 if the host already knows it; never hashes the file."""
    digest = normalize_sha256(getattr(info, "sha256", None))
    if digest:
        return digest
    name = getattr(info, "name", None) or _file_name(info)
    try:
        from modules import hashes

        return normalize_sha256(hashes.sha256_from_cache(info.filename, f"checkpoint/{name}"))
    except Exception:  # the cache is optional; the name still identifies the file
        return None


# ---- cached lookups -----------------------------------------------------------------------------

_CACHE: dict[tuple, Result] = {}
_LOCK = threading.Lock()
_WARNED: set[str] = set()


def clear_cache() -> None:
    """Forget every cached lookup (after saving an override, or in tests)."""
    with _LOCK:
        _CACHE.clear()


def warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning("Clip Skip Control: %s", message)


def _stamp(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def cached_lookup(
    path: str,
    *,
    kind: str,
    family: str | None,
    host: str,
    sha256: str | None = None,
    store: OverrideStore | None = None,
) -> Result:
    """``metadata.lookup`` through the cache. Checkpoints: every source; LoRAs: only what records
    a training skip (sidecar, header, civitai.info), no overrides, curated entries or name guesses."""
    path = os.path.abspath(path)
    history = image_history() if kind == "checkpoint" else None
    key = (
        kind,
        path,
        _stamp(path),
        *(_stamp(companion) for companion in companion_files(path)),
        family,
        host,
        sha256,
        None if store is None else (str(store.path), _stamp(store.path)),
        None if history is None else history.generation,
    )
    with _LOCK:
        found = _CACHE.get(key)
    if found is not None:
        return found
    if kind == "lora":
        result = lookup(path, host=host, kind="lora", family=family, curated=(), use_heuristics=False)
    else:
        result = lookup(
            path, host=host, kind="checkpoint", family=family, overrides=store, sha256=sha256, history=history
        )
    for problem in result.problems:
        warn_once(problem)
    with _LOCK:
        if len(_CACHE) >= MAX_CACHED:
            _CACHE.clear()
        _CACHE[key] = result
    return result


def _checkpoint_result(info: Any, family: str | None, host: str) -> Result:
    return cached_lookup(
        info.filename, kind="checkpoint", family=family, host=host, sha256=_sha256(info), store=_store()
    )


def _short_source(recommendation: Recommendation) -> str:
    """The source in a few words; curated entries as ``curated: AI Horde reference, <name>``."""
    if recommendation.origin != "curated":
        return recommendation.source
    detail = recommendation.detail
    name = next(
        (entry.name for entry in default_entries() if detail.startswith(entry.name + ": ")),
        detail.split(": ", 1)[0],
    )
    cited = recommendation.source.removeprefix("curated: ")
    where = "AI Horde reference" if cited.startswith("AI Horde") else cited.split(" (", 1)[0].split(":", 1)[0]
    return f"curated: {where}, {name}"


def to_known(result: Result, host: str, kind: str = "checkpoint", model: str = "") -> Known | None:
    """The highest-precedence candidate that has a value on the host and is not a name guess."""
    for candidate in result.candidates:
        recommendation = candidate.recommendation
        if candidate.value is None or recommendation.is_heuristic:
            continue
        return Known(
            value=float(candidate.value),
            original=float(recommendation.skip),
            convention=recommendation.convention,
            source=_short_source(recommendation),
            confidence=recommendation.confidence,
            origin=recommendation.origin,
            host=host,
            kind=kind,
            model=model or result.keys.name,
            detail=recommendation.detail,
        )
    return None


def current(family: str | None, host: str) -> Known | None:
    """The known default of the loaded checkpoint, in ``host`` numbering, or None.

    ``family`` is the loaded model's (``host.current_family()``); None or a family without a clip
    skip numbering (SD3, the SDXL refiner) gives None. Ignores the Settings switch (see
    ``apply_defaults`` / ``defaults.job_default``). Never raises: a problem is logged once.
    """
    info = loaded_checkpoint()
    if info is None or not conventions.moves(host, family):
        return None
    try:
        return to_known(_checkpoint_result(info, family, host), host)
    except Exception as error:  # metadata must never break a generation
        warn_once(f"cannot read the clip skip metadata of {info.filename}: {error}")
        return None


# ---- saving the user's own default ------------------------------------------------------------------


def save(value: str) -> str:
    """Save ``value`` (a single whole or fractional value, in the running host's numbering) as the
    loaded checkpoint's default; returns a message for the panel. Schedules are refused."""
    info = loaded_checkpoint()
    if info is None:
        return "No checkpoint is loaded yet: generate once (or load one), then save its default."
    family, host = webui_host.current_family(), webui_host.host_name()
    name = _file_name(info)
    if not conventions.moves(host, family):
        return f"Not saved: clip skip has no effect on {name} ({conventions.no_effect(host, family)})."
    text = str(value if value is not None else "").strip()
    if not text:
        return "Not saved: enter a clip skip value (e.g. 2) first."
    try:
        schedule = parse(text)
        if not schedule.is_constant:
            return f"Not saved: {text!r} is a schedule; a checkpoint's default is one value (e.g. 2 or 1.5)."
        skip = schedule.items[0].value
        effect = conventions.describe(skip, family, host)  # checks the range on this host and family
        _store().set(skip=skip, convention=host, sha256=_sha256(info), name=name, family=family)
    except (ValueError, OverrideStoreError, OSError) as error:  # ScheduleError, ConventionError too
        return f"Not saved: {error}"
    clear_cache()
    message = f"Saved {format_value(skip)} as the default for {name} ({effect})."
    if not apply_defaults():
        message += " Applying checkpoint defaults is off in Settings."
    return message


def forget() -> str:
    """Remove the user's saved default for the loaded checkpoint (by sha256 and by file name)."""
    info = loaded_checkpoint()
    if info is None:
        return "No checkpoint is loaded."
    name, digest = _file_name(info), _sha256(info)
    removed = 0
    try:
        store = _store()
        for _ in range(8):  # an entry by hash and one by name, at most; bounded anyway
            found = store.find(sha256=digest, name=name)
            if found is None:
                break
            entry, matched_by = found
            # remove the key that matched (overrides.py _key: "sha256:<hex>" or "name:<file name>")
            key = {"name": name} if matched_by == "file name" else {"sha256": entry.sha256}
            if not store.remove(**key):
                break
            removed += 1
    except (OverrideStoreError, ValueError, OSError) as error:
        return f"Not removed: {error}"
    clear_cache()
    if not removed:
        return f"No saved default for {name}."
    now = current(webui_host.current_family(), webui_host.host_name())
    after = f"; now: {now.summary}" if now else "; no other default is known"
    return f"Removed your saved default for {name}{after}."


def panel_status(family: str | None, host: str) -> str:
    """One phrase about the loaded checkpoint's default for the panel's status line."""
    info = loaded_checkpoint()
    if info is None or not conventions.moves(host, family):
        return ""
    known = current(family, host)
    name = _file_name(info)
    if known is None:
        return f"no known default for {name}"
    if not apply_defaults():
        return f"{known.summary} for {name} (not applied: off in Settings)"
    return f"{known.summary} for {name}"


# ---- API ----------------------------------------------------------------------------------------------


def route(name: str = "") -> dict[str, Any]:
    """A checkpoint's default, source and numbering: by title, name or hash
    (``sd_models.get_closet_checkpoint_match``, ``sd_models.py:183-200``) or the loaded one.

    Returns ``{"error": ..., "status_code": 404}`` when no checkpoint matches (or none is loaded).
    ``value`` is in the running host's numbering; ``candidates`` lists every source found.
    """
    host = webui_host.host_name()
    loaded = loaded_checkpoint()
    if name:
        from modules import sd_models

        info = sd_models.get_closet_checkpoint_match(name)
        if not _usable(info):
            return {"error": f"no checkpoint matches {name!r}", "status_code": 404}
    else:
        info = loaded or _selected_checkpoint()
        if info is None:
            return {"error": "no checkpoint is loaded", "status_code": 404}
    is_loaded = loaded is not None and os.path.abspath(loaded.filename) == os.path.abspath(info.filename)
    family = webui_host.current_family() if is_loaded else None
    try:
        known_family = family if family in conventions.FAMILIES else None
        result = _checkpoint_result(info, known_family, host)
    except Exception as error:
        return {"error": f"cannot read the metadata of {info.filename}: {error}", "status_code": 500}
    known = to_known(result, host) if (family is None or family in conventions.FAMILIES) else None
    guess = result.winner if result.is_heuristic else None
    summary = result.to_dict()
    return {
        "checkpoint": getattr(info, "title", _file_name(info)),
        "filename": info.filename,
        "loaded": is_loaded,
        "host": host,
        "family": family or result.family,
        "family_reason": "loaded model" if family else result.family_reason,
        "value": known.value if known else None,
        "source": known.source if known else None,
        "original": known.original if known else None,
        "convention": known.convention if known else None,
        "confidence": known.confidence if known else None,
        "detail": known.detail if known else None,
        "applied_automatically": bool(known) and apply_defaults(),
        "guess": (
            {
                "value": guess.value,
                "source": guess.recommendation.source,
                "detail": guess.recommendation.detail,
            }
            if guess
            else None
        ),
        "candidates": summary["candidates"],
        "notes": summary["notes"],
        "problems": summary["problems"],
        "sha256": summary["keys"]["sha256"],
    }
