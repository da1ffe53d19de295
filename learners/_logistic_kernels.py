"""numba kernels of :class:`learners.logistic.LogisticBinaryRelevance`.

Rows arrive in CSR form (``x_ptr``, ``x_idx``, ``x_val``): only present features. The
feature transform is mean/std standardisation (``center=True``; an absent feature is
missing and contributes 0, i.e. mean imputation) or scaling by the running root mean
square (``center=False``; for sparse data, where absent means 0 and sparsity must be
kept). Weights learn by per-coordinate AdaGrad on the logistic loss with L2.
"""

from __future__ import annotations

import math

import numpy as np
from stream.kernels.jit import njit


@njit(cache=True, nogil=True, inline="always")
def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True, nogil=True, inline="always")
def _f1(n_true, n_pred, inter):
    if n_true + n_pred == 0:
        return 1.0
    return 2.0 * inter / (n_true + n_pred)


@njit(cache=True, nogil=True, inline="always")
def _standardise(j, v, center, f_count, f_mean, f_m2, f_sumsq, n_total):
    if center:
        c = f_count[j]
        if c < 2:
            return 0.0
        var = f_m2[j] / (c - 1)
        if var <= 1e-12:
            return 0.0
        return (v - f_mean[j]) / math.sqrt(var)
    if n_total < 1 or f_sumsq[j] <= 1e-24:
        return 0.0
    return v / math.sqrt(f_sumsq[j] / n_total)


@njit(cache=True, nogil=True, inline="always")
def robust_weight(p, robust):
    """Weight of a negative label's step under the ``robust`` option: ``1 - robust * p``.

    ``p`` is the model's probability that the label is present: a confident
    disagreement (``p`` near 1: probably a positive missing from the record) gets a small
    step, an agreement (``p`` near 0) the full one. ``robust=0`` gives 1 (off).

    Examples
    --------
    >>> robust_weight(0.9, 0.5), robust_weight(0.1, 0.5), robust_weight(0.9, 0.0)
    (0.55, 0.95, 1.0)
    """
    return 1.0 - robust * p


@njit(cache=True, nogil=True)
def _scores_row(k0, k1, x_idx, x_val, W, b, n_labels, center, f_count, f_mean, f_m2,
                f_sumsq, n_total, s, out):
    for l in range(n_labels):
        out[l] = b[l]
    for k in range(k0, k1):
        j = x_idx[k]
        sj = _standardise(j, x_val[k], center, f_count, f_mean, f_m2, f_sumsq, n_total)
        s[k - k0] = sj
        if sj != 0.0:
            for l in range(n_labels):
                out[l] += W[j, l] * sj
    for l in range(n_labels):
        out[l] = _sigmoid(out[l])


@njit(cache=True, nogil=True)
def predict_batch(x_ptr, x_idx, x_val, W, b, n_labels, center, f_count, f_mean, f_m2,
                  f_sumsq, n_total):
    n = len(x_ptr) - 1
    P = np.zeros((n, n_labels))
    width = 1
    for i in range(n):
        width = max(width, x_ptr[i + 1] - x_ptr[i])
    s = np.zeros(width)
    for i in range(n):
        _scores_row(x_ptr[i], x_ptr[i + 1], x_idx, x_val, W, b, n_labels, center, f_count,
                    f_mean, f_m2, f_sumsq, n_total, s, P[i])
    return P


@njit(cache=True, nogil=True)
def save_label_columns(k0, k1, x_idx, labs, W, G, keep):
    """Copy ``W[j, l]`` and ``G[j, l]`` for the row's features ``j`` and labels ``labs``
    into ``keep`` (``(2, len(labs), k1 - k0)``), so that :func:`restore_label_columns`
    can undo an update of those labels (unknown labels learn nothing)."""
    for q in range(labs.size):
        l = labs[q]
        for k in range(k0, k1):
            j = x_idx[k]
            keep[0, q, k - k0] = W[j, l]
            keep[1, q, k - k0] = G[j, l]


@njit(cache=True, nogil=True)
def restore_label_columns(k0, k1, x_idx, labs, W, G, keep):
    """Undo :func:`save_label_columns` (in reverse order, so a feature listed twice in
    the row gets its first saved value back)."""
    for q in range(labs.size):
        l = labs[q]
        for k in range(k1 - 1, k0 - 1, -1):
            j = x_idx[k]
            W[j, l] = keep[0, q, k - k0]
            G[j, l] = keep[1, q, k - k0]


