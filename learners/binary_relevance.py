"""Binary relevance: one independent binary classifier per label."""

from __future__ import annotations

import typing

from river import base, linear_model, preprocessing

__all__ = ["BinaryRelevance"]


def default_binary_classifier() -> base.Classifier:
    """The default per-label model: ``StandardScaler() | LogisticRegression()``.

    Logistic regression is cheap (tens of microseconds per update), gives calibrated-ish
    scores for precision@k, and copes with features that appear or disappear (river's
    linear models keep their weights in dicts). The scaler matters: the raw features of
    most multi-label benchmarks are on very different scales, and plain SGD diverges or
    stalls without it.
    """
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def proba_true(proba: dict) -> float:
    """P(True) from a river binary ``predict_proba_one`` output.

    river classifiers that have only seen one class so far return a single-key dict (or an
    empty one before learning): the missing class has probability 0. The result is
    normalised so that it is a probability even if the classifier's output is not.

    Examples
    --------
    >>> proba_true({False: 0.25, True: 0.75})
    0.75
    >>> proba_true({False: 1.0}), proba_true({})
    (0.0, 0.0)
    """
    p_true = float(proba.get(True, 0.0))
    total = p_true + float(proba.get(False, 0.0))
    if total <= 0.0:
        return 0.0
    return p_true / total


class BinaryRelevance(base.Wrapper, base.MultiLabelClassifier):
    """Binary relevance: one clone of a binary classifier per label.

    Each label gets its own fresh clone of ``classifier`` the first time the label is named
    in a ``y`` (as ``True``, ``False`` or ``None``); from then on it learns from every record,
    a label absent from ``y`` counting as negative, except where ``y[label] is None``
    (unknown for that record): that label's model skips the record. Labels therefore may
    appear at any time, and features may appear or disappear as the wrapped classifier
    allows (river's linear models and ``StandardScaler`` handle both).

    Parameters
    ----------
    classifier
        The binary classifier cloned for each label. ``None`` (the default) means
        ``preprocessing.StandardScaler() | linear_model.LogisticRegression()``; the
        attribute stays ``None`` so that ``clone`` and ``repr`` show what was asked for.

    Notes
    -----
    A label is predicted ``True`` when its model gives it a probability strictly above 0.5;
    :meth:`predict_scores_one` returns that probability as the label's score. The models are
    independent, so label dependencies are ignored: use :class:`ClassifierChain` or
    :class:`LabelPowerset` to model them. ``learn_one`` and ``predict_*`` pass extra keyword
    arguments (e.g. a sample weight ``w``) on to the per-label models.

    Examples
    --------
    >>> from river import datasets
    >>> from learners.binary_relevance import BinaryRelevance

    >>> model = BinaryRelevance()
    >>> model.predict_one({"Att1": 0.1})
    {}
    >>> records = list(datasets.Yeast().take(21))
    >>> for x, y in records[:20]:
    ...     model.learn_one(x, y)
    >>> x, y = records[20]
    >>> sorted(label for label, on in y.items() if on)
    ['Class12', 'Class13', 'Class3', 'Class4']
    >>> y_pred, scores = model.predict_scores_one(x)
    >>> len(y_pred), sorted(label for label, on in y_pred.items() if on)
    (14, ['Class12', 'Class13', 'Class4', 'Class5'])
    >>> round(scores["Class4"], 2), round(scores["Class3"], 2)
    (0.73, 0.47)
    """

    _sparse_labels = True  # labels absent from y are learned as negative

    def __init__(self, classifier: base.Classifier | None = None):
        self.classifier = classifier
        self._template = default_binary_classifier() if classifier is None else classifier
        self._models: dict = {}  # label -> fitted clone, in order of first appearance

    @property
    def _wrapped_model(self):
        return self._template

    @property
    def _multiclass(self) -> bool:
        return False

    @classmethod
    def _unit_test_params(cls) -> typing.Iterator[dict]:
        yield {}
        yield {"classifier": linear_model.LogisticRegression()}

    @property
    def labels(self) -> list:
        """The known labels, in order of first appearance."""
        return list(self._models)

    def learn_one(self, x: dict, y: dict, **kwargs) -> None:
        models = self._models
        for label in y:
            if label not in models:
                models[label] = self._template.clone()
        for label, model in models.items():
            on = y.get(label, False)
            if on is None:  # unknown for this record: its model learns nothing
                continue
            model.learn_one(x, bool(on), **kwargs)

    def predict_scores_one(self, x: dict, **kwargs) -> tuple[dict, dict]:
        """The prediction and P(label is ``True``) for every known label, in one pass.

        Returns
        -------
        tuple
            ``(y_pred, scores)``: ``dict[label, bool]`` and ``dict[label, float]``.
        """
        scores = {
            label: proba_true(model.predict_proba_one(x, **kwargs))
            for label, model in self._models.items()
        }
        return {label: p > 0.5 for label, p in scores.items()}, scores

    def predict_proba_one(self, x: dict, **kwargs) -> dict:
        _, scores = self.predict_scores_one(x, **kwargs)
        return {label: {False: 1.0 - p, True: p} for label, p in scores.items()}

    def predict_one(self, x: dict, **kwargs) -> dict:
        return self.predict_scores_one(x, **kwargs)[0]
