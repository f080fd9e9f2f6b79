"""A bounded reader for the header of a ``.safetensors`` file.

The format (github.com/huggingface/safetensors, README "Format"): an 8-byte little-endian unsigned
length N, then N bytes of UTF-8 JSON, an object mapping tensor names to ``{dtype, shape,
data_offsets}`` plus an optional ``"__metadata__"`` object of string to string, then the tensor
bytes. This reader reads the 8 length bytes and the N header bytes, nothing else, and refuses a
header whose declared length runs past the end of the file or exceeds ``MAX_HEADER_BYTES``.

Unlike A1111's ``read_metadata_from_safetensors`` (``modules/sd_models.py:284-309``, which reads
whatever length is declared), a hostile or truncated file cannot make this reader allocate more
than ``MAX_HEADER_BYTES`` or read tensor data.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from typing import BinaryIO

# The safetensors library's own limit (MAX_HEADER_SIZE = 100_000_000 in its Rust crate).
MAX_HEADER_BYTES = 100_000_000
LENGTH_BYTES = 8


class MetadataError(ValueError):
    """A model or metadata file that cannot be read; the message names the file and the problem."""


@dataclass
class ReadCounter:
    """Counts bytes read from model files, for the benchmark and the explain view."""

    bytes: int = 0
    reads: int = 0

    def add(self, count: int) -> None:
        """Record one read of ``count`` bytes."""
        self.bytes += count
        self.reads += 1


@dataclass(frozen=True)
class SafetensorsHeader:
    """What the header of one safetensors file says."""

    path: str
    header_length: int
    metadata: dict[str, str]
    tensor_names: tuple[str, ...]
    bytes_read: int
    notes: tuple[str, ...] = field(default=())
    # Each tensor's entry as the header writes it ({"dtype", "shape", "data_offsets"}), unchecked.
    entries: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @property
    def data_offset(self) -> int:
        """Where the tensor bytes start: after the length field and the JSON header."""
        return LENGTH_BYTES + self.header_length


def open_regular(name: str) -> BinaryIO:
    """``open(name, "rb")`` for a regular file only: a FIFO, a device or a socket named like a model
    would block ``open`` or a read forever. OSError (as ``open`` raises) for anything else."""
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", name)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_header(path: str | os.PathLike[str], counter: ReadCounter | None = None) -> SafetensorsHeader:
    """Read and check the header of ``path``; raise MetadataError naming the file if it is not valid.

    Reads exactly 8 bytes and then the declared header length (when the checks pass); never the
    tensor data. ``counter``, when given, is credited with the bytes read.
    """
    name = os.fspath(path)
    try:
        with open_regular(name) as file:
            size = os.fstat(file.fileno()).st_size
            prefix = file.read(LENGTH_BYTES)
            read = len(prefix)
            if counter is not None:
                counter.add(read)
            if len(prefix) < LENGTH_BYTES:
                raise MetadataError(
                    f"{name}: not a safetensors file: it has {size} bytes, fewer than the "
                    f"{LENGTH_BYTES}-byte header length field"
                )
            length = int.from_bytes(prefix, "little")
            _check_length(name, length, size)
            raw = file.read(length)
            read += len(raw)
            if counter is not None:
                counter.add(len(raw))
    except OSError as error:
        raise MetadataError(f"{name}: cannot read the file: {error.strerror or error}") from error
    if len(raw) != length:  # the file shrank while we read it
        raise MetadataError(f"{name}: the header is truncated: expected {length} bytes, read {len(raw)}")
    return _parse(name, length, raw, read)


def _check_length(name: str, length: int, size: int) -> None:
    available = size - LENGTH_BYTES
    if length == 0:
        raise MetadataError(f"{name}: not a safetensors file: the declared header length is 0")
    if length > MAX_HEADER_BYTES:
        raise MetadataError(
            f"{name}: refusing a declared header length of {length} bytes; "
            f"the limit is {MAX_HEADER_BYTES} bytes (100 MB)"
        )
    if length > available:
        raise MetadataError(
            f"{name}: the declared header length ({length} bytes) runs past the end of the file "
            f"({available} bytes after the length field); the file is truncated or not safetensors"
        )


def _parse(name: str, length: int, raw: bytes, read: int) -> SafetensorsHeader:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MetadataError(f"{name}: the header is not UTF-8 text (byte {error.start})") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise MetadataError(
            f"{name}: the header is not valid JSON: {error.msg} at byte {error.pos}"
        ) from error
    except RecursionError as error:
        raise MetadataError(f"{name}: the header nests JSON too deeply to be a safetensors header") from error
    except ValueError as error:  # a number of more than 4,300 digits (Python's int limit)
        raise MetadataError(f"{name}: the header is not readable JSON: {str(error)[:80]}") from error
    if not isinstance(data, dict):
        raise MetadataError(
            f"{name}: the header is a JSON {type(data).__name__}, expected a JSON object of tensor entries"
        )
    raw_metadata = data.pop("__metadata__", None)
    if raw_metadata is None:
        raw_metadata = {}
    if not isinstance(raw_metadata, dict):
        raise MetadataError(
            f"{name}: __metadata__ is a JSON {type(raw_metadata).__name__}, expected an object of strings"
        )
    metadata: dict[str, str] = {}
    notes: list[str] = []
    for key, value in raw_metadata.items():
        if isinstance(value, str):
            metadata[key] = value
        else:
            # The format says string to string; other writers exist. Keep the value as JSON text.
            metadata[key] = json.dumps(value)
            notes.append(f"__metadata__[{key!r}] is not a string; read as {metadata[key][:40]!r}")
    return SafetensorsHeader(
        path=name,
        header_length=length,
        metadata=metadata,
        tensor_names=tuple(data),
        bytes_read=read,
        notes=tuple(notes),
        entries=data,
    )
