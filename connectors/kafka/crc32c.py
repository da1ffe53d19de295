"""CRC-32C (Castagnoli) from google-crc32c's C library, for kafka-python's record batches.

Every Kafka record batch (message format v2) carries a CRC-32C of its body. kafka-python
checks it on every fetched batch and computes it on every batch it produces, with the
optional ``crc32c`` package when it is installed and otherwise in pure Python, one byte
per interpreter loop turn (~10 MB/s): on a stream of ~1 KB JSON records that is most of
what consuming costs. The ``crc32c`` package is LGPL-2.1, so labelstream does not depend
on it; it depends on ``google-crc32c`` (Apache-2.0, Google's C library, hardware CRC
instructions where the CPU has them, with binary wheels), and :func:`use_compiled_crc32c`
hands its C function to kafka-python. Checks are never turned off: a batch whose checksum
does not match is refused by kafka-python exactly as before.

kafka-python 3 binds its implementation at import time (``kafka.record.util`` picks
``crc32c.crc32c`` or its pure-Python ``kafka.record._crc32c.crc``, and
``kafka.record.default_records`` imports ``calc_crc32c`` by name), so
:func:`use_compiled_crc32c` replaces ``calc_crc32c`` in both modules, whichever of the two
kafka-python picked. google-crc32c's C function takes ``bytes`` only (not the
``memoryview`` kafka-python passes), so the view is copied first: a memory copy, far
cheaper than the checksum. When google-crc32c has no C extension (it would fall back to
pure Python), kafka-python's own function is left in place and a warning is logged.

Examples
--------
>>> hex(crc32c(b"123456789"))  # the CRC-32C check value
'0xe3069283'
>>> crc32c(b"") == 0
True
"""

from __future__ import annotations

import logging
import threading

__all__ = ["crc32c", "use_compiled_crc32c", "IMPLEMENTATION"]

log = logging.getLogger(__name__)

try:
    import google_crc32c as _google
except ImportError:  # pragma: no cover - a dependency of labelstream
    _google = None

#: ``"c"`` when google-crc32c's C extension is used; ``"kafka-python"`` when it is not
#: available and kafka-python's own function (pure Python, or the ``crc32c`` package) is.
IMPLEMENTATION = "c" if _google is not None and _google.implementation == "c" \
    else "kafka-python"

if IMPLEMENTATION == "c":
    _value = _google.value
    _extend = _google.extend

    def crc32c(data, crc: int = 0) -> int:
        """The CRC-32C of ``data`` (any contiguous bytes-like object: bytes, bytearray,
        memoryview, numpy uint8 array), continuing from the checksum ``crc`` of what came
        before (0 for a fresh start), as kafka-python's ``calc_crc32c`` computes it.

        Examples
        --------
        >>> crc32c(b"6789", crc32c(b"12345")) == crc32c(b"123456789")
        True
        """
        return _extend(crc, data if type(data) is bytes else bytes(data))

    def _calc_crc32c(memview) -> int:
        """Drop-in for ``kafka.record.util.calc_crc32c`` (kafka-python passes a
        ``memoryview`` over a ``bytearray``; the C function takes ``bytes``)."""
        return _value(bytes(memview))

else:  # google-crc32c without its C extension
    def crc32c(data, crc: int = 0) -> int:
        """The CRC-32C of ``data`` continuing from ``crc`` (kafka-python's pure Python)."""
        from kafka.record._crc32c import crc_update

        return crc_update(crc, data if isinstance(data, (bytes, bytearray, memoryview))
                          else bytes(data))

    _calc_crc32c = None

_lock = threading.Lock()
_done = False


def use_compiled_crc32c() -> bool:
    """Make kafka-python compute record-batch CRC-32C with google-crc32c's C function
    (idempotent and thread-safe; cheap after the first call: nothing to compile).

    Returns ``True`` when google-crc32c's C function is (now) in use, ``False`` when it is
    not available and kafka-python's own function is kept (a warning is logged once).
    """
    global _done
    with _lock:
        if _calc_crc32c is None:
            if not _done:
                log.warning("google-crc32c has no C extension here: kafka-python's own "
                            "record-batch CRC-32C is kept (pure Python unless the crc32c "
                            "package is installed), which makes consuming much slower")
                _done = True
            return False
        from kafka.record import default_records, util

        if default_records.calc_crc32c is not _calc_crc32c:
            util.calc_crc32c = _calc_crc32c
            default_records.calc_crc32c = _calc_crc32c
            if not _done:
                log.debug("kafka-python record checksums: google-crc32c (C)")
        _done = True
        return True
