"""Curated clip skip values shipped with the extension (``clip_skip_ext/data/curated_models.json``).

Every entry names its source (the AI Horde model reference, or a model card's wording) and the
numbering its value is written in; ``load_curated`` refuses an entry without a source, with an
unknown family or convention, or with a value its convention does not accept. How the file was made:
``clip_skip_ext/data/README.md``.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..conventions import FAMILIES, HOSTS, ConventionError, translate
from .hashes import normalize_sha256
from .jsonfile import read_json_object
from .recommendation import Finding, Recommendation, format_skip
from .safetensors_header import MetadataError

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "curated_models.json"

# By how the entry was matched to the file: exact file hash or Civitai version; same Civitai model,
# maybe another version; same name only.
CONFIDENCE = {"sha256": 0.6, "civitai version": 0.6, "civitai model": 0.5, "name": 0.4}


@dataclass(frozen=True)
class CuratedEntry:
    """One curated model and its documented clip skip."""

    name: str
    family: str
    clip_skip: float
    convention: str
    source: str
    sha256: tuple[str, ...] = ()
    homepage: str = ""
    civitai_model_id: int | None = None
    civitai_version_id: int | None = None


def normalize_name(name: str) -> str:
    """Lowercase letters and digits only: "Pony Diffusion XL" and "pony_diffusion-xl" are the same."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _entry(raw: object, index: int, where: str) -> CuratedEntry:
    if not isinstance(raw, dict):
        raise MetadataError(f"{where}: entry {index} is not a JSON object")
    label = f"{where}: entry {index} ({raw.get('name', '?')!r})"
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise MetadataError(f"{label} has no source; every curated value must cite where it comes from")
    name, family, convention = raw.get("name"), raw.get("family"), raw.get("convention")
    if not isinstance(name, str) or not name.strip():
        raise MetadataError(f"{label} has no name")
    if family not in FAMILIES:
        raise MetadataError(f"{label}: family {family!r} is not one of {', '.join(FAMILIES)}")
    if convention not in HOSTS:
        raise MetadataError(f"{label}: convention {convention!r} is not one of {', '.join(HOSTS)}")
    value = raw.get("clip_skip")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MetadataError(f"{label}: clip_skip {value!r} is not a number")
    try:
        translate(value, family, convention, "a1111")
    except ConventionError as error:
        raise MetadataError(f"{label}: {error}") from error
    hashes = []
    for text in raw.get("sha256") or []:
        digest = normalize_sha256(text)
        if digest is None:
            raise MetadataError(f"{label}: {text!r} is not a sha256 (64 hex digits)")
        hashes.append(digest)
    ids = [raw.get(key) for key in ("civitai_model_id", "civitai_version_id")]
    for key, value_id in zip(("civitai_model_id", "civitai_version_id"), ids):
        if value_id is not None and (isinstance(value_id, bool) or not isinstance(value_id, int)):
            raise MetadataError(f"{label}: {key} {value_id!r} is not an integer")
    return CuratedEntry(
        name=name,
        family=family,
        clip_skip=float(value),
        convention=convention,
        source=source.strip(),
        sha256=tuple(hashes),
        homepage=str(raw.get("homepage") or ""),
        civitai_model_id=ids[0],
        civitai_version_id=ids[1],
    )


def load_curated(path: str | os.PathLike[str] = DEFAULT_PATH) -> tuple[CuratedEntry, ...]:
    """All entries of a curated file, checked; MetadataError names the first bad entry."""
    data = read_json_object(path, "the curated model list")
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise MetadataError(f"{path}: 'entries' is missing or not a list")
    return tuple(_entry(raw, index, os.fspath(path)) for index, raw in enumerate(entries))


@functools.lru_cache(maxsize=1)
def default_entries() -> tuple[CuratedEntry, ...]:
    """The entries shipped with the extension (read once)."""
    return load_curated(DEFAULT_PATH)


def find_curated(
    entries: tuple[CuratedEntry, ...],
    *,
    name: str,
    family: str | None,
    sha256: str | None = None,
    civitai_version_id: int | None = None,
    civitai_model_id: int | None = None,
    ids_from: str = "",
) -> Finding:
    """Curated entries that match the model, best match first.

    ``name`` is the model's file stem. ``ids_from`` says where the Civitai ids came from (for the
    explanation). An entry of another family than ``family`` is reported as a note, not used.
    """
    wanted = normalize_name(name)
    recommendations: list[Recommendation] = []
    notes: list[str] = []
    matches: list[tuple[int, CuratedEntry, str]] = []
    for entry in entries:
        if sha256 and sha256 in entry.sha256:
            matches.append((0, entry, "sha256"))
        elif civitai_version_id is not None and civitai_version_id == entry.civitai_version_id:
            matches.append((1, entry, "civitai version"))
        elif civitai_model_id is not None and civitai_model_id == entry.civitai_model_id:
            matches.append((2, entry, "civitai model"))
        elif wanted and wanted == normalize_name(entry.name):
            matches.append((3, entry, "name"))
    for _, entry, how in sorted(matches, key=lambda match: match[0]):
        if family is not None and family != entry.family:
            notes.append(
                f"curated entry {entry.name!r} ({entry.family}) matched by {how} but the model is {family}"
            )
            continue
        matched = {
            "sha256": "matched by sha256",
            "civitai version": f"matched by Civitai version id {civitai_version_id}{ids_from}",
            "civitai model": (
                f"matched by Civitai model id {civitai_model_id}{ids_from} (maybe another version)"
            ),
            "name": f"matched by name only ({entry.name!r})",
        }[how]
        recommendations.append(
            Recommendation(
                skip=entry.clip_skip,
                convention=entry.convention,
                source=f"curated: {entry.source}",
                confidence=CONFIDENCE[how],
                detail=(
                    f"{entry.name}: {format_skip(entry.clip_skip)} in {entry.convention} numbering, {matched}"
                ),
                origin="curated",
            )
        )
    family_hint = next((entry.family for _, entry, how in matches if how != "name"), None)
    return Finding(
        recommendations=tuple(recommendations),
        notes=tuple(notes),
        family=family_hint,
        family_reason="curated entry" if family_hint else "",
    )
