"""The river-based multi-label baselines and the project's estimator checks."""

from __future__ import annotations

import copy
import pathlib
import pickle
import random

import pytest
from river import base, datasets

import learners.binary_relevance
from learners import checks
from learners.binary_relevance import BinaryRelevance
from learners.classifier_chain import ClassifierChain
from learners.label_powerset import LabelPowerset
from learners.no_change import NoChange

REPO = pathlib.Path(__file__).resolve().parents[1]


def example_f1(truth: set, predicted: set) -> float:
    """2|T & P| / (|T| + |P|), and 1 when both are empty."""
    if not truth and not predicted:
        return 1.0
    return 2 * len(truth & predicted) / (len(truth) + len(predicted))


def positives(y: dict) -> set:
    return {label for label, on in y.items() if on}


def late_label_stream(n: int, first_late: int, seed: int = 7):
    """Positives-only records; label "late" (z > 0) exists only from record ``first_late``."""
    rng = random.Random(seed)
    for i in range(n):
        x = {"u": rng.gauss(0, 1), "v": rng.gauss(0, 1), "z": rng.gauss(0, 1)}
        y = {}
        if x["u"] > 0:
            y["a"] = True
        if i >= first_late and x["z"] > 0:
            y["late"] = True
        yield x, y


def learners_under_test():
    return [BinaryRelevance(), ClassifierChain(), LabelPowerset(), NoChange()]


def learning_learners():
    return [BinaryRelevance(), ClassifierChain(), LabelPowerset()]


def _ids(models):
    return [type(m).__name__ for m in models]


# --- the estimator checks ------------------------------------------------------------

CHECKED = [
    *learners_under_test(),
    ClassifierChain(order="random", seed=3),
    LabelPowerset(min_count=1, max_sets=8),
]
CASES = [
    pytest.param(model, check, id=f"{type(model).__name__}{i}-{check.check_id}")
    for i, model in enumerate(CHECKED)
    for check in checks.yield_checks(model)
]


@pytest.mark.parametrize("model, check", CASES)
def test_estimator_check(model, check):
    if check.__name__ in model._unit_test_skips():
        pytest.skip("listed in _unit_test_skips")
    check(model.clone())


def test_imports_resolve_to_this_repository():
    assert pathlib.Path(learners.binary_relevance.__file__).resolve().is_relative_to(REPO)
    assert pathlib.Path(checks.__file__).resolve().is_relative_to(REPO)


def test_checks_never_touch_music(monkeypatch):
    """river's Music is replaced, not iterated (it would be downloaded)."""

    def refuse(self):
        raise AssertionError("river's Music dataset was iterated")
        yield  # pragma: no cover

    monkeypatch.setattr(datasets.Music, "__iter__", refuse)
    checks.check_estimator(NoChange())
    ids = [check.check_id for check in checks.yield_checks(NoChange())]
    for name in ("check_learn_one", "check_pickling", "check_bounded_memory_growth"):
        assert f"{name}[yeast]" in ids and f"{name}[evolving]" in ids


def test_check_datasets_have_a_late_label_and_changing_features():
    yeast, evolving = checks.check_datasets()
    records = list(evolving)
    assert len(records) == 50 and len(list(yeast)) == 50
    assert list(evolving) == records  # re-iterable and deterministic
    first_late = min(i for i, (_, y) in enumerate(records) if "late" in y)
    assert first_late >= 25
    assert all(on is True for _, y in records for on in y.values())  # positives only
    assert any(not y for _, y in records)
    assert "g0" not in records[0][0] and "g0" in records[-1][0] and "f5" not in records[-1][0]


# --- broken toy learners: the checks must catch them ---------------------------------


class _MutatesInput(NoChange):
    """Pops a feature from x while learning."""

    def learn_one(self, x, y, **kwargs):
        super().learn_one(x, y)
        if x:
            x.pop(next(iter(x)))


class _KeepsReference(NoChange):
    """Keeps a reference to the last x it learnt from."""

    def learn_one(self, x, y, **kwargs):
        super().learn_one(x, y)
        self._x = x


class _ForgetsWhenPickled(NoChange):
    """Loses its last label set when pickled."""

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_last"] = frozenset()
        return state


class _FrozenLabels(NoChange):
    """Only ever knows the labels of its first record."""

    def learn_one(self, x, y, **kwargs):
        if not self._labels and not getattr(self, "_started", False):
            self._started = True
            super().learn_one(x, y)
            return
        self._last = frozenset(label for label, on in y.items() if on and label in self._labels)


