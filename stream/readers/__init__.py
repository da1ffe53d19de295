"""Streaming readers of multi-label files: ARFF (Mulan, MEKA), LIBSVM/XMC, JSON Lines, CSV.

:func:`open_stream` picks the reader from the file name; every reader yields
``(x, y)`` records (see :mod:`stream.types`), parses only the header when created,
re-opens the file at each pass, reads gzip transparently (by magic bytes) and keeps
constant memory whatever the size of the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from stream.errors import StreamError
from stream.readers._text import StreamReader, plain_name
from stream.readers.arff import ArffReader, read_label_xml
from stream.readers.csv_reader import CSVReader
from stream.readers.jsonl import InvalidRecord, JSONLReader, decode_record
from stream.readers.libsvm import LibSVMReader, sniff_libsvm

__all__ = [
    "FORMATS",
    "ArffReader",
    "CSVReader",
    "InvalidRecord",
    "JSONLReader",
    "LibSVMReader",
    "StreamReader",
    "decode_record",
    "detect_format",
    "open_stream",
    "read_label_xml",
]

#: The formats :func:`open_stream` knows, and the file suffixes it reads as each.
FORMATS = {
    "arff": (".arff",),
    "libsvm": (".libsvm", ".svm", ".txt"),
    "jsonl": (".jsonl", ".ndjson"),
    "csv": (".csv",),
}


def detect_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its suffix (a trailing ``.gz`` is ignored).

    A ``.txt`` file is LIBSVM/XMC only if its first line is an ``N D L`` header.

    Raises
    ------
    StreamError
        For a suffix no reader knows.

    Examples
    --------
    >>> detect_format("data/Scene-meka.arff.gz"), detect_format("x.ndjson")
    ('arff', 'jsonl')
    """
    name = plain_name(path)
    for fmt, suffixes in FORMATS.items():
        if name.endswith(suffixes):
            if name.endswith(".txt"):
                sniff_libsvm(path)
            return fmt
    raise StreamError(
        f"{path}: cannot tell the format from the name; pass format= one of {sorted(FORMATS)}"
    )


def open_stream(
    path: str | os.PathLike,
    *,
    labels: int | None = None,
    label_file: str | os.PathLike | None = None,
    skip_bad: bool = False,
    format: str | None = None,
    label_columns: Sequence[str] | None = None,
) -> StreamReader:
    """Open a multi-label file as a re-iterable stream of ``(x, y)`` records.

    Parameters
    ----------
    path
        The file; gzip is read transparently.
    labels
        ARFF and CSV: how many attributes/columns are labels, MEKA's sign convention
        (``n > 0`` the first ``n``, ``n < 0`` the last ``|n|``).
    label_file
        ARFF: a Mulan label XML naming the labels.
    skip_bad
        Skip malformed records (counted in ``n_bad``, the first 100 kept in ``bad``,
        each logged) instead of raising :class:`~stream.errors.MalformedRecordError`.
    format
        ``"arff"``, ``"libsvm"``, ``"jsonl"`` or ``"csv"``; by default from the suffix.
    label_columns
        CSV: the names of the label columns.

    Returns
    -------
    StreamReader
        With ``path``, ``format``, ``label_names``, ``feature_names``, ``sparse``, and the
        per-pass counts ``n_read``, ``n_bad``, ``bad``, ``line``.

    Raises
    ------
    ValueError
        For an argument the format does not take (``labels=`` for JSONL, say).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"features": {"a": 1}, "labels": ["sky"]}\\n')
    >>> reader = open_stream(path)
    >>> reader.format, list(reader)
    ('jsonl', [({'a': 1.0}, {'sky': True})])
    """
    fmt = detect_format(path) if format is None else format.lower()
    given = {
        "labels": labels is not None,
        "label_file": label_file is not None,
        "label_columns": label_columns is not None,
    }
    takes = {
        "arff": ("labels", "label_file"),
        "csv": ("labels", "label_columns"),
        "libsvm": (),
        "jsonl": (),
    }
    if fmt not in takes:
        raise ValueError(f"unknown format {format!r}; expected one of {sorted(takes)}")
    extra = [name for name, on in given.items() if on and name not in takes[fmt]]
    if extra:
        raise ValueError(f"{extra[0]}= does not apply to the {fmt} format ({path})")
    if fmt == "arff":
        return ArffReader(path, labels=labels, label_file=label_file, skip_bad=skip_bad)
    if fmt == "csv":
        return CSVReader(path, labels=labels, label_columns=label_columns, skip_bad=skip_bad)
    if fmt == "libsvm":
        return LibSVMReader(path, skip_bad=skip_bad)
    return JSONLReader(path, skip_bad=skip_bad)
