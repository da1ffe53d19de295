"""numba kernels of :class:`learners.moe.MixtureOfExperts`: one routed step per record.

All state lives in arrays owned by the Python object; the kernels validate nothing.

Notation: ``D`` features, ``L`` labels, ``S`` specialist slots; the expert *bank* holds
``S + 1`` binary relevance models of logistic regressions (slot ``S`` is the warm
candidate), ``W (S + 1, D, L)``, ``b (S + 1, L)`` with AdaGrad sums ``GW``, ``Gb``. ``G``
label groups: one group of every label for data-regime experts, the generalist's label
clusters for task experts (``grp_ptr`` / ``grp_lab``: the labels of each group, CSR).
Per (slot, group): faded threshold scores ``thr_score (S + 1, G, n_grid)``, records
learned ``n_lrn``, faded usage ``usage`` and recent example-F1 ``fast``.

The router is a one-hidden-layer MLP (``tanh``), ``z_e = W2[:, e] . tanh(W1^T s + b1) +
b2[e] + a[0] ctx[e, 0] + a[1] ctx[e, 1]``, over ``E`` outputs: ``S`` slots plus the
generalist (data experts, output ``S``) or the ``G`` groups (task experts). ``s`` is the
standardised record (shared with the experts). The two context inputs of each output
(its recent example-F1, and how far it is below the best output now, for data experts;
the group's recent F1 and whether the previous record involved it, for task experts) go
through weights ``a`` shared by all outputs, so what the router learns about them holds
at once for an expert that was just replaced. The router learns by Adam on the binary
cross-entropy of ``sigmoid(z)`` against the correctness mask of the last ``router_batch``
records, every ``router_every`` learned records; routing uses ``softmax(z / T)`` over the
``top_k`` largest logits.

Local drift: an HDDM-A test (Frias-Blanco et al. 2015, Hoeffding bounds on the mean loss
before and after the cut point where ``mean + eps`` was lowest) per routed expert (data)
or per group's serving expert (task) on the loss ``1 - example F1``. A warning restarts
the candidate (it then learns the new regime from every record). A drift copies the
failing expert into the least used other slot, frozen there as a *memory* of its regime
with its home level ``ref`` (its longer-run F1 ``slow``); the expert itself goes on
learning. The candidate replaces an expert once its paired F1 gain on that expert's
records, since the restart, is significantly positive (``replace_z`` standard errors,
at least 30 pairs). A memory whose recent F1 ``fast`` is back within
``reactivate_margin`` of its home level and ahead of every learning expert by that margin
learns (data) or serves (task) again: a recurring regime. Events go to ``ev_buf`` as
``(row, code, slot, group, memory)``: 1 = warning (candidate restarted), 2 = drift
(``slot`` failing, its copy kept in ``memory``), 3 = ``slot`` replaced from the
candidate, 4 = memory ``slot`` reactivated.

Unknown labels: ``u_ptr`` / ``u_idx`` list each row's unknown label columns (CSR; every
row empty on a clean stream, which then runs exactly as without them). An unknown label
of a learned record is scored as neither predicted nor true by every model, the
generalist and the mixture (so the router's correctness mask, the gate, the thresholds
and the drift tests read the known labels only), and the bank's weights, biases and
AdaGrad sums of that label are put back as they were after the experts' step.
"""

from __future__ import annotations

import math

import numpy as np
from stream.kernels.jit import njit

from learners._logistic_kernels import _f1, _sigmoid, _standardise, robust_weight

EV_WARNING, EV_DRIFT, EV_REPLACED, EV_REACTIVATED = 1, 2, 3, 4

#: Hyper-parameters, in the order of the ``hp`` array the kernels take.
HYPER = ("lr", "l2", "thr_fade", "usage_fade", "fast_fade", "slow_fade", "min_records",
         "gate_fade", "gate_z", "gate_margin", "router_lr", "router_l2", "temperature",
         "correct_threshold", "include_threshold", "warning_confidence",
         "drift_confidence", "candidate_cooldown", "reactivate_margin", "replace_z",
         "top_k", "router_every", "router_batch", "robust")
(H_LR, H_L2, H_THR_FADE, H_USAGE_FADE, H_FAST_FADE, H_SLOW_FADE, H_MIN_RECORDS, H_GATE_FADE,
 H_GATE_Z, H_GATE_MARGIN, H_ROUTER_LR, H_ROUTER_L2, H_TEMPERATURE, H_CORRECT, H_INCLUDE,
 H_WARN, H_DRIFT, H_COOLDOWN, H_REACTIVATE, H_REPLACE_Z, H_TOP_K, H_ROUTER_EVERY,
 H_ROUTER_BATCH, H_ROBUST) = range(len(HYPER))
#: Rows of the per-(slot, group) ``stats`` array: records learned, faded usage, recent
#: example-F1, longer-run example-F1, and a memory's home level.
ST_N, ST_USAGE, ST_FAST, ST_SLOW, ST_REF = range(5)


@njit(cache=True, nogil=True, inline="always")
def _log(ev_buf, ev_count, row, code, slot, group, memory):
    k = ev_count[0]
    if k < ev_buf.shape[0]:
        ev_buf[k, 0] = row
        ev_buf[k, 1] = code
        ev_buf[k, 2] = slot
        ev_buf[k, 3] = group
        ev_buf[k, 4] = memory
    ev_count[0] = k + 1


@njit(cache=True, nogil=True)
def _hddm(dd, c, loss, log_w, log_d):
    """One HDDM-A update of detector ``c``: 0 = in control, 1 = warning, 2 = drift.

    ``dd[c] = (n, sum, cut_n, cut_sum)`` of the loss; a drift restarts the detector.
    """
    dd[c, 0] += 1.0
    dd[c, 1] += loss
    nn = dd[c, 0]
    if dd[c, 2] == 0.0 or dd[c, 1] / nn + math.sqrt(log_d / (2.0 * nn)) <= (
            dd[c, 3] / dd[c, 2] + math.sqrt(log_d / (2.0 * dd[c, 2]))):
        dd[c, 2] = nn
        dd[c, 3] = dd[c, 1]
    m = nn - dd[c, 2]
    if m <= 0:
        return 0
    gap = (dd[c, 1] - dd[c, 3]) / m - dd[c, 3] / dd[c, 2]
    scale = 0.5 * (1.0 / dd[c, 2] + 1.0 / m)
    if gap > math.sqrt(scale * log_d):
        for z in range(4):
            dd[c, z] = 0.0
        return 2
    if gap > math.sqrt(scale * log_w):
        return 1
    return 0


@njit(cache=True, nogil=True)
def _standardised(k0, k1, x_idx, x_val, center, f_count, f_mean, f_m2, f_sumsq, n_total, s):
    for k in range(k0, k1):
        s[k - k0] = _standardise(x_idx[k], x_val[k], center, f_count, f_mean, f_m2, f_sumsq,
                                 n_total)


