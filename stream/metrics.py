"""Prequential multi-label metrics, cumulative and over a sliding window.

Conventions (each one is pinned by a test):

* **Example-based** precision, recall and F1 are averaged over records. For one record
  with true set T and predicted set P: precision = |T∩P|/|P|, recall = |T∩P|/|T|,
  F1 = 2|T∩P|/(|T|+|P|). A record with empty truth *and* empty prediction scores 1 on all
  three (it was predicted perfectly); otherwise a zero denominator gives 0 (as in
  river). Subset accuracy is 1 when T == P.
* **Hamming loss** of a record is |T △ P| / L, where L is the number of labels known at
  that moment (declared by the source, or seen so far); averaged over records.
* **Micro** precision/recall/F1 pool the per-label counts: F1 = 2TP/(2TP+FP+FN); a zero
  denominator gives 0.
* **Macro** averages are over the labels that have *appeared* in the ground truth of the
  records scored (cumulative: so far; window: inside the window). A label never seen
  contributes only once it has appeared; its false positives before that still count in
  the micro and example-based figures. Per-label F1 = 2tp/(2tp+fp+fn).
* **precision@k** = |top-k scored labels ∩ T| / k over the records whose truth is not
  empty and for which the learner gave scores; it is NaN when no record qualifies.
* **Head / medium / tail macro-F1** (``head_macro_f1``, ``medium_macro_f1``,
  ``tail_macro_f1``) split the labels that have appeared in the truth by their frequency,
  the number of records with the label positive (cumulative: so far; window: inside the
  window). By default into thirds of those labels, most frequent first, as even as
  possible (``numpy.array_split``: the extra labels go to head, then medium; equal
  frequencies keep column order, i.e. earlier-arrived labels first). With
  ``tail_cuts=(a, b)``, ``0 <= a <= b <= 1``, on a label's share of records: tail below
  ``a``, head at ``b`` or more, medium between. A group with no label is NaN.
* **Ranking metrics** (``macro_auc``, ``micro_auc``, ``lrap``, ``one_error``) come from
  the score rows handed to :meth:`MultiLabelMetrics.update`; their conventions are in
  :mod:`stream.ranking_metrics` (AUC exact on scores quantised to a grid of 1/1024, NaN
  without scores).

Metric names are the keys of :meth:`MultiLabelMetrics.get`; the sliding window reports
the same names prefixed ``window_``.
"""

from __future__ import annotations

import math

import numpy as np

from stream.kernels import metric_counts
from stream.ranking_metrics import N_BINS, RANKING_NAMES, RankingMetrics

__all__ = ["MultiLabelMetrics", "METRIC_NAMES", "precision_at_k", "precisions_at_k", "warm_up"]

QUALITY_NAMES = (
    "example_f1",
    "example_precision",
    "example_recall",
    "micro_f1",
    "micro_precision",
    "micro_recall",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "hamming_loss",
    "subset_accuracy",
    "head_macro_f1",
    "medium_macro_f1",
    "tail_macro_f1",
)
# precision_at_<k> keys are added for each k asked for
METRIC_NAMES = QUALITY_NAMES + RANKING_NAMES

# per-record example values, in this column order
_EX_P, _EX_R, _EX_F1, _EX_HAM, _EX_SUB = range(5)


def precision_at_k(true_cols, scores: dict, label_pos, k: int) -> float:
    """Precision@k of one record from a ``{label: score}`` dict.

    Examples
    --------
    >>> pos = {"a": 0, "b": 1, "c": 2}
    >>> precision_at_k([0, 2], {"a": 0.9, "b": 0.8, "c": 0.1}, pos, 2)
    0.5
    """
    if len(true_cols) == 0 or not scores:
        return math.nan
    truth = set(int(c) for c in true_cols)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:k]
    hits = sum(1 for label, _ in ranked if label_pos.get(label) in truth)
    return hits / k


def precisions_at_k(true_cols, scores: dict, label_pos, ks) -> list:
    """precision@k for each k of ``ks`` from one ranking (NaN when undefined).

    Examples
    --------
    >>> precisions_at_k([0], {"a": 0.9, "b": 0.8}, {"a": 0, "b": 1}, (1, 2))
    [1.0, 0.5]
    """
    if len(true_cols) == 0 or not scores:
        return [math.nan] * len(ks)
    truth = set(true_cols.tolist() if hasattr(true_cols, "tolist") else true_cols)
    top = sorted(scores, key=scores.__getitem__, reverse=True)[:max(ks)]
    hits = np.cumsum([label_pos.get(label) in truth for label in top])
    return [float(hits[min(k, len(top)) - 1]) / k for k in ks]


