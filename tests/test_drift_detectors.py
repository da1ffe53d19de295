"""Detectors by name, and the error monitor on synthetic loss streams with known drift."""

import logging
import pickle
import random

import pytest
from river.drift import KSWIN, PageHinkley
from river.drift.binary import DDM, FHDDM, HDDMA, HDDMW

from drift.adwin import ADWIN  # river's compiled core, without river.drift's imports
from drift.detectors import (
    DETECTORS,
    LOSSES,
    ErrorDriftMonitor,
    describe_detectors,
    detector_input,
    format_detector_spec,
    make_detector,
    parse_detector_spec,
    record_loss,
)

DRIFT_AT = 5000


def bernoulli(seed, n, p_before, p_after=None, at=DRIFT_AT):
    rng = random.Random(seed)
    p_after = p_before if p_after is None else p_after
    return [float(rng.random() < (p_before if i < at else p_after)) for i in range(n)]


def detections(monitor, values):
    out = []
    for i, v in enumerate(values):
        monitor.update(v)
        if monitor.drift_detected:
            out.append(i)
    return out


# -- make_detector ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DETECTORS))
def test_every_registered_name_builds(name):
    det = make_detector(name)
    assert isinstance(det, DETECTORS[name].cls)
    det.update(0.0 if DETECTORS[name].input == "continuous" else False)
    assert det.drift_detected in (True, False)


@pytest.mark.parametrize("spec, cls", [
    ("ADWIN", ADWIN), ("adwin", ADWIN), ("KSWIN", KSWIN), ("PageHinkley", PageHinkley),
    ("page_hinkley", PageHinkley), ("Page-Hinkley", PageHinkley), ("ph", PageHinkley),
    ("DDM", DDM), ("HDDM_A", HDDMA), ("hddm-a", HDDMA), ("HDDMA", HDDMA),
    ("HDDM_W", HDDMW), ("fhddm", FHDDM),
])
def test_names_are_case_and_separator_insensitive(spec, cls):
    assert type(make_detector(spec)) is cls


def test_parameters_are_parsed_and_typed():
    det = make_detector("kswin:alpha=0.005,window_size=100,stat_size=30,seed=3")
    assert (det.alpha, det.window_size, det.stat_size, det.seed) == (0.005, 100, 30, 3)
    ph = make_detector("page-hinkley: threshold=20, mode=up, min_instances=10")
    assert ph.threshold == 20.0 and isinstance(ph.threshold, float) and ph.mode == "up"
    hw = make_detector("hddm_w:two_sided_test=true,lambda_val=1e-2")
    assert hw.two_sided_test is True and hw.lambda_val == 0.01
    assert make_detector("adwin:clock=32.0").clock == 32
    assert make_detector("adwin", delta=0.1).delta == 0.1
    assert make_detector("adwin:delta=0.5", delta=0.1).delta == 0.1
    assert parse_detector_spec("kswin:seed=none") == ("kswin", {"seed": None})
    assert format_detector_spec("HDDM_W", {"two_sided_test": True}) == \
        "hddm-w:two_sided_test=true"


def test_bad_names_list_the_valid_ones():
    with pytest.raises(ValueError) as err:
        make_detector("adwinn")
    for name in DETECTORS:
        assert name in str(err.value)


@pytest.mark.parametrize("spec, fragment", [
    ("adwin:dleta=0.1", "valid: delta=0.002, clock=32"),
    ("ddm:delta=0.1", "valid: warm_start=30, warning_threshold=2.0"),
    ("adwin:delta=abc", "number"),
    ("kswin:window_size=1.5", "integer"),
    ("hddm-a:two_sided_test=3", "true or false"),
    ("adwin:delta", "param=value"),
    ("adwin:delta=0.1,delta=0.2", "twice"),
    ("kswin:alpha=2", "kswin"),
    ("", "name:param=value"),
])
def test_bad_parameters_give_helpful_errors(spec, fragment):
    with pytest.raises(ValueError) as err:
        make_detector(spec)
    assert fragment in str(err.value)


def test_an_existing_detector_passes_through():
    det = ADWIN()
    assert make_detector(det) is det
    with pytest.raises(TypeError):
        make_detector(42)


def test_describe_and_input_kinds():
    text = describe_detectors()
    for name in DETECTORS:
        assert name in text
    assert "params: delta=0.002" in text
    assert detector_input("ADWIN:delta=0.1") == "continuous"
    assert detector_input("hddm_a") == "binary-error"
    assert detector_input(FHDDM()) == "binary-correct"
    assert detector_input(DDM()) == "binary-error"


