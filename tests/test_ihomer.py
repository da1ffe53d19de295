"""iHOMER: river conventions, batch == record-by-record, determinism, growth, structure."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from river import datasets

from learners.checks import yield_checks
from learners.ihomer import IHOMER
from stream.batch import to_batch
from stream.prequential import evaluate
from stream.synthetic import Drift, MultiLabelGenerator

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"benchmark data not found at {DATA}")


@pytest.mark.parametrize("params", list(IHOMER._unit_test_params()),
                         ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_passes_the_river_estimator_checks(params):
    model = IHOMER(**params)
    for check in yield_checks(model):
        check(model.clone())


def run_both(records, split=150, **params):
    one = IHOMER(**params)
    outs = []
    for x, y in records:
        outs.append(one.predict_scores_one(x))
        one.learn_one(x, y)
    many = IHOMER(**params)
    P1, S1 = many.predict_learn_many(to_batch(records[:split], sparse=True))
    P2, S2 = many.predict_learn_many(to_batch(records[split:], sparse=True))
    return one, many, outs, [(P1, S1), (P2, S2)]


def assert_same(one, many, outs, parts):
    assert one.labels_ == many.labels_
    labels = many.labels_
    rows = [(P[i], S[i]) for P, S in parts for i in range(P.shape[0])]
    for (pred, score), (p_row, s_row) in zip(outs, rows):
        assert {k for k, v in pred.items() if v} == {labels[j] for j in np.flatnonzero(p_row)}
        expected = np.array([score.get(lab, 0.0) for lab in labels[:s_row.size]])
        known = ~np.isnan(s_row)  # NaN: the label had no model yet when the row came
        np.testing.assert_allclose(s_row[known], expected[known], rtol=0, atol=1e-12)
        assert np.all(expected[~known] == 0.0)


def synthetic(n, seed=3, **kw):
    gen = MultiLabelGenerator(n_labels=10, seed=seed, **kw)
    return [(x, {k: v for k, v in y.items() if v}) for x, y in gen.take(n)]


def test_predict_learn_many_equals_predict_then_learn_one_by_one():
    assert_same(*run_both(list(datasets.Yeast().take(450))))


def test_equal_paths_when_labels_appear_mid_stream_and_clusters_restructure():
    records = synthetic(600, new_labels_at={250: 3})
    one, many, outs, parts = run_both(records, split=333, restructure_every=50, history=300,
                                      max_classes=4)
    assert_same(one, many, outs, parts)
    assert one.n_clusters > 1  # the hierarchy did restructure on the way


def test_equal_paths_on_sparse_input():
    rng = np.random.default_rng(0)
    records = []
    for _ in range(300):
        words = rng.choice(300, size=6, replace=False)
        y = {"even": bool(words[0] % 2 == 0), "big": bool(words[0] > 150)}
        records.append(({f"w{w}": 1.0 for w in words}, {k: v for k, v in y.items() if v}))
    one, many, outs, parts = run_both(records)
    assert_same(one, many, outs, parts)
    assert one._center is False and many._center is False  # detected as sparse


def test_evaluate_gives_identical_metrics_on_both_paths():
    records = synthetic(700, new_labels_at={300: 2})
    a = evaluate(records, IHOMER(restructure_every=100), batch_size=1, window_size=150)
    b = evaluate(records, IHOMER(restructure_every=100), batch_size=64, window_size=150)
    for key, value in a.summary.items():
        if key in ("seconds", "instances_per_second"):
            continue
        assert value == pytest.approx(b.summary[key], rel=1e-9, abs=1e-12, nan_ok=True), key
    assert len(a.history) == len(b.history)
    for ra, rb in zip(a.history, b.history):
        for key in ra:
            assert ra[key] == pytest.approx(rb[key], rel=1e-9, abs=1e-12, nan_ok=True), key


def test_pickle_mid_stream_then_continue_is_deterministic():
    records = list(datasets.Yeast().take(500))
    model = IHOMER(restructure_every=50)
    for x, y in records[:250]:
        model.learn_one(x, y)
    clone = pickle.loads(pickle.dumps(model))
    for x, y in records[250:]:
        assert model.predict_scores_one(x) == clone.predict_scores_one(x)
        model.learn_one(x, y)
        clone.learn_one(x, y)


def test_learns_better_than_no_change_and_follows_a_sorted_stream():
    res = evaluate(datasets.Yeast(), IHOMER(), report_every=0)
    s = res.summary
    assert s["example_f1"] > s["no_change_example_f1"] + 0.1
    # a stream sorted by label set: repeating the last set is right most of the time,
    # and the model must find that out by itself
    records = sorted(datasets.Yeast().take(1500), key=lambda r: sorted(k for k, v in r[1].items()
                                                                       if v))
    res = evaluate(records, IHOMER(), report_every=0)
    assert res.summary["example_f1"] >= res.summary["no_change_example_f1"] - 0.01


def test_recovers_known_label_groups_on_a_synthetic_stream():
    gen = MultiLabelGenerator(n_labels=12, n_clusters=4, cardinality=3.0, seed=7, noise=0.2)
    model = IHOMER(max_classes=6, restructure_every=200)
    for x, y in gen.take(4000):
        model.learn_one(x, y)
    truth = {frozenset(g) for g in gen.label_groups(3999)}
    found = [frozenset(c) for c in model.clusters()]
    assert model.n_clusters > 1
    # every cluster found lies inside one true group (splits never mix groups)
    assert all(any(c <= g for g in truth) for c in found), (found, truth)


def test_structure_changes_are_reported_as_events():
    gen = MultiLabelGenerator(n_labels=12, n_clusters=4, cardinality=3.0, seed=1,
                              drifts=[Drift(position=3000, target="correlation")])
    model = IHOMER(max_classes=6, restructure_every=200)
    events = []
    for x, y in gen.take(6000):
        model.learn_one(x, y)
        events += model.pop_events()
    restructures = [e for e in events if e["kind"] == "restructure"]
    assert restructures and {"position", "action", "labels", "clusters"} <= set(restructures[0])
    assert any(e["position"] > 3000 for e in restructures)  # it restructured after the drift


def test_new_labels_mid_stream_are_learned():
    records = synthetic(3000, new_labels_at={1000: 2})
    model = IHOMER()
    late = set()
    for i, (x, y) in enumerate(records):
        if i > 2500:
            late |= {k for k, v in model.predict_one(x).items() if v}
        model.learn_one(x, y)
    new = set(model.labels_) - {k for _, y in records[:1000] for k in y}
    assert new and new & late  # the labels that arrived later are predicted


@needs_data
def test_runs_the_sparse_159_label_bibtex_stream_with_bounded_memory():
    from stream.readers import open_stream

    reader = open_stream(DATA / "bibtex" / "bibtex.arff")
    model = IHOMER()
    res = evaluate(reader, model, limit=1500, report_every=0)
    assert res.summary["instances"] == 1500
    assert res.summary["example_f1"] > res.summary["no_change_example_f1"]
    assert model.memory_usage() < 200 * 2**20


def test_predict_many_and_learn_many_match_the_one_record_methods():
    records = list(datasets.Yeast().take(400))
    one, many = IHOMER(), IHOMER()
    for x, y in records[:300]:
        one.learn_one(x, y)
    many.learn_many(to_batch(records[:300], sparse=True))
    batch = to_batch(records[300:], sparse=False)
    P, S = many.predict_scores_many(batch)
    assert one.labels_ == many.labels_
    for i, (x, _) in enumerate(records[300:]):
        pred, score = one.predict_scores_one(x)
        assert {k for k, v in pred.items() if v} == {
            one.labels_[j] for j in np.flatnonzero(P[i])}
        np.testing.assert_allclose(S[i], [score[k] for k in one.labels_], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(many.predict_many(batch), P)


def test_local_drift_grows_an_alternate_that_replaces_the_cluster_learner():
    gen = MultiLabelGenerator(n_features=20, n_labels=8, seed=3,
                              drifts=[Drift(position=4000, target="p_y_given_x")])
    records = list(gen.take(8000))
    model = IHOMER()
    events = []
    for x, y in records:
        model.learn_one(x, y)
        events += model.pop_events()
    local = [e for e in events if e["kind"] in ("warning", "replacement")]
    assert not [e for e in local if e["position"] < 4000], local
    started = [e["position"] for e in local if e["action"] == "alternate started"]
    replaced = [e["position"] for e in local if e["kind"] == "replacement"]
    assert started and started[0] < 4500 and replaced and replaced[0] < 5000, local
    # and it pays: after the drift the model recovers faster than without local drift
    after = {}
    for flag in (True, False):
        res = evaluate(records, IHOMER(local_drift=flag, neighbours=False), report_every=500,
                       window_size=500)
        after[flag] = [r["window_example_f1"] for r in res.history if r["records"] == 5000][0]
    assert after[True] > after[False] + 0.1, after


# --- the instance-space router (global learner) ------------------------------------------


def region_stream(n, seed=0, n_features=6):
    """Labels whose distribution depends on the region of instance space.

    Three bands of ``x0`` (cut at -0.5 and 0.5), the upper band split by the sign of
    ``x1``: each of the four regions has its own frequent labels (0.85, others 0.05), so
    a label can be frequent in the low and high bands and rare in between, which no
    linear model of ``x`` can express. Label ``y7`` is linear in ``x2`` everywhere.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    region = np.where(X[:, 0] < -0.5, 0, np.where(X[:, 0] < 0.5, 1,
                                                  np.where(X[:, 1] < 0, 2, 3)))
    profile = np.full((4, 8), 0.05)
    for r, frequent in enumerate(([0, 1, 2], [3, 4], [0, 5], [1, 3, 6])):
        profile[r, frequent] = 0.85
    Y = rng.random((n, 8)) < profile[region]
    Y[:, 7] = X[:, 2] + 0.3 * rng.standard_normal(n) > 0
    return [({f"x{j}": float(v) for j, v in enumerate(x)},
             {f"y{l}": True for l in np.flatnonzero(y)}) for x, y in zip(X, Y)]