def warm_up() -> None:
    """Compile (or load from cache) the metric kernels before timing or serving."""
    m = MultiLabelMetrics(window_size=1)
    m.update([0], [0], 1, scores=[0.5])
    m.update([0], [], 1, scores=[0.25])
    m.get()
    m.get_window()


def _example_values(n_true, n_pred, n_inter, n_labels):
    both_empty = (n_true == 0) & (n_pred == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(n_pred > 0, n_inter / np.maximum(n_pred, 1), 0.0)
        rec = np.where(n_true > 0, n_inter / np.maximum(n_true, 1), 0.0)
        denom = n_true + n_pred
        f1 = np.where(denom > 0, 2.0 * n_inter / np.maximum(denom, 1), 0.0)
        ham = (n_true + n_pred - 2 * n_inter) / np.maximum(n_labels, 1)
    prec[both_empty] = 1.0
    rec[both_empty] = 1.0
    f1[both_empty] = 1.0
    subset = ((n_inter == n_true) & (n_inter == n_pred)).astype(np.float64)
    return np.stack([prec, rec, f1, ham.astype(np.float64), subset], axis=1)


def _ratio(num, den):
    return float(num / den) if den > 0 else 0.0


def _check_tail_cuts(tail_cuts):
    if tail_cuts is None:
        return None
    a, b = (float(v) for v in tail_cuts)
    if not 0.0 <= a <= b <= 1.0:
        raise ValueError(f"tail_cuts must be (a, b) with 0 <= a <= b <= 1, got {tail_cuts}")
    return a, b


def frequency_groups(freq, n_records: int, tail_cuts=None):
    """Boolean masks ``(head, medium, tail)`` over labels with positive counts ``freq``.

    Thirds by frequency by default (see the module's conventions), else the cut points
    ``tail_cuts=(a, b)`` on ``freq / n_records``.

    Examples
    --------
    >>> [m.tolist() for m in frequency_groups(np.array([5, 1, 9, 3]), 10)]
    [[True, False, True, False], [False, False, False, True], [False, True, False, False]]
    >>> [m.tolist() for m in frequency_groups(np.array([5, 1, 9]), 10, tail_cuts=(0.2, 0.6))]
    [[False, False, True], [True, False, False], [False, True, False]]
    """
    freq = np.asarray(freq)
    masks = [np.zeros(freq.size, dtype=bool) for _ in range(3)]
    if tail_cuts is None:
        order = np.argsort(-freq, kind="stable")
        for mask, part in zip(masks, np.array_split(order, 3)):
            mask[part] = True
    else:
        a, b = tail_cuts
        share = freq / max(n_records, 1)
        masks[0][:] = share >= b
        masks[2][:] = share < a
        masks[1][:] = ~(masks[0] | masks[2])
    return tuple(masks)


def _label_scores(tp, fp, fn, n_records=0, tail_cuts=None):
    """Micro and macro precision/recall/F1 (and macro-F1 by frequency group) from
    per-label counts."""
    out = {}
    TP, FP, FN = int(tp.sum()), int(fp.sum()), int(fn.sum())
    out["micro_precision"] = _ratio(TP, TP + FP)
    out["micro_recall"] = _ratio(TP, TP + FN)
    out["micro_f1"] = _ratio(2 * TP, 2 * TP + FP + FN)
    seen = (tp + fn) > 0
    if seen.any():
        tps, fps, fns = tp[seen].astype(float), fp[seen].astype(float), fn[seen].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(tps + fps > 0, tps / np.maximum(tps + fps, 1), 0.0)
            r = tps / (tps + fns)
            f = 2 * tps / (2 * tps + fps + fns)
        out["macro_precision"] = float(p.mean())
        out["macro_recall"] = float(r.mean())
        out["macro_f1"] = float(f.mean())
        groups = frequency_groups(tps + fns, n_records, tail_cuts)
        for name, mask in zip(("head", "medium", "tail"), groups):
            out[name + "_macro_f1"] = float(f[mask].mean()) if mask.any() else math.nan
    else:
        out["macro_precision"] = out["macro_recall"] = out["macro_f1"] = 0.0
        out["head_macro_f1"] = out["medium_macro_f1"] = out["tail_macro_f1"] = math.nan
    return out


class _Counts:
    """Per-label tp/fp/fn that grow with the label space."""

    def __init__(self):
        self.tp = np.zeros(0, dtype=np.int64)
        self.fp = np.zeros(0, dtype=np.int64)
        self.fn = np.zeros(0, dtype=np.int64)

    def grow(self, n_labels):
        if n_labels > self.tp.size:
            pad = n_labels - self.tp.size
            self.tp = np.concatenate([self.tp, np.zeros(pad, np.int64)])
            self.fp = np.concatenate([self.fp, np.zeros(pad, np.int64)])
            self.fn = np.concatenate([self.fn, np.zeros(pad, np.int64)])

    def add(self, tp, fp, fn, sign=1):
        self.grow(tp.size)
        L = tp.size
        self.tp[:L] += sign * tp
        self.fp[:L] += sign * fp
        self.fn[:L] += sign * fn


def _csr(rows):
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    if rows:
        np.cumsum([len(r) for r in rows], out=indptr[1:])
        indices = np.concatenate(rows).astype(np.int64, copy=False)
    else:
        indices = np.zeros(0, dtype=np.int64)
    return indptr, indices


def _csr_append(csr, ptr, idx):
    """``csr`` (indptr, indices) followed by the rows ``ptr`` of ``idx`` (``ptr`` may
    start anywhere in ``idx``)."""
    old_ptr, old_idx = csr
    a = ptr[0]
    return (np.concatenate([old_ptr, old_ptr[-1] + (ptr[1:] - a)]),
            np.concatenate([old_idx, idx[a:ptr[-1]]]))


def _csr_split(csr, k):
    """The first ``k`` rows of ``csr`` and the rest, each as its own (indptr, indices)."""
    ptr, idx = csr
    cut = ptr[k]
    return (ptr[:k + 1], idx[:cut]), (ptr[k:] - cut, idx[cut:])


class MultiLabelMetrics:
    """Cumulative and sliding-window multi-label metrics, updated one record at a time.

    Records are buffered and counted in batches by the :func:`stream.kernels.metric_counts`
    kernel, so :meth:`update` costs a list append; :meth:`get` flushes first.

    Parameters
    ----------
    window_size
        Number of most recent records in the sliding window (0 disables it).
    top_k
        The ``k`` values of precision@k.
    backend
        Kernel backend for the counts (``"auto"``, ``"numpy"``, ``"numba"``).
    ranking
        Keep the ranking metrics (:class:`stream.ranking_metrics.RankingMetrics`) of the
        scores given to :meth:`update`; without, their keys are NaN.
    n_bins
        Score grid of the AUCs (``k / n_bins``).
    tail_cuts
        ``None`` (thirds) or ``(a, b)``: the head / medium / tail split of macro-F1.

    Examples
    --------
    >>> import numpy as np
    >>> m = MultiLabelMetrics(window_size=2)
    >>> m.update([0, 1], [0], n_labels=3)
    >>> m.update([], [], n_labels=3)
    >>> m.update([2], [1], n_labels=3)
    >>> round(m.get()["example_f1"], 4)   # (2/3 + 1 + 0) / 3
    0.5556
    >>> m.get_window()["window_example_f1"]  # the last two records
    0.5
    >>> m.update([1], [1], n_labels=3, scores=[0.2, 0.7, 0.1])   # with the learner's scores
    >>> m.get()["lrap"], m.get()["one_error"]
    (1.0, 0.0)
    """

    def __init__(self, window_size: int = 1000, top_k=(1, 3, 5), backend: str = "auto",
                 ranking: bool = True, n_bins: int = N_BINS, tail_cuts=None):
        self.window_size = int(window_size)
        self.top_k = tuple(int(k) for k in top_k)
        self.backend = backend
        self.ranking = bool(ranking)
        self.n_bins = int(n_bins)
        self.tail_cuts = _check_tail_cuts(tail_cuts)
        self._rank = RankingMetrics(self.window_size, self.n_bins) if self.ranking else None
        self._n_counted = 0
        self._pending_true: list = []
        self._pending_pred: list = []
        self._pending_L: list = []
        self._pending_patk: list = []
        self._pending_scores: list = []
        self._cum = _Counts()
        self._cum_ex = np.zeros(5)
        self._cum_patk = np.zeros(len(self.top_k))
        self._cum_patk_n = np.zeros(len(self.top_k))
        self._win = _Counts()
        # the label sets of the records in the window, oldest first, as CSR
        self._win_true = (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64))
        self._win_pred = (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64))
        w = max(self.window_size, 1)
        self._win_ex = np.zeros((w, 5))  # ring of per-record example values
        self._win_patk = np.full((w, len(self.top_k)), np.nan)
        self._win_head = 0  # next ring slot to write

    @property
    def n(self) -> int:
        """Records scored so far."""
        return self._n_counted + len(self._pending_true)

    # -- recording ---------------------------------------------------------------------
    def update(self, true_cols, pred_cols, n_labels: int, patk=None, scores=None) -> None:
        """Record one prediction.

        Parameters
        ----------
        true_cols, pred_cols
            Integer columns of the true and the predicted positive labels.
        n_labels
            Number of labels known when the prediction was made (for Hamming loss).
        patk
            Optional precision@k values, one per ``top_k`` (NaN where undefined).
        scores
            Optional scores by label column (``scores[c]`` for column ``c``; NaN or beyond
            its end: not ranked), for the ranking metrics. ``None``: no scores.
        """
        self._pending_true.append(np.asarray(true_cols, dtype=np.int64))
        self._pending_pred.append(np.asarray(pred_cols, dtype=np.int64))
        self._pending_L.append(n_labels)
        self._pending_patk.append(patk)
        self._pending_scores.append(scores)
        if len(self._pending_true) >= 512:
            self._flush()

    def update_many(self, true_indptr, true_indices, pred_indptr, pred_indices, n_labels,
                    patk=None, scores=None) -> None:
        """Record a batch of predictions at once (CSR label sets, like the kernel takes).

        ``n_labels`` is the number of labels known at each record (an array, or one int);
        ``patk`` an optional ``(n, len(top_k))`` array of precision@k (NaN where undefined);
        ``scores`` an optional ``(n, m)`` array of scores by label column (NaN: not ranked).
        Equivalent to :meth:`update` record by record.
        """
        self._flush()
        t_ptr = np.asarray(true_indptr, dtype=np.int64)
        n = t_ptr.size - 1
        if n <= 0:
            return
        Ls = np.broadcast_to(np.asarray(n_labels, dtype=np.int64), (n,))
        if patk is None:
            patk = np.full((n, len(self.top_k)), np.nan)
        self._count_batch(t_ptr, np.asarray(true_indices, dtype=np.int64),
                          np.asarray(pred_indptr, dtype=np.int64),
                          np.asarray(pred_indices, dtype=np.int64), Ls,
                          np.asarray(patk, dtype=np.float64).reshape(n, len(self.top_k)),
                          scores)

    def _flush(self) -> None:
        if not self._pending_true:
            return
        trues, preds = self._pending_true, self._pending_pred
        Ls = np.asarray(self._pending_L, dtype=np.int64)
        patk = np.full((len(trues), len(self.top_k)), np.nan)
        for i, v in enumerate(self._pending_patk):
            if v is not None:
                patk[i] = v
        t_ptr, t_idx = _csr(trues)
        p_ptr, p_idx = _csr(preds)
        S = None
        if self._rank is not None:
            rows = [None if v is None else np.asarray(v, dtype=np.float64)
                    for v in self._pending_scores]
            S = np.full((len(rows), max((v.size for v in rows if v is not None), default=0)),
                        np.nan)
            for i, v in enumerate(rows):
                if v is not None:
                    S[i, :v.size] = v
        self._pending_true, self._pending_pred = [], []
        self._pending_L, self._pending_patk, self._pending_scores = [], [], []
        self._count_batch(t_ptr, t_idx, p_ptr, p_idx, Ls, patk, S)

    def _count_batch(self, t_ptr, t_idx, p_ptr, p_idx, Ls, patk, scores=None) -> None:
        n = t_ptr.size - 1
        if self._rank is not None:
            S = np.full((n, 0), np.nan) if scores is None else scores
            self._rank.update_many(S, t_ptr, t_idx)
        n_labels = int(max(Ls.max(), self._cum.tp.size))
        n_true, n_pred, n_inter, tp, fp, fn = metric_counts(t_ptr, t_idx, p_ptr, p_idx,
                                                            n_labels, backend=self.backend)
        ex = _example_values(n_true, n_pred, n_inter, Ls)
        self.last_example_values = ex  # per record: precision, recall, F1, Hamming, subset
        self._n_counted += n
        self._cum.add(tp, fp, fn)
        # running sums added record by record, in stream order (cumsum is sequential):
        # the totals do not depend on how records were grouped into flushes
        self._cum_ex = np.cumsum(np.vstack([self._cum_ex, ex]), axis=0)[-1]
        ok = ~np.isnan(patk)
        self._cum_patk = np.cumsum(np.vstack([self._cum_patk, np.where(ok, patk, 0.0)]),
                                   axis=0)[-1]
        self._cum_patk_n += ok.sum(axis=0)
        if self.window_size > 0:
            self._win.add(tp, fp, fn)
            w = self.window_size
            take = min(n, w)
            first = n - take  # only the last w records can still be in the window
            if first:  # records that pass straight through the window: add and revert
                _, _, _, otp, ofp, ofn = metric_counts(
                    t_ptr[:first + 1], t_idx[:t_ptr[first]], p_ptr[:first + 1],
                    p_idx[:p_ptr[first]], n_labels, backend=self.backend)
                self._win.add(otp, ofp, ofn, sign=-1)
            self._win_true = _csr_append(self._win_true, t_ptr[first:], t_idx)
            self._win_pred = _csr_append(self._win_pred, p_ptr[first:], p_idx)
            slots = (self._win_head + np.arange(first, n)) % w
            self._win_ex[slots] = ex[first:]
            self._win_patk[slots] = patk[first:]
            self._win_head = (self._win_head + n) % w
            excess = self._win_true[0].size - 1 - w
            if excess > 0:  # the oldest records leave the window
                (ot_ptr, ot_idx), self._win_true = _csr_split(self._win_true, excess)
                (op_ptr, op_idx), self._win_pred = _csr_split(self._win_pred, excess)
                _, _, _, otp, ofp, ofn = metric_counts(ot_ptr, ot_idx, op_ptr, op_idx,
                                                       self._win.tp.size, backend=self.backend)
                self._win.add(otp, ofp, ofn, sign=-1)

    # -- reading -----------------------------------------------------------------------
    def _assemble(self, counts, ex_sum, n, patk_sum, patk_n, ranking, prefix=""):
        out = {}
        if n == 0:
            for name in QUALITY_NAMES:
                out[prefix + name] = math.nan
        else:
            out[prefix + "example_precision"] = float(ex_sum[_EX_P] / n)
            out[prefix + "example_recall"] = float(ex_sum[_EX_R] / n)
            out[prefix + "example_f1"] = float(ex_sum[_EX_F1] / n)
            out[prefix + "hamming_loss"] = float(ex_sum[_EX_HAM] / n)
            out[prefix + "subset_accuracy"] = float(ex_sum[_EX_SUB] / n)
            for name, value in _label_scores(counts.tp, counts.fp, counts.fn, n,
                                             self.tail_cuts).items():
                out[prefix + name] = value
        for j, k in enumerate(self.top_k):
            out[f"{prefix}precision_at_{k}"] = (
                float(patk_sum[j] / patk_n[j]) if patk_n[j] > 0 else math.nan
            )
        for name in RANKING_NAMES:
            out[prefix + name] = math.nan if ranking is None else ranking[prefix + name]
        return out

    def get(self) -> dict:
        """Cumulative metrics over every record so far."""
        self._flush()
        ranking = self._rank.get() if self._rank is not None else None
        return self._assemble(self._cum, self._cum_ex, self.n, self._cum_patk, self._cum_patk_n,
                              ranking)

    def get_window(self) -> dict:
        """The same metrics over the last ``window_size`` records, keys prefixed ``window_``."""
        self._flush()
        n = self._win_true[0].size - 1
        if n:
            w = self.window_size
            slots = (self._win_head - 1 - np.arange(n)) % w if n < w else slice(None)
            ex, patk = self._win_ex[slots], self._win_patk[slots]
            ok = ~np.isnan(patk)
            ex_sum, psum, pn = ex.sum(axis=0), np.where(ok, patk, 0).sum(axis=0), ok.sum(axis=0)
        else:
            ex_sum, psum, pn = np.zeros(5), np.zeros(len(self.top_k)), np.zeros(len(self.top_k))
        ranking = self._rank.get_window() if self._rank is not None else None
        return self._assemble(self._win, ex_sum, n, psum, pn, ranking, prefix="window_")

    def __getstate__(self):
        self._flush()
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "ranking" not in state:  # pickled before the ranking metrics: they start now
            self.ranking, self.n_bins, self.tail_cuts = True, N_BINS, None
            self._rank = RankingMetrics(self.window_size, self.n_bins)
            self._pending_scores = [None] * len(self._pending_true)
