"""Ranking metrics of a learner's scores: macro/micro ROC-AUC, LRAP and one-error.

Prequential, cumulative and over a sliding window of records, in bounded memory.

Conventions (each one is pinned by a test in ``tests/test_ranking_metrics.py``):

* A record is **ranked** when at least one label has a score for it (a row of scores that
  is all NaN is not ranked, and counts for nothing below). Which labels a record ranks is
  the caller's choice: :class:`stream.prequential.PrequentialEvaluator` ranks every label
  known at that record, and a known label the learner gave no score is scored 0 (it is
  predicted absent). A learner without scores ranks nothing: every figure is NaN.
* **AUC** is computed from per-label histograms of the scores of positive and negative
  (record, label) pairs, on a grid of ``n_bins + 1`` points ``k / n_bins`` in [0, 1]:
  a score is clipped to [0, 1] and rounded to the nearest grid point. The AUC of the
  quantised scores is then exact (up to float rounding of the final sums): a positive
  above a negative counts 1, a tie (same grid point) counts 1/2. With the default 1024
  bins, scores that differ by less than about 1/2048 tie. Memory: the histograms take
  about ``24 * (n_bins + 1)`` bytes per label (int64 cumulative, int32 window), whatever
  the stream's length.
* ``macro_auc`` is the mean of the per-label AUCs over the labels that have at least one
  positive and one negative among the ranked records (cumulative: so far; window: inside
  the window); ``micro_auc`` is the AUC of all (record, label) pairs pooled. NaN when no
  label (macro) or the pool (micro) has both.
* ``lrap`` (label ranking average precision, as ``sklearn.metrics.
  label_ranking_average_precision_score``) of a record with true set T: the mean over
  j in T of |{l in T: s_l >= s_j}| / |{l: s_l >= s_j}| (ties ranked pessimistically),
  on the raw scores (not quantised). Averaged over the ranked records whose truth is not
  empty (scikit-learn would score an empty-truth record 1; here it is left out).
* ``one_error``: 1 when the top-scored label is not in the truth, 0 when it is, averaged
  over the ranked records whose truth is not empty. Where several labels tie at the top
  the record scores the fraction of them that are not true (the expected one-error of a
  random tie break).
* Truth labels that the record does not rank are ignored.

The window's histograms are kept by adding each record and taking it away again when it
leaves the window (an ``update`` / ``revert`` pair); the window stores its records'
quantised scores as ``uint16`` and their truth as ``bool``, about 3 bytes per ranked label.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from stream.kernels.jit import njit

__all__ = ["RankingMetrics", "RANKING_NAMES", "N_BINS", "auc_from_histograms"]

RANKING_NAMES = ("macro_auc", "micro_auc", "lrap", "one_error")
#: Default number of score bins: the grid is ``k / N_BINS``, ``k = 0..N_BINS``.
N_BINS = 1024
_UNRANKED = 0xFFFF  # window storage: a label the record does not rank
_TRUE_BIT = 0x8000  # window storage: bin | _TRUE_BIT for a positive


@njit(cache=True, nogil=True)
def _rank_rows(S, t_ptr, t_idx, n_bins, stored, pos, neg, wpos, wneg, use_window, cum,
               cum_n, ring, head):
    """Per row of ``S`` (NaN = not ranked): the quantised bins (``stored``, the truth in
    the high bit), the rows' (label, bin) counts added to the cumulative (and the
    window's) histograms, LRAP and one-error added to the running sums ``cum`` in row
    order (``cum_n``: rows that counted) and written to the window's ``ring`` from slot
    ``head`` on (NaN where the row does not count)."""
    n, m = S.shape
    w = ring.shape[0]
    truth = np.zeros(m, dtype=np.bool_)
    for i in range(n):
        for a in range(t_ptr[i], t_ptr[i + 1]):
            c = t_idx[a]
            if c < m:
                truth[c] = True
        n_ranked = 0
        n_true = 0
        top = -np.inf
        for c in range(m):
            s = S[i, c]
            if s != s:  # NaN: not ranked
                stored[i, c] = _UNRANKED
                continue
            n_ranked += 1
            q = min(max(s, 0.0), 1.0)
            b = np.int64(np.rint(q * n_bins))
            if truth[c]:
                n_true += 1
                stored[i, c] = b | _TRUE_BIT
                pos[c, b] += 1
                if use_window:
                    wpos[c, b] += 1
            else:
                stored[i, c] = b
                neg[c, b] += 1
                if use_window:
                    wneg[c, b] += 1
            if s > top:
                top = s
        lrap = np.nan
        one_error = np.nan
        if n_ranked > 0 and n_true > 0:
            total = 0.0
            for j in range(m):
                sj = S[i, j]
                if sj != sj or not truth[j]:
                    continue
                above = 0
                above_true = 0
                for c in range(m):
                    s = S[i, c]
                    if s == s and s >= sj:
                        above += 1
                        if truth[c]:
                            above_true += 1
                total += above_true / above
            lrap = total / n_true
            at_top = 0
            true_at_top = 0
            for c in range(m):
                if S[i, c] == top:
                    at_top += 1
                    if truth[c]:
                        true_at_top += 1
            one_error = 1.0 - true_at_top / at_top
            cum[0] += lrap
            cum[1] += one_error
            cum_n[0] += 1
        if use_window and i >= n - w:
            slot = (head + i) % w
            ring[slot, 0] = lrap
            ring[slot, 1] = one_error
        for a in range(t_ptr[i], t_ptr[i + 1]):
            c = t_idx[a]
            if c < m:
                truth[c] = False


@njit(cache=True, nogil=True)
def _revert_rows(stored, wpos, wneg):
    """Take stored rows (see :func:`_rank_rows`) out of the window's histograms."""
    n, m = stored.shape
    for i in range(n):
        for c in range(m):
            v = stored[i, c]
            if v == _UNRANKED:
                continue
            if v & _TRUE_BIT:
                wpos[c, v ^ _TRUE_BIT] -= 1
            else:
                wneg[c, v] -= 1


