"""Tests of the synthetic multi-label stream (stream/synthetic.py).

Every drift test measures the promised effect on generated data (a small online logistic
regression per label, label prevalences, the pairwise Jaccard matrix, feature moments),
and checks the generator's own account of it (concept ids, label groups, true
probabilities).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from stream.synthetic import Drift, MultiLabelGenerator

# ---------------------------------------------------------------- helpers


def sgd_logistic(X, Y, W=None, lr=0.05, epochs=1):
    """Plain online logistic regression, one model per label; returns (L, D + 1) weights."""
    Xb = np.hstack([X, np.ones((len(X), 1))])
    W = np.zeros((Y.shape[1], Xb.shape[1])) if W is None else W.copy()
    Yf = Y.astype(np.float64)
    for _ in range(epochs):
        for x, y in zip(Xb, Yf):
            p = 1.0 / (1.0 + np.exp(-(W @ x)))
            W += lr * np.outer(y - p, x)
    return W


def predict(W, X):
    return np.hstack([X, np.ones((len(X), 1))]) @ W.T > 0


def example_f1(Y, P):
    """Mean per-record F1; a record with no true and no predicted label scores 1."""
    inter = (Y & P).sum(1)
    denom = Y.sum(1) + P.sum(1)
    return float(np.mean(np.where(denom == 0, 1.0, 2.0 * inter / np.maximum(denom, 1))))


def jaccard(Y):
    Yf = Y.astype(np.float64)
    C = Yf.T @ Yf
    d = np.diag(C)
    union = d[:, None] + d[None, :] - C
    return np.divide(C, union, out=np.zeros_like(C), where=union > 0)


def group_jaccards(J, groups, labels):
    """Mean Jaccard of label pairs within the same group and across groups."""
    col = {name: i for i, name in enumerate(labels)}
    member = {}
    for g, group in enumerate(groups):
        for name in group:
            member[col[name]] = g
    within, across = [], []
    idx = sorted(member)
    for a in idx:
        for b in idx:
            if a < b:
                (within if member[a] == member[b] else across).append(J[a, b])
    return float(np.mean(within)), float(np.mean(across))


def oracle_loglik(gen, X, Y, concept):
    """Per-record log-likelihood of Y given X under one concept's true P(y | x)."""
    P = np.clip(gen.label_probabilities(X, concept), 1e-9, 1 - 1e-9)
    return np.where(Y, np.log(P), np.log1p(-P)).sum(1)


# ---------------------------------------------------------------- records and seeds


def test_records_have_named_dense_features_and_every_label():
    gen = MultiLabelGenerator(n_features=5, n_labels=3, n_clusters=1, seed=0)
    records = list(gen.take(50))
    assert len(records) == 50
    for x, y in records:
        assert list(x) == ["x0", "x1", "x2", "x3", "x4"]
        assert all(type(v) is float for v in x.values())
        assert list(y) == ["l0", "l1", "l2"]
        assert all(type(v) is bool for v in y.values())
    assert gen.features == ["x0", "x1", "x2", "x3", "x4"]
    assert gen.labels == ["l0", "l1", "l2"]


def test_same_seed_same_stream_and_reiterable():
    drifts = [Drift(1000, kind="gradual", width=500), Drift(3000, target="correlation")]
    a = MultiLabelGenerator(seed=7, drifts=drifts)
    b = MultiLabelGenerator(seed=7, drifts=drifts)
    first = list(a.take(4500))
    assert first == list(b.take(4500))
    assert first == list(a.take(4500))  # a second pass restarts from the seed
    other = list(MultiLabelGenerator(seed=8, drifts=drifts).take(100))
    assert other != first[:100]
    assert MultiLabelGenerator(seed=7).label_groups(0) == a.label_groups(0)


def test_seed_none_is_fixed_at_construction():
    gen = MultiLabelGenerator(seed=None)
    assert list(gen.take(20)) == list(gen.take(20))
    assert gen.seed is None


def test_arrays_match_the_record_stream():
    gen = MultiLabelGenerator(n_features=4, n_labels=5, seed=3, new_labels_at={2100: 2})
    n = 2500  # crosses a block boundary and the appearance of the new labels
    X, Y = gen.arrays(n)
    records = list(gen.take(n))
    assert X.shape == (n, 4) and Y.shape == (n, 7)
    np.testing.assert_array_equal(X, [[x[f] for f in gen.features] for x, _ in records])
    np.testing.assert_array_equal(
        Y, [[y.get(label, False) for label in gen.labels] for _, y in records]
    )


