"""numba kernels of :class:`learners.ihomer.IHOMER`: one forward/learn step per record.

All state lives in arrays owned by the Python object; the kernels validate nothing.
Notation: ``D`` features, ``L`` labels, ``C`` label clusters, ``K`` label-set classes per
cluster, ``R`` learning rates of binary relevance, ``R + 2`` experts (0 = cluster
hierarchy of label powersets, ``1 + k`` = binary relevance at rate ``k``, ``R + 1`` =
no-change), ``H`` buckets of the previous label set, ``N`` router-tree nodes ``v`` (root
0). Besides the features, both learners take binary *indicator* inputs, rows of ``A``
(binary relevance) and ``VA`` (powersets): bucket ``l mod H`` for each label ``l`` of the
previous delivered set, and each node ``v`` below the root on the record's path in the
router tree (``leaves[i]`` and ``node_parent``), virtual indicators ``a = l mod H`` and
``a = H + v - 1`` whose rows ``ind_row[a]`` the caller assigns as they come into use
(so the arrays hold rows only for buckets and nodes that exist). The experts' faded example-F1 is
kept per tree node (``node_score``): the record's leaf chooses, and a leaf that has not
learned a record yet reads, then copies, its nearest ancestor's.

Class rows are grouped by *virtual* cluster ``v`` in ``0 .. 2P-1`` for a capacity of
``P >= C`` clusters (so that a cluster can be added without moving rows): rows
``v*K .. v*K+K-1``; ``v < C`` is cluster ``v``'s powerset, ``v = P + c`` the alternate
powerset of cluster ``c`` (trained only while ``alt_on[c]``); rows of ``C <= v < P`` and
``P + C <= v`` are unused. A class row ``r`` in use
holds its labels in ``class_lab[r, :class_nlab[r]]`` (``class_lab`` has as many columns as
the largest label set learned; the caller grows it).

Local drift (per cluster): the powerset's loss ``1 - F1`` restricted to the cluster feeds
an HDDM-A test (Frias-Blanco et al. 2015, as river's ``HDDM_A``: Hoeffding bounds on the
mean loss before and after the cut point where ``mean + eps`` was lowest). A warning
starts the alternate; it replaces the main powerset at a confirmed drift if it has done
at least as well since the warning, or at any time when it is significantly better (a
Hoeffding bound on the paired F1 difference); it is dropped after ``alt_patience``
records. Each of these is logged in ``ev_buf`` as ``(row, cluster, code)`` with code
1 = alternate started, 2 = alternate replaced the main learner, 3 = alternate dropped,
4 = drift with no better alternate (the detector restarts).

Per record the step (1) standardises the present features, (2) computes the binary
relevance probabilities and each cluster's label-set softmax, both with the previous
delivered label set as extra inputs, (3) forms each expert's prediction and outputs the
one whose faded example-F1 is best, then, when learning, (4) scores every expert and
every threshold of the grid on the record (before learning it), (5) updates the feature
statistics and recomputes the forward pass with them (as the binary relevance learner
does), (6) admits frequent label sets as classes (Misra-Gries candidates), (7) takes one
AdaGrad step for both models, (8) keeps the record's labels as the previous label set.

Unknown labels (``u_ptr`` / ``u_idx``, each row's unknown columns in CSR; every row empty
on a clean stream, which then runs exactly as without them): an unknown label counts in
no expert's or threshold's score (neither predicted nor true), its binary relevance
weights, indicator weights, bias and AdaGrad sums are left as they were (saved before the
step, put back after it), and a cluster holding an unknown label learns nothing from the
record: no label-set count, no class admitted, no powerset gradient, no drift statistic
(its label set on the record is not known, so it is no class at all).
"""

from __future__ import annotations

import math

import numpy as np
from stream.kernels.jit import njit

from learners._logistic_kernels import _f1, _sigmoid, _standardise, robust_weight

HIER = 0  # expert 0; binary relevance at rate k is expert 1 + k; no-change is the last
TAIL_MAX_WEIGHT = 10.0  # largest class-balance weight of a rare label's positive step


