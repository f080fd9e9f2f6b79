"""Hashes checked against values computed here with hashlib, and the host's hash cache."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import pickletools
import sqlite3

import pytest
from metadata_helpers import SDXL_LORA, declared_header_length, write_model

from clip_skip_ext.metadata import (
    HostHashCache,
    ReadCounter,
    addnet_hash,
    autov1,
    autov2,
    autov3,
    normalize_sha256,
    sha256_and_addnet_hash,
    sha256_file,
)

MIB = 1024 * 1024


def pattern(size: int) -> bytes:
    """Deterministic, non-repeating-looking bytes."""
    out = io.BytesIO()
    block = 0
    while out.tell() < size:
        out.write(hashlib.sha256(block.to_bytes(8, "little")).digest())
        block += 1
    return out.getvalue()[:size]


@pytest.mark.parametrize(
    "size",
    [0, 1000, MIB - 1, MIB, MIB + 100, MIB + 0x10000 - 1, MIB + 0x10000, 3 * MIB + 17],
    ids=["empty", "1KB", "1MiB-1", "1MiB", "1MiB+100", "window-1", "window", "3MiB+17"],
)
def test_sha256_and_autov1_match_independent_hashlib_values(tmp_path, size):
    data = pattern(size)
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    full = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == full
    assert autov2(full) == full[:10]
    # A1111 sd_models.model_hash: seek 0x100000, read 0x10000 (whatever is there), sha256, [0:8].
    assert autov1(path) == hashlib.sha256(data[0x100000 : 0x100000 + 0x10000]).hexdigest()[:8]


def test_autov1_of_a_file_under_1_mib_is_the_hash_of_an_empty_read(tmp_path):
    path = tmp_path / "small.bin"
    path.write_bytes(b"x" * 5000)
    assert autov1(path) == "e3b0c442"  # sha256(b"")


def test_autov1_reads_at_most_64_kib(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(pattern(4 * MIB))
    counter = ReadCounter()
    autov1(path, counter)
    assert counter.bytes == 0x10000


def test_autov3_hashes_only_the_bytes_after_the_header(tmp_path):
    path = write_model(tmp_path / "lora.safetensors", {"ss_clip_skip": "2"}, SDXL_LORA, size=50_000)
    data = path.read_bytes()
    tensors = data[8 + declared_header_length(path) :]
    expected = hashlib.sha256(tensors).hexdigest()
    assert addnet_hash(path) == expected
    assert autov3(path) == expected[:12]
    assert sha256_and_addnet_hash(path, declared_header_length(path)) == (
        hashlib.sha256(data).hexdigest(),
        expected,
    )


def test_one_pass_hash_agrees_when_the_header_spans_blocks(tmp_path):
    # A header longer than the 1 MiB read block: the tensor bytes start inside the second block.
    metadata = {"padding": "p" * (MIB + 500)}
    path = write_model(tmp_path / "padded.safetensors", metadata, SDXL_LORA, size=1000)
    data = path.read_bytes()
    offset = 8 + declared_header_length(path)
    assert offset > MIB
    assert sha256_and_addnet_hash(path, offset - 8) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.sha256(data[offset:]).hexdigest(),
    )


def test_normalize_sha256():
    digest = "AB" * 32
    assert normalize_sha256(digest) == "ab" * 32
    assert normalize_sha256("0x" + digest) == "ab" * 32
    assert normalize_sha256("abc") is None
    assert normalize_sha256(None) is None
    with pytest.raises(ValueError, match="not a sha256"):
        autov2("xyz")


# ---- the host's hash cache -----------------------------------------------------------------------


def write_diskcache_entry(cache_dir, subsection: str, key: str, value: object, protocol: int = 5) -> None:
    """A diskcache 5.x store as A1111 writes it: table Cache (diskcache/core.py:512-524), the str key
    with raw=1, a small dict pickled inline with mode 4 (MODE_PICKLE, core.py:46, 219-225)."""
    folder = cache_dir / subsection
    folder.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(folder / "cache.db")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS Cache (rowid INTEGER PRIMARY KEY, key BLOB, raw INTEGER,"
        " store_time REAL, expire_time REAL, access_time REAL, access_count INTEGER DEFAULT 0, tag BLOB,"
        " size INTEGER DEFAULT 0, mode INTEGER DEFAULT 0, filename TEXT, value BLOB)"
    )
    blob = pickletools.optimize(pickle.dumps(value, protocol=protocol))
    connection.execute(
        "INSERT INTO Cache (key, raw, store_time, expire_time, access_time, mode, filename, value)"
        " VALUES (?, 1, 0, NULL, 0, 4, NULL, ?)",
        (key, sqlite3.Binary(blob)),
    )
    connection.commit()
    connection.close()


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "models" / "Stable-diffusion" / "sub" / "model.safetensors"
    return write_model(path)


def test_reads_a_valid_sha256_from_the_diskcache_store(tmp_path, model):
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    title = HostHashCache.title("checkpoint", model, tmp_path / "models" / "Stable-diffusion")
    assert title == "checkpoint/" + os.path.join("sub", "model.safetensors")
    write_diskcache_entry(
        tmp_path / "cache", "hashes", title, {"mtime": model.stat().st_mtime, "sha256": digest}
    )
    cache = HostHashCache.for_data_dir(tmp_path, environ={})
    assert cache.sha256(title, model) == digest
    assert cache.sha256("checkpoint/other.safetensors", model) is None
    assert cache.problems == []


def test_a_file_newer_than_the_cached_mtime_is_not_trusted(tmp_path, model):
    write_diskcache_entry(
        tmp_path / "cache",
        "hashes",
        "checkpoint/m",
        {"mtime": model.stat().st_mtime - 10, "sha256": "a" * 64},
    )
    assert HostHashCache.for_data_dir(tmp_path, environ={}).sha256("checkpoint/m", model) is None


def test_lora_addnet_hashes_come_from_their_own_subsection(tmp_path, model):
    entry = {"mtime": model.stat().st_mtime, "sha256": "b" * 64}
    write_diskcache_entry(tmp_path / "cache", "hashes-addnet", "lora/model", entry)
    cache = HostHashCache.for_data_dir(tmp_path, environ={})
    assert HostHashCache.title("lora", model) == "lora/model"
    assert cache.addnet_hash("lora/model", model) == "b" * 64
    assert cache.sha256("lora/model", model) is None


def test_a_pickle_that_references_a_class_is_refused(tmp_path, model):
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    write_diskcache_entry(tmp_path / "cache", "hashes", "checkpoint/m", Evil())
    cache = HostHashCache.for_data_dir(tmp_path, environ={})
    assert cache.sha256("checkpoint/m", model) is None
    assert (
        "refusing to load posix.getcwd" in cache.problems[0]
        or "refusing to load nt.getcwd" in cache.problems[0]
    )


def test_reads_the_legacy_cache_json(tmp_path, model):
    (tmp_path / "cache.json").write_text(
        json.dumps(
            {"hashes": {"checkpoint/model.safetensors": {"mtime": model.stat().st_mtime, "sha256": "C" * 64}}}
        ),
        encoding="utf-8",
    )
    cache = HostHashCache.for_data_dir(tmp_path, environ={})
    assert cache.sha256("checkpoint/model.safetensors", model) == "c" * 64


def test_environment_overrides_the_cache_locations(tmp_path, model):
    write_diskcache_entry(
        tmp_path / "elsewhere", "hashes", "checkpoint/m", {"mtime": 1e12, "sha256": "d" * 64}
    )
    cache = HostHashCache.for_data_dir(
        tmp_path / "data", environ={"SD_WEBUI_CACHE_DIR": str(tmp_path / "elsewhere")}
    )
    assert cache.sha256("checkpoint/m", model) == "d" * 64


def test_a_corrupt_cache_is_a_problem_not_a_crash(tmp_path, model):
    (tmp_path / "cache" / "hashes").mkdir(parents=True)
    (tmp_path / "cache" / "hashes" / "cache.db").write_bytes(b"this is not sqlite" * 100)
    (tmp_path / "cache.json").write_text("{broken", encoding="utf-8")
    cache = HostHashCache.for_data_dir(tmp_path, environ={})
    assert cache.sha256("checkpoint/m", model) is None
    assert len(cache.problems) == 2


def test_reads_a_store_written_by_the_real_diskcache(tmp_path, model):
    diskcache = pytest.importorskip("diskcache")
    store = diskcache.Cache(str(tmp_path / "cache" / "hashes"), size_limit=2**32, disk_min_file_size=2**18)
    store["checkpoint/model.safetensors"] = {"mtime": model.stat().st_mtime, "sha256": "e" * 64}
    store.close()
    cache = HostHashCache.for_data_dir(tmp_path, environ={})
    assert cache.sha256("checkpoint/model.safetensors", model) == "e" * 64
