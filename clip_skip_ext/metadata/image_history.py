"""The user's own images as a source: which clip skip they used with each checkpoint.

A1111, Forge and Neo save the generation parameters in each PNG's ``parameters`` text chunk (tEXt,
or iTXt when the text is not Latin-1): the prompt, then a line ``Steps: …, Model hash: <sha256[:10]>,
Model: <name>, Clip skip: N, …, Version: …`` (A1111 ``modules/processing.py:758-816``; "Clip skip"
is written only when above 1, so an image without it used 1). Clip Skip Control's own key
``Clip skip schedule`` holds what the positive prompt really used when the panel was on; it wins over
"Clip skip", the global slider.

Only the PNG chunks before the image data are read (never the pixels): a few KB per file. The index
is incremental: each image is remembered by path with its size and mtime, and read again only when
those change; ``cache_path`` keeps it across runs (written atomically). At most ``max_images`` are
indexed. ``bench/image_history.py`` measures it.

Numbering: the infotext's ``Version`` names the host that made the image ("v1.10.1" A1111,
"f2.0.1v1.10.1-…" Forge, "neo…" Forge Neo); without one the index's ``convention`` is used.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_atomic
from .recommendation import Finding, Recommendation, format_skip

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_CHUNK = 1 << 20  # a parameters text is a few KB
MAX_CHUNKS_BEFORE_IMAGE = 64
MAX_IMAGES = 100_000
MAX_CONFIDENCE = 0.5
FORMAT = "clip-skip-control image index"
VERSION = 1
SCHEDULE_KEY = "Clip skip schedule"
_GENERATIONS = itertools.count(1)  # ImageHistory.generation values

_FIELD = re.compile(r'\s*([A-Za-z][\w \-/]*):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


@dataclass(frozen=True)
class Image:
    """What one image says: its checkpoint (hash, name), the skip its positive prompt used, the host."""

    size: int
    mtime_ns: int
    model_hash: str
    model_name: str
    skip: str  # "2", "1.5", or a schedule such as "2@40%, 1"; "" when the image has no parameters
    convention: str


def png_parameters(path: str | os.PathLike[str]) -> str | None:
    """The ``parameters`` text of a PNG, reading only the chunks before the image data; None if
    it has none or is not a PNG. OSError if the file cannot be read."""
    with open(path, "rb") as file:
        if file.read(8) != PNG_SIGNATURE:
            return None
        for _ in range(MAX_CHUNKS_BEFORE_IMAGE):
            head = file.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind in (b"IDAT", b"IEND"):
                return None
            if kind in (b"tEXt", b"iTXt", b"zTXt") and length <= MAX_TEXT_CHUNK:
                text = _text_chunk(kind, file.read(length))
                if text is not None:
                    return text
                file.seek(4, os.SEEK_CUR)
            else:
                file.seek(length + 4, os.SEEK_CUR)
    return None


def _text_chunk(kind: bytes, data: bytes) -> str | None:
    """The text of a ``parameters`` chunk (PNG spec 11.3.4), None for other keywords or bad data."""
    keyword, _, rest = data.partition(b"\0")
    if keyword != b"parameters":
        return None
    try:
        if kind == b"tEXt":
            return rest.decode("latin-1")
        if kind == b"zTXt":
            return _inflate(rest[1:]).decode("latin-1")
        compressed, method = rest[:1] == b"\1", rest[1:2]
        _, _, after_language = rest[2:].partition(b"\0")
        _, _, text = after_language.partition(b"\0")
        if compressed and method == b"\0":
            text = _inflate(text)
        return text.decode("utf-8")
    except (zlib.error, UnicodeDecodeError, ValueError):
        return None


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_TEXT_CHUNK)
    if inflater.unconsumed_tail:
        raise ValueError("text chunk inflates past the limit")
    return out


def infotext_fields(text: str) -> dict[str, str]:
    """The ``key: value`` pairs of an infotext's parameter line (its last line), quotes removed."""
    line = text.strip().rsplit("\n", 1)[-1]
    fields: dict[str, str] = {}
    for key, value in _FIELD.findall(line):
        if value.startswith('"') and value.endswith('"') and len(value) > 1:
            try:
                value = json.loads(value)
            except ValueError:
                value = value[1:-1]
        fields[key.strip()] = str(value).strip()
    return fields


