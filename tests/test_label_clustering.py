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
