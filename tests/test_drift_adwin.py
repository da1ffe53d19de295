"""drift.adwin.ADWIN against river's ADWIN: the same detections and statistics, update by
update, and no ``river.drift`` (nor ``river.datasets``) imported by the default watcher."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from river import drift as river_drift

from drift.adwin import ADWIN

FIELDS = ("drift_detected", "width", "total", "variance", "estimation", "n_detections")


def _trace(det, values):
    rows = []
    for v in values:
        det.update(v)
        rows.append([float(getattr(det, f)) for f in FIELDS])
    return np.array(rows)


def _shifting(seed, n=6000):
    rng = np.random.default_rng(seed)
    means = rng.uniform(0, 1, size=6).repeat(n // 6)
    return (means + rng.normal(0, 0.2, size=n)).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("params", [{}, {"delta": 0.05, "clock": 1},
                                    {"max_buckets": 2, "min_window_length": 2,
                                     "grace_period": 30}])
def test_same_detections_and_statistics_as_river(seed, params):
    values = _shifting(seed)
    expected = _trace(river_drift.ADWIN(**params), values)
    got = _trace(ADWIN(**params), values)
    assert expected[:, 0].sum() >= 2  # the streams do drift
    assert np.array_equal(expected, got)


def test_binary_input_and_a_pickled_copy_go_on_alike():
    rng = np.random.default_rng(3)
    values = (rng.random(8000) < np.r_[np.full(4000, 0.2), np.full(4000, 0.6)]).tolist()
    ours, theirs = ADWIN(), river_drift.ADWIN()
    _trace(ours, values[:5000]), _trace(theirs, values[:5000])
    copy = pickle.loads(pickle.dumps(ours))
    rest = values[5000:]
    assert np.array_equal(_trace(copy, rest), _trace(theirs, rest))
    assert ADWIN(delta=0.01)._get_params() == river_drift.ADWIN(delta=0.01)._get_params()


def test_the_default_watcher_does_not_import_river_drift():
    code = ("import sys\n"
            "from drift.detectors import make_detector, describe_detectors\n"
            "from drift.label_structure import LabelCardinalityDetector\n"
            "make_detector('adwin').update(0.5); LabelCardinalityDetector()\n"
            "print(sorted(m for m in sys.modules if m.startswith(('river.drift', "
            "'river.datasets'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "[]"
