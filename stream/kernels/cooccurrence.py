"""Label co-occurrence counts, Jaccard similarity and the most similar labels.

A batch of ``n`` records is given in CSR form: record ``r``'s positive label columns are
``indices[indptr[r]:indptr[r+1]]``. The co-occurrence matrix ``C`` (``L x L``) holds, for
every ordered pair of labels ``(i, j)``, the (weighted) number of records that contain
both; its diagonal ``C[i, i]`` is the number of records that contain label ``i``. From it:

* Jaccard similarity ``J[i, j] = C[i, j] / (C[i, i] + C[j, j] - C[i, j])``, the number of
  records with both labels over the number with either;
* Jaccard distance ``1 - J`` (the dissimilarity iHOMER clusters labels with);
* the ``k`` most similar other labels of every label.

Two layouts of ``C``:

* **dense** (:func:`cooccurrence_update`, :func:`jaccard`, :func:`topk_similar`): an
  ``(L, L)`` array, ``8 L^2`` bytes in ``float64`` (the default: fading factors and
  per-record weights), ``4 L^2`` bytes in ``float32`` / ``int32`` (plain counts, exact up
  to ``2**24`` / ``2**31`` records). ``float64`` sums of integer weights stay exact up to
  ``2**53``.
* **sparse** (:func:`cooccurrence_pairs`, :func:`jaccard_pairs`,
  :func:`topk_similar_sparse`): only the pairs that occur, as COO triples or a CSR matrix,
  for label spaces whose ``L x L`` matrix does not fit (see :mod:`stream.cooccurrence` for
  the memory plan and :class:`stream.sparse_cooccurrence.SparseCooccurrence` for the
  rolling store built on these kernels).

Rolling statistics are ``update`` / ``revert`` pairs: a sliding window adds the records
that enter with ``weight=1`` and the records that leave with ``weight=-1`` (see
:class:`stream.cooccurrence.RollingCooccurrence`).

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
* top-k: ties are broken by the lower column; a label with fewer than ``k`` positive
  similarities is completed with the lowest-numbered other labels at similarity 0, so the
  sparse and dense top-k agree entry for entry;
* an index outside ``[0, L)``, a non-square ``C``, an unsupported ``C`` dtype, a read-only
  ``C``, non-integer weights for an integer ``C`` or a NaN in ``J`` raise ``ValueError``
  in the wrappers; the private kernels validate nothing.

Backends: ``numpy`` is the reference (for the dense update a dense ``n x L`` indicator
matrix ``Y`` and ``C += Y.T @ (w * Y)``: obviously right, ``O(n L^2)`` time, ``O(n L)``
memory); ``numba`` is the fast path (``O(sum of labels per record squared)``, one scratch
row of ``L`` flags; Jaccard in one fused pass); ``cupy`` runs the array-generic kernels
(``_*_xp``, written against an array module ``xp``) with ``xp=cupy``, plus one fused
``ElementwiseKernel`` for the dense Jaccard. The generic kernels are tested with
``xp=numpy`` on every machine, the CuPy runs where a GPU is present.
"""

from __future__ import annotations

import numpy as np
from stream.kernels.jit import njit

from stream.kernels._backend import (
    argsort_stable,
    array_namespace,
    as_index_array,
    check_csr,
    is_cupy_array,
    resolve_backend,
    segment_ids,
)

__all__ = [
    "COUNT_DTYPES",
    "cooccurrence_pairs",
    "cooccurrence_update",
    "jaccard",
    "jaccard_distance",
    "jaccard_pairs",
    "topk_similar",
    "topk_similar_sparse",
]

#: dtypes a dense co-occurrence matrix may have (itemsize 8 or 4 bytes per cell)
COUNT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int64),
                np.dtype(np.int32))
_TOPK_INSERTION_MAX = 32  # numba top-k: insertion into a sorted buffer up to this k
_KEY_SHIFT = 32  # pair key i * 2**32 + j: labels below 2**31
_MAX_LABEL = 2**31 - 1
_CHUNK_ELEMENTS = 1 << 21  # generic top-k: rows per block so that a block has ~2M cells


# ----------------------------------------------------------------------------- update