def test_n_records_bounds_the_stream():
    gen = MultiLabelGenerator(seed=1, n_records=3000)
    assert sum(1 for _ in gen) == 3000
    assert len(gen.arrays(10_000)[0]) == 3000
    assert list(MultiLabelGenerator(seed=1, n_records=0)) == []


def test_records_before_the_first_drift_do_not_depend_on_the_drifts():
    plain = MultiLabelGenerator(seed=5)
    drifting = MultiLabelGenerator(seed=5, drifts=[Drift(3000, target="p_x")])
    X0, Y0 = plain.arrays(4000)
    X1, Y1 = drifting.arrays(4000)
    np.testing.assert_array_equal(X0[:3000], X1[:3000])
    np.testing.assert_array_equal(Y0[:3000], Y1[:3000])
    assert not np.allclose(X0[3000:], X1[3000:])


# ---------------------------------------------------------------- label structure


@pytest.mark.parametrize(
    "n_labels,cardinality,n_clusters", [(8, 2.0, 3), (12, 3.5, 4), (6, 1.2, 2)]
)
def test_cardinality_close_to_requested(n_labels, cardinality, n_clusters):
    gen = MultiLabelGenerator(
        n_labels=n_labels, cardinality=cardinality, n_clusters=n_clusters, seed=2
    )
    _, Y = gen.arrays(20_000)
    assert abs(Y.sum(1).mean() - cardinality) < 0.05 * cardinality + 0.03
    np.testing.assert_allclose(Y.mean(0), list(gen.prevalence.values()), atol=0.015)


def test_labels_cooccur_within_groups_and_not_across():
    gen = MultiLabelGenerator(n_labels=9, n_clusters=3, seed=4)
    groups = gen.label_groups(0)
    assert len(groups) == 3
    assert sorted(len(g) for g in groups) == [3, 3, 3]
    assert set().union(*groups) == set(gen.labels)
    _, Y = gen.arrays(20_000)
    within, across = group_jaccards(jaccard(Y), groups, gen.labels)
    assert within > 0.45
    assert within > 3 * across


def test_labels_are_learnable_from_features():
    gen = MultiLabelGenerator(seed=6)
    X, Y = gen.arrays(7000)
    W = sgd_logistic(X[:5000], Y[:5000])
    learned = example_f1(Y[5000:], predict(W, X[5000:]))
    # Prior baseline: always predict the round(cardinality) most frequent labels.
    top = np.argsort(-Y[:5000].mean(0))[: round(gen.cardinality)]
    prior = np.zeros_like(Y[5000:])
    prior[:, top] = True
    baseline = example_f1(Y[5000:], prior)
    assert learned > 0.65
    assert learned > baseline + 0.3


# ---------------------------------------------------------------- drift targets


def test_sudden_p_y_given_x_drift_hurts_an_old_model_but_not_the_marginals():
    gen = MultiLabelGenerator(seed=11, drifts=[Drift(6000)])
    assert gen.drift_positions == [6000]
    assert [gen.concept_at(t) for t in (0, 5999, 6000, 10**6)] == [0, 0, 1, 1]
    X, Y = gen.arrays(9000)
    W = sgd_logistic(X[:5000], Y[:5000])
    before = example_f1(Y[5000:6000], predict(W, X[5000:6000]))
    after = example_f1(Y[6000:7000], predict(W, X[6000:7000]))
    assert before > 0.65
    assert after < before - 0.3
    np.testing.assert_allclose(Y[:6000].mean(0), Y[6000:].mean(0), atol=0.03)
    # Same groups, same co-occurrence; only the mapping moved.
    assert gen.label_groups(0) == gen.label_groups(6000)
    assert np.abs(jaccard(Y[:6000]) - jaccard(Y[6000:])).max() < 0.08
    # The true probabilities differ on the same inputs, and the new model is learnable.
    assert (
        np.abs(gen.label_probabilities(X[:500], 0) - gen.label_probabilities(X[:500], 1)).mean()
        > 0.2
    )
    W2 = sgd_logistic(X[6000:8000], Y[6000:8000], W=W)
    assert example_f1(Y[8000:], predict(W2, X[8000:])) > 0.6


