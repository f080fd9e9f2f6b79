"""Hostile files (issue 16): each is a clean problem of its own file, never a hang, a crash of the
whole scan, or a lost default from another source."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from metadata_helpers import SD1_CHECKPOINT, write_json, write_model

from clip_skip_ext.atomic import STALE_SECONDS, write_atomic
from clip_skip_ext.metadata import database, overrides
from clip_skip_ext.metadata.hashes import HostHashCache
from clip_skip_ext.metadata.jsonfile import read_json_object
from clip_skip_ext.metadata.overrides import OverrideStore
from clip_skip_ext.metadata.recommendation import parse_skip
from clip_skip_ext.metadata.safetensors_header import MetadataError, read_header

ROOT = Path(__file__).resolve().parents[2]
HUGE_NUMBER = "9" * 5000


def scan(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clip_skip_ext", "scan", str(folder), "--json", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_like_a_model_is_one_error_row_not_a_hang(tmp_path):
    (tmp_path / "misc").mkdir()
    os.mkfifo(tmp_path / "misc" / "x.safetensors")
    write_model(tmp_path / "misc" / "good.safetensors", {"modelspec.encoder_layer": "2"})
    result = scan(tmp_path)  # before: blocked forever in open()
    assert result.returncode == 0, result.stderr
    rows = {row["path"]: row for row in json.loads(result.stdout)}
    fifo = rows["misc/x.safetensors"]
    assert "not a regular file" in (fifo["error"] or "") + " ".join(fifo["problems"])
    assert rows["misc/good.safetensors"]["skip"] == 2
    with pytest.raises(MetadataError, match="not a regular file"):
        read_json_object(tmp_path / "misc" / "x.safetensors", "a test file")


def test_a_header_number_past_pythons_int_limit_is_a_file_error(tmp_path):
    header = (
        '{"__metadata__": {}, "x": {"dtype": "F32", "shape": [' + HUGE_NUMBER + '], "data_offsets": [0, 4]}}'
    ).encode()
    path = tmp_path / "big.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(4))
    with pytest.raises(MetadataError, match="not readable JSON"):
        read_header(path)


@pytest.mark.parametrize(
    "text",
    [
        '{"images": 5}',
        '{"files": 5}',
        '{"baseModel": "SD 1.5", "images": [{"meta": {"clipSkip": ' + HUGE_NUMBER + "}}]}",
    ],
    ids=["images-5", "files-5", "huge-number"],
)
def test_a_bad_civitai_info_is_a_problem_of_that_file_only(tmp_path, text):
    path = write_model(tmp_path / "m.safetensors", {"modelspec.encoder_layer": "2"})
    (tmp_path / "m.civitai.info").write_text(text, encoding="utf-8")
    result = database.lookup(path, host="a1111")
    assert result.value == 2  # the header's value survives
    assert result.recommendation.origin == "header"
    assert any("m.civitai.info" in problem for problem in result.problems), result.problems
    assert all(len(problem) < 600 for problem in result.problems)


@pytest.mark.parametrize("text", ['{"version": 1, "overrides": {}, "n": ' + HUGE_NUMBER + "}", "[" * 100_000])
def test_an_unreadable_overrides_file_is_moved_aside_and_the_store_works(tmp_path, text, monkeypatch):
    monkeypatch.setattr(overrides, "REREAD_DELAY", 0)
    path = tmp_path / "clip_skip_overrides.json"
    path.write_text(text, encoding="utf-8")
    store = OverrideStore(path)
    assert store.load() == {}
    assert len(list(tmp_path.glob("clip_skip_overrides.json.corrupt-*"))) == 1
    store.set(sha256=None, name="m.safetensors", skip=2, convention="a1111")
    assert "m.safetensors" in path.read_text(encoding="utf-8")


def test_a_file_an_editor_is_rewriting_is_read_again_not_called_corrupt(tmp_path):
    path = tmp_path / "clip_skip_overrides.json"
    good = json.dumps({"format": "clip-skip-control overrides", "version": 1, "overrides": {}})
    path.write_text(good[:20], encoding="utf-8")  # truncated: the editor is half-way through
    threading.Timer(0.05, lambda: path.write_text(good, encoding="utf-8")).start()
    assert OverrideStore(path).load() == {}
    assert not list(tmp_path.glob("*.corrupt-*"))
    assert path.read_text(encoding="utf-8") == good


def test_a_saved_override_keeps_a_symlinked_file_a_symlink(tmp_path):
    real = tmp_path / "real" / "overrides.json"
    real.parent.mkdir()
    link = tmp_path / "clip_skip_overrides.json"
    link.symlink_to(real)
    OverrideStore(link).set(sha256=None, name="m.safetensors", skip=2, convention="a1111")
    assert link.is_symlink()
    assert "m.safetensors" in real.read_text(encoding="utf-8")


def test_temporary_files_a_killed_writer_left_are_removed(tmp_path):
    target = tmp_path / "clip_skip_overrides.json"
    old, fresh = (
        tmp_path / ".clip_skip_overrides.json.abc.tmp",
        tmp_path / ".clip_skip_overrides.json.def.tmp",
    )
    for left in (old, fresh):
        left.write_text("{", encoding="utf-8")
    past = time.time() - STALE_SECONDS - 60
    os.utime(old, (past, past))
    write_atomic(target, b"{}")
    assert not old.exists()
    assert fresh.exists()  # may belong to a writer still running


def test_a_ten_megabyte_value_is_not_quoted_whole():
    with pytest.raises(MetadataError) as caught:
        parse_skip("x" * 10_000_000, "m.json [clip skip]")
    assert len(str(caught.value)) < 300
    assert "10,000,002 characters" in str(caught.value)
    with pytest.raises(MetadataError, match="not a finite number"):
        parse_skip(10**400, "m.json [clip skip]")


def test_hash_cache_with_a_non_utf8_name_or_a_malformed_pickle_gives_no_hash_and_a_problem(tmp_path):
    cache = tmp_path / "cache" / "hashes"
    cache.mkdir(parents=True)
    connection = sqlite3.connect(cache / "cache.db")
    connection.execute(
        "CREATE TABLE Cache (key BLOB, raw INTEGER, store_time REAL, expire_time REAL, access_time REAL,"
        " access_count INTEGER, tag BLOB, size INTEGER, mode INTEGER, filename TEXT, value BLOB)"
    )
    # a pickle that makes the restricted unpickler fail with something else than UnpicklingError
    connection.execute(
        "INSERT INTO Cache (key, raw, mode, value) VALUES (?, 1, 4, ?)",
        ("checkpoint/m.safetensors", b"\x80\x04N\x85R."),
    )
    connection.commit()
    connection.close()
    hash_cache = HostHashCache.for_data_dir(tmp_path, environ={})
    path = write_model(tmp_path / "m.safetensors", None, SD1_CHECKPOINT)
    assert hash_cache.sha256("checkpoint/m.safetensors", path) is None
    assert hash_cache.sha256("checkpoint/\udcff.safetensors", path) is None  # surrogate-escaped bytes
    assert len(hash_cache.problems) == 2


def test_scan_with_hash_and_a_non_utf8_file_name_lists_every_file(tmp_path):
    models = tmp_path / "models" / "Stable-diffusion"
    write_model(models / "good.safetensors", {"modelspec.encoder_layer": "2"})
    bad = os.fsencode(models) + b"/caf\xe9.safetensors"
    write_model(Path(os.fsdecode(bad)), {"modelspec.encoder_layer": "3"})
    (tmp_path / "cache").mkdir()
    write_json(tmp_path / "cache.json", {"hashes": {}})
    result = scan(tmp_path / "models", "--hash", "--webui-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 2
    assert sorted(row["skip"] for row in rows) == [2, 3]
