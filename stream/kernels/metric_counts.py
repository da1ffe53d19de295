"""Prequential metric counts over a mini-batch of label sets.

A batch of ``n`` records is given in CSR form twice: the true label sets
(``true_indptr``, ``true_indices``) and the predicted ones (``pred_indptr``,
``pred_indices``); record ``i``'s labels are ``indices[indptr[i]:indptr[i+1]]``, column
numbers below ``n_labels``, without repeats. The kernel returns

* per record: ``n_true`` = |T|, ``n_pred`` = |P|, ``n_inter`` = |T ∩ P|;
* per label: ``tp``, ``fp``, ``fn`` counts over the batch (``tn`` follows from the
  number of records and is not stored, so the cost is O(labels per record), not O(L)).

Every example-based, micro and macro metric of :mod:`stream.metrics` derives from these.
Edge cases, each tested: an empty batch gives zero-length per-record arrays and zero
per-label counts; empty label sets are fine; an index outside ``[0, n_labels)`` raises
``ValueError`` in the wrapper (the private kernels validate nothing).

Backends: ``numpy`` is the reference (dense boolean matrices, obviously right, O(n L)
memory); ``numba`` is the fast path (one scratch row of L flags, O(nnz)); ``cupy`` runs
the array-generic kernel :func:`_metric_counts_xp` (sort the true ``(record, label)``
keys, look every predicted key up with ``searchsorted``, count with ``bincount``:
``O(nnz log nnz + L)``, no ``n x L`` array) with ``xp=cupy``; the tests run the same
generic kernel with ``xp=numpy``. Results stay in the namespace of the inputs.
"""

from __future__ import annotations

import numpy as np
from stream.kernels.jit import njit

from stream.kernels._backend import (
    array_namespace,
    check_csr,
    is_cupy_array,
    resolve_backend,
    segment_ids,
)

__all__ = ["metric_counts"]


def _metric_counts_numpy(t_ptr, t_idx, p_ptr, p_idx, n_labels):
    n = len(t_ptr) - 1
    truth = np.zeros((n, n_labels), dtype=bool)
    pred = np.zeros((n, n_labels), dtype=bool)
    t_rows = np.repeat(np.arange(n), np.diff(t_ptr))
    p_rows = np.repeat(np.arange(n), np.diff(p_ptr))
    truth[t_rows, t_idx] = True
    pred[p_rows, p_idx] = True
    inter = truth & pred
    n_true = truth.sum(axis=1).astype(np.int64)
    n_pred = pred.sum(axis=1).astype(np.int64)
    n_inter = inter.sum(axis=1).astype(np.int64)
    tp = inter.sum(axis=0).astype(np.int64)
    fp = (pred & ~truth).sum(axis=0).astype(np.int64)
    fn = (truth & ~pred).sum(axis=0).astype(np.int64)
    return n_true, n_pred, n_inter, tp, fp, fn


@njit(cache=True, nogil=True)
def _metric_counts_numba(t_ptr, t_idx, p_ptr, p_idx, n_labels):
    n = len(t_ptr) - 1
    n_true = np.zeros(n, dtype=np.int64)
    n_pred = np.zeros(n, dtype=np.int64)
    n_inter = np.zeros(n, dtype=np.int64)
    tp = np.zeros(n_labels, dtype=np.int64)
    fp = np.zeros(n_labels, dtype=np.int64)
    fn = np.zeros(n_labels, dtype=np.int64)
    in_truth = np.zeros(n_labels, dtype=np.bool_)
    for i in range(n):
        for k in range(t_ptr[i], t_ptr[i + 1]):
            in_truth[t_idx[k]] = True
        hits = 0
        for k in range(p_ptr[i], p_ptr[i + 1]):
            j = p_idx[k]
            if in_truth[j]:
                hits += 1
                tp[j] += 1
                in_truth[j] = False  # consumed: what stays True was missed
            else:
                fp[j] += 1
        for k in range(t_ptr[i], t_ptr[i + 1]):
            j = t_idx[k]
            if in_truth[j]:
                fn[j] += 1
                in_truth[j] = False
        n_true[i] = t_ptr[i + 1] - t_ptr[i]
        n_pred[i] = p_ptr[i + 1] - p_ptr[i]
        n_inter[i] = hits
    return n_true, n_pred, n_inter, tp, fp, fn


