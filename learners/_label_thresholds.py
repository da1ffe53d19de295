"""Per-label thresholds that add labels the chosen prediction left out (rare labels).

A multi-label learner that predicts whole label sets (iHOMER's cluster powersets, the
no-change expert) or one global threshold seldom predicts a rare label: its label set is
not a class yet, and its probability rarely passes a threshold tuned for the frequent
labels. :class:`LabelThresholds` keeps, for every label, what each threshold of a small
grid would have done to that label's F1 had it been applied to a binary relevance score
on top of the base prediction, counted prequentially (each record decides with the counts
of the records before it, then is counted). A label the base prediction leaves out is
added when its score passes the grid threshold with the best F1 for that label, and only
when that F1 beats the base prediction's own F1 for the label by ``margin`` with at least
``min_positives`` positives seen: a label whose base prediction is already as good is left
exactly as it was.

Examples
--------
>>> import numpy as np
>>> lt = LabelThresholds()
>>> lt.ensure(2)
>>> pred = np.zeros((6, 2), dtype=bool)                # the base never predicts label 1
>>> score = np.tile([0.0, 0.4], (6, 1))                # its binary relevance score: 0.4
>>> y_ptr, y_idx = np.arange(7), np.ones(6, np.int64)  # and label 1 is always true
>>> lt.apply(pred, score, y_ptr, y_idx, learn=True)
>>> pred[:, 1].tolist()    # added once three positives show a threshold beats the base
[False, False, False, True, True, True]
"""

from __future__ import annotations

import numpy as np
from stream.kernels.jit import njit

__all__ = ["LabelThresholds"]

_NO_ROWS = np.zeros(1, dtype=np.int64)
_NO_LABELS = np.zeros(0, dtype=np.int64)


@njit(cache=True, nogil=True)
def mark_labels(mask, ptr, idx, i, value):
    """Set ``mask`` to ``value`` at row ``i``'s labels in the CSR ``ptr`` / ``idx`` (the
    labels below ``mask.size``; a row's truth or unknown labels as a scratch mask)."""
    for k in range(ptr[i], ptr[i + 1]):
        if idx[k] < mask.size:
            mask[idx[k]] = value


@njit(cache=True, nogil=True)
def _best_threshold(l, grid, tp, pp, base, margin, min_positives, min_precision):
    """The grid index whose F1 for label ``l`` beats its base F1 by ``margin`` with the
    labels it adds right at least ``min_precision`` of the time, or -1."""
    n_true = base[l, 2]
    if n_true < min_positives:
        return -1
    best = 2.0 * base[l, 0] / (base[l, 1] + n_true) + margin
    pick = -1
    for c in range(grid.size):
        added = pp[l, c] - base[l, 1]
        if added <= 0.0 or tp[l, c] - base[l, 0] < min_precision * added:
            continue
        f1 = 2.0 * tp[l, c] / (pp[l, c] + n_true)
        if f1 > best:
            best = f1
            pick = c
    return pick


@njit(cache=True, nogil=True)
def _apply(pred, score, y_ptr, y_idx, u_ptr, u_idx, learn, grid, tp, pp, base, margin,
           min_positives, min_precision):
    """Add labels to ``pred`` row by row, then (``learn``) count the row in ``tp`` (true
    positives at each grid threshold), ``pp`` (predicted positives at each) and ``base``
    (true positives, predicted positives and positives of the base prediction)."""
    n, L = pred.shape
    G = grid.size
    lo = grid[0]
    y = np.zeros(L, dtype=np.bool_)
    unknown = np.zeros(L, dtype=np.bool_)
    was = np.zeros(L, dtype=np.bool_)
    for i in range(n):
        for l in range(L):
            was[l] = pred[i, l]
            s = score[i, l]
            if not was[l] and s > lo:
                c = _best_threshold(l, grid, tp, pp, base, margin, min_positives,
                                    min_precision)
                if c >= 0 and s > grid[c]:
                    pred[i, l] = True
        if not learn:
            continue
        mark_labels(y, y_ptr, y_idx, i, True)
        mark_labels(unknown, u_ptr, u_idx, i, True)
        for l in range(L):
            s = score[i, l]
            if unknown[l] or not (was[l] or y[l] or s > lo):
                continue  # a label neither predicted nor true counts in nothing
            if y[l]:
                base[l, 2] += 1.0
            if was[l]:
                base[l, 1] += 1.0
                if y[l]:
                    base[l, 0] += 1.0
            for c in range(G):
                if was[l] or s > grid[c]:
                    pp[l, c] += 1.0
                    if y[l]:
                        tp[l, c] += 1.0
        mark_labels(y, y_ptr, y_idx, i, False)
        mark_labels(unknown, u_ptr, u_idx, i, False)


