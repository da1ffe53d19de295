"""``br``'s compiled test-then-train (``LogisticBinaryRelevance.predict_learn_many``) is
exactly a loop of ``predict_scores_one`` and ``learn_one``: the same predictions, the same
probabilities bit for bit and the same model, on dense and sparse dev files, with labels
named only negatively, labels arriving mid-batch, unknown labels, every threshold mode and
the robust option; and a replay gives the record-by-record metrics."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from learners.logistic import LogisticBinaryRelevance
from stream.batch import to_batch
from stream.prequential import PrequentialEvaluator
from stream.readers import open_stream

DATA = Path(os.environ.get("LABELSTREAM_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data"))


def _records(rel: str, n: int):
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"{path} not here")
    out = []
    for rec in open_stream(path):
        out.append(rec)
        if len(out) == n:
            break
    return out


def _one_by_one(model, records):
    out = []
    for x, y in records:
        out.append(model.predict_scores_one(x))
        model.learn_one(x, y)
    return out


def _batched(model, records, size):
    out = []
    for a in range(0, len(records), size):
        P, S = model.predict_learn_many(to_batch(records[a:a + size], sparse=True))
        names = model.labels_
        for i in range(P.shape[0]):
            known = [j for j in range(S.shape[1]) if not np.isnan(S[i, j])]
            out.append(({names[j]: bool(P[i, j]) for j in known},
                        {names[j]: float(S[i, j]) for j in known}))
    return out


def _assert_same(one_model, many_model, one, many):
    assert len(one) == len(many)
    for i, ((p1, s1), (p2, s2)) in enumerate(zip(one, many)):
        assert p1 == p2, f"record {i}: predictions differ"
        assert s1 == s2, f"record {i}: scores differ"
    assert one_model.labels_ == many_model.labels_
    assert one_model._features.keys == many_model._features.keys
    assert one_model._center == many_model._center and one_model._n == many_model._n
    L, d = len(one_model.labels_), len(one_model._features)
    parts = {"_W": (slice(d), slice(L)), "_G": (slice(d), slice(L)), "_b": slice(L),
             "_Gb": slice(L), "_ofo_a": slice(L), "_ofo_b": slice(L), "_f_count": slice(d),
             "_f_mean": slice(d), "_f_m2": slice(d), "_f_sumsq": slice(d),
             "_thr_score": slice(None)}
    for name, part in parts.items():
        a, b = getattr(one_model, name)[part], getattr(many_model, name)[part]
        assert np.array_equal(a, b), name


@pytest.mark.parametrize("rel, n, dense", [("emotions/emotions.arff", 300, True),
                                           ("scene/Scene-meka.arff.gz", 300, True),
                                           ("medical/medical.arff", 300, False),
                                           ("enron/enron.arff", 200, False)])
@pytest.mark.parametrize("size", [7, 64])
def test_batched_equals_one_by_one_on_dev_files(rel, n, dense, size):
    records = _records(rel, n)
    one, many = LogisticBinaryRelevance(), LogisticBinaryRelevance()
    _assert_same(one, many, _one_by_one(one, records), _batched(many, records, size))
    assert one._center is dense


def _messy_records(n=260, seed=3):
    """Positives-only label sets, labels named only as negatives, a label first named
    negatively long before its first positive, unknown labels, new features mid-way."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x = {f"f{j}": rng.gauss(0, 1) for j in range(5) if rng.random() < 0.8}
        if i >= 90:
            x["late_feature"] = rng.random()
        y = {}
        for lab in ("a", "b", "c"):
            if rng.random() < 0.35:
                y[lab] = True
        if i % 7 == 0:
            y["ghost"] = False  # named, never positive
        if i == 50:
            y["late"] = False  # named at 50 ...
        if i >= 80 and rng.random() < 0.3:
            y["late"] = True  # ... positive from 80
        if i % 11 == 3:
            y["a"] = None  # unknown
        if i == 120:
            y["first_unknown"] = None  # a label first named as unknown
        out.append((x, y))
    return out


@pytest.mark.parametrize("params", [{}, {"threshold": "ofo"}, {"threshold": 0.3},
                                    {"robust": 0.5}, {"center": False}])
@pytest.mark.parametrize("size", [1, 9, 50, 260])
def test_batched_equals_one_by_one_on_messy_labels(params, size):
    records = _messy_records()
    one, many = LogisticBinaryRelevance(**params), LogisticBinaryRelevance(**params)
    _assert_same(one, many, _one_by_one(one, records), _batched(many, records, size))
    assert {"ghost", "late", "first_unknown"} <= set(one.labels_)


def test_pickled_mid_stream_then_batched_equals_one_by_one():
    records = _records("emotions/emotions.arff", 200)
    one, many = LogisticBinaryRelevance(), LogisticBinaryRelevance()
    _one_by_one(one, records[:100])
    _batched(many, records[:100], 33)
    many = pickle.loads(pickle.dumps(many))
    _assert_same(one, many, _one_by_one(one, records[100:]),
                 _batched(many, records[100:], 33))


def test_a_replay_through_the_batched_path_gives_record_by_record_metrics():
    records = _records("scene/Scene-meka.arff.gz", 600)
    a = PrequentialEvaluator(LogisticBinaryRelevance(), window_size=200)
    b = PrequentialEvaluator(LogisticBinaryRelevance(), window_size=200)
    for x, y in records:
        a.process_one(x, y)
    for i in range(0, len(records), 128):
        b.process_many(records[i:i + 128])
    assert a.summary() == b.summary()
    assert a.summary()["example_f1"] > 0.3


@pytest.mark.parametrize("params", [{}, {"threshold": 0.05}])  # 0.05: predicts early
def test_replay_metrics_equal_with_labels_named_before_positive(params):
    """A label ``br`` knows from a negative mention can be predicted before any record has
    it: the evaluator then registers it there, in both paths (Hamming loss counts it)."""
    records = _messy_records(seed=5)
    a = PrequentialEvaluator(LogisticBinaryRelevance(**params), window_size=50)
    b = PrequentialEvaluator(LogisticBinaryRelevance(**params), window_size=50)
    for x, y in records:
        a.process_one(x, y)
    for i in range(0, len(records), 40):
        b.process_many(records[i:i + 40])
    assert a.summary() == b.summary()
    assert a.labels.keys == b.labels.keys
    assert "ghost" in a.labels.keys  # never positive: registered by a prediction
