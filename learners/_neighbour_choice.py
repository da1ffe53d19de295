"""iHOMER's nearest-neighbour expert and the per-record choice between it and iHOMER.

A :class:`learners.knn.KNN` learns every record beside iHOMER. Each record is served by
whichever of the two had the higher faded example-F1 on the records before it (iHOMER on
a tie, so until the neighbours have done better on some record iHOMER predicts alone);
both are scored on every learned record, before it is learned, as the prequential
evaluation scores a learner. The scores use the known labels only (a label mapped to
``None`` counts in neither the prediction nor the truth) and a record with no true and
no predicted label scores 1, so the batched path and the record path compute the same
numbers from the same integer counts and make the same choices.

Measured before it was built (``bench/early_choice.py``: the two run side by side and
combined outside the learner): on the dev streams the neighbours serve most records of
the small ones and the combination is within 0.01 of the better of the two on almost
every stream, order and prefix.
"""

from __future__ import annotations

import numpy as np

from learners.knn import KNN

__all__ = ["NeighbourChoice"]


def _ex_f1(pred: set, truth: set, unknown: set) -> float:
    if unknown:
        pred = pred - unknown
    size = len(pred) + len(truth)
    return 1.0 if size == 0 else 2.0 * len(pred & truth) / size


class NeighbourChoice:
    """The neighbours' learner and the faded example-F1 of iHOMER and of the neighbours.

    Parameters
    ----------
    fade
        Fading factor of both scores.

    Examples
    --------
    >>> choice = NeighbourChoice(0.995)
    >>> choice.serves_neighbours
    False
    >>> choice.learn_one({"a": 1.0}, {"u": True}, {"u"})  # iHOMER was right, knn not
    >>> choice.scores
    (1.0, 0.0)
    """

    def __init__(self, fade: float):
        self.fade = float(fade)
        self.knn = KNN()
        self._score = np.zeros(2)  # faded example-F1 of iHOMER and of the neighbours
        self.n_served = 0  # learned records the neighbours served

    @property
    def scores(self) -> tuple:
        """Faded example-F1 of iHOMER and of the neighbours so far."""
        return float(self._score[0]), float(self._score[1])

    @property
    def serves_neighbours(self) -> bool:
        """Whether the next record is served by the neighbours."""
        return bool(self._score[1] > self._score[0])

    def memory_usage(self) -> int:
        return self.knn.memory_usage() + self._score.nbytes

    def warm_up(self) -> None:
        self.knn.warm_up()

    # -- one record ----------------------------------------------------------------------
    def predict_one(self, x, labels: dict, scores: dict):
        """iHOMER's prediction ``labels, scores`` or, when they serve, the neighbours'
        (on the same keys)."""
        if not self.serves_neighbours:
            return labels, scores
        k_labels, k_scores = self.knn.predict_scores_one(x)
        labels = {lab: k_labels.get(lab, False) for lab in labels}
        scores = {lab: k_scores.get(lab, 0.0) for lab in scores}
        return labels, scores

    def learn_one(self, x, y: dict, ihomer_pred: set) -> None:
        """Score both on ``y`` (iHOMER predicted the labels ``ihomer_pred`` for ``x``),
        then teach the neighbours ``x``."""
        served = self.serves_neighbours
        knn_pred = self.knn.learn_one_predicted(x, y)
        truth = {lab for lab, on in y.items() if on}
        unknown = {lab for lab, on in y.items() if on is None}
        f_ih = _ex_f1(ihomer_pred, truth, unknown)
        f_nn = _ex_f1(knn_pred, truth, unknown)
        self._score[0] = self.fade * self._score[0] + f_ih
        self._score[1] = self.fade * self._score[1] + f_nn
        self.n_served += served

    # -- a batch -------------------------------------------------------------------------
    def _knn_columns(self, names: list) -> np.ndarray:
        pos = {lab: j for j, lab in enumerate(names)}
        return np.asarray([pos[lab] for lab in self.knn.labels_], dtype=np.int64)

    def predict_learn_many(self, batch, pred: np.ndarray, score: np.ndarray, names: list):
        """Test-then-train the neighbours over ``batch`` and serve each row from iHOMER's
        ``pred, score`` (columns ``names``, after the batch) or from the neighbours, as a
        loop of :meth:`predict_one` and :meth:`learn_one` would."""
        k_pred, k_score = self.knn.predict_learn_many(batch)
        n, L = pred.shape
        pos = {lab: j for j, lab in enumerate(names)}
        cols = np.asarray([pos[lab] for lab in self.knn.labels_], dtype=np.int64)
        K_pred = np.zeros((n, L), dtype=bool)
        K_pred[:, cols] = k_pred
        b_cols = [pos.get(lab, -1) for lab in batch.label_names]
        keep = np.asarray([c >= 0 for c in b_cols], dtype=bool)
        T = np.zeros((n, L), dtype=bool)
        Y = np.asarray(batch.Y, dtype=bool)
        t_cols = np.asarray(b_cols, dtype=np.int64)[keep]
        T[:, t_cols] = Y[:, keep]
        known = np.ones((n, L), dtype=bool)
        U = getattr(batch, "unknown", None)
        if U is not None:
            known[:, t_cols] = ~np.asarray(U, dtype=bool)[:, keep]
        n_true = T.sum(axis=1)
        f = []
        for P in (pred, K_pred):
            P = P & known
            size = P.sum(axis=1) + n_true
            hits = (P & T).sum(axis=1)  # the same division as learn_one's
            f.append(np.where(size == 0, 1.0, 2.0 * hits / np.maximum(size, 1)).tolist())
        served = np.zeros(n, dtype=bool)
        s_ih, s_nn = float(self._score[0]), float(self._score[1])
        fade = self.fade
        for i, (f_ih, f_nn) in enumerate(zip(*f)):
            served[i] = s_nn > s_ih
            s_ih = fade * s_ih + f_ih
            s_nn = fade * s_nn + f_nn
        self._score[0], self._score[1] = s_ih, s_nn
        self.n_served += int(served.sum())
        if served.any():  # in place, row by served row (the arrays can be labels wide)
            rows = np.flatnonzero(served)
            pred[rows] = K_pred[rows]
            served_score = np.full((rows.size, L), np.nan)
            served_score[:, cols] = k_score[rows]
            score[rows] = served_score
        return pred, score

    def predict_many(self, batch, pred: np.ndarray, score: np.ndarray, names: list):
        """Predictions of a batch without learning: all iHOMER's or all the neighbours'."""
        if not self.serves_neighbours or pred.shape[1] == 0:
            return pred, score
        k_pred, k_score = self.knn.predict_scores_many(batch)
        cols = self._knn_columns(names)
        out_pred = np.zeros_like(pred)
        out_score = np.zeros_like(score)
        out_pred[:, cols] = k_pred
        out_score[:, cols] = k_score
        return out_pred, out_score
