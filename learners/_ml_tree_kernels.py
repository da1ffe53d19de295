"""numba kernels of :class:`learners.ml_tree.MultiLabelHoeffdingTree`.

Arithmetic of the split criterion
---------------------------------
A node's label vector is read as a multivariate Bernoulli with independent labels, so its
impurity is the sum over labels of the binary entropy (in bits) of each label's
frequency in the node::

    I(node) = sum_l H2(pos_l / n),      H2(p) = -p log2 p - (1 - p) log2 (1 - p)

with ``H2(0) = H2(1) = 0`` and ``I = 0`` for an empty node. The gain of a binary split
is ``I(parent) - n_left / n * I(left) - n_right / n * I(right)``, in bits, between 0 and
``L`` (the number of labels). A leaf splits when its best candidate beats the
second-best candidate of another feature (or the null split, gain 0) by more than the
Hoeffding bound, or when the bound itself is below the tie threshold ``tau``::

    eps = sqrt(R^2 ln(1 / delta) / (2 n)),   R = L   (the range of the summed entropies)
    split  <=>  best > 0  and  (best - second > eps  or  eps < tau)

(or ``R = log2(max(L, 2))``, MOA's choice, with ``log2_range``), ``n`` the records in the
leaf's split statistics.

Statistics layout
-----------------
Per leaf *slot* ``s`` (a leaf's row in the per-leaf arrays):

* dense input: ``bin_n[s, j, b]`` records and ``bin_pos[s, j, b, l]`` positives of label
  ``l`` whose feature ``j`` fell into bin ``b`` of the leaf's range ``[rng_lo, rng_hi]``
  for ``j`` (``n_bins`` equal bins, values outside clipped into the end bins). The
  candidate splits are the bin boundaries, ``x_j <= t_b`` with
  ``t_b = lo + (b + 1) * (hi - lo) / n_bins``; a value's bin is computed so that
  ``x <= t_b`` exactly when its bin is ``<= b`` (the routing test and the statistics
  agree on boundary values). A missing (absent or NaN) feature is not counted; its gain
  is scaled by the share of the leaf's records where it was counted (as C4.5 does).
* sparse input (absent = 0): one "bin", ``bin_n[s, j, 0]`` records where ``x_j != 0``
  and ``bin_pos[s, j, 0, l]`` their positives; the absent side is the leaf total minus
  these. The candidate split of a feature is its presence.

``st_n[s]`` / ``st_pos[s, l]`` are the records and positives since the leaf started
collecting statistics; ``lf_n[s]`` / ``lf_pos[s, l]`` the (inherited + learned) counts the
leaf predicts with, smoothed towards ``lf_prior[s, l]`` (the parent's frequency).

Integer state lives in small int64 tables: ``node_i[FEAT|LEFT|RIGHT|PARENT|SLOT|MLEFT, v]``
per node (``FEAT = -1`` for a leaf; ``MLEFT = 1`` when a missing value goes left, i.e.
the left child had more records at the split), ``slot_i[NODE|ST_N|ST_LAST, s]`` per leaf
slot, and ``counts = [n_learned, n_nodes, n_leaves]``.
"""

from __future__ import annotations

import math

import numpy as np
from stream.kernels.jit import njit

from learners._logistic_kernels import _f1

# rows of node_i
FEAT, LEFT, RIGHT, PARENT, SLOT, MLEFT = 0, 1, 2, 3, 4, 5
# rows of slot_i
NODE, ST_N, ST_LAST = 0, 1, 2
# counts
N_LEARNED, N_NODES, N_LEAVES = 0, 1, 2
# modes
UNDECIDED, DENSE, SPARSE = -1, 0, 1


# --- split arithmetic ------------------------------------------------------------------


@njit(cache=True, nogil=True)
def binary_entropy(p):
    """``H2(p)`` in bits; 0 at (and outside) ``p = 0`` and ``p = 1``.

    Examples
    --------
    >>> binary_entropy(0.5), binary_entropy(0.0), binary_entropy(1.0)
    (1.0, 0.0, 0.0)
    """
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log2(p) + (1.0 - p) * math.log2(1.0 - p))


