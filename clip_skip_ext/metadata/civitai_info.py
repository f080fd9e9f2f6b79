"""Civitai Helper's ``<model>.civitai.info`` file, and CivitAI Browser+'s ``<model>.api_info.json``.

Both Civitai Helper forks write it beside the model as ``<base>.civitai.info`` (zixaphir
``ch_lib/model.py:56-64``, ``SUFFIX = ".civitai"`` in ``ch_lib/civitai.py:11``, ``CIVITAI_EXT = ".info"``
in ``ch_lib/model.py:23``; butaixianran ``scripts/ch_lib/civitai.py``). It holds the Civitai REST
response for the model version found by the file's sha256: ``id`` (version), ``modelId``,
``baseModel``, ``files[].hashes`` and ``images[].meta`` (the example images' generation parameters,
A1111 infotext keys such as ``"Clip skip": "2"``; ``meta`` may be null or ``{}``), plus, for LoRAs
trained on Civitai, ``trainingDetails.params.clipSkip`` (kohya-style training parameters).

CivitAI Browser+ (BlafKing/sd-civitai-browser-plus b3d3ecf, and its successor Browser Neo) writes,
with its setting ``save_api_info``, ``<base>.api_info.json`` beside the model
(``scripts/civitai_file_manage.py:683-687``, the name from ``get_save_path_and_name`` :902-915): the
Civitai *model* item (``gl.json_info = item``, :691-698): ``id``, ``name``, ``type``,
``description`` and ``modelVersions[]``, each a model-version response as above (without ``model``
and ``modelId``). The version is the one whose ``files[].name`` is this file's name (the way
``find_and_save`` matches it, :691-697), else the only one; it is then read as a ``.civitai.info``.
``.civitai.info`` wins when both exist.

Conventions: image ``"Clip skip"`` values come from whatever host made each image (A1111, Forge,
ComfyUI front ends, Civitai's generator); they are taken as A1111 numbering, the format they are
written in. ``trainingDetails.params.clipSkip`` is a trainer argument and is read in kohya numbering,
which ignores it for SDXL.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .family import FamilyHint, family_from_civitai_base_model
from .hashes import normalize_sha256
from .jsonfile import beside, read_json_object
from .recommendation import Finding, Recommendation, format_skip, parse_skip
from .safetensors_header import MetadataError

INFO_SUFFIX = ".civitai.info"
API_INFO_SUFFIX = ".api_info.json"
TRAINING_CONFIDENCE = 0.7
IMAGES_MAX_CONFIDENCE = 0.6
IMAGE_KEYS = ("Clip skip", "clipSkip")  # A1111 infotext key; Civitai generator key


def civitai_info_path(model_path: str | os.PathLike[str]) -> Path:
    """``<model without extension>.civitai.info``."""
    return beside(model_path, INFO_SUFFIX)


@dataclass(frozen=True)
class CivitaiInfo:
    """A parsed ``.civitai.info`` file."""

    path: Path
    data: dict[str, object]
    label: str = "civitai.info"  # how sources name the file: "civitai.info" or "api_info.json"

    @property
    def family(self) -> FamilyHint:
        """The model family its ``baseModel`` names."""
        return family_from_civitai_base_model(self.data.get("baseModel"))

    @property
    def version_id(self) -> int | None:
        """The Civitai model-version id."""
        value = self.data.get("id")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def model_id(self) -> int | None:
        """The Civitai model id."""
        value = self.data.get("modelId")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def file_hashes(self, file_name: str) -> tuple[dict[str, str], str]:
        """(hashes, how they were matched) for the model file: by file name, else the only model file.

        The info file was found by this file's sha256, so the version is right; among several files
        only the name tells which one this is.
        """
        files = _files(self.data)
        named = [entry for entry in files if entry.get("name") == file_name]
        models = [entry for entry in files if entry.get("type", "Model") in ("Model", "Pruned Model")]
        chosen, how = (
            (named[0], "file name")
            if named
            else (models[0], "only model file")
            if len(models) == 1
            else (None, "")
        )
        hashes = chosen.get("hashes") if chosen else None
        if not isinstance(hashes, dict):
            return {}, ""
        return {str(k): str(v) for k, v in hashes.items() if isinstance(v, str)}, how

    def sha256(self, file_name: str) -> str | None:
        """The file's full sha256 as Civitai reports it, if known."""
        return normalize_sha256(self.file_hashes(file_name)[0].get("SHA256"))

    def read(self, family: str | None) -> Finding:
        """Recommendations from ``trainingDetails.params.clipSkip`` and the images' majority vote."""
        recommendations: list[Recommendation] = []
        problems: list[str] = []
        notes: list[str] = []
        training = self._training_value(problems)
        if training is not None:
            if family == "sdxl":
                notes.append(
                    f"trainingDetails.params.clipSkip = {format_skip(training)} ignored: "
                    "kohya-style training does not apply clip skip to SDXL"
                )
            else:
                recommendations.append(
                    Recommendation(
                        skip=training,
                        convention="kohya",
                        source=f"{self.label} (training parameters) {self.path.name}",
                        confidence=TRAINING_CONFIDENCE,
                        detail=f"trainingDetails.params.clipSkip = {format_skip(training)} (kohya numbering)",
                        origin="civitai",
                    )
                )
        vote = self._image_vote(notes, problems)
        if vote is not None:
            recommendations.append(vote)
        return Finding(
            recommendations=tuple(recommendations),
            problems=tuple(problems),
            notes=tuple(notes),
            family=self.family[0],
            family_reason=self.family[1],
            texts=tuple(self.texts()),
        )

    def texts(self) -> list[tuple[str, str]]:
        """The version's ``description`` and the model's (``model.description``), Civitai HTML."""
        model = self.data.get("model")
        found = [
            (f"{self.path.name} version description", self.data.get("description")),
            (
                f"{self.path.name} model description",
                model.get("description") if isinstance(model, dict) else None,
            ),
        ]
        return [(label, text) for label, text in found if isinstance(text, str) and text.strip()]

    def _training_value(self, problems: list[str]) -> float | None:
        details = self.data.get("trainingDetails")
        params = details.get("params") if isinstance(details, dict) else None
        if not isinstance(params, dict) or "clipSkip" not in params:
            return None
        try:
            return parse_skip(params["clipSkip"], f"{self.path} [trainingDetails.params.clipSkip]")
        except MetadataError as error:
            problems.append(str(error))
            return None

    def _image_vote(self, notes: list[str], problems: list[str]) -> Recommendation | None:
        images = [image for image in self.data.get("images") or [] if isinstance(image, dict)]
        with_meta = [
            image["meta"] for image in images if isinstance(image.get("meta"), dict) and image["meta"]
        ]
        votes: Counter[float] = Counter()
        unreadable = 0
        for meta in with_meta:
            key = next((k for k in IMAGE_KEYS if k in meta), None)
            if key is None:
                continue
            try:
                value = parse_skip(meta[key], f"{self.path} [images[].meta.{key}]")
            except MetadataError:
                unreadable += 1
                continue
            if value is not None:
                votes[value] += 1
        if unreadable:
            problems.append(f"{self.path}: {unreadable} image(s) have an unreadable clip skip value")
        if not votes:
            if images:
                notes.append(f"none of the {len(images)} images in {self.path.name} states a clip skip")
            return None
        ranked = votes.most_common()
        top_value, top_count = ranked[0]
        tally = ", ".join(f"{format_skip(value)} in {count}" for value, count in ranked)
        if len(ranked) > 1 and ranked[1][1] == top_count:
            tied = sorted(format_skip(value) for value, count in ranked if count == top_count)
            notes.append(
                f"images in {self.path.name} tie between clip skip {' and '.join(tied)} "
                f"({tally}); no majority"
            )
            return None
        stated = sum(votes.values())
        silent = len(with_meta) - stated
        # Share of the images with generation data, damped for tiny samples (1 image: a third).
        confidence = IMAGES_MAX_CONFIDENCE * top_count / len(with_meta) * min(1.0, top_count / 3)
        detail = f'images[].meta "Clip skip": {tally}'
        if silent:
            detail += f"; {silent} image(s) with generation data state none (A1111 omits 1)"
        detail += "; read as A1111 numbering (the images come from several hosts)"
        return Recommendation(
            skip=top_value,
            convention="a1111",
            source=f"{self.label} ({top_count} of {stated} images)",
            confidence=round(confidence, 3),
            detail=detail,
            origin="civitai",
        )


