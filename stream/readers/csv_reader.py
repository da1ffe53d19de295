"""Streaming CSV reader: a header row, then one record per row.

The label columns are named by ``label_columns=[...]``, or counted by ``labels=n`` with
MEKA's sign convention over the columns (``n > 0`` the first ``n``, ``n < 0`` the last
``|n|``); with neither, :class:`~stream.errors.LabelLayoutError`.

* Feature cells are numbers; an empty cell (or ``?``) is a missing value, left out of
  ``x``. ``NaN``/``inf`` text is malformed, as is any other non-number.
* Label cells are ``1``/``0`` (also ``1.0``/``0.0``, ``true``/``false``, ``yes``/``no``,
  any case); every label is in ``y``; an empty label cell is ``False``.
* A row with a different number of cells than the header is malformed. Blank lines are
  skipped. ``reader.line`` is the file line on which the row ends.
"""

from __future__ import annotations

import csv
import math
import operator
import os
from collections.abc import Iterator, Sequence
from typing import TextIO

from stream.errors import LabelLayoutError, StreamError
from stream.readers._text import StreamReader, bool_token, bool_token_map, open_text

__all__ = ["CSVReader"]

_HINT = (
    "Pass label_columns=[names] or labels=N (N > 0: the first N columns are labels, "
    "N < 0: the last |N|); on the command line --labels N."
)
_LABELS: dict[str, bool] = {**bool_token_map(), "": False}


class CSVReader(StreamReader):
    """Read a CSV file with a header row record by record.

    Parameters
    ----------
    path
        The file, possibly gzipped.
    labels
        How many columns are labels: ``n > 0`` the first ``n``, ``n < 0`` the last ``|n|``.
    label_columns
        The names of the label columns (wins over ``labels``).
    skip_bad
        Skip malformed records (counted, kept, logged) instead of raising
        :class:`~stream.errors.MalformedRecordError`.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a,b,sky,sea\\n1.5,,1,0\\n0,2,false,true\\n")
    >>> reader = CSVReader(path, labels=-2)
    >>> reader.label_names, reader.feature_names
    (['sky', 'sea'], ['a', 'b'])
    >>> for x, y in reader:
    ...     print(x, y)
    {'a': 1.5} {'sky': True, 'sea': False}
    {'a': 0.0, 'b': 2.0} {'sky': False, 'sea': True}
    """

    format = "csv"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        labels: int | None = None,
        label_columns: Sequence[str] | None = None,
        skip_bad: bool = False,
    ):
        super().__init__(path, skip_bad=skip_bad)
        with open_text(self.path) as f:
            header = next(csv.reader(f), None)
        if not header:
            raise StreamError(f"{self.path}: the CSV file has no header row")
        columns = [name.strip() for name in header]
        if len(set(columns)) != len(columns):
            dup = next(c for c in columns if columns.count(c) > 1)
            raise StreamError(f"{self.path}, line 1: column {dup!r} appears twice in the header")
        self.columns = columns
        if label_columns is not None:
            if isinstance(label_columns, str):
                label_columns = [label_columns]
            unknown = [c for c in label_columns if c not in columns]
            if unknown:
                raise LabelLayoutError(
                    f"{self.path}: label column {unknown[0]!r} is not in the header {columns[:10]}"
                )
            wanted = set(label_columns)
            label_cols = [i for i, c in enumerate(columns) if c in wanted]
        elif labels is not None:
            if isinstance(labels, bool):
                raise TypeError(f"labels must be an int, got {labels!r}")
            labels = operator.index(labels)
            n = len(columns)
            if labels == 0 or abs(labels) > n:
                raise LabelLayoutError(
                    f"{self.path}: labels={labels}, but the file has {n} columns. " + _HINT
                )
            label_cols = list(range(labels)) if labels > 0 else list(range(n + labels, n))
        else:
            raise LabelLayoutError(
                f"{self.path}: cannot tell which CSV columns are labels. " + _HINT
            )
        is_label = set(label_cols)
        self._label_cols = label_cols
        self._feature_cols = [i for i in range(len(columns)) if i not in is_label]
        self.label_names = [columns[i] for i in label_cols]
        self.feature_names = [columns[i] for i in self._feature_cols]

    def _records(self, f: TextIO) -> Iterator[tuple[dict, dict]]:
        rows = csv.reader(f)
        next(rows, None)  # the header
        n = len(self.columns)
        features = [(i, self.columns[i]) for i in self._feature_cols]
        labels = [(i, self.columns[i]) for i in self._label_cols]
        lab = _LABELS.__getitem__
        isfinite = math.isfinite
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as err:  # a NUL byte, a field over the size limit, ...
                self._reject(rows.line_num, f"unreadable CSV row: {err}")
                continue
            lineno = rows.line_num
            if not row:
                continue
            if len(row) != n:
                self._reject(lineno, f"expected {n} cells, got {len(row)}")
                continue
            try:
                x = {name: float(row[i]) for i, name in features}
                if not isfinite(sum(x.values())):
                    raise ValueError
                y = {name: lab(row[i]) for i, name in labels}
            except (ValueError, KeyError):
                try:
                    x, y = self._careful(row)
                except ValueError as err:
                    self._reject(lineno, str(err))
                    continue
            self.n_read += 1
            self.line = lineno
            yield x, y

    def _careful(self, row: list[str]) -> tuple[dict, dict]:
        x: dict[str, float] = {}
        for i in self._feature_cols:
            cell = row[i].strip()
            if cell in ("", "?"):
                continue
            name = self.columns[i]
            try:
                value = float(cell)
            except ValueError:
                raise ValueError(f"column {name!r} ({i + 1}): {cell!r} is not a number") from None
            if not math.isfinite(value):
                raise ValueError(
                    f"column {name!r} ({i + 1}): {cell!r} is not a finite number "
                    "(NaN and inf are refused; leave the cell empty for a missing value)"
                )
            x[name] = value
        y: dict[str, bool] = {}
        for i in self._label_cols:
            cell = row[i].strip()
            truth = False if cell in ("", "?") else bool_token(cell)
            if truth is None:
                raise ValueError(f"label {self.columns[i]!r} ({i + 1}): {cell!r} is not 0 or 1")
            y[self.columns[i]] = truth
        return x, y
