"""The online label hierarchy: Hoeffding-bounded splits, aggregation, newcomers."""

import numpy as np

from learners.label_clustering import LabelHierarchy, coverage_of


def grouped_sets(rng, groups, n, p=0.5):
    out = []
    for _ in range(n):
        s = [lab for g in groups if rng.random() < p for lab in g]
        out.append(np.array(sorted(s), dtype=np.int64))
    return out


def test_splits_independent_groups_and_keeps_correlated_labels_together():
    rng = np.random.default_rng(1)
    groups = [[0, 1, 2], [3, 4], [5, 6, 7]]
    h = LabelHierarchy()
    h.add_labels(8)
    changes = h.update(grouped_sets(rng, groups, 1000), max_classes=2, coverage=0.9)
    assert sorted(map(sorted, h.leaves())) == sorted(groups)
    assert {c["action"] for c in changes} == {"split"}


def test_no_split_when_one_powerset_covers_the_cluster():
    rng = np.random.default_rng(2)
    sets = grouped_sets(rng, [[0, 1], [2, 3]], 800)  # clear groups, but only 4 label sets
    h = LabelHierarchy()
    h.add_labels(4)
    assert h.update(sets, max_classes=16, coverage=0.9) == []
    assert h.leaves() == [(0, 1, 2, 3)]


def test_hoeffding_bound_blocks_a_split_on_too_little_evidence():
    rng = np.random.default_rng(3)
    sets = grouped_sets(rng, [[0, 1], [2, 3]], 30)
    h = LabelHierarchy()
    h.add_labels(4)
    # eps = sqrt(ln(1/delta) / (2 * 30)) = 0.28 > tau and the two top distances tie
    assert h.update(sets, max_classes=2, coverage=0.99, delta=0.01, tau=0.1) == []


def test_a_correlation_drift_merges_the_contradicted_split_and_regroups():
    rng = np.random.default_rng(4)
    h = LabelHierarchy()
    h.add_labels(4)
    h.update(grouped_sets(rng, [[0, 1], [2, 3]], 1000), max_classes=2, coverage=0.9)
    assert sorted(map(sorted, h.leaves())) == [[0, 1], [2, 3]]
    # the labels now co-occur the other way round: {0, 2} and {1, 3}
    changes = h.update(grouped_sets(rng, [[0, 2], [1, 3]], 1000), max_classes=2,
                       coverage=0.9)
    actions = [c["action"] for c in changes]
    assert actions[0] == "merge" and changes[0]["reason"] == "correlation"
    assert "split" in actions
    assert sorted(map(sorted, h.leaves())) == [[0, 2], [1, 3]]


def test_siblings_merge_back_when_their_union_is_covered_again():
    rng = np.random.default_rng(6)
    h = LabelHierarchy()
    h.add_labels(4)
    h.update(grouped_sets(rng, [[0, 1], [2, 3]], 1000), max_classes=2, coverage=0.9)
    assert len(h.leaves()) == 2
    # all four labels now independent: 16 label sets, a 16-class powerset covers them
    changes = h.update(grouped_sets(rng, [[0], [1], [2], [3]], 1000), max_classes=16,
                       coverage=0.9, merge_coverage=0.97)
    assert [c["action"] for c in changes] == ["merge"]
    assert h.leaves() == [(0, 1, 2, 3)]


def test_new_labels_join_the_cluster_they_co_occur_with():
    rng = np.random.default_rng(5)
    h = LabelHierarchy()
    h.add_labels(4)
    h.update(grouped_sets(rng, [[0, 1], [2, 3]], 1000), max_classes=2, coverage=0.9)
    h.add_labels(5)  # label 4 co-occurs with 2 and 3
    changes = h.update(grouped_sets(rng, [[0, 1], [2, 3, 4]], 1000), max_classes=2,
                       coverage=0.9)
    assert changes[0]["action"] == "join"
    assert sorted(map(sorted, h.leaves())) == [[0, 1], [2, 3, 4]]


def test_coverage_of_counts_the_top_sets():
    sets = [np.array([0]), np.array([0]), np.array([1]), np.array([], dtype=np.int64)]
    assert coverage_of(sets, [0, 1], 1) == 0.5
    assert coverage_of([], [0], 1) == 1.0


# --- extreme label spaces: sparse statistics, balanced bisection, the leaf cap ----------


def topic_sets(rng, topics, n, p=0.8):
    """Each record: the labels of one random topic, each kept with probability ``p``."""
    return [np.sort(topics[rng.integers(len(topics))][rng.random(topics.shape[1]) < p])
            for _ in range(n)]


