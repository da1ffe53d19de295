"""Sparse label co-occurrence for large label spaces (10^4 to 10^6 labels and beyond).

:class:`SparseCooccurrence` is the sibling of :class:`stream.cooccurrence.RollingCooccurrence`
(same modes: cumulative, sliding window, fading factor; same readers) that never holds an
``L x L`` array. It stores only the label pairs that occur:

* ``keys``: the off-diagonal ordered pairs ``(i, j)``, ``i != j``, both orientations, as
  sorted ``int64`` keys ``i * 2**32 + j`` (labels below ``2**31``) — sorted by row, then
  column, so row ``i`` (the neighbours of label ``i``) is one contiguous slice and the
  arrays *are* a CSR matrix once a row pointer is computed by ``searchsorted``;
* ``vals``: the ``float64`` counts of those pairs (``S``, with ``C = scale * S`` as in
  the dense store);
* ``diag``: a dense ``float64`` vector of ``C[i, i]`` (8 bytes per label).

Memory: 16 bytes per stored ordered pair plus 8 per label, whatever ``L`` is. A flushed
batch becomes its summed pairs (:func:`stream.kernels.cooccurrence_pairs`), the pairs
already stored are added in place (found by ``searchsorted``), and the new ones are
merged into the sorted arrays in one ``O(nnz)`` pass; the store flushes every
``max(512, nnz / 1024)`` records so that merging stays ``O(1)`` per record on average.
Pairs whose count returns to 0 (a window revert) are dropped when they make up a quarter
of the store. With a fading factor nothing returns to 0 exactly: a pair whose faded count
``C[i, j]`` falls to ``prune_below`` or less (default ``1e-9`` records) is dropped when
the store has doubled since its last compaction, so the store holds the pairs of the
recent past, not of the whole stream; the Jaccard similarity of a dropped pair reads 0
instead of at most ``prune_below / (C[i, i] + C[j, j])``. ``prune_below=0`` keeps every
pair that occurred (exact, memory grows with the distinct pairs of the whole stream).

Its buffering, sliding window and fading come from
:class:`stream._cooccurrence_base._CooccurrenceStream`, shared with the dense store; it
imports neither :mod:`stream.dense_cooccurrence` nor :mod:`stream.cooccurrence` (which
picks between the two stores, :func:`stream.cooccurrence.label_cooccurrence`).

All the store's operations are written against an array module (``numpy``, or ``cupy``
with ``backend="cupy"``: the store then lives on the GPU); the kernels do the heavy parts.
"""

from __future__ import annotations

import numpy as np

from stream._cooccurrence_base import _FLUSH_EVERY, _CooccurrenceStream, csr_matrix
from stream.kernels._backend import segment_ids
from stream.kernels.cooccurrence import (
    _jaccard_xp,
    cooccurrence_pairs,
    jaccard,
    jaccard_pairs,
    topk_similar_sparse,
)

__all__ = ["SparseCooccurrence"]

_SHIFT = 32
_MASK = (1 << _SHIFT) - 1
_COMPACT_MIN = 1 << 16  # fading: no pruning pass below this many stored pairs


def merge_sorted(xp, keys, vals, new_keys, new_vals):
    """Merge two sorted key arrays with no key in common, carrying their values.

    ``O(n + m log m)``: each old key moves right by the number of new keys below it, each
    new key lands after the old keys below it and the new keys before it.

    Examples
    --------
    >>> import numpy as np
    >>> k, v = merge_sorted(np, np.array([1, 5]), np.array([.1, .5]),
    ...                     np.array([0, 3, 9]), np.array([0., .3, .9]))
    >>> k.tolist(), v.tolist()
    ([0, 1, 3, 5, 9], [0.0, 0.1, 0.3, 0.5, 0.9])
    """
    n, m = keys.size, new_keys.size
    out_k = xp.empty(n + m, dtype=keys.dtype)
    out_v = xp.empty(n + m, dtype=vals.dtype)
    old_pos = xp.arange(n, dtype=np.int64) + xp.searchsorted(new_keys, keys)
    new_pos = xp.arange(m, dtype=np.int64) + xp.searchsorted(keys, new_keys)
    out_k[old_pos] = keys
    out_v[old_pos] = vals
    out_k[new_pos] = new_keys
    out_v[new_pos] = new_vals
    return out_k, out_v


