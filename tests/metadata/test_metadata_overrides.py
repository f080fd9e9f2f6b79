"""The user override store: atomic writes, locking, corrupt-file recovery, concurrent writers."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os

import filelock
import pytest

from clip_skip_ext.metadata import OverrideStore, OverrideStoreError

SHA = "ab" * 32
OTHER = "cd" * 32


def test_set_find_and_remove(tmp_path):
    store = OverrideStore(tmp_path / "data" / "overrides.json")
    saved = store.set(skip=2, convention="forge", sha256=SHA.upper(), name="m.safetensors", family="sdxl")
    assert (saved.skip, saved.convention, saved.sha256, saved.family) == (2.0, "forge", SHA, "sdxl")
    assert saved.saved_at.endswith("Z")
    store.set(skip=1.5, convention="a1111", name="other.safetensors")

    assert store.find(sha256=SHA)[1] == "sha256"
    assert store.find(autov2=SHA[:10].upper())[1] == f"AutoV2 {SHA[:10]}"
    assert store.find(name="m.safetensors")[1] == "file name (hash not known)"
    assert (
        store.find(sha256=OTHER, name="m.safetensors") is None
    )  # a known, different hash wins over the name
    other, how = store.find(name="other.safetensors")
    assert (other.skip, how) == (1.5, "file name")

    document = json.loads((tmp_path / "data" / "overrides.json").read_text(encoding="utf-8"))
    assert document["version"] == 1
    assert set(document["overrides"]) == {"sha256:" + SHA, "name:other.safetensors"}

    assert store.remove(sha256=SHA) is True
    assert store.remove(sha256=SHA) is False
    assert store.find(sha256=SHA) is None


def test_replacing_an_override_keeps_one_entry(tmp_path):
    store = OverrideStore(tmp_path / "o.json")
    store.set(skip=2, convention="a1111", sha256=SHA)
    store.set(skip=3, convention="a1111", sha256=SHA)
    assert [o.skip for o in store.load().values()] == [3.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"skip": "2", "convention": "a1111", "sha256": SHA}, "not a number"),
        ({"skip": float("nan"), "convention": "a1111", "sha256": SHA}, "not a number"),
        ({"skip": 2, "convention": "webui", "sha256": SHA}, "convention 'webui'"),
        ({"skip": 40, "convention": "a1111", "sha256": SHA, "family": "sd1"}, "out of range"),
        ({"skip": 2, "convention": "a1111", "sha256": "xyz"}, "not a sha256"),
        ({"skip": 2, "convention": "a1111"}, "needs the model's sha256 or its file name"),
    ],
)
def test_invalid_values_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        OverrideStore(tmp_path / "o.json").set(**kwargs)
    assert not (tmp_path / "o.json").exists()


def test_the_recommendation_is_top_precedence(tmp_path):
    store = OverrideStore(tmp_path / "o.json")
    store.set(skip=2, convention="forge", sha256=SHA, note="looks better")
    rec = store.read(sha256=SHA, autov2=None, name=None).best
    assert (rec.skip, rec.convention, rec.source, rec.confidence, rec.origin) == (
        2.0,
        "forge",
        "user override",
        1.0,
        "override",
    )
    assert "looks better" in rec.detail


# ---- atomic writes ---------------------------------------------------------------------------------


def test_a_failed_replace_leaves_the_old_file_intact_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "o.json"
    store = OverrideStore(path)
    store.set(skip=2, convention="a1111", sha256=SHA)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OverrideStoreError, match="previous file is unchanged"):
        store.set(skip=3, convention="a1111", sha256=OTHER)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix != ".lock"] == ["o.json"]  # no temporary file left


def _crash_before_replace(path: str) -> None:
    store = OverrideStore(path)

    def die(*args, **kwargs):
        os._exit(3)  # the process dies after writing the temporary file, before the rename

    os.replace = die
    store.set(skip=3, convention="a1111", sha256=OTHER)


def test_a_process_killed_between_write_and_replace_leaves_the_old_file(tmp_path):
    path = tmp_path / "o.json"
    OverrideStore(path).set(skip=2, convention="a1111", sha256=SHA)
    before = path.read_bytes()
    process = multiprocessing.get_context("spawn").Process(target=_crash_before_replace, args=(str(path),))
    process.start()
    process.join(60)
    assert process.exitcode == 3
    assert path.read_bytes() == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1  # the dead process's complete temporary file, ignored by readers
    store = OverrideStore(path)
    assert list(store.load()) == ["sha256:" + SHA]
    store.set(skip=4, convention="a1111", sha256=OTHER)  # the lock died with the process
    assert len(store.load()) == 2


# ---- corrupt files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"version": 1}', b'{"overrides": {}, "version": "1"}', b"\xff\xfe\x00"],
    ids=["bad-json", "array", "no-overrides", "bad-version", "not-utf8"],
)
def test_a_corrupt_file_is_moved_aside_with_a_warning(tmp_path, caplog, content):
    path = tmp_path / "o.json"
    path.write_bytes(content)
    store = OverrideStore(path)
    with caplog.at_level(logging.WARNING, logger="clip_skip_ext.metadata.overrides"):
        assert store.load() == {}
    (aside,) = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert aside.name.startswith("o.json.corrupt-")
    assert aside.read_bytes() == content
    assert not path.exists()
    assert "moved it to" in caplog.text
    assert str(aside) in caplog.text
    store.set(skip=2, convention="a1111", sha256=SHA)
    assert len(store.load()) == 1
    assert aside.read_bytes() == content


def test_two_corrupt_files_in_the_same_second_both_survive(tmp_path):
    path = tmp_path / "o.json"
    for content in (b"{one", b"{two"):
        path.write_bytes(content)
        OverrideStore(path).load()
    kept = sorted(p.read_bytes() for p in tmp_path.iterdir() if ".corrupt-" in p.name)
    assert kept == [b"{one", b"{two"]


def test_an_unreadable_entry_is_skipped_but_kept_in_the_file(tmp_path, caplog):
    path = tmp_path / "o.json"
    bad = {"skip": "lots", "convention": "a1111"}
    path.write_text(json.dumps({"version": 1, "overrides": {"sha256:" + OTHER: bad}}), encoding="utf-8")
    store = OverrideStore(path)
    with caplog.at_level(logging.WARNING):
        assert store.load() == {}
    assert "kept in the file" in caplog.text
    store.set(skip=2, convention="a1111", sha256=SHA)
    assert json.loads(path.read_text(encoding="utf-8"))["overrides"]["sha256:" + OTHER] == bad


def test_a_file_from_a_newer_version_is_read_but_not_overwritten(tmp_path):
    path = tmp_path / "o.json"
    entry = {"skip": 2, "convention": "a1111", "sha256": SHA}
    path.write_text(json.dumps({"version": 99, "overrides": {"sha256:" + SHA: entry}}), encoding="utf-8")
    store = OverrideStore(path)
    assert store.find(sha256=SHA) is not None
    with pytest.raises(OverrideStoreError, match="newer Clip Skip Control"):
        store.set(skip=1, convention="a1111", sha256=OTHER)


# ---- locking and concurrent writers -------------------------------------------------------------------


def test_a_held_lock_times_out_with_a_clear_error(tmp_path):
    path = tmp_path / "o.json"
    held = filelock.FileLock(f"{path}.lock", timeout=1)
    with held, pytest.raises(OverrideStoreError, match=r"could not lock .*o\.json within 0\.2 s"):
        OverrideStore(path, lock_timeout=0.2).set(skip=2, convention="a1111", sha256=SHA)
    OverrideStore(path, lock_timeout=0.2).set(skip=2, convention="a1111", sha256=SHA)


def test_a_lock_held_by_another_process_excludes_this_one(tmp_path):
    """The lock is an OS lock on ``o.json.lock``, shared by every process that opens the store."""
    path = tmp_path / "o.json"
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(f"{path}.lock", ready, done))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(OverrideStoreError, match="could not lock"):
            OverrideStore(path, lock_timeout=0.2).set(skip=2, convention="a1111", sha256=SHA)
    finally:
        done.set()
        holder.join(60)
    OverrideStore(path, lock_timeout=5).set(skip=2, convention="a1111", sha256=SHA)


def _hold_lock(lock_path: str, ready, done) -> None:
    with filelock.FileLock(lock_path):
        ready.set()
        done.wait(60)


def _write_many(path: str, worker: int, count: int) -> None:
    store = OverrideStore(path, lock_timeout=60)
    for index in range(count):
        store.set(skip=1 + (index % 3), convention="a1111", name=f"w{worker}-{index}.safetensors")


def test_concurrent_writers_in_separate_processes_lose_no_update(tmp_path):
    path = tmp_path / "o.json"
    workers, count = 4, 25
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(str(path), w, count)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    names = {override.name for override in OverrideStore(path).load().values()}
    assert names == {f"w{w}-{i}.safetensors" for w in range(workers) for i in range(count)}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") or ".corrupt-" in p.name]
