"""A memory of rare labels' records: near-duplicates of a rare label's positives get it.

A label seen positive only a handful of times is all but invisible to the learned models:
its logistic score stays near zero and its label set is no powerset class yet. Real
streams with many labels are full of such labels, and their few positives often come in
families (the replies of one e-mail thread, the versions of one document). This memory
keeps the most recent records that carried a *rare* label (fewer than ``rare_below``
positives so far), as cosine-normalised sparse rows, and gives a record every rare label
of a remembered record it is nearly identical to.

How near is learned from the stream, pooled over all rare labels (each rare label has too
few positives to learn a threshold of its own): for each similarity of a small grid, what
the labels that similarity *would have added* to the base prediction would have done to
each record's example-F1 is summed prequentially (each record decides with the sums of
the records before it, then is counted). The memory adds labels at the similarity whose
additions would have raised example-F1 most, once that sum is positive and ``min_hits``
of its additions were right; before that, it adds nothing. A stream without
near-duplicates never gets there, and the prediction stays exactly the base prediction.

Examples
--------
>>> import numpy as np
>>> mem = RareLabelMemory()
>>> mem.ensure(2)
>>> x_ptr, x_idx = np.arange(9), np.zeros(8, dtype=np.int64)   # 8 identical records
>>> x_val = np.ones(8)
>>> y_ptr, y_idx = np.arange(9), np.ones(8, dtype=np.int64)    # all with label 1
>>> pred = np.zeros((8, 2), dtype=bool)                        # the base never says 1
>>> mem.apply(pred, x_ptr, x_idx, x_val, y_ptr, y_idx, learn=True)
>>> pred[:, 1].tolist()    # added once three additions would have been right
[False, False, False, False, True, True, True, True]
"""

from __future__ import annotations

import numpy as np
from stream.kernels.jit import njit

from learners._label_thresholds import mark_labels

__all__ = ["RareLabelMemory"]

_NO_LABELS = np.zeros(0, dtype=np.int64)


@njit(cache=True, nogil=True)
def _pick(gain, add_tp, min_hits):
    """The grid index whose additions would have raised example-F1 most so far (with
    ``min_hits`` right ones at least), or -1 when none would have raised it."""
    pick = -1
    top = 0.0
    for c in range(gain.size):
        if add_tp[c] >= min_hits and gain[c] > top:
            top = gain[c]
            pick = c
    return pick


@njit(cache=True, nogil=True)
def _similarities(sims, a, b, x_idx, x_val, norm, q, slot_idx, slot_val, slot_nnz, slot_live,
                  filled):
    """The cosine of row ``x_idx[a:b]`` / ``x_val[a:b]`` (norm ``norm``) with each of the
    ``filled`` slots that are live, into ``sims`` (through the dense scratch row ``q``)."""
    for k in range(a, b):
        q[x_idx[k]] = x_val[k] / norm
    for s in range(filled):
        sim = 0.0
        if slot_live[s]:
            for k in range(slot_nnz[s]):
                sim += slot_val[s, k] * q[slot_idx[s, k]]
        sims[s] = sim
    for k in range(a, b):
        q[x_idx[k]] = 0.0


@njit(cache=True, nogil=True)
def _refresh_live(slot_live, slot_lab, slot_nlab, pos_count, rare_below, filled):
    """A slot is live while one of its labels is still rare."""
    for s in range(filled):
        live = False
        for j in range(slot_nlab[s]):
            if pos_count[slot_lab[s, j]] < rare_below:
                live = True
                break
        slot_live[s] = live


@njit(cache=True, nogil=True)
def _remember(s, a, b, x_idx, x_val, norm, slot_idx, slot_val, slot_nnz):
    """Put the row's ``W`` largest values (normalised) in slot ``s``."""
    W = slot_idx.shape[1]
    m = b - a
    if m <= W:
        for k in range(m):
            slot_idx[s, k] = x_idx[a + k]
            slot_val[s, k] = x_val[a + k] / norm
        slot_nnz[s] = m
    else:  # the W largest values: the rest barely moves a cosine
        order = np.argsort(-np.abs(x_val[a:b]))
        for k in range(W):
            slot_idx[s, k] = x_idx[a + order[k]]
            slot_val[s, k] = x_val[a + order[k]] / norm
        slot_nnz[s] = W