@njit(cache=True, nogil=True)
def impurity(pos, n, n_labels):
    """Summed binary entropy of ``n_labels`` label counts ``pos`` over ``n`` records.

    0 for an empty node (``n <= 0``).

    Examples
    --------
    >>> import numpy as np
    >>> impurity(np.array([2.0, 4.0, 0.0]), 4.0, 3)
    1.0
    """
    if n <= 0:
        return 0.0
    total = 0.0
    inv = 1.0 / n
    for l in range(n_labels):
        total += binary_entropy(pos[l] * inv)
    return total


@njit(cache=True, nogil=True)
def split_gain(parent_pos, n, left_pos, n_left, n_labels):
    """Gain in bits of splitting ``n`` records (positives ``parent_pos``) into a left
    child of ``n_left`` records with positives ``left_pos`` and the rest on the right.

    Examples
    --------
    >>> import numpy as np
    >>> split_gain(np.array([2.0]), 4.0, np.array([2.0]), 2.0, 1)  # a perfect split
    1.0
    """
    if n <= 0:
        return 0.0
    n_right = n - n_left
    i_parent = impurity(parent_pos, n, n_labels)
    i_left = impurity(left_pos, n_left, n_labels)
    i_right = 0.0
    if n_right > 0:
        inv = 1.0 / n_right
        for l in range(n_labels):
            i_right += binary_entropy((parent_pos[l] - left_pos[l]) * inv)
    return i_parent - (n_left * i_left + n_right * i_right) / n


@njit(cache=True, nogil=True)
def hoeffding_bound(value_range, delta, n):
    """``eps = sqrt(R^2 ln(1/delta) / (2 n))``; infinite for ``n <= 0``.

    Examples
    --------
    >>> round(hoeffding_bound(1.0, 0.01, 100), 6)
    0.151743
    """
    if n <= 0:
        return math.inf
    return math.sqrt(value_range * value_range * math.log(1.0 / delta) / (2.0 * n))


@njit(cache=True, nogil=True)
def merit_range(n_labels, log2_range):
    """``R`` of the Hoeffding bound: ``n_labels`` (the range of the summed entropies) or,
    with ``log2_range``, ``log2(max(n_labels, 2))`` as MOA's multi-label Hoeffding tree.

    Examples
    --------
    >>> merit_range(8, False), merit_range(8, True), merit_range(1, True)
    (8.0, 3.0, 1.0)
    """
    if log2_range:
        return math.log2(max(n_labels, 2))
    return float(max(n_labels, 1))


@njit(cache=True, nogil=True)
def should_split(best, second, eps, tau):
    """The Hoeffding test: ``best > 0 and (best - second > eps or eps < tau)``.

    Examples
    --------
    >>> should_split(0.5, 0.1, 0.3, 0.05), should_split(0.5, 0.4, 0.3, 0.05)
    (True, False)
    >>> should_split(0.0, 0.0, 0.01, 0.05)  # no gain: never
    False
    """
    return best > 0.0 and (best - second > eps or eps < tau)


# --- bins and ranges -------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _boundary(lo, width, b, n_bins):
    """Upper boundary of bin ``b``: the threshold of candidate split ``b``."""
    return lo + (b + 1) * width / n_bins


@njit(cache=True, nogil=True)
def value_bin(v, lo, hi, n_bins):
    """The bin of ``v`` in ``n_bins`` equal bins over ``[lo, hi]`` (clipped to the ends),
    such that ``v <= _boundary(.., b)`` exactly when the bin is ``<= b``.

    Examples
    --------
    >>> [value_bin(v, 0.0, 1.0, 4) for v in (-5.0, 0.25, 0.26, 0.5, 0.99, 7.0)]
    [0, 0, 1, 1, 3, 3]
    """
    width = hi - lo
    r = (v - lo) / width * n_bins
    if r < 0.0:
        b = 0
    elif r >= n_bins:
        b = n_bins - 1
    else:
        b = int(r)
    while b > 0 and v <= _boundary(lo, width, b - 1, n_bins):
        b -= 1
    while b < n_bins - 1 and v > _boundary(lo, width, b, n_bins):
        b += 1
    return b


