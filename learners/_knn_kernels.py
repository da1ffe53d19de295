"""numba kernels of the streaming nearest-neighbour learner (:mod:`learners.knn`).

One kernel, :func:`step`, runs test-then-train over a block of CSR rows: each row is
predicted from the window as it stands after the rows before it, the online threshold
choice is scored on it, and then (``learn``) it joins the window, overwriting the oldest
record. The same call on one row is ``learn_one``, so the batched path is exact.

Distances are taken in the scaled space ``z``: ``center`` (dense input) standardises by
the running mean and standard deviation of every feature over all records learned (a
missing feature sits at its mean, ``z = 0``); otherwise (sparse input) ``z`` is the raw
value, absent = 0. Stored records keep their raw values and are scaled with the current
statistics at each query, so nothing has to be rewritten when the statistics move.

While it fits, the window is also kept feature-major (``rt[j, s]``: feature ``j`` of the
record in slot ``s`` as ``float32``, NaN where it has none), so a query sweeps contiguous
rows of slots instead of each stored record's CSR row. With the cosine distance (the
default) that sweep is a *screen*: float32 sums, eight lanes a vector, give every slot's
distance within a bound of their rounding, and only the slots whose lower bound reaches the
k-th smallest upper bound are measured exactly from their CSR rows -- so the neighbours,
votes and thresholds are exactly those of the CSR rows alone (tested, also with a mean
10^6 standard deviations from zero, empty records, missing features and duplicates).
Euclidean distances sweep the table in float64.
(Scaling stored records once per snapshot of the statistics instead was tried: 1.4x
faster on dense input, but stale scales cost genbase's neighbours 0.036 example-F1.)
"""

from __future__ import annotations

import numpy as np
from stream.kernels.jit import njit

EUCLIDEAN = 0
COSINE = 1


@njit(cache=True, nogil=True)
def _ex_f1(scores, cand, n_cand, thr, force, t_idx, t_a, t_b, u_idx, u_a, u_b):
    """Example-F1 of ``{l : scores[l] > thr}`` (plus the top label when ``force`` and the
    set is empty) against the positives ``t_idx[t_a:t_b]``; unknown labels left out.
    ``cand[:n_cand]`` are the labels with a positive score (sorted by label)."""
    n_pred = 0
    hits = 0
    top = -1
    top_s = 0.0
    for c in range(n_cand):
        lab = cand[c]
        unknown = False
        for q in range(u_a, u_b):
            if u_idx[q] == lab:
                unknown = True
                break
        if unknown:
            continue
        s = scores[lab]
        if s > top_s:
            top_s = s
            top = lab
        if s > thr:
            n_pred += 1
            for q in range(t_a, t_b):
                if t_idx[q] == lab:
                    hits += 1
                    break
    if n_pred == 0 and force and top >= 0:
        n_pred = 1
        for q in range(t_a, t_b):
            if t_idx[q] == top:
                hits = 1
                break
    size = n_pred + (t_b - t_a)
    if size == 0:
        return 1.0
    return 2.0 * hits / size


EPS32 = float(np.finfo(np.float32).eps)
ZERO32 = np.float32(0.0)


