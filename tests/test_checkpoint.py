"""Checkpoint files: signed, atomic, refused (before any unpickling) when they are not ours."""

from __future__ import annotations

import os
import pickle
import stat

import pytest

from connectors.checkpoint import (
    MAGIC,
    CheckpointError,
    CheckpointStore,
    load_checkpoint_key,
)

KEY = b"0123456789abcdef0123456789abcdef"

#: Set by :class:`_Bomb` when it is unpickled.
UNPICKLED = []


def _explode(what):
    UNPICKLED.append(what)


class _Bomb:
    """An object whose unpickling has a visible side effect."""

    def __reduce__(self):
        return (_explode, ("boom",))


@pytest.fixture
def store(tmp_path):
    return CheckpointStore(tmp_path / "ckpt", KEY)


def test_round_trip_and_absent(store):
    assert store.load("w") is None
    state = {"offsets": {0: 17, 3: 4}, "model": list(range(1000)), "nan": float("nan")}
    n = store.save("w", state)
    got = store.load("w")
    assert got["offsets"] == {0: 17, 3: 4} and got["model"] == list(range(1000))
    assert n == store.path("w").stat().st_size
    assert store.names() == ["w"] and store.exists("w")
    assert stat.S_IMODE(store.path("w").stat().st_mode) == 0o600  # not world readable
    assert store.path("w").read_bytes().startswith(MAGIC)
    store.save("w", {"v": 2})  # replaced
    assert store.load("w") == {"v": 2}
    assert [p.name for p in store.directory.iterdir()] == ["w.ckpt"]  # no temp files left
    store.delete("w")
    store.delete("w")
    assert store.load("w") is None and store.age("w") is None


@pytest.mark.parametrize("where", ["magic", "version", "mac", "payload_start", "payload_end"])
def test_a_tampered_byte_is_refused(store, where):
    store.save("w", {"a": 1, "b": list(range(50))})
    path = store.path("w")
    data = bytearray(path.read_bytes())
    i = {"magic": 0, "version": 9, "mac": 20, "payload_start": 42,
         "payload_end": len(data) - 2}[where]
    data[i] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as err:
        store.load("w")
    text = str(err.value)
    assert "'w'" in text and "refusing to load it" in text


def test_wrong_key_is_refused_with_a_clear_error(store):
    store.save("w", {"a": 1})
    other = CheckpointStore(store.directory, b"another-key-of-enough-length!!")
    with pytest.raises(CheckpointError, match="failed its integrity check: wrong key or "
                                              "tampered file; refusing to load it"):
        other.load("w")


@pytest.mark.parametrize("size", [0, 5, 10, 41, -1])
def test_truncated_file_is_refused(store, size):
    store.save("w", {"a": list(range(100))})
    path = store.path("w")
    data = path.read_bytes()
    path.write_bytes(data[:size] if size >= 0 else data[:-1])
    with pytest.raises(CheckpointError, match="refusing to load it"):
        store.load("w")


def test_unknown_version_is_refused(store):
    store.save("w", {"a": 1})
    path = store.path("w")
    data = bytearray(path.read_bytes())
    data[len(MAGIC):len(MAGIC) + 2] = (99).to_bytes(2, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="format version 99"):
        store.load("w")


def test_a_valid_file_under_another_name_is_refused(store):
    store.save("part-1", {"partition": 1})
    store.save("part-2", {"partition": 2})
    os.replace(store.path("part-1"), store.path("part-2"))
    with pytest.raises(CheckpointError, match="'part-2'.*refusing"):
        store.load("part-2")


def test_nothing_is_unpickled_from_a_bad_file(store, tmp_path):
    UNPICKLED.clear()
    store.save("w", {"bomb": _Bomb()})  # a real signed file: loading it runs the side effect
    store.load("w")
    assert UNPICKLED == ["boom"]
    UNPICKLED.clear()
    # the same payload under a wrong key, with a forged MAC, and as a bare pickle
    other = CheckpointStore(store.directory, b"the-attackers-key-0123456789")
    with pytest.raises(CheckpointError):
        other.load("w")
    path = store.path("w")
    data = bytearray(path.read_bytes())
    data[12] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        store.load("w")
    path.write_bytes(pickle.dumps({"bomb": _Bomb()}))
    with pytest.raises(CheckpointError, match="not a labelstream checkpoint"):
        store.load("w")
    assert UNPICKLED == []


def test_a_crash_mid_write_leaves_the_previous_checkpoint(store, monkeypatch):
    store.save("w", {"generation": 1})
    # a crash after the temporary file is written but before os.replace
    tmp = store.directory / ".w.crashed.tmp"
    tmp.write_bytes(b"partial garbage")

    def crash(src, dst):
        raise KeyboardInterrupt("killed between write and replace")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.save("w", {"generation": 2})
    monkeypatch.undo()
    assert store.load("w") == {"generation": 1}
    # the failed save removed its own temporary file; the crashed one is never read
    assert sorted(p.name for p in store.directory.iterdir()) == [".w.crashed.tmp", "w.ckpt"]
    assert store.names() == ["w"]
    # a stale temporary file is cleaned when a store is opened later
    old = os.stat(tmp).st_mtime - 7200
    os.utime(tmp, (old, old))
    CheckpointStore(store.directory, KEY)
    assert not tmp.exists()


def test_bad_names_are_refused(store):
    for name in ["", "../x", "a/b", ".hidden", "x" * 300]:
        with pytest.raises(CheckpointError, match="bad checkpoint name"):
            store.save(name, 1)


def test_short_key_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="at least 16 bytes"):
        CheckpointStore(tmp_path, b"short")


def test_key_from_env_or_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LS_TEST_CKPT_KEY", "  " + KEY.decode() + "\n")
    assert load_checkpoint_key(env="LS_TEST_CKPT_KEY") == KEY
    monkeypatch.setenv("LABELSTREAM_CHECKPOINT_KEY", KEY.decode())
    assert load_checkpoint_key() == KEY  # the default variable
    keyfile = tmp_path / "key"
    keyfile.write_bytes(KEY + b"\n")
    assert load_checkpoint_key(file=keyfile) == KEY

    monkeypatch.delenv("LS_TEST_CKPT_KEY")
    with pytest.raises(CheckpointError, match="environment variable LS_TEST_CKPT_KEY is not set"):
        load_checkpoint_key(env="LS_TEST_CKPT_KEY")
    monkeypatch.setenv("LS_TEST_CKPT_KEY", "")
    with pytest.raises(CheckpointError, match="LS_TEST_CKPT_KEY is empty"):
        load_checkpoint_key(env="LS_TEST_CKPT_KEY")
    monkeypatch.setenv("LS_TEST_CKPT_KEY", "tooshort")
    with pytest.raises(CheckpointError, match="8 bytes; use at least 16") as err:
        load_checkpoint_key(env="LS_TEST_CKPT_KEY")
    assert "tooshort" not in str(err.value)  # never the key itself
    missing = tmp_path / "nope"
    with pytest.raises(CheckpointError, match=f"cannot read the key file {missing}"):
        load_checkpoint_key(file=missing)
    with pytest.raises(CheckpointError, match="one way"):
        load_checkpoint_key(env="X", file=keyfile)
