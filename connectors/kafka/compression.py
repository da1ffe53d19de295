"""Kafka record-batch compression: which codecs this install reads and writes, and what to
say when one is missing.

Producers in production compress their record batches, most often with lz4 or zstd
(librdkafka and the Java client's common settings), sometimes snappy or gzip. kafka-python
decompresses them through optional libraries; labelstream depends on all of them (``lz4``,
``zstandard``, ``python-snappy``), so a default install reads every codec Kafka has. When a
library is missing all the same (a hand-trimmed environment, a failed wheel build),
kafka-python raises ``UnsupportedCodecError`` from the poll that met the batch;
:func:`unsupported_codec_message` turns that into one line naming the codec and the package
to install.

Examples
--------
>>> CODECS
('none', 'gzip', 'snappy', 'lz4', 'zstd')
>>> [c for c in CODECS if not codec_available(c)]
[]
>>> producer_compression("zstd"), producer_compression("none")
('zstd', None)
>>> codec_from_error("Libraries for lz4 compression codec not found")
'lz4'
"""

from __future__ import annotations

import re

__all__ = ["CODECS", "PACKAGES", "CompressionError", "codec_available", "codec_from_error",
           "producer_compression", "unsupported_codec_message", "add_compression_argument"]

#: Kafka's record-batch codecs, as ``compression.type`` names them.
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")

#: The PyPI package kafka-python needs for each codec (gzip is in the standard library).
PACKAGES = {"snappy": "python-snappy", "lz4": "lz4", "zstd": "zstandard"}

_FROM_ERROR = re.compile(r"Libraries for (\w+) compression codec not found")


class CompressionError(ValueError):
    """A codec was asked for that this install cannot write; the message says what to do."""


def codec_available(codec: str) -> bool:
    """Whether kafka-python can compress and decompress ``codec`` here."""
    from kafka import codec as kc

    checks = {"none": lambda: True, "gzip": kc.has_gzip, "snappy": kc.has_snappy,
              "lz4": kc.has_lz4, "zstd": kc.has_zstd}
    if codec not in checks:
        raise CompressionError(f"unknown compression codec {codec!r}; choose from "
                               f"{', '.join(CODECS)}")
    return bool(checks[codec]())


def _install_hint(codec: str) -> str:
    package = PACKAGES.get(codec)
    if package is None:
        return "reinstall labelstream"
    return (f"pip install {package} (a dependency of labelstream that is missing from this "
            "environment)")


def producer_compression(codec: str | None) -> str | None:
    """kafka-python's ``compression_type`` for ``codec`` (``None`` for no compression),
    refusing a codec this install cannot write with what to install."""
    if codec is None or codec == "none":
        return None
    if not codec_available(codec):
        raise CompressionError(f"--compression-type {codec}: this install cannot write "
                               f"{codec}; {_install_hint(codec)}")
    return codec


def codec_from_error(text: str) -> str | None:
    """The codec an ``UnsupportedCodecError``'s message names (``None`` when it names none)."""
    match = _FROM_ERROR.search(str(text))
    return match.group(1) if match else None


def unsupported_codec_message(err, topic: str, offsets: dict | None = None) -> str:
    """One line for an ``UnsupportedCodecError`` met reading ``topic``.

    ``offsets``: partition -> the next offset that will be read (what stays committed).

    Examples
    --------
    >>> from kafka.errors import UnsupportedCodecError
    >>> print(unsupported_codec_message(
    ...     UnsupportedCodecError("Libraries for zstd compression codec not found"),
    ...     "records", {0: 300}))  # doctest: +NORMALIZE_WHITESPACE
    topic 'records' holds zstd-compressed record batches and this install cannot read zstd:
    pip install zstandard (a dependency of labelstream that is missing from this
    environment), then start again; nothing past partition 0 offset 300 was read or committed
    """
    codec = codec_from_error(err)
    where = ""
    if offsets:
        where = "; nothing past " + ", ".join(
            f"partition {p} offset {o}" for p, o in sorted(offsets.items())) + \
            " was read or committed"
    if codec is None:
        return f"topic {topic!r}: cannot decompress a record batch ({err}){where}"
    return (f"topic {topic!r} holds {codec}-compressed record batches and this install "
            f"cannot read {codec}: {_install_hint(codec)}, then start again{where}")


def add_compression_argument(parser, *, what: str) -> None:
    """``--compression-type`` for a command that produces (``what`` says what it writes)."""
    parser.add_argument("--compression-type", default="none", choices=CODECS,
                        help=f"compress {what} with this codec (Kafka's compression.type; "
                             "default none; lz4 and zstd are the usual production choices)")
