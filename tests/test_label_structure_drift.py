"""Label-structure drift detectors on seeded synthetic streams with known changes.

Every label-only change the generator can make is covered: a correlation drift (prevalences
kept exactly), a ``p_x`` and a ``p_y_given_x`` drift (the joint label distribution kept
exactly), a cardinality change (two generators back to back) and a prevalence change of
two labels (the label matrix edited after a position). Each detector must catch its kind
of change within a stated delay, name the right labels where it can, stay silent on the
changes that are not its kind, and raise nothing on 100,000 stationary records.
"""

import pickle

import numpy as np
import pytest

from drift.label_structure import (
    LabelCardinalityDetector,
    LabelCorrelationDetector,
    LabelPrevalenceDetector,
    bernstein_threshold,
)
from stream.synthetic import Drift, MultiLabelGenerator

BASE = {"n_features": 10, "n_labels": 20, "cardinality": 3.0, "n_clusters": 5}
DETECTORS = [LabelCardinalityDetector, LabelPrevalenceDetector, LabelCorrelationDetector]


def label_matrix(n, seed=7, **kwargs):
    return MultiLabelGenerator(seed=seed, **{**BASE, **kwargs}).arrays(n)[1]


def detections(detector, Y):
    """Positions of the detections, and what each one reported."""
    found = []
    for t, row in enumerate(Y):
        detector.update(np.flatnonzero(row))
        if detector.drift_detected:
            found.append((t, list(detector.labels_involved), list(
                getattr(detector, "pairs_involved", []))))
    return found


@pytest.fixture(scope="module")
def stationary():
    return label_matrix(100_000)


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_no_detection_on_a_stationary_stream(cls, stationary):
    assert detections(cls(), stationary) == []


# ---------------------------------------------------------------------- correlation

AFFECTED = ["l0", "l1", "l2", "l3"]


@pytest.fixture(scope="module")
def correlation_drift():
    gen = MultiLabelGenerator(seed=7, drifts=[Drift(5000, target="correlation",
                                                    labels=AFFECTED)], **BASE)
    assert gen.label_groups(4999) != gen.label_groups(5000)
    return gen.arrays(20_000)[1]


def test_correlation_drift_is_detected_once_with_the_moved_labels(correlation_drift):
    found = detections(LabelCorrelationDetector(), correlation_drift)
    assert len(found) == 1  # re-referencing does not fire again on the same change
    t, labels, pairs = found[0]
    assert 5000 <= t < 5000 + 2000  # measured: 399 to 499 records after the drift
    affected = {0, 1, 2, 3}
    assert pairs and all(set(p) & affected for p in pairs)  # each moved pair has a moved label
    assert set(labels) == {c for p in pairs for c in p}


@pytest.mark.parametrize("kind", ["gradual", "incremental"])
def test_slow_correlation_drift_is_detected(kind):
    gen = MultiLabelGenerator(seed=8, drifts=[Drift(5000, kind=kind, width=2000,
                                                    target="correlation")], **BASE)
    found = detections(LabelCorrelationDetector(), gen.arrays(9000)[1])
    assert found and 5000 <= found[0][0] < 5000 + 2000 + 2000  # measured: 900 to 1300


@pytest.mark.parametrize("cls", [LabelCardinalityDetector, LabelPrevalenceDetector],
                         ids=lambda c: c.__name__)
def test_a_correlation_drift_keeps_cardinality_and_prevalence(cls, correlation_drift):
    assert detections(cls(), correlation_drift) == []


@pytest.mark.parametrize("target", ["p_x", "p_y_given_x"])
def test_drifts_that_keep_the_label_distribution_raise_nothing(target):
    # p_x, and p_y_given_x on all labels, keep the joint distribution of y exactly
    gen = MultiLabelGenerator(seed=9, drifts=[Drift(5000, target=target)], **BASE)
    Y = gen.arrays(25_000)[1]
    for cls in DETECTORS:
        assert detections(cls(), Y) == [], cls.__name__