@njit(cache=True, nogil=True)
def _apply(pred, x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, learn, grid, add_n,
           add_tp, gain, pos_count, slot_idx, slot_val, slot_nnz, slot_lab, slot_nlab,
           slot_live, ring, q, rare_below, min_hits):
    n, L = pred.shape
    G = grid.size
    row_n = np.zeros(G)
    row_tp = np.zeros(G)
    R = slot_idx.shape[0]
    S = slot_lab.shape[1]
    sims = np.zeros(R)
    best = np.full(L, -2.0)  # below any cosine: not touched by this row
    touched = np.empty(L, dtype=np.int64)
    y = np.zeros(L, dtype=np.bool_)
    unknown = np.zeros(L, dtype=np.bool_)
    added = np.zeros(L, dtype=np.bool_)
    low = grid[0]  # a label no nearer than the lowest similarity is neither added nor counted
    for i in range(n):
        a, b = x_ptr[i], x_ptr[i + 1]
        norm = 0.0
        for k in range(a, b):
            norm += x_val[k] * x_val[k]
        norm = np.sqrt(norm)
        n_touched = 0
        filled = min(ring[1], R)
        if norm > 0.0 and filled > 0:
            _similarities(sims, a, b, x_idx, x_val, norm, q, slot_idx, slot_val, slot_nnz,
                          slot_live, filled)
            for s in range(filled):
                sim = sims[s]
                if not slot_live[s] or sim <= low:
                    continue
                for j in range(slot_nlab[s]):
                    l = slot_lab[s, j]
                    if pos_count[l] < rare_below and sim > best[l]:
                        if best[l] < -1.5:
                            touched[n_touched] = l
                            n_touched += 1
                        best[l] = sim
        pick = _pick(gain, add_tp, min_hits)
        row_n[:] = 0.0
        row_tp[:] = 0.0
        if learn:
            mark_labels(y, y_ptr, y_idx, i, True)
            mark_labels(unknown, u_ptr, u_idx, i, True)
        for t in range(n_touched):
            l = touched[t]
            if pred[i, l]:
                best[l] = -2.0
                continue  # the base said it already: nothing to add, nothing to count
            near = best[l]
            if pick >= 0 and near > grid[pick]:
                pred[i, l] = True
                added[l] = True
            if learn and not unknown[l]:
                for c in range(G):
                    if near > grid[c]:
                        row_n[c] += 1.0
                        if y[l]:
                            row_tp[c] += 1.0
            best[l] = -2.0
        if not learn:
            for t in range(n_touched):
                added[touched[t]] = False
            continue
        if n_touched > 0:
            # what each similarity's additions would have done to this record's example-F1
            # (on its known labels, against the base prediction as it was)
            n_true = 0.0
            n_pred = 0.0
            hits = 0.0
            for l in range(L):
                if unknown[l]:
                    continue
                base = pred[i, l] and not added[l]
                if y[l]:
                    n_true += 1.0
                    if base:
                        hits += 1.0
                if base:
                    n_pred += 1.0
            f1 = 1.0 if n_true + n_pred == 0.0 else 2.0 * hits / (n_true + n_pred)
            for c in range(G):
                if row_n[c] > 0.0:
                    add_n[c] += row_n[c]
                    add_tp[c] += row_tp[c]
                    gain[c] += 2.0 * (hits + row_tp[c]) / (n_true + n_pred + row_n[c]) - f1
        for t in range(n_touched):
            added[touched[t]] = False
        # remember the row when it carries a label that is rare (before counting it)
        stored = 0
        if norm > 0.0:
            s = ring[0]
            for k in range(y_ptr[i], y_ptr[i + 1]):
                l = y_idx[k]
                if l < L and pos_count[l] < rare_below and stored < S:
                    slot_lab[s, stored] = l
                    stored += 1
            if stored > 0:
                slot_nlab[s] = stored
                slot_live[s] = True
                _remember(s, a, b, x_idx, x_val, norm, slot_idx, slot_val, slot_nnz)
                ring[0] = (s + 1) % R
                ring[1] += 1
        no_longer_rare = False
        for k in range(y_ptr[i], y_ptr[i + 1]):
            l = y_idx[k]
            if l < L and not unknown[l]:
                pos_count[l] += 1.0
                if pos_count[l] >= rare_below and pos_count[l] - 1.0 < rare_below:
                    no_longer_rare = True
        if no_longer_rare:
            _refresh_live(slot_live, slot_lab, slot_nlab, pos_count, rare_below,
                          min(ring[1], R))
        mark_labels(y, y_ptr, y_idx, i, False)
        mark_labels(unknown, u_ptr, u_idx, i, False)
    return _pick(gain, add_tp, min_hits) >= 0