def host_of(version: str, default: str) -> str:
    """The numbering of the host whose ``Version`` string this is."""
    lowered = version.strip().lower()
    if lowered.startswith("neo"):
        return "neo"
    if re.match(r"f\d", lowered):
        return "forge"
    if lowered.startswith("classic"):
        return "classic"
    if re.match(r"v\d", lowered):
        return "a1111"
    return default


def read_image(path: str, size: int, mtime_ns: int, convention: str) -> Image:
    """One image's entry (empty ``skip`` when it has no generation parameters)."""
    text = png_parameters(path)
    fields = infotext_fields(text) if text and "Steps: " in text else {}
    if not fields:
        return Image(size, mtime_ns, "", "", "", convention)
    skip = fields.get(SCHEDULE_KEY) or fields.get("Clip skip") or "1"
    return Image(
        size,
        mtime_ns,
        fields.get("Model hash", "").lower()[:64],
        fields.get("Model", "")[:300],
        skip[:200],
        host_of(fields.get("Version", ""), convention),
    )


class ImageHistory:
    """An incremental index of the images under ``folders``; see the module docstring."""

    def __init__(
        self,
        folders: Sequence[str | os.PathLike[str]],
        *,
        convention: str = "a1111",
        cache_path: str | os.PathLike[str] | None = None,
        max_images: int = MAX_IMAGES,
    ) -> None:
        self.folders = [Path(folder) for folder in folders]
        self.convention = convention
        self.cache_path = Path(cache_path) if cache_path else None
        self.max_images = max_images
        self.images: dict[str, Image] = {}
        self.problems: list[str] = []
        self.read_count = 0  # images read (not from the cache) by the last refresh
        self.refreshed_at: float | None = None
        # unique in the process (not only in this index), so a cache keyed on it never mistakes a
        # new index for an old one
        self.generation = next(_GENERATIONS)
        self._lock = threading.Lock()
        self._loaded = False

    def refresh(self, min_interval: float = 0.0) -> None:
        """Bring the index up to date: new and changed images are read, removed ones forgotten."""
        with self._lock:
            if self.refreshed_at is not None and time.monotonic() - self.refreshed_at < min_interval:
                return
            if not self._loaded:
                self._load_cache()
                self._loaded = True
            problems: list[str] = []
            found: dict[str, Image] = {}
            read = 0
            for path, stat in self._pngs(problems):
                old = self.images.get(path)
                if old is not None and (old.size, old.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                    found[path] = old
                    continue
                try:
                    found[path] = read_image(path, stat.st_size, stat.st_mtime_ns, self.convention)
                except OSError as error:
                    problems.append(f"{path}: cannot read the image: {error.strerror or error}")
                    continue
                read += 1
            changed = read > 0 or len(found) != len(self.images)
            self.images, self.problems, self.read_count = found, problems, read
            self.refreshed_at = time.monotonic()
            if changed:
                self.generation = next(_GENERATIONS)
                self._save_cache()

    def _pngs(self, problems: list[str]) -> Iterator[tuple[str, os.stat_result]]:
        count = 0
        for folder in self.folders:
            for path, stat in _walk(folder, problems):
                if count >= self.max_images:
                    problems.append(f"only the first {self.max_images:,} images are counted")
                    return
                count += 1
                yield path, stat

    def usage(
        self, autov2: str | None, autov1: str | None, name: str | None
    ) -> tuple[Counter[tuple[str, str]], str]:
        """(images per (skip, numbering), how they were matched) for a checkpoint: by its hashes
        (AutoV2 ``sha256[:10]``, which the hosts write, and the old AutoV1), and, while its sha256
        is not known, by its name."""
        wanted = {h.lower() for h in (autov2, autov1) if h}
        stem = os.path.splitext(os.path.basename(name or ""))[0] if not autov2 else ""
        hows: set[str] = set()
        counts: Counter[tuple[str, str]] = Counter()
        for image in self.images.values():
            if not image.skip:
                continue
            if image.model_hash and image.model_hash in wanted:
                hows.add("model hash")
            elif stem and image.model_name == stem:
                hows.add("model name")
            else:
                continue
            counts[(image.skip, image.convention)] += 1
        return counts, " and ".join(sorted(hows))

    def finding(self, autov2: str | None, autov1: str | None = None, name: str | None = None) -> Finding:
        """The skip the user chose most often with this checkpoint, as a recommendation."""
        counts, how = self.usage(autov2, autov1, name)
        if not counts:
            return Finding()
        total = sum(counts.values())
        constant = Counter({key: n for key, n in counts.items() if _number(key[0]) is not None})
        schedules = total - sum(constant.values())
        notes = [f"{schedules} of your {total} images with it used a clip skip schedule"] if schedules else []
        if not constant:
            return Finding(notes=tuple(notes))
        ranked = constant.most_common()
        (skip_text, convention), top = ranked[0]
        if len(ranked) > 1 and ranked[1][1] == top:
            tied = " and ".join(sorted(text for (text, _), n in ranked if n == top))
            notes.append(f"your images with it tie between clip skip {tied} ({top} each)")
            return Finding(notes=tuple(notes))
        skip = _number(skip_text)
        assert skip is not None
        tally = ", ".join(f"{text} in {n}" for (text, _), n in ranked)
        recommendation = Recommendation(
            skip=skip,
            convention=convention,
            source=f"your images ({top} of {total} with this checkpoint)",
            confidence=round(MAX_CONFIDENCE * top / total * min(1.0, top / 5), 3),
            detail=f"you used {format_skip(skip)} in {top} of {total} images with this checkpoint "
            f"(matched by {how}; {tally})",
            origin="history",
        )
        return Finding(recommendations=(recommendation,), notes=tuple(notes))

    # ---- the cache file ----------------------------------------------------------------------------

    def _load_cache(self) -> None:
        if self.cache_path is None:
            return
        try:
            document = json.loads(self.cache_path.read_bytes())
            rows = document["images"] if document.get("version") == VERSION else {}
            self.images = {
                path: Image(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]))
                for path, r in rows.items()
            }
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
            self.images = {}  # a cache: an unreadable one is rebuilt

    def _save_cache(self) -> None:
        if self.cache_path is None:
            return
        rows = {
            path: [i.size, i.mtime_ns, i.model_hash, i.model_name, i.skip, i.convention]
            for path, i in self.images.items()
        }
        data = json.dumps({"format": FORMAT, "version": VERSION, "images": rows}, separators=(",", ":"))
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.cache_path, data.encode("utf-8"))
        except OSError as error:
            self.problems.append(f"cannot save the image index {self.cache_path}: {error}")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value <= 24 else None


def _walk(folder: Path, problems: list[str]) -> Iterator[tuple[str, os.stat_result]]:
    """Every ``.png`` under ``folder`` (hidden folders skipped, symlinked folders not followed)."""
    stack = [os.fspath(folder)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                listed = list(entries)
        except OSError as error:
            if current != os.fspath(folder) or not isinstance(error, FileNotFoundError):
                problems.append(f"{current}: cannot list the folder: {error.strerror or error}")
            continue
        for entry in listed:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.name.lower().endswith(".png") and entry.is_file(follow_symlinks=False):
                    yield entry.path, entry.stat(follow_symlinks=False)
            except OSError:
                continue
