"""Model file hashes as A1111, Forge and Civitai compute them.

- sha256: the whole file, streamed in 1 MiB blocks (A1111 ``modules/hashes.py:11-19``). Only
  computed when the caller asks: a checkpoint is several GB.
- AutoV2: ``sha256[:10]``, A1111's "shorthash" (``modules/sd_models.py:93``) and Civitai's AutoV2.
- AutoV1: A1111's old ``model_hash`` (``modules/sd_models.py:203-215``): sha256 of the 0x10000 bytes
  read at offset 0x100000, first 8 hex digits. A file shorter than that hashes what the read returns
  (an empty read for files under 1 MiB, so every such file gets ``e3b0c442``); Civitai instead stores
  no AutoV1 for files under 2 MiB (civitai/model-scanner ``HashTask.cs``). This module does what A1111
  does, since the host's checkpoint ids use it.
- AutoV3: sha256 of the bytes after the safetensors header, first 12 hex digits. The full form is
  kohya's ``sshs_model_hash`` and A1111's "addnet" hash for LoRAs (``modules/hashes.py:69-83``;
  ``extensions-builtin/Lora/network.py:53-57,71-73`` keeps ``[0:12]``).

``HostHashCache`` reads the sha256 values the host has already computed, so that a lookup can use the
full hash without reading the model file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

from .safetensors_header import LENGTH_BYTES, ReadCounter, read_header

BLOCK_BYTES = 1024 * 1024
AUTOV1_OFFSET = 0x100000
AUTOV1_LENGTH = 0x10000

_HEX64 = re.compile(r"[0-9a-f]{64}")


def normalize_sha256(value: str | None) -> str | None:
    """``value`` as 64 lowercase hex digits ("0x" prefix and case ignored), or None if it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    return text if _HEX64.fullmatch(text) else None


def _hash_stream(file: io.BufferedReader, counter: ReadCounter | None) -> str:
    digest = hashlib.sha256()
    while chunk := file.read(BLOCK_BYTES):
        digest.update(chunk)
        if counter is not None:
            counter.add(len(chunk))
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str], counter: ReadCounter | None = None) -> str:
    """The sha256 of the whole file (reads all of it)."""
    with open(path, "rb") as file:
        return _hash_stream(file, counter)


def autov2(sha256: str) -> str:
    """AutoV2 / A1111 shorthash: the first 10 hex digits of the full sha256."""
    full = normalize_sha256(sha256)
    if full is None:
        raise ValueError(f"{sha256!r} is not a sha256 hex digest (64 hex digits)")
    return full[:10]


def autov1(path: str | os.PathLike[str], counter: ReadCounter | None = None) -> str:
    """A1111's old model hash (Civitai AutoV1): reads at most 64 KiB at offset 1 MiB."""
    with open(path, "rb") as file:
        file.seek(AUTOV1_OFFSET)
        window = file.read(AUTOV1_LENGTH)
    if counter is not None:
        counter.add(len(window))
    return hashlib.sha256(window).hexdigest()[:8]


def addnet_hash(
    path: str | os.PathLike[str], counter: ReadCounter | None = None, header_length: int | None = None
) -> str:
    """The full sha256 of the tensor bytes after the safetensors header (kohya ``sshs_model_hash``).

    Reads the whole tensor section. ``header_length`` (from an already read header) saves re-reading
    the header; otherwise it is read and checked first.
    """
    if header_length is None:
        header_length = read_header(path, counter).header_length
    with open(path, "rb") as file:
        file.seek(LENGTH_BYTES + header_length)
        return _hash_stream(file, counter)


def autov3(
    path: str | os.PathLike[str], counter: ReadCounter | None = None, header_length: int | None = None
) -> str:
    """Civitai AutoV3 / A1111 LoRA shorthash: the first 12 hex digits of ``addnet_hash``."""
    return addnet_hash(path, counter, header_length)[:12]


def sha256_and_addnet_hash(
    path: str | os.PathLike[str], header_length: int, counter: ReadCounter | None = None
) -> tuple[str, str]:
    """The whole-file sha256 and the addnet hash of a safetensors file, in one pass over the file."""
    whole, tensors = hashlib.sha256(), hashlib.sha256()
    start = LENGTH_BYTES + header_length
    position = 0
    with open(path, "rb") as file:
        while chunk := file.read(BLOCK_BYTES):
            if counter is not None:
                counter.add(len(chunk))
            whole.update(chunk)
            if position + len(chunk) > start:
                tensors.update(chunk[max(0, start - position) :])
            position += len(chunk)
    return whole.hexdigest(), tensors.hexdigest()


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain data only (dict, str, float, ...); any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the host's hash cache")


