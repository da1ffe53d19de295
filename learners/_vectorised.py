"""What the vectorised multi-label learners share.

:class:`ScoredLearnerMethods` derives river's ``predict_one`` / ``predict_proba_one`` and the
batch methods ``learn_many`` / ``predict_many`` from the three a learner writes itself:
``predict_scores_one``, ``predict_learn_many`` and ``predict_scores_many``.

:class:`LabelArrivals` maps a batch's label columns onto a learner's
:class:`~stream.types.LabelIndex` and tracks the labels the learner has not met yet: each is
registered at its first positive row, exactly as ``learn_one`` would register it, so a
batched run gives the same columns as a record-by-record one.

Examples
--------
>>> import numpy as np
>>> from stream.types import LabelIndex
>>> index = LabelIndex()
>>> _ = index.add("sky")
>>> Y = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1]], dtype=bool)
>>> arrivals = LabelArrivals(["sky", "sea", "sand"], Y, index)
>>> arrivals.column_map.tolist(), arrivals.next_arrival(0)
([0, -1, -1], 1)
>>> arrivals.arrive(1, index, {})
>>> arrivals.column_map.tolist(), index.keys, arrivals.next_arrival(1)
([0, 2, 1], ['sky', 'sand', 'sea'], 3)
"""

from __future__ import annotations

import bisect

import numpy as np

from stream.batch import stack_padded
from stream.types import LabelIndex


class ScoredLearnerMethods:
    """river's prediction methods and the batch methods, from a learner's scored ones."""

    def predict_one(self, x):
        return self.predict_scores_one(x)[0]

    def predict_proba_one(self, x):
        scores = self.predict_scores_one(x)[1]
        return {label: {True: p, False: 1.0 - p} for label, p in scores.items()}

    @property
    def labels_(self) -> list:
        """Labels in column order of the batch outputs."""
        return self._labels.keys

    def learn_many(self, batch) -> None:
        """Learn a batch, row by row (the same as ``learn_one`` on each row, in order)."""
        self.predict_learn_many(batch)

    def predict_many(self, batch) -> np.ndarray:
        """Predict every row with the current model: booleans, columns as :attr:`labels_`."""
        return self.predict_scores_many(batch)[0]


class LabelArrivals:
    """A batch's label columns against a learner's label index, with the labels to come.

    Parameters
    ----------
    label_names
        The batch's label columns.
    Y
        Its label matrix, ``(n, len(label_names))`` booleans.
    labels
        The learner's label index (not changed here until :meth:`arrive`).

    Attributes
    ----------
    column_map
        The learner's column of each batch column, -1 while the label is unknown.
    """

    def __init__(self, label_names, Y: np.ndarray, labels: LabelIndex):
        self.label_names = list(label_names)
        self.n_rows = Y.shape[0]
        self.column_map = np.full(len(self.label_names), -1, dtype=np.int64)
        self._columns_at = {}  # row -> the unknown labels' columns first positive there
        for j, name in enumerate(self.label_names):
            col = labels.get(name)
            if col is not None:
                self.column_map[j] = col
            elif Y[:, j].any():  # a label is registered at its first positive row
                self._columns_at.setdefault(int(np.argmax(Y[:, j])), []).append(j)
        self._rows = sorted(self._columns_at)

    def arriving_at(self, row: int) -> bool:
        """Whether some unknown label is first positive on ``row``."""
        return row in self._columns_at

    def next_arrival(self, row: int) -> int:
        """The first row after ``row`` that brings a new label (the batch length if none)."""
        i = bisect.bisect_right(self._rows, row)
        return self._rows[i] if i < len(self._rows) else self.n_rows

    def arrive(self, row: int, labels: LabelIndex, named: dict) -> None:
        """Register the labels first positive on ``row``, in :meth:`LabelIndex.arrival_order`.

        ``named`` holds the labels seen only as negatives so far; an arriving one leaves it.
        """
        by_name = {self.label_names[j]: j for j in self._columns_at.pop(row, [])}
        for name in LabelIndex.arrival_order(list(by_name)):
            self.column_map[by_name[name]] = labels.add(name)
            named.pop(name, None)

    def outputs(self, preds: list, scores: list, labels: LabelIndex, named: dict):
        """The batch's predictions and scores, ``(n, len(labels))`` after the batch.

        Labels the batch named but never saw positive join ``named``. A block's missing
        columns are labels that arrived after it: False, and a NaN score.
        """
        for name in self.label_names:
            if name not in labels:
                named.setdefault(name)
        L = len(labels)
        return (stack_padded(preds, self.n_rows, L, False, bool),
                stack_padded(scores, self.n_rows, L, np.nan, np.float64))
