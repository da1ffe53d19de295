"""Label noise: drops and wrong tags at the asked rates, reproducible, truth untouched."""

from __future__ import annotations

import numpy as np
import pytest

from stream.label_noise import LabelNoise, NoisyRecords

LABELS = [f"l{i}" for i in range(20)]


def _stream(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        on = rng.choice(20, size=rng.integers(1, 6), replace=False)
        out.append(({"f": 1.0}, {LABELS[j]: (j in on) for j in range(20)}))
    return out


def test_rates_match_the_asked_probabilities():
    recs = _stream(4000)
    noisy = list(NoisyRecords(recs, LabelNoise(missing=0.3, flip=0.1, seed=5), LABELS))
    n_pos = dropped = added = 0
    for _, y, z in noisy:
        pos = {k for k, v in y.items() if v}
        got = {k for k, v in z.items() if v}
        n_pos += len(pos)
        dropped += len(pos - got)
        added += len(got - pos)
    # kept positives: 70 %; of those 10 % replaced by a wrong tag
    assert dropped / n_pos == pytest.approx(0.3 + 0.7 * 0.1, abs=0.015)
    assert added / n_pos == pytest.approx(0.7 * 0.1, abs=0.01)


def test_the_truth_is_never_changed_and_the_noise_is_reproducible():
    recs = _stream(300)
    before = [dict(y) for _, y in recs]
    a = [z for _, _, z in NoisyRecords(recs, LabelNoise(missing=0.2, flip=0.2, seed=1))]
    b = [z for _, _, z in NoisyRecords(recs, LabelNoise(missing=0.2, flip=0.2, seed=1))]
    c = [z for _, _, z in NoisyRecords(recs, LabelNoise(missing=0.2, flip=0.2, seed=2))]
    assert [y for _, y in recs] == before
    assert a == b and a != c


def test_a_wrong_tag_keeps_the_number_of_tags_and_unknown_labels_stay_unknown():
    noise = LabelNoise(flip=1.0, seed=0)
    y = {"a": True, "b": True, "c": None, "d": False, "e": False}
    z = noise.corrupt(y, 7, ["a", "b", "c", "d", "e"])
    assert z["c"] is None
    assert sum(1 for v in z.values() if v) == 2
    assert not z["a"] and not z["b"] and z["d"] and z["e"]


def test_no_noise_is_the_identity_and_bad_specs_say_what_to_write():
    recs = _stream(50)
    assert [z for _, _, z in NoisyRecords(recs, LabelNoise())] == [y for _, y in recs]
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        LabelNoise.parse("missing=1.5")
    with pytest.raises(ValueError, match="is not a number"):
        LabelNoise.parse("missing=lots")