@njit(cache=True, nogil=True)
def _set_range(s, j, node, node_i, node_thr, fstat, rng_lo, rng_hi, range_min, range_std):
    """Fix leaf slot ``s``'s range for feature ``j``: the global running mean +- range_std
    standard deviations, narrowed to the box the ancestors' splits on ``j`` leave to
    the leaf. Left NaN (feature not counted) while the global statistics are too young,
    the feature is constant, or the box and the range do not overlap."""
    c = fstat[0, j]
    if c < range_min:
        return
    var = fstat[2, j] / (c - 1.0)
    if not var > 1e-24:
        return
    sd = math.sqrt(var)
    lo = fstat[1, j] - range_std * sd
    hi = fstat[1, j] + range_std * sd
    child = node
    parent = node_i[PARENT, child]
    while parent >= 0:
        if node_i[FEAT, parent] == j:
            t = node_thr[parent]
            if node_i[LEFT, parent] == child:
                hi = min(hi, t)
            else:
                lo = max(lo, t)
        child = parent
        parent = node_i[PARENT, child]
    if hi - lo > 1e-12 * (1.0 + abs(lo) + abs(hi)):
        rng_lo[s, j] = lo
        rng_hi[s, j] = hi


# --- routing and prediction ------------------------------------------------------------


@njit(cache=True, nogil=True)
def _route(xv, mode, node_i, node_thr):
    """The leaf slot of a row whose values are spread in ``xv`` (NaN = missing for
    dense input, 0 = absent for sparse input)."""
    v = 0
    while node_i[FEAT, v] >= 0:
        val = xv[node_i[FEAT, v]]
        if mode == SPARSE:
            left = val == 0.0
        elif val != val:
            left = node_i[MLEFT, v] == 1
        else:
            left = val <= node_thr[v]
        v = node_i[LEFT, v] if left else node_i[RIGHT, v]
    return node_i[SLOT, v]


@njit(cache=True, nogil=True)
def _leaf_scores(s, n_labels, lf_n, lf_pos, lf_prior, prior_weight, out):
    denom = lf_n[s] + prior_weight
    for l in range(n_labels):
        if denom > 0.0:
            out[l] = (lf_pos[s, l] + prior_weight * lf_prior[s, l]) / denom
        else:
            out[l] = lf_prior[s, l]


@njit(cache=True, nogil=True)
def _threshold(fixed_thr, n_learned, thr_grid, thr_score):
    if fixed_thr > 0.0:
        return fixed_thr
    if n_learned == 0:
        return thr_grid[thr_grid.size // 2]
    best = 0
    for c in range(1, thr_grid.size):
        if thr_score[c] > thr_score[best]:
            best = c
    return thr_grid[best]


# --- split search ----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def best_split(s, n_features, n_labels, mode, n_bins, min_child, st_n, st_pos, bin_n,
               bin_pos, rng_lo, rank, tot, left):
    """Best and second-best candidate of leaf slot ``s``, one candidate per feature.

    Returns ``(best_gain, second_gain, feature, bin)``; ``feature = -1`` when no
    candidate leaves ``min_child`` records on each side. ``second_gain`` is at least 0
    (the null split). Equal gains go to the feature of lower ``rank`` (a fixed key of
    its name), so the result does not depend on the order features arrived in.
    ``tot`` and ``left`` are scratch vectors of at least ``n_labels``.
    """
    best = -1.0
    second = 0.0
    best_j = -1
    best_b = -1
    n_all = st_n[s]
    if n_all < 2 * min_child:
        return best, second, best_j, best_b
    if mode == SPARSE:
        for l in range(n_labels):
            tot[l] = st_pos[s, l]
        i_parent = impurity(tot, float(n_all), n_labels)
        if i_parent <= 0.0:
            return best, second, best_j, best_b
    for j in range(n_features):
        if mode == SPARSE:
            n_in = bin_n[s, j, 0]
            if n_in < min_child or n_all - n_in < min_child:
                continue
            for l in range(n_labels):
                left[l] = st_pos[s, l] - bin_pos[s, j, 0, l]
            gain = split_gain(tot, float(n_all), left, float(n_all - n_in), n_labels)
            b_j = 0
        else:
            if rng_lo[s, j] != rng_lo[s, j]:
                continue
            n_j = 0
            for b in range(n_bins):
                n_j += bin_n[s, j, b]
            if n_j < 2 * min_child:
                continue
            for l in range(n_labels):
                acc = 0
                for b in range(n_bins):
                    acc += bin_pos[s, j, b, l]
                tot[l] = acc
                left[l] = 0.0
            i_j = impurity(tot, float(n_j), n_labels)
            if i_j <= 0.0:
                continue
            gain = -1.0
            b_j = -1
            n_left = 0
            for b in range(n_bins - 1):
                n_left += bin_n[s, j, b]
                for l in range(n_labels):
                    left[l] += bin_pos[s, j, b, l]
                if n_left < min_child:
                    continue
                if n_j - n_left < min_child:
                    break
                if bin_n[s, j, b] == 0 and b > 0:
                    continue  # same partition as the boundary before
                g = split_gain(tot, float(n_j), left, float(n_left), n_labels)
                if g > gain:
                    gain = g
                    b_j = b
            if b_j < 0:
                continue
            gain *= n_j / n_all  # missing values: scale by the share where j was seen
        if gain > best or (gain == best and best_j >= 0 and rank[j] < rank[best_j]):
            if best > second:
                second = best
            best = gain
            best_j = j
            best_b = b_j
        elif gain > second:
            second = gain
    return best, second, best_j, best_b


