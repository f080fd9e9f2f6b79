"""Look up a model's recommended clip skip: every source, in precedence order, translated to the host.

Precedence, highest first (DESIGN.md §6): user override > sidecar ``<model>.json`` (then
ComfyUI-Lora-Manager's ``usage_tips`` in ``<model>.metadata.json``) > safetensors header >
``<model>.civitai.info`` (else CivitAI Browser+'s ``.api_info.json``, else the Lora-Manager file's
``civitai`` section) > curated entries > the user's own images (when an index is given) > prose in
descriptions and notes > name heuristics. The first recommendation that
has an equivalent on the running host wins; every candidate found is kept, with its original value and
numbering, for an "explain" view.

Reading cost: the safetensors header (8 bytes + its declared length), for checkpoints the 64 KiB
AutoV1 window, and the small files beside the model (``COMPANION_SUFFIXES``). The whole file is hashed only with
``allow_hashing=True``; a sha256 passed in, or found in the host's hash cache, is used instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..conventions import FAMILIES, FAMILY_NAMES, HOST_NAMES, HOSTS, ConventionError, translate
from .civitai_info import CivitaiInfo, load_civitai_info
from .curated import CuratedEntry, default_entries, find_curated
from .description import read_description_file, read_descriptions
from .family import family_from_header
from .hashes import (
    HostHashCache,
    addnet_hash,
    autov1,
    normalize_sha256,
    sha256_and_addnet_hash,
    sha256_file,
)
from .header_source import read_header_values
from .heuristics import guess_from_name
from .image_history import ImageHistory
from .jsonfile import beside
from .lora_manager import LoraManagerFile, load_lora_manager
from .overrides import OverrideStore
from .recommendation import Finding, Recommendation, format_skip
from .safetensors_header import MetadataError, ReadCounter, SafetensorsHeader, read_header
from .sidecar import read_sidecar

T = TypeVar("T")

KINDS = ("checkpoint", "lora")
# The files beside a model that a lookup reads: a cache of lookups must watch each of them.
COMPANION_SUFFIXES = (".json", ".civitai.info", ".api_info.json", ".metadata.json", ".description.txt")


def companion_files(model_path: str | os.PathLike[str]) -> list[Path]:
    """The paths of the files beside ``model_path`` that ``lookup`` reads, whether or not they exist."""
    return [beside(model_path, suffix) for suffix in COMPANION_SUFFIXES]


@dataclass(frozen=True)
class ModelKeys:
    """The identifiers known for a model file, and where each came from."""

    name: str
    sha256: str | None = None
    sha256_source: str = ""
    autov1: str | None = None
    autov3: str | None = None
    autov3_source: str = ""

    @property
    def stem(self) -> str:
        """The file name without its extension (A1111's ``name_for_extra``, a LoRA's name)."""
        return os.path.splitext(self.name)[0]

    @property
    def autov2(self) -> str | None:
        """``sha256[:10]``, the host's shorthash."""
        return self.sha256[:10] if self.sha256 else None


@dataclass(frozen=True)
class Candidate:
    """A recommendation and its value in the host's numbering (None with ``problem`` if it has none)."""

    recommendation: Recommendation
    value: float | None
    problem: str = ""


