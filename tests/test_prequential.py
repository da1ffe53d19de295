"""The prequential loop: test-then-train order, label delay, the no-change baseline."""

import math

import pytest
from river import base, datasets

from stream.prequential import PrequentialEvaluator, evaluate, kappa_temporal


class Recorder(base.MultiLabelClassifier):
    """Logs the order of calls; predicts the label set it learned last."""

    def __init__(self):
        self.calls = []
        self.last = {}

    def learn_one(self, x, y):
        self.calls.append(("learn", x.get("i")))
        self.last = dict(y)

    def predict_one(self, x):
        self.calls.append(("predict", x.get("i")))
        return dict(self.last)


def toy_stream(n):
    return [({"i": float(i)}, {"a": i % 2 == 0, "b": i % 3 == 0}) for i in range(n)]


def test_each_record_is_predicted_before_it_is_learned():
    model = Recorder()
    evaluate(toy_stream(5), model, report_every=0)
    assert model.calls == [(k, float(i)) for i in range(5) for k in ("predict", "learn")]


def test_label_delay_learns_each_record_later():
    model = Recorder()
    ev = PrequentialEvaluator(model, label_delay=2)
    for x, y in toy_stream(4):
        ev.process_one(x, y)
    assert model.calls == [("predict", 0.0), ("predict", 1.0), ("predict", 2.0), ("learn", 0.0),
                           ("predict", 3.0), ("learn", 1.0)]
    ev.flush()
    assert ev.n_learned == 4


def test_unlabelled_record_is_predicted_only():
    model = Recorder()
    ev = PrequentialEvaluator(model)
    ev.process_one({"i": 0.0}, None)
    assert model.calls == [("predict", 0.0)] and ev.metrics.n == 0


def test_no_change_baseline_is_scored_in_the_same_pass():
    # a learner that repeats the last labels must score exactly what no-change scores
    res = evaluate(datasets.Yeast().take(500), Recorder(), report_every=100)
    s = res.summary
    assert s["example_f1"] == pytest.approx(s["no_change_example_f1"])
    assert s["micro_f1"] == pytest.approx(s["no_change_micro_f1"])
    assert s["kappa_temporal_example_f1"] == pytest.approx(0.0)


def test_river_estimators_plug_in_unchanged():
    from river import linear_model, multioutput

    model = multioutput.ClassifierChain(linear_model.LogisticRegression(), order=None)
    res = evaluate(datasets.Yeast().take(300), model, report_every=0)
    assert res.summary["instances"] == 300
    assert 0.0 < res.summary["example_f1"] <= 1.0


def test_river_estimator_gets_every_known_label_when_the_source_lists_positives_only():
    seen = []

    class Spy(Recorder):
        def learn_one(self, x, y):
            seen.append(dict(y))

    stream = [({"i": 0.0}, {"a": True}), ({"i": 1.0}, {"b": True})]
    evaluate(stream, Spy(), report_every=0)
    assert seen == [{"a": True}, {"a": False, "b": True}]


def test_history_rows_carry_cumulative_window_and_baseline_columns():
    res = evaluate(datasets.Yeast().take(250), Recorder(), report_every=100, window_size=50)
    assert [r["records"] for r in res.history] == [100, 200, 250]
    row = res.history[-1]
    for key in ("example_f1", "window_example_f1", "no_change_example_f1",
                "window_no_change_example_f1", "hamming_loss", "window_macro_f1"):
        assert key in row


def test_kappa_temporal():
    assert kappa_temporal(0.9, 0.8) == pytest.approx(0.5)
    assert kappa_temporal(0.7, 0.8) < 0
    assert math.isnan(kappa_temporal(0.7, 1.0))
