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
from stream.readers._batches import BlockBatches
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


class LibSVMReader(BlockBatches, StreamReader):
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
        lines = iter(f)
        yield from self._parse_lines(lines, self._skip_header(lines))
        self._end_of_pass()

    def _skip_header(self, lines) -> int:
        """Consume the ``N D L`` line (the first that is not blank once comments are cut)
        where the file has one; the line number of the next line."""
        lineno = 0
        if self.header is not None:
            for lineno, raw in enumerate(lines, 1):  # noqa: B007 (read after the loop)
                if "#" in raw:
                    raw = raw[: raw.index("#")]
                if raw.strip():
                    break
        return lineno + 1

    def _parse_lines(self, lines, first: int) -> Iterator[tuple[dict, dict]]:
        """The records of data ``lines``, the first of which is line ``first``."""
        parse = _line_parser(self.header)
        for lineno, raw in enumerate(lines, first):
            if "#" in raw:
                raw = raw[: raw.index("#")]
            line = raw.rstrip()
            if not line.strip():
                continue
            try:
                x, y = parse(line)
            except ValueError as err:
                self._reject(lineno, str(err))
                continue
            self.n_read += 1
            self.line = lineno
            yield x, y

    def _end_of_pass(self) -> None:
        header = self.header
        if header is not None and self.n_read + self.n_bad != header[0]:
            logger.warning(
                "%s: the header announces %d records, the file holds %d",
                self.path,
                header[0],
                self.n_read + self.n_bad,
            )

    # -- batches (the replay's fast path) ----------------------------------------------

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the block parser of ``iter_batches``."""
        from stream.readers._fastparse import warm_up

        warm_up(libsvm=True)

    def _fast_plan(self):
        header = self.header
        return (header[1], header[2]) if header is not None else (-1, -1)

    def _parse_block(self, block: list, plan):
        """``(part, line_of)`` of a block the compiled parser takes (no feature named
        twice in a row), else None."""
        import numpy as np

        from stream.readers._fastparse import parse_libsvm_block

        buf = np.frombuffer("".join(block).encode("utf-8"), dtype=np.uint8)
        parsed = parse_libsvm_block(buf, plan[0], plan[1], len(block))
        if parsed is None:
            return None
        line_of, lab_row, lab_id, ent_row, ent_id, ent_val = parsed
        if ent_id.size > 1:  # a feature named twice in a row: the record path keeps the last
            order = np.lexsort((ent_id, ent_row))
            r, i = ent_row[order], ent_id[order]
            if ((r[1:] == r[:-1]) & (i[1:] == i[:-1])).any():
                return None
        return (line_of.size, lab_row, lab_id, ent_row, ent_id, ent_val), line_of

    @staticmethod
    def _as_records(part) -> list:
        n, lab_row, lab_id, ent_row, ent_id, ent_val = part
        xs = [{} for _ in range(n)]
        ys = [{} for _ in range(n)]
        for r, i in zip(lab_row.tolist(), lab_id.tolist()):
            ys[r][str(i)] = True
        for r, i, v in zip(ent_row.tolist(), ent_id.tolist(), ent_val.tolist()):
            xs[r]["f" + str(i)] = v
        return list(zip(xs, ys))

    @staticmethod
    def _batch(parts: list):
        """The batch of the parsed blocks, as ``to_batch`` builds it from their records:
        features and labels in first-seen order, each label named at its first row."""
        import numpy as np
        import scipy.sparse as sp

        from stream.batch import Batch

        offsets = np.cumsum([0] + [p[0] for p in parts[:-1]])
        n = sum(p[0] for p in parts)

        def cat(i, shift=False):
            if len(parts) == 1:
                return parts[0][i]
            return np.concatenate([p[i] + o if shift else p[i] for p, o in zip(parts, offsets)])

        lab_row, lab_id = cat(1, shift=True), cat(2)
        ent_row, ent_id, ent_val = cat(3, shift=True), cat(4), cat(5)
        f_names, f_col, _ = _first_seen(ent_id)
        l_names, l_col, l_first = _first_seen(lab_id)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(ent_row, minlength=n), out=indptr[1:])
        X = sp.csr_matrix((ent_val, f_col, indptr), shape=(n, len(f_names)))
        Y = np.zeros((n, len(l_names)), dtype=bool)
        Y[lab_row, l_col] = True
        named_at = lab_row[l_first].astype(np.int64)  # the first row naming each label
        return Batch(X, Y, ["f" + str(i) for i in f_names], [str(i) for i in l_names],
                     None, named_at)


def _first_seen(ids):
    """The distinct ``ids`` in order of first appearance, each id's rank in that order,
    and where each distinct id first appears."""
    import numpy as np

    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[order] = np.arange(uniq.size, dtype=np.int64)
    return uniq[order].tolist(), rank[inverse.reshape(-1)], first[order]


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
