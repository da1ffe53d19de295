"""Binary relevance of online logistic regressions, vectorised in numpy/numba.

The fast baseline of labelstream (``--learner br``): one logistic model per label, all of
them held in one weight matrix and updated by a numba kernel, so a record costs
O(present features x labels) arithmetic and no Python per label.
"""

from __future__ import annotations

import numpy as np
from river import base

from learners import _logistic_kernels as K
from learners._vectorised import ScoredLearnerMethods
from stream.batch import (Batch, csr_row_slice, known_feature_rows, label_csr, rows_as_csr,
                          stack_padded, unknown_csr)
from stream.types import FeatureIndex, LabelIndex

__all__ = ["LogisticBinaryRelevance", "check_robust", "robust_value"]


def check_robust(robust) -> None:
    """Raise ``ValueError`` unless ``robust`` is ``None`` or a number in ``[0, 1]``."""
    if robust is None:
        return
    if isinstance(robust, bool) or not isinstance(robust, (int, float)) or not (
            0.0 <= float(robust) <= 1.0):
        raise ValueError(f"robust must be None or a number in [0, 1], got {robust!r}")


def robust_value(robust) -> float:
    """The kernels' ``robust`` argument: ``None`` (off) is 0.0.

    Examples
    --------
    >>> robust_value(None), robust_value(0.5)
    (0.0, 0.5)
    """
    return 0.0 if robust is None else float(robust)

_NO_LABELS = np.zeros(0, dtype=np.int64)


def _grow(a: np.ndarray, shape) -> np.ndarray:
    if all(n <= m for n, m in zip(shape, a.shape)):
        return a
    new = np.zeros(tuple(max(n, 2 * m) if n > m else m for n, m in zip(shape, a.shape)))
    new[tuple(slice(0, m) for m in a.shape)] = a
    return new