@njit(cache=True, nogil=True)
def _screen_sums(rt, nw, center, mu, isd, zq, x_idx, a, b, f_count, d, dots, norms):
    """Single-precision sums of the first ``nw`` slots for the cosine screen: the dot with
    the query (both layouts) and, when ``center``, each slot's squared norm in the scaled
    space. Eight float32 lanes a vector instead of four float64 ones; the slots that can be
    among the nearest are then measured exactly (see :func:`step`)."""
    for s in range(nw):
        dots[s] = ZERO32
        norms[s] = ZERO32
    if not center:
        for p in range(a, b):
            j = x_idx[p]
            if f_count[j] == 0.0:
                continue
            q = np.float32(zq[j])
            row = rt[j]
            for s in range(nw):
                v = row[s]
                dots[s] += v * q if v == v else ZERO32
        return
    j = 0
    while j < d:
        if f_count[j] == 0.0:  # no stored record has it: its row is all NaN
            j += 1
            continue
        if j + 4 <= d and f_count[j + 1] > 0.0 and f_count[j + 2] > 0.0 \
                and f_count[j + 3] > 0.0:
            m0, s0, q0 = np.float32(mu[j]), np.float32(isd[j]), np.float32(zq[j])
            m1, s1, q1 = np.float32(mu[j + 1]), np.float32(isd[j + 1]), np.float32(zq[j + 1])
            m2, s2, q2 = np.float32(mu[j + 2]), np.float32(isd[j + 2]), np.float32(zq[j + 2])
            m3, s3, q3 = np.float32(mu[j + 3]), np.float32(isd[j + 3]), np.float32(zq[j + 3])
            r0, r1, r2, r3 = rt[j], rt[j + 1], rt[j + 2], rt[j + 3]
            for s in range(nw):
                v = r0[s]
                z0 = (v - m0) * s0 if v == v else ZERO32
                v = r1[s]
                z1 = (v - m1) * s1 if v == v else ZERO32
                v = r2[s]
                z2 = (v - m2) * s2 if v == v else ZERO32
                v = r3[s]
                z3 = (v - m3) * s3 if v == v else ZERO32
                norms[s] += (z0 * z0 + z1 * z1) + (z2 * z2 + z3 * z3)
                dots[s] += (z0 * q0 + z1 * q1) + (z2 * q2 + z3 * q3)
            j += 4
            continue
        m0, s0, q0 = np.float32(mu[j]), np.float32(isd[j]), np.float32(zq[j])
        r0 = rt[j]
        for s in range(nw):
            v = r0[s]
            z0 = (v - m0) * s0 if v == v else ZERO32
            norms[s] += z0 * z0
            dots[s] += z0 * q0
        j += 1


@njit(cache=True, nogil=True)
def _row_sums(s, r_nnz, r_idx, r_val, center, mu, isd, zq):
    """The exact (float64) dot with the query and squared norm of slot ``s``, from its
    CSR row: what a window without the table computes."""
    dot = 0.0
    nr = 0.0
    for p in range(r_nnz[s]):
        j = r_idx[s, p]
        z = (r_val[s, p] - mu[j]) * isd[j] if center else r_val[s, p]
        nr += z * z
        dot += z * zq[j]
    return dot, nr


@njit(cache=True, nogil=True)
def _cosine(dot, normq, nr):
    den = np.sqrt(normq * nr)
    return 1.0 - (dot / den if den > 0.0 else 0.0)


@njit(cache=True, nogil=True)
def _insert(best_d, best_s, n_best, k, dist, s):
    """Slot ``s`` at ``dist`` into the sorted ``k`` nearest (ties: the earlier one first);
    returns the new count."""
    if n_best < k:
        q = n_best
        n_best += 1
    elif dist < best_d[n_best - 1]:
        q = n_best - 1
    else:
        return n_best
    while q > 0 and best_d[q - 1] > dist:
        best_d[q] = best_d[q - 1]
        best_s[q] = best_s[q - 1]
        q -= 1
    best_d[q] = dist
    best_s[q] = s
    return n_best


