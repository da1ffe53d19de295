"""Classifier chain: binary relevance where each label sees the labels before it."""

from __future__ import annotations

import random
import typing

from river import base, linear_model

from .binary_relevance import default_binary_classifier, proba_true

__all__ = ["LABEL_FEATURE_PREFIX", "ClassifierChain"]

#: Prefix of the features through which a chain passes labels down; reserved.
LABEL_FEATURE_PREFIX = "__label__"


def label_feature(label) -> str:
    """The name of the feature that carries ``label`` down the chain.

    Examples
    --------
    >>> label_feature("sky"), label_feature(3)
    ('__label__sky', '__label__3')
    """
    return f"{LABEL_FEATURE_PREFIX}{label}"


class ClassifierChain(base.Wrapper, base.MultiLabelClassifier):
    """Classifier chain over a growing label set.

    The labels are arranged in a chain; the model of each label gets, besides ``x``, one
    extra feature per earlier label in the chain, named ``"__label__<label>"`` and worth
    1.0 or 0.0. At learn time these features carry the true labels (teacher forcing, as in
    Read et al.'s original chains); at predict time they carry the chain's own predictions,
    made greedily from the head of the chain to its tail. A label named for the first time
    joins the chain and gets a fresh clone of ``classifier``, which learns from then on
    (labels absent from ``y`` are negative); it goes to the end of the chain unless
    ``order`` places it earlier.

    Parameters
    ----------
    classifier
        The binary classifier cloned for each label. ``None`` (the default) means
        ``preprocessing.StandardScaler() | linear_model.LogisticRegression()``.
    order
        The order of the chain. ``None``: labels in order of first appearance (labels named
        in the same ``y`` keep the dict's order). A list or tuple of labels: the listed
        labels head the chain, in this order, the others follow in order of first
        appearance; a listed label still joins only when it is first named in a ``y``, and
        then the models after it in the chain see a new feature. ``"random"``: labels named
        for the first time in the same ``y`` join the end of the chain in a random order
        drawn from ``seed``.
    seed
        Random seed, used only when ``order="random"``.

    Notes
    -----
    The score of a label (:meth:`predict_scores_one`, :meth:`predict_proba_one`) is its
    probability *given the chain's predictions for the earlier labels*, not a marginal.
    A label is predicted ``True`` when that probability is strictly above 0.5. Feature
    names starting with ``"__label__"`` are reserved; labels whose ``str`` coincide (``1``
    and ``"1"``) would share a chain feature. The stored ``order`` argument is never
    mutated; the chain as built is :attr:`chain`. A label unknown for a record
    (``y[label] is None``) is not learned from it; the links after it take the chain's own
    prediction of it as their input, as they do when predicting.

    Examples
    --------
    >>> from river import datasets
    >>> from learners.classifier_chain import ClassifierChain

    >>> model = ClassifierChain()
    >>> model.predict_proba_one({"Att1": 0.1})
    {}
    >>> records = list(datasets.Yeast().take(21))
    >>> for x, y in records[:20]:
    ...     model.learn_one(x, y)
    >>> model.chain[:3]
    ['Class1', 'Class2', 'Class3']
    >>> x, y = records[20]
    >>> sorted(label for label, on in y.items() if on)
    ['Class12', 'Class13', 'Class3', 'Class4']
    >>> y_pred, scores = model.predict_scores_one(x)
    >>> sorted(label for label, on in y_pred.items() if on)
    ['Class12', 'Class13', 'Class4', 'Class5']

    References
    ----------
    [^1]: Read, J., Pfahringer, B., Holmes, G. and Frank, E., 2011. Classifier chains for
        multi-label classification. Machine Learning, 85(3), pp. 333-359.
    """

    _sparse_labels = True  # labels absent from y are learned as negative

    def __init__(
        self,
        classifier: base.Classifier | None = None,
        order: list | tuple | str | None = None,
        seed: int | None = None,
    ):
        if isinstance(order, str) and order != "random":
            raise ValueError(f"order must be None, a list of labels or 'random', got {order!r}")
        self.classifier = classifier
        self.order = order
        self.seed = seed
        self._template = default_binary_classifier() if classifier is None else classifier
        self._rng = random.Random(seed)
        self._rank = (
            {}
            if order is None or isinstance(order, str)
            else {label: i for i, label in enumerate(order)}
        )
        self._models: dict = {}  # label -> fitted clone, in chain order
        self._features: dict = {}  # label -> name of its chain feature

    @property
    def _wrapped_model(self):
        return self._template

    @property
    def _multiclass(self) -> bool:
        return False

    @classmethod
    def _unit_test_params(cls) -> typing.Iterator[dict]:
        yield {}
        yield {"classifier": linear_model.LogisticRegression(), "order": "random", "seed": 1}
        yield {"order": ("b", "a")}

    @property
    def chain(self) -> list:
        """The labels in chain order (a copy)."""
        return list(self._models)

    def _extend(self, labels: typing.Iterable) -> None:
        new = [label for label in dict.fromkeys(labels) if label not in self._models]
        if self.order == "random":
            self._rng.shuffle(new)
        for label in new:
            self._models[label] = self._template.clone()
            self._features[label] = label_feature(label)
        if new and self._rank:  # listed labels first; a stable sort keeps the rest in place
            rank, last = self._rank, len(self._rank)
            self._models = dict(
                sorted(self._models.items(), key=lambda item: rank.get(item[0], last))
            )

    def learn_one(self, x: dict, y: dict, **kwargs) -> None:
        self._extend(y)
        x = dict(x)
        for label, model in self._models.items():
            on = y.get(label, False)
            if on is None:  # unknown: not learned; the links below see the chain's guess
                on = proba_true(model.predict_proba_one(x)) > 0.5
            else:
                on = bool(on)
                model.learn_one(x, on, **kwargs)
            x[self._features[label]] = 1.0 if on else 0.0

    def predict_scores_one(self, x: dict, **kwargs) -> tuple[dict, dict]:
        """The chain's prediction and each label's score, in one pass down the chain.

        Returns
        -------
        tuple
            ``(y_pred, scores)``: ``dict[label, bool]`` and ``dict[label, float]``.
        """
        x = dict(x)
        y_pred, scores = {}, {}
        for label, model in self._models.items():
            p = proba_true(model.predict_proba_one(x, **kwargs))
            on = p > 0.5
            scores[label] = p
            y_pred[label] = on
            x[self._features[label]] = 1.0 if on else 0.0
        return y_pred, scores

    def predict_proba_one(self, x: dict, **kwargs) -> dict:
        _, scores = self.predict_scores_one(x, **kwargs)
        return {label: {False: 1.0 - p, True: p} for label, p in scores.items()}

    def predict_one(self, x: dict, **kwargs) -> dict:
        return self.predict_scores_one(x, **kwargs)[0]