@njit(cache=True, nogil=True)
def _bank_forward(k0, k1, x_idx, s, W, b, n_labels, p):
    """``p[m, l]``: probability of label ``l`` under bank model ``m`` (all models)."""
    M = p.shape[0]
    for m in range(M):
        for l in range(n_labels):
            p[m, l] = b[m, l]
    for k in range(k0, k1):
        sj = s[k - k0]
        if sj != 0.0:
            j = x_idx[k]
            for m in range(M):
                for l in range(n_labels):
                    p[m, l] += W[m, j, l] * sj
    for m in range(M):
        for l in range(n_labels):
            p[m, l] = _sigmoid(p[m, l])


@njit(cache=True, nogil=True)
def _threshold(thr_score, m, g, thr_grid, n_lrn):
    if n_lrn[m, g] <= 0:
        return 0.35
    bt = 0
    for c in range(thr_grid.size):
        if thr_score[m, g, c] > thr_score[m, g, bt]:
            bt = c
    return thr_grid[bt]


@njit(cache=True, nogil=True)
def _score_thresholds(thr_score, m, g, thr_grid, fade, p, y, labs, n_true):
    """Fade and add the example-F1 every grid threshold would have scored on ``labs``."""
    for c in range(thr_grid.size):
        n_p = 0
        i_p = 0
        for q in range(labs.size):
            l = labs[q]
            if p[m, l] > thr_grid[c]:
                n_p += 1
                if y[l]:
                    i_p += 1
        thr_score[m, g, c] = thr_score[m, g, c] * fade + _f1(n_true, n_p, i_p)


@njit(cache=True, nogil=True)
def _learn_model(m, k0, k1, x_idx, s, y, p, labs, W, GW, b, Gb, lr, l2, robust):
    """One AdaGrad step of bank model ``m`` on the labels ``labs`` (``p`` before it).

    ``robust > 0``: a label absent from the record steps with weight ``1 - robust * p``
    (:func:`learners._logistic_kernels.robust_weight`); 0 is the plain step.
    """
    for q in range(labs.size):
        l = labs[q]
        g = p[m, l] - (1.0 if y[l] else 0.0)
        if robust > 0.0 and not y[l]:
            g *= robust_weight(p[m, l], robust)
        Gb[m, l] += g * g
        b[m, l] -= lr * g / math.sqrt(Gb[m, l] + 1e-8)
    for k in range(k0, k1):
        sj = s[k - k0]
        if sj == 0.0:
            continue
        j = x_idx[k]
        for q in range(labs.size):
            l = labs[q]
            g = p[m, l] - (1.0 if y[l] else 0.0)
            if robust > 0.0 and not y[l]:
                g *= robust_weight(p[m, l], robust)
            gr = g * sj + l2 * W[m, j, l]
            GW[m, j, l] += gr * gr
            W[m, j, l] -= lr * gr / math.sqrt(GW[m, j, l] + 1e-8)


@njit(cache=True, nogil=True)
def _copy_model(src, dst, labs, W, GW, b, Gb):
    D = W.shape[1]
    for q in range(labs.size):
        l = labs[q]
        b[dst, l] = b[src, l]
        Gb[dst, l] = Gb[src, l]
        for j in range(D):
            W[dst, j, l] = W[src, j, l]
            GW[dst, j, l] = GW[src, j, l]


@njit(cache=True, nogil=True)
def _reset_model(m, labs, W, GW, Gb):
    """Forget what model ``m`` learned on ``labs``, keeping its label biases (priors)."""
    D = W.shape[1]
    for q in range(labs.size):
        l = labs[q]
        Gb[m, l] = 0.0
        for j in range(D):
            W[m, j, l] = 0.0
            GW[m, j, l] = 0.0


@njit(cache=True, nogil=True)
def _router_forward(k0, k1, x_idx, s, R1, Rb1, R2, Rb2, Ra, ctx, n_out, h, z):
    """Router logits ``z`` of the record whose present standardised features are ``s``."""
    W1, b1, W2, b2, a = R1[0], Rb1[0], R2[0], Rb2[0], Ra[0]
    H = b1.size
    for u in range(H):
        h[u] = b1[u]
    for k in range(k0, k1):
        sj = s[k - k0]
        if sj != 0.0:
            j = x_idx[k]
            for u in range(H):
                h[u] += W1[j, u] * sj
    for u in range(H):
        h[u] = math.tanh(h[u])
    for e in range(n_out):
        t = b2[e] + a[0] * ctx[e, 0] + a[1] * ctx[e, 1]
        for u in range(H):
            t += W2[u, e] * h[u]
        z[e] = t


@njit(cache=True, nogil=True)
def _adam(w, g, m, v, lr, t, l2):
    b1c = 1.0 - 0.9 ** t
    b2c = 1.0 - 0.999 ** t
    for i in range(w.size):
        gi = g[i] + l2 * w[i]
        m[i] = 0.9 * m[i] + 0.1 * gi
        v[i] = 0.999 * v[i] + 0.001 * gi * gi
        w[i] -= lr * (m[i] / b1c) / (math.sqrt(v[i] / b2c) + 1e-8)


