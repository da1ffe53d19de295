"""Unknown labels (partial annotation): ``y[label] is None``.

The record model, the JSONL reader and the Kafka codec carry them; the learners skip an
unknown label in their updates (its per-label model is left exactly as it was) instead of
learning it as a negative, on the one-record path and the batch path; and on a real stream
with label slots hidden at random, learning them as unknown beats learning them as
negatives on example-F1 over the known labels.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import numpy as np
import pytest

from stream.batch import to_batch
from stream.types import LabelIndex, has_unknown, known_labels, positive_labels, unknown_labels

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# -- record model ----------------------------------------------------------------------------
def test_none_is_unknown_not_positive():
    y = {"a": True, "b": None, "c": False}
    assert positive_labels(y) == ["a"]
    assert unknown_labels(y) == ["b"]
    assert has_unknown(y) and not has_unknown({"a": True})
    assert known_labels(y) == {"a": True, "c": False}
    index = LabelIndex(["a", "b"])
    assert index.positions(y).tolist() == [0]
    assert index.unknown_positions(y).tolist() == [1]


def test_batch_unknown_mask_is_none_on_a_clean_batch():
    clean = to_batch([({"f": 1.0}, {"a": True}), ({"f": 2.0}, {"b": True, "a": False})])
    assert clean.unknown is None
    b = to_batch([({"f": 1.0}, {"a": True, "b": None}), ({"f": 2.0}, {"c": None})])
    assert list(b.label_names) == ["a", "b", "c"]
    assert b.Y.tolist() == [[True, False, False], [False, False, False]]
    assert b.unknown.tolist() == [[False, True, False], [False, False, True]]
    assert b.rows(0, 1).unknown.tolist() == [[False, True, False]]


# -- learners: an unknown label's model is left as it was ------------------------------------
def _yeast(n):
    from river import datasets

    return list(datasets.Yeast().take(n))


def _state_columns(model, col):
    """Every per-label array of a learner, restricted to label column ``col``."""
    names = {"LogisticBinaryRelevance": ("_W", "_G", "_b", "_Gb", "_ofo_a", "_ofo_b"),
             "IHOMER": ("_W", "_GW", "_A", "_GA", "_b", "_Gb"),
             "MixtureOfExperts": ("_W", "_GW", "_b", "_Gb")}[type(model).__name__]
    return {name: getattr(model, name)[..., col].copy() for name in names}


def _learn_batch(model, batch):
    learn = getattr(model, "predict_learn_many", None) or model.learn_many
    learn(batch)


def _make(kind):
    if kind == "br":
        from learners.logistic import LogisticBinaryRelevance

        return LogisticBinaryRelevance()
    if kind == "ihomer":
        from learners.ihomer import IHOMER

        return IHOMER()
    from learners.moe import MixtureOfExperts

    return MixtureOfExperts(experts=kind.split("-")[1], seed=1)


@pytest.mark.parametrize("kind", ["br", "ihomer", "moe-data", "moe-task"])
@pytest.mark.parametrize("path", ["learn_one", "batch"])
def test_unknown_label_leaves_its_models_unchanged(kind, path):
    records = _yeast(130)
    model = _make(kind)
    for x, y in records[:120]:
        model.learn_one(x, y)
    hidden = ["Class3", "Class12"]
    rows = []
    for x, y in records[120:]:
        y = dict(y)
        for label in hidden:
            y[label] = None
        rows.append((x, y))
    cols = [model._labels[label] for label in hidden]
    before = {c: _state_columns(model, c) for c in cols}
    other = model._labels["Class1"]
    other_before = _state_columns(model, other)
    if path == "learn_one":
        for x, y in rows:
            model.learn_one(x, y)
    else:
        batch = to_batch(rows, features=None, labels=None)
        assert batch.unknown is not None
        _learn_batch(model, batch)
    for c in cols:
        after = _state_columns(model, c)
        for name, value in before[c].items():
            np.testing.assert_array_equal(value, after[name], err_msg=f"{kind} {name}")
    # the known labels did learn
    changed = _state_columns(model, other)
    assert any(not np.array_equal(v, changed[k]) for k, v in other_before.items())


@pytest.mark.parametrize("kind", ["br", "ihomer", "moe-data"])
def test_batch_path_equals_learn_one_with_unknown_labels(kind):
    records = _yeast(160)
    rng = random.Random(4)
    rows = []
    for x, y in records:
        y = dict(y)
        for label in list(y):
            if rng.random() < 0.3:
                y[label] = None
        rows.append((x, y))
    one, many = _make(kind), _make(kind)
    for x, y in rows:
        one.learn_one(x, y)
    for a in range(0, len(rows), 40):
        _learn_batch(many, to_batch(rows[a:a + 40]))
    x = records[-1][0]
    s1, s2 = one.predict_scores_one(x)[1], many.predict_scores_one(x)[1]
    assert s1.keys() == s2.keys()
    np.testing.assert_allclose([s1[k] for k in s1], [s2[k] for k in s1], rtol=1e-9, atol=1e-12)


def test_river_wrappers_skip_unknown_labels():
    from learners.binary_relevance import BinaryRelevance
    from learners.classifier_chain import ClassifierChain
    from learners.label_powerset import LabelPowerset
    from learners.no_change import NoChange

    records = _yeast(40)
    br = BinaryRelevance()
    for x, y in records[:30]:
        br.learn_one(x, y)
    kept = copy.deepcopy(br._models["Class3"])
    x, y = records[30]
    br.learn_one(x, {**y, "Class3": None})
    assert br._models["Class3"].predict_proba_one(x) == kept.predict_proba_one(x)

    lp = LabelPowerset()
    for x, y in records[:30]:
        lp.learn_one(x, y)
    seen = dict(lp._classes)
    lp.learn_one(x, {**y, "Class3": None})
    assert lp._classes == seen  # an unknown label: no label set, not learnt

    cc = ClassifierChain()
    for x, y in records[:30]:
        cc.learn_one(x, y)
    kept = copy.deepcopy(cc._models["Class3"])
    cc.learn_one(x, {**y, "Class3": None})
    assert cc._models["Class3"].predict_proba_one(x) == kept.predict_proba_one(x)

    nc = NoChange()
    nc.learn_one(x, {"a": True, "b": None})
    assert nc.predict_one(x) == {"a": True, "b": False}


# -- quality: unknown-aware learning beats unknown-as-negative --------------------------------
def hide_slots(records, labels, rate, seed):
    """Each ``(record, label)`` slot hidden with probability ``rate`` (seeded)."""
    rng = random.Random(seed)
    return [(x, y, [label for label in labels if rng.random() < rate]) for x, y in records]


def known_example_f1(model, data, labels, aware: bool) -> float:
    """Prequential example-F1 over the known labels of each record; the hidden slots are
    learned as unknown (``aware``) or as negatives."""
    total = 0.0
    for x, y, hidden in data:
        pred = model.predict_one(x)
        h = set(hidden)
        true = {label for label in labels if y.get(label) and label not in h}
        said = {label for label in labels if pred.get(label) and label not in h}
        total += 1.0 if not true and not said else 2 * len(true & said) / (len(true) + len(said))
        learn = {label: bool(y.get(label)) for label in labels}
        for label in hidden:
            learn[label] = None if aware else False
        model.learn_one(x, learn)
    return total / len(data)


# Measured on yeast in file order, slots hidden with seed 1 (aware minus negative ex-F1 on
# the known labels): br +0.0148 (30 %), +0.0331 (60 %); iHOMER +0.0072, +0.0181. Over
# seeds 1-4 the smallest margins were br +0.0071 / +0.0187, iHOMER +0.0029 / +0.0054: the
# bar below is that smallest margin, floored.
@pytest.mark.parametrize("kind, rate, margin", [("br", 0.3, 0.007), ("br", 0.6, 0.018),
                                                ("ihomer", 0.3, 0.0025),
                                                ("ihomer", 0.6, 0.005)])
def test_unknown_aware_learning_beats_unknown_as_negative_on_yeast(kind, rate, margin):
    path = DATA / "yeast" / "yeast.arff"
    if not path.exists():
        pytest.skip("shared/data/yeast is not here")
    from stream.readers import open_stream

    reader = open_stream(path)
    records = list(reader)
    labels = list(reader.label_names)
    data = hide_slots(records, labels, rate, seed=1)
    aware = known_example_f1(_make(kind), data, labels, True)
    negative = known_example_f1(_make(kind), data, labels, False)
    assert aware - negative >= margin, (aware, negative)
