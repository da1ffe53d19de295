"""Label co-occurrence over a stream: cumulative, over a sliding window, or faded.

:class:`RollingCooccurrence` keeps the co-occurrence matrix ``C`` of the label sets seen
so far (``C[i, j]`` = weighted number of records holding both labels ``i`` and ``j``,
``C[i, i]`` = weighted number holding ``i``) and the Jaccard similarities derived from it.
It feeds iHOMER's label clustering and the label-structure drift detectors of
:mod:`drift.label_structure`. The arithmetic is done by the kernels of
:mod:`stream.kernels.cooccurrence`; records are buffered and handed over in batches.
:class:`stream.sparse_cooccurrence.SparseCooccurrence` is its sibling for label spaces
whose ``L x L`` matrix does not fit; both answer the same questions.

Memory plan for large label spaces
----------------------------------
A dense matrix costs ``L**2 * itemsize`` bytes whatever the data: 4 bytes a cell in
``int32`` (window and cumulative counts, exact up to ``2**31`` records) or ``float32``,
8 bytes in ``float64`` (required with a fading factor, whose lazy scaling needs the
range). The sparse store costs what the data holds: 16 bytes per stored ordered pair
(an ``int64`` key and a ``float64`` count, both orientations, so 32 bytes per unordered
pair) plus 8 bytes per label for the diagonal.

==========  ===================  ===================  =================================
labels L    dense 4-byte counts  dense float64        sparse (records with ~5 labels)
==========  ===================  ===================  =================================
1,000       4 MB                 8 MB                 ~20 ordered pairs per record, at
10,000      400 MB               800 MB               most: 32 MB per 100,000 distinct
100,000     40 GB                80 GB                unordered pairs, independent of L
==========  ===================  ===================  =================================

:func:`label_cooccurrence` picks the layout: dense while ``L**2 * itemsize`` stays within
``max_dense_bytes`` (:data:`DENSE_MAX_BYTES`, 1 GiB: up to ``L = 16,384`` with 4-byte
counts, ``11,585`` with ``float64``), sparse beyond it or when ``L`` is not known in
advance. The full Jaccard matrix (:meth:`~RollingCooccurrence.jaccard`) is ``float64``
and adds ``8 L**2`` bytes: in large label spaces ask for what is needed instead —
:meth:`~RollingCooccurrence.jaccard_submatrix` (the labels of one cluster),
:meth:`~RollingCooccurrence.jaccard_pairs` (chosen pairs),
:meth:`~RollingCooccurrence.topk_similar` (``L x k`` neighbours) or
:meth:`~RollingCooccurrence.jaccard_csr` (every positive similarity, a sparse matrix).
Costs per call, dense / sparse: ``jaccard_submatrix`` ``O(m**2)`` /
``O(sum of the m labels' neighbours + m**2)``; ``topk_similar`` ``O(L**2)`` /
``O(nnz + L k)``; ``update`` ``O(labels per record ** 2)`` amortised for both (the sparse
store merges a flushed batch into its sorted arrays in ``O(nnz)`` and flushes less often
as it grows).

With ``backend="cupy"`` the dense matrix (or the sparse arrays) live on the GPU: records
still arrive on the host, each flushed batch is copied to the device (a few kB), and the
readers return CuPy arrays.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from stream.kernels._backend import BACKENDS, import_cupy
from stream.kernels.cooccurrence import (
    COUNT_DTYPES,
    cooccurrence_update,
    jaccard,
    jaccard_pairs,
    topk_similar,
)

__all__ = [
    "DENSE_MAX_BYTES",
    "RollingCooccurrence",
    "choose_layout",
    "dense_nbytes",
    "label_cooccurrence",
]

#: the largest dense co-occurrence matrix :func:`label_cooccurrence` allocates (1 GiB)
DENSE_MAX_BYTES = 1 << 30
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


def dense_nbytes(n_labels: int, dtype=np.float64) -> int:
    """Bytes of a dense ``(n_labels, n_labels)`` co-occurrence matrix.

    Examples
    --------
    >>> dense_nbytes(10_000, "int32") / 1e6
    400.0
    """
    return int(n_labels) ** 2 * np.dtype(dtype).itemsize


def choose_layout(n_labels, dtype=np.float64, max_dense_bytes: int = DENSE_MAX_BYTES) -> str:
    """``"dense"`` when the ``L x L`` matrix fits in ``max_dense_bytes``, else ``"sparse"``.

    An unknown label count (``None``) gives ``"sparse"``: it has no size limit.

    Examples
    --------
    >>> choose_layout(10_000, "int32"), choose_layout(100_000, "int32"), choose_layout(None)
    ('dense', 'sparse', 'sparse')
    """
    if n_labels is None:
        return "sparse"
    return "dense" if dense_nbytes(n_labels, dtype) <= max_dense_bytes else "sparse"


def label_cooccurrence(n_labels: int | None = None, *, window_size: int | None = None,
                       fading_factor: float | None = None, layout: str = "auto",
                       dtype=None, max_dense_bytes: int = DENSE_MAX_BYTES,
                       backend: str = "auto"):
    """A co-occurrence store sized for ``n_labels`` labels: dense if it fits, else sparse.

    Parameters
    ----------
    n_labels
        Expected number of labels (the store still grows past it); ``None`` if unknown.
    window_size, fading_factor
        As in :class:`RollingCooccurrence` (at most one).
    layout
        ``"auto"`` (see :func:`choose_layout`), ``"dense"`` or ``"sparse"``.
    dtype
        Dense cell type: default ``int32`` (4 bytes) for window or cumulative counts,
        ``float64`` with a fading factor (the only type it allows).
    max_dense_bytes
        Largest dense matrix for ``layout="auto"``.
    backend
        Kernel backend; ``"cupy"`` keeps the store on the GPU.

    Returns
    -------
    RollingCooccurrence or stream.sparse_cooccurrence.SparseCooccurrence

    Examples
    --------
    >>> label_cooccurrence(1_000, window_size=5_000)
    RollingCooccurrence(window_size=5000, fading_factor=None)
    >>> label_cooccurrence(100_000, window_size=5_000)
    SparseCooccurrence(window_size=5000, fading_factor=None)
    """
    fading = fading_factor is not None and fading_factor < 1.0
    if dtype is None:
        dtype = np.float64 if fading else np.int32
    if layout == "auto":
        layout = choose_layout(n_labels, dtype, max_dense_bytes)
    if layout == "dense":
        return RollingCooccurrence(window_size, fading_factor, backend,
                                   capacity=n_labels or 0, dtype=dtype)
    if layout == "sparse":
        from stream.sparse_cooccurrence import SparseCooccurrence

        return SparseCooccurrence(window_size, fading_factor, backend)
    raise ValueError(f"layout must be 'auto', 'dense' or 'sparse', got {layout!r}")


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


class RollingCooccurrence(_CooccurrenceStream):
    """Label co-occurrence counts of a stream, cumulative, windowed or faded (dense).

    Three modes:

    * cumulative (both arguments ``None``): ``C`` counts every record so far;
    * sliding window (``window_size=w``): ``C`` counts the last ``w`` records; a deque
      keeps their label sets and a record that leaves is reverted through the kernel
      (``weight=-1``), so the counts stay exact integers;
    * fading factor (``fading_factor=lam``, ``0 < lam <= 1``):
      ``C_t = lam * C_{t-1} + y_t y_t^T``, every record's weight decays by ``lam`` per
      newer record.

    The fading factor is applied lazily: the object stores ``S`` and a running ``scale``
    with ``C = scale * S``. A new record multiplies ``scale`` by ``lam`` and adds
    ``y y^T / scale`` to ``S``, so a record costs ``O(labels per record ** 2)`` instead of
    the ``O(L ** 2)`` of scaling ``C``. Once ``scale`` falls below ``1e-100``, it is folded
    into ``S`` (``S *= scale``, ``scale = 1``), an ``O(L ** 2)`` step that happens at most
    every ``230 / -ln(lam)`` records; the weights ``1 / scale`` therefore stay below
    ``1e200`` and within ``float64`` range. Jaccard similarities are scale free and are
    computed from ``S`` directly.

    :meth:`update` costs a list append: records are buffered and counted in batches of
    512 by :func:`stream.kernels.cooccurrence_update`; every reader flushes first. The
    label space grows with the data: a column ``>= n_labels`` enlarges ``C`` (with zeros,
    by at least half its size, so growing label by label stays linear) and keeps the
    counts. The matrix costs ``capacity**2 * itemsize`` bytes; see the module docstring
    for the memory plan, and :class:`stream.sparse_cooccurrence.SparseCooccurrence` for
    label spaces it does not fit.

    Parameters
    ----------
    window_size
        Number of most recent records counted (``None``: no window).
    fading_factor
        Weight decay per record, in ``(0, 1]`` (``None``: no fading). At most one of
        ``window_size`` and ``fading_factor`` may be given.
    backend
        Kernel backend (``"auto"``, ``"numpy"``, ``"numba"``, or ``"cupy"``: the matrix
        lives on the GPU and the readers return CuPy arrays).
    capacity
        Labels to allocate for up front (the matrix grows past it).
    dtype
        Cell type: ``float64`` (default), or ``int32`` / ``float32`` / ``int64`` for
        window and cumulative counts (a fading factor needs ``float64``).

    Examples
    --------
    >>> from stream.synthetic import MultiLabelGenerator
    >>> gen = MultiLabelGenerator(n_features=6, n_labels=4, n_clusters=2, seed=1)
    >>> _, Y = gen.arrays(2000)
    >>> co = RollingCooccurrence(window_size=1000)
    >>> for row in Y:
    ...     co.update(row.nonzero()[0])
    >>> co.n_labels, co.n_records
    (4, 1000)
    >>> J = co.jaccard()
    >>> sorted(sorted(g) for g in gen.label_groups(0))   # the true label groups
    [['l0', 'l3'], ['l1', 'l2']]
    >>> bool(min(J[0, 3], J[1, 2]) > max(J[0, 1], J[0, 2], J[1, 3], J[2, 3]))
    True
    >>> co.topk_similar(1)[0].ravel().tolist()           # each label's closest label
    [3, 2, 1, 0]
    >>> co.jaccard_submatrix([0, 3]).round(2).tolist() == J[[0, 3]][:, [0, 3]].round(2).tolist()
    True
    """

    _dtype = np.dtype(np.float64)  # class default for objects pickled before dtype existed

    def __init__(self, window_size: int | None = None, fading_factor: float | None = None,
                 backend: str = "auto", *, capacity: int = 0, dtype=np.float64):
        super().__init__(window_size, fading_factor, backend)
        dtype = np.dtype(dtype)
        if dtype not in COUNT_DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(map(str, COUNT_DTYPES))}, "
                             f"got {dtype}")
        if self._fading and dtype != np.float64:
            raise ValueError("a fading factor needs dtype float64 (lazy scaling)")
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) \
                or capacity < 0:
            raise ValueError(f"capacity must be an integer >= 0, got {capacity!r}")
        self._dtype = dtype
        self._S = self._xp.zeros((int(capacity), int(capacity)), dtype=dtype)

    # ------------------------------------------------------------------ the dense store
    def _grow(self) -> None:
        L = self._S.shape[0]
        if self._n_labels > L:
            new = max(self._n_labels, L + L // 2)
            S = self._xp.zeros((new, new), dtype=self._S.dtype)
            S[:L, :L] = self._S
            self._S = S

    def _add_csr(self, indptr, indices, weight) -> None:
        if self._xp is not np:
            indptr, indices = self._xp.asarray(indptr), self._xp.asarray(indices)
            if not np.isscalar(weight):
                weight = self._xp.asarray(weight)
        cooccurrence_update(self._S, indptr, indices, weight, backend=self.backend)

    def _fold(self) -> None:
        self._S *= self._scale

    def _view(self):
        n = self._n_labels
        return self._S[:n, :n]

    def _raw_pairs(self, rows, cols):
        return self._S[rows, cols].astype(np.float64)

    def _raw_diagonal(self):
        return self._xp.diagonal(self._view()).astype(np.float64)

    # ------------------------------------------------------------------------- reading
    def counts(self):
        """The co-occurrence matrix ``C`` (a copy), ``(n_labels, n_labels)``.

        ``float64`` for the default store; a store of another ``dtype`` keeps it unless
        a fading scale has to be applied.
        """
        self._ready()
        if self._scale == 1.0 and self._S.dtype != np.float64:
            return self._view().copy()
        return self._view() * self._scale

    def jaccard(self):
        """Jaccard similarities of the labels, ``(n_labels, n_labels)`` float64.

        See :func:`stream.kernels.jaccard` for the conventions (0/0 is 0).
        """
        self._ready()
        return jaccard(self._view(), backend=self.backend)

    def jaccard_submatrix(self, labels):
        """Jaccard similarities among ``labels``: ``J[np.ix_(labels, labels)]``.

        Costs ``O(m**2)`` for ``m`` labels, not ``O(L**2)``. Labels never seen have
        similarity 0 with everything, themselves included.

        Parameters
        ----------
        labels
            Integer label columns (any order, repeats allowed).

        Returns
        -------
        array
            ``(m, m)`` float64.
        """
        self._ready()
        lab = self._label_array(labels)
        inside = lab < self._n_labels
        safe = self._xp.where(inside, lab, 0)
        block = self._S[safe[:, None], safe[None, :]].astype(np.float64)
        block *= (inside[:, None] & inside[None, :])
        return jaccard(block, backend=self.backend)

    def jaccard_csr(self):
        """Every positive Jaccard similarity as a sparse ``(n_labels, n_labels)`` matrix
        (``scipy.sparse.csr_matrix``; diagonal ``1`` for every label seen)."""
        J = self.jaccard()
        xp = self._xp
        rows, cols = xp.nonzero(J)
        indptr = xp.searchsorted(rows, xp.arange(J.shape[0] + 1))
        return csr_matrix(xp, J[rows, cols], cols, indptr, J.shape)

    def neighbours(self, label: int):
        """Labels that co-occur with ``label`` and their counts ``C[label, j]``.

        Returns
        -------
        cols, counts : arrays
            int64 columns in increasing order (``label`` itself excluded) and float64
            counts.
        """
        self._ready()
        xp = self._xp
        if not 0 <= int(label) < self._n_labels:
            return xp.zeros(0, dtype=np.int64), xp.zeros(0, dtype=np.float64)
        row = self._view()[int(label)]
        cols = xp.flatnonzero(row)
        cols = cols[cols != int(label)].astype(np.int64)
        return cols, row[cols].astype(np.float64) * self._scale

    def topk_similar(self, k: int):
        self._ready()
        return topk_similar(self.jaccard(), k, backend=self.backend)

    topk_similar.__doc__ = _CooccurrenceStream.topk_similar.__doc__

    @property
    def nbytes(self) -> int:
        """Bytes held by the matrix (its allocated capacity)."""
        return int(self._S.nbytes)
