"""Drift detection in the prequential loop, on the generator's scheduled drifts.

The global detector (ADWIN on 1 - example F1 of a real learner's predictions) and the
label-structure detectors are driven by `stream.prequential.evaluate` exactly as
`labelstream replay` drives them. Documented delays asserted here (records after the
change): sudden P(y|x) <= 1,500; gradual over width w <= w + 1,500; each switch of a
recurring drift <= 1,500; label correlation (sudden, recurring) <= 2,000.
"""

import pytest

from drift.label_structure import LabelCorrelationDetector
from drift.watch import StreamWatcher
from learners.logistic import LogisticBinaryRelevance
from stream.prequential import evaluate
from stream.synthetic import Drift, MultiLabelGenerator


def events_for(drifts, n, detector="adwin", label_detectors=(), seed=21, **gen_kw):
    gen = MultiLabelGenerator(n_features=20, n_labels=8, seed=seed, drifts=drifts, **gen_kw)
    watcher = StreamWatcher(detector, learner="br", label_detectors=label_detectors)
    res = evaluate(gen.take(n), LogisticBinaryRelevance(), report_every=0, watch=watcher)
    return res.events


def first_after(events, start, level="global"):
    return min((e["position"] for e in events if e["level"] == level
                and e["position"] >= start), default=None)


@pytest.mark.parametrize("seed", [21, 22])
def test_sudden_change_of_p_y_given_x_is_detected_without_false_alarm(seed):
    events = events_for([Drift(position=5000, target="p_y_given_x")], 9000, seed=seed)
    assert not [e for e in events if e["position"] < 5000], events
    hit = first_after(events, 5000)
    assert hit is not None and hit - 5000 <= 1500, events


def test_gradual_change_of_p_y_given_x_is_detected_within_its_width():
    events = events_for([Drift(position=5000, kind="gradual", width=2000,
                               target="p_y_given_x")], 11000)
    assert not [e for e in events if e["position"] < 5000], events
    hit = first_after(events, 5000)
    assert hit is not None and hit - 5000 <= 2000 + 1500, events


def test_recurring_change_is_detected_at_both_switches():
    events = events_for([Drift(position=5000, kind="recurring", duration=5000,
                               target="p_y_given_x")], 14000)
    assert not [e for e in events if e["position"] < 5000], events
    first = first_after(events, 5000)
    back = first_after(events, 10000)
    assert first is not None and first - 5000 <= 1500, events
    assert back is not None and back - 10000 <= 1500, events


def test_recurring_label_correlation_drift_is_detected_at_both_switches():
    events = events_for([Drift(position=6000, kind="recurring", duration=6000,
                               target="correlation")], 16000, detector="none",
                        label_detectors=[LabelCorrelationDetector()], n_clusters=3)
    structure = [e for e in events if e["level"] == "label_structure"]
    assert not [e for e in structure if e["position"] < 6000], structure
    first = first_after(events, 6000, "label_structure")
    back = first_after(events, 12000, "label_structure")
    assert first is not None and first - 6000 <= 2000, structure
    assert back is not None and back - 12000 <= 2000, structure


def test_no_global_drift_event_on_a_stationary_stream_of_100k_records():
    events = events_for([], 100_000)
    assert [e for e in events if e["level"] == "global"] == []
