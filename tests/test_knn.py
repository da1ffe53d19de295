"""The streaming nearest-neighbour learner (learners/knn.py): batched == one by one on
real dev files (dense and sparse), unknown labels, pickling, the memory bound."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from learners.knn import KNN
from learners.registry import make_learner
from stream.batch import to_batch
from stream.prequential import PrequentialEvaluator
from stream.readers import open_stream

DATA = Path(os.environ.get("LABELSTREAM_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data"))


def _records(rel: str, n: int):
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"{path} not here")
    reader = open_stream(path)
    out = []
    for rec in reader:
        out.append(rec)
        if len(out) == n:
            break
    return out


def _one_by_one(model, records):
    preds, scores = [], []
    for x, y in records:
        p, s = model.predict_scores_one(x)
        preds.append(p)
        scores.append(s)
        model.learn_one(x, y)
    return preds, scores


def _batched(model, records, size):
    preds, scores = [], []
    for a in range(0, len(records), size):
        P, S = model.predict_learn_many(to_batch(records[a:a + size], sparse=True))
        names = model.labels_
        for i in range(P.shape[0]):
            preds.append({names[j]: bool(P[i, j]) for j in range(P.shape[1])
                          if not np.isnan(S[i, j])})
            scores.append({names[j]: float(S[i, j]) for j in range(S.shape[1])
                           if not np.isnan(S[i, j])})
    return preds, scores


def _same(one, many):
    p1, s1 = one
    p2, s2 = many
    assert len(p1) == len(p2)
    for a, b, sa, sb in zip(p1, p2, s1, s2):
        assert {k for k, v in a.items() if v} == {k for k, v in b.items() if v}
        for k, v in sa.items():
            if k in sb:
                assert sb[k] == pytest.approx(v, abs=1e-12)


@pytest.mark.parametrize("rel, n, dense", [("emotions/emotions.arff", 150, True),
                                           ("medical/medical.arff", 150, False)])
def test_batched_equals_one_by_one(rel, n, dense):
    records = _records(rel, n)
    one, many = KNN(window_size=60, k=5), KNN(window_size=60, k=5)
    _same(_one_by_one(one, records), _batched(many, records, 37))
    assert one._center is dense and many._center is dense
    assert one.threshold == many.threshold
    assert one.n_window == 60 and one.n_learned == n
    # and the model predicts something sensible after the window filled
    assert any(v for v in one.predict_one(records[-1][0]).values())


def test_unknown_labels_skipped():
    records = _records("emotions/emotions.arff", 80)
    names = sorted(records[0][1])
    hidden = names[0]
    masked = [(x, {k: (None if k == hidden and i % 2 else v) for k, v in y.items()})
              for i, (x, y) in enumerate(records)]
    one, many = KNN(window_size=40, k=5), KNN(window_size=40, k=5)
    _same(_one_by_one(one, masked), _batched(many, masked, 25))
    col = one._labels[hidden]
    W = one.n_window
    assert one._r_u[:W, col].sum() == W // 2  # every other record: unknown
    assert not (one._r_u[:W, col] & one._r_y[:W, col]).any()
    # a label unknown on every record of the window gets no vote (score 0)
    all_hidden = [(x, {k: (None if k == hidden else v) for k, v in y.items()})
                  for x, y in records[:40]]
    m = KNN(window_size=40, k=5)
    m.learn_one(*records[0])  # registers the label with one positive/negative record
    for x, y in all_hidden:
        m.learn_one(x, y)
    assert m.predict_scores_one(records[41][0])[1][hidden] == 0.0


def test_prequential_batched_equals_record_by_record():
    records = _records("medical/medical.arff", 120)
    a = PrequentialEvaluator(KNN(window_size=50), window_size=100)
    b = PrequentialEvaluator(KNN(window_size=50), window_size=100)
    for x, y in records:
        a.process_one(x, y)
    for i in range(0, len(records), 64):
        b.process_many(records[i:i + 64])
    sa, sb = a.summary(), b.summary()
    assert sa["example_f1"] == pytest.approx(sb["example_f1"], abs=1e-12)
    assert sa["micro_f1"] == pytest.approx(sb["micro_f1"], abs=1e-12)
    assert sa["example_f1"] > sa["no_change_example_f1"]


def test_pickle_round_trip():
    records = _records("emotions/emotions.arff", 120)
    model = KNN(window_size=50)
    for x, y in records[:100]:
        model.learn_one(x, y)
    clone = pickle.loads(pickle.dumps(model))
    for x, y in records[100:]:
        assert clone.predict_scores_one(x) == model.predict_scores_one(x)
        clone.learn_one(x, y)
        model.learn_one(x, y)
    assert clone.threshold == model.threshold


def test_memory_bounded_by_window():
    records = _records("medical/medical.arff", 400)
    model = KNN(window_size=50)
    for x, y in records[:200]:
        model.learn_one(x, y)
    at_200 = model.memory_usage()
    for x, y in records[200:]:
        model.learn_one(x, y)
    assert model.n_window == 50 and model.n_learned == 400
    W = 50
    assert model._r_idx.shape[0] == W and model._r_y.shape[0] == W
    # only the widest row, new features and new labels may grow it, never the records
    widest = max(len(x) for x, _ in records)
    d = len(model._features)
    bound = W * (2 * widest * 16 + 2 * 2 * len(model.labels_)) + 6 * 8 * d
    bound += 2 * d * W * 4 + W * 16  # the float32 feature-major table (doubling), norms
    assert at_200 <= model.memory_usage() <= bound + 4096


def test_registry_and_empty_prediction():
    model = make_learner("knn")
    assert isinstance(model, KNN)
    assert model.predict_one({"a": 1.0}) == {}
    model.learn_one({"a": 1.0}, {"u": True, "v": False})
    assert model.predict_scores_one({"a": 1.0}) == ({"u": True, "v": False},
                                                   {"u": 1.0, "v": 0.0})
    with pytest.raises(ValueError):
        KNN(metric="manhattan")


def _without_table(model):
    model._rt = np.full((0, 0), np.nan)
    return model


@pytest.mark.parametrize("rel, n", [("yeast/yeast.arff", 400), ("medical/medical.arff", 300),
                                    ("flags/flags.arff", 194)])
def test_table_equals_rows(rel, n):
    """The float32 screen over the feature-major table, then the exact measure of the
    slots it cannot rule out, finds exactly the neighbours (and so the votes and
    thresholds) of the float64 CSR rows, through window turnover and rescaling."""
    records = _records(rel, n)
    p_table, s_table = _batched(KNN(window_size=60), records, 64)
    p_rows, s_rows = _batched(_without_table(KNN(window_size=60)), records, 64)
    assert p_table == p_rows
    assert s_table == s_rows


def test_screen_is_exact_on_hard_input():
    """A mean far from zero (the float32 scaling loses digits), records at the means (a zero
    norm), missing features, duplicates and near-ties: the screened table still gives the
    rows' neighbours exactly."""
    rng = np.random.default_rng(3)
    records = []
    for t in range(400):
        x = {f"f{j}": float(rng.normal()) for j in range(6)}
        x["far"] = 1.0e6 + float(rng.normal())  # a mean 10^6 standard deviations out
        x["big"] = 5.0e4 * float(rng.normal())
        if t % 7 == 0:
            x = {}  # every feature missing: at the means, a zero norm
        if t % 5 == 0:
            x.pop("f1", None)  # missing: sits at its mean
        if t % 11 == 0 and records:
            x = dict(records[-1][0])  # a duplicate: a tie
        y = {"a": x.get("f0", 0.0) > 0, "b": x.get("f2", 0.0) > 0.5, "c": t % 3 == 0}
        records.append((x, y))
    p_table, s_table = _batched(KNN(window_size=50, k=5), records, 32)
    p_rows, s_rows = _batched(_without_table(KNN(window_size=50, k=5)), records, 32)
    assert p_table == p_rows
    assert s_table == s_rows


def test_wide_stream_drops_the_table_and_old_pickles_rebuild_it():
    records = _records("medical/medical.arff", 300)
    model = KNN(window_size=40)
    model.TABLE_BYTES = 40 * 4 * 512  # room for 512 features: dropped on the way
    for x, y in records[:200]:
        model.learn_one(x, y)
        if model._table:
            assert len(model._features) <= 512
    assert not model._table and model._rt.size == 0 and len(model._features) > 512
    narrow = KNN(window_size=40)
    for x, y in records[:200]:
        narrow.learn_one(x, y)
    state = pickle.loads(pickle.dumps(narrow)).__dict__
    del state["_rt"], state["_r_norm2"]  # as pickled before the table
    old = KNN.__new__(KNN)
    old.__setstate__(state)
    assert old._table and np.array_equal(old._r_norm2, narrow._r_norm2)
    d = len(narrow._features)
    assert np.array_equal(old._rt[:d], narrow._rt[:d], equal_nan=True)
    for x, y in records[200:]:
        assert old.predict_scores_one(x) == narrow.predict_scores_one(x)
        assert model.predict_scores_one(x)[0] == narrow.predict_scores_one(x)[0]
        for m in (old, narrow, model):
            m.learn_one(x, y)