def test_p_y_given_x_drift_of_some_labels_splits_their_group():
    # restricted to some labels, it splits them off their group: a correlation change
    gen = MultiLabelGenerator(seed=7, drifts=[Drift(5000, labels=["l0", "l1"])], **BASE)
    found = detections(LabelCorrelationDetector(), gen.arrays(9000)[1])
    assert found and 5000 <= found[0][0] < 7000
    assert all(set(p) & {0, 1} for p in found[0][2])


# ---------------------------------------------------------------------- cardinality

@pytest.fixture(scope="module")
def cardinality_change():
    # same seed: the same label groups; 3 -> 4 labels per record on average from 10,000
    return np.concatenate([label_matrix(10_000, cardinality=3.0),
                           label_matrix(10_000, cardinality=4.0)])


def test_cardinality_change_is_detected(cardinality_change):
    det = LabelCardinalityDetector()
    found = detections(det, cardinality_change)
    assert found and 10_000 <= found[0][0] < 10_000 + 1000  # measured: about 200
    assert det.statistic > 0 and det.labels_involved == []
    assert all(t >= 10_000 for t, *_ in found)


# ----------------------------------------------------------------------- prevalence

@pytest.fixture(scope="module")
def prevalence_change():
    Y = label_matrix(20_000).copy()
    rng = np.random.default_rng(0)
    Y[8000:, 3] |= rng.random(12_000) < 0.25  # label 3: 0.11 -> 0.33 from record 8000
    Y[14_000:, 11] &= rng.random(6000) < 0.3  # label 11: 0.10 -> 0.03 from record 14,000
    return Y


def test_prevalence_changes_are_detected_with_their_labels(prevalence_change):
    det = LabelPrevalenceDetector()
    found = detections(det, prevalence_change)
    assert [labels for _, labels, _ in found] == [[3], [11]]
    (t1, *_), (t2, *_) = found
    assert 8000 <= t1 < 8000 + 1500  # measured: 399
    assert 14_000 <= t2 < 14_000 + 1500  # measured: 599
    assert det.statistic > 0.03


def test_a_prevalence_change_of_two_labels_keeps_the_cardinality_detector_quiet_enough(
        prevalence_change):
    # +0.25 * (1 - p3) - 0.7 * p11: the mean cardinality barely moves
    assert len(detections(LabelCardinalityDetector(), prevalence_change)) <= 1


# ------------------------------------------------------------------- common behaviour

@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_pickle_mid_stream_gives_the_same_detections(cls, correlation_drift, prevalence_change,
                                                     cardinality_change):
    Y = {LabelCardinalityDetector: cardinality_change[6000:12_000],
         LabelPrevalenceDetector: prevalence_change[:10_000],
         LabelCorrelationDetector: correlation_drift[:8000]}[cls]
    cut = 3500  # before the detection, after the reference window
    whole = detections(cls(), Y)
    det = cls()
    first = detections(det, Y[:cut])
    det = pickle.loads(pickle.dumps(det))
    rest = [(t + cut, lab, p) for t, lab, p in detections(det, Y[cut:])]
    assert whole and whole[0][0] > cut
    assert first + rest == whole


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_drift_flag_is_read_only_and_lasts_one_update(cls, cardinality_change):
    det = cls()
    with pytest.raises(AttributeError):
        det.drift_detected = True
    Y = cardinality_change
    if cls is not LabelCardinalityDetector:
        det = cls(reference_size=100, window_size=100, check_every=1)
        Y = np.zeros((400, 3), dtype=bool)
        Y[:200, :2] = True  # labels 0 and 1 together, then in turn
        Y[200::2, 0] = True
        Y[201::2, 1] = True
    n_flagged = 0
    for row in Y:
        was = det.drift_detected
        det.update(np.flatnonzero(row))
        n_flagged += det.drift_detected
        if was:
            assert not det.drift_detected
    assert n_flagged >= 1
    assert det.clone().drift_detected is False