@njit(cache=True, nogil=True, inline="always")
def tail_weight(mean_count, count, alpha):
    """Class-balance weight of a positive step: ``(mean_count / count) ** alpha`` clipped
    to ``[1, TAIL_MAX_WEIGHT]`` (labels commoner than the mean label keep weight 1).

    Examples
    --------
    >>> tail_weight(10.0, 2.0, 0.5) == 5.0 ** 0.5, tail_weight(10.0, 40.0, 0.5)
    (True, 1.0)
    """
    if count <= 0.0:
        return 1.0
    w = (mean_count / count) ** alpha
    return min(max(w, 1.0), TAIL_MAX_WEIGHT)


@njit(cache=True, nogil=True, inline="always")
def _log(ev_buf, ev_count, row, cluster, code):
    k = ev_count[0]
    if k < ev_buf.shape[0]:
        ev_buf[k, 0] = row
        ev_buf[k, 1] = cluster
        ev_buf[k, 2] = code
    ev_count[0] = k + 1


@njit(cache=True, nogil=True)
def _segments(class_used, CK, urows, seg):
    """List the used class rows in ``urows`` (ascending) and as runs in ``seg``; returns
    ``(n_used, n_seg)``."""
    n_used = 0
    n_seg = 0
    for r in range(CK):
        if class_used[r]:
            urows[n_used] = r
            n_used += 1
            if n_seg > 0 and seg[n_seg - 1, 1] == r:
                seg[n_seg - 1, 1] = r + 1
            else:
                seg[n_seg, 0] = r
                seg[n_seg, 1] = r + 1
                n_seg += 1
    return n_used, n_seg


@njit(cache=True, nogil=True, error_model="numpy")
def _forward(k0, k1, x_idx, x_val, n_labels, n_virtual, K, center, f_count, f_mean, f_m2,
             f_sumsq, n_total, W, A, b, V, VA, Vb, urows, n_used, seg, n_seg, ind_idx, n_ind,
             s, p, act, best_row):
    """Binary relevance probabilities ``p`` (one row per rate) and class softmaxes ``act``.

    ``ind_idx[:n_ind]`` are the record's active indicator inputs (rows of ``A`` / ``VA``,
    each with value 1): the buckets of the previous label set and the tree nodes on the
    record's path.
    """
    R = p.shape[0]
    for k in range(R):
        for l in range(n_labels):
            p[k, l] = b[k, l]
    # the used class rows as runs of contiguous rows (seg[g] = first, last + 1): the inner
    # loops run over 1-D views from index 0, which LLVM vectorises (each element's
    # operations and their order are those of a loop over the rows one by one)
    for g in range(n_seg):
        ag = act[seg[g, 0]:seg[g, 1]]
        bg = Vb[seg[g, 0]:seg[g, 1]]
        for q in range(ag.size):
            ag[q] = bg[q]
    for k in range(k0, k1):
        j = x_idx[k]
        sj = _standardise(j, x_val[k], center, f_count, f_mean, f_m2, f_sumsq, n_total)
        s[k - k0] = sj
        if sj != 0.0:
            for kr in range(R):
                pr = p[kr]
                wr = W[kr, j]
                for l in range(n_labels):
                    pr[l] += wr[l] * sj
            vj = V[j]
            for g in range(n_seg):
                ag = act[seg[g, 0]:seg[g, 1]]
                vg = vj[seg[g, 0]:seg[g, 1]]
                for q in range(ag.size):
                    ag[q] += vg[q] * sj
    for q in range(n_ind):
        a = ind_idx[q]
        for kr in range(R):
            pr = p[kr]
            ar = A[kr, a]
            for l in range(n_labels):
                pr[l] += ar[l]
        va = VA[a]
        for g in range(n_seg):
            ag = act[seg[g, 0]:seg[g, 1]]
            vg = va[seg[g, 0]:seg[g, 1]]
            for w in range(ag.size):
                ag[w] += vg[w]
    for kr in range(R):
        for l in range(n_labels):
            p[kr, l] = _sigmoid(p[kr, l])
    for c in range(n_virtual):
        best_row[c] = -1
    # softmax per cluster (rows of a cluster are contiguous, urows is sorted)
    u = 0
    while u < n_used:
        c = urows[u] // K
        v = u
        mx = -1e300
        while v < n_used and urows[v] // K == c:
            if act[urows[v]] > mx:
                mx = act[urows[v]]
                best_row[c] = urows[v]
            v += 1
        tot = 0.0
        for w in range(u, v):
            r = urows[w]
            act[r] = math.exp(act[r] - mx)
            tot += act[r]
        for w in range(u, v):
            act[urows[w]] /= tot
        u = v


