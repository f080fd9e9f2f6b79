"""The bounded safetensors header reader, on real files and hostile ones."""

from __future__ import annotations

import json
import struct

import pytest
from metadata_helpers import (
    SD1_CHECKPOINT,
    SDXL_LORA,
    declared_header_length,
    write_model,
    write_raw_safetensors,
)

from clip_skip_ext.metadata import MAX_HEADER_BYTES, MetadataError, ReadCounter, read_header


def test_reads_metadata_and_tensor_names_from_a_real_file(tmp_path):
    path = write_model(tmp_path / "lora.safetensors", {"ss_clip_skip": "2", "ss_network_dim": "8"}, SDXL_LORA)
    header = read_header(path)
    assert header.metadata == {"ss_clip_skip": "2", "ss_network_dim": "8"}
    assert set(header.tensor_names) == set(SDXL_LORA)
    assert "__metadata__" not in header.tensor_names
    declared = declared_header_length(path)
    assert header.header_length == declared
    assert header.data_offset == 8 + declared


def test_a_file_without_metadata_has_an_empty_dict(tmp_path):
    header = read_header(write_model(tmp_path / "plain.safetensors"))
    assert header.metadata == {}
    assert header.tensor_names == SD1_CHECKPOINT


def test_reads_only_the_length_field_and_the_header(tmp_path):
    path = write_model(tmp_path / "big.safetensors", {"k": "v"}, size=200_000)  # 800 KB of tensor data
    counter = ReadCounter()
    header = read_header(path, counter)
    assert counter.bytes == header.bytes_read == 8 + header.header_length
    assert counter.bytes < 1000 < path.stat().st_size


def test_non_string_metadata_values_are_kept_as_json_text_with_a_note(tmp_path):
    tensor = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
    document = {"__metadata__": {"ss_clip_skip": 2, "name": "x"}, "w": tensor}
    header = read_header(write_raw_safetensors(tmp_path / "m.safetensors", json.dumps(document).encode()))
    assert header.metadata == {"ss_clip_skip": "2", "name": "x"}
    assert "not a string" in header.notes[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "fewer than the 8-byte header length field"),
        (b"\x10\x00\x00", "fewer than the 8-byte header length field"),
        (struct.pack("<Q", 0), "declared header length is 0"),
        (struct.pack("<Q", 5000) + b'{"a": 1}', "runs past the end of the file"),
        (struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{}", "limit is 100000000 bytes"),
        (struct.pack("<Q", 2**64 - 1) + b"{}", "refusing a declared header length"),
        (struct.pack("<Q", 9) + b"not json!", "not valid JSON"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "not UTF-8"),
        (struct.pack("<Q", 7) + b"[1,2,3]", "JSON list, expected a JSON object"),
        (struct.pack("<Q", 5) + b'"abc"', "JSON str, expected a JSON object"),
        (struct.pack("<Q", 22) + b'{"__metadata__": [1]} ', "__metadata__ is a JSON list"),
    ],
    ids=[
        "empty",
        "short-length-field",
        "zero-length",
        "length-beyond-file",
        "over-100MB",
        "u64-max",
        "non-json",
        "not-utf8",
        "json-array",
        "json-string",
        "metadata-not-object",
    ],
)
def test_hostile_or_broken_headers_are_rejected_with_the_file_name(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(MetadataError, match=message) as raised:
        read_header(path)
    assert str(path) in str(raised.value)


def test_an_oversized_declared_header_is_refused_before_reading_it(tmp_path):
    # A 150 MB file whose header claims 120 MB: within the file, but over the limit. Sparse file.
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", 120_000_000) + b"{")
        file.truncate(150_000_000)
    counter = ReadCounter()
    with pytest.raises(MetadataError, match="limit is 100000000 bytes"):
        read_header(path, counter)
    assert counter.bytes == 8


def test_a_truncated_real_file_is_rejected(tmp_path):
    path = write_model(tmp_path / "cut.safetensors", {"ss_clip_skip": "2"})
    data = path.read_bytes()
    declared = declared_header_length(path)
    path.write_bytes(data[: 8 + declared // 2])
    with pytest.raises(MetadataError, match="runs past the end of the file"):
        read_header(path)


def test_a_missing_file_is_a_metadata_error(tmp_path):
    with pytest.raises(MetadataError, match="cannot read the file"):
        read_header(tmp_path / "absent.safetensors")


def test_deeply_nested_header_is_rejected_cleanly(tmp_path):
    body = b"[" * 100_000 + b"]" * 100_000
    path = tmp_path / "nested.safetensors"
    path.write_bytes(struct.pack("<Q", len(body)) + body)
    with pytest.raises(MetadataError, match="nests JSON too deeply"):
        read_header(path)
