"""Reading the small JSON files that sit beside models, with a size limit and clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .safetensors_header import MetadataError, open_regular

# Civitai Helper's .civitai.info files hold a whole API response (descriptions, image lists): tens or
# hundreds of KB. Anything past this is not a metadata file we want to parse.
MAX_JSON_BYTES = 32 * 1024 * 1024


def beside(model_path: str | os.PathLike[str], suffix: str) -> Path:
    """``<model without extension><suffix>``: where the tools keep a model's companion files."""
    base, _ = os.path.splitext(os.fspath(model_path))
    return Path(base + suffix)


def read_text_file(path: str | os.PathLike[str], what: str, max_bytes: int = MAX_JSON_BYTES) -> str:
    """The UTF-8 text in ``path``; MetadataError naming the file and ``what`` it is if that fails."""
    name = os.fspath(path)
    try:
        with open_regular(name) as file:
            size = os.fstat(file.fileno()).st_size
            if size > max_bytes:
                raise MetadataError(f"{name}: {what} is {size} bytes; the limit is {max_bytes} bytes")
            raw = file.read(max_bytes + 1)
    except OSError as error:
        raise MetadataError(f"{name}: cannot read {what}: {error.strerror or error}") from error
    if len(raw) > max_bytes:  # it grew while being read
        raise MetadataError(f"{name}: {what} is over {max_bytes} bytes, the limit")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MetadataError(f"{name}: {what} is not UTF-8 text (byte {error.start})") from error


def read_json_object(
    path: str | os.PathLike[str], what: str, max_bytes: int = MAX_JSON_BYTES
) -> dict[str, object]:
    """The JSON object in ``path``; MetadataError naming the file and ``what`` it is if that fails."""
    name = os.fspath(path)
    text = read_text_file(path, what, max_bytes)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise MetadataError(
            f"{name}: {what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    except RecursionError as error:
        raise MetadataError(f"{name}: {what} nests JSON too deeply") from error
    except ValueError as error:  # a number of more than 4,300 digits (Python's int limit)
        raise MetadataError(f"{name}: {what} is not readable JSON: {str(error)[:80]}") from error
    if not isinstance(data, dict):
        raise MetadataError(f"{name}: {what} is a JSON {type(data).__name__}; expected a JSON object")
    return data