class HostHashCache:
    """Read-only view of the sha256 values that A1111/Forge cached for model files.

    Layout (A1111 v1.10 ``modules/cache.py:11-28``, same in Forge): one ``diskcache`` store per
    subsection under ``<cache_dir>/<subsection>/cache.db`` (SQLite table ``Cache``, the key as TEXT
    with ``raw = 1``, the value a pickled dict); before A1111 1.8 one JSON file ``cache.json`` with
    the subsections as top-level objects (A1111 converts it once, ``cache.py:31-53,70-71``).
    Subsection ``hashes`` holds ``{"mtime": float, "sha256": hex}`` under ``checkpoint/<name>`` (name
    relative to the models dir, with extension; ``sd_models.py:64-72,92``) and ``lora/<stem>`` for
    non-safetensors LoRAs; ``hashes-addnet`` holds the addnet hash (AutoV3 full form) of safetensors
    LoRAs under ``lora/<stem>`` (``Lora/network.py:55``, ``networks.py:656``). An entry counts only if
    the file is not newer than the cached mtime (``hashes.py:22-38``).
    """

    def __init__(self, cache_dir: str | os.PathLike[str] | None, cache_json: str | os.PathLike[str] | None):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.cache_json = Path(cache_json) if cache_json is not None else None
        self._json: dict[str, object] | None = None
        self.problems: list[str] = []

    @classmethod
    def for_data_dir(
        cls, data_dir: str | os.PathLike[str], environ: Mapping[str, str] | None = None
    ) -> HostHashCache:
        """The cache of a WebUI whose data dir is ``data_dir``, honouring the host's environment overrides.

        A1111 ``modules/cache.py:11-12``: ``SD_WEBUI_CACHE_FILE`` and ``SD_WEBUI_CACHE_DIR``.
        """
        env = os.environ if environ is None else environ
        data = Path(data_dir)
        return cls(
            env.get("SD_WEBUI_CACHE_DIR") or data / "cache",
            env.get("SD_WEBUI_CACHE_FILE") or data / "cache.json",
        )

    @staticmethod
    def title(
        kind: str, model_path: str | os.PathLike[str], models_dir: str | os.PathLike[str] | None = None
    ) -> str:
        """The cache key the host uses: ``checkpoint/<path relative to models_dir>`` or ``lora/<stem>``."""
        path = Path(model_path)
        if kind == "lora":
            return "lora/" + path.stem
        if kind != "checkpoint":
            raise ValueError(f"unknown model kind {kind!r}; expected 'checkpoint' or 'lora'")
        if models_dir is not None:
            try:
                relative = os.path.relpath(os.path.abspath(path), os.path.abspath(models_dir))
            except ValueError:  # another drive on Windows
                relative = path.name
            if not relative.startswith(".."):
                return "checkpoint/" + relative
        return "checkpoint/" + path.name

    def sha256(self, title: str, model_path: str | os.PathLike[str]) -> str | None:
        """The cached full-file sha256 for ``title`` (subsection ``hashes``), if still valid."""
        return self._lookup("hashes", title, model_path)

    def addnet_hash(self, title: str, model_path: str | os.PathLike[str]) -> str | None:
        """The cached addnet hash (AutoV3 full form) of a safetensors LoRA (``hashes-addnet``)."""
        return self._lookup("hashes-addnet", title, model_path)

    def _lookup(self, subsection: str, title: str, model_path: str | os.PathLike[str]) -> str | None:
        try:
            mtime = os.path.getmtime(model_path)
        except OSError:
            return None
        entry = self._entry_diskcache(subsection, title)
        if entry is None:
            entry = self._entry_json(subsection, title)
        if not isinstance(entry, dict):
            return None
        cached_mtime = entry.get("mtime", 0)
        if not isinstance(cached_mtime, (int, float)) or mtime > cached_mtime:
            return None
        return normalize_sha256(entry.get("sha256"))

    def _entry_diskcache(self, subsection: str, title: str) -> object:
        if self.cache_dir is None:
            return None
        database = self.cache_dir / subsection / "cache.db"
        if not database.is_file():
            return None
        try:
            connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
            try:
                row = connection.execute(
                    "SELECT mode, filename, value, expire_time FROM Cache WHERE key = ? AND raw = 1", (title,)
                ).fetchone()
            finally:
                connection.close()
        except (sqlite3.Error, UnicodeError) as error:  # UnicodeError: a non-UTF-8 file name as key
            self._problem(f"{database}: cannot read the host's hash cache: {error}")
            return None
        if row is None:
            return None
        mode, filename, value, expire_time = row
        if expire_time is not None and expire_time < time.time():
            return None
        try:
            if mode == 4 and value is None and filename:  # MODE_PICKLE stored in a file
                blob = (self.cache_dir / subsection / filename).read_bytes()[: 1 << 20]
                return _NoGlobals(io.BytesIO(blob)).load()
            if mode == 4:  # MODE_PICKLE stored inline
                return _NoGlobals(io.BytesIO(bytes(value))).load()
        except Exception as error:  # a malformed pickle raises almost anything (AttributeError, IndexError…)
            self._problem(
                f"{database}: cannot decode the entry {title!r}: {type(error).__name__}: {str(error)[:120]}"
            )
        return None

    def _entry_json(self, subsection: str, title: str) -> object:
        if self._json is None:
            self._json = self._load_json()
        section = self._json.get(subsection)
        return section.get(title) if isinstance(section, dict) else None

    def _load_json(self) -> dict[str, object]:
        if self.cache_json is None or not self.cache_json.is_file():
            return {}
        try:
            data = json.loads(self.cache_json.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            self._problem(f"{self.cache_json}: cannot read the host's hash cache: {error}")
            return {}
        if not isinstance(data, dict):
            self._problem(f"{self.cache_json}: the host's hash cache is not a JSON object")
            return {}
        return data

    def _problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)


__all__ = [
    "AUTOV1_LENGTH",
    "AUTOV1_OFFSET",
    "HostHashCache",
    "addnet_hash",
    "autov1",
    "autov2",
    "autov3",
    "normalize_sha256",
    "sha256_and_addnet_hash",
    "sha256_file",
]