def test_large_clusters_are_bisected_in_balance_keeping_co_occurring_labels_together():
    rng = np.random.default_rng(7)
    topics = rng.permutation(40).reshape(10, 4)
    h = LabelHierarchy(dense_limit=8)  # every cluster above 8 labels takes the sparse path
    h.add_labels(40)
    changes = h.update(topic_sets(rng, topics, 1500), max_classes=4, coverage=0.95)
    first = changes[0]
    assert first["action"] == "split" and sorted(map(len, first["into"])) == [20, 20]
    leaves = [set(c) for c in h.leaves()]
    assert len(leaves) > 2
    for topic in topics.tolist():  # no topic is cut between two clusters
        assert sum(bool(set(topic) & leaf) for leaf in leaves) == 1, (topic, leaves)


def test_fifty_thousand_labels_update_without_a_label_by_label_matrix():
    import tracemalloc

    rng = np.random.default_rng(0)
    L = 50_000
    topics = rng.permutation(L).reshape(-1, 5)
    sets = topic_sets(rng, topics, 2000)
    h = LabelHierarchy(max_leaves=64)
    h.add_labels(L)
    h.update(sets[:10], max_classes=32)  # compiles the kernels outside the measurement
    h = LabelHierarchy(max_leaves=64)
    h.add_labels(L)
    tracemalloc.start()
    try:
        h.update(sets, max_classes=32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a dense co-occurrence or Jaccard matrix alone would take 20 GB; measured ~22 MB
    assert peak < 100 * 2**20, peak
    leaves = h.leaves()
    assert 2 < len(leaves) <= 64 and sorted(lab for c in leaves for lab in c) == list(range(L))
    where = np.empty(L, dtype=np.int64)
    for i, c in enumerate(leaves):
        where[list(c)] = i
    seen = {int(lab) for s in sets for lab in s}
    for topic in topics.tolist():  # labels that co-occurred stay in one cluster
        active = [lab for lab in topic if lab in seen]
        assert len(set(where[active].tolist())) <= 1


def test_the_leaf_cap_stops_splits_and_pools_new_labels_until_they_are_placed():
    rng = np.random.default_rng(8)
    groups = [[0, 1], [2, 3], [4, 5], [6, 7]]
    h = LabelHierarchy(max_leaves=3)
    h.add_labels(8)
    h.update(grouped_sets(rng, groups, 1000), max_classes=2, coverage=0.9)
    assert len(h.leaves()) == 3  # four groups would make four clusters without the cap
    placed = h.add_labels(11)  # at the cap: the three new labels share one newcomer leaf
    assert [lab for lab, _ in placed] == [8, 9, 10] and len({node for _, node in placed}) == 1
    assert len(h.leaves()) == 4
    # label 8 co-occurs with {0, 1}; 9 and 10 with nothing: at the cap they go to the
    # smallest cluster instead of staying clusters of their own
    sets = grouped_sets(rng, [[0, 1, 8], [2, 3], [4, 5], [6, 7]], 1000)
    changes = h.update(sets, max_classes=2, coverage=0.9)
    assert [c["labels"] for c in changes if c["action"] == "join"] == [[8], [9], [10]]
    leaves = [set(c) for c in h.leaves()]
    assert len(leaves) == 3 and any({0, 1, 8} <= c for c in leaves)
    assert sorted(lab for c in leaves for lab in c) == list(range(11))


def test_sparse_and_dense_readings_of_a_split_agree():
    from learners.label_clustering import (_sparse_jaccard, _split_contradicted,
                                           _top_two_distances, _Window)

    rng = np.random.default_rng(9)
    for _ in range(20):
        m = int(rng.integers(3, 12))
        sets = [np.flatnonzero(rng.random(m) < rng.uniform(0.05, 0.6)) for _ in range(60)]
        win = _Window(sets, m)  # a few labels: the dense window
        dense, sparse = win.similarity(range(m)), win.similarity(range(m), dense=False)
        np.testing.assert_array_equal(sparse.toarray(), dense)
        # the sparse window of a large label space holds the same similarities
        np.testing.assert_array_equal(
            _sparse_jaccard(win.indptr, win.indices, m).toarray(), dense)
        d = (1.0 - dense)[np.triu_indices(m, k=1)]
        top = np.sort(d)[::-1]
        assert _top_two_distances(sparse) == (top[0], top[1])
        for n_left in range(1, m):
            for eps in (0.0, 0.05, 0.2):
                assert (_split_contradicted(dense, n_left, eps)
                        == _split_contradicted(sparse, n_left, eps)
                        == _split_contradicted_by_loops(1.0 - dense, n_left, eps))


def _split_contradicted_by_loops(dist, n_left, eps):
    """The definition, label by label (the pre-vectorised implementation)."""
    n = dist.shape[0]
    side = np.zeros(n, dtype=np.int64)
    side[n_left:] = 1
    for k in range(n):
        own = [j for j in range(n) if side[j] == side[k] and j != k]
        other = [j for j in range(n) if side[j] != side[k]]
        if own and other and dist[k, other].mean() + eps < dist[k, own].mean():
            return True
    return False
