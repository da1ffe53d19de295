"""Estimator checks for labelstream's multi-label learners.

:func:`check_estimator` runs river's own estimator checks (``river.checks``) on offline
data, followed by the checks of labelstream's learner protocol (DESIGN.md §3).
:func:`yield_checks` yields the same checks one by one, for ``pytest.mark.parametrize``.

Why the datasets are replaced
-----------------------------
``river.checks.yield_checks`` runs its dataset-driven checks on data chosen by the
private ``river.checks._yield_datasets``; for a ``MultiLabelClassifier`` that is
``datasets.Music().take(50 * scale)`` (``scale=10`` for ``check_bounded_memory_growth``).
Music is the *emotions* data set (593 songs, 72 audio features, 6 mood labels), a
``RemoteDataset`` that river downloads from GitHub the first time it is iterated: offline,
every such check fails with a download error. river binds each dataset to its check with
``functools.partial(check, dataset=...)``, so instead of patching river we take each such
partial and rebind its ``dataset`` keyword to local data. Music is constructed (by river)
but never iterated, so nothing is downloaded and nothing in river is modified. Each river
dataset check is run once per local dataset:

``yeast``
    ``river.datasets.Yeast().take(50 * scale)``: river's bundled copy of MULAN's Yeast
    (103 numeric features, 14 labels, all declared ``True``/``False`` in every record).
``evolving``
    A seeded synthetic stream of ``50 * scale`` records in the positives-only style
    (``y`` lists only ``True`` labels; some records have none), whose features come and
    go (``g0``, ``g1`` appear after the first third, ``f5`` disappears after two thirds,
    a few values are missing) and whose label ``"late"`` first appears half-way through.

Both datasets are re-iterable (each iteration restarts the stream), so a check may be run
more than once.

The checks of the learner protocol, run on the same two datasets, are
:func:`check_learn_one_returns_none`, :func:`check_predict_before_learning_is_empty`,
:func:`check_predictions_cover_known_labels`,
:func:`check_predicting_does_not_change_learning`,
:func:`check_pickling_mid_stream_gives_same_predictions` and
:func:`check_absent_labels_are_negative`.
"""

from __future__ import annotations

import copy
import functools
import math
import pickle
import random
import typing

import river.checks
from river import base, datasets

__all__ = [
    "check_absent_labels_are_negative",
    "check_datasets",
    "check_estimator",
    "check_learn_one_returns_none",
    "check_pickling_mid_stream_gives_same_predictions",
    "check_predict_before_learning_is_empty",
    "check_predicting_does_not_change_learning",
    "check_predictions_cover_known_labels",
    "yield_checks",
]


class _LocalDataset:
    """A named, re-iterable stream of ``(x, y)`` records."""

    def __init__(self, name: str, make: typing.Callable[[int], typing.Iterator], n: int):
        self.name = name
        self.n = n
        self._make = make

    def __iter__(self):
        return iter(self._make(self.n))

    def __repr__(self) -> str:
        return f"{self.name}({self.n})"


def _yeast(n: int):
    return datasets.Yeast().take(n)


def _evolving(n: int, seed: int = 42):
    rng = random.Random(seed)
    for i in range(n):
        x = {f"f{j}": rng.gauss(0.0, 1.0) for j in range(6)}
        if i >= n // 3:
            x["g0"] = rng.gauss(1.0, 2.0)
            x["g1"] = rng.uniform(-1.0, 1.0)
        if i >= 2 * n // 3:
            del x["f5"]
        if i % 7 == 3:  # a missing value
            del x["f2"]
        y = {}
        if x["f0"] > 0.0:
            y["a"] = True
        if x["f1"] + x.get("f2", 0.0) > 0.5:
            y["b"] = True
        if x["f0"] * x["f3"] < -0.5:
            y["c"] = True
        if i >= n // 2 and x["f4"] > 0.0:
            y["late"] = True
        yield x, y


def check_datasets(scale: int = 1) -> list:
    """The local multi-label streams the checks run on (see the module docstring).

    Examples
    --------
    >>> [repr(d) for d in check_datasets()]
    ['yeast(50)', 'evolving(50)']
    >>> x, y = next(iter(check_datasets()[1]))
    >>> sorted(x), y
    (['f0', 'f1', 'f2', 'f3', 'f4', 'f5'], {})
    """
    return [
        _LocalDataset("yeast", _yeast, 50 * scale),
        _LocalDataset("evolving", _evolving, 50 * scale),
    ]


