"""CRC-32C (Castagnoli) in compiled code, for kafka-python's record-batch checksums.

Every Kafka record batch (message format v2) carries a CRC-32C of its body. kafka-python
checks it on every fetched batch and computes it on every batch it produces, with the
optional ``crc32c`` package when it is installed and otherwise in pure Python, one byte
per interpreter loop turn: on a stream of ~1 KB JSON records that is about 60% of what
consuming costs. The ``crc32c`` package is LGPL-2.1, so labelstream does not depend on it;
this module computes the same checksum with a slice-by-8 table method compiled by numba
(several hundred MB/s or more, against ~10 MB/s in pure Python), and
:func:`use_compiled_crc32c` hands it to kafka-python. Checks are never turned off: a batch
whose checksum does not match is refused by kafka-python exactly as before.

kafka-python 3 binds its implementation at import time (``kafka.record.util`` picks
``crc32c.crc32c`` or its pure-Python ``kafka.record._crc32c.crc``, and
``kafka.record.default_records`` imports ``calc_crc32c`` by name), so
:func:`use_compiled_crc32c` replaces ``calc_crc32c`` in both modules; when the native
``crc32c`` package is present it is left in place (it is faster still).

Examples
--------
>>> hex(crc32c(b"123456789"))  # the CRC-32C check value
'0xe3069283'
>>> crc32c(b"") == 0
True
"""

from __future__ import annotations

import logging

import numpy as np
from numba import njit

__all__ = ["crc32c", "use_compiled_crc32c", "warm_up"]

log = logging.getLogger(__name__)

#: The reflected Castagnoli polynomial.
POLYNOMIAL = 0x82F63B78


def _tables() -> np.ndarray:
    """Slice-by-8 tables: ``T[0]`` is the byte-at-a-time table; ``T[k][b]`` is the CRC
    of byte ``b`` followed by ``k`` zero bytes."""
    t = np.zeros((8, 256), dtype=np.int64)
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ POLYNOMIAL if c & 1 else c >> 1
        t[0, b] = c
    for k in range(1, 8):
        for b in range(256):
            prev = int(t[k - 1, b])
            t[k, b] = (prev >> 8) ^ int(t[0, prev & 0xFF])
    return t


_TABLES = _tables()


@njit(cache=True, nogil=True)
def _crc32c_update(crc, data, t):  # pragma: no cover - compiled
    """Update a running (pre-inverted) CRC with the bytes of ``data`` (uint8, 1-D).

    All arithmetic is on non-negative int64 values below 2**32 (no mixed-sign integer
    promotion), eight bytes per turn, then byte by byte.
    """
    c = crc
    n = data.shape[0]
    i = 0
    while i + 8 <= n:
        lo = c ^ (np.int64(data[i]) | (np.int64(data[i + 1]) << 8)
                  | (np.int64(data[i + 2]) << 16) | (np.int64(data[i + 3]) << 24))
        c = (t[7, lo & 0xFF] ^ t[6, (lo >> 8) & 0xFF] ^ t[5, (lo >> 16) & 0xFF]
             ^ t[4, (lo >> 24) & 0xFF] ^ t[3, np.int64(data[i + 4])]
             ^ t[2, np.int64(data[i + 5])] ^ t[1, np.int64(data[i + 6])]
             ^ t[0, np.int64(data[i + 7])])
        i += 8
    while i < n:
        c = t[0, (c ^ np.int64(data[i])) & 0xFF] ^ (c >> 8)
        i += 1
    return c


def crc32c(data, crc: int = 0) -> int:
    """The CRC-32C of ``data`` (any contiguous bytes-like object: bytes, bytearray,
    memoryview, numpy uint8 array), continuing from the checksum ``crc`` of what came
    before (0 for a fresh start), as kafka-python's ``calc_crc32c`` computes it.

    Examples
    --------
    >>> crc32c(b"6789", crc32c(b"12345")) == crc32c(b"123456789")
    True
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    return int(_crc32c_update(np.int64(crc ^ 0xFFFFFFFF), buf, _TABLES)) ^ 0xFFFFFFFF


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel for writable and read-only
    buffers (bytes give read-only arrays), so no first batch pays for it."""
    crc32c(b"warm up, read-only")
    crc32c(bytearray(b"warm up, writable"))


def _calc_crc32c(memview) -> int:
    """Drop-in for ``kafka.record.util.calc_crc32c``."""
    return crc32c(memview)


def use_compiled_crc32c() -> bool:
    """Make kafka-python compute CRC-32C with :func:`crc32c` (idempotent, thread-safe
    enough: a single attribute assignment per module).

    Returns ``True`` when the compiled function is (now) in use, ``False`` when
    kafka-python already has the native ``crc32c`` package, which is kept.
    """
    from kafka.record import default_records, util

    if getattr(util, "crc32c_c", None) is not None:
        return False
    if default_records.calc_crc32c is _calc_crc32c:
        return True
    warm_up()
    util.calc_crc32c = _calc_crc32c
    default_records.calc_crc32c = _calc_crc32c
    log.debug("kafka-python record checksums: compiled CRC-32C (numba)")
    return True
