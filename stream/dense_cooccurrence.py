"""The dense label co-occurrence store: :class:`RollingCooccurrence`.

It holds the full ``L x L`` count matrix (cumulative, over a sliding window, or faded);
its buffering, window and fading come from
:class:`stream._cooccurrence_base._CooccurrenceStream`, shared with the sparse sibling
:class:`stream.sparse_cooccurrence.SparseCooccurrence`. Import it from
:mod:`stream.cooccurrence`, which also picks between the two stores
(:func:`stream.cooccurrence.label_cooccurrence`) and documents the memory plan.
"""

from __future__ import annotations

import numpy as np

from stream._cooccurrence_base import _CooccurrenceStream, csr_matrix
from stream.kernels.cooccurrence import (
    COUNT_DTYPES,
    cooccurrence_update,
    jaccard,
    topk_similar,
)

__all__ = ["RollingCooccurrence"]


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
    counts. The matrix costs ``capacity**2 * itemsize`` bytes; see :mod:`stream.cooccurrence`
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