def _files(version: dict[str, object]) -> list[dict[str, object]]:
    """The ``files`` entries of a model-version response that are objects."""
    files = version.get("files")
    return [entry for entry in files if isinstance(entry, dict)] if isinstance(files, list) else []


def checked_version(path: Path, data: dict[str, object]) -> dict[str, object]:
    """A model-version response ``data`` with the keys the reader iterates checked for their JSON types."""
    for key in ("images", "files", "trainedWords"):
        if data.get(key) is not None and not isinstance(data[key], list):
            raise MetadataError(f"{path}: {key!r} is a JSON {type(data[key]).__name__}; expected a list")
    for key in ("model",):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise MetadataError(f"{path}: {key!r} is a JSON {type(data[key]).__name__}; expected an object")
    return data


def _version_of(path: Path, item: dict[str, object], file_name: str) -> dict[str, object]:
    """The model version of ``item`` (an api_info.json) that holds ``file_name``, as a version response."""
    versions = item.get("modelVersions")
    if not isinstance(versions, list) or not all(isinstance(v, dict) for v in versions):
        raise MetadataError(f"{path}: 'modelVersions' is not a list of objects")
    holding = [v for v in versions if any(f.get("name") == file_name for f in _files(v))]
    chosen = holding[:1] or (versions if len(versions) == 1 else [])
    if not chosen:
        raise MetadataError(
            f"{path}: none of its {len(versions)} model versions lists the file {file_name!r}"
        )
    version = dict(chosen[0])
    version.setdefault("modelId", item.get("id"))
    version.setdefault("model", {k: item[k] for k in ("name", "type", "description") if k in item})
    return version


def load_civitai_info(model_path: str | os.PathLike[str]) -> CivitaiInfo | None:
    """The model's ``.civitai.info``, else its ``.api_info.json``; None if it has neither,
    MetadataError (naming the file and key) if the one there cannot be read."""
    path = civitai_info_path(model_path)
    if path.is_file():
        return CivitaiInfo(
            path, checked_version(path, read_json_object(path, "the Civitai Helper info file"))
        )
    api = beside(model_path, API_INFO_SUFFIX)
    if not api.is_file():
        return None
    item = read_json_object(api, "the CivitAI Browser+ api_info file")
    version = _version_of(api, item, Path(model_path).name)
    return CivitaiInfo(api, checked_version(api, version), "api_info.json")