def test_router_tree_splits_on_the_regions_and_lifts_the_model_there():
    records = region_stream(12_000)
    scores = {}
    for leaves in (32, 1):  # the default router, and a router that may not split
        model = IHOMER(tree_max_leaves=leaves, neighbours=False)  # the router alone
        res = evaluate(records, model, report_every=4000, window_size=4000)
        scores[leaves] = res.history[-1]["window_example_f1"]  # records 8,000-12,000
        if leaves > 1:
            tree = model._tree
            assert tree.n_leaves >= 4
            first = tree.splits()[0]
            assert first[0] == "x0" and first[2] == 0  # the root splits on the band variable
            assert {"x0", "x1"} <= {f for f, _, _ in tree.splits()}
    # measured: 0.862 with the router against 0.653 without it
    assert scores[32] > 0.83 and scores[32] > scores[1] + 0.15, scores


SPLITTY_ROUTER = {"tree_grace_period": 20, "tree_tau": float("inf"), "tree_max_leaves": 8}


def test_equal_paths_when_the_router_tree_splits():
    records = region_stream(700, seed=1)
    one, many, outs, parts = run_both(records, split=333, restructure_every=100,
                                      **SPLITTY_ROUTER)
    assert one._tree.n_leaves == many._tree.n_leaves == 8
    np.testing.assert_array_equal(one._node_score, many._node_score)
    assert_same(one, many, outs, parts)