def _seeded(model: base.Estimator, seed: int = 42) -> base.Estimator:
    from river.checks.utils import seed_params

    return model.clone(seed_params(model._get_params(), seed=seed))


# --- checks of the learner protocol ----------------------------------------------------


def check_learn_one_returns_none(model, dataset):
    """``learn_one`` returns ``None``."""
    for x, y in dataset:
        assert model.learn_one(x, y) is None, "learn_one must return None"


def check_predict_before_learning_is_empty(model, dataset):
    """Before any learning every prediction method returns an empty prediction."""
    for x, _ in dataset:
        assert model.predict_one(x) == {}
        assert model.predict_proba_one(x) == {}
        assert model.predict_scores_one(x) == ({}, {})
        break


def check_predictions_cover_known_labels(model, dataset):
    """Predictions cover exactly the labels named so far, and the three methods agree.

    After each record: ``predict_one`` gives a ``bool`` for every label ever named in a
    ``y`` (``True`` or ``False``), including a label that first appears mid-stream;
    ``predict_proba_one`` gives a distribution over ``{False, True}`` per label;
    ``predict_scores_one`` returns ``predict_one``'s prediction and ``P(True)`` as scores;
    none of them mutates ``x``, and asking twice gives the same answer.
    """
    known: dict = {}
    for x, y in dataset:
        known.update(dict.fromkeys(y))
        model.learn_one(x, y)
        x_before = copy.deepcopy(x)
        y_pred = model.predict_one(x)
        proba = model.predict_proba_one(x)
        y_pred2, scores = model.predict_scores_one(x)
        assert x == x_before, "prediction mutated x"
        assert set(y_pred) == set(known), (
            f"predict_one covers {sorted(map(repr, y_pred))}, known labels are "
            f"{sorted(map(repr, known))}"
        )
        assert all(type(on) is bool for on in y_pred.values()), "predictions must be bool"
        assert y_pred2 == y_pred, "predict_scores_one disagrees with predict_one"
        assert model.predict_scores_one(x) == (y_pred2, scores), "a second call disagrees"
        assert set(proba) == set(scores) == set(known)
        for label, dist in proba.items():
            assert set(dist) == {False, True}, f"{label!r}: {dist}"
            assert all(0.0 <= p <= 1.0 for p in dist.values()), f"{label!r}: {dist}"
            assert math.isclose(dist[False] + dist[True], 1.0, abs_tol=1e-9), f"{label!r}: {dist}"
            assert math.isclose(dist[True], scores[label], abs_tol=1e-9), (
                f"{label!r}: predict_proba_one {dist[True]} != score {scores[label]}"
            )


def check_predicting_does_not_change_learning(model, dataset):
    """A copy that predicts before every ``learn_one`` ends where a copy that does not ends.

    This is weaker than "prediction leaves the state untouched", on purpose: river's
    ``StandardScaler.transform_one`` inserts zero entries into its ``defaultdict``
    statistics for features it has not learnt yet, which changes the pickled state but
    nothing the model computes.
    """
    rows = list(dataset)
    model = _seeded(model)
    silent = copy.deepcopy(model)
    for x, y in rows:
        model.predict_scores_one(x)
        model.predict_proba_one(x)
        model.learn_one(x, y)
        silent.learn_one(x, y)
    for i, (x, _) in enumerate(rows):
        assert model.predict_scores_one(x) == silent.predict_scores_one(x), (
            f"predicting along the stream changed what was learnt (record {i})"
        )


def check_pickling_mid_stream_gives_same_predictions(model, dataset):
    """A model pickled half-way through a stream carries on exactly as the original."""
    rows = list(dataset)
    half = len(rows) // 2
    for x, y in rows[:half]:
        model.learn_one(x, y)
    restored = pickle.loads(pickle.dumps(model))
    for i, (x, y) in enumerate(rows[half:], start=half):
        assert restored.predict_scores_one(x) == model.predict_scores_one(x), (
            f"predictions differ after unpickling, at record {i}"
        )
        model.learn_one(x, y)
        restored.learn_one(x, y)