@njit(cache=True, nogil=True)
def _router_train(n_rows, n_out, buf_idx, buf_val, buf_nnz, buf_ctx, buf_mask, buf_valid,
                  buf_pos, R1, Rb1, R2, Rb2, Ra, t, lr, l2):
    """One Adam step on the mean binary cross-entropy of the last ``n_rows`` records.

    ``R1 = (W1, its first moments, its second moments)``, likewise ``Rb1`` (hidden
    biases), ``R2`` (output weights), ``Rb2`` (output biases) and ``Ra`` (the shared
    context weights). The input rows are sparse (the buffer keeps the present
    standardised features), and only the first-layer rows of features present in the
    mini-batch are updated ("lazy" Adam, as for embeddings), so a step costs
    O(present features x hidden), not O(D).
    """
    W1, b1, W2, b2, a = R1[0], Rb1[0], R2[0], Rb2[0], Ra[0]
    H = b1.size
    B = buf_idx.shape[0]
    row_of = np.full(W1.shape[0], -1, dtype=np.int64)
    feats = np.zeros(n_rows * buf_idx.shape[1], dtype=np.int64)
    n_f = 0
    for q in range(n_rows):
        r = (buf_pos - 1 - q) % B
        for k in range(buf_nnz[r]):
            j = buf_idx[r, k]
            if row_of[j] < 0:
                row_of[j] = n_f
                feats[n_f] = j
                n_f += 1
    gW1 = np.zeros((max(n_f, 1), H))
    gb1 = np.zeros(H)
    gW2 = np.zeros((H, W2.shape[1]))
    gb2 = np.zeros(W2.shape[1])
    ga = np.zeros(2)
    h = np.zeros(H)
    dh = np.zeros(H)
    scale = 1.0 / n_rows
    for q in range(n_rows):
        r = (buf_pos - 1 - q) % B
        for u in range(H):
            h[u] = b1[u]
        for k in range(buf_nnz[r]):
            j = buf_idx[r, k]
            xj = buf_val[r, k]
            for u in range(H):
                h[u] += W1[j, u] * xj
        for u in range(H):
            h[u] = math.tanh(h[u])
            dh[u] = 0.0
        for e in range(n_out):
            if not buf_valid[r, e]:
                continue
            t_e = b2[e] + a[0] * buf_ctx[r, e, 0] + a[1] * buf_ctx[r, e, 1]
            for u in range(H):
                t_e += W2[u, e] * h[u]
            d = (_sigmoid(t_e) - buf_mask[r, e]) * scale
            gb2[e] += d
            ga[0] += d * buf_ctx[r, e, 0]
            ga[1] += d * buf_ctx[r, e, 1]
            for u in range(H):
                gW2[u, e] += d * h[u]
                dh[u] += d * W2[u, e]
        for u in range(H):
            dh[u] *= 1.0 - h[u] * h[u]
            gb1[u] += dh[u]
        for k in range(buf_nnz[r]):
            jj = row_of[buf_idx[r, k]]
            xj = buf_val[r, k]
            for u in range(H):
                gW1[jj, u] += xj * dh[u]
    for q in range(n_f):
        j = feats[q]
        _adam(R1[0, j], gW1[q], R1[1, j], R1[2, j], lr, t, l2)
    for u in range(H):
        _adam(R2[0, u], gW2[u], R2[1, u], R2[2, u], lr, t, l2)
    _adam(Rb1[0], gb1, Rb1[1], Rb1[2], lr, t, 0.0)
    _adam(Rb2[0], gb2, Rb2[1], Rb2[2], lr, t, 0.0)
    _adam(Ra[0], ga, Ra[1], Ra[2], lr, t, 0.0)


@njit(cache=True, nogil=True)
def _top_k(z, valid, n_out, k, chosen):
    """Indices of the ``k`` largest valid logits (ties: lowest index) -> count."""
    n = 0
    for _ in range(k):
        best = -1
        for e in range(n_out):
            if not valid[e]:
                continue
            taken = False
            for q in range(n):
                if chosen[q] == e:
                    taken = True
                    break
            if taken:
                continue
            if best < 0 or z[e] > z[best]:
                best = e
        if best < 0:
            break
        chosen[n] = best
        n += 1
    return n


@njit(cache=True, nogil=True)
def _gate_open(gate, z_gate, margin):
    """Whether the faded paired gain of the mixture over the generalist is significant.

    ``gate = (S0, S1, S2)``: faded weight, sum and sum of squares of the per-record
    example-F1 difference (mixture minus generalist).
    """
    if gate[0] < 1.0:
        return False
    mean = gate[1] / gate[0]
    var = max(gate[2] / gate[0] - mean * mean, 0.0)
    return mean > margin + z_gate * math.sqrt(var / gate[0])


@njit(cache=True, nogil=True)
def _push_buffer(k0, k1, x_idx, s, n_out, ctx, mask, valid, buf_idx, buf_val, buf_nnz,
                 buf_ctx, buf_mask, buf_valid, istate):
    B = buf_idx.shape[0]
    r = istate[3]
    nz = 0
    for k in range(k0, k1):
        if s[k - k0] != 0.0:
            buf_idx[r, nz] = x_idx[k]
            buf_val[r, nz] = s[k - k0]
            nz += 1
    buf_nnz[r] = nz
    for e in range(buf_mask.shape[1]):
        if e < n_out:
            buf_ctx[r, e, 0] = ctx[e, 0]
            buf_ctx[r, e, 1] = ctx[e, 1]
            buf_mask[r, e] = mask[e]
            buf_valid[r, e] = valid[e]
        else:
            buf_valid[r, e] = False
    istate[3] = (r + 1) % B
    if istate[2] < B:
        istate[2] += 1


@njit(cache=True, nogil=True)
def _significant(alt, c, z, n_min):
    """Whether the paired gains in ``alt[c] = (n, sum, sum of squares)`` are significantly
    positive (mean above ``z`` standard errors, after at least ``n_min`` pairs)."""
    n = alt[c, 0]
    if n < n_min:
        return False
    mean = alt[c, 1] / n
    var = max(alt[c, 2] / n - mean * mean, 0.0)
    return mean > 0.0 and mean > z * math.sqrt(var / n)


@njit(cache=True, nogil=True)
def _move_scores(src, dst, g, thr_score, stats):
    for c in range(thr_score.shape[2]):
        thr_score[dst, g, c] = thr_score[src, g, c]
    for r in (ST_N, ST_FAST, ST_SLOW):
        stats[r, dst, g] = stats[r, src, g]


@njit(cache=True, nogil=True)
def _update_features(k0, k1, x_idx, x_val, f_count, f_mean, f_m2, f_sumsq):
    for kk in range(k0, k1):
        j = x_idx[kk]
        v = x_val[kk]
        f_count[j] += 1
        delta = v - f_mean[j]
        f_mean[j] += delta / f_count[j]
        f_m2[j] += delta * (v - f_mean[j])
        f_sumsq[j] += v * v


@njit(cache=True, nogil=True)
def _gate_update(gstat, d, fade):
    gstat[1] = gstat[1] * fade + 1.0
    gstat[2] = gstat[2] * fade + d
    gstat[3] = gstat[3] * fade + d * d


@njit(cache=True, nogil=True)
def _mix_minus_generalist(i, y, gen_pred, mix_pred, n_true, n_labels):
    """Example-F1 of the mixture minus the generalist's on record ``i``."""
    n_p = 0
    i_p = 0
    n_m = 0
    i_m = 0
    for l in range(n_labels):
        if gen_pred[i, l]:
            n_p += 1
            if y[l]:
                i_p += 1
        if mix_pred[l]:
            n_m += 1
            if y[l]:
                i_m += 1
    return _f1(n_true, n_m, i_m) - _f1(n_true, n_p, i_p)


@njit(cache=True, nogil=True)
def _hide_unknown(i, labs, p, gen_pred, mix_pred, pa):
    """Score the unknown labels ``labs`` of record ``i`` as neither predicted nor true:
    no model's probability is above a threshold, no vote is on (the record's outputs are
    already written)."""
    for q in range(labs.size):
        l = labs[q]
        for m in range(p.shape[0]):
            p[m, l] = -1.0
        gen_pred[i, l] = False
        mix_pred[l] = False
        pa[l] = False