def test_pickle_mid_stream_with_a_split_router_then_continue_is_deterministic():
    records = region_stream(600, seed=2)
    model = IHOMER(**SPLITTY_ROUTER)
    for x, y in records[:300]:
        model.learn_one(x, y)
    assert model._tree.n_leaves > 1
    clone = pickle.loads(pickle.dumps(model))
    assert clone._tree._features is clone._features  # the router still shares the columns
    for x, y in records[300:]:
        assert model.predict_scores_one(x) == clone.predict_scores_one(x)
        model.learn_one(x, y)
        clone.learn_one(x, y)
    assert model._tree.n_leaves == clone._tree.n_leaves == 8


def test_a_new_region_starts_from_its_parents_expert_scores():
    records = region_stream(400, seed=3)
    model = IHOMER(**SPLITTY_ROUTER)
    started = 0
    for x, y in records:
        parents = model._tree.node_parents.copy()
        scores, ready = model._node_score.copy(), model._node_ready.copy()
        model.learn_one(x, y)
        for v in np.flatnonzero(model._node_ready & ~ready):
            # the node's first record: its parent's scores, faded, plus one F1 in [0, 1]
            # per expert; the parent's own scores stay as they were
            gain = model._node_score[v] - model.expert_fade * scores[parents[v]]
            assert np.all((gain >= -1e-12) & (gain <= 1 + 1e-12)), gain
            np.testing.assert_array_equal(model._node_score[parents[v]], scores[parents[v]])
            started += 1
    assert started >= 4