@njit(cache=True, nogil=True)
def _save_unknown(k0, k1, x_idx, ind_idx, n_ind, labs, W, GW, A, GA, b, Gb, keep_w, keep_a,
                  keep_b):
    """Copy the binary relevance state of labels ``labs`` that a step on the row touches."""
    R = W.shape[0]
    for q in range(labs.size):
        l = labs[q]
        for kr in range(R):
            keep_b[0, kr, q] = b[kr, l]
            keep_b[1, kr, q] = Gb[kr, l]
            for k in range(k0, k1):
                j = x_idx[k]
                keep_w[0, kr, q, k - k0] = W[kr, j, l]
                keep_w[1, kr, q, k - k0] = GW[kr, j, l]
            for t in range(n_ind):
                a = ind_idx[t]
                keep_a[0, kr, q, t] = A[kr, a, l]
                keep_a[1, kr, q, t] = GA[kr, a, l]


@njit(cache=True, nogil=True)
def _restore_unknown(k0, k1, x_idx, ind_idx, n_ind, labs, W, GW, A, GA, b, Gb, keep_w,
                     keep_a, keep_b):
    """Undo :func:`_save_unknown` (reverse order: a repeated index gets its first value)."""
    R = W.shape[0]
    for q in range(labs.size):
        l = labs[q]
        for kr in range(R):
            b[kr, l] = keep_b[0, kr, q]
            Gb[kr, l] = keep_b[1, kr, q]
            for k in range(k1 - 1, k0 - 1, -1):
                j = x_idx[k]
                W[kr, j, l] = keep_w[0, kr, q, k - k0]
                GW[kr, j, l] = keep_w[1, kr, q, k - k0]
            for t in range(n_ind - 1, -1, -1):
                a = ind_idx[t]
                A[kr, a, l] = keep_a[0, kr, q, t]
                GA[kr, a, l] = keep_a[1, kr, q, t]


