"""The fast binary relevance of logistic regressions."""

import pickle

import numpy as np
import pytest
from river import datasets

from learners.logistic import LogisticBinaryRelevance
from stream.batch import to_batch
from stream.prequential import evaluate


def test_predicting_before_learning_is_empty():
    model = LogisticBinaryRelevance()
    assert model.predict_one({"a": 1.0}) == {}
    assert model.predict_scores_one({"a": 1.0}) == ({}, {})


def test_learns_yeast_better_than_no_change():
    res = evaluate(datasets.Yeast(), LogisticBinaryRelevance(), report_every=0)
    s = res.summary
    assert s["example_f1"] > s["no_change_example_f1"] + 0.1
    assert s["kappa_temporal_example_f1"] > 0.2


def test_learn_one_does_not_mutate_inputs():
    model = LogisticBinaryRelevance()
    x, y = {"a": 1.0, "b": 2.0}, {"u": True, "v": False}
    xc, yc = dict(x), dict(y)
    model.learn_one(x, y)
    assert x == xc and y == yc


@pytest.mark.parametrize("sparse", [False, True])
def test_learn_many_equals_a_loop_of_learn_one(sparse):
    records = list(datasets.Yeast().take(300))
    one = LogisticBinaryRelevance()
    for x, y in records:
        one.learn_one(x, y)
    many = LogisticBinaryRelevance()
    for start in range(0, 300, 64):
        many.learn_many(to_batch(records[start:start + 64], sparse=sparse))
    batch = to_batch(records[:50], sparse=sparse)
    p_one = np.array([[one.predict_scores_one(x)[1][lab] for lab in one.labels_]
                      for x, _ in records[:50]])
    np.testing.assert_allclose(many.predict_proba_many(batch)[:, :len(one.labels_)], p_one,
                               rtol=1e-9, atol=1e-12)
    assert many.labels_ == one.labels_


def test_new_labels_and_features_mid_stream():
    rng = np.random.default_rng(0)
    model = LogisticBinaryRelevance()
    for i in range(3000):
        x = {"f0": rng.normal()}
        y = {"early": x["f0"] > 0}
        if i >= 1000:
            x["f1"] = rng.normal()
            y["late"] = x["f1"] > 0.5
        model.learn_one(x, y)
    pred = model.predict_one({"f0": 1.0, "f1": 2.0})
    assert pred == {"early": True, "late": True}
    assert model.predict_one({"f0": -1.0, "f1": -2.0}) == {"early": False, "late": False}


def test_pickle_mid_stream_then_continue_gives_identical_predictions():
    records = list(datasets.Yeast().take(400))
    model = LogisticBinaryRelevance()
    for x, y in records[:200]:
        model.learn_one(x, y)
    clone = pickle.loads(pickle.dumps(model))
    for x, y in records[200:]:
        assert model.predict_scores_one(x) == clone.predict_scores_one(x)
        model.learn_one(x, y)
        clone.learn_one(x, y)


def test_sparse_input_keeps_absent_features_at_zero():
    model = LogisticBinaryRelevance()
    rng = np.random.default_rng(1)
    for _ in range(500):
        idx = rng.choice(200, size=5, replace=False)
        x = {f"w{j}": 1.0 for j in idx}
        model.learn_one(x, {"has_w0": 0 in idx})
    assert model._center is False  # detected as sparse


def test_threshold_is_validated():
    with pytest.raises(ValueError, match="threshold"):
        LogisticBinaryRelevance(threshold=1.5)


from learners.checks import yield_checks  # noqa: E402


@pytest.mark.parametrize("params", list(LogisticBinaryRelevance._unit_test_params()),
                         ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_passes_the_river_estimator_checks(params):
    model = LogisticBinaryRelevance(**params)
    for check in yield_checks(model):
        check(model.clone())
