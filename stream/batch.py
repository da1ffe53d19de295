"""The batch (vectorised) form of a stream: a feature matrix, a label matrix and their indexes.

Fast learners take batches in ``learn_many`` / ``predict_many``. Features are a dense
``numpy`` array (NaN = missing) or a ``scipy.sparse`` CSR matrix (absent = 0); labels are
a dense boolean matrix whose columns follow ``label_names``. Unknown labels (``y[label] is
None``, see :mod:`stream.types`) are False in ``Y`` and True in the batch's ``unknown``
mask, which is ``None`` when no record of the batch has one (the clean path).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from stream.types import FeatureIndex, LabelIndex, Record

__all__ = ["Batch", "to_batch", "iter_batches", "rows_as_csr", "split_rows", "csr_row_slice",
           "label_csr", "unknown_csr", "stack_padded", "known_feature_rows"]


@dataclass
class Batch:
    """A mini-batch of records.

    Attributes
    ----------
    X
        ``(n, d)`` float array (NaN where a feature is missing) or CSR matrix.
    Y
        ``(n, n_labels)`` boolean array, or None for an unlabelled batch.
    feature_names, label_names
        Column names of ``X`` and ``Y``.
    unknown
        ``(n, n_labels)`` boolean mask of the unknown label slots (``Y`` is False there),
        or None when the batch has none.
    named_at
        For each label column, the first row whose labels name it (positive, negative or
        unknown); -1 when it was first named before the batch (a column of a shared
        index, or of the rows before a :meth:`rows` slice); None when not known (a batch
        built by hand: every column counts as named at row 0).
        A learner that registers labels when they are named, not when first positive
        (``br``), reads it to register them at the same record as ``learn_one`` would.
    """

    X: object
    Y: np.ndarray | None
    feature_names: Sequence[str]
    label_names: Sequence
    unknown: np.ndarray | None = None
    named_at: np.ndarray | None = None

    def __len__(self) -> int:
        return self.X.shape[0]

    def rows(self, a: int, b: int) -> "Batch":
        """Rows ``a:b`` as a batch (views where numpy gives them), the unknown mask too.

        Examples
        --------
        >>> b = to_batch([({"a": 1.0}, {"u": None}), ({"a": 2.0}, {"u": True})])
        >>> part = b.rows(1, 2)
        >>> part.Y.tolist(), part.unknown
        ([[True]], None)
        >>> b.rows(0, 1).unknown.tolist()
        [[True]]
        """
        unknown = self.unknown
        if unknown is not None:
            unknown = unknown[a:b]
            if not unknown.any():
                unknown = None
        Y = None if self.Y is None else self.Y[a:b]
        named_at = self.named_at
        if named_at is not None:
            named_at = np.where(named_at >= a, named_at - a, -1)
            named_at[named_at >= b - a] = -1
        return Batch(self.X[a:b], Y, self.feature_names, self.label_names, unknown,
                     named_at)

    @property
    def sparse(self) -> bool:
        return issparse(self.X)


def to_batch(records: Iterable[Record], *, sparse: bool = False,
             features: FeatureIndex | None = None, labels: LabelIndex | None = None) -> Batch:
    """Stack ``(x, y)`` records into a :class:`Batch`.

    The indexes grow with unseen names, so passing the same ones to consecutive calls
    keeps the columns stable across batches.

    Examples
    --------
    >>> b = to_batch([({"a": 1.0}, {"u": True}), ({"b": 2.0}, {"v": True, "u": False})])
    >>> b.X
    array([[ 1., nan],
           [nan,  2.]])
    >>> b.Y.astype(int).tolist(), list(b.label_names), b.unknown
    ([[1, 0], [0, 1]], ['u', 'v'], None)

    A label mapped to ``None`` is unknown: False in ``Y``, True in ``unknown``.

    >>> b = to_batch([({"a": 1.0}, {"u": True, "v": None}), ({"a": 2.0}, {"v": True})])
    >>> b.Y.astype(int).tolist(), b.unknown.astype(int).tolist()
    ([[1, 0], [0, 1]], [[0, 1], [0, 0]])
    """
    features = FeatureIndex() if features is None else features
    labels = LabelIndex() if labels is None else labels
    pos = features._pos
    lpos = labels._pos
    # Consecutive records with the same feature names in the same order (a dense file)
    # form a segment: its columns are looked up once and its values land as one block.
    seg_start: list = []
    seg_cols: list = []
    prev_keys = None
    vals_all: list = []
    counts: list = []
    label_cols: list = []
    label_counts: list = []
    unknown_rows: list = []  # (row, columns) of the records with unknown labels
    new_at: list = []  # (row, first new column) where a record named labels not seen yet
    L0 = len(labels)
    for x, y in records:
        keys = tuple(x)
        if keys != prev_keys:
            if not x.keys() <= pos.keys():
                for name in keys:
                    features.add(name)
            seg_start.append(len(counts))
            seg_cols.append([pos[name] for name in keys])
            prev_keys = keys
        vals_all.extend(x.values())
        counts.append(len(keys))
        if not y.keys() <= lpos.keys():
            new_at.append((len(counts) - 1, len(labels)))
            labels.observe(y)
        on = [lpos[label] for label, v in y.items() if v]
        if None in y.values():
            unknown_rows.append((len(counts) - 1,
                                 [lpos[label] for label, v in y.items() if v is None]))
        label_cols.extend(on)
        label_counts.append(len(on))
    n, d, L = len(counts), len(features), len(labels)
    vals = np.array(vals_all, dtype=np.float64)
    seg_end = seg_start[1:] + [n]
    if sparse:
        pieces: list = []
        single: list = []  # columns of one-record segments (sparse files), converted at once
        for cols, a, b in zip(seg_cols, seg_start, seg_end):
            if b - a == 1:
                single.extend(cols)
                continue
            if single:
                pieces.append(np.array(single, dtype=np.int64))
                single = []
            pieces.append(np.tile(np.array(cols, dtype=np.int64), b - a))
        if single or not pieces:
            pieces.append(np.array(single, dtype=np.int64))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        import scipy.sparse as sp  # loaded for sparse streams only

        X = sp.csr_matrix((vals, np.concatenate(pieces), indptr), shape=(n, d))
    else:
        X = np.full((n, d), np.nan)
        offset = 0
        for cols, a, b in zip(seg_cols, seg_start, seg_end):
            k = len(cols)
            if k:
                X[a:b, cols] = vals[offset:offset + k * (b - a)].reshape(b - a, k)
            offset += k * (b - a)
    Y = np.zeros((n, L), dtype=bool)
    if label_cols:
        Y[np.repeat(np.arange(n), label_counts), label_cols] = True
    unknown = None
    if unknown_rows:
        unknown = np.zeros((n, L), dtype=bool)
        for row, cols in unknown_rows:
            unknown[row, cols] = True
    named_at = np.full(L, -1, dtype=np.int64)
    for (row, start), (_, stop) in zip(new_at, new_at[1:] + [(n, L)]):
        named_at[start:stop] = row
    named_at[:L0] = -1  # columns of the shared index: named before this batch, or not yet
    return Batch(X, Y, features.keys, labels.keys, unknown, named_at)


def iter_batches(records: Iterable[Record], batch_size: int, **kwargs):
    """Group a record stream into batches of ``batch_size`` (the last may be shorter).

    Examples
    --------
    >>> recs = [({"a": float(i)}, {"u": i % 2 == 0}) for i in range(5)]
    >>> [len(b) for b in iter_batches(recs, 2)]
    [2, 2, 1]
    """
    features = kwargs.pop("features", None) or FeatureIndex()
    labels = kwargs.pop("labels", None) or LabelIndex()
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) == batch_size:
            yield to_batch(chunk, features=features, labels=labels, **kwargs)
            chunk = []
    if chunk:
        yield to_batch(chunk, features=features, labels=labels, **kwargs)


def split_rows(indptr, indices) -> list:
    """The rows of a CSR index array as a list of views (faster than ``np.split``).

    Examples
    --------
    >>> import numpy as np
    >>> [r.tolist() for r in split_rows(np.array([0, 2, 2, 3]), np.array([4, 5, 6]))]
    [[4, 5], [], [6]]
    """
    bounds = np.asarray(indptr).tolist()
    return [indices[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def known_feature_rows(batch: "Batch", features: FeatureIndex):
    """The batch's rows as CSR over ``features``' columns, unknown features dropped.

    For predicting with a model that must not grow: a feature it has never seen is
    left out, as ``FeatureIndex.encode(x, grow=False)`` does for one record.

    Examples
    --------
    >>> b = to_batch([({"a": 1.0, "new": 7.0}, {}), ({"a": 2.0}, {})], sparse=True)
    >>> ptr, idx, val = known_feature_rows(b, FeatureIndex(["z", "a"]))
    >>> ptr.tolist(), idx.tolist(), val.tolist()
    ([0, 1, 2], [1, 1], [1.0, 2.0])
    """
    n = len(batch)
    f_map = np.asarray([features.get(name, -1) for name in batch.feature_names],
                       dtype=np.int64)
    x_ptr, x_idx, x_val = rows_as_csr(batch.X)
    if x_idx.size:
        mapped = f_map[x_idx]
        keep = mapped >= 0
        rows = np.repeat(np.arange(n), np.diff(x_ptr))[keep]
        x_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=x_ptr[1:])
        x_idx, x_val = mapped[keep], x_val[keep]
    return x_ptr, x_idx, x_val


def csr_row_slice(indptr, indices, values, rows: slice):
    """Rows ``rows`` of a CSR triple, re-based to start at 0 (views, no copies).

    Examples
    --------
    >>> import numpy as np
    >>> p, i, v = csr_row_slice(np.array([0, 1, 3]), np.array([4, 5, 6]), np.ones(3), slice(1, 2))
    >>> p.tolist(), i.tolist()
    ([0, 2], [5, 6])
    """
    a, b = indptr[rows.start], indptr[rows.stop]
    return indptr[rows.start:rows.stop + 1] - a, indices[a:b], values[a:b]


def label_csr(Y, column_map) -> tuple[np.ndarray, np.ndarray]:
    """Each row's positive labels as sorted learner columns, in CSR (``indptr, indices``).

    ``Y`` is a boolean block in batch-label order; ``column_map[j]`` is the learner's
    column of batch label ``j`` (negative: not registered, left out). The same call on a
    batch's ``unknown`` mask gives each row's unknown columns (see :func:`unknown_csr`).

    Examples
    --------
    >>> import numpy as np
    >>> p, i = label_csr(np.array([[1, 1, 0], [0, 1, 1]], dtype=bool), np.array([2, 0, -1]))
    >>> p.tolist(), i.tolist()
    ([0, 2, 3], [0, 2, 0])
    """
    known = column_map >= 0
    rows, cols = np.nonzero(Y[:, known])
    cols = column_map[known][cols]
    order = np.lexsort((cols, rows))
    indices = cols[order].astype(np.int64)
    indptr = np.zeros(Y.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=Y.shape[0]), out=indptr[1:])
    return indptr, indices


def unknown_csr(unknown, column_map, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's unknown labels as sorted learner columns in CSR; empty rows for ``None``.

    ``unknown`` is a block of a batch's ``unknown`` mask (or ``None``: no unknown label,
    every row empty, at the cost of one small array).

    Examples
    --------
    >>> import numpy as np
    >>> p, i = unknown_csr(None, np.array([0, 1]), 2)
    >>> p.tolist(), i.tolist()
    ([0, 0, 0], [])
    >>> p, i = unknown_csr(np.array([[0, 1], [0, 0]], dtype=bool), np.array([1, 0]), 2)
    >>> p.tolist(), i.tolist()
    ([0, 1, 1], [0])
    """
    if unknown is None:
        return np.zeros(n_rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return label_csr(unknown, column_map)


def stack_padded(blocks, n_rows: int, n_cols: int, fill, dtype) -> np.ndarray:
    """Stack row blocks with possibly fewer columns into one ``(n_rows, n_cols)`` array.

    Examples
    --------
    >>> import numpy as np
    >>> stack_padded([np.ones((1, 1)), np.ones((1, 2))], 2, 2, 0.0, float).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    out = np.full((n_rows, n_cols), fill, dtype=dtype)
    r0 = 0
    for block in blocks:
        out[r0:r0 + block.shape[0], :block.shape[1]] = block
        r0 += block.shape[0]
    return out


def issparse(X) -> bool:
    """``scipy.sparse.issparse(X)``, without importing scipy when nothing has (then ``X``
    cannot be one).

    Examples
    --------
    >>> issparse(np.zeros((2, 2)))
    False
    """
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def rows_as_csr(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, values)`` of the present entries of each row.

    Dense input: NaN entries are absent (missing). Sparse input: stored entries.
    """
    if issparse(X):
        X = X.tocsr()
        return (X.indptr.astype(np.int64), X.indices.astype(np.int64),
                X.data.astype(np.float64))
    X = np.asarray(X, dtype=np.float64)
    present = ~np.isnan(X)
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    np.cumsum(present.sum(axis=1), out=indptr[1:])
    r, c = np.nonzero(present)
    return indptr, c.astype(np.int64), X[r, c]