@dataclass(frozen=True)
class Result:
    """The outcome of one lookup: the winner, every candidate, and what went wrong along the way."""

    path: str
    kind: str
    host: str
    family: str | None
    family_reason: str
    candidates: tuple[Candidate, ...] = ()
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    keys: ModelKeys = field(default_factory=lambda: ModelKeys(name=""))
    bytes_read: int = 0

    @property
    def winner(self) -> Candidate | None:
        """The highest-precedence candidate with a value on the host."""
        return next((candidate for candidate in self.candidates if candidate.value is not None), None)

    @property
    def value(self) -> float | None:
        """The recommended clip skip in the host's numbering, or None."""
        winner = self.winner
        return winner.value if winner else None

    @property
    def recommendation(self) -> Recommendation | None:
        """The winning recommendation as its source wrote it (original value and numbering)."""
        winner = self.winner
        return winner.recommendation if winner else None

    @property
    def is_heuristic(self) -> bool:
        """True when the value is only a guess from the file name."""
        recommendation = self.recommendation
        return bool(recommendation and recommendation.is_heuristic)

    def explain(self) -> list[str]:
        """Human-readable lines: the answer, then every candidate in precedence order, notes, problems."""
        family = FAMILY_NAMES.get(self.family or "", "unknown family")
        why = self.family_reason or "not known"
        lines = [f"{self.keys.name} ({self.kind}, {family}: {why}) on {HOST_NAMES[self.host]}"]
        winner = self.winner
        if winner is None:
            lines.append("no recommendation")
        else:
            flag = " [heuristic: a guess from the name]" if self.is_heuristic else ""
            lines.append(
                f"recommended: {format_skip(winner.value)} from {winner.recommendation.source}{flag}"
            )
        for number, candidate in enumerate(self.candidates, 1):
            rec = candidate.recommendation
            outcome = (
                f"→ {format_skip(candidate.value)}"
                if candidate.value is not None
                else f"(unused: {candidate.problem})"
            )
            lines.append(
                f"  {number}. {rec.source}: {format_skip(rec.skip)} in {rec.convention} numbering {outcome}; "
                f"confidence {rec.confidence:.2f}; {rec.detail}"
            )
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  problem: {problem}" for problem in self.problems]
        return lines

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary (for the API and the command line)."""
        recommendation = self.recommendation
        return {
            "path": self.path,
            "kind": self.kind,
            "host": self.host,
            "family": self.family,
            "family_reason": self.family_reason,
            "value": self.value,
            "source": recommendation.source if recommendation else None,
            "heuristic": self.is_heuristic,
            "candidates": [
                {
                    "source": c.recommendation.source,
                    "origin": c.recommendation.origin,
                    "skip": c.recommendation.skip,
                    "convention": c.recommendation.convention,
                    "confidence": c.recommendation.confidence,
                    "detail": c.recommendation.detail,
                    "value": c.value,
                    "problem": c.problem or None,
                }
                for c in self.candidates
            ],
            "notes": list(self.notes),
            "problems": list(self.problems),
            "keys": {
                "name": self.keys.name,
                "sha256": self.keys.sha256,
                "sha256_source": self.keys.sha256_source or None,
                "autov2": self.keys.autov2,
                "autov1": self.keys.autov1,
                "autov3": self.keys.autov3,
                "autov3_source": self.keys.autov3_source or None,
            },
            "bytes_read": self.bytes_read,
        }


def _translate(
    recommendation: Recommendation, family: str | None, family_reason: str, host: str
) -> Candidate:
    if family is None and family_reason:
        return Candidate(recommendation, None, f"no clip skip numbering for this model ({family_reason})")
    if family is None and recommendation.convention == host:
        return Candidate(
            recommendation, recommendation.skip
        )  # the host's own numbering: nothing to translate
    if family is None:
        return Candidate(recommendation, None, "the model family is unknown; pass family= (sd1, sd2 or sdxl)")
    try:
        value = translate(recommendation.skip, family, recommendation.convention, host)
    except ConventionError as error:
        return Candidate(recommendation, None, str(error))
    if value is None:
        numbering = HOST_NAMES[recommendation.convention]
        problem = (
            f"{format_skip(recommendation.skip)} in {numbering} numbering selects layers that "
            f"{HOST_NAMES[host]} cannot select on {FAMILY_NAMES[family]}"
        )
        return Candidate(recommendation, None, problem)
    return Candidate(recommendation, value)


class _Collector:
    """Gathers findings, problems and notes during one lookup."""

    def __init__(self) -> None:
        self.recommendations: list[Recommendation] = []
        self.problems: list[str] = []
        self.notes: list[str] = []

    def add(self, finding: Finding) -> None:
        self.recommendations += finding.recommendations
        self.problems += finding.problems
        self.notes += finding.notes

    def safely(self, where: str, read: Callable[[], T], default: T | None = None) -> T | None:
        """``read()``, or ``default`` with a problem naming ``where`` when it fails."""
        try:
            return read()
        except MetadataError as error:
            self.problems.append(str(error)[:500])
        except Exception as error:  # a hostile file: wrong types, huge numbers, deep nesting
            self.problems.append(f"{where}: cannot be read ({type(error).__name__}: {str(error)[:200]})")
        return default


def _check_arguments(kind: str, family: str | None, host: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
    if host not in HOSTS:
        raise ValueError(f"unknown host {host!r}; expected one of {', '.join(HOSTS)}")
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)} or None")


def _compute_hashes(
    path: Path,
    kind: str,
    header: SafetensorsHeader | None,
    digest: str | None,
    tensors: str | None,
    counter: ReadCounter,
) -> tuple[str | None, str | None]:
    """Fill in the whole-file sha256 and, for safetensors LoRAs, the addnet hash (reads the file)."""
    wants_tensors = kind == "lora" and header is not None and tensors is None
    if digest is None and wants_tensors:
        return sha256_and_addnet_hash(path, header.header_length, counter)  # one pass for both
    if digest is None:
        digest = sha256_file(path, counter)
    if wants_tensors:
        tensors = addnet_hash(path, counter, header.header_length)
    return digest, tensors


def _resolve_keys(
    path: Path,
    kind: str,
    header: SafetensorsHeader | None,
    info: CivitaiInfo | None,
    sha256: str | None,
    allow_hashing: bool,
    hash_cache: HostHashCache | None,
    models_dir: str | os.PathLike[str] | None,
    counter: ReadCounter,
    collector: _Collector,
    manager: LoraManagerFile | None = None,
) -> ModelKeys:
    """The model's hashes from, in order: the caller, the header, the host's cache, hashing (if
    allowed), the civitai.info file (unverified). AutoV1 is always computed for checkpoints (64 KiB)."""
    given = normalize_sha256(sha256)
    if sha256 is not None and given is None:
        raise ValueError(f"sha256 {sha256!r} is not a sha256 hex digest (64 hex digits)")
    digest, digest_source = (given, "given") if given else (None, "")
    tensors, tensors_source = None, ""
    if header is not None and kind == "lora":  # kohya's own addnet hash (A1111 Lora/network.py:54)
        tensors = normalize_sha256(header.metadata.get("sshs_model_hash"))
        tensors_source = "header sshs_model_hash" if tensors else ""
    if hash_cache is not None:
        title = HostHashCache.title(kind, path, models_dir)
        if digest is None:
            digest = hash_cache.sha256(title, path)
            digest_source = f"host hash cache ({title})" if digest else ""
        if tensors is None and kind == "lora" and header is not None:
            tensors = hash_cache.addnet_hash(title, path)
            tensors_source = f"host hash cache ({title})" if tensors else ""
        collector.problems += hash_cache.problems
    old_hash = None
    try:
        if allow_hashing:
            known = (digest, tensors)
            digest, tensors = _compute_hashes(path, kind, header, digest, tensors, counter)
            digest_source = digest_source if known[0] else "computed"
            tensors_source = tensors_source if known[1] or not tensors else "computed"
        old_hash = autov1(path, counter) if kind == "checkpoint" else None
    except OSError as error:
        collector.problems.append(f"{path}: cannot read the file for hashing: {error.strerror or error}")
    short = tensors[:12] if tensors else None
    if info is not None:
        hashes, how = info.file_hashes(path.name)
        if digest is None and normalize_sha256(hashes.get("SHA256")):
            digest, digest_source = normalize_sha256(hashes["SHA256"]), f"civitai.info ({how}; not verified)"
        reported = hashes.get("AutoV3", "").strip().lower()
        if short is None and kind == "lora" and len(reported) >= 12:
            short, tensors_source = reported[:12], f"civitai.info ({how}; not verified)"
    if digest is None and manager is not None and normalize_sha256(manager.data.get("sha256")):
        digest, digest_source = (
            normalize_sha256(manager.data["sha256"]),
            f"{manager.path.name} (not verified)",
        )
    return ModelKeys(
        name=path.name,
        sha256=digest,
        sha256_source=digest_source,
        autov1=old_hash,
        autov3=short,
        autov3_source=tensors_source,
    )


def _resolve_family(
    given: str | None,
    header: SafetensorsHeader | None,
    sidecar: Finding,
    info: CivitaiInfo | None,
    manager: LoraManagerFile | None,
    collector: _Collector,
) -> tuple[str | None, str]:
    """(family, reason): the caller's, else the header's, the sidecar's, the civitai.info's, the
    Lora-Manager file's."""
    hints: list[tuple[str, str | None]] = [("given", given)] if given else []
    if header is not None:
        header_family, header_reason = family_from_header(header)
        if header_reason:
            hints.append((header_reason, header_family))
    if sidecar.family_reason:
        hints.append((sidecar.family_reason, sidecar.family))
    if info is not None and info.family[1]:
        hints.append((info.family[1], info.family[0]))
    if manager is not None and manager.family[1]:
        hints.append((manager.family[1], manager.family[0]))
    if not hints:
        return None, ""
    reason, family = hints[0]
    for other_reason, other in hints[1:]:
        if other != family:
            collector.notes.append(f"family: {other_reason} disagrees; using {reason}")
    return family, reason