def _update_numpy(C, indptr, indices, weights):
    n, L = len(indptr) - 1, C.shape[0]
    if n == 0 or L == 0:
        return
    Y = np.zeros((n, L), dtype=np.float64)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    Y[rows, indices] = 1.0  # a repeated column sets the same cell: it counts once
    C += (Y.T @ (Y * weights[:, None])).astype(C.dtype, copy=False)


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


def _update_xp(xp, C, indptr, indices, weights):
    """Array-generic update: the batch's summed pairs, then one gather-add-scatter.

    The pairs are unique after :func:`_pairs_xp`, so ``C[rows, cols] += vals`` needs no
    atomic adds.
    """
    rows, cols, vals = _pairs_xp(xp, indptr, indices, weights)
    if rows.size:
        C[rows, cols] += vals.astype(C.dtype, copy=False)


# ------------------------------------------------------------------------------ pairs


def _pairs_xp(xp, indptr, indices, weights):
    """Summed co-occurrence pairs of a batch, sorted by (row, col), each pair once.

    Dedups each record's columns with one sort of ``record * 2**32 + column`` keys,
    expands every record's ``m`` labels to its ``m * m`` ordered pairs with a
    ``searchsorted`` over the cumulative pair counts (``cupy.repeat`` takes no array of
    repeats), and sums equal pairs with ``bincount`` in record order.
    """
    n = indptr.shape[0] - 1
    nnz = indices.shape[0]
    empty_i = xp.zeros(0, dtype=np.int64)
    if n == 0 or nnz == 0:
        return empty_i, empty_i.copy(), xp.zeros(0, dtype=np.float64)
    rec = segment_ids(xp, indptr, nnz)
    key = xp.unique((rec << _KEY_SHIFT) + indices)
    rec = key >> _KEY_SHIFT
    col = key & ((1 << _KEY_SHIFT) - 1)
    m = xp.bincount(rec, minlength=n)
    start = xp.cumsum(m) - m
    npairs = m * m
    ends = xp.cumsum(npairs)
    P = int(ends[-1])
    pid = xp.arange(P, dtype=np.int64)
    prec = xp.searchsorted(ends, pid, side="right")
    t = pid - (ends[prec] - npairs[prec])
    mm = m[prec]
    base = start[prec]
    i = col[base + t // mm]
    j = col[base + t % mm]
    ukey, inv = xp.unique((i << _KEY_SHIFT) + j, return_inverse=True)
    vals = xp.bincount(inv.reshape(-1), weights=weights[prec], minlength=ukey.size)
    return ukey >> _KEY_SHIFT, ukey & ((1 << _KEY_SHIFT) - 1), vals.astype(np.float64)


@njit(cache=True, nogil=True)
def _pairs_numba(indptr, indices, weights, n_labels):
    n = len(indptr) - 1
    seen = np.zeros(n_labels, dtype=np.bool_)
    buf = np.empty(len(indices), dtype=np.int64)
    starts = np.zeros(n + 1, dtype=np.int64)
    total = 0
    for r in range(n):  # pass 1: the number of pairs
        m = 0
        for k in range(indptr[r], indptr[r + 1]):
            j = indices[k]
            if not seen[j]:
                seen[j] = True
                buf[m] = j
                m += 1
        for a in range(m):
            seen[buf[a]] = False
        total += m * m
        starts[r + 1] = total
    pi = np.empty(total, dtype=np.int64)
    pj = np.empty(total, dtype=np.int64)
    pw = np.empty(total, dtype=np.float64)
    for r in range(n):  # pass 2: emit them, record by record
        m = 0
        for k in range(indptr[r], indptr[r + 1]):
            j = indices[k]
            if not seen[j]:
                seen[j] = True
                buf[m] = j
                m += 1
        t = starts[r]
        for a in range(m):
            seen[buf[a]] = False
            for b in range(m):
                pi[t] = buf[a]
                pj[t] = buf[b]
                pw[t] = weights[r]
                t += 1
    # stable two-digit counting sort (by column, then by row): equal pairs stay in
    # record order, so their weights are summed in the same order as the generic kernel
    cnt = np.zeros(n_labels + 1, dtype=np.int64)
    for t in range(total):
        cnt[pj[t] + 1] += 1
    for c in range(n_labels):
        cnt[c + 1] += cnt[c]
    by_col = np.empty(total, dtype=np.int64)
    for t in range(total):
        by_col[cnt[pj[t]]] = t
        cnt[pj[t]] += 1
    cnt[:] = 0
    for t in range(total):
        cnt[pi[t] + 1] += 1
    for c in range(n_labels):
        cnt[c + 1] += cnt[c]
    order = np.empty(total, dtype=np.int64)
    for s in range(total):
        t = by_col[s]
        order[cnt[pi[t]]] = t
        cnt[pi[t]] += 1
    rows = np.empty(total, dtype=np.int64)
    cols = np.empty(total, dtype=np.int64)
    vals = np.empty(total, dtype=np.float64)
    u = -1
    for s in range(total):
        t = order[s]
        if u < 0 or pi[t] != rows[u] or pj[t] != cols[u]:
            u += 1
            rows[u] = pi[t]
            cols[u] = pj[t]
            vals[u] = 0.0
        vals[u] += pw[t]
    return rows[:u + 1].copy(), cols[:u + 1].copy(), vals[:u + 1].copy()


# ---------------------------------------------------------------------------- jaccard


def _jaccard_numpy(C):
    d = np.diagonal(C)
    denom = d[:, None] + d[None, :] - C
    return np.divide(C, denom, out=np.zeros(C.shape, dtype=np.float64), where=denom > 0)


@njit(cache=True, nogil=True)
def _jaccard_numba(C, J):
    # one fused pass, C read once and J written once; the select (not a branch around
    # the store) lets LLVM vectorise the loop. J comes from numpy (np.empty): numpy
    # advises transparent huge pages for large arrays, which saves most of the page
    # faults of a fresh L x L output (4x faster at L = 10,000 than numba's own allocation)
    L = C.shape[0]
    d = np.empty(L, dtype=np.float64)
    for i in range(L):
        d[i] = C[i, i]
    for i in range(L):
        di = d[i]
        for j in range(L):
            c = C[i, j]
            den = di + d[j] - c
            J[i, j] = c / den if den > 0 else 0.0
    return J


def _jaccard_xp(xp, C):
    """Array-generic Jaccard (``C`` float64): the reference, with ``where`` for ``out=``."""
    d = xp.diagonal(C)
    denom = d[:, None] + d[None, :] - C
    pos = denom > 0
    return xp.where(pos, C / xp.where(pos, denom, 1.0), 0.0)


_CUPY_KERNELS: dict = {}


def _jaccard_cupy(C):
    """Fused CuPy Jaccard: one read of ``C``, one write of ``J`` (GPU only)."""
    cp = array_namespace(C)
    kernel = _CUPY_KERNELS.get("jaccard")
    if kernel is None:
        kernel = cp.ElementwiseKernel(
            "float64 c, float64 di, float64 dj", "float64 j",
            "double den = di + dj - c; j = den > 0 ? c / den : 0.0;",
            "labelstream_jaccard")
        _CUPY_KERNELS["jaccard"] = kernel
    d = cp.ascontiguousarray(cp.diagonal(C))
    return kernel(C, d[:, None], d[None, :])


def _jaccard_pairs_xp(xp, rows, cols, counts, diagonal):
    denom = diagonal[rows] + diagonal[cols] - counts
    pos = denom > 0
    return xp.where(pos, counts / xp.where(pos, denom, 1.0), 0.0)


@njit(cache=True, nogil=True)
def _jaccard_pairs_numba(rows, cols, counts, diagonal):
    out = np.empty(len(rows), dtype=np.float64)
    for t in range(len(rows)):
        c = counts[t]
        den = diagonal[rows[t]] + diagonal[cols[t]] - c
        out[t] = c / den if den > 0 else 0.0
    return out


def _distance_from_similarity(J):
    xp = array_namespace(J)
    D = 1.0 - J
    n = D.shape[0]
    D[xp.arange(n), xp.arange(n)] = 0.0  # fill_diagonal, in any array namespace
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


def _topk_block_xp(xp, block, row0, k):
    """Top-k of each row of ``block`` (rows ``row0 ..`` of an ``(L, L)`` matrix), the
    diagonal column excluded, ties by lower column: the reference, generic and blocked."""
    b, L = block.shape
    c = xp.arange(L - 1, dtype=np.int64)[None, :]
    i = xp.arange(row0, row0 + b, dtype=np.int64)[:, None]
    others = c + (c >= i)
    vals = xp.take_along_axis(block, others, axis=1)
    order = argsort_stable(xp, 0.0 - vals, axis=1)[:, :k]  # 0.0 - v: no -0.0 keys
    return (xp.take_along_axis(others, order, axis=1),
            xp.take_along_axis(vals, order, axis=1).astype(np.float64))


def _topk_xp(xp, J, k, chunk_elements=_CHUNK_ELEMENTS):
    L = J.shape[0]
    idx = xp.zeros((L, k), dtype=np.int64)
    val = xp.zeros((L, k), dtype=np.float64)
    if L == 0 or k == 0:
        return idx, val
    step = max(1, chunk_elements // L)
    for r0 in range(0, L, step):
        r1 = min(L, r0 + step)
        idx[r0:r1], val[r0:r1] = _topk_block_xp(xp, J[r0:r1], r0, k)
    return idx, val


@njit(cache=True, nogil=True, inline="always")
def _topk_insert(idx, val, i, m, k, j, v):
    """Insert (j, v) into row i's slots sorted by decreasing value (ties: the earlier,
    lower column stays first); returns the new number of filled slots."""
    p = m if m < k else k - 1
    while p > 0 and val[i, p - 1] < v:
        if p < k:
            val[i, p] = val[i, p - 1]
            idx[i, p] = idx[i, p - 1]
        p -= 1
    val[i, p] = v
    idx[i, p] = j
    return m + 1 if m < k else m


@njit(cache=True, nogil=True)
def _topk_numba(J, k):
    L = J.shape[0]
    idx = np.zeros((L, k), dtype=np.int64)
    val = np.zeros((L, k), dtype=np.float64)
    if k == 0:
        return idx, val
    if k <= _TOPK_INSERTION_MAX:
        for i in range(L):
            m = 0  # filled slots
            worst = -np.inf  # the value to beat once the k slots are full
            for half in range(2):  # the columns before i, then after it
                lo = 0 if half == 0 else i + 1
                hi = i if half == 0 else L
                for j in range(lo, hi):
                    v = J[i, j]
                    if m == k and not v > worst:
                        continue  # not better than the worst kept (ties: the lower index stays)
                    m = _topk_insert(idx, val, i, m, k, j, v)
                    if m == k:
                        worst = val[i, k - 1]
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


def _topk_sparse_numpy(indptr, indices, values, k, chunk_elements=_CHUNK_ELEMENTS):
    """Reference: densify blocks of rows and take the dense reference's top-k."""
    return _topk_sparse_dense_xp(np, indptr, indices, values, k, chunk_elements)


def _topk_sparse_dense_xp(xp, indptr, indices, values, k, chunk_elements=_CHUNK_ELEMENTS):
    L = indptr.shape[0] - 1
    idx = xp.zeros((L, k), dtype=np.int64)
    val = xp.zeros((L, k), dtype=np.float64)
    if L == 0 or k == 0:
        return idx, val
    step = max(1, chunk_elements // L)
    for r0 in range(0, L, step):
        r1 = min(L, r0 + step)
        lo, hi = int(indptr[r0]), int(indptr[r1])
        block = xp.zeros((r1 - r0, L), dtype=np.float64)
        rows = segment_ids(xp, indptr[r0:r1 + 1] - lo, hi - lo)
        block[rows, indices[lo:hi]] = values[lo:hi]
        idx[r0:r1], val[r0:r1] = _topk_block_xp(xp, block, r0, k)
    return idx, val


def _topk_sparse_xp(xp, indptr, indices, values, k, chunk_elements=_CHUNK_ELEMENTS):
    """Array-generic sparse top-k: two stable sorts of the stored entries, then a fill.

    The positive off-diagonal entries are sorted by value (descending) and then, stably,
    by row: within a row the order is value descending, column ascending (the CSR order).
    A row with ``p < k`` positives is completed with the lowest columns that are neither
    the row itself nor positive; the first ``k - p`` of them all lie below ``k + 1``.
    """
    L = indptr.shape[0] - 1
    idx = xp.zeros((L, k), dtype=np.int64)
    val = xp.zeros((L, k), dtype=np.float64)
    if L == 0 or k == 0:
        return idx, val
    rows = segment_ids(xp, indptr, indices.shape[0])
    keep = (values > 0) & (indices != rows)
    r, c, v = rows[keep], indices[keep], values[keep]
    pos_keys = r * L + c  # sorted: CSR rows with increasing columns
    o = argsort_stable(xp, 0.0 - v)
    r, c, v = r[o], c[o], v[o]
    o = argsort_stable(xp, r)
    r, c, v = r[o], c[o], v[o]
    npos = xp.bincount(r, minlength=L) if r.size else xp.zeros(L, dtype=np.int64)
    rank = xp.arange(r.size, dtype=np.int64) - (xp.cumsum(npos) - npos)[r]
    sel = rank < k
    idx[r[sel], rank[sel]] = c[sel]
    val[r[sel], rank[sel]] = v[sel]
    filled = xp.minimum(npos, k)
    B = min(k + 1, L)
    step = max(1, chunk_elements // B)
    j = xp.arange(B, dtype=np.int64)[None, :]
    for r0 in range(0, L, step):
        r1 = min(L, r0 + step)
        i = xp.arange(r0, r1, dtype=np.int64)[:, None]
        ok = j != i
        if pos_keys.size:
            cand = i * L + j
            at = xp.minimum(xp.searchsorted(pos_keys, cand), pos_keys.size - 1)
            ok &= pos_keys[at] != cand
        slot = xp.cumsum(ok, axis=1) - 1 + filled[r0:r1, None]
        ok &= slot < k
        ii = xp.broadcast_to(i, ok.shape)[ok]
        idx[ii, slot[ok]] = xp.broadcast_to(j, ok.shape)[ok]
    return idx, val


@njit(cache=True, nogil=True)
def _topk_sparse_numba(indptr, indices, values, k):
    L = len(indptr) - 1
    idx = np.zeros((L, k), dtype=np.int64)
    val = np.zeros((L, k), dtype=np.float64)
    if k == 0:
        return idx, val
    for i in range(L):
        lo, hi = indptr[i], indptr[i + 1]
        m = 0
        if k <= _TOPK_INSERTION_MAX:
            for s in range(lo, hi):
                j = indices[s]
                v = values[s]
                if j == i or not v > 0:
                    continue
                if m == k and v <= val[i, k - 1]:
                    continue  # not better than the worst kept (ties: the lower index stays)
                m = _topk_insert(idx, val, i, m, k, j, v)
        else:
            npos = 0
            for s in range(lo, hi):
                if indices[s] != i and values[s] > 0:
                    npos += 1
            neg = np.empty(npos, dtype=np.float64)
            cols = np.empty(npos, dtype=np.int64)
            t = 0
            for s in range(lo, hi):
                if indices[s] != i and values[s] > 0:
                    neg[t] = -values[s]
                    cols[t] = indices[s]
                    t += 1
            order = np.argsort(neg, kind="mergesort")  # stable: ties by lower column
            m = min(k, npos)
            for t in range(m):
                idx[i, t] = cols[order[t]]
                val[i, t] = -neg[order[t]]
        # complete with similarity-0 labels: the lowest columns, not i, not positive
        s = lo
        j = 0
        while m < k:
            if j != i:
                while s < hi and indices[s] < j:
                    s += 1
                if not (s < hi and indices[s] == j and values[s] > 0):
                    idx[i, m] = j
                    val[i, m] = 0.0
                    m += 1
            j += 1
    return idx, val


# --------------------------------------------------------------------------- wrappers


def _check_square(M, name, writeable=False):
    if not isinstance(M, np.ndarray) and not is_cupy_array(M):
        raise ValueError(f"{name} must be an array, got {type(M).__name__}")
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square (L, L) array, got shape {M.shape}")
    if writeable:
        if M.dtype not in COUNT_DTYPES:
            raise ValueError(f"{name} must be float64 (counts with weights), float32, int64 "
                             f"or int32, got {M.dtype}")
        if isinstance(M, np.ndarray) and not M.flags.writeable:
            raise ValueError(f"{name} is read-only; it is updated in place")
    elif not (np.issubdtype(M.dtype, np.floating) or np.issubdtype(M.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {M.dtype}")


def _same_namespace(xp, arrays, what):
    """Index arrays on the GPU with a host matrix (or the reverse) are refused: the kernels
    never copy device data to the host behind the caller's back."""
    if xp is np and any(is_cupy_array(a) for a in arrays):
        raise ValueError(f"{what} is a host array but some inputs are CuPy arrays; move "
                         "them with cupy.asnumpy, or put the matrix on the GPU")


def _weights(weight, n, xp, dtype):
    w = xp.asarray(weight, dtype=np.float64)
    if w.ndim == 0:
        w = xp.full(n, float(w), dtype=np.float64)
    elif w.shape != (n,):
        raise ValueError(f"weight must be a number or an array of {n} per-record weights, "
                         f"got shape {w.shape}")
    if np.issubdtype(dtype, np.integer):
        if w.size and not bool(xp.all(w == xp.floor(w))):
            raise ValueError(f"an integer matrix ({dtype}) takes integer weights only")
        return w.astype(dtype)
    return w


def _gpu(backend_name, *arrays):
    return array_namespace(*arrays) if backend_name == "cupy" else np


def cooccurrence_update(C, indptr, indices, weight=1.0, backend: str = "auto") -> None:
    """Add a batch of label sets to a co-occurrence matrix, in place.

    For every record and every ordered pair ``(i, j)`` of its labels, diagonal included,
    ``C[i, j] += weight`` (so ``C[i, i]`` counts the records with label ``i``). See the
    module docstring for the edge cases.

    Parameters
    ----------
    C
        The ``(L, L)`` co-occurrence matrix, updated in place: ``float64`` (any weights),
        ``float32`` (half the memory; integer counts exact up to ``2**24``), ``int32`` or
        ``int64`` (integer weights only). A CuPy array runs on the GPU; the batch may
        then be host arrays or lists (copied to the device, a few kB).
    indptr, indices
        The records in CSR form (``indptr`` of length ``n + 1``); every index in
        ``[0, L)``, any order within a record, a repeat within a record counts once.
    weight
        A number added for every pair (``1`` counts, ``-1`` reverts a record that leaves a
        sliding window), or one weight per record (array of length ``n``).
    backend
        ``"auto"`` (CuPy for a CuPy ``C``, numba otherwise), ``"numpy"`` (reference),
        ``"numba"`` or ``"cupy"``.

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
    >>> C32 = np.zeros((3, 3), dtype=np.int32)             # 4 bytes a cell
    >>> cooccurrence_update(C32, [0, 2], [0, 1], weight=2)
    >>> C32[0].tolist()
    [2, 2, 0]
    """
    _check_square(C, "C", writeable=True)
    chosen = resolve_backend(backend, C)
    xp = _gpu(chosen, C)
    _same_namespace(xp, (indptr, indices, weight), "C")
    ptr, idx = check_csr(indptr, indices, C.shape[0], xp=xp)
    w = _weights(weight, ptr.size - 1, xp, C.dtype)
    if chosen == "numpy":
        _update_numpy(C, ptr, idx, w)
    elif chosen == "numba":
        _update_numba(C, ptr, idx, w)
    else:
        _update_xp(xp, C, ptr, idx, w)


def cooccurrence_pairs(indptr, indices, weight=1.0, n_labels: int | None = None,
                       backend: str = "auto"):
    """The co-occurrence counts a batch adds, as sorted COO triples (the sparse update).

    The non-zero pattern of what :func:`cooccurrence_update` would add to a dense ``C``:
    every ordered pair ``(i, j)`` (diagonal included) that occurs in some record, once,
    with the sum of the weights of the records holding it. Cost ``O(pairs + L)``, memory
    ``O(pairs)``: no ``L x L`` array, so it serves label spaces of any size (labels
    below ``2**31``).

    Parameters
    ----------
    indptr, indices
        The records in CSR form; a repeat within a record counts once.
    weight
        A number for every record, or one weight per record.
    n_labels
        Columns are checked to lie below it (default: no upper check beyond ``2**31``).
    backend
        ``"auto"`` (CuPy for CuPy inputs, numba otherwise), ``"numpy"`` (reference),
        ``"numba"`` or ``"cupy"``.

    Returns
    -------
    rows, cols : array of int64
        The pairs, sorted by ``(row, col)``, each pair once; symmetric.
    values : array of float64
        The summed weights (``0`` where the weights of a pair cancel). In the namespace
        of the inputs.

    Examples
    --------
    >>> r, c, v = cooccurrence_pairs([0, 2, 4], [0, 2, 2, 0])   # {0, 2} twice
    >>> r.tolist(), c.tolist(), v.tolist()
    ([0, 0, 2, 2], [0, 2, 0, 2], [2.0, 2.0, 2.0, 2.0])
    """
    chosen = resolve_backend(backend, indptr, indices, weight)
    xp = _gpu(chosen, indptr, indices, weight)
    limit = _MAX_LABEL + 1 if n_labels is None else int(n_labels)
    if limit < 0 or limit > _MAX_LABEL + 1:
        raise ValueError(f"n_labels must lie in [0, 2**31], got {n_labels}")
    ptr, idx = check_csr(indptr, indices, limit, xp=xp)
    w = _weights(weight, ptr.size - 1, xp, np.dtype(np.float64))
    if chosen == "numba":
        width = int(idx.max()) + 1 if idx.size else 0
        return _pairs_numba(ptr, idx, w, width)
    return _pairs_xp(xp, ptr, idx, w)


def jaccard(C, backend: str = "auto"):
    """Jaccard similarity of every pair of labels from their co-occurrence matrix.

    ``J[i, j] = C[i, j] / (C[i, i] + C[j, j] - C[i, j])``, ``0`` where the denominator is
    ``0`` (neither label seen); ``J[i, i]`` is ``1`` for a label seen at least once and
    ``0`` otherwise. The result does not change when ``C`` is scaled, so a faded or
    lazily scaled ``C`` gives the right ``J``.

    Parameters
    ----------
    C
        ``(L, L)`` co-occurrence matrix (integers or floats; NumPy or CuPy).
    backend
        ``"auto"``, ``"numpy"``, ``"numba"`` or ``"cupy"``.

    Returns
    -------
    array
        ``(L, L)`` ``float64``, in ``[0, 1]`` for a valid ``C``, in the namespace of ``C``.

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
    if chosen == "numba":  # compiled per count dtype: no float64 copy of an int32 C
        C = C if C.dtype in COUNT_DTYPES else C.astype(np.float64)
        return _jaccard_numba(C, np.empty(C.shape, dtype=np.float64))
    return _jaccard_cupy(C.astype(np.float64, copy=False))


def jaccard_distance(C, backend: str = "auto"):
    """Jaccard distance ``1 - J`` between labels, with a zero diagonal.

    Two labels without any data are at distance ``1`` (the largest: nothing says they go
    together); every label is at distance ``0`` from itself, seen or not.

    Parameters
    ----------
    C
        ``(L, L)`` co-occurrence matrix.
    backend
        ``"auto"``, ``"numpy"``, ``"numba"`` or ``"cupy"``.

    Returns
    -------
    array
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


def jaccard_pairs(rows, cols, counts, diagonal, backend: str = "auto"):
    """Jaccard similarity of chosen label pairs from their counts and the diagonal.

    ``J_t = counts[t] / (diagonal[rows[t]] + diagonal[cols[t]] - counts[t])``, ``0``
    where the denominator is not positive: the dense :func:`jaccard` at the listed
    entries, without an ``L x L`` array (e.g. on the triples of
    :func:`cooccurrence_pairs`).

    Parameters
    ----------
    rows, cols
        Integer label indices of the pairs, same length, each below ``len(diagonal)``.
    counts
        ``C[rows[t], cols[t]]`` for every pair.
    diagonal
        ``C[i, i]`` for every label ``i`` (length ``L``).
    backend
        ``"auto"``, ``"numpy"``, ``"numba"`` or ``"cupy"``.

    Returns
    -------
    array of float64
        One similarity per pair, in the namespace of the inputs.

    Examples
    --------
    >>> jaccard_pairs([0, 0, 2], [1, 0, 2], [2., 4., 0.], [4., 3., 0.]).tolist()
    [0.4, 1.0, 0.0]
    """
    chosen = resolve_backend(backend, rows, cols, counts, diagonal)
    xp = _gpu(chosen, rows, cols, counts, diagonal)
    d = xp.asarray(diagonal, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"diagonal must be one-dimensional, got shape {d.shape}")
    r = as_index_array(rows, "rows", xp)
    c = as_index_array(cols, "cols", xp)
    v = xp.asarray(counts, dtype=np.float64)
    if not (r.shape == c.shape == v.shape):
        raise ValueError(f"rows, cols and counts must have one shape, got {r.shape}, "
                         f"{c.shape}, {v.shape}")
    for a, name in ((r, "rows"), (c, "cols")):
        if a.size and (int(a.min()) < 0 or int(a.max()) >= d.size):
            raise ValueError(f"{name} must lie in [0, len(diagonal)={d.size})")
    if chosen == "numba":
        return _jaccard_pairs_numba(r, c, v, d)
    return _jaccard_pairs_xp(xp, r, c, v, d)


def _check_k(k, L):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    return int(min(k, max(L - 1, 0)))


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
        ``"auto"``, ``"numpy"``, ``"numba"`` or ``"cupy"``.

    Returns
    -------
    indices : array
        ``(L, min(k, L - 1))`` ``int64`` label columns.
    values : array
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
    L = J.shape[0]
    k = _check_k(k, L)
    chosen = resolve_backend(backend, J)
    xp = _gpu(chosen, J)
    J = xp.asarray(J, dtype=np.float64)
    if bool(xp.isnan(J).any()):
        raise ValueError("J contains NaN; the order of similarities is undefined")
    if chosen == "numpy":
        return _topk_numpy(J, k)
    if chosen == "numba":
        return _topk_numba(J, k)
    return _topk_xp(xp, J, k)


def topk_similar_sparse(indptr, indices, values, k: int, backend: str = "auto"):
    """:func:`topk_similar` of a sparse ``(L, L)`` similarity matrix in CSR form.

    Missing entries are similarity ``0``; the result equals ``topk_similar`` of the
    dense matrix entry for entry (a label with fewer than ``k`` positive similarities is
    completed with the lowest other columns at ``0``). Stored diagonal entries are
    ignored. Cost ``O(nnz + L k)`` with numba.

    Parameters
    ----------
    indptr, indices, values
        The matrix in CSR form: ``L = len(indptr) - 1`` rows, columns strictly increasing
        within a row, values ``>= 0`` and not NaN (e.g. Jaccard similarities).
    k
        Number of neighbours per label, ``>= 0`` (clipped to ``L - 1``).
    backend
        ``"auto"``, ``"numpy"`` (reference: densifies blocks of rows), ``"numba"`` or
        ``"cupy"``.

    Returns
    -------
    indices, values : arrays
        ``(L, min(k, L - 1))`` int64 columns and float64 similarities.

    Examples
    --------
    >>> idx, val = topk_similar_sparse([0, 1, 2, 2], [1, 0], [0.5, 0.5], 2)   # 3 labels
    >>> idx.tolist(), val.tolist()
    ([[1, 2], [0, 2], [0, 1]], [[0.5, 0.0], [0.5, 0.0], [0.0, 0.0]])
    """
    chosen = resolve_backend(backend, indptr, indices, values)
    xp = _gpu(chosen, indptr, indices, values)
    ptr = as_index_array(indptr, "indptr", xp)
    L = max(ptr.size - 1, 0)
    ptr, idx = check_csr(ptr, indices, L, xp=xp)
    v = xp.asarray(values, dtype=np.float64)
    if v.shape != idx.shape:
        raise ValueError(f"values must match indices, got shapes {v.shape} and {idx.shape}")
    if v.size and not bool(xp.all(v >= 0)):  # False for NaN too
        raise ValueError("values must be >= 0 and not NaN (similarities)")
    if idx.size > 1:
        rows = segment_ids(xp, ptr, idx.size)
        if bool(xp.any((idx[1:] <= idx[:-1]) & (rows[1:] == rows[:-1]))):
            raise ValueError("indices must be strictly increasing within each row")
    k = _check_k(k, L)
    if chosen == "numpy":
        return _topk_sparse_numpy(ptr, idx, v, k)
    if chosen == "numba":
        return _topk_sparse_numba(ptr, idx, v, k)
    return _topk_sparse_xp(xp, ptr, idx, v, k)