@pytest.mark.parametrize("name", [n for n in DETECTORS if n != "no-drift"])
def test_detectors_pickle_mid_stream(name):
    spec = "kswin:seed=1,window_size=60,stat_size=20" if name == "kswin" else name
    if name == "dummy":
        spec = "dummy:t_0=50"
    values = bernoulli(7, 700, 0.2, 0.7, at=350)
    binary = DETECTORS[name].input != "continuous"
    det = make_detector(spec)
    for v in values[:300]:
        det.update(bool(v) if binary else v)
    copy = pickle.loads(pickle.dumps(det))
    for v in values[300:]:
        x = bool(v) if binary else v
        det.update(x)
        copy.update(x)
        assert det.drift_detected == copy.drift_detected


# -- losses -------------------------------------------------------------------------------
def test_record_losses():
    t, p = {"a": True, "b": True, "c": False}, {"a": True, "b": False, "c": True}
    assert record_loss("example_f1_loss", t, p) == pytest.approx(0.5)
    assert record_loss("jaccard_loss", t, p) == pytest.approx(2 / 3)
    assert record_loss("subset_loss", t, p) == 1.0
    assert record_loss("subset_loss", t, dict(t)) == 0.0
    assert record_loss("hamming_loss", t, p) == pytest.approx(2 / 3)
    assert record_loss("hamming_loss", [0, 1], [0, 2], n_labels=10) == pytest.approx(0.2)
    for metric in LOSSES:
        n = 5 if metric == "hamming_loss" else None
        assert record_loss(metric, [], [], n_labels=n) == 0.0
        assert record_loss(metric, [1], [1], n_labels=n) == 0.0
        assert 0.0 <= record_loss(metric, [1], [], n_labels=n) <= 1.0
    with pytest.raises(ValueError, match="n_labels"):
        record_loss("hamming_loss", [1], [2])
    with pytest.raises(ValueError, match="example_f1_loss"):
        record_loss("f1", [1], [2])


# -- ErrorDriftMonitor ---------------------------------------------------------------------
# ADWIN (the default) on Bernoulli errors 0.2 -> 0.5: median delay 87 records, the worst of
# 20 seeds 119 (module docstring of drift.detectors). The tests allow 300.
DEFAULT_MAX_DELAY = 300


@pytest.mark.parametrize("seed", range(5))
def test_default_monitor_detects_a_sudden_jump_within_the_documented_delay(seed):
    monitor = ErrorDriftMonitor()
    fired = detections(monitor, bernoulli(seed, 8000, 0.2, 0.5))
    assert fired, "no detection"
    assert DRIFT_AT <= fired[0] < DRIFT_AT + DEFAULT_MAX_DELAY


def test_default_monitor_detects_a_jump_in_a_continuous_loss():
    rng = random.Random(3)
    values = [min(1.0, max(0.0, rng.gauss(0.3 if i < DRIFT_AT else 0.45, 0.15)))
              for i in range(8000)]
    fired = detections(ErrorDriftMonitor(), values)
    assert fired and DRIFT_AT <= fired[0] < DRIFT_AT + DEFAULT_MAX_DELAY


def test_default_monitor_is_silent_on_100k_stationary_values():
    assert detections(ErrorDriftMonitor(), bernoulli(11, 100_000, 0.2)) == []
    rng = random.Random(12)
    continuous = [min(1.0, max(0.0, rng.gauss(0.3, 0.15))) for _ in range(100_000)]
    assert detections(ErrorDriftMonitor(), continuous) == []


@pytest.mark.parametrize("name, max_delay", [
    ("page-hinkley", 400), ("ddm", 2500), ("eddm", 1500), ("fhddm", 300), ("hddm-a", 600),
    ("hddm-w", 300),
])
def test_each_family_detects_the_jump_through_the_monitor(name, max_delay):
    values = bernoulli(0, DRIFT_AT + 3000, 0.2, 0.5)
    fired = detections(ErrorDriftMonitor(name), values)
    after = [i for i in fired if i >= DRIFT_AT]
    assert after and after[0] - DRIFT_AT < max_delay, (name, fired[:5])


