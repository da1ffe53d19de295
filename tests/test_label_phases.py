"""Labels in phases (``stream.label_phases``): each label hidden before its phase, phases
evenly spaced, the deal reproducible, bad settings refused."""

from __future__ import annotations

import pytest

from stream.label_phases import LabelPhases, PhasedRecords, phased_generator


def test_a_label_is_hidden_exactly_until_its_phase_starts():
    labels = [f"l{i}" for i in range(12)]
    phases = LabelPhases(4, n_records=400, labels=labels, seed=3)
    assert phases.starts == [0, 100, 200, 300]
    assert sorted(len(phases.labels_of(k)) for k in range(4)) == [3, 3, 3, 3]
    y = dict.fromkeys(labels, True)
    records = list(PhasedRecords([({"x": 1.0}, y)] * 400, phases))
    for position, (_, seen) in enumerate(records):
        for label in labels:
            assert (label in seen) == (phases.phase_of(label) <= position // 100)
    # the same seed deals the same phases; another seed another deal
    assert LabelPhases(4, 400, labels=labels, seed=3)._phase == phases._phase
    assert LabelPhases(4, 400, labels=labels, seed=4)._phase != phases._phase


def test_labels_not_declared_get_a_stable_phase_from_their_name():
    a, b = LabelPhases(3, 30, seed=1), LabelPhases(3, 30, seed=1)
    assert [a.phase_of(f"t{i}") for i in range(50)] == [b.phase_of(f"t{i}") for i in range(50)]
    assert {a.phase_of(f"t{i}") for i in range(50)} == {0, 1, 2}


@pytest.mark.parametrize("n_phases, n_records, says", [
    (0, 100, "integer >= 1"), (2.5, 100, "integer >= 1"), (5, 3, "at least 5 records")])
def test_bad_phases_are_refused(n_phases, n_records, says):
    with pytest.raises(ValueError, match=says):
        LabelPhases(n_phases, n_records)


def test_the_synthetic_stream_brings_new_labels_at_each_phase():
    gen = phased_generator(4, 800, 2, n_labels=4, seed=2)
    seen_before = set()
    for t, (_, y) in enumerate(gen):
        if t in (200, 400, 600):
            assert len(set(gen.labels_at(t)) - set(gen.labels_at(t - 1))) == 2
        seen_before |= set(y)
    assert len(seen_before) == 10
