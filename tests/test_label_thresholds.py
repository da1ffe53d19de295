"""Per-label thresholds (``learners._label_thresholds``) and iHOMER's ``label_thresholds``
option: prequential (a row decides with the counts of the rows before it), the batched
path equal to one record at a time, unknown labels counted in nothing, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from river import datasets

from learners._label_thresholds import LabelThresholds
from learners.ihomer import IHOMER
from stream.batch import to_batch


@pytest.fixture(scope="module")
def yeast():
    return list(datasets.Yeast().take(400))


def _csr(rows):
    ptr = np.cumsum([0] + [len(r) for r in rows])
    idx = np.array([c for r in rows for c in r], dtype=np.int64)
    return ptr, idx


def test_rows_decide_with_the_counts_before_them_whatever_the_batching():
    rng = np.random.default_rng(3)
    n, L = 300, 5
    score = rng.random((n, L)) * 0.6
    truth = [[l for l in range(L) if score[i, l] > 0.3 + 0.05 * l] for i in range(n)]
    base = np.zeros((n, L), dtype=bool)
    one, many = LabelThresholds(), LabelThresholds()
    out_one = base.copy()
    for i in range(n):
        ptr, idx = _csr(truth[i:i + 1])
        one.apply(out_one[i:i + 1], score[i:i + 1], ptr, idx, learn=True)
    out_many = base.copy()
    for a in range(0, n, 64):
        ptr, idx = _csr(truth[a:a + 64])
        many.apply(out_many[a:a + 64], score[a:a + 64], ptr, idx, learn=True)
    assert np.array_equal(out_one, out_many)
    for name in ("tp", "pp", "base"):
        assert np.array_equal(getattr(one, name), getattr(many, name))
    # the scores separate every label, so thresholds are found and help: each label's
    # F1 over the stream beats the base's 0 (it never predicts)
    for l in range(L):
        t = np.array([l in r for r in truth])
        tp = (out_one[:, l] & t).sum()
        assert tp > 0 and 2 * tp / (out_one[:, l].sum() + t.sum()) > 0.5


def test_predicting_does_not_count_and_unknown_labels_count_in_nothing():
    lt = LabelThresholds()
    pred = np.zeros((4, 2), dtype=bool)
    score = np.full((4, 2), 0.4)
    ptr, idx = _csr([[0, 1]] * 4)
    lt.apply(pred.copy(), score, ptr, idx, learn=False)
    assert not lt.base.any() and not lt.tp.any()
    u_ptr, u_idx = _csr([[1]] * 4)
    lt.apply(pred.copy(), score, ptr, idx, learn=True, u_ptr=u_ptr, u_idx=u_idx)
    assert lt.base[0, 2] == 4 and lt.base[1].sum() == 0 and lt.tp[1].sum() == 0


def test_a_threshold_that_adds_mostly_wrong_labels_is_not_used():
    # label 0 is true on a third of the rows whatever its score: adding it is right one
    # time in three, under min_precision=0.5, although it would raise the label's F1
    n = 300
    score = np.full((n, 1), 0.4)
    truth = [[0] if i % 3 == 0 else [] for i in range(n)]
    lt = LabelThresholds(min_precision=0.5)
    pred = np.zeros((n, 1), dtype=bool)
    ptr, idx = _csr(truth)
    lt.apply(pred, score, ptr, idx, learn=True)
    assert not pred.any()
    loose = LabelThresholds(min_precision=0.2)
    pred = np.zeros((n, 1), dtype=bool)
    loose.apply(pred, score, ptr, idx, learn=True)
    assert pred[10:].all()


def test_bad_grid_is_refused():
    for grid in ((), (0.3, 0.2)):
        with pytest.raises(ValueError, match="ascending"):
            LabelThresholds(grid=grid)


def _predictions(model, xs):
    return [sorted(l for l, on in model.predict_one(x).items() if on) for x in xs]


def test_ihomer_batched_equals_one_record_at_a_time_and_pickles(yeast):
    # the thresholds act on iHOMER's own prediction: without the neighbours serving
    one, many = (IHOMER(label_thresholds=True, neighbours=False),
                 IHOMER(label_thresholds=True, neighbours=False))
    ref = []
    for x, y in yeast[:300]:
        ref.append(sorted(l for l, on in one.predict_one(x).items() if on))
        one.learn_one(x, y)
    P, _ = many.predict_learn_many(to_batch(yeast[:300]))
    names = list(many._labels.keys)
    got = [sorted(names[c] for c in np.flatnonzero(row)) for row in P]
    assert got == ref
    xs = [x for x, _ in yeast[300:]]
    assert _predictions(one, xs) == _predictions(many, xs)
    back = pickle.loads(pickle.dumps(one))
    assert _predictions(back, xs) == _predictions(one, xs)
    # the option changed some predictions (otherwise this test pins nothing)
    plain = IHOMER(label_thresholds=False, neighbours=False)
    for x, y in yeast[:300]:
        plain.learn_one(x, y)
    assert _predictions(plain, xs) != _predictions(one, xs)