def lookup(
    model_path: str | os.PathLike[str],
    *,
    host: str,
    kind: str = "checkpoint",
    family: str | None = None,
    overrides: OverrideStore | None = None,
    sha256: str | None = None,
    allow_hashing: bool = False,
    hash_cache: HostHashCache | None = None,
    models_dir: str | os.PathLike[str] | None = None,
    curated: tuple[CuratedEntry, ...] | None = None,
    use_heuristics: bool = True,
    history: ImageHistory | None = None,
) -> Result:
    """The recommended clip skip for the model at ``model_path``, in ``host`` numbering.

    ``kind`` is "checkpoint" or "lora"; ``family`` ("sd1", "sd2", "sdxl") is inferred from the file's
    metadata when not given. ``overrides`` is the user's store; ``sha256`` a full hash the caller
    already has (e.g. A1111's ``CheckpointInfo.sha256``); ``hash_cache`` the host's cache, with
    ``models_dir`` to form the host's cache key. The whole file is read only with ``allow_hashing``.
    ``curated`` replaces the shipped entries (tests). ``history`` is the index of the user's own
    images (checkpoints only; refreshed by its owner, not here). Unreadable files become ``problems`` in the
    result; only invalid arguments raise (ValueError).
    """
    _check_arguments(kind, family, host)
    path = Path(model_path)
    counter = ReadCounter()
    collector = _Collector()
    if not path.is_file():
        reason = "given" if family else ""
        problems = (
            f"{path}: "
            + ("not a regular file (a FIFO, device or socket)" if path.exists() else "no such file"),
        )
        return Result(
            str(path), kind, host, family, reason, problems=problems, keys=ModelKeys(name=path.name)
        )

    header: SafetensorsHeader | None = None
    if path.suffix.lower() == ".safetensors":
        try:
            header = read_header(path, counter)
        except MetadataError as error:
            collector.problems.append(str(error))
    else:
        collector.notes.append(f"{path.suffix or 'no extension'}: not a safetensors file, no header metadata")

    if sha256 is not None and normalize_sha256(sha256) is None:  # the caller's mistake, not a file's
        raise ValueError(f"sha256 {sha256!r} is not a sha256 hex digest (64 hex digits)")
    # Each source is read on its own: one that fails, for any reason, is a problem of that source
    # only, and the others still count (a .civitai.info of {"images": 5} must not drop the header).
    empty = Finding()
    sidecar = collector.safely(f"{path.stem}.json (sidecar)", lambda: read_sidecar(path), empty)
    info: CivitaiInfo | None = collector.safely(f"{path.stem}.civitai.info", lambda: load_civitai_info(path))
    manager: LoraManagerFile | None = collector.safely(
        f"{path.stem}.metadata.json", lambda: load_lora_manager(path)
    )
    if info is None and manager is not None:  # its civitai section, when no .civitai.info is there
        info = collector.safely(f"{manager.path.name} [civitai]", lambda: manager.civitai)
    resolved, reason = _resolve_family(family, header, sidecar, info, manager, collector)

    keys = collector.safely(
        f"{path.name} (hashes)",
        lambda: _resolve_keys(
            path,
            kind,
            header,
            info,
            sha256,
            allow_hashing,
            hash_cache,
            models_dir,
            counter,
            collector,
            manager,
        ),
        ModelKeys(name=path.name),
    )

    if overrides is not None:
        found = collector.safely(
            "the overrides file",
            lambda: overrides.read(sha256=keys.sha256, autov2=keys.autov2, name=keys.name),
            empty,
        )
        collector.add(found)
        if found.family and not reason:
            resolved, reason = found.family, found.family_reason
    collector.add(sidecar)
    usage_tips = collector.safely(f"{path.stem}.metadata.json", manager.read, empty) if manager else empty
    collector.add(usage_tips)
    if header is not None:
        collector.add(
            collector.safely(
                f"{path.name} (header)", lambda: read_header_values(header, kind, resolved), empty
            )
        )
    civitai = empty
    if info is not None:
        civitai = collector.safely(info.path.name, lambda: info.read(resolved), empty)
        collector.add(civitai)
    # Civitai ids from the info file let curated entries match another file of the same model.
    curated_finding = collector.safely(
        "the curated list",
        lambda: find_curated(
            default_entries() if curated is None else curated,
            name=keys.stem,
            family=resolved,
            sha256=keys.sha256,
            civitai_version_id=info.version_id if info else None,
            civitai_model_id=info.model_id if info else None,
            ids_from=" (from civitai.info)",
        ),
        empty,
    )
    collector.add(curated_finding)
    if not reason and curated_finding.family:
        resolved, reason = curated_finding.family, curated_finding.family_reason
    if history is not None and kind == "checkpoint":
        collector.add(
            collector.safely(
                "your images", lambda: history.finding(keys.autov2, keys.autov1, keys.name), empty
            )
        )
    # Prose last but the name: the user's own text file first, then the sidecar's and Lora-Manager's
    # notes, then Civitai's descriptions.
    texts = collector.safely(f"{path.stem}.description.txt", lambda: read_description_file(path), [])
    texts = [*texts, *sidecar.texts, *usage_tips.texts, *civitai.texts]
    collector.add(collector.safely("the descriptions", lambda: read_descriptions(texts), empty))
    if use_heuristics and (resolved is not None or not reason):  # not for e.g. Flux
        guess = collector.safely("the name", lambda: guess_from_name(keys.stem, resolved), empty)
        collector.add(guess)
        if not reason and guess.family:
            resolved, reason = guess.family, guess.family_reason

    return Result(
        path=str(path),
        kind=kind,
        host=host,
        family=resolved,
        family_reason=reason,
        candidates=tuple(_translate(rec, resolved, reason, host) for rec in collector.recommendations),
        problems=tuple(collector.problems),
        notes=tuple(collector.notes),
        keys=keys,
        bytes_read=counter.bytes,
    )