class _ReturnsSelf(NoChange):
    """Returns itself from learn_one, as river < 0.19 did."""

    def learn_one(self, x, y, **kwargs):
        super().learn_one(x, y)
        return self


def _failures(model) -> set:
    failed = set()
    for check in checks.yield_checks(model):
        try:
            check(model.clone())
        except AssertionError:
            failed.add(check.check_id)
    return failed


@pytest.mark.parametrize(
    "toy, expected",
    [
        (_MutatesInput(), {"check_learn_one[yeast]", "check_learn_one[evolving]"}),
        (_KeepsReference(), {"check_no_state_aliasing_with_input[evolving]"}),
        (
            _ForgetsWhenPickled(),
            {
                "check_pickling_mid_stream_gives_same_predictions[yeast]",
                "check_pickling_mid_stream_gives_same_predictions[evolving]",
            },
        ),
        (_FrozenLabels(), {"check_predictions_cover_known_labels[evolving]"}),
        (_ReturnsSelf(), {"check_learn_one_returns_none[yeast]"}),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, base.Estimator) else "",
)
def test_checks_catch_broken_learners(toy, expected):
    failed = _failures(toy)
    assert expected <= failed, f"not caught: {expected - failed}"
    with pytest.raises(AssertionError):
        checks.check_estimator(toy)


def test_frozen_labels_pass_on_yeast_alone():
    """Yeast declares all 14 labels in every record: only the evolving stream exposes it."""
    assert "check_predictions_cover_known_labels[yeast]" not in _failures(_FrozenLabels())


# --- learning --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yeast_500():
    return list(datasets.Yeast().take(500))


def _prequential_f1(model, records) -> float:
    total = 0.0
    for x, y in records:
        y_pred, _ = model.predict_scores_one(x)
        total += example_f1(positives(y), positives(y_pred))
        model.learn_one(x, y)
    return total / len(records)


def _majority_f1(records) -> float:
    """Predict the labels that were positive in more than half the records so far."""
    counts: dict = {}
    total = 0.0
    for n, (_, y) in enumerate(records):
        predicted = {label for label, c in counts.items() if c > n / 2}
        total += example_f1(positives(y), predicted)
        for label in positives(y):
            counts[label] = counts.get(label, 0) + 1
    return total / len(records)


@pytest.mark.parametrize("model", learning_learners(), ids=_ids(learning_learners()))
def test_learns_yeast(model, yeast_500):
    trivial = max(_majority_f1(yeast_500), _prequential_f1(NoChange(), yeast_500))
    f1 = _prequential_f1(model, yeast_500)
    assert 0.40 < trivial < 0.46  # majority ~0.447, no-change ~0.424
    assert f1 > trivial + 0.04, (f1, trivial)


@pytest.mark.parametrize("model", learning_learners(), ids=_ids(learning_learners()))
def test_label_first_seen_late_is_predicted(model):
    records = list(late_label_stream(500, first_late=150))
    for i, (x, y) in enumerate(records[:400]):
        model.learn_one(x, y)
        if i < 150:
            assert "late" not in model.predict_one(x)
    hits = 0
    for x, y in records[400:]:
        y_pred = model.predict_one(x)
        assert "late" in y_pred
        hits += y_pred["late"] == ("late" in y)
    assert hits >= 80, hits  # chance: about 50


def test_no_change_predicts_the_previous_labels(yeast_500):
    model = NoChange()
    stream = list(late_label_stream(60, first_late=30)) + yeast_500[:40]
    previous: set = set()
    known: dict = {}
    for x, y in stream:
        y_pred, scores = model.predict_scores_one(x)
        assert y_pred == {label: label in previous for label in known}
        assert scores == {label: float(label in previous) for label in known}
        assert model.predict_proba_one(x) == {
            label: {False: 1.0 - scores[label], True: scores[label]} for label in known
        }
        model.learn_one(x, y)
        previous = positives(y)
        known.update(dict.fromkeys(y))


@pytest.mark.parametrize("model", learners_under_test(), ids=_ids(learners_under_test()))
def test_learn_one_does_not_mutate_inputs(model, yeast_500):
    stream = list(late_label_stream(40, first_late=20)) + yeast_500[:20]
    for x, y in stream:
        x_before, y_before = copy.deepcopy(x), copy.deepcopy(y)
        assert model.learn_one(x, y) is None
        assert x == x_before and y == y_before
        model.predict_scores_one(x)
        assert x == x_before


def test_chain_order_argument_is_not_mutated():
    order = ["late", "a"]
    model = ClassifierChain(order=order)
    for x, y in late_label_stream(60, first_late=30):
        model.learn_one(x, y)
    assert model.order is order and order == ["late", "a"]
    assert model.chain == ["late", "a"]


