"""DriftEvent: frozen, hashable, picklable, JSON round trip, deterministic ids."""

import json
import pickle

import numpy as np
import pytest

from drift.events import KINDS, LEVELS, DriftEvent, FrozenMapping, event_id, new_event


def full_event(**changes):
    kwargs = {"learner": "ihomer", "labels": ("a", 3), "kind": "warning", "statistic": 0.25,
              "timestamp": 1700000000.123456,
              "source_offset": {"topic": "records", "partition": 2, "offset": 41},
              "details": {"metric": "example_f1_loss", "window": [1, 2, {"x": None}],
                          "ok": True}}
    kwargs.update(changes)
    return new_event("kswin:alpha=0.001", "local", 12345, **kwargs)


def test_json_round_trip_is_exact_and_stable():
    event = full_event()
    text = event.to_json()
    assert DriftEvent.from_json(text) == event
    assert DriftEvent.from_json(text.encode()) == event
    assert DriftEvent.from_json(text).to_json() == text
    assert " " not in text  # compact
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["labels"] == ["a", 3]
    assert data["source_offset"] == {"topic": "records", "partition": 2, "offset": 41}
    assert data["details"]["window"] == [1, 2, {"x": None}]
    assert event.to_dict() == data


def test_minimal_event_round_trip():
    event = new_event("adwin", "global", 0, timestamp=0.0)
    assert DriftEvent.from_dict(event.to_dict()) == event
    assert event.labels == () and event.learner is None and event.details is None


def test_frozen_hashable_picklable():
    event = full_event()
    with pytest.raises(AttributeError):
        event.position = 3
    with pytest.raises(TypeError):
        event.details["metric"] = "x"
    with pytest.raises(TypeError):
        event.source_offset["offset"] = 0
    assert isinstance(event.details, FrozenMapping)
    assert hash(event) == hash(full_event())
    assert len({event, full_event(), full_event(kind="drift")}) == 2
    assert pickle.loads(pickle.dumps(event)) == event


def test_ids_are_deterministic_and_distinguish_detections():
    a = full_event(timestamp=1.0)
    b = full_event(timestamp=2.0)
    assert a.id == b.id and a.id.startswith("evt_") and len(a.id) == 20
    ids = {
        event_id("adwin", "global", 10),
        event_id("adwin", "global", 11),
        event_id("ddm", "global", 10),
        event_id("adwin", "local", 10),
        event_id("adwin", "global", 10, learner="e1"),
        event_id("adwin", "global", 10, kind="warning"),
        event_id("adwin", "global", 10, labels=("a",)),
    }
    assert len(ids) == 7


def test_numpy_scalars_are_normalised():
    event = new_event("adwin", "global", np.int64(7), statistic=np.float32(0.5),
                      labels=[np.int32(1), "b"], timestamp=np.float64(3.0),
                      details={"n": np.int64(4), "f": np.float64(0.25)})
    assert type(event.position) is int and event.position == 7
    assert type(event.statistic) is float and event.labels == (1, "b")
    assert json.loads(event.to_json())["details"] == {"n": 4, "f": 0.25}


def test_non_finite_statistic_becomes_null():
    event = new_event("adwin", "global", 1, statistic=float("nan"), timestamp=0.0)
    assert event.statistic is None
    assert json.loads(event.to_json())["statistic"] is None


@pytest.mark.parametrize("changes, error", [
    ({"level": "everywhere"}, ValueError),
    ({"kind": "boom"}, ValueError),
    ({"position": 1.5}, TypeError),
    ({"labels": "abc"}, TypeError),
    ({"labels": [object()]}, TypeError),
    ({"details": {"x": object()}}, TypeError),
    ({"details": {1: "int key"}}, TypeError),
    ({"details": {"x": float("inf")}}, ValueError),
    ({"source_offset": ["not", "a", "mapping"]}, TypeError),
])
def test_invalid_fields_fail_at_construction(changes, error):
    kwargs = {"id": "evt_x", "level": "global", "detector": "adwin", "position": 1,
              "timestamp": 0.0}
    kwargs.update(changes)
    with pytest.raises(error):
        DriftEvent(**kwargs)


def test_from_json_rejects_non_events_and_ignores_unknown_keys():
    with pytest.raises(ValueError, match="missing"):
        DriftEvent.from_json('{"id": "evt_1"}')
    with pytest.raises(ValueError):
        DriftEvent.from_json("[1, 2]")
    data = new_event("adwin", "global", 1, timestamp=0.0).to_dict()
    data["added_in_a_later_version"] = 1
    assert DriftEvent.from_dict(data).position == 1


def test_levels_and_kinds():
    assert LEVELS == ("global", "local", "label_structure")
    assert set(KINDS) == {"drift", "warning", "restructure", "replacement"}
    for level in LEVELS:
        for kind in KINDS:
            assert new_event("x", level, 0, kind=kind, timestamp=0.0).kind == kind