def test_sudden_correlation_drift_regroups_labels_and_keeps_prevalences():
    gen = MultiLabelGenerator(
        n_labels=9, n_clusters=3, seed=12, drifts=[Drift(10_000, target="correlation")]
    )
    old, new = gen.label_groups(0), gen.label_groups(10_000)
    assert old != new
    assert all(len(a & b) <= 1 for a in old for b in new)  # no co-occurring pair survives
    _, Y = gen.arrays(20_000)
    J0, J1 = jaccard(Y[:10_000]), jaccard(Y[10_000:])
    off = ~np.eye(9, dtype=bool)
    assert np.abs(J0 - J1)[off].mean() > 0.15
    assert np.abs(J0 - J1)[off].max() > 0.4
    np.testing.assert_allclose(Y[:10_000].mean(0), Y[10_000:].mean(0), atol=0.02)
    # The reported groups describe the data on each side of the drift.
    for J, groups in ((J0, old), (J1, new)):
        within, across = group_jaccards(J, groups, gen.labels)
        assert within > 3 * across
    # And they are not the other side's groups.
    within_new_on_old, _ = group_jaccards(J0, new, gen.labels)
    assert within_new_on_old < 0.25


def test_sudden_p_x_drift_moves_features_only():
    gen = MultiLabelGenerator(seed=13, drifts=[Drift(10_000, target="p_x")])
    X, Y = gen.arrays(20_000)
    before, after = X[:10_000], X[10_000:]
    assert np.abs(before.mean(0) - after.mean(0)).mean() > 0.5
    ratio = after.var(0) / before.var(0)
    assert np.abs(np.log(ratio)).max() > np.log(1.5)
    # The labelling function is the same function of x ...
    probe = np.random.default_rng(0).normal(0, 2, (500, gen.n_features))
    np.testing.assert_allclose(
        gen.label_probabilities(probe, 0), gen.label_probabilities(probe, 1), atol=1e-9
    )
    # ... which the data confirm: concept 0's probabilities fit the new data as well as the old.
    brier = [
        np.mean((gen.label_probabilities(Xs, 0) - Ys) ** 2)
        for Xs, Ys in ((before, Y[:10_000]), (after, Y[10_000:]))
    ]
    assert abs(brier[0] - brier[1]) < 0.01
    # The label side of the stream does not move at all.
    np.testing.assert_allclose(Y[:10_000].mean(0), Y[10_000:].mean(0), atol=0.02)
    assert np.abs(jaccard(Y[:10_000]) - jaccard(Y[10_000:])).max() < 0.08
    assert gen.label_groups(0) == gen.label_groups(10_000)


def test_p_y_given_x_drift_on_a_subset_moves_only_those_labels():
    gen = MultiLabelGenerator(seed=14, drifts=[Drift(100, labels=["l0", "l3"])])
    probe = np.random.default_rng(1).normal(size=(500, gen.n_features))
    diff = np.abs(gen.label_probabilities(probe, 0) - gen.label_probabilities(probe, 1)).mean(0)
    moved = {gen.labels[i] for i in np.flatnonzero(diff > 1e-9)}
    assert moved == {"l0", "l3"}
    assert diff[[0, 3]].min() > 0.2
    # Moved labels leave their old groups.
    for group in gen.label_groups(100):
        assert not ({"l0", "l3"} & group) or group <= {"l0", "l3"}


# ---------------------------------------------------------------- drift kinds


def _attributed_to_new(gen, X, Y, old, new):
    return oracle_loglik(gen, X, Y, new) > oracle_loglik(gen, X, Y, old)


