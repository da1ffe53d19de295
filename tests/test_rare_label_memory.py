"""The rare-label memory (``learners._rare_label_memory``) and iHOMER's ``rare_memory``
option: a row decides with the sums of the rows before it whatever the batching, a stream
without near-duplicates is left exactly as the base predicted it, predicting counts
nothing, unknown labels count in nothing, the ring forgets the oldest, and on sparse text
(enron) iHOMER batched equals one record at a time, pickles, and gets rare labels right
that it did not get without the memory; dense input is left alone."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from learners._rare_label_memory import RareLabelMemory
from learners.ihomer import IHOMER
from stream.batch import to_batch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _csr(rows):
    ptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    idx = np.array([c for r in rows for c in r], dtype=np.int64)
    return ptr, idx


def _families(n=300, seed=5):
    """Sparse rows in families of near-duplicates; each family carries one rare label."""
    rng = np.random.default_rng(seed)
    x_rows, y_rows = [], []
    bases = [rng.choice(400, size=30, replace=False) for _ in range(40)]
    for _ in range(n):
        fam = int(rng.integers(40))
        cols = np.array(sorted(set(bases[fam][:27].tolist())
                               | set(rng.choice(400, size=3).tolist())))
        x_rows.append(cols)
        y_rows.append([fam] if rng.random() < 0.8 else [])
    x_ptr, x_idx = _csr(x_rows)
    y_ptr, y_idx = _csr(y_rows)
    return x_ptr, x_idx, np.ones(x_idx.size), y_ptr, y_idx


def _rows(ptr, idx, val, a, b):
    lo, hi = ptr[a], ptr[b]
    return ptr[a:b + 1] - lo, idx[lo:hi], val[lo:hi]


def test_rows_decide_with_the_sums_before_them_whatever_the_batching():
    x_ptr, x_idx, x_val, y_ptr, y_idx = _families()
    n = len(x_ptr) - 1
    whole = RareLabelMemory()
    P = np.zeros((n, 40), dtype=bool)
    whole.apply(P, x_ptr, x_idx, x_val, y_ptr, y_idx, learn=True)
    assert P.sum() > 50  # near-duplicates of a rare label's records get it
    right = sum(P[i, y_idx[y_ptr[i]:y_ptr[i + 1]]].sum() for i in range(n))
    assert right > 0.6 * P.sum()
    parts = RareLabelMemory()
    rows = []
    for a, b in [(0, 1), (1, 37), (37, 38), (38, 200), (200, n)]:
        p = np.zeros((b - a, 40), dtype=bool)
        xs = _rows(x_ptr, x_idx, x_val, a, b)
        ys = (y_ptr[a:b + 1] - y_ptr[a], y_idx[y_ptr[a]:y_ptr[b]])
        parts.apply(p, *xs, *ys, learn=True)
        rows.append(p)
    assert (np.vstack(rows) == P).all()
    for name in ("gain", "add_n", "add_tp", "pos_count", "slot_idx", "slot_val", "ring"):
        assert (getattr(parts, name) == getattr(whole, name)).all(), name


def test_without_near_duplicates_the_base_prediction_is_left_as_it_was():
    rng = np.random.default_rng(2)
    x_rows = [rng.choice(5000, size=20, replace=False) for _ in range(400)]
    y_rows = [[int(rng.integers(30))] for _ in range(400)]
    x_ptr, x_idx = _csr(x_rows)
    y_ptr, y_idx = _csr(y_rows)
    base = rng.random((400, 30)) < 0.05
    pred = base.copy()
    mem = RareLabelMemory()
    mem.apply(pred, x_ptr, x_idx, rng.random(x_idx.size) + 0.1, y_ptr, y_idx, learn=True)
    assert (pred == base).all()
    assert mem.ring[1] > 0 and (mem.gain <= 0).all()


def test_predicting_counts_nothing_and_unknown_labels_count_in_nothing():
    x_ptr, x_idx, x_val, y_ptr, y_idx = _families()
    mem = RareLabelMemory()
    mem.apply(np.zeros((150, 40), bool), *_rows(x_ptr, x_idx, x_val, 0, 150),
              y_ptr[:151], y_idx[:y_ptr[150]], learn=True)
    before = pickle.dumps(mem)
    mem.apply(np.zeros((150, 40), bool), *_rows(x_ptr, x_idx, x_val, 150, 300),
              y_ptr[150:] - y_ptr[150], y_idx[y_ptr[150]:], learn=False)
    assert pickle.dumps(mem) == before  # predicting changed nothing
    # every label of every row unknown: nothing counted, nothing remembered as positive
    fresh = RareLabelMemory()
    empty = np.zeros(301, dtype=np.int64)
    fresh.apply(np.zeros((300, 40), bool), x_ptr, x_idx, x_val, empty,
                np.zeros(0, np.int64), True, y_ptr, y_idx)
    assert fresh.add_n.sum() == 0 and fresh.pos_count.sum() == 0 and fresh.ring[1] == 0


def test_the_ring_forgets_the_oldest_and_labels_stop_being_rare():
    x_ptr, x_idx, x_val, y_ptr, y_idx = _families(n=300)
    mem = RareLabelMemory(slots=8, rare_below=5)
    mem.apply(np.zeros((300, 40), bool), x_ptr, x_idx, x_val, y_ptr, y_idx, learn=True)
    assert mem.ring[1] > 8 and mem.ring[0] == mem.ring[1] % 8
    # a label is remembered only while it has fewer than rare_below positives
    assert mem.ring[1] <= 40 * 5
    # a slot is live exactly while one of its labels is still rare
    live = [any(mem.pos_count[mem.slot_lab[s, j]] < 5 for j in range(mem.slot_nlab[s]))
            for s in range(8)]
    assert 0 < sum(live) < 8 and mem.slot_live.tolist() == live
    with pytest.raises(ValueError):
        RareLabelMemory(grid=(0.9, 0.5))


def _learn_rows(mem, data, a, b, n_labels=40):
    """Rows ``a:b`` of ``data`` through ``mem`` (learning); their predictions."""
    x_ptr, x_idx, x_val, y_ptr, y_idx = data
    p = np.zeros((b - a, n_labels), dtype=bool)
    mem.apply(p, *_rows(x_ptr, x_idx, x_val, a, b), y_ptr[a:b + 1] - y_ptr[a],
              y_idx[y_ptr[a]:y_ptr[b]], learn=True)
    return p


def test_a_memory_pickled_before_the_live_flags_rebuilds_them_and_predicts_the_same():
    data = _families(n=400, seed=9)
    mem = RareLabelMemory()
    _learn_rows(mem, data, 0, 200)
    state = dict(pickle.loads(pickle.dumps(mem)).__dict__)  # arrays of its own
    del state["slot_live"]  # what memories pickled before lack
    restored = RareLabelMemory.__new__(RareLabelMemory)
    restored.__setstate__(state)
    assert mem.slot_live.sum() > 0 and (restored.slot_live == mem.slot_live).all()
    later = _learn_rows(restored, data, 200, 400)
    assert later.sum() > 20 and (later == _learn_rows(mem, data, 200, 400)).all()


@pytest.fixture(scope="module")
def enron():
    path = DATA / "enron" / "enron.arff"
    if not path.exists():
        pytest.skip(f"{path} is missing (see ../shared/data/MANIFEST.md)")
    from stream.readers import open_stream

    return list(open_stream(path))[:900]


def _labels(model, xs):
    return [sorted(k for k, on in model.predict_one(x).items() if on) for x in xs]


def test_ihomer_on_sparse_text_batched_equals_one_by_one_and_pickles(enron):
    one, many = IHOMER(), IHOMER()
    ref = []
    for x, y in enron[:700]:
        ref.append(sorted(k for k, on in one.predict_one(x).items() if on))
        one.learn_one(x, y)
    P, _ = many.predict_learn_many(to_batch(enron[:700], sparse=True))
    names = list(many._labels.keys)
    assert [sorted(names[c] for c in np.flatnonzero(row)) for row in P] == ref
    xs = [x for x, _ in enron[700:]]
    assert _labels(one, xs) == _labels(many, xs)
    assert _labels(pickle.loads(pickle.dumps(one)), xs) == _labels(one, xs)
    assert one._rm.ring[1] > 0  # sparse input: the memory ran

    # the memory gets more labels right than the same model without it (or it pins
    # nothing)
    right = {}
    for memory in (True, False):
        model = IHOMER(rare_memory=memory, neighbours=False)  # the memory's own effect
        right[memory] = 0
        for x, y in enron:
            truth = {k for k, on in y.items() if on}
            right[memory] += len(truth & {k for k, on in model.predict_one(x).items() if on})
            model.learn_one(x, y)
    assert right[True] > right[False]


def test_dense_input_is_left_alone():
    from river import datasets

    records = list(datasets.Yeast().take(300))
    on, off = IHOMER(), IHOMER(rare_memory=False)
    for x, y in records:
        assert on.predict_one(x) == off.predict_one(x)
        on.learn_one(x, y)
        off.learn_one(x, y)
    assert on._rm.ring[1] == 0