@njit(cache=True, nogil=True)
def _screened_nearest(rt, r_norm2, r_nnz, r_idx, r_val, nw, center, mu, isd, zq, x_idx,
                      a, b, f_count, d, normq, k, dots32, norms32, lo, hi, best_d, best_s):
    """The ``k`` nearest slots by cosine distance, exactly as :func:`_row_sums` on every
    slot would find them, in two passes: float32 sums of all slots bound each distance
    within ``err`` (rounding of n-term sums, and of the scaling when a mean sits far from
    zero), and only the slots whose lower bound reaches the k-th smallest upper bound are
    measured exactly. Returns the count found."""
    _screen_sums(rt, nw, center, mu, isd, zq, x_idx, a, b, f_count, d, dots32, norms32)
    n_terms = 0
    shift = 0.0
    if center:
        for j in range(d):
            if f_count[j] > 0.0:
                n_terms += 1
                sh = abs(mu[j]) * isd[j]
                if sh > shift:
                    shift = sh
    else:
        n_terms = b - a
    e_sum = 8.0 * EPS32 * (n_terms + 4)
    e_shift = 16.0 * EPS32 * (shift + 1.0) * np.sqrt(n_terms + 1.0)
    if not center:
        e_shift = 0.0  # the stored values are exact and their norms float64
    inv_q = 1.0 / np.sqrt(normq) if normq > 0.0 else 0.0
    for s in range(nw):  # vectorised: one square root and one division a slot
        nr = np.float64(norms32[s]) if center else r_norm2[s]
        inv_r = 1.0 / np.sqrt(max(nr, 1e-30))  # (a record at the means: err is huge)
        dist = 1.0 - np.float64(dots32[s]) * (inv_q * inv_r)
        err = e_sum + e_shift * inv_r
        lo[s] = dist - err
        hi[s] = dist + err
    n_hi = 0
    for s in range(nw):
        if n_hi < k or hi[s] < best_d[k - 1]:  # (a call per slot costs more than the test)
            n_hi = _insert(best_d, best_s, n_hi, k, hi[s], s)
    cut = best_d[n_hi - 1] if n_hi > 0 else np.inf
    n_best = 0
    for s in range(nw):
        if lo[s] <= cut:
            dot, nr = _row_sums(s, r_nnz, r_idx, r_val, center, mu, isd, zq)
            n_best = _insert(best_d, best_s, n_best, k, _cosine(dot, normq, nr), s)
    return n_best



@njit(cache=True, nogil=True)
def _table_sums(rt, r_norm2, nw, center, mu, isd, zq, x_idx, a, b, f_count, d, dots,
                norms):
    """Dot products with the query ``zq`` and squared norms of the first ``nw`` slots, in
    the scaled space, from the feature-major table."""
    for s in range(nw):
        dots[s] = 0.0
        norms[s] = 0.0
    if center:
        # every stored feature moves with the statistics: sweep all of them, four rows
        # per pass over the slots (a slot's sums still add its features in order)
        j = 0
        while j < d:
            if f_count[j] == 0.0:  # no stored record has it
                j += 1
                continue
            if j + 4 <= d and f_count[j + 1] > 0.0 and f_count[j + 2] > 0.0 \
                    and f_count[j + 3] > 0.0:
                m0, s0, q0, r0 = mu[j], isd[j], zq[j], rt[j]
                m1, s1, q1, r1 = mu[j + 1], isd[j + 1], zq[j + 1], rt[j + 1]
                m2, s2, q2, r2 = mu[j + 2], isd[j + 2], zq[j + 2], rt[j + 2]
                m3, s3, q3, r3 = mu[j + 3], isd[j + 3], zq[j + 3], rt[j + 3]
                for s in range(nw):
                    v = np.float64(r0[s])
                    z0 = (v - m0) * s0 if v == v else 0.0
                    v = np.float64(r1[s])
                    z1 = (v - m1) * s1 if v == v else 0.0
                    v = np.float64(r2[s])
                    z2 = (v - m2) * s2 if v == v else 0.0
                    v = np.float64(r3[s])
                    z3 = (v - m3) * s3 if v == v else 0.0
                    nr = norms[s]
                    nr += z0 * z0
                    nr += z1 * z1
                    nr += z2 * z2
                    nr += z3 * z3
                    norms[s] = nr
                    dt = dots[s]
                    dt += z0 * q0
                    dt += z1 * q1
                    dt += z2 * q2
                    dt += z3 * q3
                    dots[s] = dt
                j += 4
                continue
            m, sd, q, row = mu[j], isd[j], zq[j], rt[j]
            for s in range(nw):
                v = np.float64(row[s])
                z = (v - m) * sd if v == v else 0.0
                norms[s] += z * z
                dots[s] += z * q
            j += 1
        return
    # raw values: the stored norms hold, only the query's features add to the dots
    for s in range(nw):
        norms[s] = r_norm2[s]
    for p in range(a, b):
        j = x_idx[p]
        if f_count[j] == 0.0:
            continue
        q = zq[j]
        row = rt[j]
        for s in range(nw):
            v = np.float64(row[s])
            if v == v:
                dots[s] += v * q


