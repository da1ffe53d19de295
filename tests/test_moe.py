"""Mixture of experts: river conventions, batch == record-by-record, determinism, pickling,
memories of recurring regimes, events, the gate against the generalist, the worker."""

import pickle

import numpy as np
import pytest
from river import datasets

from learners.checks import yield_checks
from learners.ihomer import IHOMER
from learners.moe import MixtureOfExperts
from learners.registry import make_learner
from stream.batch import to_batch
from stream.prequential import evaluate
from stream.synthetic import Drift, MultiLabelGenerator


@pytest.mark.parametrize("params", list(MixtureOfExperts._unit_test_params()),
                         ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_passes_the_river_estimator_checks(params):
    model = MixtureOfExperts(**params)
    for check in yield_checks(model):
        check(model.clone())


def synthetic(n, seed=3, **kw):
    gen = MultiLabelGenerator(seed=seed, **kw)
    return [(x, {k: v for k, v in y.items() if v}) for x, y in gen.take(n)]


def assert_equal_paths(records, split, **params):
    """predict_learn_many over two batches == predict_scores_one + learn_one per record."""
    one = MixtureOfExperts(**params)
    outs = []
    for x, y in records:
        outs.append(one.predict_scores_one(x))
        one.learn_one(x, y)
    many = MixtureOfExperts(**params)
    parts = [many.predict_learn_many(to_batch(records[:split], sparse=True)),
             many.predict_learn_many(to_batch(records[split:], sparse=True))]
    assert one.labels_ == many.labels_
    labels = many.labels_
    rows = [(P[i], S[i]) for P, S in parts for i in range(P.shape[0])]
    assert len(rows) == len(outs)
    for (pred, score), (p_row, s_row) in zip(outs, rows):
        assert {k for k, v in pred.items() if v} == {labels[j] for j in np.flatnonzero(p_row)}
        expected = np.array([score.get(lab, 0.0) for lab in labels[:s_row.size]])
        known = ~np.isnan(s_row)  # NaN: the label was not known yet when the row came
        np.testing.assert_allclose(s_row[known], expected[known], rtol=0, atol=1e-12)
    assert one.expert_usage == many.expert_usage
    return one, many


def test_predict_learn_many_equals_one_by_one_on_yeast():
    one, _ = assert_equal_paths(list(datasets.Yeast().take(400)), 150)
    assert sum(one.expert_usage[k] for k in ("generalist", "mixture")) == 400


@pytest.mark.parametrize("params", [{}, {"experts": "task", "n_experts": 2},
                                    {"generalist": False, "n_experts": 3, "top_k": 2}],
                         ids=["data", "task", "no-generalist"])
def test_equal_paths_with_new_labels_restructuring_and_a_recurring_drift(params):
    records = synthetic(700, n_labels=10, new_labels_at={250: 3},
                        drifts=[Drift(300, kind="recurring", duration=200)])
    one, _ = assert_equal_paths(records, 333, **params)
    assert len(one.labels_) == 13
    if params.get("experts") == "task":
        assert len(one.groups) > 1  # the generalist's clusters did restructure


def test_equal_paths_on_sparse_input():
    rng = np.random.default_rng(0)
    records = []
    for _ in range(300):
        words = rng.choice(300, size=6, replace=False)
        y = {"even": bool(words[0] % 2 == 0), "big": bool(words[0] > 150)}
        records.append(({f"w{w}": 1.0 for w in words}, {k: v for k, v in y.items() if v}))
    one, many = assert_equal_paths(records, 111)
    assert one._center is False and many._center is False  # detected as sparse


def test_deterministic_for_a_seed():
    records = synthetic(600, seed=5, n_labels=6,
                        drifts=[Drift(300, kind="recurring", duration=150)])
    batch = to_batch(records, sparse=True)
    a, b = MixtureOfExperts(seed=7), MixtureOfExperts(seed=7)
    Pa, Sa = a.predict_learn_many(batch)
    Pb, Sb = b.predict_learn_many(batch)
    assert np.array_equal(Pa, Pb) and np.array_equal(Sa, Sb, equal_nan=True)
    assert a.pop_events() == b.pop_events()
    # the seed draws the router's initial weights (the experts start equal, so another
    # seed may only relabel the slots)
    assert not np.array_equal(MixtureOfExperts(seed=8)._R2[0],
                              MixtureOfExperts(seed=7)._R2[0])


@pytest.mark.parametrize("experts", ["data", "task"])
def test_pickled_mid_stream_it_carries_on_identically(experts):
    records = synthetic(1200, seed=4, n_labels=8,
                        drifts=[Drift(500, kind="recurring", duration=300)])
    model = MixtureOfExperts(experts=experts)
    model.predict_learn_many(to_batch(records[:650], sparse=True))
    copy = pickle.loads(pickle.dumps(model))
    rest = to_batch(records[650:], sparse=True)
    P1, S1 = model.predict_learn_many(rest)
    P2, S2 = copy.predict_learn_many(rest)
    assert np.array_equal(P1, P2) and np.array_equal(S1, S2, equal_nan=True)
    assert model.pop_events() == copy.pop_events()


def _example_f1(P, names, records) -> np.ndarray:
    out = []
    for i, (_, y) in enumerate(records):
        truth = {k for k, v in y.items() if v}
        pred = {names[j] for j in np.flatnonzero(P[i])}
        size = len(truth) + len(pred)
        out.append(1.0 if size == 0 else 2.0 * len(truth & pred) / size)
    return np.array(out)


def _run_in_chunks(model, records, chunk=250):
    f1, usage, events = [], [], []
    for a in range(0, len(records), chunk):
        part = records[a:a + chunk]
        P, _ = model.predict_learn_many(to_batch(part, sparse=True))
        f1.append(_example_f1(P, model.labels_, part))
        usage.append(dict(getattr(model, "expert_usage", {})))
        if hasattr(model, "pop_events"):
            events += model.pop_events()
    return np.concatenate(f1), usage, events


@pytest.mark.parametrize("seed", [1, 2])
def test_the_router_serves_a_recurring_regime_from_the_expert_that_knew_it(seed):
    """Regime A (records 0-1499), regime B (1500-2999), A again: the expert that served A
    is kept as a memory when B starts, is reactivated when A returns, and the router
    sends A's records to it, well before iHOMER has relearned A."""
    records = synthetic(4500, seed=seed, n_features=10, n_labels=6,
                        drifts=[Drift(1500, kind="recurring", duration=1500)])
    f1, usage, events = _run_in_chunks(MixtureOfExperts(), records)
    own = [e for e in events if not e["action"].startswith("generalist")]
    kept = [e for e in own if e["kind"] == "drift" and 1500 <= e["position"] < 1700]
    assert kept, own
    memory = kept[0]["memory"]
    back = [e for e in own if e["action"] == "memory expert reactivated"
            and 3000 <= e["position"] < 3200]
    assert [e["expert"] for e in back] == [memory]
    # records 3000-3499: the mixture answers (gate open) and its top output is the memory
    after = {k: usage[13][k] - usage[11][k] for k in usage[13]}
    assert after["mixture"] >= 350
    assert after[f"expert_{memory}"] >= 0.9 * after["mixture"]
    f1_ihomer, _, _ = _run_in_chunks(IHOMER(), records)
    assert f1[3000:3500].mean() >= f1_ihomer[3000:3500].mean() + 0.1
    assert abs(f1[:1500].mean() - f1_ihomer[:1500].mean()) < 0.01  # the same before


def test_task_experts_bring_back_a_cluster_memory_for_a_recurring_regime():
    records = synthetic(4500, seed=1, n_features=10, n_labels=6,
                        drifts=[Drift(1500, kind="recurring", duration=1500)])
    model = MixtureOfExperts(experts="task")
    f1, _, events = _run_in_chunks(model, records)
    kept = [e for e in events if e["kind"] == "drift" and "memory" in e
            and 1500 <= e["position"] < 1700]
    back = [e for e in events if e["action"] == "memory expert reactivated"
            and 3000 <= e["position"] < 3200]
    assert kept and back
    assert {(e["group"], e["expert"]) for e in back} <= {(e["group"], e["memory"]) for e in kept}
    assert all(e["labels"] for e in back)  # task events name the cluster's labels
    f1_ihomer, _, _ = _run_in_chunks(IHOMER(), records)
    assert f1[3000:3500].mean() >= f1_ihomer[3000:3500].mean() + 0.1


def test_events_become_local_drift_events_through_the_watcher():
    from drift.watch import StreamWatcher

    records = synthetic(3000, seed=2, n_features=10, n_labels=6,
                        drifts=[Drift(1500, kind="recurring", duration=1000)])
    res = evaluate(records, MixtureOfExperts(), report_every=0,
                   watch=StreamWatcher("none", learner="moe"))
    local = [e for e in res.events if e["level"] == "local"]
    kinds = {(e["kind"], e["details"]["action"]) for e in local}
    assert ("drift", "expert failing: a copy kept as a memory") in kinds
    assert ("replacement", "memory expert reactivated") in kinds
    assert all(e["detector"] == "moe.structure" and e["learner"] == "moe" for e in local)
    assert all(e["position"] >= 1500 for e in local
               if not e["details"]["action"].startswith("generalist"))


def test_the_gate_keeps_a_stationary_stream_at_the_generalists_level():
    """On a stationary stream the mixture answers only when measurably better, so it
    ends within noise of iHOMER alone."""
    records = list(datasets.Yeast().take(1200))
    moe = evaluate(records, MixtureOfExperts(), report_every=0).summary
    ihomer = evaluate(records, IHOMER(), report_every=0).summary
    assert moe["example_f1"] >= ihomer["example_f1"] - 0.01


def test_registry_builds_it_with_the_seed_and_it_validates_parameters():
    model = make_learner("moe", seed=5)
    assert isinstance(model, MixtureOfExperts) and model.seed == 5
    assert make_learner("moe").seed == 0
    task = make_learner("moe-task", seed=3)
    assert task.experts == "task" and task.seed == 3
    with pytest.raises(ValueError, match="experts"):
        MixtureOfExperts(experts="tasks")
    with pytest.raises(ValueError, match="generalist"):
        MixtureOfExperts(experts="task", generalist=False)
    with pytest.raises(ValueError, match="top_k"):
        MixtureOfExperts(top_k=0)


def test_predict_many_matches_predict_one_and_learns_nothing():
    records = synthetic(500, seed=6, n_labels=6)
    model = MixtureOfExperts()
    model.learn_many(to_batch(records[:400], sparse=True))
    state = pickle.dumps(model)
    P, S = model.predict_scores_many(to_batch(records[400:], sparse=True))
    assert pickle.dumps(model) == state
    names = model.labels_
    for i, (x, _) in enumerate(records[400:]):
        pred, scores = model.predict_scores_one(x)
        assert {k for k, v in pred.items() if v} == {names[j] for j in np.flatnonzero(P[i])}
        assert np.allclose(S[i], [scores[k] for k in names[:S.shape[1]]], atol=1e-12)