@njit(cache=True, nogil=True)
def _keep_unknown(k0, k1, x_idx, labs, W, GW, b, Gb, save, keep_w, keep_b):
    """Save (``save``) or put back the bank's weights, biases and AdaGrad sums of the
    labels ``labs`` at the row's features, so that an unknown label learns nothing.
    Put back in reverse order: a feature repeated in the row gets its first value."""
    M = W.shape[0]
    for q in range(labs.size):
        l = labs[q]
        for m in range(M):
            if save:
                keep_b[0, m, q] = b[m, l]
                keep_b[1, m, q] = Gb[m, l]
                for k in range(k0, k1):
                    j = x_idx[k]
                    keep_w[0, m, q, k - k0] = W[m, j, l]
                    keep_w[1, m, q, k - k0] = GW[m, j, l]
            else:
                b[m, l] = keep_b[0, m, q]
                Gb[m, l] = keep_b[1, m, q]
                for k in range(k1 - 1, k0 - 1, -1):
                    j = x_idx[k]
                    W[m, j, l] = keep_w[0, m, q, k - k0]
                    GW[m, j, l] = keep_w[1, m, q, k - k0]


@njit(cache=True, nogil=True)
def _read_labels(i, y_ptr, y_idx, y, n_labels):
    for l in range(n_labels):
        y[l] = False
    for kk in range(y_ptr[i], y_ptr[i + 1]):
        y[y_idx[kk]] = True
    return y_ptr[i + 1] - y_ptr[i]


@njit(cache=True, nogil=True)
def _router_step(istate, hp, n_out, buf_idx, buf_val, buf_nnz, buf_ctx, buf_mask, buf_valid,
                 R1, Rb1, R2, Rb2, Ra):
    """After a learned record: a router step every ``router_every`` records."""
    if istate[0] % int(hp[H_ROUTER_EVERY]) == 0:
        istate[1] += 1
        _router_train(min(istate[2], int(hp[H_ROUTER_BATCH])), n_out, buf_idx, buf_val,
                      buf_nnz, buf_ctx, buf_mask, buf_valid, istate[3], R1, Rb1, R2, Rb2,
                      Ra, float(istate[1]), hp[H_ROUTER_LR], hp[H_ROUTER_L2])


@njit(cache=True, nogil=True)
def _data_mixture(i, z, valid, top_k, temperature, chosen, wts, p, thr, gen_pred, gen_score,
                  n_labels, vote, mix_pred, mix_score):
    """The mixture's prediction: weighted vote of the top-k valid outputs -> top output."""
    S = p.shape[0] - 1
    E = S + 1
    k = _top_k(z, valid, E, top_k, chosen)
    for l in range(n_labels):
        vote[l] = 0.0
        mix_score[l] = 0.0
    if k == 0:  # nothing trained yet: the candidate (learning every record) answers
        for l in range(n_labels):
            mix_pred[l] = p[S, l] > thr[S]
            mix_score[l] = p[S, l]
        return S
    zmax = z[chosen[0]]
    tot = 0.0
    for q in range(k):
        wts[q] = math.exp((z[chosen[q]] - zmax) / temperature)
        tot += wts[q]
    for q in range(k):
        e = chosen[q]
        w = wts[q] / tot
        for l in range(n_labels):
            if e == S:  # the generalist
                on = gen_pred[i, l]
                sc = gen_score[i, l]
            else:
                on = p[e, l] > thr[e]
                sc = p[e, l]
            if on:
                vote[l] += w
            mix_score[l] += w * sc
    for l in range(n_labels):
        mix_pred[l] = vote[l] > 0.5
    return chosen[0]


@njit(cache=True, nogil=True)
def _data_scores(i, y, n_true, p, thr, gen_pred, n_labels, f1):
    """Example-F1 of every bank model and the generalist on record ``i``: slots
    ``0 .. S-1``, the generalist at ``S``, the candidate at ``S + 1``."""
    S = p.shape[0] - 1
    for m in range(S + 1):
        n_p = 0
        i_p = 0
        for l in range(n_labels):
            if p[m, l] > thr[m]:
                n_p += 1
                if y[l]:
                    i_p += 1
        f1[m if m < S else S + 1] = _f1(n_true, n_p, i_p)
    n_p = 0
    i_p = 0
    for l in range(n_labels):
        if gen_pred[i, l]:
            n_p += 1
            if y[l]:
                i_p += 1
    f1[S] = _f1(n_true, n_p, i_p)


@njit(cache=True, nogil=True)
def _data_mask(f1, valid, mask, correct_threshold):
    """The correctness mask: outputs whose example-F1 reaches the threshold, else the best."""
    best = -1.0
    any_right = False
    for e in range(valid.size):
        if valid[e]:
            best = max(best, f1[e])
            if f1[e] >= correct_threshold:
                any_right = True
    for e in range(valid.size):
        right = f1[e] >= correct_threshold or (not any_right and f1[e] >= best)
        mask[e] = 1.0 if valid[e] and right else 0.0


@njit(cache=True, nogil=True)
def _data_learn(k0, k1, x_idx, s, y, n_true, p, z, learnable, trainable, routed, f1, W, GW,
                b, Gb, all_labs, thr_grid, thr_score, stats, age, gstat, hp):
    """The top-k learning specialists and the candidate learn the record; scores fade.
    Returns how many specialists learned it (their slots in ``routed``)."""
    S = W.shape[0] - 1
    n_lrn, usage, fast, slow = stats[ST_N], stats[ST_USAGE], stats[ST_FAST], stats[ST_SLOW]
    lr, l2 = hp[H_LR], hp[H_L2]
    for e in range(S + 1):
        trainable[e] = e < S and learnable[e]
    n_routed = _top_k(z, trainable, S + 1, int(hp[H_TOP_K]), routed)
    for q in range(n_routed):
        e = routed[q]
        _score_thresholds(thr_score, e, 0, thr_grid, hp[H_THR_FADE], p, y, all_labs, n_true)
        _learn_model(e, k0, k1, x_idx, s, y, p, all_labs, W, GW, b, Gb, lr, l2, hp[H_ROBUST])
        n_lrn[e, 0] += 1.0
    _score_thresholds(thr_score, S, 0, thr_grid, hp[H_THR_FADE], p, y, all_labs, n_true)
    _learn_model(S, k0, k1, x_idx, s, y, p, all_labs, W, GW, b, Gb, lr, l2, hp[H_ROBUST])
    n_lrn[S, 0] += 1.0
    age[0] += 1.0
    fast_fade, slow_fade = hp[H_FAST_FADE], hp[H_SLOW_FADE]
    for m in range(S + 1):
        usage[m, 0] *= hp[H_USAGE_FADE]
        fm = f1[m if m < S else S + 1]
        fast[m, 0] = fast[m, 0] * fast_fade + (1.0 - fast_fade) * fm
        slow[m, 0] = slow[m, 0] * slow_fade + (1.0 - slow_fade) * fm
    for q in range(n_routed):
        usage[routed[q], 0] += 1.0
    gstat[0] = gstat[0] * fast_fade + (1.0 - fast_fade) * f1[S]
    return n_routed