@njit(cache=True, nogil=True)
def _auc_sums(pos, neg):
    """Per label: wins (positive above negative 1, tie 1/2), positives, negatives; and the
    same three for all labels pooled."""
    L, B = pos.shape
    wins = np.zeros(L)
    P = np.zeros(L)
    N = np.zeros(L)
    p_all = np.zeros(B)
    q_all = np.zeros(B)
    for c in range(L):
        below = 0.0
        win = 0.0
        for b in range(B):
            p = float(pos[c, b])
            q = float(neg[c, b])
            win += p * (below + 0.5 * q)
            below += q
            P[c] += p
            p_all[b] += p
            q_all[b] += q
        wins[c] = win
        N[c] = below
    below = 0.0
    win = 0.0
    PP = 0.0
    for b in range(B):
        win += p_all[b] * (below + 0.5 * q_all[b])
        below += q_all[b]
        PP += p_all[b]
    return wins, P, N, win, PP, below


def auc_from_histograms(pos, neg) -> tuple[float, float]:
    """``(macro_auc, micro_auc)`` from per-label histograms over ascending score bins.

    ``pos[l, b]`` / ``neg[l, b]``: positive / negative (record, label) pairs of label ``l``
    whose score fell in bin ``b``. Ties within a bin count 1/2.

    Examples
    --------
    >>> import numpy as np
    >>> pos = np.array([[0, 1, 1], [0, 0, 1]])   # label 0: positives in bins 1 and 2
    >>> neg = np.array([[1, 1, 0], [1, 0, 0]])   # label 0: negatives in bins 0 and 1
    >>> auc_from_histograms(pos, neg)   # label 0: (1 + 0.5 + 1 + 1) / 4, label 1: 1
    (0.9375, 0.9444444444444444)
    """
    pos, neg = np.ascontiguousarray(pos), np.ascontiguousarray(neg)
    if pos.shape[0] == 0:
        return math.nan, math.nan
    wins, P, N, win, PP, NN = _auc_sums(pos, neg)
    ok = (P > 0) & (N > 0)
    macro = float((wins[ok] / (P[ok] * N[ok])).mean()) if ok.any() else math.nan
    micro = float(win / (PP * NN)) if PP > 0 and NN > 0 else math.nan
    return macro, micro


def _grow(h, n_rows):
    if n_rows <= h.shape[0]:
        return h
    out = np.zeros((n_rows, h.shape[1]), dtype=h.dtype)
    out[:h.shape[0]] = h
    return out