def test_gradual_drift_mixes_whole_records_over_width():
    width = 8000
    gen = MultiLabelGenerator(seed=15, noise=0.2, drifts=[Drift(4000, kind="gradual", width=width)])
    assert gen.concept_weights(3999) == {0: 1.0}
    assert gen.concept_weights(4000 + width // 2 - 1) == pytest.approx({0: 0.5, 1: 0.5})
    assert gen.concept_weights(4000 + width - 1) == {0: 0.0, 1: 1.0}
    assert gen.concept_at(4000 + width // 2 - 2) == 0 and gen.concept_at(4000 + width // 2 - 1) == 1
    X, Y = gen.arrays(4000 + width + 4000)
    new = _attributed_to_new(gen, X, Y, 0, 1)
    false_new, true_new = new[:4000].mean(), new[-4000:].mean()
    assert false_new < 0.1 and true_new > 0.9
    quarters = [new[4000 + q * width // 4 : 4000 + (q + 1) * width // 4].mean() for q in range(4)]
    for q, share in enumerate(quarters):
        lam = (q + 0.5) / 4
        assert abs(share - (false_new + lam * (true_new - false_new))) < 0.06
    # A mixture: in the middle each record still fits one concept about as well as stable data.
    mid = slice(4000 + 3 * width // 8, 4000 + 5 * width // 8)
    best = np.maximum(oracle_loglik(gen, X[mid], Y[mid], 0), oracle_loglik(gen, X[mid], Y[mid], 1))
    stable = oracle_loglik(gen, X[:4000], Y[:4000], 0)
    assert best.mean() > stable.mean() - 0.5


def test_incremental_drift_interpolates_the_concept():
    width = 8000
    gradual = MultiLabelGenerator(
        seed=16, noise=0.2, drifts=[Drift(4000, kind="gradual", width=width)]
    )
    incremental = MultiLabelGenerator(
        seed=16, noise=0.2, drifts=[Drift(4000, kind="incremental", width=width)]
    )
    assert incremental.concept_weights(4000 + width // 4 - 1) == pytest.approx({0: 0.75, 1: 0.25})
    mid = slice(4000 + 3 * width // 8, 4000 + 5 * width // 8)
    fits = {}
    for name, gen in (("gradual", gradual), ("incremental", incremental)):
        X, Y = gen.arrays(4000 + width + 2000)
        best = np.maximum(
            oracle_loglik(gen, X[mid], Y[mid], 0), oracle_loglik(gen, X[mid], Y[mid], 1)
        )
        fits[name] = best.mean()
        if name == "incremental":
            # The old concept fits worse and worse, the new one better and better, smoothly.
            ll0 = [
                oracle_loglik(gen, X[s : s + 1000], Y[s : s + 1000], 0).mean()
                for s in range(4000, 12_000, 1000)
            ]
            ll1 = [
                oracle_loglik(gen, X[s : s + 1000], Y[s : s + 1000], 1).mean()
                for s in range(4000, 12_000, 1000)
            ]
            assert all(a > b for a, b in itertools.pairwise(ll0))
            assert all(a < b for a, b in itertools.pairwise(ll1))
            np.testing.assert_allclose(Y[:4000].mean(0), Y[mid].mean(0), atol=0.03)
    # In the middle of an incremental drift no record is from either end concept.
    assert fits["incremental"] < fits["gradual"] - 1.0


def test_incremental_p_x_drift_moves_feature_means_steadily():
    gen = MultiLabelGenerator(
        seed=17, drifts=[Drift(2000, kind="incremental", target="p_x", width=8000)]
    )
    X, _Y = gen.arrays(12_000)
    start, end = X[:2000].mean(0), X[10_000:].mean(0)
    direction = (end - start) / np.linalg.norm(end - start)
    progress = [
        ((X[s : s + 2000].mean(0) - start) @ direction) / np.linalg.norm(end - start)
        for s in range(2000, 10_000, 2000)
    ]
    np.testing.assert_allclose(progress, [0.125, 0.375, 0.625, 0.875], atol=0.08)
    probe = np.random.default_rng(2).normal(size=(200, gen.n_features))
    np.testing.assert_allclose(
        gen.label_probabilities(probe, 0), gen.label_probabilities(probe, 1), atol=1e-9
    )


def test_recurring_drift_returns_to_the_first_concept():
    gen = MultiLabelGenerator(seed=18, drifts=[Drift(5000, kind="recurring", duration=3000)])
    assert gen.drift_positions == [5000, 8000]
    assert [gen.concept_at(t) for t in (4999, 5000, 7999, 8000)] == [0, 1, 1, 0]
    assert gen.n_concepts == 2
    X, Y = gen.arrays(10_000)
    W = sgd_logistic(X[:4000], Y[:4000])  # concept 0, scored on records it did not see
    f1 = [
        example_f1(Y[s], predict(W, X[s]))
        for s in (slice(4000, 5000), slice(5000, 8000), slice(8000, 10_000))
    ]
    assert f1[1] < f1[0] - 0.3
    assert f1[2] > f1[0] - 0.05
    np.testing.assert_allclose(
        gen.label_probabilities(X[:100], gen.concept_at(9000)), gen.label_probabilities(X[:100], 0)
    )


def test_recurring_correlation_drift_with_width_returns_gradually():
    gen = MultiLabelGenerator(
        seed=19,
        drifts=[Drift(2000, kind="recurring", target="correlation", width=1000, duration=6000)],
    )
    assert gen.drift_positions == [2000, 8000]
    assert gen.concept_weights(8499) == pytest.approx({1: 0.5, 0: 0.5})
    assert gen.label_groups(0) == gen.label_groups(9000) != gen.label_groups(5000)
    _, Y = gen.arrays(15_000)
    J_a, J_b, J_back = jaccard(Y[:2000]), jaccard(Y[3000:8000]), jaccard(Y[9000:])
    assert np.abs(J_a - J_back).max() < 0.1
    assert np.abs(J_a - J_b).max() > 0.4


def test_successive_drifts_chain_concepts():
    gen = MultiLabelGenerator(
        seed=20,
        drifts=[
            Drift(9000, target="correlation"),
            Drift(3000, target="p_x", kind="incremental", width=2000),
            Drift(6000, target="p_y_given_x", kind="gradual", width=1000),
        ],
    )
    assert gen.drift_positions == [3000, 6000, 9000]
    assert gen.n_concepts == 4
    assert [gen.concept_at(t) for t in (0, 5000, 8000, 10_000)] == [0, 1, 2, 3]
    # Every target keeps the prevalences, even after a p_x drift moved the mean.
    _, Y = gen.arrays(12_000)
    for s in (slice(0, 3000), slice(5000, 6000), slice(7000, 9000), slice(9000, 12_000)):
        np.testing.assert_allclose(Y[s].mean(0), list(gen.prevalence.values()), atol=0.04)


def test_new_labels_appear_mid_stream():
    gen = MultiLabelGenerator(
        n_labels=6, cardinality=1.5, n_clusters=2, seed=21, new_labels_at={3000: 2, 1000: 1}
    )
    assert gen.labels == [f"l{i}" for i in range(9)]
    assert gen.labels_at(999) == gen.labels[:6]
    assert gen.labels_at(1000) == gen.labels[:7]
    assert gen.labels_at(3000) == gen.labels
    records = list(gen.take(5000))
    assert list(records[999][1]) == gen.labels[:6]
    assert list(records[1000][1]) == gen.labels[:7]
    assert list(records[4999][1]) == gen.labels
    assert set().union(*gen.label_groups(999)) == set(gen.labels[:6])
    assert set().union(*gen.label_groups(3000)) == set(gen.labels)
    _, Y = gen.arrays(20_000)
    assert not Y[:1000, 6:].any() and not Y[:3000, 7:].any()
    np.testing.assert_allclose(
        Y[3000:, 6:].mean(0), [gen.prevalence[n] for n in gen.labels[6:]], atol=0.02
    )
    assert Y[3000:, 6:].mean(0).min() > 0.05


# ---------------------------------------------------------------- validation


def test_drift_is_frozen_and_normalises_labels():
    drift = Drift(10, labels=["l1", "l0"])
    assert drift.labels == ("l1", "l0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        drift.position = 3
    assert hash(drift) == hash(Drift(10, labels=("l1", "l0")))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"position": -1},
        {"position": 10, "kind": "abrupt"},
        {"position": 10, "target": "p_y"},
        {"position": 10, "kind": "sudden", "width": 5},
        {"position": 10, "kind": "gradual"},
        {"position": 10, "kind": "incremental", "width": 0},
        {"position": 10, "kind": "recurring"},
        {"position": 10, "kind": "recurring", "width": 100, "duration": 50},
        {"position": 10, "duration": 50},
        {"position": 10, "target": "p_x", "labels": ["l0"]},
        {"position": 10, "labels": []},
    ],
)
def test_invalid_drifts_are_rejected(kwargs):
    with pytest.raises(ValueError):
        Drift(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"drifts": [Drift(100, kind="gradual", width=500), Drift(300)]},
        {"drifts": [Drift(100), Drift(100, target="p_x")]},
        {"drifts": [Drift(100, kind="recurring", duration=1000), Drift(500)]},
        {"drifts": [Drift(100, labels=["l99"])]},
        {"n_clusters": 1, "drifts": [Drift(100, target="correlation")]},
        {"n_features": 4, "n_labels": 4, "n_clusters": 4, "drifts": [Drift(100, target="p_x")]},
        {"cardinality": 8.0},
        {"cardinality": 0},
        {"n_clusters": 9},
        {"n_features": 2, "n_clusters": 3},
        {"noise": -0.1},
        {"new_labels_at": {100: 0}},
    ],
)
def test_invalid_generators_are_rejected(kwargs):
    with pytest.raises(ValueError):
        MultiLabelGenerator(**kwargs)