def check_absent_labels_are_negative(model, dataset):
    """A label absent from ``y`` is learnt as negative.

    Two copies learn the first record with every label of the stream declared; then one
    copy gets each ``y`` with every label declared (``False`` where negative), the other
    only the positive labels. Their predictions must stay identical.
    """
    rows = list(dataset)
    if not rows:
        return
    labels = list(dict.fromkeys(label for _, y in rows for label in y))
    model = _seeded(model)
    declared, positives = model, copy.deepcopy(model)
    x, y = rows[0]
    y_full = {label: bool(y.get(label, False)) for label in labels}
    declared.learn_one(x, y_full)
    positives.learn_one(x, dict(y_full))
    for i, (x, y) in enumerate(rows[1:], start=1):
        assert declared.predict_scores_one(x) == positives.predict_scores_one(x), (
            f"declared-negative and positives-only streams disagree at record {i}"
        )
        declared.learn_one(x, {label: bool(y.get(label, False)) for label in labels})
        positives.learn_one(x, {label: True for label, on in y.items() if on})


PROTOCOL_CHECKS = (
    check_learn_one_returns_none,
    check_predict_before_learning_is_empty,
    check_predictions_cover_known_labels,
    check_predicting_does_not_change_learning,
    check_pickling_mid_stream_gives_same_predictions,
    check_absent_labels_are_negative,
)


# --- collecting and running ------------------------------------------------------------


def _bind(func, name: str, dataset, *args, **kwargs):
    check = functools.partial(func, *args, dataset=dataset, **kwargs)
    functools.update_wrapper(check, func)
    check.__name__ = name
    check.check_id = f"{name}[{dataset.name}]"
    return check


def yield_checks(model: base.Estimator, protocol: bool = True) -> typing.Iterator[typing.Callable]:
    """Every check for ``model``: river's (on local data), then the protocol's.

    Each check is a callable taking a fresh model; ``check.__name__`` is the check's name
    (what ``model._unit_test_skips()`` lists) and ``check.check_id`` adds the dataset, e.g.
    ``"check_pickling[yeast]"``, for readable test ids.

    Parameters
    ----------
    model
        The estimator to check (it is only inspected, never trained).
    protocol
        Whether to add the checks of labelstream's learner protocol, which need
        ``predict_scores_one``. They are only added for multi-label classifiers.

    Examples
    --------
    >>> from learners.no_change import NoChange
    >>> ids = [check.check_id for check in yield_checks(NoChange())]
    >>> "check_learn_one[evolving]" in ids, any("Music" in i for i in ids)
    (True, False)
    """
    multilabel = isinstance(model, base.MultiLabelClassifier)
    for check in river.checks.yield_checks(model):
        name = check.__name__
        keywords = getattr(check, "keywords", None)
        if not (multilabel and isinstance(keywords, dict) and "dataset" in keywords):
            named = functools.partial(check)  # a new object: river's function stays untouched
            functools.update_wrapper(named, check)
            named.check_id = name
            yield named
            continue
        # A river dataset check bound to Music: rebind it to each local dataset instead.
        scale = 10 if name == "check_bounded_memory_growth" else 1
        other = {k: v for k, v in keywords.items() if k != "dataset"}
        for dataset in check_datasets(scale):
            yield _bind(check.func, name, dataset, *check.args, **other)
    if protocol and multilabel:
        for func in PROTOCOL_CHECKS:
            for dataset in check_datasets():
                yield _bind(func, func.__name__, dataset)


def check_estimator(model: base.Estimator, protocol: bool = True) -> None:
    """Run every check of :func:`yield_checks` on fresh clones of ``model``.

    Checks named in ``model._unit_test_skips()`` are skipped, as in
    ``river.checks.check_estimator``. A failing check raises ``AssertionError`` naming the
    check and its dataset.

    Examples
    --------
    >>> from learners.no_change import NoChange
    >>> check_estimator(NoChange())
    """
    skips = model._unit_test_skips()
    for check in yield_checks(model, protocol=protocol):
        if check.__name__ in skips:
            continue
        try:
            check(model.clone())
        except AssertionError as error:
            raise AssertionError(
                f"{getattr(check, 'check_id', check.__name__)}: {error}"
            ) from error