@njit(cache=True, nogil=True)
def learn_batch(x_ptr, x_idx, x_val, y_ptr, y_idx, W, b, G, Gb, n_labels, center, f_count,
                f_mean, f_m2, f_sumsq, n_total, lr, l2, ofo_a, ofo_b, thr_grid, thr_score,
                thr_fade, u_ptr, u_idx, robust=0.0):
    """Update feature statistics, OFO threshold counts and weights, row by row.

    Returns the new total record count. ``ofo_a`` / ``ofo_b`` accumulate, per label,
    sum(y*yhat) and sum(y)+sum(yhat) with yhat made at the threshold in force, as in
    online F-measure optimisation (Busa-Fekete et al., 2015). ``thr_score[c]`` is the
    faded sum of the example-F1 that global threshold ``thr_grid[c]`` would have scored on
    each record, predicted before the record is learned (so it never sees its own label).

    ``u_ptr`` / ``u_idx`` list each row's unknown labels (CSR, sorted columns; all rows
    empty on a clean stream, which then runs exactly as without them): an unknown label
    is left out of the threshold scores (as if neither predicted nor true) and its
    weights, bias, AdaGrad sums and OFO counts are left as they were.

    ``robust`` (``r`` in ``[0, 1]``; 0 = off, the plain logistic step): a label the record
    says is absent takes a step weighted ``1 - r * p`` (``p`` its predicted probability),
    so a confident disagreement -- likely a missing positive -- pulls the model down less
    (:func:`robust_weight`). Positives always take the full step.
    """
    n = len(x_ptr) - 1
    width = 1
    for i in range(n):
        width = max(width, x_ptr[i + 1] - x_ptr[i])
    s = np.zeros(width)
    p = np.zeros(n_labels)
    y = np.zeros(n_labels)
    for i in range(n):
        n_total = _learn_row(x_ptr[i], x_ptr[i + 1], x_idx, x_val, y_ptr[i], y_ptr[i + 1],
                             y_idx, u_ptr[i], u_ptr[i + 1], u_idx, W, b, G, Gb, n_labels,
                             center, f_count, f_mean, f_m2, f_sumsq, n_total, lr, l2,
                             ofo_a, ofo_b, thr_grid, thr_score, thr_fade, robust, s, p, y)
    return n_total


@njit(cache=True, nogil=True)
def predict_learn_batch(x_ptr, x_idx, x_val, y_ptr, y_idx, W, b, G, Gb, n_labels, center,
                        f_count, f_mean, f_m2, f_sumsq, n_total, lr, l2, ofo_a, ofo_b,
                        thr_grid, thr_score, thr_fade, u_ptr, u_idx, robust, thr_mode,
                        thr_fixed):
    """Test-then-train, row by row: predict each row from the model as the rows before
    left it, then learn it as :func:`learn_batch` does (same labels throughout).

    The prediction is that of :func:`predict_batch` on one row, decided by the threshold
    in force before the row: ``thr_mode`` 0 the best of ``thr_grid`` by ``thr_score``
    (the middle one before any record), 1 the OFO threshold per label (0.5 before its
    first count), 2 ``thr_fixed``. Returns ``(n_total, P, S)``: booleans and
    probabilities, ``(rows, n_labels)``.
    """
    n = len(x_ptr) - 1
    width = 1
    for i in range(n):
        width = max(width, x_ptr[i + 1] - x_ptr[i])
    s = np.zeros(width)
    p = np.zeros(n_labels)
    y = np.zeros(n_labels)
    S = np.zeros((n, n_labels))
    P = np.zeros((n, n_labels), dtype=np.bool_)
    for i in range(n):
        k0, k1 = x_ptr[i], x_ptr[i + 1]
        _scores_row(k0, k1, x_idx, x_val, W, b, n_labels, center, f_count, f_mean, f_m2,
                    f_sumsq, n_total, s, S[i])
        if thr_mode == 0:
            best = len(thr_grid) // 2
            if n_total > 0:
                best = 0
                for c in range(1, len(thr_grid)):
                    if thr_score[c] > thr_score[best]:
                        best = c
            for l in range(n_labels):
                P[i, l] = S[i, l] > thr_grid[best]
        elif thr_mode == 1:
            for l in range(n_labels):
                theta = ofo_a[l] / ofo_b[l] if ofo_b[l] > 0 else 0.5
                P[i, l] = S[i, l] > theta
        else:
            for l in range(n_labels):
                P[i, l] = S[i, l] > thr_fixed
        n_total = _learn_row(k0, k1, x_idx, x_val, y_ptr[i], y_ptr[i + 1], y_idx, u_ptr[i],
                             u_ptr[i + 1], u_idx, W, b, G, Gb, n_labels, center, f_count,
                             f_mean, f_m2, f_sumsq, n_total, lr, l2, ofo_a, ofo_b, thr_grid,
                             thr_score, thr_fade, robust, s, p, y)
    return n_total, P, S