@njit(cache=True, nogil=True, error_model="numpy")
def step(
    # records (CSR) and what to do; u_ptr / u_idx: each row's unknown labels (CSR)
    x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, learn, n_labels, n_clusters, C_cap, K, use_ar,
    # feature statistics: f_count, f_mean, f_m2, f_sumsq, state[0] = records seen
    center, f_count, f_mean, f_m2, f_sumsq, state,
    # binary relevance at R rates: W (R, D, L), A (R, rows, L) indicators, b (R, L),
    # AdaGrad sums, br_lr (R,) learning rates
    W, GW, A, GA, b, Gb, br_lr,
    # label-set classes: V (D, 2P*K), VA (rows, 2P*K), Vb (2P*K), AdaGrad sums
    V, GV, VA, GVA, Vb, GVb,
    # class tables: class_hash (2P*K,) int64, class_used (2P*K,) bool, class_count
    # (2P*K,), class_lab (2P*K, S) int64 and class_nlab (2P*K,) int64; Misra-Gries
    # candidates cand_hash (2P, M) int64, cand_count (2P, M)
    class_hash, class_used, class_count, class_lab, class_nlab, cand_hash, cand_count,
    # label -> cluster and per-label random keys for set hashing
    label_cluster, label_key,
    # previous delivered label set (prev_mask (L,) bool), hashed into H buckets; the
    # indicator row of virtual indicator a (bucket a < H, tree node v at H + v - 1)
    prev_mask, H, ind_row,
    # the router: each row's leaf node, node parents (root 0 has -1); node v > 0 is
    # indicator row H + v - 1
    leaves, node_parent,
    # expert and threshold selection: node_score (nodes, R + 2) faded example-F1 of each
    # expert per tree node, node_ready (nodes,) bool; thr_grid (G,) ascending, thr_score
    # (R, G)
    node_score, node_ready, thr_grid, thr_score, fade_expert, fade_thr,
    # learning; robust: weight 1 - robust * p on the step of a label the record says is
    # absent (0 = off; see learners._logistic_kernels.robust_weight)
    lr, l2, min_count, robust,
    # class-balanced binary relevance: a positive of label l steps with weight
    # clip((mean count / lab_count[l]) ** tail_balance, 1, TAIL_MAX_WEIGHT) (0 = off);
    # lab_count (L,) the labels' positive counts (kept whether on or off)
    tail_balance, lab_count,
    # local drift: dd (P, 4) = n, sum, cut_n, cut_sum of the loss; alt_on (P,) bool,
    # alt_n (P,) int64, alt_sum (P,) paired F1 gain; confidences; event log
    local_drift, dd, alt_on, alt_n, alt_sum, warn_conf, drift_conf, alt_patience,
    ev_buf, ev_count,
    # outputs; out_br (n, L) the first binary relevance's probabilities and out_marg
    # (n, L) the hierarchy's label marginals, each (0, 0) when not wanted
    # (learners._label_thresholds reads out_br, IHOMER.disagreement_one both)
    out_pred, out_score, out_expert, out_br, out_marg,
):
    n = len(x_ptr) - 1
    NV = 2 * C_cap                 # virtual clusters: main powersets, then alternates
    CK = NV * K
    width = 1
    for i in range(n):
        width = max(width, x_ptr[i + 1] - x_ptr[i])
    s = np.zeros(width)
    R = W.shape[0]
    NOCHANGE = R + 1
    p = np.zeros((R, n_labels))     # binary relevance probabilities, then gradients
    thr = np.zeros(R)
    above_n = np.zeros(len(thr_grid) + 1, dtype=np.int64)  # labels above k thresholds
    above_i = np.zeros(len(thr_grid) + 1, dtype=np.int64)  # ... of them positive
    act = np.zeros(CK)              # class logits -> probabilities, then gradients
    urows = np.zeros(CK, dtype=np.int64)
    seg = np.zeros((CK, 2), dtype=np.int64)
    pred_h = np.zeros(n_labels, dtype=np.bool_)
    marg = np.zeros(n_labels)       # label marginals under the cluster softmaxes
    best_row = np.full(NV, -1)
    y = np.zeros(n_labels, dtype=np.bool_)
    target = np.full(NV, -1)
    rec_hash = np.zeros(n_clusters, dtype=np.int64)
    rec_count = np.zeros(n_clusters, dtype=np.int64)
    f1_main = np.zeros(n_clusters)
    f1_alt = np.zeros(n_clusters)
    has_main = np.zeros(n_clusters, dtype=np.bool_)
    log_w = math.log(1.0 / warn_conf)
    log_d = math.log(1.0 / drift_conf)
    M = cand_hash.shape[1]
    ind_idx = np.zeros(H + node_parent.size, dtype=np.int64)
    bucket_on = np.zeros(H, dtype=np.bool_)
    c_unk = np.zeros(n_clusters, dtype=np.bool_)  # clusters with an unknown label (row)
    labs = u_idx[0:0]
    keep_w = np.empty((2, R, 0, 0))
    keep_a = np.empty((2, R, 0, 0))
    keep_b = np.empty((2, R, 0))
    for i in range(n):
        k0, k1 = x_ptr[i], x_ptr[i + 1]
        # indicator inputs: the previous label set's buckets (label l -> l mod H), then
        # the tree nodes on the record's path below the root
        n_ind = 0
        if use_ar:
            for l in range(n_labels):
                if prev_mask[l]:
                    a = l % H
                    if not bucket_on[a]:
                        bucket_on[a] = True
                        ind_idx[n_ind] = a
                        n_ind += 1
            for q in range(n_ind):
                bucket_on[ind_idx[q]] = False
                ind_idx[q] = ind_row[ind_idx[q]]
        leaf = leaves[i]
        u = leaf
        while u > 0:
            ind_idx[n_ind] = ind_row[H + u - 1]
            n_ind += 1
            u = node_parent[u]
        # the experts' scores of the leaf's region: a node that has seen no record yet
        # starts from its nearest ancestor's (copied when it learns its first record)
        src = leaf
        while not node_ready[src]:
            src = node_parent[src]
        if learn and src != leaf:
            for e in range(R + 2):
                node_score[leaf, e] = node_score[src, e]
            node_ready[leaf] = True
            src = leaf
        n_used, n_seg = _segments(class_used, CK, urows, seg)
        _forward(k0, k1, x_idx, x_val, n_labels, NV, K, center, f_count, f_mean,
                 f_m2, f_sumsq, state[0], W, A, b, V, VA, Vb, urows, n_used, seg, n_seg,
                 ind_idx, n_ind,
                 s, p, act, best_row)
        if out_br.shape[0] > 0:
            for l in range(n_labels):
                out_br[i, l] = p[0, l]
        # ---- the experts' predictions ------------------------------------------------
        for kr in range(R):
            bt = 0
            for c in range(len(thr_grid)):
                if thr_score[kr, c] > thr_score[kr, bt]:
                    bt = c
            thr[kr] = thr_grid[bt] if state[0] > 0 else 0.35
        for l in range(n_labels):
            c = label_cluster[l]
            if best_row[c] >= 0:
                pred_h[l] = False
                marg[l] = 0.0
            else:  # a cluster with no label set admitted yet: binary relevance decides
                pred_h[l] = p[0, l] > thr[0]
                marg[l] = p[0, l]
        for u in range(n_used):
            r = urows[u]
            if r >= C_cap * K:
                break  # alternates (sorted last) do not predict
            for q in range(class_nlab[r]):
                marg[class_lab[r, q]] += act[r]
        for c in range(n_clusters):
            r = best_row[c]
            if r >= 0:
                for q in range(class_nlab[r]):
                    pred_h[class_lab[r, q]] = True
        if out_marg.shape[0] > 0:
            for l in range(n_labels):
                out_marg[i, l] = marg[l]
        ex = 0
        for e in range(1, R + 2):
            if node_score[src, e] > node_score[src, ex]:
                ex = e
        out_expert[i] = ex
        for l in range(n_labels):
            if ex == HIER:
                out_pred[i, l] = pred_h[l]
                out_score[i, l] = marg[l]
            elif ex == NOCHANGE:
                out_pred[i, l] = prev_mask[l]
                out_score[i, l] = 1.0 if prev_mask[l] else 0.0
            else:
                out_pred[i, l] = p[ex - 1, l] > thr[ex - 1]
                out_score[i, l] = p[ex - 1, l]
        if not learn:
            continue
        # ---- score the experts and thresholds on this record (before learning it) ----
        for l in range(n_labels):
            y[l] = False
        for k in range(y_ptr[i], y_ptr[i + 1]):
            y[y_idx[k]] = True
        n_true = y_ptr[i + 1] - y_ptr[i]
        u0, u1 = u_ptr[i], u_ptr[i + 1]
        if u1 > u0:
            # an unknown label is scored as neither predicted nor true (the no-change
            # expert's previous set is overwritten at the end of the row anyway)
            labs = u_idx[u0:u1]
            for q in range(labs.size):
                l = labs[q]
                pred_h[l] = False
                prev_mask[l] = False
                for kr in range(R):
                    p[kr, l] = -1.0
                c_unk[label_cluster[l]] = True
        n_h = 0
        i_h = 0
        n_nc = 0
        i_nc = 0
        for l in range(n_labels):
            if pred_h[l]:
                n_h += 1
                if y[l]:
                    i_h += 1
            if prev_mask[l]:
                n_nc += 1
                if y[l]:
                    i_nc += 1
        for kr in range(R):
            n_b = 0
            i_b = 0
            for l in range(n_labels):
                if p[kr, l] > thr[kr]:
                    n_b += 1
                    if y[l]:
                        i_b += 1
            node_score[leaf, 1 + kr] = (node_score[leaf, 1 + kr] * fade_expert
                                        + _f1(n_true, n_b, i_b))
            # every grid threshold in one pass: a label whose probability exceeds the
            # first k thresholds (the grid is ascending) counts for thresholds 0 .. k-1
            G = len(thr_grid)
            for c in range(G + 1):
                above_n[c] = 0
                above_i[c] = 0
            for l in range(n_labels):
                v = p[kr, l]
                k = 0
                while k < G and v > thr_grid[k]:
                    k += 1
                above_n[k] += 1
                if y[l]:
                    above_i[k] += 1
            n_p = 0
            i_p = 0
            for c in range(G - 1, -1, -1):
                n_p += above_n[c + 1]
                i_p += above_i[c + 1]
                thr_score[kr, c] = thr_score[kr, c] * fade_thr + _f1(n_true, n_p, i_p)
        node_score[leaf, HIER] = node_score[leaf, HIER] * fade_expert + _f1(n_true, n_h, i_h)
        node_score[leaf, NOCHANGE] = (node_score[leaf, NOCHANGE] * fade_expert
                                      + _f1(n_true, n_nc, i_nc))
        if local_drift:
            for c in range(n_clusters):
                rec_count[c] = 0
            for k in range(y_ptr[i], y_ptr[i + 1]):
                rec_count[label_cluster[y_idx[k]]] += 1
            for c in range(n_clusters):
                r = best_row[c]
                has_main[c] = r >= 0 and not c_unk[c]
                if r >= 0:
                    hit = 0
                    for q in range(class_nlab[r]):
                        if y[class_lab[r, q]]:
                            hit += 1
                    f1_main[c] = _f1(rec_count[c], class_nlab[r], hit)
                if alt_on[c]:
                    r = best_row[C_cap + c]
                    hit = 0
                    size = 0
                    if r >= 0:
                        size = class_nlab[r]
                        for q in range(size):
                            if y[class_lab[r, q]]:
                                hit += 1
                    f1_alt[c] = _f1(rec_count[c], size, hit)
        # ---- learn with the statistics that include this record (as the BR learner does)
        state[0] += 1
        for k in range(k0, k1):
            j = x_idx[k]
            v = x_val[k]
            f_count[j] += 1
            delta = v - f_mean[j]
            f_mean[j] += delta / f_count[j]
            f_m2[j] += delta * (v - f_mean[j])
            f_sumsq[j] += v * v
        _forward(k0, k1, x_idx, x_val, n_labels, NV, K, center, f_count, f_mean,
                 f_m2, f_sumsq, state[0], W, A, b, V, VA, Vb, urows, n_used, seg, n_seg,
                 ind_idx, n_ind,
                 s, p, act, best_row)
        # ---- label-set classes: find, admit, or map the record's set per cluster --------
        n_seg_used = n_used
        for c in range(n_clusters):
            rec_hash[c] = 0
            rec_count[c] = 0
        for k in range(y_ptr[i], y_ptr[i + 1]):
            l = y_idx[k]
            c = label_cluster[l]
            rec_hash[c] ^= label_key[l]
            rec_count[c] += 1
        for v in range(NV):
            target[v] = -1
            c = v if v < C_cap else v - C_cap  # the cluster this powerset models
            if c >= n_clusters or (v >= C_cap and not alt_on[c]) or c_unk[c]:
                continue
            free = -1
            for r in range(v * K, v * K + K):
                if class_used[r]:
                    if class_hash[r] == rec_hash[c]:
                        target[v] = r
                elif free < 0:
                    free = r
            if target[v] < 0:
                # Misra-Gries count of the candidate set
                h = rec_hash[c]
                slot = -1
                empty = -1
                for m in range(M):
                    if cand_count[v, m] > 0 and cand_hash[v, m] == h:
                        slot = m
                        break
                    if cand_count[v, m] <= 0 and empty < 0:
                        empty = m
                if slot >= 0:
                    cand_count[v, slot] += 1
                elif empty >= 0:
                    slot = empty
                    cand_hash[v, slot] = h
                    cand_count[v, slot] = 1
                else:
                    for m in range(M):
                        cand_count[v, m] -= 1
                admit = slot >= 0 and (cand_count[v, slot] >= min_count or rec_count[c] == 0)
                if admit and free >= 0:
                    class_used[free] = True
                    class_hash[free] = h
                    class_count[free] = 0.0
                    nl = 0
                    for k in range(y_ptr[i], y_ptr[i + 1]):
                        l = y_idx[k]
                        if label_cluster[l] == c:
                            class_lab[free, nl] = l
                            nl += 1
                    class_nlab[free] = nl
                    cand_count[v, slot] = 0
                    target[v] = free
                    act[free] = 0.0  # no logit yet: its gradient pulls it up
                    urows[n_used] = free
                    n_used += 1
                elif rec_count[c] > 0:
                    # learn the set as its largest admitted non-empty subset (most frequent)
                    best_n = 0
                    best_cnt = -1.0
                    for r in range(v * K, v * K + K):
                        if not class_used[r]:
                            continue
                        size = class_nlab[r]
                        inside = True
                        for q in range(size):
                            if not y[class_lab[r, q]]:
                                inside = False
                                break
                        if inside and size > 0 and (
                                size > best_n or (size == best_n and class_count[r] > best_cnt)):
                            best_n = size
                            best_cnt = class_count[r]
                            target[v] = r
            if target[v] >= 0:
                class_count[target[v]] += 1.0
        if n_used > n_seg_used:  # classes admitted: their rows join the runs
            n_seg = _segments(class_used, CK, urows, seg)[1]
        # ---- gradients --------------------------------------------------------------
        if u1 > u0:
            keep_w = np.empty((2, R, labs.size, k1 - k0))
            keep_a = np.empty((2, R, labs.size, n_ind))
            keep_b = np.empty((2, R, labs.size))
            _save_unknown(k0, k1, x_idx, ind_idx, n_ind, labs, W, GW, A, GA, b, Gb, keep_w,
                          keep_a, keep_b)
        mean_count = 0.0
        for k in range(y_ptr[i], y_ptr[i + 1]):
            lab_count[y_idx[k]] += 1.0
        if tail_balance > 0.0:
            for l in range(n_labels):
                mean_count += lab_count[l]
            mean_count /= n_labels
        if robust > 0.0 or tail_balance > 0.0:  # per-update weights (1.0 when off)
            for kr in range(R):
                for l in range(n_labels):
                    if y[l]:
                        p[kr, l] -= 1.0
                        if tail_balance > 0.0:
                            p[kr, l] *= tail_weight(mean_count, lab_count[l], tail_balance)
                    elif robust > 0.0:
                        p[kr, l] *= robust_weight(p[kr, l], robust)
        else:
            for kr in range(R):
                for l in range(n_labels):
                    p[kr, l] -= 1.0 if y[l] else 0.0
        for kr in range(R):
            for l in range(n_labels):
                g = p[kr, l]
                Gb[kr, l] += g * g
                b[kr, l] -= br_lr[kr] * g / math.sqrt(Gb[kr, l] + 1e-8)
        for u in range(n_used):
            r = urows[u]
            t = target[r // K]
            if t < 0:  # the record teaches this powerset nothing
                act[r] = 0.0
                continue
            g = act[r] - (1.0 if r == t else 0.0)
            act[r] = g
            GVb[r] += g * g
            Vb[r] -= lr * g / math.sqrt(GVb[r] + 1e-8)
        # AdaGrad steps over 1-D views (vectorised by LLVM; the same operations per
        # weight). A class row whose gradient is 0 is left as it is: its new values are
        # computed and discarded (a select, which vectorises where a branch does not).
        for k in range(k0, k1):
            sj = s[k - k0]
            if sj == 0.0:
                continue
            j = x_idx[k]
            for kr in range(R):
                rate = br_lr[kr]
                pr = p[kr]
                wr = W[kr, j]
                gw = GW[kr, j]
                for l in range(n_labels):
                    gr = pr[l] * sj + l2 * wr[l]
                    gw[l] += gr * gr
                    wr[l] -= rate * gr / math.sqrt(gw[l] + 1e-8)
            vj = V[j]
            gj = GV[j]
            for g in range(n_seg):
                ag = act[seg[g, 0]:seg[g, 1]]
                vg = vj[seg[g, 0]:seg[g, 1]]
                gg = gj[seg[g, 0]:seg[g, 1]]
                for q in range(ag.size):
                    aq = ag[q]
                    v0 = vg[q]
                    g0 = gg[q]
                    gr = aq * sj + l2 * v0
                    g1 = g0 + gr * gr
                    v1 = v0 - lr * gr / math.sqrt(g1 + 1e-8)
                    on = aq != 0.0
                    gg[q] = g1 if on else g0
                    vg[q] = v1 if on else v0
        for q in range(n_ind):
            a = ind_idx[q]
            for kr in range(R):
                rate = br_lr[kr]
                pr = p[kr]
                ar = A[kr, a]
                ga = GA[kr, a]
                for l in range(n_labels):
                    gr = pr[l] + l2 * ar[l]
                    ga[l] += gr * gr
                    ar[l] -= rate * gr / math.sqrt(ga[l] + 1e-8)
            va = VA[a]
            gva = GVA[a]
            for g in range(n_seg):
                ag = act[seg[g, 0]:seg[g, 1]]
                vg = va[seg[g, 0]:seg[g, 1]]
                gg = gva[seg[g, 0]:seg[g, 1]]
                for w in range(ag.size):
                    aw = ag[w]
                    v0 = vg[w]
                    g0 = gg[w]
                    gr = aw + l2 * v0
                    g1 = g0 + gr * gr
                    v1 = v0 - lr * gr / math.sqrt(g1 + 1e-8)
                    on = aw != 0.0
                    gg[w] = g1 if on else g0
                    vg[w] = v1 if on else v0
        if u1 > u0:
            _restore_unknown(k0, k1, x_idx, ind_idx, n_ind, labs, W, GW, A, GA, b, Gb,
                             keep_w, keep_a, keep_b)
            for q in range(labs.size):
                c_unk[label_cluster[labs[q]]] = False
        # ---- local drift: HDDM-A per cluster, alternates ----------------------------
        if local_drift:
            for c in range(n_clusters):
                if not has_main[c]:
                    continue
                loss = 1.0 - f1_main[c]
                dd[c, 0] += 1.0
                dd[c, 1] += loss
                nn = dd[c, 0]
                eps_now = math.sqrt(log_d / (2.0 * nn))
                if dd[c, 2] == 0.0 or dd[c, 1] / nn + eps_now <= (
                        dd[c, 3] / dd[c, 2] + math.sqrt(log_d / (2.0 * dd[c, 2]))):
                    dd[c, 2] = nn
                    dd[c, 3] = dd[c, 1]
                m = nn - dd[c, 2]
                warn = False
                drift = False
                if m > 0:
                    gap = (dd[c, 1] - dd[c, 3]) / m - dd[c, 3] / dd[c, 2]
                    scale = 0.5 * (1.0 / dd[c, 2] + 1.0 / m)
                    drift = gap > math.sqrt(scale * log_d)
                    warn = gap > math.sqrt(scale * log_w)
                if alt_on[c]:
                    alt_n[c] += 1
                    alt_sum[c] += f1_alt[c] - f1_main[c]
                if warn and not drift and not alt_on[c]:
                    # start an alternate powerset for the cluster from scratch
                    vb = (C_cap + c) * K
                    for r in range(vb, vb + K):
                        class_used[r] = False
                        class_nlab[r] = 0
                        class_count[r] = 0.0
                        Vb[r] = 0.0
                        GVb[r] = 0.0
                        for j in range(V.shape[0]):
                            V[j, r] = 0.0
                            GV[j, r] = 0.0
                        for a in range(VA.shape[0]):
                            VA[a, r] = 0.0
                            GVA[a, r] = 0.0
                    for mm in range(M):
                        cand_count[C_cap + c, mm] = 0.0
                    alt_on[c] = True
                    alt_n[c] = 0
                    alt_sum[c] = 0.0
                    _log(ev_buf, ev_count, i, c, 1)
                if alt_on[c]:
                    na = alt_n[c]
                    gain = alt_sum[c] / na if na > 0 else 0.0
                    significant = na >= 30 and gain > math.sqrt(2.0 * log_d / na)
                    if (drift and na >= 30 and gain >= 0.0) or significant:
                        # the alternate replaces the main powerset
                        mb = c * K
                        vb = (C_cap + c) * K
                        for q in range(K):
                            r, ra = mb + q, vb + q
                            class_used[r] = class_used[ra]
                            class_hash[r] = class_hash[ra]
                            class_count[r] = class_count[ra]
                            class_nlab[r] = class_nlab[ra]
                            for t in range(class_nlab[ra]):
                                class_lab[r, t] = class_lab[ra, t]
                            Vb[r] = Vb[ra]
                            GVb[r] = GVb[ra]
                            for j in range(V.shape[0]):
                                V[j, r] = V[j, ra]
                                GV[j, r] = GV[j, ra]
                            for a in range(VA.shape[0]):
                                VA[a, r] = VA[a, ra]
                                GVA[a, r] = GVA[a, ra]
                            class_used[ra] = False
                        for mm in range(M):
                            cand_hash[c, mm] = cand_hash[C_cap + c, mm]
                            cand_count[c, mm] = cand_count[C_cap + c, mm]
                        alt_on[c] = False
                        for z in range(4):
                            dd[c, z] = 0.0
                        _log(ev_buf, ev_count, i, c, 2)
                        continue
                    if na > alt_patience:
                        alt_on[c] = False
                        for q in range(K):
                            class_used[(C_cap + c) * K + q] = False
                        _log(ev_buf, ev_count, i, c, 3)
                if drift:
                    for z in range(4):
                        dd[c, z] = 0.0
                    if not alt_on[c]:
                        _log(ev_buf, ev_count, i, c, 4)
        # ---- the delivered label set becomes the previous one -------------------------
        for l in range(n_labels):
            prev_mask[l] = y[l]
