"""The batch (vectorised) form of a stream: a feature matrix, a label matrix and their indexes.

Fast learners take batches in ``learn_many`` / ``predict_many``. Features are a dense
``numpy`` array (NaN = missing) or a ``scipy.sparse`` CSR matrix (absent = 0); labels are
a dense boolean matrix whose columns follow ``label_names``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from stream.types import FeatureIndex, LabelIndex, Record

__all__ = ["Batch", "to_batch", "iter_batches", "rows_as_csr"]


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
    """

    X: object
    Y: np.ndarray | None
    feature_names: Sequence[str]
    label_names: Sequence

    def __len__(self) -> int:
        return self.X.shape[0]

    @property
    def sparse(self) -> bool:
        return sp.issparse(self.X)


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
    >>> b.Y.astype(int).tolist(), list(b.label_names)
    ([[1, 0], [0, 1]], ['u', 'v'])
    """
    features = FeatureIndex() if features is None else features
    labels = LabelIndex() if labels is None else labels
    rows, cols, vals, label_rows = [], [], [], []
    n = 0
    for x, y in records:
        for name, value in x.items():
            rows.append(n)
            cols.append(features.add(name))
            vals.append(value)
        labels.observe(y)
        label_rows.append(labels.positions(y))
        n += 1
    d, L = len(features), len(labels)
    if sparse:
        X = sp.csr_matrix((np.asarray(vals, float), (rows, cols)), shape=(n, d))
    else:
        X = np.full((n, d), np.nan)
        X[np.asarray(rows, int), np.asarray(cols, int)] = vals
    Y = np.zeros((n, L), dtype=bool)
    for i, pos in enumerate(label_rows):
        Y[i, pos] = True
    return Batch(X, Y, features.keys, labels.keys)


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


def rows_as_csr(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, values)`` of the present entries of each row.

    Dense input: NaN entries are absent (missing). Sparse input: stored entries.
    """
    if sp.issparse(X):
        X = X.tocsr()
        return (X.indptr.astype(np.int64), X.indices.astype(np.int64),
                X.data.astype(np.float64))
    X = np.asarray(X, dtype=np.float64)
    present = ~np.isnan(X)
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    np.cumsum(present.sum(axis=1), out=indptr[1:])
    r, c = np.nonzero(present)
    return indptr, c.astype(np.int64), X[r, c]