@njit(cache=True, nogil=True)
def _distances(dots, norms, nw, normq, metric, dist):
    """Each slot's distance from its sums, in one vectorised pass (the same formula as
    the row-by-row path)."""
    for s in range(nw):
        if metric == EUCLIDEAN:
            e = normq + norms[s] - 2.0 * dots[s]
            dist[s] = np.sqrt(e) if e > 0.0 else 0.0
        else:
            den = np.sqrt(normq * norms[s])
            dist[s] = 1.0 - (dots[s] / den if den > 0.0 else 0.0)


@njit(cache=True, nogil=True)
def step(x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, learn, L, center, metric, k,
         f_count, f_mean, f_m2, state, r_nnz, r_idx, r_val, r_y, r_u, table, rt, r_norm2,
         thr_grid, thr_score, fade, out_pred, out_score):
    """Test-then-train the rows of a CSR block over the window (see the module).

    ``state[0]`` counts the records learned; the window holds the last
    ``min(state[0], W)`` of them, slot ``t % W`` for record ``t``. ``thr_score`` holds
    the faded prequential example-F1 of each threshold choice: candidate ``c < G`` is
    ``score > thr_grid[c]``, ``c >= G`` the same with the top label forced into an empty
    prediction. Unknown labels (``u_idx``) are left out of the vote's counts and of the
    threshold scores, and are stored as unknown in the window. With ``table`` the
    distances come from the feature-major copy ``rt`` (see the module) and ``r_norm2``,
    each slot's raw squared norm.
    """
    n = x_ptr.size - 1
    W = r_nnz.size
    d = f_count.size
    G = thr_grid.size
    mu = np.zeros(d)
    isd = np.ones(d)
    zq = np.zeros(d)
    best_d = np.empty(k)
    best_s = np.empty(k, dtype=np.int64)
    scores = np.zeros(max(L, 1))
    unk = np.zeros(max(L, 1))  # weight of neighbours where a label is unknown
    cand = np.empty(max(L, 1), dtype=np.int64)
    dots = np.zeros(W)
    norms = np.zeros(W)
    dists = np.zeros(W)
    dots32 = np.zeros(W, dtype=np.float32)
    norms32 = np.zeros(W, dtype=np.float32)
    for i in range(n):
        a, b = x_ptr[i], x_ptr[i + 1]
        n_learned = state[0]
        nw = min(n_learned, W)
        # current scaling of every feature
        if center:
            for j in range(d):
                c = f_count[j]
                if c > 0:
                    mu[j] = f_mean[j]
                    var = f_m2[j] / (c - 1.0) if c > 1 else 0.0
                    isd[j] = 1.0 / np.sqrt(var) if var > 1e-12 else 1.0
                else:
                    mu[j] = 0.0
                    isd[j] = 1.0
        normq = 0.0
        for p in range(a, b):
            j = x_idx[p]
            if f_count[j] == 0.0:  # never learned: no stored record has it (and a
                continue           # record-by-record run would not know it yet)
            z = (x_val[p] - mu[j]) * isd[j] if center else x_val[p]
            zq[j] = z
            normq += z * z
        # the k nearest records of the window (ties: the lower slot)
        if table and metric == COSINE:
            n_best = _screened_nearest(rt, r_norm2, r_nnz, r_idx, r_val, nw, center, mu,
                                       isd, zq, x_idx, a, b, f_count, d, normq, k, dots32,
                                       norms32, dists, dots, best_d, best_s)
        else:
            if table:
                _table_sums(rt, r_norm2, nw, center, mu, isd, zq, x_idx, a, b, f_count,
                            d, dots, norms)
            else:
                for s in range(nw):
                    dots[s], norms[s] = _row_sums(s, r_nnz, r_idx, r_val, center, mu,
                                                  isd, zq)
            _distances(dots, norms, nw, normq, metric, dists)
            n_best = 0
            for s in range(nw):
                n_best = _insert(best_d, best_s, n_best, k, dists[s], s)
        for p in range(a, b):
            zq[x_idx[p]] = 0.0
        # distance-weighted vote, per label over the neighbours where it is known
        for lab in range(L):
            scores[lab] = 0.0
            unk[lab] = 0.0
        wsum = 0.0
        for q in range(n_best):
            s = best_s[q]
            if metric == EUCLIDEAN:
                w = 1.0 / (best_d[q] + 1e-6)
            else:
                w = max(1.0 - best_d[q], 0.0) + 1e-6
            wsum += w
            for lab in range(L):
                if r_y[s, lab]:
                    scores[lab] += w
                if r_u[s, lab]:
                    unk[lab] += w
        n_cand = 0
        for lab in range(L):
            den = wsum - unk[lab]
            sc = scores[lab] / den if den > 0.0 else 0.0
            scores[lab] = sc
            out_score[i, lab] = sc
            if sc > 0.0:
                cand[n_cand] = lab
                n_cand += 1
        # the threshold choice with the best faded prequential example-F1
        best_c = 0
        for c in range(2 * G):
            if thr_score[c] > thr_score[best_c]:
                best_c = c
        thr = thr_grid[best_c % G]
        force = best_c >= G
        any_on = False
        top = -1
        top_s = 0.0
        for c in range(n_cand):
            lab = cand[c]
            if scores[lab] > thr:
                out_pred[i, lab] = True
                any_on = True
            if scores[lab] > top_s:
                top_s = scores[lab]
                top = lab
        if force and not any_on and top >= 0:
            out_pred[i, top] = True
        if not learn:
            continue
        ya, yb = y_ptr[i], y_ptr[i + 1]
        ua, ub = u_ptr[i], u_ptr[i + 1]
        if nw > 0:
            for c in range(2 * G):
                f1 = _ex_f1(scores, cand, n_cand, thr_grid[c % G], c >= G, y_idx, ya, yb,
                            u_idx, ua, ub)
                thr_score[c] = fade * thr_score[c] + f1
        # running statistics of the present features
        for p in range(a, b):
            j = x_idx[p]
            v = x_val[p]
            f_count[j] += 1.0
            delta = v - f_mean[j]
            f_mean[j] += delta / f_count[j]
            f_m2[j] += delta * (v - f_mean[j])
        # the row joins the window in the oldest slot
        s = n_learned % W
        if table:
            if n_learned >= W:  # the evicted record leaves the table
                for p in range(r_nnz[s]):
                    rt[r_idx[s, p], s] = np.nan
            nr = 0.0
            for p in range(a, b):
                rt[x_idx[p], s] = x_val[p]
                v = np.float64(rt[x_idx[p], s])  # the norm of the values the dots use
                nr += v * v
            r_norm2[s] = nr
        r_nnz[s] = b - a
        for p in range(a, b):
            r_idx[s, p - a] = x_idx[p]
            r_val[s, p - a] = x_val[p]
        for lab in range(r_y.shape[1]):
            r_y[s, lab] = False
            r_u[s, lab] = False
        for q in range(ya, yb):
            r_y[s, y_idx[q]] = True
        for q in range(ua, ub):
            r_u[s, u_idx[q]] = True
        state[0] = n_learned + 1