@njit(cache=True, nogil=True)
def _data_drift(i, routed, n_routed, f1, all_labs, W, GW, b, Gb, thr_score, stats,
                learnable, dd, warn_on, alt, age, hp, ev_buf, ev_count):
    """Drift of the routed specialists, the candidate's replacements, and memories that
    come back (see the module docstring)."""
    S = W.shape[0] - 1
    CAND = S
    n_lrn, usage, fast, slow, ref = (stats[ST_N], stats[ST_USAGE], stats[ST_FAST],
                                     stats[ST_SLOW], stats[ST_REF])
    min_records, margin = hp[H_MIN_RECORDS], hp[H_REACTIVATE]
    log_w = math.log(1.0 / hp[H_WARN])
    log_d = math.log(1.0 / hp[H_DRIFT])
    for q in range(n_routed):
        e = routed[q]
        if n_lrn[e, 0] < min_records:
            continue
        d = f1[S + 1] - f1[e]  # the candidate against this expert, on its own records
        alt[e, 0] += 1.0
        alt[e, 1] += d
        alt[e, 2] += d * d
        if _significant(alt, e, hp[H_REPLACE_Z], 30.0):
            _copy_model(CAND, e, all_labs, W, GW, b, Gb)
            _move_scores(CAND, e, 0, thr_score, stats)
            n_lrn[e, 0] = max(n_lrn[e, 0], min_records)
            dd[e, :] = 0.0
            alt[e, :] = 0.0
            warn_on[e] = False
            _log(ev_buf, ev_count, i, EV_REPLACED, e, 0, -1)
            continue
        state = _hddm(dd, e, 1.0 - f1[e], log_w, log_d)
        if state == 1 and not warn_on[e] and age[0] >= hp[H_COOLDOWN]:
            _reset_model(CAND, all_labs, W, GW, Gb)
            thr_score[CAND, 0, :] = 0.0
            n_lrn[CAND, 0] = 0.0
            age[0] = 0.0
            alt[:S, :] = 0.0
            _log(ev_buf, ev_count, i, EV_WARNING, e, 0, -1)
        warn_on[e] = state == 1
        if state == 2:
            # keep what the expert knew as a memory in the least used other slot; the
            # expert itself goes on learning (replaced once the candidate is better)
            j = -1
            for r in range(S):
                if r != e and (j < 0 or usage[r, 0] < usage[j, 0]):
                    j = r
            if j >= 0:
                _copy_model(e, j, all_labs, W, GW, b, Gb)
                _move_scores(e, j, 0, thr_score, stats)
                ref[j, 0] = slow[e, 0]
                usage[j, 0] = usage[e, 0]
                learnable[j] = False
                warn_on[j] = False
                dd[j, :] = 0.0
                alt[j, :] = 0.0
            _log(ev_buf, ev_count, i, EV_DRIFT, e, 0, j)
    # a memory back at its own level, ahead of every learning expert, learns again
    best_live = -1.0
    for r in range(S):
        if learnable[r] and n_lrn[r, 0] >= min_records:
            best_live = max(best_live, fast[r, 0])
    for r in range(S):
        if (not learnable[r] and n_lrn[r, 0] >= min_records
                and fast[r, 0] >= ref[r, 0] - margin and fast[r, 0] >= best_live + margin):
            learnable[r] = True
            best_live = fast[r, 0]
            dd[r, :] = 0.0
            _log(ev_buf, ev_count, i, EV_REACTIVATED, r, 0, -1)


@njit(cache=True, nogil=True)
def _data_context(ctx, stats, gstat, gen_on, min_records):
    """Router context per output: recent F1, and its gap to the best output now."""
    fast, n_lrn = stats[ST_FAST], stats[ST_N]
    S = fast.shape[0] - 1
    best = gstat[0] if gen_on else -1.0
    for e in range(S):
        if n_lrn[e, 0] >= min_records:
            best = max(best, fast[e, 0])
    for e in range(S):
        if n_lrn[e, 0] >= min_records:
            ctx[e, 0] = fast[e, 0]
            ctx[e, 1] = fast[e, 0] - best
        else:
            ctx[e, 0] = 0.0
            ctx[e, 1] = -1.0
    ctx[S, 0] = gstat[0] if gen_on else 0.0
    ctx[S, 1] = gstat[0] - best if gen_on else -1.0