@njit(cache=True, nogil=True)
def apply_split(s, j, b, n_labels, n_features, mode, n_bins, prior_weight, counts, node_i,
                node_thr, slot_i, lf_n, lf_pos, lf_prior, st_pos, bin_n, bin_pos, rng_lo,
                rng_hi):
    """Split leaf slot ``s`` on feature ``j`` at candidate ``b``.

    The left child keeps slot ``s``, the right child takes slot ``n_leaves``; both start
    predicting with the counts the split statistics give them, smoothed towards the
    parent's frequencies, and collect fresh statistics. The caller guarantees room for
    two more nodes and one more slot.
    """
    v = slot_i[NODE, s]
    vl = counts[N_NODES]
    vr = vl + 1
    s2 = counts[N_LEAVES]
    # the children's counts, from the split statistics of feature j
    n_split = slot_i[ST_N, s]
    if mode == SPARSE:
        n_right = bin_n[s, j, 0]
        n_left = n_split - n_right
        thr = 0.0
    else:
        n_left = 0
        n_right = 0
        for bb in range(n_bins):
            if bb <= b:
                n_left += bin_n[s, j, bb]
            else:
                n_right += bin_n[s, j, bb]
        thr = _boundary(rng_lo[s, j], rng_hi[s, j] - rng_lo[s, j], b, n_bins)
    denom = lf_n[s] + prior_weight
    for l in range(n_labels):
        if denom > 0.0:
            prior = (lf_pos[s, l] + prior_weight * lf_prior[s, l]) / denom
        else:
            prior = lf_prior[s, l]
        if mode == SPARSE:
            p_right = bin_pos[s, j, 0, l]
            p_left = st_pos[s, l] - p_right
        else:
            p_left = 0
            p_right = 0
            for bb in range(n_bins):
                if bb <= b:
                    p_left += bin_pos[s, j, bb, l]
                else:
                    p_right += bin_pos[s, j, bb, l]
        lf_pos[s, l] = p_left
        lf_pos[s2, l] = p_right
        lf_prior[s, l] = prior
        lf_prior[s2, l] = prior
    lf_n[s] = n_left
    lf_n[s2] = n_right
    node_i[FEAT, v] = j
    node_thr[v] = thr
    node_i[LEFT, v] = vl
    node_i[RIGHT, v] = vr
    node_i[SLOT, v] = -1
    node_i[MLEFT, v] = 1 if n_left >= n_right else 0
    for child, slot in ((vl, s), (vr, s2)):
        node_i[FEAT, child] = -1
        node_i[LEFT, child] = -1
        node_i[RIGHT, child] = -1
        node_i[PARENT, child] = v
        node_i[SLOT, child] = slot
        node_i[MLEFT, child] = 0
        node_thr[child] = 0.0
        slot_i[NODE, slot] = child
        slot_i[ST_N, slot] = 0
        slot_i[ST_LAST, slot] = 0
        st_pos[slot, :] = 0
        bin_n[slot, :, :] = 0
        bin_pos[slot, :, :, :] = 0
        if mode != SPARSE:
            rng_lo[slot, :] = np.nan
            rng_hi[slot, :] = np.nan
    counts[N_NODES] += 2
    counts[N_LEAVES] += 1