class SparseCooccurrence(_CooccurrenceStream):
    """Label co-occurrence counts of a stream without an ``L x L`` matrix.

    Same modes, arithmetic and readers as :class:`stream.cooccurrence.RollingCooccurrence`
    (cumulative, ``window_size``, ``fading_factor`` with lazy scaling); window and
    cumulative counts, and therefore Jaccard similarities and top-k neighbours, are
    identical to the dense store's. See the module docstring for the layout and costs.

    Parameters
    ----------
    window_size
        Number of most recent records counted (``None``: no window).
    fading_factor
        Weight decay per record, in ``(0, 1]`` (``None``: no fading).
    backend
        Kernel backend (``"auto"``, ``"numpy"``, ``"numba"``, or ``"cupy"``: the store
        lives on the GPU and the readers return CuPy arrays).
    prune_below
        Fading only: stored pairs whose count ``C[i, j]`` is at most this are dropped
        at compaction (default ``1e-9``; ``0`` keeps every pair).

    Examples
    --------
    >>> co = SparseCooccurrence(window_size=3)
    >>> for labels in ([0, 70_000], [0, 70_000], [5], [0, 5]):
    ...     co.update(labels)
    >>> co.n_labels, co.nnz                      # 70,001 labels, 4 stored ordered pairs
    (70001, 4)
    >>> co.jaccard_pairs([0, 0], [70_000, 5]).tolist()   # over the last 3 records
    [0.5, 0.3333333333333333]
    >>> co.jaccard_submatrix([0, 5]).tolist()
    [[1.0, 0.3333333333333333], [0.3333333333333333, 1.0]]
    >>> idx, val = co.topk_similar(2)
    >>> idx[0].tolist(), idx[70_000].tolist()
    ([70000, 5], [0, 1])
    """

    _prune_below = 0.0

    def __init__(self, window_size: int | None = None, fading_factor: float | None = None,
                 backend: str = "auto", *, prune_below: float | None = None):
        super().__init__(window_size, fading_factor, backend)
        if prune_below is None:
            prune_below = 1e-9 if self._fading else 0.0
        if not (isinstance(prune_below, (int, float, np.floating)) and prune_below >= 0):
            raise ValueError(f"prune_below must be a number >= 0, got {prune_below!r}")
        self._prune_below = float(prune_below) if self._fading else 0.0
        xp = self._xp
        self._keys = xp.zeros(0, dtype=np.int64)
        self._vals = xp.zeros(0, dtype=np.float64)
        self._diag = xp.zeros(0, dtype=np.float64)
        self._stale = 0  # upper bound on the stored pairs that may be zero
        self._nnz_at_compact = 0

    # ----------------------------------------------------------------- the sparse store
    def _flush_due(self) -> bool:
        return len(self._pending) >= max(_FLUSH_EVERY, self._keys.size // 1024)

    def _grow(self) -> None:
        size = self._diag.size
        if self._n_labels > size:
            diag = self._xp.zeros(max(self._n_labels, size + size // 2), dtype=np.float64)
            diag[:size] = self._diag
            self._diag = diag

    def _add_csr(self, indptr, indices, weight) -> None:
        xp = self._xp
        if xp is not np:
            indptr, indices = xp.asarray(indptr), xp.asarray(indices)
            if not np.isscalar(weight):
                weight = xp.asarray(weight)
        rows, cols, vals = cooccurrence_pairs(indptr, indices, weight, backend=self.backend)
        on_diag = rows == cols
        self._diag[rows[on_diag]] += vals[on_diag]  # each label at most once: no collisions
        off = ~on_diag
        keys, vals = (rows[off] << _SHIFT) | cols[off], vals[off]  # sorted, unique
        if keys.size == 0:
            return
        if self._keys.size == 0:
            self._keys, self._vals = keys, vals
        else:
            at = xp.minimum(xp.searchsorted(self._keys, keys), self._keys.size - 1)
            found = self._keys[at] == keys
            hit = at[found]
            self._vals[hit] += vals[found]
            if not np.isscalar(weight) or weight < 0:
                self._stale += int(xp.count_nonzero(self._vals[hit] == 0))
            new = ~found
            if bool(new.any()):
                self._keys, self._vals = merge_sorted(xp, self._keys, self._vals,
                                                      keys[new], vals[new])
        nnz = self._keys.size
        if self._stale > max(1024, nnz // 4) or (
                self._prune_below > 0
                and nnz >= 2 * max(self._nnz_at_compact, _COMPACT_MIN)):
            self._compact()

    def _compact(self) -> None:
        """Drop stored pairs whose count is 0 (or at most ``prune_below`` when fading)."""
        keep = self._xp.abs(self._vals) * self._scale > self._prune_below
        self._keys, self._vals = self._keys[keep], self._vals[keep]
        self._stale = 0
        self._nnz_at_compact = self._keys.size

    def _fold(self) -> None:
        self._vals *= self._scale
        self._diag *= self._scale
        self._scale = 1.0
        if self._prune_below > 0:
            self._compact()

    def _lookup(self, rows, cols):
        """Stored ``S[rows, cols]`` for off-diagonal pairs (0 where not stored)."""
        xp = self._xp
        out = xp.zeros(rows.shape, dtype=np.float64)
        if self._keys.size == 0 or rows.size == 0:
            return out
        q = (rows << _SHIFT) | cols
        at = xp.minimum(xp.searchsorted(self._keys, q), self._keys.size - 1)
        found = self._keys[at] == q
        out[found] = self._vals[at[found]]
        return out

    def _raw_pairs(self, rows, cols):
        out = self._lookup(rows, cols)
        same = rows == cols
        out[same] = self._diag[rows[same]]
        return out

    def _raw_diagonal(self):
        return self._diag[:self._n_labels].copy()

    def _row_pointer(self):
        return self._xp.searchsorted(self._keys >> _SHIFT,
                                     self._xp.arange(self._n_labels + 1, dtype=np.int64))

    def _with_diagonal(self, diag_values):
        """The off-diagonal keys and ``S`` values merged with diagonal entries (where
        ``diag_values`` is non-zero), as CSR arrays ``(indptr, indices, values)``."""
        xp = self._xp
        labels = xp.flatnonzero(diag_values).astype(np.int64)
        keys, vals = merge_sorted(xp, self._keys, self._vals, (labels << _SHIFT) | labels,
                                  diag_values[labels])
        rows = keys >> _SHIFT
        indptr = xp.searchsorted(rows, xp.arange(self._n_labels + 1, dtype=np.int64))
        return indptr, keys & _MASK, vals, rows

    # ------------------------------------------------------------------------- reading
    @property
    def nnz(self) -> int:
        """Stored off-diagonal ordered pairs (each unordered pair counts twice)."""
        self._ready()
        return int(self._keys.size)

    @property
    def nbytes(self) -> int:
        """Bytes held by the store (keys, counts and the diagonal)."""
        return int(self._keys.nbytes + self._vals.nbytes + self._diag.nbytes)

    def _dense(self):
        xp = self._xp
        n = self._n_labels
        S = xp.zeros((n, n), dtype=np.float64)
        S[self._keys >> _SHIFT, self._keys & _MASK] = self._vals
        S[xp.arange(n), xp.arange(n)] = self._diag[:n]
        return S

    def counts(self):
        """The dense co-occurrence matrix ``C``, ``(n_labels, n_labels)`` float64.

        ``O(L**2)`` memory: for tests and small label spaces; see :meth:`counts_csr`.
        """
        self._ready()
        return self._dense() * self._scale

    def counts_csr(self):
        """``C`` as a sparse ``(n_labels, n_labels)`` matrix (``scipy.sparse.csr_matrix``,
        ``cupyx`` on the GPU), the diagonal included."""
        self._ready()
        indptr, indices, vals, _ = self._with_diagonal(self._diag[:self._n_labels])
        n = self._n_labels
        return csr_matrix(self._xp, vals * self._scale, indices, indptr, (n, n))

    def jaccard(self):
        """The dense Jaccard matrix, ``(n_labels, n_labels)`` float64 (``O(L**2)``
        memory: prefer :meth:`jaccard_submatrix`, :meth:`jaccard_csr` or
        :meth:`topk_similar` in large label spaces)."""
        self._ready()
        return jaccard(self._dense(), backend=self.backend)

    def jaccard_csr(self):
        """Every positive Jaccard similarity as a sparse ``(n_labels, n_labels)`` matrix
        (``scipy.sparse.csr_matrix``, ``cupyx`` on the GPU); diagonal ``1`` for every
        label seen. Stored pairs whose count returned to 0 appear as explicit zeros."""
        self._ready()
        xp = self._xp
        diag = self._diag[:self._n_labels]
        indptr, indices, vals, rows = self._with_diagonal(diag)
        J = jaccard_pairs(rows, indices, vals, diag, backend=self.backend)
        n = self._n_labels
        return csr_matrix(xp, J, indices, indptr, (n, n))

    def jaccard_submatrix(self, labels):
        """Jaccard similarities among ``labels``: ``J[np.ix_(labels, labels)]``.

        Reads only the rows of these labels: ``O(sum of their neighbours + m**2)`` for
        ``m`` labels. Labels never seen have similarity 0 with everything.

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
        xp = self._xp
        lab = self._label_array(labels)
        u, inv = xp.unique(lab, return_inverse=True)
        inv = inv.reshape(-1)
        m = u.size
        block = xp.zeros((m, m), dtype=np.float64)
        if m == 0:
            return block
        lo = xp.searchsorted(self._keys, u << _SHIFT)
        hi = xp.searchsorted(self._keys, (u + 1) << _SHIFT)
        ptr = xp.concatenate([xp.zeros(1, dtype=np.int64), xp.cumsum(hi - lo)])
        total = int(ptr[-1])
        if total:
            seg = segment_ids(xp, ptr, total)
            pos = lo[seg] + (xp.arange(total, dtype=np.int64) - ptr[seg])
            cols = self._keys[pos] & _MASK
            at = xp.minimum(xp.searchsorted(u, cols), m - 1)
            ok = u[at] == cols
            block[seg[ok], at[ok]] = self._vals[pos[ok]]
        seen = u < self._n_labels
        d = xp.zeros(m, dtype=np.float64)
        d[seen] = self._diag[u[seen]]
        block[xp.arange(m), xp.arange(m)] = d
        J = _jaccard_xp(xp, block)
        return J[inv[:, None], inv[None, :]]

    def neighbours(self, label: int):
        """Labels that co-occur with ``label`` and their counts ``C[label, j]``.

        Returns
        -------
        cols, counts : arrays
            int64 columns in increasing order (``label`` itself excluded) and float64
            counts. A slice of the store: ``O(log nnz + degree)``.
        """
        self._ready()
        xp = self._xp
        label = int(label)
        bounds = xp.asarray([label << _SHIFT, (label + 1) << _SHIFT], dtype=np.int64)
        lo, hi = (int(b) for b in xp.searchsorted(self._keys, bounds))
        vals = self._vals[lo:hi]
        keep = vals != 0
        return (self._keys[lo:hi][keep] & _MASK), vals[keep] * self._scale

    def topk_similar(self, k: int):
        self._ready()
        diag = self._diag[:self._n_labels]
        rows = self._keys >> _SHIFT
        cols = self._keys & _MASK
        J = jaccard_pairs(rows, cols, self._vals, diag, backend=self.backend)
        return topk_similar_sparse(self._row_pointer(), cols, J, k, backend=self.backend)

    topk_similar.__doc__ = _CooccurrenceStream.topk_similar.__doc__