@njit(cache=True, nogil=True)
def step_data(
    # records (CSR), what to do, hyper-parameters (``hp``, indexed by the H_* constants)
    x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, learn, n_labels, center, hp,
    # feature statistics f = (count, mean, m2, sum of squares); istate = (records learned,
    # router steps, buffer fill, buffer position)
    f, istate,
    # expert bank (S + 1 models; the last is the candidate); stats (5, S + 1, 1) indexed
    # by the ST_* constants; learnable (S,): False for a memory
    W, GW, b, Gb, all_labs, thr_grid, thr_score, stats, learnable,
    # the generalist (gen_on: present) and its predictions per row; gstat = (recent F1
    # of the generalist, gate S0, gate S1, gate S2)
    gen_on, gen_pred, gen_score, gstat,
    # router (parameters and Adam moments), context inputs, recent records
    R1, Rb1, R2, Rb2, Ra, ctx, buf_idx, buf_val, buf_nnz, buf_ctx, buf_mask, buf_valid,
    # drift: detectors, warning flags, paired candidate gains (E, 3), records since the
    # candidate's restart (age[0]); event log
    dd, warn_on, alt, age, ev_buf, ev_count,
    # outputs
    out_pred, out_score, out_choice,
):
    n = len(x_ptr) - 1
    S = W.shape[0] - 1
    GEN = S                       # router output of the generalist
    E = S + 1
    width = 1
    for i in range(n):
        width = max(width, x_ptr[i + 1] - x_ptr[i])
    s = np.zeros(width)
    p = np.zeros((S + 1, n_labels))
    thr = np.zeros(S + 1)
    h = np.zeros(Rb1.shape[1])
    z = np.zeros(E)
    valid = np.zeros(E, dtype=np.bool_)
    trainable = np.zeros(E, dtype=np.bool_)
    chosen = np.zeros(E, dtype=np.int64)
    routed = np.zeros(E, dtype=np.int64)
    wts = np.zeros(E)
    vote = np.zeros(n_labels)
    mix_score = np.zeros(n_labels)
    mix_pred = np.zeros(n_labels, dtype=np.bool_)
    y = np.zeros(n_labels, dtype=np.bool_)
    f1 = np.zeros(E + 1)          # slots, generalist (index S), candidate (index S + 1)
    mask = np.zeros(E)
    n_lrn = stats[ST_N]
    min_records = hp[H_MIN_RECORDS]
    no_pa = np.zeros(n_labels, dtype=np.bool_)  # (task experts' serving predictions)
    labs = u_idx[0:0]
    keep_w = np.empty((2, W.shape[0], 0, 0))
    keep_b = np.empty((2, W.shape[0], 0))
    for i in range(n):
        k0, k1 = x_ptr[i], x_ptr[i + 1]
        _standardised(k0, k1, x_idx, x_val, center, f[0], f[1], f[2], f[3],
                      float(istate[0]), s)
        _bank_forward(k0, k1, x_idx, s, W, b, n_labels, p)
        for m in range(S + 1):
            thr[m] = _threshold(thr_score, m, 0, thr_grid, n_lrn)
        _router_forward(k0, k1, x_idx, s, R1, Rb1, R2, Rb2, Ra, ctx, E, h, z)
        for e in range(S):
            valid[e] = n_lrn[e, 0] >= min_records
        valid[GEN] = gen_on
        top = _data_mixture(i, z, valid, int(hp[H_TOP_K]), hp[H_TEMPERATURE], chosen, wts,
                            p, thr, gen_pred, gen_score, n_labels, vote, mix_pred, mix_score)
        use_mix = (not gen_on) or _gate_open(gstat[1:], hp[H_GATE_Z], hp[H_GATE_MARGIN])
        out_choice[i] = top if use_mix else -1
        for l in range(n_labels):
            out_pred[i, l] = mix_pred[l] if use_mix else gen_pred[i, l]
            out_score[i, l] = mix_score[l] if use_mix else gen_score[i, l]
        if not learn:
            continue
        n_true = _read_labels(i, y_ptr, y_idx, y, n_labels)
        u0, u1 = u_ptr[i], u_ptr[i + 1]
        if u1 > u0:
            labs = u_idx[u0:u1]
            _hide_unknown(i, labs, p, gen_pred, mix_pred, no_pa)
            keep_w = np.empty((2, W.shape[0], labs.size, k1 - k0))
            keep_b = np.empty((2, W.shape[0], labs.size))
            _keep_unknown(k0, k1, x_idx, labs, W, GW, b, Gb, True, keep_w, keep_b)
        _data_scores(i, y, n_true, p, thr, gen_pred, n_labels, f1)
        if gen_on:
            d = _mix_minus_generalist(i, y, gen_pred, mix_pred, n_true, n_labels)
            _gate_update(gstat, d, hp[H_GATE_FADE])
        _data_mask(f1[:E], valid, mask, hp[H_CORRECT])
        _push_buffer(k0, k1, x_idx, s, E, ctx, mask, valid, buf_idx, buf_val, buf_nnz,
                     buf_ctx, buf_mask, buf_valid, istate)
        n_routed = _data_learn(k0, k1, x_idx, s, y, n_true, p, z, learnable, trainable,
                               routed, f1, W, GW, b, Gb, all_labs, thr_grid, thr_score,
                               stats, age, gstat, hp)
        if u1 > u0:
            _keep_unknown(k0, k1, x_idx, labs, W, GW, b, Gb, False, keep_w, keep_b)
        _data_drift(i, routed, n_routed, f1, all_labs, W, GW, b, Gb, thr_score, stats,
                    learnable, dd, warn_on, alt, age, hp, ev_buf, ev_count)
        _data_context(ctx, stats, gstat, gen_on, min_records)
        istate[0] += 1
        _update_features(k0, k1, x_idx, x_val, f[0], f[1], f[2], f[3])
        _router_step(istate, hp, E, buf_idx, buf_val, buf_nnz, buf_ctx, buf_mask,
                     buf_valid, R1, Rb1, R2, Rb2, Ra)


@njit(cache=True, nogil=True)
def _learn_model_served(m, k0, k1, x_idx, s, y, p, n_labels, act_lab, W, GW, b, Gb, lr, l2,
                        robust):
    """AdaGrad step of slot ``m`` on the labels it serves (``act_lab[l] == m``)."""
    cnt = 0
    for l in range(n_labels):
        if act_lab[l] == m:
            cnt += 1
    if cnt == 0:
        return
    labs = np.empty(cnt, dtype=np.int64)
    cnt = 0
    for l in range(n_labels):
        if act_lab[l] == m:
            labs[cnt] = l
            cnt += 1
    _learn_model(m, k0, k1, x_idx, s, y, p, labs, W, GW, b, Gb, lr, l2, robust)


@njit(cache=True, nogil=True)
def _task_serving(p, thr, thr_score, thr_grid, n_lrn, grp_ptr, grp_lab, act_lab,
                  label_group, seen, act, pa, G, n_labels):
    """Thresholds per (slot, group), each group's serving slot (the one most of its labels
    are served by), and the serving slots' predictions ``pa``."""
    S = p.shape[0] - 1
    for g in range(G):
        for m in range(S + 1):
            thr[m, g] = _threshold(thr_score, m, g, thr_grid, n_lrn)
        for m in range(S + 1):
            seen[m] = 0
        for q in range(grp_ptr[g], grp_ptr[g + 1]):
            seen[act_lab[grp_lab[q]]] += 1
        bm = 0
        for m in range(S):
            if seen[m] > seen[bm]:
                bm = m
        act[g] = bm
    for l in range(n_labels):
        m = act_lab[l]
        pa[l] = p[m, l] > thr[m, label_group[l]]


@njit(cache=True, nogil=True)
def _task_mixture(z, valid, include, chosen, act, n_lrn, label_group, pa, mix_pred, G,
                  n_labels, hp):
    """Union of the serving predictions of the routed clusters -> clusters routed."""
    for g in range(G):
        valid[g] = n_lrn[act[g], g] >= hp[H_MIN_RECORDS]
        include[g] = False
    k = _top_k(z, valid, G, int(hp[H_TOP_K]), chosen)
    for q in range(k):
        g = chosen[q]
        include[g] = _sigmoid(z[g] / hp[H_TEMPERATURE]) >= hp[H_INCLUDE]
    for l in range(n_labels):
        g = label_group[l]
        # a group with no trained expert yet: its labels as the slot says
        mix_pred[l] = (include[g] and pa[l]) if valid[g] else pa[l]
    return k


