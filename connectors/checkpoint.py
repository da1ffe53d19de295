"""Checkpoints: one atomic, HMAC-signed snapshot file per name in a directory.

A checkpoint is whatever a worker needs to resume exactly where it stopped (model,
metrics, drift detectors, pending label-delay records, the next offset of every
partition), pickled. A pickle is code: unpickling a file someone else wrote can run
anything. So every file carries an HMAC-SHA256 of its content under a secret key, and
:meth:`CheckpointStore.load` checks it (``hmac.compare_digest``) *before* anything is
unpickled; a file that fails the check is refused with :class:`CheckpointError`.

File layout (all integers big-endian)::

    MAGIC (8 bytes) | version (2 bytes) | HMAC-SHA256 (32 bytes) | payload (pickle)

The MAC covers the magic, the version, the checkpoint's *name* and the payload, so a
valid file copied or renamed to another name (partition 1's model put in place of
partition 2's) is refused as well.

Writing is atomic: the file is written to a temporary file in the same directory,
flushed and ``fsync``-ed, moved over the old one with ``os.replace``, and the directory is
``fsync``-ed, so a crash at any moment leaves either the previous checkpoint or the new
one, never a mix.

The key comes from an environment variable or a file (:func:`load_checkpoint_key`), never
from the command line, and is never logged.

Examples
--------
>>> import tempfile
>>> store = CheckpointStore(tempfile.mkdtemp(), key=b"k" * 32)
>>> store.load("model") is None
True
>>> _ = store.save("model", {"records": 3})
>>> store.load("model")
{'records': 3}
>>> CheckpointStore(store.directory, key=b"x" * 32).load("model")
Traceback (most recent call last):
...
connectors.checkpoint.CheckpointError: checkpoint 'model' (...) failed its integrity check: ...
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import re
import tempfile
import time
from pathlib import Path

__all__ = ["CheckpointError", "CheckpointStore", "load_checkpoint_key", "DEFAULT_KEY_ENV",
           "MIN_KEY_BYTES"]

log = logging.getLogger(__name__)

MAGIC = b"LSCKPT\x00\x01"
VERSION = 1
_HEADER = len(MAGIC) + 2
_MAC_SIZE = hashlib.sha256().digest_size
SUFFIX = ".ckpt"
#: Environment variable read for the key when no other is named.
DEFAULT_KEY_ENV = "LABELSTREAM_CHECKPOINT_KEY"
#: Shortest key accepted (HMAC-SHA256 keys shorter than this are easy to guess).
MIN_KEY_BYTES = 16
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,200}$")
_STALE_TEMP_SECONDS = 3600.0


class CheckpointError(RuntimeError):
    """A checkpoint (or its key) that cannot be used; the message says why and what to do."""


def load_checkpoint_key(env: str | None = None, file: str | os.PathLike | None = None) -> bytes:
    """The checkpoint HMAC key, from the file ``file`` or the environment variable ``env``.

    With neither, the environment variable :data:`DEFAULT_KEY_ENV` is read. A file's
    content is stripped of surrounding blanks (a trailing newline is not part of the key).

    Raises
    ------
    CheckpointError
        When the variable is unset or empty, the file is missing or empty, or the key is
        shorter than :data:`MIN_KEY_BYTES` bytes. The message names the variable or file,
        never the key.

    Examples
    --------
    >>> import os
    >>> os.environ["LABELSTREAM_DOCTEST_CKPT_KEY"] = "0123456789abcdef0123"
    >>> load_checkpoint_key(env="LABELSTREAM_DOCTEST_CKPT_KEY")
    b'0123456789abcdef0123'
    >>> load_checkpoint_key(env="LABELSTREAM_DOCTEST_NO_SUCH_VARIABLE")
    Traceback (most recent call last):
    ...
    connectors.checkpoint.CheckpointError: no checkpoint key: the environment variable ... set ...
    """
    if env and file:
        raise CheckpointError("give the checkpoint key one way: an environment variable or a "
                              "file, not both")
    hint = ("(make one with: openssl rand -hex 32; keep it secret, and the same for every "
            "run that reads these checkpoints)")
    if file:
        path = Path(file)
        try:
            key = path.read_bytes().strip()
        except OSError as err:
            raise CheckpointError(f"no checkpoint key: cannot read the key file {path}: "
                                  f"{err.strerror or err}") from None
        where = f"the key file {path}"
    else:
        env = env or DEFAULT_KEY_ENV
        value = os.environ.get(env)
        if value is None:
            raise CheckpointError(f"no checkpoint key: the environment variable {env} is not "
                                  f"set {hint}")
        key = value.strip().encode("utf-8")
        where = f"the environment variable {env}"
    if not key:
        raise CheckpointError(f"no checkpoint key: {where} is empty {hint}")
    if len(key) < MIN_KEY_BYTES:
        raise CheckpointError(f"the checkpoint key in {where} is {len(key)} bytes; use at least "
                              f"{MIN_KEY_BYTES} {hint}")
    return key


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class CheckpointStore:
    """Named, signed, atomically replaced checkpoint files in one directory.

    Parameters
    ----------
    directory
        Where the files live (created, mode 0700, if missing). Several workers may share
        it (one file per name; names must not collide).
    key
        The HMAC key (see :func:`load_checkpoint_key`).
    writable
        Check now that a file can be created in ``directory`` (see
        :meth:`check_writable`), so that a store that will be written to fails at once
        with one clear line instead of at its first checkpoint. ``False`` for a store
        that is only read.

    Raises
    ------
    CheckpointError
        When the directory cannot be created or (with ``writable``) written to; the
        message names the directory, the OS error and what to do.

    Notes
    -----
    Temporary files left by a crash in the middle of a write (``.NAME.*.tmp``) are never
    read; ones older than an hour are removed when the store is opened.
    """

    def __init__(self, directory: str | os.PathLike, key: bytes, *, writable: bool = True):
        if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_KEY_BYTES:
            raise CheckpointError(f"a checkpoint key must be at least {MIN_KEY_BYTES} bytes")
        self.directory = Path(directory)
        self._key = bytes(key)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise CheckpointError(
                f"cannot create the checkpoint directory {self.directory}: "
                f"{err.strerror or err}; create it (writable by this user) or give another "
                "--checkpoint-dir") from None
        if writable:
            self.check_writable()
        self._remove_stale_temp()

    def check_writable(self) -> None:
        """Create and remove a temporary file in the directory, as a checkpoint write does.

        Raises
        ------
        CheckpointError
            When that fails (a read-only mount, no permission, a full disk): the message
            names the directory, the OS error and what to do.
        """
        try:
            fd, probe = tempfile.mkstemp(dir=self.directory, prefix=".write-probe.",
                                         suffix=".tmp")
        except OSError as err:
            raise CheckpointError(
                f"the checkpoint directory {self.directory} is not writable: "
                f"{err.strerror or err}; checkpoints are written there, so make it writable "
                "(remount it read-write, fix its owner or permissions, free space) or give "
                "another --checkpoint-dir") from None
        os.close(fd)
        try:
            os.unlink(probe)
        except OSError:
            pass

    def __repr__(self):  # never the key
        return f"CheckpointStore({str(self.directory)!r})"

    # -- names -----------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """The file of checkpoint ``name``."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise CheckpointError(f"bad checkpoint name {name!r}: letters, digits and . _ = - "
                                  "only, starting with a letter or digit")
        return self.directory / (name + SUFFIX)

    def names(self) -> list[str]:
        """Names of the checkpoints in the directory (sorted)."""
        return sorted(p.name[:-len(SUFFIX)] for p in self.directory.glob("*" + SUFFIX)
                      if _NAME.match(p.name[:-len(SUFFIX)]))

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def _mac(self, name: str, version: bytes, payload: bytes) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        mac.update(MAGIC)
        mac.update(version)
        encoded = name.encode("utf-8")
        mac.update(len(encoded).to_bytes(4, "big"))
        mac.update(encoded)
        mac.update(payload)
        return mac.digest()

    # -- writing ---------------------------------------------------------------------------
    def save(self, name: str, state) -> int:
        """Pickle ``state`` and write it as checkpoint ``name``, atomically; returns bytes."""
        return self.write(name, self.dumps(state))

    @staticmethod
    def dumps(state) -> bytes:
        """The payload :meth:`save` writes for ``state`` (for :meth:`write` later)."""
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def write(self, name: str, payload: bytes) -> int:
        """Sign and write a payload made by :meth:`dumps`, atomically; returns bytes.

        Lets a caller take the snapshot at one moment (pickling is the consistent cut)
        and write it later, e.g. once the outputs it covers are acknowledged.
        """
        path = self.path(name)
        version = VERSION.to_bytes(2, "big")
        blob = MAGIC + version + self._mac(name, version, payload)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_directory(self.directory)
        return len(blob) + len(payload)

    def delete(self, name: str) -> None:
        """Remove checkpoint ``name`` (no error when absent)."""
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            return
        _fsync_directory(self.directory)

    # -- reading ---------------------------------------------------------------------------
    def load(self, name: str):
        """The state saved as ``name``, or ``None`` when there is no such checkpoint.

        Raises
        ------
        CheckpointError
            When the file is truncated, is not a checkpoint, has an unknown version, or
            fails its HMAC check (wrong key, tampered, or another checkpoint's file). The
            file is not unpickled in any of these cases.
        """
        path = self.path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise CheckpointError(f"checkpoint {name!r} ({path}) cannot be read: "
                                  f"{err.strerror or err}") from None
        refused = (f"checkpoint {name!r} ({path}) failed its integrity check: wrong key or "
                   "tampered file; refusing to load it")
        if len(data) < _HEADER + _MAC_SIZE:
            raise CheckpointError(f"{refused} (truncated: {len(data)} bytes)")
        if data[:len(MAGIC)] != MAGIC:
            raise CheckpointError(f"{refused} (not a labelstream checkpoint)")
        version = data[len(MAGIC):_HEADER]
        if int.from_bytes(version, "big") != VERSION:
            raise CheckpointError(f"checkpoint {name!r} ({path}) has format version "
                                  f"{int.from_bytes(version, 'big')}; this labelstream reads "
                                  f"version {VERSION} only; refusing to load it")
        mac = data[_HEADER:_HEADER + _MAC_SIZE]
        payload = data[_HEADER + _MAC_SIZE:]
        if not hmac.compare_digest(mac, self._mac(name, version, payload)):
            raise CheckpointError(refused)
        try:
            return pickle.loads(payload)
        except Exception as err:  # signed by us, yet unreadable: an incompatible code change
            raise CheckpointError(f"checkpoint {name!r} ({path}) passed its integrity check "
                                  f"but cannot be unpickled ({type(err).__name__}: {err}); it "
                                  "was probably written by an incompatible labelstream "
                                  "version") from None

    def age(self, name: str) -> float | None:
        """Seconds since checkpoint ``name`` was written, or ``None`` when absent."""
        try:
            return max(0.0, time.time() - self.path(name).stat().st_mtime)
        except FileNotFoundError:
            return None

    def _remove_stale_temp(self) -> None:
        now = time.time()
        for tmp in self.directory.glob(".*.tmp"):
            try:
                if now - tmp.stat().st_mtime > _STALE_TEMP_SECONDS:
                    tmp.unlink()
                    log.info("removed a stale checkpoint temporary file %s", tmp)
            except OSError:
                pass