class RankingMetrics:
    """macro/micro AUC, LRAP and one-error, cumulative and over the last ``window_size``
    records, from batches of score rows (see the module's conventions).

    Parameters
    ----------
    window_size
        Records in the sliding window (0 disables it; every record counts, ranked or not).
    n_bins
        Score grid ``k / n_bins`` on which the AUCs are exact.

    Examples
    --------
    >>> import numpy as np
    >>> r = RankingMetrics(window_size=2)
    >>> nan = np.nan
    >>> S = np.array([[0.9, 0.2, 0.4], [0.1, 0.8, nan], [nan, nan, nan]])
    >>> r.update_many(S, np.array([0, 1, 2, 3]), np.array([0, 0, 1]))  # 3 ranks nothing
    >>> r.get()["lrap"], r.get()["one_error"]   # records 1 and 2
    (0.75, 0.5)
    >>> r.get()["micro_auc"]   # positives 0.9, 0.1 against negatives 0.2, 0.4, 0.8
    0.5
    >>> r.get_window()["window_lrap"]   # the last two records: one ranked
    0.5
    """

    def __init__(self, window_size: int = 1000, n_bins: int = N_BINS):
        if not 1 <= n_bins < _TRUE_BIT:
            raise ValueError(f"n_bins must be in 1..{_TRUE_BIT - 1}, got {n_bins}")
        self.window_size = int(window_size)
        self.n_bins = int(n_bins)
        width = self.n_bins + 1
        self._pos = np.zeros((0, width), dtype=np.int64)
        self._neg = np.zeros((0, width), dtype=np.int64)
        self._wpos = np.zeros((0, width), dtype=np.int32)
        self._wneg = np.zeros((0, width), dtype=np.int32)
        self._cum = np.zeros(2)  # running sums of LRAP and one-error, in stream order
        self._cum_n = np.zeros(1, dtype=np.int64)  # ranked records with a non-empty truth
        w = max(self.window_size, 1)
        self._win_vals = np.full((w, 2), np.nan)  # ring of per-record (LRAP, one-error)
        self._win_head = 0
        self._win_n = 0
        # the window's records, oldest first, as chunks [stored bins (k, m) uint16 (the
        # truth in the high bit), first row still in the window]
        self._win_rows: deque = deque()

    def update_many(self, scores, true_indptr, true_indices):
        """Count a batch of records.

        Parameters
        ----------
        scores
            ``(n, m)`` float array: ``scores[i, c]`` is record ``i``'s score for label
            column ``c``, NaN where the record does not rank that label.
        true_indptr, true_indices
            The records' true label columns, as CSR.
        """
        S = np.ascontiguousarray(scores, dtype=np.float64)
        if S.ndim != 2:
            raise ValueError("scores must be a 2-D array")
        n, m = S.shape
        t_ptr = np.asarray(true_indptr, dtype=np.int64)
        t_idx = np.asarray(true_indices, dtype=np.int64)
        if t_ptr.size != n + 1:
            raise ValueError(f"{n} score rows but {t_ptr.size - 1} truth rows")
        if n == 0:
            return
        if m > self._pos.shape[0]:
            self._pos, self._neg = _grow(self._pos, m), _grow(self._neg, m)
        windowed = self.window_size > 0
        if windowed and m > self._wpos.shape[0]:
            self._wpos, self._wneg = _grow(self._wpos, m), _grow(self._wneg, m)
        stored = np.empty((n, m), dtype=np.uint16)
        _rank_rows(S, t_ptr, t_idx, self.n_bins, stored, self._pos, self._neg, self._wpos,
                   self._wneg, windowed, self._cum, self._cum_n, self._win_vals,
                   self._win_head)
        if windowed:
            self._win_rows.append([stored, 0])
            self._win_head = (self._win_head + n) % self.window_size
            self._win_n += n
            self._evict(self._win_n - self.window_size)

    def _evict(self, k):
        """Take the ``k`` oldest records out of the window."""
        while k > 0:
            chunk = self._win_rows[0]
            stored, first = chunk
            take = min(k, stored.shape[0] - first)
            _revert_rows(stored[first:first + take], self._wpos, self._wneg)
            chunk[1] = first + take
            if chunk[1] == stored.shape[0]:
                self._win_rows.popleft()
            self._win_n -= take
            k -= take

    def _assemble(self, pos, neg, sums, n, prefix):
        macro, micro = auc_from_histograms(pos, neg)
        out = {prefix + "macro_auc": macro, prefix + "micro_auc": micro}
        out[prefix + "lrap"] = float(sums[0] / n) if n else math.nan
        out[prefix + "one_error"] = float(sums[1] / n) if n else math.nan
        return out

    def get(self) -> dict:
        """Cumulative ``macro_auc``, ``micro_auc``, ``lrap`` and ``one_error``."""
        return self._assemble(self._pos, self._neg, self._cum, int(self._cum_n[0]), "")

    def get_window(self) -> dict:
        """The same over the window, keys prefixed ``window_``."""
        n = self._win_n
        if n and self.window_size > 0:
            w = self.window_size
            slots = (self._win_head - 1 - np.arange(n)) % w if n < w else slice(None)
            vals = self._win_vals[slots]
            ok = ~np.isnan(vals[:, 0])
            sums, k = np.where(ok[:, None], vals, 0.0).sum(axis=0), int(ok.sum())
        else:
            sums, k = np.zeros(2), 0
        return self._assemble(self._wpos, self._wneg, sums, k, "window_")
