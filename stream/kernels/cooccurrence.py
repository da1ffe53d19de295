"""Label co-occurrence counts, Jaccard similarity and the most similar labels.

A batch of ``n`` records is given in CSR form: record ``r``'s positive label columns are
``indices[indptr[r]:indptr[r+1]]``. The co-occurrence matrix ``C`` (``L x L``) holds, for
every ordered pair of labels ``(i, j)``, the (weighted) number of records that contain
both; its diagonal ``C[i, i]`` is the number of records that contain label ``i``. From it:

* Jaccard similarity ``J[i, j] = C[i, j] / (C[i, i] + C[j, j] - C[i, j])``, the number of
  records with both labels over the number with either;
* Jaccard distance ``1 - J`` (the dissimilarity iHOMER clusters labels with);
* the ``k`` most similar other labels of every label.

``C`` is a dense ``float64`` array, not an integer one, so that fading factors and
per-record weights work; sums of integer weights stay exact integers in ``float64`` up to
``2**53`` (about ``9e15``), far beyond any stream. Rolling statistics are ``update`` /
``revert`` pairs: a sliding window adds the records that enter with ``weight=1`` and the
records that leave with ``weight=-1`` (see :class:`stream.cooccurrence.RollingCooccurrence`).

Edge cases (each one tested, for every backend):

* an empty batch (``indptr == [0]``) leaves ``C`` unchanged;
* a record without labels adds nothing; a record with one label ``i`` adds ``weight`` to
  ``C[i, i]`` only;
* indices need not be sorted within a record, and a column repeated within one record
  counts once (a record's labels are a set);
* ``L = 0`` (a ``0 x 0`` matrix) and ``L = 1`` work everywhere;
* ``J[i, j] = 0`` when no record holds ``i`` or ``j`` (0/0 defined as 0);
  ``J[i, i] = 1`` when ``C[i, i] > 0`` and ``0`` for a label never seen;
* the Jaccard distance is ``1 - J`` off the diagonal, so two labels without any data are
  at distance 1 (no evidence that they go together: clustering keeps them apart), and
  ``0`` on the whole diagonal (a label is at distance 0 from itself, seen or not), so the
  result is a proper dissimilarity matrix that ``scipy.spatial.distance.squareform``
  accepts;
* an index outside ``[0, L)``, a non-square or non-``float64`` ``C``, a read-only ``C`` or
  a NaN in ``J`` raise ``ValueError`` in the wrappers; the private kernels validate
  nothing.

Backends: ``numpy`` is the reference (a dense ``n x L`` indicator matrix ``Y`` and
``C += Y.T @ (w * Y)``: obviously right, ``O(n L^2)`` time, ``O(n L)`` memory); ``numba``
is the fast path (``O(sum of labels per record squared)``, one scratch row of ``L`` flags);
``cupy`` comes with the GPU kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from stream.kernels._backend import as_index_array, resolve_backend

__all__ = ["cooccurrence_update", "jaccard", "jaccard_distance", "topk_similar"]

_TOPK_INSERTION_MAX = 32  # numba top-k: insertion into a sorted buffer up to this k


# ----------------------------------------------------------------------------- update


def _update_numpy(C, indptr, indices, weights):
    n, L = len(indptr) - 1, C.shape[0]
    if n == 0 or L == 0:
        return
    Y = np.zeros((n, L), dtype=np.float64)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    Y[rows, indices] = 1.0  # a repeated column sets the same cell: it counts once
    C += Y.T @ (Y * weights[:, None])


@njit(cache=True, nogil=True)
def _update_numba(C, indptr, indices, weights):
    n = len(indptr) - 1
    seen = np.zeros(C.shape[0], dtype=np.bool_)
    buf = np.empty(len(indices), dtype=np.int64)
    for r in range(n):
        m = 0
        for k in range(indptr[r], indptr[r + 1]):
            j = indices[k]
            if not seen[j]:
                seen[j] = True
                buf[m] = j
                m += 1
        w = weights[r]
        for a in range(m):
            i = buf[a]
            seen[i] = False
            for b in range(m):
                C[i, buf[b]] += w


# ---------------------------------------------------------------------------- jaccard


def _jaccard_numpy(C):
    d = np.diagonal(C)
    denom = d[:, None] + d[None, :] - C
    return np.divide(C, denom, out=np.zeros(C.shape, dtype=np.float64), where=denom > 0)


@njit(cache=True, nogil=True)
def _jaccard_numba(C):
    L = C.shape[0]
    J = np.zeros((L, L), dtype=np.float64)
    for i in range(L):
        cii = C[i, i]
        for j in range(L):
            denom = cii + C[j, j] - C[i, j]
            if denom > 0:
                J[i, j] = C[i, j] / denom
    return J


def _distance_from_similarity(J):
    D = 1.0 - J
    np.fill_diagonal(D, 0.0)
    return D


# ----------------------------------------------------------------------------- top-k


def _topk_numpy(J, k):
    L = J.shape[0]
    if L == 0 or k == 0:
        return np.zeros((L, k), dtype=np.int64), np.zeros((L, k), dtype=np.float64)
    # the other labels of row i, in increasing column order: drop the diagonal
    others = np.arange(L - 1)[None, :] + (np.arange(L - 1)[None, :] >= np.arange(L)[:, None])
    vals = np.take_along_axis(J, others, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")[:, :k]  # stable: ties by lower index
    return (np.take_along_axis(others, order, axis=1).astype(np.int64),
            np.take_along_axis(vals, order, axis=1).astype(np.float64))


@njit(cache=True, nogil=True)
def _topk_numba(J, k):
    L = J.shape[0]
    idx = np.zeros((L, k), dtype=np.int64)
    val = np.zeros((L, k), dtype=np.float64)
    if k == 0:
        return idx, val
    if k <= _TOPK_INSERTION_MAX:
        for i in range(L):
            m = 0  # filled slots, kept sorted by decreasing value, ties by increasing index
            for j in range(L):
                if j == i:
                    continue
                v = J[i, j]
                if m == k and v <= val[i, k - 1]:
                    continue  # not better than the worst kept (ties: the lower index stays)
                p = m if m < k else k - 1
                while p > 0 and val[i, p - 1] < v:  # equal values keep their (lower) index
                    if p < k:
                        val[i, p] = val[i, p - 1]
                        idx[i, p] = idx[i, p - 1]
                    p -= 1
                val[i, p] = v
                idx[i, p] = j
                if m < k:
                    m += 1
    else:
        row = np.empty(L - 1, dtype=np.float64)
        cols = np.empty(L - 1, dtype=np.int64)
        for i in range(L):
            m = 0
            for j in range(L):
                if j != i:
                    row[m] = -J[i, j]
                    cols[m] = j
                    m += 1
            order = np.argsort(row, kind="mergesort")  # stable: ties by lower index
            for t in range(k):
                idx[i, t] = cols[order[t]]
                val[i, t] = -row[order[t]]
    return idx, val


# --------------------------------------------------------------------------- wrappers


def _check_square(M, name, writeable=False):
    if not isinstance(M, np.ndarray) and not _is_gpu(M):
        raise ValueError(f"{name} must be an array, got {type(M).__name__}")
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square (L, L) array, got shape {M.shape}")
    if writeable:
        if M.dtype != np.float64:
            raise ValueError(f"{name} must be float64 (counts with weights), got {M.dtype}")
        if isinstance(M, np.ndarray) and not M.flags.writeable:
            raise ValueError(f"{name} is read-only; it is updated in place")
    elif not (np.issubdtype(M.dtype, np.floating) or np.issubdtype(M.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {M.dtype}")


def _is_gpu(a):
    return type(a).__module__.split(".")[0] == "cupy"


def _check_csr(indptr, indices, n_labels):
    indptr = as_index_array(indptr, "indptr")
    indices = as_index_array(indices, "indices")
    if indptr.size == 0 or indptr[0] != 0 or indptr[-1] != indices.size:
        raise ValueError(f"indptr must start at 0 and end at len(indices)={indices.size}")
    if np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must be non-decreasing")
    if indices.size and (indices.min() < 0 or indices.max() >= n_labels):
        raise ValueError(f"indices must lie in [0, L={n_labels})")
    return indptr, indices


def _not_yet(chosen, name):
    return ValueError(f"backend {chosen!r} is not available for {name} yet")


def cooccurrence_update(C, indptr, indices, weight=1.0, backend: str = "auto") -> None:
    """Add a batch of label sets to a co-occurrence matrix, in place.

    For every record and every ordered pair ``(i, j)`` of its labels, diagonal included,
    ``C[i, j] += weight`` (so ``C[i, i]`` counts the records with label ``i``). See the
    module docstring for the edge cases.

    Parameters
    ----------
    C
        The ``(L, L)`` ``float64`` co-occurrence matrix, updated in place.
    indptr, indices
        The records in CSR form (``indptr`` of length ``n + 1``); every index in
        ``[0, L)``, any order within a record, a repeat within a record counts once.
    weight
        A number added for every pair (``1`` counts, ``-1`` reverts a record that leaves a
        sliding window), or one weight per record (array of length ``n``).
    backend
        ``"auto"`` (numba on host arrays), ``"numpy"`` (reference) or ``"numba"``.

    Examples
    --------
    >>> import numpy as np
    >>> C = np.zeros((3, 3))
    >>> cooccurrence_update(C, [0, 2, 3, 3], [0, 2, 1])   # {0, 2}, {1}, {}
    >>> C
    array([[1., 0., 1.],
           [0., 1., 0.],
           [1., 0., 1.]])
    >>> cooccurrence_update(C, [0, 2], [2, 0], weight=-1)  # revert the first record
    >>> C.diagonal()
    array([0., 1., 0.])
    """
    _check_square(C, "C", writeable=True)
    ptr, idx = _check_csr(indptr, indices, C.shape[0])
    n = ptr.size - 1
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    elif w.shape != (n,):
        raise ValueError(f"weight must be a number or an array of {n} per-record weights, "
                         f"got shape {w.shape}")
    chosen = resolve_backend(backend, C)
    if chosen == "numpy":
        _update_numpy(C, ptr, idx, w)
    elif chosen == "numba":
        _update_numba(C, ptr, idx, w)
    else:
        raise _not_yet(chosen, "cooccurrence_update")


def jaccard(C, backend: str = "auto") -> np.ndarray:
    """Jaccard similarity of every pair of labels from their co-occurrence matrix.

    ``J[i, j] = C[i, j] / (C[i, i] + C[j, j] - C[i, j])``, ``0`` where the denominator is
    ``0`` (neither label seen); ``J[i, i]`` is ``1`` for a label seen at least once and
    ``0`` otherwise. The result does not change when ``C`` is scaled, so a faded or
    lazily scaled ``C`` gives the right ``J``.

    Parameters
    ----------
    C
        ``(L, L)`` co-occurrence matrix (integers or floats).
    backend
        ``"auto"``, ``"numpy"`` or ``"numba"``.

    Returns
    -------
    numpy.ndarray
        ``(L, L)`` ``float64``, in ``[0, 1]`` for a valid ``C``.

    Examples
    --------
    >>> import numpy as np
    >>> C = np.array([[4., 2., 0.], [2., 3., 0.], [0., 0., 0.]])
    >>> jaccard(C)   # 2 / (4 + 3 - 2) = 0.4; label 2 never seen
    array([[1. , 0.4, 0. ],
           [0.4, 1. , 0. ],
           [0. , 0. , 0. ]])
    """
    _check_square(C, "C")
    chosen = resolve_backend(backend, C)
    if chosen == "numpy":
        return _jaccard_numpy(np.asarray(C, dtype=np.float64))
    if chosen == "numba":
        return _jaccard_numba(np.asarray(C, dtype=np.float64))
    raise _not_yet(chosen, "jaccard")


def jaccard_distance(C, backend: str = "auto") -> np.ndarray:
    """Jaccard distance ``1 - J`` between labels, with a zero diagonal.

    Two labels without any data are at distance ``1`` (the largest: nothing says they go
    together); every label is at distance ``0`` from itself, seen or not.

    Parameters
    ----------
    C
        ``(L, L)`` co-occurrence matrix.
    backend
        ``"auto"``, ``"numpy"`` or ``"numba"``.

    Returns
    -------
    numpy.ndarray
        ``(L, L)`` ``float64`` symmetric dissimilarities in ``[0, 1]`` (for a symmetric
        ``C``).

    Examples
    --------
    >>> import numpy as np
    >>> jaccard_distance(np.array([[4., 2., 0.], [2., 3., 0.], [0., 0., 0.]]))
    array([[0. , 0.6, 1. ],
           [0.6, 0. , 1. ],
           [1. , 1. , 0. ]])
    """
    return _distance_from_similarity(jaccard(C, backend=backend))


def topk_similar(J, k: int, backend: str = "auto"):
    """The ``k`` most similar other labels of every label.

    Row ``i`` lists the labels ``j != i`` with the largest ``J[i, j]``, best first; equal
    values are ordered by lower column index. ``k`` larger than ``L - 1`` is clipped to
    ``L - 1``.

    Parameters
    ----------
    J
        ``(L, L)`` similarity matrix (e.g. from :func:`jaccard`), without NaN.
    k
        Number of neighbours per label, ``>= 0``.
    backend
        ``"auto"``, ``"numpy"`` or ``"numba"``.

    Returns
    -------
    indices : numpy.ndarray
        ``(L, min(k, L - 1))`` ``int64`` label columns.
    values : numpy.ndarray
        ``(L, min(k, L - 1))`` ``float64`` similarities, non-increasing along each row.

    Examples
    --------
    >>> import numpy as np
    >>> J = np.array([[1., .4, .4], [.4, 1., .1], [.4, .1, 1.]])
    >>> idx, val = topk_similar(J, 5)
    >>> idx.tolist(), val.tolist()
    ([[1, 2], [0, 2], [0, 1]], [[0.4, 0.4], [0.4, 0.1], [0.4, 0.1]])
    """
    _check_square(J, "J")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    L = J.shape[0]
    k = int(min(k, max(L - 1, 0)))
    chosen = resolve_backend(backend, J)
    if chosen in ("numpy", "numba"):
        J = np.asarray(J, dtype=np.float64)
        if np.isnan(J).any():
            raise ValueError("J contains NaN; the order of similarities is undefined")
        if chosen == "numpy":
            return _topk_numpy(J, k)
        return _topk_numba(J, k)
    raise _not_yet(chosen, "topk_similar")
