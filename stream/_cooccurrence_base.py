"""The machinery shared by the dense and the sparse label co-occurrence store.

Lowest of the co-occurrence modules, imported by both stores and importing neither:

* :class:`_CooccurrenceStream`: validation of ``window_size`` / ``fading_factor`` /
  ``backend``, buffering of records (flushed every :data:`_FLUSH_EVERY`), the sliding
  window, the lazy fading scale, and the readers written against the store hooks
  (``jaccard_pairs``, ``pair_counts``, ``diagonal``, ``n_labels``, ``n_records``,
  pickling);
* :func:`csr_matrix`: a SciPy (host) or ``cupyx`` (GPU) CSR matrix from its arrays;
* small helpers: ``_csr`` (a list of label rows as CSR arrays) and ``_namespace_for``
  (the array module of a backend).

Where the rest lives:

* :mod:`stream.dense_cooccurrence`: :class:`~stream.dense_cooccurrence.RollingCooccurrence`,
  the dense ``L x L`` store;
* :mod:`stream.sparse_cooccurrence`:
  :class:`~stream.sparse_cooccurrence.SparseCooccurrence`, the store of the occurring
  pairs only;
* :mod:`stream.cooccurrence` (above both): the layout choice
  (:func:`~stream.cooccurrence.label_cooccurrence`,
  :func:`~stream.cooccurrence.choose_layout`), the memory plan, and the public names.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from stream.kernels._backend import BACKENDS, import_cupy
from stream.kernels.cooccurrence import jaccard_pairs

__all__ = ["csr_matrix"]

_FLUSH_EVERY = 512  # records buffered before they are handed to the kernel
_RENORM_BELOW = 1e-100  # fading: fold the running scale into C once it falls below this
_EMPTY = np.zeros(0, dtype=np.int64)


def _csr(rows):
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    if rows:
        np.cumsum([len(r) for r in rows], out=indptr[1:])
        indices = np.concatenate(rows)
    else:
        indices = _EMPTY
    return indptr, indices


def _namespace_for(backend: str):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return import_cupy() if backend == "cupy" else np


def csr_matrix(xp, data, indices, indptr, shape):
    """A SciPy CSR matrix on the host, a ``cupyx.scipy.sparse`` one on the GPU."""
    if xp is np:
        from scipy.sparse import csr_matrix as make
    else:  # cupyx.scipy.sparse indexes with int32
        from cupyx.scipy.sparse import csr_matrix as make

        if int(indptr[-1]) >= 2**31:
            raise ValueError("more than 2**31 stored entries: too many for cupyx.scipy.sparse")
        indices, indptr = indices.astype(np.int32), indptr.astype(np.int32)
    return make((data, indices, indptr), shape=shape)



class _CooccurrenceStream:
    """Buffering, sliding window and fading shared by the dense and the sparse store.

    Subclasses hold the counts ``S`` (with ``C = scale * S``) and implement
    ``_grow`` (room for ``_n_labels`` labels), ``_add_csr`` (add a CSR batch with
    weights) and ``_fold`` (``S *= scale``).
    """

    _xp = np  # class default: objects pickled before the attribute existed still load

    def __init__(self, window_size: int | None = None, fading_factor: float | None = None,
                 backend: str = "auto"):
        self.window_size = window_size
        self.fading_factor = fading_factor
        self.backend = backend
        if window_size is not None and fading_factor is not None:
            raise ValueError("give window_size or fading_factor, not both")
        if window_size is not None and (
            isinstance(window_size, bool) or not isinstance(window_size, (int, np.integer))
            or window_size < 1
        ):
            raise ValueError(f"window_size must be an integer >= 1, got {window_size!r}")
        if fading_factor is not None and not 0.0 < fading_factor <= 1.0:
            raise ValueError(f"fading_factor must be in (0, 1], got {fading_factor!r}")
        self._xp = _namespace_for(backend)
        self._scale = 1.0
        self._weight_sum = 0.0  # fading: sum of the current record weights
        self._n_seen = 0  # records counted into the store (not the pending ones)
        self._n_labels = 0
        self._pending: list = []
        self._window: deque = deque()

    @property
    def _fading(self) -> bool:
        return self.fading_factor is not None and self.fading_factor < 1.0

    # ----------------------------------------------------------------------- recording
    def update(self, label_cols) -> None:
        """Count one record.

        Parameters
        ----------
        label_cols
            Integer columns of the record's positive labels (1-D, each ``>= 0``; sorted
            and unique as produced by ``numpy.flatnonzero``, though neither is required).
        """
        cols = np.asarray(label_cols)
        if cols.ndim != 1:
            raise ValueError(f"label_cols must be one-dimensional, got shape {cols.shape}")
        if cols.size:
            if cols.dtype.kind not in "iu":
                raise ValueError(f"label_cols must hold integers, got dtype {cols.dtype}")
            cols = cols.astype(np.int64)  # a copy: the caller may reuse its buffer
            lo, hi = int(cols.min()), int(cols.max())
            if lo < 0:
                raise ValueError(f"label columns must be >= 0, got {lo}")
            if hi >= self._n_labels:
                self._n_labels = hi + 1
        else:
            cols = _EMPTY
        self._pending.append(cols)
        if self._flush_due():
            self._flush()

    def update_batch(self, indptr, indices) -> None:
        """Count a batch of records given in CSR form, in order.

        The same as :meth:`update` on every record ``indices[indptr[r]:indptr[r+1]]``.

        Parameters
        ----------
        indptr, indices
            Host arrays (``indptr`` of length ``n + 1``, starting at 0); columns ``>= 0``.
        """
        indptr = np.asarray(indptr)
        indices = np.asarray(indices)
        if indptr.ndim != 1 or indices.ndim != 1 or indptr.size == 0:
            raise ValueError("indptr and indices must be one-dimensional, indptr non-empty")
        if (indptr.dtype.kind not in "iu" or (indices.size and indices.dtype.kind not in "iu")):
            raise ValueError("indptr and indices must hold integers")
        if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr) < 0):
            raise ValueError(f"indptr must start at 0, not decrease and end at "
                             f"len(indices)={indices.size}")
        if indptr.size == 1:
            return
        cols = indices.astype(np.int64)  # a copy: the caller may reuse its buffers
        if cols.size:
            lo, hi = int(cols.min()), int(cols.max())
            if lo < 0:
                raise ValueError(f"label columns must be >= 0, got {lo}")
            self._n_labels = max(self._n_labels, hi + 1)
        if self.window_size is None and not self._fading and not self._pending:
            self._grow()  # cumulative counts keep no records: hand the batch over as is
            self._add_csr(indptr.astype(np.int64), cols, 1.0)
            self._n_seen += indptr.size - 1
            return
        self._pending.extend(np.split(cols, indptr[1:-1].astype(np.int64)))
        if self._flush_due():
            self._flush()

    def _flush_due(self) -> bool:
        return len(self._pending) >= _FLUSH_EVERY

    def _flush(self) -> None:
        rows = self._pending
        if not rows:
            return
        self._pending = []
        self._grow()
        n = len(rows)
        self._n_seen += n
        if self._fading:
            self._add_faded(rows)
        elif self.window_size is None:
            self._add(rows, 1.0)
        else:  # the records that enter (+1) and those that leave (-1): one kernel call
            self._window.extend(rows)
            excess = max(0, len(self._window) - self.window_size)
            leaving = [self._window.popleft() for _ in range(excess)]
            weights = np.concatenate([np.ones(n), -np.ones(excess)]) if excess else 1.0
            self._add(rows + leaving, weights)

    def _add(self, rows, weight) -> None:
        indptr, indices = _csr(rows)
        self._add_csr(indptr, indices, weight)

    def _add_faded(self, rows) -> None:
        lam = self.fading_factor
        # largest chunk whose scale stays above _RENORM_BELOW**2 from a start >= _RENORM_BELOW
        chunk = max(1, int(math.log(_RENORM_BELOW) / math.log(lam)))
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            if self._scale < _RENORM_BELOW:
                self._fold()
                self._scale = 1.0
            scales = self._scale * lam ** np.arange(1, len(part) + 1)
            self._add(part, 1.0 / scales)
            self._scale = float(scales[-1])
            m = len(part)
            self._weight_sum = lam**m * self._weight_sum + (1.0 - lam**m) / (1.0 - lam)

    def _ready(self) -> None:
        """Flush the pending records and make room for every label seen (readers)."""
        self._flush()
        self._grow()

    # ------------------------------------------------------------------------- reading
    @property
    def n_labels(self) -> int:
        """Size of the label space: one more than the largest column seen."""
        return self._n_labels

    @property
    def n_records(self) -> float:
        """Effective number of records counted.

        Records in the window (windowed), records seen (cumulative), or the sum of the
        current record weights ``sum_s lam ** (t - s)`` (faded; a float).
        """
        if self.window_size is not None:
            return min(len(self._window) + len(self._pending), self.window_size)
        if self._fading:
            self._flush()
            return self._weight_sum
        return self._n_seen + len(self._pending)

    def _label_array(self, labels, name="labels"):
        lab = self._xp.asarray(labels)
        if lab.size and lab.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integers, got dtype {lab.dtype}")
        lab = lab.astype(np.int64)
        if lab.size and int(lab.min()) < 0:
            raise ValueError(f"{name} must be >= 0")
        return lab

    def jaccard_pairs(self, rows, cols):
        """Jaccard similarities ``J[rows[k], cols[k]]`` without the ``L x L`` matrix.

        Labels at or beyond :attr:`n_labels` (never seen) give ``0``, like
        :func:`stream.kernels.jaccard` does for a label without records.

        Parameters
        ----------
        rows, cols
            Integer arrays of one shape, each ``>= 0``.

        Returns
        -------
        array
            float64, the shape of ``rows``.
        """
        self._ready()
        xp = self._xp
        r = self._label_array(rows, "rows")
        c = self._label_array(cols, "cols")
        if r.shape != c.shape:
            raise ValueError(f"rows and cols must have one shape, got {r.shape} and {c.shape}")
        out = xp.zeros(r.shape, dtype=np.float64)
        inside = (r < self._n_labels) & (c < self._n_labels)
        ri, ci = r[inside], c[inside]
        counts = self._raw_pairs(ri, ci)
        diag = self._raw_diagonal()
        out[inside] = jaccard_pairs(ri, ci, counts, diag, backend=self.backend)
        return out

    def pair_counts(self, rows, cols):
        """Entries ``C[rows[k], cols[k]]`` without copying the whole matrix.

        Parameters
        ----------
        rows, cols
            Integer arrays of the same shape, each ``>= 0``; entries at or beyond
            ``n_labels`` read as ``0``.

        Returns
        -------
        array
            float64 array of the shape of ``rows``.
        """
        self._ready()
        xp = self._xp
        rows = xp.asarray(rows, dtype=np.int64)
        cols = xp.asarray(cols, dtype=np.int64)
        inside = (rows < self._n_labels) & (cols < self._n_labels)
        out = xp.zeros(rows.shape, dtype=np.float64)
        out[inside] = self._raw_pairs(rows[inside], cols[inside]) * self._scale
        return out

    def diagonal(self):
        """``C[i, i]`` for every label: the (weighted) number of records holding it."""
        self._ready()
        return self._raw_diagonal() * self._scale

    def topk_similar(self, k: int):
        """The ``k`` most similar other labels of every label (Jaccard), best first.

        Same conventions as :func:`stream.kernels.topk_similar` (ties by lower column,
        completed with similarity-0 labels), so the dense and the sparse store agree.

        Returns
        -------
        indices, values : arrays
            ``(n_labels, min(k, n_labels - 1))`` int64 and float64.
        """
        raise NotImplementedError

    def __getstate__(self):
        self._flush()
        state = self.__dict__.copy()
        state.pop("_xp", None)  # a module: restored from the backend
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._xp = _namespace_for(self.backend)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(window_size={self.window_size}, "
                f"fading_factor={self.fading_factor})")