@njit(cache=True, nogil=True)
def _task_scores(y, p, thr, pa, grp_ptr, grp_lab, G, f1g, f1a, touched, inv, valid):
    """Per group: involvement, the serving slots' F1 and every model's F1 and whether it
    touched the group (true or predicted labels). Returns whether a valid group is
    involved."""
    S = p.shape[0] - 1
    any_inv = False
    for g in range(G):
        nt = 0
        na = 0
        ia = 0
        for q in range(grp_ptr[g], grp_ptr[g + 1]):
            l = grp_lab[q]
            if y[l]:
                nt += 1
            if pa[l]:
                na += 1
                if y[l]:
                    ia += 1
        inv[g] = nt > 0
        any_inv = any_inv or (inv[g] and valid[g])
        f1a[g] = _f1(nt, na, ia)
        for m in range(S + 1):
            npd = 0
            ip = 0
            for q in range(grp_ptr[g], grp_ptr[g + 1]):
                l = grp_lab[q]
                if p[m, l] > thr[m, g]:
                    npd += 1
                    if y[l]:
                        ip += 1
            f1g[m, g] = _f1(nt, npd, ip)
            touched[m, g] = nt + npd > 0
    return any_inv


@njit(cache=True, nogil=True)
def _task_mask(valid, inv, f1a, any_inv, mask, G, correct_threshold):
    """A cluster is right when it is involved and its expert's F1 there reaches the
    threshold; if none is, the best involved one."""
    any_right = False
    best = -1.0
    for g in range(G):
        mask[g] = 0.0
        if valid[g] and inv[g]:
            best = max(best, f1a[g])
            if f1a[g] >= correct_threshold:
                mask[g] = 1.0
                any_right = True
    if not any_right and any_inv:
        for g in range(G):
            if valid[g] and inv[g] and f1a[g] >= best:
                mask[g] = 1.0


@njit(cache=True, nogil=True)
def _task_learn(k0, k1, x_idx, s, y, p, n_labels, act_lab, act, W, GW, b, Gb, all_labs,
                grp_ptr, grp_lab, G, thr_grid, thr_score, stats, age, touched, f1g, hp):
    """Each label's serving slot and the candidate learn; per-group scores fade."""
    S = W.shape[0] - 1
    lr, l2 = hp[H_LR], hp[H_L2]
    n_lrn, usage, fast, slow = stats[ST_N], stats[ST_USAGE], stats[ST_FAST], stats[ST_SLOW]
    fast_fade, slow_fade = hp[H_FAST_FADE], hp[H_SLOW_FADE]
    for m in range(S):
        _learn_model_served(m, k0, k1, x_idx, s, y, p, n_labels, act_lab, W, GW, b, Gb,
                            lr, l2, hp[H_ROBUST])
    _learn_model(S, k0, k1, x_idx, s, y, p, all_labs, W, GW, b, Gb, lr, l2, hp[H_ROBUST])
    for g in range(G):
        nt = 0
        for q in range(grp_ptr[g], grp_ptr[g + 1]):
            if y[grp_lab[q]]:
                nt += 1
        labs = grp_lab[grp_ptr[g]:grp_ptr[g + 1]]
        _score_thresholds(thr_score, act[g], g, thr_grid, hp[H_THR_FADE], p, y, labs, nt)
        _score_thresholds(thr_score, S, g, thr_grid, hp[H_THR_FADE], p, y, labs, nt)
        n_lrn[act[g], g] += 1.0
        n_lrn[S, g] += 1.0
        age[g] += 1.0
        for m in range(S + 1):
            usage[m, g] *= hp[H_USAGE_FADE]
        usage[act[g], g] += 1.0
        for m in range(S + 1):
            if touched[m, g]:
                fast[m, g] = fast[m, g] * fast_fade + (1.0 - fast_fade) * f1g[m, g]
                slow[m, g] = slow[m, g] * slow_fade + (1.0 - slow_fade) * f1g[m, g]


@njit(cache=True, nogil=True)
def _task_drift(i, act, act_lab, inv, touched, f1g, f1a, W, GW, b, Gb, grp_ptr, grp_lab, G,
                thr_score, stats, dd, warn_on, alt, age, hp, ev_buf, ev_count):
    """Per group: the candidate's replacement, HDDM-A on the serving slot's loss (warning:
    restart the candidate's columns; drift: keep a memory copy), and memories that
    serve again."""
    S = W.shape[0] - 1
    CAND = S
    n_lrn, usage, fast, slow, ref = (stats[ST_N], stats[ST_USAGE], stats[ST_FAST],
                                     stats[ST_SLOW], stats[ST_REF])
    min_records, margin = hp[H_MIN_RECORDS], hp[H_REACTIVATE]
    log_w = math.log(1.0 / hp[H_WARN])
    log_d = math.log(1.0 / hp[H_DRIFT])
    for g in range(G):
        m = act[g]
        labs = grp_lab[grp_ptr[g]:grp_ptr[g + 1]]
        if n_lrn[m, g] < min_records:
            continue
        if inv[g] or touched[m, g] or touched[CAND, g]:
            d = f1g[CAND, g] - f1a[g]
            alt[g, 0] += 1.0
            alt[g, 1] += d
            alt[g, 2] += d * d
            if _significant(alt, g, hp[H_REPLACE_Z], 30.0):
                _copy_model(CAND, m, labs, W, GW, b, Gb)
                _move_scores(CAND, m, g, thr_score, stats)
                n_lrn[m, g] = max(n_lrn[m, g], min_records)
                dd[g, :] = 0.0
                alt[g, :] = 0.0
                warn_on[g] = False
                _log(ev_buf, ev_count, i, EV_REPLACED, m, g, -1)
                continue
        if inv[g] or touched[m, g]:
            state = _hddm(dd, g, 1.0 - f1a[g], log_w, log_d)
            if state == 1 and not warn_on[g] and age[g] >= hp[H_COOLDOWN]:
                _reset_model(CAND, labs, W, GW, Gb)
                thr_score[CAND, g, :] = 0.0
                n_lrn[CAND, g] = 0.0
                age[g] = 0.0
                alt[g, :] = 0.0
                _log(ev_buf, ev_count, i, EV_WARNING, m, g, -1)
            warn_on[g] = state == 1
            if state == 2:
                j = -1
                for r in range(S):
                    if r != m and (j < 0 or usage[r, g] < usage[j, g]):
                        j = r
                if j >= 0:
                    _copy_model(m, j, labs, W, GW, b, Gb)
                    _move_scores(m, j, g, thr_score, stats)
                    ref[j, g] = slow[m, g]
                    usage[j, g] = usage[m, g]
                _log(ev_buf, ev_count, i, EV_DRIFT, m, g, j)
        # a memory version back at its own level and ahead of the serving one serves
        back = -1
        for r in range(S):
            if (r != m and n_lrn[r, g] >= min_records and fast[r, g] >= ref[r, g] - margin
                    and fast[r, g] >= fast[m, g] + margin
                    and (back < 0 or fast[r, g] > fast[back, g])):
                back = r
        if back >= 0:
            ref[m, g] = slow[m, g]
            for q in range(labs.size):
                act_lab[labs[q]] = back
            dd[g, :] = 0.0
            alt[g, :] = 0.0
            warn_on[g] = False
            _log(ev_buf, ev_count, i, EV_REACTIVATED, back, g, -1)


