"""The prequential loop on partially annotated records: unknown labels (None) are neither
scored nor ranked, their slots are counted, and the batched path equals record by record."""

from __future__ import annotations

import math

import numpy as np
import pytest
from river import datasets

from learners.registry import make_learner
from stream.prequential import PrequentialEvaluator


class _Fixed:
    """Predicts a and b with fixed scores, learns nothing."""

    def predict_scores_one(self, x):
        return {"a": True, "b": True}, {"a": 0.9, "b": 0.8, "c": 0.1}

    def learn_one(self, x, y):
        self.last = y


def test_an_unknown_label_is_neither_a_false_positive_nor_ranked():
    ev = PrequentialEvaluator(_Fixed(), window_size=10, label_names=["a", "b", "c"])
    ev.process_one({"f": 1.0}, {"a": True, "b": None, "c": False})
    s = ev.summary()
    assert s["example_f1"] == 1.0 and s["micro_precision"] == 1.0
    assert s["unknown_label_slots"] == 1 and s["unknown_share"] == pytest.approx(1 / 3)
    assert s["precision_at_1"] == 1.0 and s["one_error"] == 0.0
    # told b is absent, the same prediction is a false positive
    ev2 = PrequentialEvaluator(_Fixed(), window_size=10, label_names=["a", "b", "c"])
    ev2.process_one({"f": 1.0}, {"a": True, "b": False, "c": False})
    assert ev2.summary()["example_f1"] == pytest.approx(2 / 3)
    assert ev2.summary()["unknown_label_slots"] == 0


def _hidden(n=400, rate=0.3, seed=2, start=50):
    """Yeast with ``rate`` of the label slots unknown from record ``start`` on (before it
    every label is seen: how a learner registers a label known only as unknown may differ
    between its batched and its one-record path)."""
    out = []
    for i, (x, y) in enumerate(datasets.Yeast().take(n)):
        rng = np.random.default_rng((seed, i))
        hide = (rng.random(len(y)) < rate) & (i >= start)
        out.append((x, {k: (None if h else v) for (k, v), h in zip(y.items(), hide)}))
    return out


@pytest.mark.parametrize("learner", ["ihomer", "moe"])
def test_batched_equals_record_by_record_with_unknown_labels(learner):
    records = _hidden()
    one = PrequentialEvaluator(make_learner(learner, seed=0), window_size=100)
    for x, y in records:
        one.process_one(x, y)
    many = PrequentialEvaluator(make_learner(learner, seed=0), window_size=100)
    for a in range(0, len(records), 64):
        many.process_many(records[a:a + 64])
    s1, s2 = one.summary(), many.summary()
    assert s1["unknown_label_slots"] == s2["unknown_label_slots"] > 0.25 * 350 * 14
    for key, value in s1.items():
        other = s2[key]
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(other), key
        else:
            assert other == pytest.approx(value, abs=1e-9), key