@njit(cache=True, nogil=True)
def halve_stats(s, n_labels, n_features, slot_i, st_pos, bin_n, bin_pos):
    """Halve (rounding down) every split statistic of leaf slot ``s``.

    A leaf that never splits would overflow its int32 counts after 2**31 records; at
    ``STATS_LIMIT`` records its statistics are halved instead, which keeps the
    frequencies and makes the Hoeffding bound's ``n`` smaller (more cautious).
    """
    slot_i[ST_N, s] //= 2
    slot_i[ST_LAST, s] = slot_i[ST_N, s]
    for l in range(n_labels):
        st_pos[s, l] //= 2
    for j in range(n_features):
        for b in range(bin_n.shape[2]):
            bin_n[s, j, b] //= 2
            for l in range(n_labels):
                bin_pos[s, j, b, l] //= 2


STATS_LIMIT = 2**30


# --- the per-record loop ---------------------------------------------------------------


@njit(cache=True, nogil=True)
def _score_thresholds(score, y_idx, a0, a1, n_labels, thr_grid, thr_score, thr_fade, ybuf):
    """Fade each threshold's example-F1 and add its F1 on this record (labels
    ``y_idx[a0:a1]``), predicted with ``score`` before the record is learned."""
    for l in range(n_labels):
        ybuf[l] = 0.0
    for a in range(a0, a1):
        ybuf[y_idx[a]] = 1.0
    n_true = a1 - a0
    for c in range(thr_grid.size):
        n_pred = 0
        inter = 0
        for l in range(n_labels):
            if score[l] > thr_grid[c]:
                n_pred += 1
                if ybuf[l] > 0.0:
                    inter += 1
        f1 = _f1(n_true, n_pred, inter)
        thr_score[c] = thr_score[c] * thr_fade + f1


