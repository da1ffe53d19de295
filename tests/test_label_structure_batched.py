"""The label-structure detectors' batch updates (``update_many``) detect exactly what
record-by-record updates detect (same rows, same labels, same statistics, same state
after), whatever the batch boundaries; the stream watcher gives the same events either
way (issue 15)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from drift.label_structure import (LabelCardinalityDetector, LabelCorrelationDetector,
                                   LabelPrevalenceDetector, rows_to_csr)
from drift.watch import StreamWatcher
from stream.synthetic import Drift, MultiLabelGenerator


def _rows(seed, n=9000):
    """A correlation change at 3,500, then other clusters and a higher cardinality."""
    first = MultiLabelGenerator(n_features=6, n_labels=12, cardinality=2, n_clusters=4,
                                seed=seed, drifts=[Drift(3500, target="correlation")])
    second = MultiLabelGenerator(n_features=6, n_labels=12, cardinality=3.5, n_clusters=4,
                                 seed=seed + 100)
    cut = 2 * n // 3
    Y = np.vstack([first.arrays(cut)[1], second.arrays(n - cut)[1]])
    return [row.nonzero()[0] for row in Y]


def _one_by_one(det, rows):
    found = []
    for k, cols in enumerate(rows):
        det.update(cols)
        if det.drift_detected:
            found.append((k, list(det.labels_involved), det.statistic))
    return found


def _batched(det, rows, sizes):
    found, start, i = [], 0, 0
    while start < len(rows):
        size = sizes[i % len(sizes)]
        part = rows[start:start + size]
        found += [(start + k, labels, stat)
                  for k, labels, stat in det.update_many(*rows_to_csr(part))]
        start += size
        i += 1
    return found


DETECTORS = [
    lambda: LabelCardinalityDetector(),
    lambda: LabelPrevalenceDetector(reference_size=500, window_size=300, check_every=50),
    lambda: LabelCorrelationDetector(reference_size=500, window_size=300, check_every=50),
    lambda: LabelPrevalenceDetector(),
    lambda: LabelCorrelationDetector(),
]


@pytest.mark.parametrize("make", DETECTORS)
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("sizes", [[256], [1], [37, 500, 3], [9000]])
def test_batched_detections_equal_record_by_record(make, seed, sizes):
    rows = _rows(seed)
    one, many = make(), make()
    want = _one_by_one(one, rows)
    got = _batched(many, rows, sizes)
    assert got == want
    assert one.drift_detected == many.drift_detected
    # the same state afterwards: both go on alike
    more = _rows(seed + 10, 3000)
    assert _one_by_one(one, more) == _one_by_one(pickle.loads(pickle.dumps(many)), more)


def test_some_detector_fires_on_these_streams():
    rows = _rows(1)
    assert any(_one_by_one(make(), rows) for make in DETECTORS)


def test_watcher_events_equal_record_by_record():
    rows = _rows(3)
    rng = np.random.default_rng(3)
    f1 = np.clip(rng.normal(0.6, 0.2, len(rows)), 0, 1)
    f1[5000:] = np.clip(f1[5000:] - 0.3, 0, 1)
    names = [f"l{i}" for i in range(12)]

    def watcher():
        return StreamWatcher("adwin", learner="br", label_detectors=[
            LabelCardinalityDetector(), LabelPrevalenceDetector(),
            LabelCorrelationDetector()])

    def strip(events):
        return [(e.position, e.detector, e.kind, e.labels, e.statistic) for e in events]

    a, b = watcher(), watcher()
    one = []
    for k in range(len(rows)):
        one += a(k, f1[k:k + 1], rows[k:k + 1], [], names)
    many = []
    for start in range(0, len(rows), 256):
        many += b(start, f1[start:start + 256], rows[start:start + 256], [], names)
    assert strip(one) == strip(many)
    assert {e.level for e in one} >= {"global", "label_structure"}