@njit(cache=True, nogil=True)
def _task_context(ctx, stats, act_lab, grp_ptr, grp_lab, inv, G):
    """Router context per cluster: its serving slot's recent F1, and whether this record
    (the previous one, for the next prediction) involved it."""
    fast = stats[ST_FAST]
    for g in range(G):
        if grp_ptr[g + 1] > grp_ptr[g]:
            ctx[g, 0] = fast[act_lab[grp_lab[grp_ptr[g]]], g]
        else:
            ctx[g, 0] = 0.0
        ctx[g, 1] = 1.0 if inv[g] else 0.0


@njit(cache=True, nogil=True)
def step_task(
    # records (CSR), what to do, hyper-parameters
    x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, learn, n_labels, n_groups, center, hp,
    f, istate,
    # expert bank; label l of group label_group[l] is served by slot act_lab[l]; the
    # labels of group g are grp_lab[grp_ptr[g]:grp_ptr[g + 1]]
    W, GW, b, Gb, all_labs, label_group, grp_ptr, grp_lab, act_lab, thr_grid, thr_score,
    stats,
    gen_on, gen_pred, gen_score, gstat,
    R1, Rb1, R2, Rb2, Ra, ctx, buf_idx, buf_val, buf_nnz, buf_ctx, buf_mask, buf_valid,
    dd, warn_on, alt, age, ev_buf, ev_count,
    out_pred, out_score, out_choice,
):
    n = len(x_ptr) - 1
    S = W.shape[0] - 1
    G = n_groups
    width = 1
    for i in range(n):
        width = max(width, x_ptr[i + 1] - x_ptr[i])
    s = np.zeros(width)
    p = np.zeros((S + 1, n_labels))
    thr = np.zeros((S + 1, G))
    h = np.zeros(Rb1.shape[1])
    z = np.zeros(G)
    valid = np.zeros(G, dtype=np.bool_)
    chosen = np.zeros(G, dtype=np.int64)
    include = np.zeros(G, dtype=np.bool_)
    act = np.zeros(G, dtype=np.int64)
    pa = np.zeros(n_labels, dtype=np.bool_)
    y = np.zeros(n_labels, dtype=np.bool_)
    mix_pred = np.zeros(n_labels, dtype=np.bool_)
    f1g = np.zeros((S + 1, G))     # F1 of each model on each group's labels
    f1a = np.zeros(G)              # F1 of the serving slots on each group
    touched = np.zeros((S + 1, G), dtype=np.bool_)
    inv = np.zeros(G, dtype=np.bool_)
    mask = np.zeros(G)
    seen = np.zeros(S + 1, dtype=np.int64)
    labs = u_idx[0:0]
    keep_w = np.empty((2, W.shape[0], 0, 0))
    keep_b = np.empty((2, W.shape[0], 0))
    for i in range(n):
        k0, k1 = x_ptr[i], x_ptr[i + 1]
        _standardised(k0, k1, x_idx, x_val, center, f[0], f[1], f[2], f[3],
                      float(istate[0]), s)
        _bank_forward(k0, k1, x_idx, s, W, b, n_labels, p)
        _task_serving(p, thr, thr_score, thr_grid, stats[ST_N], grp_ptr, grp_lab, act_lab,
                      label_group, seen, act, pa, G, n_labels)
        _router_forward(k0, k1, x_idx, s, R1, Rb1, R2, Rb2, Ra, ctx, G, h, z)
        k = _task_mixture(z, valid, include, chosen, act, stats[ST_N], label_group, pa,
                          mix_pred, G, n_labels, hp)
        use_mix = (not gen_on) or _gate_open(gstat[1:], hp[H_GATE_Z], hp[H_GATE_MARGIN])
        out_choice[i] = k if use_mix else -1
        for l in range(n_labels):
            if use_mix:
                g = label_group[l]
                out_pred[i, l] = mix_pred[l]
                out_score[i, l] = p[act_lab[l], l] * (
                    _sigmoid(z[g] / hp[H_TEMPERATURE]) if valid[g] else 1.0)
            else:
                out_pred[i, l] = gen_pred[i, l]
                out_score[i, l] = gen_score[i, l]
        if not learn:
            continue
        n_true = _read_labels(i, y_ptr, y_idx, y, n_labels)
        u0, u1 = u_ptr[i], u_ptr[i + 1]
        if u1 > u0:
            labs = u_idx[u0:u1]
            _hide_unknown(i, labs, p, gen_pred, mix_pred, pa)
            keep_w = np.empty((2, W.shape[0], labs.size, k1 - k0))
            keep_b = np.empty((2, W.shape[0], labs.size))
            _keep_unknown(k0, k1, x_idx, labs, W, GW, b, Gb, True, keep_w, keep_b)
        any_inv = _task_scores(y, p, thr, pa, grp_ptr, grp_lab, G, f1g, f1a, touched, inv,
                               valid)
        if gen_on:
            d = _mix_minus_generalist(i, y, gen_pred, mix_pred, n_true, n_labels)
            _gate_update(gstat, d, hp[H_GATE_FADE])
        _task_mask(valid, inv, f1a, any_inv, mask, G, hp[H_CORRECT])
        _push_buffer(k0, k1, x_idx, s, G, ctx, mask, valid, buf_idx, buf_val, buf_nnz,
                     buf_ctx, buf_mask, buf_valid, istate)
        _task_learn(k0, k1, x_idx, s, y, p, n_labels, act_lab, act, W, GW, b, Gb, all_labs,
                    grp_ptr, grp_lab, G, thr_grid, thr_score, stats, age, touched, f1g, hp)
        if u1 > u0:
            _keep_unknown(k0, k1, x_idx, labs, W, GW, b, Gb, False, keep_w, keep_b)
        _task_drift(i, act, act_lab, inv, touched, f1g, f1a, W, GW, b, Gb, grp_ptr, grp_lab,
                    G, thr_score, stats, dd, warn_on, alt, age, hp, ev_buf, ev_count)
        _task_context(ctx, stats, act_lab, grp_ptr, grp_lab, inv, G)
        istate[0] += 1
        _update_features(k0, k1, x_idx, x_val, f[0], f[1], f[2], f[3])
        _router_step(istate, hp, G, buf_idx, buf_val, buf_nnz, buf_ctx, buf_mask, buf_valid,
                     R1, Rb1, R2, Rb2, Ra)