@njit(cache=True, nogil=True)
def step(start, x_ptr, x_idx, x_val, y_ptr, y_idx, learn, n_labels, n_features, mode,
         collect, leaf_cap, n_bins, grace, delta, tau, log2_range, min_child, prior_weight,
         fixed_thr, range_min, range_std, counts, fstat, rank, node_i, node_thr, slot_i,
         lf_n, lf_pos, lf_prior, st_pos, bin_n, bin_pos, rng_lo, rng_hi, thr_grid,
         thr_score, thr_fade, out_pred, out_score, out_leaf, status):
    """Predict (and, if ``learn``, then learn) rows ``start ..`` of a CSR block.

    Each row is routed to its leaf and scored with the model as it stands; when learning,
    the threshold grid's faded example-F1 is updated with that prediction, then the
    global feature statistics, the leaf's counts and its split statistics (if
    ``collect`` and fewer than ``leaf_cap`` leaves), and every ``grace`` records the leaf
    tries a split. A split that needs more room than the arrays have stops the loop:
    ``status = [next_row, slot, feature, bin]`` (``slot = -1`` when the block is done),
    and the caller grows the arrays, calls :func:`apply_split` and resumes.
    Outputs go to ``out_pred`` / ``out_score`` rows when those have rows. When
    ``out_leaf`` has rows the tree only routes (iHOMER's router): ``out_leaf[i]`` is the
    node of row ``i``'s leaf before the row is learned, and the threshold grid is left
    alone.
    """
    n = x_ptr.size - 1
    fill = 0.0 if mode == SPARSE else np.nan
    xv = np.full(max(n_features, 1), fill)
    score = np.zeros(max(n_labels, 1))
    ybuf = np.zeros(max(n_labels, 1))
    tot = np.zeros(max(n_labels, 1))
    left = np.zeros(max(n_labels, 1))
    write = out_pred.shape[0] > 0
    route = out_leaf.shape[0] > 0
    status[0] = n
    status[1] = -1
    r_bound = merit_range(n_labels, log2_range)
    log_term = math.log(1.0 / delta)
    for i in range(start, n):
        k0 = x_ptr[i]
        k1 = x_ptr[i + 1]
        for k in range(k0, k1):
            v = x_val[k]
            if v == v:
                xv[x_idx[k]] = v
        s = _route(xv, mode, node_i, node_thr)
        if route:
            out_leaf[i] = slot_i[NODE, s]
        else:
            _leaf_scores(s, n_labels, lf_n, lf_pos, lf_prior, prior_weight, score)
        if write:
            thr = _threshold(fixed_thr, counts[N_LEARNED], thr_grid, thr_score)
            for l in range(n_labels):
                out_score[i, l] = score[l]
                out_pred[i, l] = score[l] > thr
        for k in range(k0, k1):
            xv[x_idx[k]] = fill
        if not learn:
            continue
        a0 = y_ptr[i]
        a1 = y_ptr[i + 1]
        if not route:
            _score_thresholds(score, y_idx, a0, a1, n_labels, thr_grid, thr_score, thr_fade,
                              ybuf)
        counts[N_LEARNED] += 1
        # global running mean / variance of each feature (for the bin ranges)
        for k in range(k0, k1):
            v = x_val[k]
            if v == v:
                j = x_idx[k]
                fstat[0, j] += 1.0
                d = v - fstat[1, j]
                fstat[1, j] += d / fstat[0, j]
                fstat[2, j] += d * (v - fstat[1, j])
        # the leaf's prediction counts
        lf_n[s] += 1.0
        for a in range(a0, a1):
            lf_pos[s, y_idx[a]] += 1.0
        if not collect or counts[N_LEAVES] >= leaf_cap:
            continue
        # split statistics
        slot_i[ST_N, s] += 1
        for a in range(a0, a1):
            st_pos[s, y_idx[a]] += 1
        node = slot_i[NODE, s]
        for k in range(k0, k1):
            v = x_val[k]
            if v != v:
                continue
            j = x_idx[k]
            if mode == SPARSE:
                if v == 0.0:
                    continue
                b = 0
            else:
                if rng_lo[s, j] != rng_lo[s, j]:
                    _set_range(s, j, node, node_i, node_thr, fstat, rng_lo, rng_hi,
                               range_min, range_std)
                    if rng_lo[s, j] != rng_lo[s, j]:
                        continue
                b = value_bin(v, rng_lo[s, j], rng_hi[s, j], n_bins)
            bin_n[s, j, b] += 1
            for a in range(a0, a1):
                bin_pos[s, j, b, y_idx[a]] += 1
        if slot_i[ST_N, s] >= STATS_LIMIT:
            halve_stats(s, n_labels, n_features, slot_i, st_pos, bin_n, bin_pos)
            continue
        if slot_i[ST_N, s] - slot_i[ST_LAST, s] < grace:
            continue
        slot_i[ST_LAST, s] = slot_i[ST_N, s]
        best, second, j, b = best_split(s, n_features, n_labels, mode, n_bins, min_child,
                                        slot_i[ST_N], st_pos, bin_n, bin_pos, rng_lo, rank,
                                        tot, left)
        if j < 0:
            continue
        eps = r_bound * math.sqrt(log_term / (2.0 * slot_i[ST_N, s]))
        if not should_split(best, second, eps, tau):
            continue
        if counts[N_LEAVES] >= lf_n.size or counts[N_NODES] + 2 > node_thr.size:
            status[0] = i + 1
            status[1] = s
            status[2] = j
            status[3] = b
            return
        apply_split(s, j, b, n_labels, n_features, mode, n_bins, prior_weight, counts,
                    node_i, node_thr, slot_i, lf_n, lf_pos, lf_prior, st_pos, bin_n,
                    bin_pos, rng_lo, rng_hi)