class LogisticBinaryRelevance(ScoredLearnerMethods, base.MultiLabelClassifier):
    """One online logistic regression per label, learned together in arrays.

    Features are standardised online (running mean and variance; an absent feature is
    missing and imputed by its mean) or, for sparse input, scaled by their running root
    mean square so that absent stays zero. ``center="auto"`` picks sparse scaling when
    the first ``20`` records fill less than a quarter of the features seen, and keeps
    that choice. Weights learn by AdaGrad on the logistic loss with L2 regularisation.
    An unknown label (``y[label] is None``) is skipped: its model is left exactly as it
    was, and it takes no part in the threshold scores of that record.

    Labels are decided by a threshold on the predicted probability. The default
    ``threshold="auto"`` keeps, for each candidate threshold of ``THRESHOLD_GRID``, the
    example-F1 it would have scored on past records (each scored before it was learned,
    faded by ``0.998`` per record so it follows drift) and uses the best one: streams with
    many labels per record get a lower bar than streams with one. ``"ofo"`` is online
    F-measure optimisation (Busa-Fekete et al., NeurIPS 2015), a threshold per label at
    half its running F1, which favours macro-F1 and rare labels. A float is fixed.

    Parameters
    ----------
    learning_rate
        AdaGrad step size.
    l2
        L2 penalty on the weights.
    threshold
        ``"auto"``, ``"ofo"`` or a probability in (0, 1).
    center
        ``"auto"``, ``True`` (standardise, dense data) or ``False`` (scale only, sparse).
    robust
        Noisy labels (positives missing from the records, wrong tags): ``None`` or 0 is
        the plain logistic step; a value ``r`` in ``(0, 1]`` weights the step of a label
        the record says is absent by ``1 - r * p`` (``p`` the model's probability), so a
        confident disagreement -- likely a missing positive -- pulls the model down less
        (:func:`learners._logistic_kernels.robust_weight`).

    Examples
    --------
    >>> from river import datasets
    >>> model = LogisticBinaryRelevance()
    >>> model.predict_one({"Att1": 0.1})
    {}
    >>> for x, y in datasets.Yeast().take(300):
    ...     model.learn_one(x, y)
    >>> pred = model.predict_one(x)
    >>> sorted(pred) == sorted(y)
    True
    """

    _sparse_labels = True  # absent labels in y are read as negative; None is unknown

    THRESHOLD_GRID = tuple(round(0.1 + 0.05 * i, 2) for i in range(11))  # 0.10 .. 0.60
    THRESHOLD_FADE = 0.998
    robust = None  # models pickled before the option learn as without it

    def __init__(self, learning_rate: float = 0.05, l2: float = 1e-4, threshold="auto",
                 center="auto", robust: float | None = None):
        self.learning_rate = learning_rate
        self.l2 = l2
        self.threshold = threshold
        self.center = center
        self.robust = robust
        check_robust(robust)
        if not (threshold in ("auto", "ofo") or (isinstance(threshold, (int, float))
                                       and 0.0 < float(threshold) < 1.0)):
            raise ValueError(f"threshold must be 'auto', 'ofo' or a probability, got {threshold!r}")
        if center not in ("auto", True, False):
            raise ValueError(f"center must be 'auto', True or False, got {center!r}")
        self._features = FeatureIndex()
        self._labels = LabelIndex()
        self._W = np.zeros((16, 4))
        self._G = np.zeros((16, 4))
        self._b = np.zeros(4)
        self._Gb = np.zeros(4)
        self._ofo_a = np.zeros(4)
        self._ofo_b = np.zeros(4)
        self._f_count = np.zeros(16)
        self._f_mean = np.zeros(16)
        self._f_m2 = np.zeros(16)
        self._f_sumsq = np.zeros(16)
        self._thr_grid = np.asarray(self.THRESHOLD_GRID, dtype=np.float64)
        self._thr_score = np.zeros(self._thr_grid.size)
        self._n = 0
        self._center = None if center == "auto" else bool(center)
        self._probe_nnz = 0

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"threshold": 0.5, "center": True}
        yield {"threshold": "ofo"}
        yield {"robust": 0.5}

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the kernels now, not on the first record.

        A Kafka worker calls this before it subscribes, so a first compile never holds the
        GIL long enough to miss a heartbeat; benchmarks call it before timing. No state
        changes.
        """
        scratch = LogisticBinaryRelevance(self.learning_rate, self.l2, self.threshold,
                                          self.center, self.robust)
        scratch.learn_one({"a": 1.0}, {"u": True})
        scratch.predict_scores_one({"a": 1.0})

    # -- array bookkeeping -------------------------------------------------------------
    def _ensure_capacity(self):
        d, L = len(self._features), len(self._labels)
        if d <= self._W.shape[0] and L <= self._W.shape[1]:
            return
        self._W = _grow(self._W, (d, L))
        self._G = _grow(self._G, (d, L))
        for name in ("_b", "_Gb", "_ofo_a", "_ofo_b"):
            setattr(self, name, _grow(getattr(self, name), (L,)))
        for name in ("_f_count", "_f_mean", "_f_m2", "_f_sumsq"):
            setattr(self, name, _grow(getattr(self, name), (d,)))

    def _encode_x(self, x: dict, grow: bool):
        return self._features.encode(x, grow=grow)

    def _decide_center(self, nnz_rows):
        if self._center is not None:
            return self._center
        self._probe_nnz += int(sum(nnz_rows))
        if self._n + len(nnz_rows) >= 20:
            density = self._probe_nnz / max(1, (self._n + len(nnz_rows)) * len(self._features))
            self._center = bool(density >= 0.25)
            return self._center
        return True

    def _thresholds(self):
        L = len(self._labels)
        if self.threshold == "ofo":
            a, b = self._ofo_a[:L], self._ofo_b[:L]
            return np.where(b > 0, a / np.where(b > 0, b, 1), 0.5)
        if self.threshold == "auto":
            best = int(np.argmax(self._thr_score)) if self._n else self._thr_grid.size // 2
            return np.full(L, self._thr_grid[best])
        return np.full(L, float(self.threshold))

    # -- learning ----------------------------------------------------------------------
    def _learn_csr(self, x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr=None, u_idx=None):
        if u_ptr is None:
            u_ptr, u_idx = np.zeros(len(x_ptr), dtype=np.int64), _NO_LABELS
        self._ensure_capacity()
        center = self._decide_center(np.diff(x_ptr))
        self._n = K.learn_batch(
            x_ptr, x_idx, x_val, y_ptr, y_idx, self._W, self._b, self._G, self._Gb,
            len(self._labels), center, self._f_count, self._f_mean, self._f_m2,
            self._f_sumsq, self._n, float(self.learning_rate), float(self.l2),
            self._ofo_a, self._ofo_b, self._thr_grid, self._thr_score, self.THRESHOLD_FADE,
            u_ptr, u_idx, robust_value(self.robust),
        )

    def learn_one(self, x, y):
        idx, val = self._encode_x(x, grow=True)
        self._labels.observe(y)
        y_idx = self._labels.positions(y)
        if None in y.values():  # unknown labels: their models learn nothing from x
            u_idx = self._labels.unknown_positions(y)
            self._learn_csr(np.array([0, idx.size]), idx, val, np.array([0, y_idx.size]),
                            y_idx, np.array([0, u_idx.size]), u_idx)
            return
        self._learn_csr(np.array([0, idx.size]), idx, val, np.array([0, y_idx.size]), y_idx)

    def learn_many(self, batch: Batch) -> None:
        """Learn a :class:`stream.batch.Batch` (same result as ``learn_one`` row by row)."""
        f_map = self._features.add_all(batch.feature_names)
        l_map = np.asarray([self._labels.add(n) for n in batch.label_names], dtype=np.int64)
        x_ptr, x_idx, x_val = rows_as_csr(batch.X)
        x_idx = f_map[x_idx] if x_idx.size else x_idx
        Y = np.asarray(batch.Y, dtype=bool)
        y_ptr = np.zeros(Y.shape[0] + 1, dtype=np.int64)
        np.cumsum(Y.sum(axis=1), out=y_ptr[1:])
        rows, cols = np.nonzero(Y)
        y_idx = l_map[cols] if cols.size else cols.astype(np.int64)
        # a row's labels must be sorted columns, as positions() gives for learn_one
        for i in range(Y.shape[0]):
            y_idx[y_ptr[i]:y_ptr[i + 1]].sort()
        u_ptr, u_idx = unknown_csr(batch.unknown, l_map, Y.shape[0])
        self._learn_csr(x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx)

    def predict_learn_many(self, batch: Batch):
        """Test-then-train over a batch, record by record, in compiled code.

        Each row is predicted from the model as the rows before it left it, then learned:
        exactly a loop of ``predict_scores_one`` and ``learn_one``. A label registers at
        the row that first names it (positive, negative or unknown; ``batch.named_at``),
        as ``learn_one`` registers every label named in ``y``; rows that register labels,
        and the first records, whose density decides the feature scaling, run one at a
        time.

        Returns
        -------
        (pred, scores)
            Booleans and probabilities, ``(n, len(labels_))`` after the batch; a score is
            NaN where its label was not known yet when the row was predicted.

        Examples
        --------
        >>> from river import datasets
        >>> from stream.batch import to_batch
        >>> records = list(datasets.Yeast().take(150))
        >>> one, many = LogisticBinaryRelevance(), LogisticBinaryRelevance()
        >>> preds = []
        >>> for x, y in records:
        ...     preds.append(sorted(k for k, on in one.predict_one(x).items() if on))
        ...     one.learn_one(x, y)
        >>> P, S = many.predict_learn_many(to_batch(records, sparse=True))
        >>> names = many.labels_
        >>> [sorted(names[j] for j in row.nonzero()[0]) for row in P] == preds
        True
        >>> bool((many._W == one._W).all()), P.shape
        (True, (150, 14))
        """
        n = len(batch)
        Y = np.asarray(batch.Y, dtype=bool)
        U = getattr(batch, "unknown", None)
        x_ptr, x_idx, x_val = rows_as_csr(batch.X)
        f_names, l_names = list(batch.feature_names), list(batch.label_names)
        f_map = np.asarray([self._features.get(name, -1) for name in f_names],
                           dtype=np.int64)
        l_map = np.asarray([self._labels.get(name, -1) for name in batch.label_names],
                           dtype=np.int64)
        arrive_at = self._label_arrivals(batch, Y, U, l_map)
        arrival_rows = sorted(arrive_at)
        preds, scores = [], []
        row, a = 0, 0
        while row < n:
            while a < len(arrival_rows) and arrival_rows[a] < row:
                a += 1
            if self._center is None or (a < len(arrival_rows) and arrival_rows[a] == row):
                pred, score = self._predict_learn_row(row, x_ptr, x_idx, x_val, f_names,
                                                      f_map, l_names, Y, U, l_map,
                                                      arrive_at)
                preds.append(pred)
                scores.append(score)
                row += 1
                continue
            end = arrival_rows[a] if a < len(arrival_rows) else n
            new = np.flatnonzero(f_map < 0)  # every feature now, in first-seen order
            for j in new:
                f_map[j] = self._features.add(f_names[j])
            self._ensure_capacity()
            xs = csr_row_slice(x_ptr, x_idx, x_val, slice(row, end))
            xs = (xs[0], f_map[xs[1]] if xs[1].size else xs[1], xs[2])
            y_ptr, y_idx = label_csr(Y[row:end], l_map)
            u_ptr, u_idx = unknown_csr(None if U is None else U[row:end], l_map, end - row)
            mode, fixed = self._threshold_mode()
            self._n, pred, score = K.predict_learn_batch(
                *xs, y_ptr, y_idx, self._W, self._b, self._G, self._Gb, len(self._labels),
                self._center, self._f_count, self._f_mean, self._f_m2, self._f_sumsq,
                self._n, float(self.learning_rate), float(self.l2), self._ofo_a,
                self._ofo_b, self._thr_grid, self._thr_score, self.THRESHOLD_FADE, u_ptr,
                u_idx, robust_value(self.robust), mode, fixed)
            preds.append(pred)
            scores.append(score)
            row = end
        L = len(self._labels)
        return (stack_padded(preds, n, L, False, bool),
                stack_padded(scores, n, L, np.nan, np.float64))

    def _label_arrivals(self, batch, Y, U, l_map) -> dict:
        """Row -> the batch's label columns the model registers there, in column order."""
        named_at = getattr(batch, "named_at", None)
        arrive_at: dict = {}
        for j in np.flatnonzero(l_map < 0):
            if named_at is None:
                row = 0
            elif named_at[j] >= 0:
                row = int(named_at[j])
            else:  # named before the batch only: registers where it shows, if it does
                seen = Y[:, j] if U is None else Y[:, j] | U[:, j]
                if not seen.any():
                    continue
                row = int(np.argmax(seen))
            arrive_at.setdefault(row, []).append(int(j))
        return arrive_at

    def _predict_learn_row(self, row, x_ptr, x_idx, x_val, f_names, f_map, l_names, Y, U,
                           l_map, arrive_at):
        """One row as ``predict_scores_one`` then ``learn_one`` would take it."""
        xs = csr_row_slice(x_ptr, x_idx, x_val, slice(row, row + 1))
        known = f_map[xs[1]] >= 0
        pred = np.zeros((1, len(self._labels)), dtype=bool)
        score = np.zeros((1, len(self._labels)))
        if len(self._labels):  # the features the model knows, as encode(grow=False)
            score = self._proba_csr(np.array([0, int(known.sum())]), f_map[xs[1][known]],
                                    xs[2][known])
            pred = score > self._thresholds()
        for j in xs[1]:  # as encode(grow=True): new features in the row's order
            if f_map[j] < 0:
                f_map[j] = self._features.add(f_names[j])
        for j in arrive_at.get(row, ()):
            l_map[j] = self._labels.add(l_names[j])
        idx = f_map[xs[1]] if xs[1].size else xs[1]
        y_ptr, y_idx = label_csr(Y[row:row + 1], l_map)
        u_ptr, u_idx = unknown_csr(None if U is None else U[row:row + 1], l_map, 1)
        self._learn_csr(xs[0], idx, xs[2], y_ptr, y_idx, u_ptr, u_idx)
        return pred, score

    def _threshold_mode(self) -> tuple[int, float]:
        if self.threshold == "auto":
            return 0, 0.0
        if self.threshold == "ofo":
            return 1, 0.0
        return 2, float(self.threshold)

    # -- prediction --------------------------------------------------------------------
    def _proba_csr(self, x_ptr, x_idx, x_val):
        L = len(self._labels)
        center = True if self._center is None else self._center
        return K.predict_batch(x_ptr, x_idx, x_val, self._W, self._b, L, center,
                               self._f_count, self._f_mean, self._f_m2, self._f_sumsq,
                               self._n)

    def predict_scores_one(self, x):
        """The prediction and P(label) for every known label, in one pass."""
        if not len(self._labels):
            return {}, {}
        idx, val = self._encode_x(x, grow=False)
        p = self._proba_csr(np.array([0, idx.size]), idx, val)[0]
        on = p > self._thresholds()
        keys = self._labels.keys
        return dict(zip(keys, on.tolist())), dict(zip(keys, p.tolist()))

    def predict_proba_many(self, batch: Batch) -> np.ndarray:
        """P(label) for each row of ``batch.X``, columns as :attr:`labels_`."""
        x_ptr, x_idx, x_val = known_feature_rows(batch, self._features)
        if not len(self._labels):
            return np.zeros((len(x_ptr) - 1, 0))
        return self._proba_csr(x_ptr, x_idx, x_val)

    def predict_many(self, batch: Batch) -> np.ndarray:
        """Boolean predictions for each row, columns as :attr:`labels_`."""
        return self.predict_proba_many(batch) > self._thresholds()