@pytest.mark.parametrize("model", learners_under_test(), ids=_ids(learners_under_test()))
def test_pickling_mid_stream_continues_identically(model, yeast_500):
    stream = yeast_500[:150]
    for x, y in stream[:100]:
        model.learn_one(x, y)
    restored = pickle.loads(pickle.dumps(model))
    for x, y in stream[100:]:
        assert restored.predict_scores_one(x) == model.predict_scores_one(x)
        assert restored.predict_proba_one(x) == model.predict_proba_one(x)
        model.learn_one(x, y)
        restored.learn_one(x, y)


@pytest.mark.parametrize("model", learners_under_test(), ids=_ids(learners_under_test()))
def test_predict_before_learning_is_empty(model):
    assert model.predict_one({"u": 1.0}) == {}
    assert model.predict_proba_one({"u": 1.0}) == {}
    assert model.predict_scores_one({"u": 1.0}) == ({}, {})


def test_defaults_stay_none_in_params():
    for model in learning_learners():
        assert model.classifier is None
        assert model.clone().classifier is None
        assert model._get_params()["classifier"] is None


# --- the chain and the powerset in detail ----------------------------------------------


class _Spy(base.Classifier):
    """Records what it learns; predicts a fixed P(True)."""

    def __init__(self, p_true: float = 0.9):
        self.p_true = p_true
        self.seen: list = []

    @property
    def _multiclass(self):
        return True

    def learn_one(self, x, y):
        self.seen.append((dict(x), y))

    def predict_proba_one(self, x):
        return {False: 1.0 - self.p_true, True: self.p_true}


def test_chain_feeds_true_labels_when_learning_and_predictions_when_predicting():
    model = ClassifierChain(classifier=_Spy(p_true=0.9))
    model.learn_one({"f": 1.0}, {"a": False, "b": True})
    model.learn_one({"f": 2.0}, {"c": True})  # a new label joins the end of the chain
    assert model.chain == ["a", "b", "c"]
    seen = {label: m.seen for label, m in model._models.items()}
    assert seen["a"] == [({"f": 1.0}, False), ({"f": 2.0}, False)]
    assert seen["b"] == [
        ({"f": 1.0, "__label__a": 0.0}, True),
        ({"f": 2.0, "__label__a": 0.0}, False),
    ]
    assert seen["c"] == [({"f": 2.0, "__label__a": 0.0, "__label__b": 0.0}, True)]
    y_pred, scores = model.predict_scores_one({"f": 3.0})
    assert y_pred == {"a": True, "b": True, "c": True}
    assert scores == pytest.approx({"a": 0.9, "b": 0.9, "c": 0.9})


def test_powerset_pruning():
    model = LabelPowerset(classifier=_Spy(), min_count=2, max_sets=2)
    learnt = model._model.seen

    def learn(*labels):
        model.learn_one({"f": 1.0}, {label: True for label in labels})
        return learnt[-1][1] if learnt else None

    assert learn("a", "b") is None  # seen once, no class is a subset: not learnt
    assert learn("a") is None
    assert learn("a") == frozenset({"a"})  # seen twice: a class
    assert learn("a", "b") == frozenset({"a", "b"})
    assert learn("a", "c") == frozenset({"a"})  # rare: its most frequent subset
    assert learn("c") is not None and learnt[-1][1] == frozenset({"a"})  # unchanged
    n = len(learnt)
    learn("c")  # seen twice, but max_sets=2 classes exist already: no subset, not learnt
    assert len(learnt) == n
    assert learn() == frozenset()  # the empty set is always a class
    assert model.classes == [frozenset({"a"}), frozenset({"a", "b"}), frozenset()]
    assert model.predict_one({"f": 1.0}) == {"a": False, "b": False, "c": False}


def test_powerset_counting_is_bounded():
    model = LabelPowerset(classifier=_Spy(), min_count=2, max_sets=2)
    for i in range(500):
        model.learn_one({"f": 1.0}, {f"l{i}": True, f"m{i}": True})
    assert len(model._pending) <= 4 * model.max_sets
    assert len(model.predict_one({"f": 1.0})) == 1000


def test_powerset_scores_are_marginals():
    model = LabelPowerset(min_count=1)
    for x, y in late_label_stream(200, first_late=0):
        model.learn_one(x, y)
    x = {"u": 1.0, "v": 0.0, "z": 1.0}
    probas = model._class_probas(x)
    _, scores = model.predict_scores_one(x)
    for label in ("a", "late"):
        assert scores[label] == pytest.approx(sum(p for s, p in probas.items() if label in s))