def test_kswin_detects_a_large_jump_in_a_continuous_loss():
    # KSWIN compares 30 recent values with 30 older ones: it needs a large shift, and is
    # unreliable on 0/1 errors (ties); it also costs ~300 us an update.
    rng = random.Random(0)
    values = [min(1.0, max(0.0, rng.gauss(0.2 if i < 1000 else 0.7, 0.1))) for i in range(1400)]
    fired = detections(ErrorDriftMonitor("kswin:seed=1"), values)
    after = [i for i in fired if i >= 1000]
    assert after and after[0] - 1000 < 100, fired[:5]


def test_binary_threshold_turns_losses_into_errors():
    mon = ErrorDriftMonitor("ddm")
    inner = mon._detector
    seen = []
    inner.update = seen.append  # record what the detector is fed
    for loss in (0.0, 0.4, 0.5, 0.6, 1.0):
        mon.update(loss)
    assert seen == [False, False, False, True, True]
    exact = ErrorDriftMonitor("ddm", binary_threshold=0.0)
    seen2 = []
    exact._detector.update = seen2.append
    for loss in (0.0, 0.1):
        exact.update(loss)
    assert seen2 == [False, True]
    fh = ErrorDriftMonitor("fhddm")  # FHDDM watches accuracy: fed 1 - error
    seen3 = []
    fh._detector.update = seen3.append
    fh.update(1.0)
    fh.update(0.0)
    assert seen3 == [False, True]


def test_update_one_computes_the_metric():
    mon = ErrorDriftMonitor(metric="jaccard_loss")
    assert mon.update_one({"a": True, "b": True}, {"a": True}) == pytest.approx(0.5)
    assert mon.update_one([1, 2], [1, 2]) == 0.0
    assert mon.n == 2
    ham = ErrorDriftMonitor(metric="hamming_loss")
    assert ham.update_one({"a": True, "b": False}, {"a": False, "b": False}) == 0.5
    assert ham.update_one([0], [1], n_labels=4) == 0.5
    with pytest.raises(ValueError):
        ErrorDriftMonitor(metric="accuracy")
    with pytest.raises(ValueError):
        ErrorDriftMonitor(level="label_structure")


def test_nan_losses_are_skipped():
    mon = ErrorDriftMonitor()
    mon.update(float("nan"))
    assert mon.n == 0 and mon.statistic is None
    mon.update(0.25)
    assert mon.n == 1 and mon.statistic == pytest.approx(0.25)


def test_monitor_is_pure_and_picklable_mid_stream(caplog):
    values = bernoulli(5, 9000, 0.2, 0.6)
    mon = ErrorDriftMonitor("adwin:delta=0.002", learner="expert-1", level="local",
                            labels=("a", "b"))
    with caplog.at_level(logging.DEBUG):
        first = detections(mon, values[:5500])
    assert caplog.records == []
    copy = pickle.loads(pickle.dumps(mon))
    assert detections(mon, values[5500:]) == detections(copy, values[5500:])
    assert copy.n == mon.n == 9000 and copy.n_detections == mon.n_detections
    assert first and mon.name == "adwin:delta=0.002"
    with pytest.raises(AttributeError):
        mon.drift_detected = True


def test_make_event_describes_the_detection():
    mon = ErrorDriftMonitor("hddm-w", learner="expert-1", level="local", labels=("x",))
    events = []
    for i, v in enumerate(bernoulli(2, 8000, 0.2, 0.6)):
        mon.update(v)
        if mon.drift_detected or mon.warning_detected:
            events.append(mon.make_event(i, source_offset={"offset": i}))
    drifts = [e for e in events if e.kind == "drift" and e.position >= DRIFT_AT]
    assert drifts, events[:3]
    e = drifts[0]
    assert (e.level, e.detector, e.learner, e.labels) == ("local", "hddm-w", "expert-1",
                                                          ("x",))
    assert e.details["metric"] == "example_f1_loss" and e.details["binary_threshold"] == 0.5
    assert e.details["direction"] == "increase"
    assert e.details["previous_mean_loss"] == pytest.approx(0.2, abs=0.05)
    assert e.statistic > e.details["previous_mean_loss"]
    assert e.source_offset["offset"] == e.position
    assert any(ev.kind == "warning" for ev in events)
    # the same stream gives the same ids
    again = ErrorDriftMonitor("hddm-w", learner="expert-1", level="local", labels=("x",))
    ids = []
    for i, v in enumerate(bernoulli(2, 8000, 0.2, 0.6)):
        again.update(v)
        if again.drift_detected or again.warning_detected:
            ids.append(again.make_event(i).id)
    assert ids == [ev.id for ev in events]