class LabelThresholds:
    """Prequential per-label thresholds over a binary relevance score (see the module).

    Parameters
    ----------
    grid
        Candidate thresholds, ascending.
    margin
        F1 a threshold must gain over the base prediction, for that label, to be used.
    min_positives
        Positives of a label seen before its threshold may add it.
    min_precision
        Share of the labels a threshold would have added that must have been right: an
        added label that is wrong costs the record's example-F1, so a threshold that
        only buys recall with many wrong labels is not used.

    State is three arrays of ``labels x len(grid)`` counts (picklable); the cost per
    record is one pass over the labels.
    """

    GRID = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)

    def __init__(self, grid=GRID, margin: float = 0.0, min_positives: int = 3,
                 min_precision: float = 0.5):
        self.grid = np.asarray(grid, dtype=np.float64)
        if self.grid.ndim != 1 or self.grid.size == 0 or np.any(np.diff(self.grid) <= 0):
            raise ValueError("grid must be a non-empty ascending sequence")
        self.margin = float(margin)
        self.min_positives = int(min_positives)
        self.min_precision = float(min_precision)
        self.tp = np.zeros((0, self.grid.size))
        self.pp = np.zeros((0, self.grid.size))
        self.base = np.zeros((0, 3))

    def ensure(self, n_labels: int) -> None:
        """Room for ``n_labels`` labels (new labels start with no counts)."""
        have = self.base.shape[0]
        if n_labels <= have:
            return
        grow = max(n_labels, 2 * have)
        for name in ("tp", "pp", "base"):
            old = getattr(self, name)
            new = np.zeros((grow, old.shape[1]))
            new[:have] = old
            setattr(self, name, new)

    def apply(self, pred, score, y_ptr, y_idx, learn: bool, u_ptr=None, u_idx=None):
        """Add labels to ``pred`` (``(n, L)`` bool, in place) where ``score`` (the binary
        relevance probabilities, same shape) passes the label's threshold; with
        ``learn``, count each row's truth (CSR ``y_ptr`` / ``y_idx``; ``u_ptr`` /
        ``u_idx`` the unknown labels, which count in nothing) after deciding it."""
        n, L = pred.shape
        if L == 0 or n == 0:
            return
        self.ensure(L)
        if u_ptr is None:
            u_ptr, u_idx = np.zeros(n + 1, dtype=np.int64), _NO_LABELS
        if not learn:
            y_ptr, y_idx = np.zeros(n + 1, dtype=np.int64), _NO_LABELS
        _apply(pred, score, y_ptr, y_idx, u_ptr, u_idx, bool(learn), self.grid, self.tp,
               self.pp, self.base, self.margin, self.min_positives, self.min_precision)

    def warm_up(self) -> None:
        """Compile the kernel (cached on disk by numba) before the first record."""
        lt = LabelThresholds()
        lt.apply(np.zeros((1, 1), dtype=bool), np.zeros((1, 1)), np.array([0, 1]),
                 np.zeros(1, dtype=np.int64), True)