def _metric_counts_xp(xp, t_ptr, t_idx, p_ptr, p_idx, n_labels):
    """Array-generic counts: a predicted ``(record, label)`` is a hit when its key
    ``record * n_labels + label`` is among the sorted true keys."""
    n = t_ptr.shape[0] - 1
    n_true = (t_ptr[1:] - t_ptr[:-1]).astype(np.int64)
    n_pred = (p_ptr[1:] - p_ptr[:-1]).astype(np.int64)
    zeros_l = xp.zeros(n_labels, dtype=np.int64)
    if p_idx.size == 0:
        tp = zeros_l
        fp = zeros_l.copy()
        n_inter = xp.zeros(n, dtype=np.int64)
    else:
        p_rec = segment_ids(xp, p_ptr, p_idx.size)
        if t_idx.size:
            t_keys = xp.sort(segment_ids(xp, t_ptr, t_idx.size) * n_labels + t_idx)
            p_keys = p_rec * n_labels + p_idx
            at = xp.minimum(xp.searchsorted(t_keys, p_keys), t_keys.size - 1)
            hit = (t_keys[at] == p_keys).astype(np.int64)
        else:
            hit = xp.zeros(p_idx.size, dtype=np.int64)
        # integer bincount via a weight of 0/1 as float64: exact below 2**53
        tp = xp.bincount(p_idx, weights=hit.astype(np.float64),
                         minlength=n_labels).astype(np.int64)
        fp = xp.bincount(p_idx, minlength=n_labels).astype(np.int64) - tp
        n_inter = xp.bincount(p_rec, weights=hit.astype(np.float64),
                              minlength=n).astype(np.int64)
    if t_idx.size:
        fn = xp.bincount(t_idx, minlength=n_labels).astype(np.int64) - tp
    else:
        fn = zeros_l.copy()
    return n_true, n_pred, n_inter, tp, fp, fn


def metric_counts(true_indptr, true_indices, pred_indptr, pred_indices, n_labels,
                  backend: str = "auto"):
    """Per-record set sizes and per-label confusion counts for a batch.

    Parameters
    ----------
    true_indptr, true_indices
        True label sets in CSR form (``indptr`` of length n + 1).
    pred_indptr, pred_indices
        Predicted label sets in CSR form, same number of records.
    n_labels
        Number of label columns; every index must be below it.
    backend
        ``"auto"`` (CuPy when an input is a CuPy array, numba otherwise), ``"numpy"``
        (reference), ``"numba"`` or ``"cupy"``.

    Returns
    -------
    tuple of arrays
        ``(n_true, n_pred, n_inter, tp, fp, fn)``: three int64 arrays of length n and three
        of length ``n_labels``, in the namespace of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> out = metric_counts([0, 2, 2], [0, 1], [0, 1, 2], [1, 2], n_labels=3)
    >>> [a.tolist() for a in out]
    [[2, 0], [1, 1], [1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
    """
    n_labels = int(n_labels)
    if n_labels < 0:
        raise ValueError("n_labels must be >= 0")
    arrays = (true_indptr, true_indices, pred_indptr, pred_indices)
    chosen = resolve_backend(backend, *arrays)
    xp = array_namespace(*arrays) if chosen == "cupy" else np
    if xp is np and any(is_cupy_array(a) for a in arrays):  # pragma: no cover - GPU only
        raise ValueError("mixed host and CuPy inputs; move them to one side first")
    t_ptr, t_idx = check_csr(true_indptr, true_indices, n_labels, "true", xp=xp)
    p_ptr, p_idx = check_csr(pred_indptr, pred_indices, n_labels, "pred", xp=xp)
    if t_ptr.size != p_ptr.size:
        raise ValueError(
            f"truth has {t_ptr.size - 1} records but predictions have {p_ptr.size - 1}"
        )
    if chosen == "numpy":
        return _metric_counts_numpy(t_ptr, t_idx, p_ptr, p_idx, n_labels)
    if chosen == "numba":
        return _metric_counts_numba(t_ptr, t_idx, p_ptr, p_idx, n_labels)
    return _metric_counts_xp(xp, t_ptr, t_idx, p_ptr, p_idx, n_labels)