# --- extreme label spaces ------------------------------------------------------------------


def topic_stream(n, n_labels, topic_size=5, labels_kept=0.8, n_features=8, seed=0):
    """Records drawn from ``n_labels // topic_size`` topics: features near the topic's
    prototype, labels of the topic each kept with probability ``labels_kept``."""
    rng = np.random.default_rng(seed)
    topics = rng.permutation(n_labels).reshape(-1, topic_size)
    proto = rng.standard_normal((len(topics), n_features))
    records = []
    for t in rng.integers(len(topics), size=n):
        x = proto[t] + 0.5 * rng.standard_normal(n_features)
        on = topics[t][rng.random(topic_size) < labels_kept]
        records.append(({f"x{j}": float(v) for j, v in enumerate(x)},
                        {f"tag{lab}": True for lab in on.tolist()}))
    return records


def test_equal_paths_at_the_cluster_cap_with_sparse_bisection():
    records = topic_stream(500, 120, seed=4)
    params = dict(max_clusters=4, restructure_every=50, history=300, max_classes=4)
    one, many = IHOMER(**params), IHOMER(**params)
    for model in (one, many):  # clusters above 6 labels are bisected on the sparse graph
        model._hierarchy.dense_limit = 6
    outs = []
    for x, y in records:
        outs.append(one.predict_scores_one(x))
        one.learn_one(x, y)
    parts = [many.predict_learn_many(to_batch(records[:222], sparse=True)),
             many.predict_learn_many(to_batch(records[222:], sparse=True))]
    assert_same(one, many, outs, parts)
    assert one.n_clusters == many.n_clusters and one.n_clusters <= 4 + 1
    assert one.clusters() == many.clusters()


def test_a_ten_thousand_label_stream_keeps_tables_linear_in_the_labels():
    records = topic_stream(500, 20_000, topic_size=40, labels_kept=0.6, seed=5)
    model = IHOMER()
    res = evaluate(records, model, report_every=0, top_k=())
    L = res.summary["labels"]
    assert L > 8000  # labels keep arriving: most records bring new ones
    assert model.n_clusters <= model.max_clusters + 1
    assert model.n_classes <= model.max_clusters * model.max_classes
    assert model._class_lab.shape[1] <= 64  # label lists as long as a label set, not L
    # dense L x L state (the previous-label weights alone, with their AdaGrad sums, at
    # two learning rates) would take 4 * 8 * L**2 bytes, ~1.3 GB here
    assert model.memory_usage() < 250 * 2**20, model.memory_usage()
    assert res.summary["example_f1"] > res.summary["no_change_example_f1"]


def test_the_router_grows_exactly_as_a_tree_learning_alone():
    # iHOMER holds rows back while its tree is a lone root that cannot split yet and
    # teaches them later in one call: the tree must end up as if it learned each row
    # at once, as a standalone tree does
    from learners.ml_tree import MultiLabelHoeffdingTree

    records = region_stream(3000, seed=6)
    model = IHOMER()
    alone = MultiLabelHoeffdingTree(grace_period=model.tree_grace_period,
                                    delta=model.tree_delta, tau=model.tree_tau,
                                    max_leaves=model.tree_max_leaves,
                                    max_bytes=model.tree_max_bytes)
    model.learn_many(to_batch(records, sparse=False))
    for x, y in records:
        alone.learn_one(x, y)
    assert alone.n_leaves > 2
    assert model._tree.splits() == alone.splits()
    assert model._tree.n_leaves == alone.n_leaves


def test_a_model_saved_before_the_router_existed_is_refused_clearly():
    model = IHOMER()
    state = dict(model.__dict__)
    del state["_tree"]
    fresh = IHOMER.__new__(IHOMER)
    with pytest.raises(ValueError, match="older version"):
        fresh.__setstate__(state)
