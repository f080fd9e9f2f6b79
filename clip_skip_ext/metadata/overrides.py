"""The user's own clip skip per model: one JSON file, outside the extension folder.

The WebUI adapter passes a path in the WebUI's data directory (``DEFAULT_FILENAME`` there), so that
updating or reinstalling the extension keeps it. The file::

    {"format": "clip-skip-control overrides", "version": 1,
     "overrides": {"sha256:<64 hex>": {"skip": 2, "convention": "forge", "saved_at": "...Z",
                                       "sha256": "...", "name": "model.safetensors", "family": "sdxl"},
                   "name:<file name>": {...}}}

Entries are keyed by the file's sha256 when it is known, else by its file name. Every change is a
read-modify-write under an inter-process lock (py-filelock's ``FileLock`` on ``<file>.lock``), written to a temporary file
in the same directory, flushed to disk and moved over the old file with ``os.replace``: a crash
leaves either the old or the new file, and two processes saving at once lose no update. A file that
is not valid JSON of this shape is renamed to ``<name>.corrupt-<timestamp>`` with a warning, never
silently overwritten; an entry that cannot be read is skipped with a warning but kept in the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import filelock

from ..atomic import write_atomic
from ..conventions import HOST_NAMES, HOSTS, ConventionError, neighbours
from .hashes import normalize_sha256
from .recommendation import Finding, Recommendation, format_skip

log = logging.getLogger(__name__)

DEFAULT_FILENAME = "clip_skip_overrides.json"
FORMAT = "clip-skip-control overrides"
VERSION = 1
REREAD_DELAY = 0.25  # seconds before a second reading of a file that does not parse


class OverrideStoreError(RuntimeError):
    """The override file could not be locked, read or written; the message says which file and why."""


@dataclass(frozen=True)
class Override:
    """One saved value, in the numbering of ``convention`` (normally the host it was saved on)."""

    skip: float
    convention: str
    saved_at: str
    sha256: str | None = None
    name: str | None = None
    family: str | None = None
    note: str = ""

    def recommendation(self, matched_by: str) -> Recommendation:
        """This override as the top-precedence recommendation."""
        detail = f"{format_skip(self.skip)} in {HOST_NAMES[self.convention]} numbering, saved {self.saved_at}"
        detail += f", matched by {matched_by}" + (f"; {self.note}" if self.note else "")
        return Recommendation(
            skip=self.skip,
            convention=self.convention,
            source="user override",
            confidence=1.0,
            detail=detail,
            origin="override",
        )


def _key(sha256: str | None, name: str | None) -> str:
    if sha256:
        return "sha256:" + sha256
    if name:
        return "name:" + name
    raise ValueError("an override needs the model's sha256 or its file name")


def _parse_entry(key: str, raw: object) -> Override:
    if not isinstance(raw, dict):
        raise ValueError(f"entry {key!r} is not a JSON object")
    skip, convention = raw.get("skip"), raw.get("convention")
    if isinstance(skip, bool) or not isinstance(skip, (int, float)) or not math.isfinite(skip):
        raise ValueError(f"entry {key!r}: skip {skip!r} is not a number")
    if convention not in HOSTS:
        raise ValueError(f"entry {key!r}: convention {convention!r} is not one of {', '.join(HOSTS)}")
    return Override(
        skip=float(skip),
        convention=convention,
        saved_at=str(raw.get("saved_at", "")),
        sha256=normalize_sha256(raw.get("sha256")),
        name=raw.get("name") if isinstance(raw.get("name"), str) else None,
        family=raw.get("family") if isinstance(raw.get("family"), str) else None,
        note=str(raw.get("note", "")),
    )


class OverrideStore:
    """The override file at ``path``. Reads need no lock; every write takes it."""

    def __init__(self, path: str | os.PathLike[str], lock_timeout: float = 10.0):
        self.path = Path(path)
        self.lock_timeout = lock_timeout

    # ---- reading ---------------------------------------------------------------------------------

    def load(self) -> dict[str, Override]:
        """All readable entries by key. A corrupt file is moved aside (under the lock) and reads as empty."""
        document = self._read_document()
        entries: dict[str, Override] = {}
        for key, raw in document["overrides"].items():
            try:
                entries[key] = _parse_entry(key, raw)
            except ValueError as error:
                log.warning("%s: skipping an unreadable override (kept in the file): %s", self.path, error)
        return entries

    def find(
        self, *, sha256: str | None = None, autov2: str | None = None, name: str | None = None
    ) -> tuple[Override, str] | None:
        """The override for a model and how it matched: sha256, then AutoV2, then file name."""
        entries = self.load()
        sha256 = normalize_sha256(sha256)
        if sha256 and ("sha256:" + sha256) in entries:
            return entries["sha256:" + sha256], "sha256"
        short = (autov2 or "").strip().lower()[:10]
        if not sha256 and len(short) == 10:
            for entry in entries.values():
                if entry.sha256 and entry.sha256.startswith(short):
                    return entry, f"AutoV2 {short}"
        if name and ("name:" + name) in entries:
            return entries["name:" + name], "file name"
        if name and not sha256:  # hash unknown: a hash-keyed entry saved for a file of this name
            for entry in entries.values():
                if entry.name == name:
                    return entry, "file name (hash not known)"
        return None

    def read(self, *, sha256: str | None, autov2: str | None, name: str | None) -> Finding:
        """The override as a Finding for ``database.lookup`` (problems instead of exceptions)."""
        try:
            found = self.find(sha256=sha256, autov2=autov2, name=name)
        except OverrideStoreError as error:
            return Finding(problems=(str(error),))
        if found is None:
            return Finding()
        override, matched_by = found
        return Finding(
            recommendations=(override.recommendation(matched_by),),
            family=override.family,
            family_reason="user override" if override.family else "",
        )

    # ---- writing ---------------------------------------------------------------------------------

    def set(
        self,
        *,
        skip: float,
        convention: str,
        sha256: str | None = None,
        name: str | None = None,
        family: str | None = None,
        note: str = "",
    ) -> Override:
        """Save (or replace) the override for a model; returns what was stored."""
        if isinstance(skip, bool) or not isinstance(skip, (int, float)) or not math.isfinite(skip):
            raise ValueError(f"clip skip {skip!r} is not a number")
        if convention not in HOSTS:
            raise ValueError(f"convention {convention!r} is not one of {', '.join(HOSTS)}")
        if family is not None:
            try:
                neighbours(skip, family, convention)  # checks the family and the value's range
            except ConventionError as error:
                raise ValueError(str(error)) from error
        digest = normalize_sha256(sha256)
        if sha256 and digest is None:
            raise ValueError(f"{sha256!r} is not a sha256 (64 hex digits)")
        key = _key(digest, name)
        raw = {
            "skip": int(skip) if float(skip).is_integer() else float(skip),
            "convention": convention,
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "sha256": digest,
            "name": name,
            "family": family,
        }
        if note:
            raw["note"] = note
        raw = {k: v for k, v in raw.items() if v is not None}
        with self._locked():
            document = self._read_document(locked=True)
            self._check_writable(document)
            document["overrides"][key] = raw
            self._write(document)
        return _parse_entry(key, raw)

    def remove(self, *, sha256: str | None = None, name: str | None = None) -> bool:
        """Delete the override saved under the model's sha256 (or name); True if there was one."""
        key = _key(normalize_sha256(sha256), name)
        with self._locked():
            document = self._read_document(locked=True)
            self._check_writable(document)
            if key not in document["overrides"]:
                return False
            del document["overrides"][key]
            self._write(document)
        return True

    # ---- file handling ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``<file>.lock`` (py-filelock: ``fcntl.flock`` on POSIX, ``msvcrt`` on Windows, which
        the operating system drops when a process dies) for one read-modify-write."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OverrideStoreError(f"cannot create the folder for {self.path}: {error}") from error
        lock = filelock.FileLock(f"{self.path}.lock", timeout=self.lock_timeout)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise OverrideStoreError(
                f"could not lock {self.path} within {self.lock_timeout:g} s: another process "
                "(a WebUI or a scan) is writing it; try again"
            ) from None
        except OSError as error:
            raise OverrideStoreError(f"cannot lock {self.path}: {error}") from error
        try:
            yield
        finally:
            lock.release()

    def _read_document(self, *, locked: bool = False) -> dict:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return _empty()
        except OSError as error:
            raise OverrideStoreError(f"cannot read {self.path}: {error}") from error
        document, problem = _parse_document(raw)
        if document is not None:
            return document
        if not locked:  # recheck and move aside under the lock, so that only one process does it
            with self._locked():
                return self._read_document(locked=True)
        # An editor that rewrites the file in place (truncate, then write) takes no lock: give it a
        # moment and read once more before calling the file corrupt.
        time.sleep(REREAD_DELAY)
        try:
            document, problem = _parse_document(self.path.read_bytes())
        except FileNotFoundError:
            return _empty()
        except OSError as error:
            raise OverrideStoreError(f"cannot read {self.path}: {error}") from error
        if document is not None:
            return document
        self._move_aside(problem)
        return _empty()

    def _check_writable(self, document: dict) -> None:
        if document.get("version", VERSION) > VERSION:
            raise OverrideStoreError(
                f"{self.path} was written by a newer Clip Skip Control (format version "
                f"{document['version']}; this one writes {VERSION}); update the extension to change it"
            )

    def _move_aside(self, problem: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        counter = 1
        while target.exists():
            counter += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{counter}")
        try:
            os.replace(self.path, target)
        except FileNotFoundError:
            return
        except OSError as error:
            raise OverrideStoreError(
                f"{self.path} is unreadable ({problem}) and could not be moved aside: {error}"
            ) from error
        log.warning(
            "%s is unreadable (%s); moved it to %s and started an empty override file",
            self.path,
            problem,
            target,
        )

    def _write(self, document: dict) -> None:
        text = json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        try:
            write_atomic(self.path, text.encode("utf-8"))
        except OSError as error:
            raise OverrideStoreError(
                f"could not save {self.path}: {error}; the previous file is unchanged"
            ) from error


def _empty() -> dict:
    return {"format": FORMAT, "version": VERSION, "overrides": {}}


def _parse_document(raw: bytes) -> tuple[dict | None, str]:
    """(document, "") for a usable override file, else (None, what is wrong with it)."""
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        return None, f"not UTF-8 text (byte {error.start})"
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    except ValueError as error:  # e.g. a number of more than 4,300 digits (Python's int limit)
        return None, f"not readable JSON ({str(error)[:80]})"
    except RecursionError:
        return None, "JSON nested too deeply"
    if not isinstance(document, dict):
        return None, f"a JSON {type(document).__name__}, not an object"
    if not isinstance(document.get("overrides"), dict):
        return None, "no 'overrides' object"
    version = document.get("version", VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        return None, f"version {version!r} is not an integer"
    return document, ""
