"""Prequential metrics: written conventions, agreement with river and scikit-learn, windows."""

import math

import numpy as np
import pytest
from river import metrics as rm

from stream.metrics import MultiLabelMetrics

LABELS = list(range(6))


def random_stream(seed, n=400, allow_both_empty=True):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        t = set(np.flatnonzero(rng.random(6) < 0.3).tolist())
        p = set(np.flatnonzero(rng.random(6) < 0.3).tolist())
        if not allow_both_empty and not t and not p:
            continue
        out.append((t, p))
    return out


def feed(m, pairs, n_labels=6):
    for t, p in pairs:
        m.update(sorted(t), sorted(p), n_labels)


def as_dicts(s):
    return {label: label in s for label in LABELS}


def test_empty_truth_and_empty_prediction_scores_one():
    m = MultiLabelMetrics()
    m.update([], [], 4)
    got = m.get()
    assert got["example_f1"] == 1.0
    assert got["example_precision"] == 1.0
    assert got["example_recall"] == 1.0
    assert got["subset_accuracy"] == 1.0
    assert got["hamming_loss"] == 0.0


def test_empty_prediction_with_nonempty_truth_scores_zero():
    m = MultiLabelMetrics()
    m.update([1], [], 4)
    got = m.get()
    assert got["example_f1"] == 0.0 and got["example_precision"] == 0.0
    assert got["hamming_loss"] == 0.25


def test_label_enters_macro_average_only_once_it_has_appeared():
    m = MultiLabelMetrics()
    m.update([0], [0, 1], 3)  # label 1 predicted but never true: not in the macro average
    assert m.get()["macro_f1"] == 1.0
    assert m.get()["micro_precision"] == 0.5  # ... but its false positive counts in micro
    m.update([1], [], 3)  # label 1 appears: now it counts, with its earlier false positive
    got = m.get()
    assert got["macro_f1"] == pytest.approx((1.0 + 0.0) / 2)
    assert got["macro_recall"] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_river_on_the_same_predictions(seed):
    pairs = random_stream(seed, allow_both_empty=False)  # river scores empty/empty as 0
    ours = MultiLabelMetrics()
    feed(ours, pairs)
    river_metrics = {
        "example_f1": rm.multioutput.SampleAverage(rm.F1()),
        "example_precision": rm.multioutput.SampleAverage(rm.Precision()),
        "example_recall": rm.multioutput.SampleAverage(rm.Recall()),
        "micro_f1": rm.multioutput.MicroAverage(rm.F1()),
        "micro_precision": rm.multioutput.MicroAverage(rm.Precision()),
        "micro_recall": rm.multioutput.MicroAverage(rm.Recall()),
        "macro_f1": rm.multioutput.MacroAverage(rm.F1()),
        "macro_precision": rm.multioutput.MacroAverage(rm.Precision()),
        "macro_recall": rm.multioutput.MacroAverage(rm.Recall()),
        "subset_accuracy": rm.multioutput.ExactMatch(),
    }
    for t, p in pairs:
        for metric in river_metrics.values():
            metric.update(as_dicts(t), as_dicts(p))
    got = ours.get()
    assert all(any(l in t for t, _ in pairs) for l in LABELS)  # every label appeared
    for name, metric in river_metrics.items():
        assert got[name] == pytest.approx(metric.get(), abs=1e-12), name


def test_hamming_loss_agrees_with_scikit_learn():
    from sklearn.metrics import hamming_loss

    pairs = random_stream(7)
    ours = MultiLabelMetrics()
    feed(ours, pairs)
    T = np.array([[l in t for l in LABELS] for t, _ in pairs])
    P = np.array([[l in p for l in LABELS] for _, p in pairs])
    assert ours.get()["hamming_loss"] == pytest.approx(hamming_loss(T, P))


def test_example_f1_with_empty_records_agrees_with_scikit_learn_zero_division_one():
    from sklearn.metrics import f1_score

    pairs = random_stream(11)
    assert any(not t and not p for t, p in pairs)
    ours = MultiLabelMetrics()
    feed(ours, pairs)
    T = np.array([[l in t for l in LABELS] for t, _ in pairs])
    P = np.array([[l in p for l in LABELS] for _, p in pairs])
    expected = f1_score(T, P, average="samples", zero_division=1.0)
    assert ours.get()["example_f1"] == pytest.approx(expected)


@pytest.mark.parametrize("window", [1, 7, 50, 1000])
def test_window_equals_metrics_recomputed_on_the_last_records(window):
    pairs = random_stream(5, n=700)
    rolling = MultiLabelMetrics(window_size=window)
    feed(rolling, pairs)
    fresh = MultiLabelMetrics(window_size=0)
    feed(fresh, pairs[-window:])
    expect = fresh.get()
    got = rolling.get_window()
    for name, value in expect.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got["window_" + name])
        else:
            assert got["window_" + name] == pytest.approx(value, abs=1e-12), name


def test_numpy_and_numba_backends_give_identical_metrics():
    pairs = random_stream(9, n=1500)
    a, b = MultiLabelMetrics(100, backend="numpy"), MultiLabelMetrics(100, backend="numba")
    feed(a, pairs)
    feed(b, pairs)
    assert a.get() == b.get() and a.get_window() == b.get_window()


def test_precision_at_k_from_scores():
    m = MultiLabelMetrics(top_k=(1, 2))
    m.update([0], [0], 3, patk=[1.0, 0.5])
    m.update([], [], 3, patk=[math.nan, math.nan])  # empty truth: undefined, not counted
    got = m.get()
    assert got["precision_at_1"] == 1.0 and got["precision_at_2"] == 0.5


def test_label_space_may_grow_mid_stream():
    m = MultiLabelMetrics(window_size=3)
    m.update([0], [0], 1)
    m.update([5], [5], 6)
    m.update([2], [], 6)
    got = m.get()
    assert got["micro_recall"] == pytest.approx(2 / 3)
    assert got["hamming_loss"] == pytest.approx((0 + 0 + 1 / 6) / 3)


def test_metrics_pickle_mid_stream():
    import pickle

    pairs = random_stream(2, n=300)
    m = MultiLabelMetrics(window_size=40)
    feed(m, pairs[:150])
    clone = pickle.loads(pickle.dumps(m))
    feed(m, pairs[150:])
    feed(clone, pairs[150:])
    assert m.get() == clone.get() and m.get_window() == clone.get_window()


def test_totals_do_not_depend_on_when_the_metrics_are_read():
    pairs = random_stream(13, n=1500)
    quiet, busy = MultiLabelMetrics(window_size=100), MultiLabelMetrics(window_size=100)
    for i, (t, p) in enumerate(pairs):
        quiet.update(sorted(t), sorted(p), 6)
        busy.update(sorted(t), sorted(p), 6)
        if i % 37 == 0:  # a progress bar reading at arbitrary moments flushes early
            busy.get()
    assert quiet.get() == busy.get() and quiet.get_window() == busy.get_window()
