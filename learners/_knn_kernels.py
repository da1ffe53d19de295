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
"""

from __future__ import annotations

import numpy as np
from numba import njit

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


@njit(cache=True, nogil=True)
def step(x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, learn, L, center, metric, k,
         f_count, f_mean, f_m2, state, r_nnz, r_idx, r_val, r_y, r_u, thr_grid, thr_score,
         fade, out_pred, out_score):
    """Test-then-train the rows of a CSR block over the window (see the module).

    ``state[0]`` counts the records learned; the window holds the last
    ``min(state[0], W)`` of them, slot ``t % W`` for record ``t``. ``thr_score`` holds
    the faded prequential example-F1 of each threshold choice: candidate ``c < G`` is
    ``score > thr_grid[c]``, ``c >= G`` the same with the top label forced into an empty
    prediction. Unknown labels (``u_idx``) are left out of the vote's counts and of the
    threshold scores, and are stored as unknown in the window.
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
        n_best = 0
        for s in range(nw):
            dot = 0.0
            nr = 0.0
            for p in range(r_nnz[s]):
                j = r_idx[s, p]
                z = (r_val[s, p] - mu[j]) * isd[j] if center else r_val[s, p]
                nr += z * z
                dot += z * zq[j]
            if metric == EUCLIDEAN:
                dist = normq + nr - 2.0 * dot
                dist = np.sqrt(dist) if dist > 0.0 else 0.0
            else:
                den = np.sqrt(normq * nr)
                dist = 1.0 - (dot / den if den > 0.0 else 0.0)
            if n_best < k:
                q = n_best
                n_best += 1
            elif dist < best_d[n_best - 1]:
                q = n_best - 1
            else:
                continue
            while q > 0 and best_d[q - 1] > dist:
                best_d[q] = best_d[q - 1]
                best_s[q] = best_s[q - 1]
                q -= 1
            best_d[q] = dist
            best_s[q] = s
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