@njit(cache=True, nogil=True)
def _learn_row(k0, k1, x_idx, x_val, y0, y1, y_idx, u0, u1, u_idx, W, b, G, Gb, n_labels,
               center, f_count, f_mean, f_m2, f_sumsq, n_total, lr, l2, ofo_a, ofo_b,
               thr_grid, thr_score, thr_fade, robust, s, p, y):
    """One row of :func:`learn_batch` (scratch ``s``, ``p``, ``y``); the new count."""
    n_total += 1
    for k in range(k0, k1):
        j = x_idx[k]
        v = x_val[k]
        f_count[j] += 1
        delta = v - f_mean[j]
        f_mean[j] += delta / f_count[j]
        f_m2[j] += delta * (v - f_mean[j])
        f_sumsq[j] += v * v
    _scores_row(k0, k1, x_idx, x_val, W, b, n_labels, center, f_count, f_mean, f_m2,
                f_sumsq, n_total, s, p)
    for l in range(n_labels):
        y[l] = 0.0
    for k in range(y0, y1):
        y[y_idx[k]] = 1.0
    n_true = y1 - y0
    labs = u_idx[u0:u1]
    keep = np.empty((2, u1 - u0, k1 - k0))
    keep_l = np.empty((4, u1 - u0))
    if u1 > u0:
        save_label_columns(k0, k1, x_idx, labs, W, G, keep)
        for q in range(labs.size):
            l = labs[q]
            keep_l[0, q] = b[l]
            keep_l[1, q] = Gb[l]
            keep_l[2, q] = ofo_a[l]
            keep_l[3, q] = ofo_b[l]
            p[l] = -1.0  # never above a threshold: scored as neither predicted nor true
    for c in range(len(thr_grid)):
        n_pred = 0
        inter = 0
        for l in range(n_labels):
            if p[l] > thr_grid[c]:
                n_pred += 1
                if y[l] > 0.0:
                    inter += 1
        f1 = _f1(n_true, n_pred, inter)
        thr_score[c] = thr_score[c] * thr_fade + f1
    for l in range(n_labels):
        theta = ofo_a[l] / ofo_b[l] if ofo_b[l] > 0 else 0.5
        yhat = 1.0 if p[l] > theta else 0.0
        ofo_a[l] += y[l] * yhat
        ofo_b[l] += y[l] + yhat
        g = p[l] - y[l]
        if robust > 0.0 and y[l] == 0.0:
            g *= robust_weight(p[l], robust)
        p[l] = g  # reuse as the gradient
        Gb[l] += g * g
        b[l] -= lr * g / math.sqrt(Gb[l] + 1e-8)
    for k in range(k0, k1):
        j = x_idx[k]
        sj = s[k - k0]
        if sj == 0.0:
            continue
        for l in range(n_labels):
            grad = p[l] * sj + l2 * W[j, l]
            G[j, l] += grad * grad
            W[j, l] -= lr * grad / math.sqrt(G[j, l] + 1e-8)
    if u1 > u0:
        restore_label_columns(k0, k1, x_idx, labs, W, G, keep)
        for q in range(labs.size):
            l = labs[q]
            b[l] = keep_l[0, q]
            Gb[l] = keep_l[1, q]
            ofo_a[l] = keep_l[2, q]
            ofo_b[l] = keep_l[3, q]
    return n_total
