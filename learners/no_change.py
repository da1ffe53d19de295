"""No-change: predict the label set of the previous record."""

from __future__ import annotations

from river import base

__all__ = ["NoChange"]


class NoChange(base.MultiLabelClassifier):
    """Predicts that the next record has the positive labels of the last learnt one.

    The honest baseline for temporal dependence: on a stream where consecutive records
    share labels (sessions, bursts, slowly moving topics), a learner that does not beat
    ``NoChange`` has learnt nothing from ``x``. It ignores the features entirely.

    Notes
    -----
    Every label ever named in a ``y`` (``True``, ``False`` or ``None``, unknown) is known
    and appears in the predictions (an unknown label is not positive in the last set), in
    order of first appearance. The score of a label is 1.0 if it was
    positive in the last learnt record and 0.0 otherwise; :meth:`predict_proba_one` gives
    the same as a degenerate distribution.

    Examples
    --------
    >>> from learners.no_change import NoChange

    >>> model = NoChange()
    >>> model.predict_one({})
    {}
    >>> model.learn_one({"f": 1.0}, {"sky": True, "sea": False})
    >>> model.learn_one({"f": 2.0}, {"sea": True, "sand": True})
    >>> model.predict_one({"f": 3.0})
    {'sky': False, 'sea': True, 'sand': True}
    >>> model.predict_scores_one({"f": 3.0})[1]
    {'sky': 0.0, 'sea': 1.0, 'sand': 1.0}
    """

    _sparse_labels = True  # labels absent from y are learned as negative

    def __init__(self):
        self._labels: dict = {}  # known labels, in order of first appearance (values unused)
        self._last: frozenset = frozenset()

    @property
    def _multiclass(self) -> bool:
        return False

    @property
    def labels(self) -> list:
        """The known labels, in order of first appearance."""
        return list(self._labels)

    def learn_one(self, x: dict, y: dict, **kwargs) -> None:
        for label in y:
            if label not in self._labels:
                self._labels[label] = None
        self._last = frozenset(label for label, on in y.items() if on)

    def predict_scores_one(self, x: dict, **kwargs) -> tuple[dict, dict]:
        """The previous record's labels and their scores (1.0 if repeated, else 0.0).

        Returns
        -------
        tuple
            ``(y_pred, scores)``: ``dict[label, bool]`` and ``dict[label, float]``.
        """
        last = self._last
        y_pred = {label: label in last for label in self._labels}
        return y_pred, {label: 1.0 if on else 0.0 for label, on in y_pred.items()}

    def predict_proba_one(self, x: dict, **kwargs) -> dict:
        last = self._last
        return {
            label: {False: 0.0, True: 1.0} if label in last else {False: 1.0, True: 0.0}
            for label in self._labels
        }

    def predict_one(self, x: dict, **kwargs) -> dict:
        return self.predict_scores_one(x, **kwargs)[0]