def test_new_labels_are_not_mistaken_for_a_change():
    # three labels start at record 6000 and join existing groups
    Y = MultiLabelGenerator(seed=7, new_labels_at={6000: 3}, **BASE).arrays(20_000)[1]
    assert Y[:6000, 20:].sum() == 0 and Y[6000:, 20:].sum() > 0
    assert detections(LabelPrevalenceDetector(), Y) == []
    assert detections(LabelCorrelationDetector(), Y) == []


def test_after_a_detection_new_labels_join_the_test():
    det = LabelPrevalenceDetector(reference_size=200, window_size=200, check_every=10)
    rng = np.random.default_rng(1)
    Y = rng.random((3000, 6)) < 0.3
    Y[:1000, 5] = False  # label 5 appears at 1000: not tested against the first reference
    Y[1000:, 0] = False  # label 0 disappears: detected, and the windows restart
    found = detections(det, Y)
    assert found[0][1] == [0] and 1000 <= found[0][0] < 1300
    Y2 = Y.copy()
    Y2[2000:, 5] = False  # now label 5 is known to the new reference: its change is seen
    found2 = detections(LabelPrevalenceDetector(reference_size=200, window_size=200,
                                                check_every=10), Y2)
    assert [5] in [labels for _, labels, _ in found2[1:]]


def test_warnings_come_before_the_detection(correlation_drift):
    det = LabelCorrelationDetector(warning_delta=0.5)
    warned = []
    for t, row in enumerate(correlation_drift[:8000]):
        det.update(np.flatnonzero(row))
        assert not (det.warning_detected and det.drift_detected)
        if det.warning_detected:
            warned.append(t)
        if det.drift_detected:
            break
    assert warned and 5000 <= warned[0] < t


def test_windows_and_checks_follow_the_parameters():
    det = LabelPrevalenceDetector(reference_size=10, window_size=5, check_every=3)
    for t in range(14):
        det.update([0])
        assert det.is_testing == (t >= 14)
    det.update([0])
    assert det.is_testing


def test_tiny_label_spaces_work():
    for cls in (LabelPrevalenceDetector, LabelCorrelationDetector):
        det = cls(reference_size=5, window_size=5, check_every=1)
        for _ in range(30):
            det.update([])
        for _ in range(30):
            det.update([0])  # one label, never seen by the reference
        assert det.n_detections == 0


@pytest.mark.parametrize("cls,kwargs,match", [
    (LabelCardinalityDetector, {"delta": 0}, "delta"),
    (LabelPrevalenceDetector, {"delta": 1.5}, "delta"),
    (LabelPrevalenceDetector, {"window_size": 0}, "window_size"),
    (LabelPrevalenceDetector, {"check_every": 2.5}, "check_every"),
    (LabelPrevalenceDetector, {"warning_delta": 1e-9}, "warning_delta"),
    (LabelCorrelationDetector, {"reference_size": -1}, "reference_size"),
    (LabelCorrelationDetector, {"min_support": 0}, "min_support"),
])
def test_bad_parameters_are_rejected(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_bad_records_are_rejected(cls):
    det = cls()
    with pytest.raises(ValueError, match=">= 0"):
        det.update([-1])
    with pytest.raises(ValueError, match="integers"):
        det.update([0.5])


def test_bernstein_threshold_controls_false_alarms():
    # 2,000 simulated null tests at delta = 0.05: the bound is conservative
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.6, 2000)
    a = rng.binomial(500, p) / 500
    b = rng.binomial(300, p) / 300
    pooled = (500 * a + 300 * b) / 800
    eps = bernstein_threshold(pooled, 500, 300, n_tests=1, delta=0.05)
    assert np.mean(np.abs(a - b) > eps) < 0.05
    # shrinks with more data, grows with more tests
    assert bernstein_threshold(0.3, 1e4, 1e4, 1, 0.01) < bernstein_threshold(0.3, 1e3, 1e3, 1,
                                                                               0.01)
    assert bernstein_threshold(0.3, 1e3, 1e3, 100, 0.01) > bernstein_threshold(0.3, 1e3, 1e3,
                                                                                 1, 0.01)
