"""Streaming LIBSVM / extreme-classification (XMC) reader.

Each line is ``labels features``: ``labels`` a comma-separated list of label ids (a line
with no label starts with a blank), ``features`` blank-separated ``index:value`` pairs.
The XMC repository's files start with a header line ``N D L`` (records, features, labels);
plain LIBSVM files have none.

* ``x`` holds the pairs of the line, named ``f<index>`` (sparse: an absent feature is 0).
  A value must be a finite number; ``qid:`` pairs and ``# comments`` are ignored.
* ``y`` holds the positives only, ``{label_id: True}`` with the id as written
  (``label_names`` is ``None``).
* With a header, an index above ``D`` or a label id above ``L`` is malformed (``D`` and
  ``L`` themselves are let through, for files that count from 1), and a record count
  different from ``N`` is logged at the end of a pass.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from typing import TextIO

from stream.errors import StreamError
from stream.readers._text import StreamReader, open_text

__all__ = ["LibSVMReader", "read_libsvm_header"]

logger = logging.getLogger(__name__)


def read_libsvm_header(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """``(N, D, L)`` from the first line of an XMC file, or ``None`` if it has no header.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("2 5 3\\n0,2 1:0.5 4:1\\n 3:2\\n")
    >>> read_libsvm_header(path)
    (2, 5, 3)
    """
    with open_text(path) as f:
        for raw in f:
            line = raw.strip()
            if line:
                return _header(line)
    return None


def _header(line: str) -> tuple[int, int, int] | None:
    parts = line.split()
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    n, d, l_ = (int(p) for p in parts)
    return n, d, l_


class LibSVMReader(StreamReader):
    """Read a LIBSVM / XMC multi-label file record by record.

    Parameters
    ----------
    path
        The file, possibly gzipped; an ``N D L`` header line is optional.
    skip_bad
        Skip malformed records (counted, kept, logged) instead of raising
        :class:`~stream.errors.MalformedRecordError`.

    Attributes
    ----------
    header : tuple of int or None
        ``(N, D, L)`` when the file has a header line.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("2 5 3\\n0,2 1:0.5 4:1\\n 3:2\\n")
    >>> reader = LibSVMReader(path)
    >>> reader.header, reader.sparse, reader.label_names
    ((2, 5, 3), True, None)
    >>> for x, y in reader:
    ...     print(x, y)
    {'f1': 0.5, 'f4': 1.0} {'0': True, '2': True}
    {'f3': 2.0} {}
    """

    format = "libsvm"

    def __init__(self, path: str | os.PathLike, *, skip_bad: bool = False):
        super().__init__(path, skip_bad=skip_bad)
        self.sparse = True
        self.header = read_libsvm_header(self.path)

    def _records(self, f: TextIO) -> Iterator[tuple[dict, dict]]:
        header = self.header
        parse = _line_parser(header)
        started = header is None
        for lineno, raw in enumerate(f, 1):
            if "#" in raw:
                raw = raw[: raw.index("#")]
            line = raw.rstrip()
            if not line.strip():
                continue
            if not started:
                started = True  # the header line
                continue
            try:
                x, y = parse(line)
            except ValueError as err:
                self._reject(lineno, str(err))
                continue
            self.n_read += 1
            self.line = lineno
            yield x, y
        if header is not None and self.n_read + self.n_bad != header[0]:
            logger.warning(
                "%s: the header announces %d records, the file holds %d",
                self.path,
                header[0],
                self.n_read + self.n_bad,
            )


_NAMES_KEPT = 1 << 16  # feature names cached per pass (bounded memory on XMC files)


def _line_parser(header):
    """A function parsing one LIBSVM line into ``(x, y)`` or raising ``ValueError``."""
    max_feature = header[1] if header else None
    max_label = header[2] if header else None
    isfinite = math.isfinite
    names: dict[str, str] = {}  # index text -> checked feature name

    def feature_name(index: str, token: str) -> str:
        if not index.isdigit():
            raise ValueError(f"feature index {index!r} in {token!r} is not a non-negative integer")
        number = int(index)
        if max_feature is not None and number > max_feature:
            raise ValueError(
                f"feature index {number} is out of range: "
                f"the header declares {max_feature} features"
            )
        name = "f" + str(number)
        if len(names) < _NAMES_KEPT:
            names[index] = name
        return name

    def parse(line: str) -> tuple[dict, dict]:
        tokens = line.split()
        y: dict[str, bool] = {}
        if line[0] not in " \t" and ":" not in tokens[0]:
            for label in tokens[0].split(","):
                if not label:
                    raise ValueError(f"empty label id in {tokens[0]!r}")
                if max_label is not None and (not label.isdigit() or int(label) > max_label):
                    raise ValueError(
                        f"label id {label!r} is out of range: "
                        f"the header declares {max_label} labels"
                    )
                y[label] = True
            del tokens[0]
        x: dict[str, float] = {}
        for token in tokens:
            index, sep, value = token.partition(":")
            if not sep:
                raise ValueError(f"{token!r} is not an index:value pair")
            name = names.get(index)
            if name is None:
                if index == "qid":
                    continue
                name = feature_name(index, token)
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"feature {name!r}: {value!r} is not a number") from None
            if not isfinite(number):
                raise ValueError(
                    f"feature {name!r}: {value!r} is not a finite number (NaN and inf are refused)"
                )
            x[name] = number
        return x, y

    return parse


def sniff_libsvm(path: str | os.PathLike) -> None:
    """Raise :class:`~stream.errors.StreamError` unless ``path`` starts with an ``N D L``
    header (used to tell an XMC ``.txt`` file from any other text file)."""
    if read_libsvm_header(path) is None:
        raise StreamError(
            f"{path}: a .txt file is read as LIBSVM/XMC only with an 'N D L' header line; "
            "pass format='libsvm' (or --format libsvm) for a plain LIBSVM file"
        )