class RareLabelMemory:
    """Rare labels from near-duplicate records (see the module).

    Parameters
    ----------
    slots
        Records remembered (a ring: the oldest is forgotten first).
    width
        Non-zeros kept per remembered record (its largest values beyond that).
    rare_below
        A label is rare while it has had fewer positives than this.
    grid
        Candidate cosine similarities, ascending.
    min_hits
        Right additions a similarity must have counted before it is used.

    Memory is ``slots x width`` indices and values (256 KiB by default) plus a count per
    label; state is arrays only (picklable).
    """

    GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
    _open = None  # whether a similarity has earned its use (None: not asked yet)

    def __init__(self, slots: int = 64, width: int = 128, rare_below: int = 25,
                 grid=GRID, min_hits: int = 3, labels_per_slot: int = 16):
        self.grid = np.asarray(grid, dtype=np.float64)
        if self.grid.ndim != 1 or self.grid.size == 0 or np.any(np.diff(self.grid) <= 0):
            raise ValueError("grid must be a non-empty ascending sequence")
        if slots < 1 or width < 1 or labels_per_slot < 1:
            raise ValueError("slots, width and labels_per_slot must be >= 1")
        self.rare_below = float(rare_below)
        self.min_hits = float(min_hits)
        self.add_n = np.zeros(self.grid.size)
        self.add_tp = np.zeros(self.grid.size)
        self.gain = np.zeros(self.grid.size)  # example-F1 the additions would have added
        self.pos_count = np.zeros(0)
        self.slot_idx = np.zeros((slots, width), dtype=np.int64)
        self.slot_val = np.zeros((slots, width))
        self.slot_nnz = np.zeros(slots, dtype=np.int64)
        self.slot_lab = np.zeros((slots, labels_per_slot), dtype=np.int64)
        self.slot_nlab = np.zeros(slots, dtype=np.int64)
        self.slot_live = np.zeros(slots, dtype=bool)  # a label of the slot is still rare
        self.ring = np.zeros(2, dtype=np.int64)  # next slot, records remembered so far
        self._q = np.zeros(0)  # scratch row: the record being compared, dense

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "slot_live" not in state:  # memories pickled before the live flags
            self.slot_live = np.zeros(self.slot_idx.shape[0], dtype=bool)
            _refresh_live(self.slot_live, self.slot_lab, self.slot_nlab, self.pos_count,
                          self.rare_below, int(min(self.ring[1], self.slot_idx.shape[0])))

    def ensure(self, n_labels: int) -> None:
        """Room for ``n_labels`` labels (new labels start with no positives)."""
        have = self.pos_count.size
        if n_labels > have:
            new = np.zeros(max(n_labels, 2 * have))
            new[:have] = self.pos_count
            self.pos_count = new

    def can_add(self) -> bool:
        """Whether a similarity has earned its use yet (before that, predicting adds
        nothing)."""
        return bool(np.any((self.add_tp >= self.min_hits) & (self.gain > 0.0)))

    def apply(self, pred, x_ptr, x_idx, x_val, y_ptr, y_idx, learn: bool, u_ptr=None,
              u_idx=None, n_columns: int | None = None) -> None:
        """Add rare labels to ``pred`` (``(n, L)`` bool, in place) for the rows of the CSR
        features ``x_ptr`` / ``x_idx`` / ``x_val``; with ``learn``, count and remember each
        row (truth ``y_ptr`` / ``y_idx``, unknown labels ``u_ptr`` / ``u_idx``) after
        deciding it. ``n_columns``, when the caller knows it, bounds the column indices
        (else they are searched for their largest)."""
        n, L = pred.shape
        if self._open is None:
            self._open = self.can_add()
        if L == 0 or n == 0 or not (learn or self._open):
            return
        self.ensure(L)
        if u_ptr is None:
            u_ptr, u_idx = np.zeros(n + 1, dtype=np.int64), _NO_LABELS
        if not learn:
            y_ptr, y_idx = np.zeros(n + 1, dtype=np.int64), _NO_LABELS
        # the dense scratch row must hold every column of the rows and of the memory
        # (remembered columns come from earlier rows, so they are below the widest seen)
        if n_columns is None:
            n_columns = int(x_idx.max()) + 1 if x_idx.size else 0
        if n_columns > self._q.size:
            self._q = np.zeros(max(n_columns, 2 * self._q.size))
        self._open = _apply(
            pred, x_ptr, x_idx, np.asarray(x_val, dtype=np.float64), y_ptr, y_idx, u_ptr, u_idx,
            bool(learn), self.grid, self.add_n, self.add_tp, self.gain, self.pos_count,
            self.slot_idx, self.slot_val, self.slot_nnz, self.slot_lab, self.slot_nlab,
            self.slot_live, self.ring, self._q, self.rare_below, self.min_hits)

    def memory_usage(self) -> int:
        """Bytes held by the arrays."""
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))

    def warm_up(self) -> None:
        """Compile the kernel (cached on disk by numba) before the first record."""
        mem = RareLabelMemory(slots=1, width=1)
        one = np.array([0, 1])
        mem.apply(np.zeros((1, 1), dtype=bool), one, np.zeros(1, dtype=np.int64),
                  np.ones(1), one, np.zeros(1, dtype=np.int64), True)
