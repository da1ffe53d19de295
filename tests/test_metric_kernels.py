"""The metric-count kernels: numba equals the numpy reference; the wrapper validates."""

import numpy as np
import pytest

from stream.kernels import metric_counts


def random_sets(rng, n, n_labels, density):
    rows = [np.flatnonzero(rng.random(n_labels) < density) for _ in range(n)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return indptr, indices


EDGE_CASES = {
    "empty batch": ([0], [], [0], [], 3),
    "no labels at all": ([0], [], [0], [], 0),
    "empty truth and prediction": ([0, 0, 0], [], [0, 0, 0], [], 4),
    "perfect": ([0, 2], [0, 3], [0, 2], [0, 3], 4),
    "disjoint": ([0, 1], [0], [0, 1], [1], 2),
    "prediction only": ([0, 0], [], [0, 2], [0, 1], 2),
    "truth only": ([0, 2], [0, 1], [0, 0], [], 2),
    "unsorted indices": ([0, 3], [2, 0, 1], [0, 2], [1, 2], 3),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_numba_matches_reference_on_edge_cases(case):
    args = EDGE_CASES[case]
    ref = metric_counts(*args, backend="numpy")
    fast = metric_counts(*args, backend="numba")
    for r, f in zip(ref, fast):
        np.testing.assert_array_equal(r, f)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_labels,density", [(1, 0.5), (7, 0.3), (60, 0.05), (500, 0.01)])
def test_numba_matches_reference_on_random_batches(seed, n_labels, density):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    t = random_sets(rng, n, n_labels, density)
    p = random_sets(rng, n, n_labels, density)
    ref = metric_counts(*t, *p, n_labels, backend="numpy")
    fast = metric_counts(*t, *p, n_labels, backend="numba")
    for r, f in zip(ref, fast):
        np.testing.assert_array_equal(r, f)


def test_counts_are_consistent():
    rng = np.random.default_rng(3)
    t = random_sets(rng, 200, 20, 0.2)
    p = random_sets(rng, 200, 20, 0.2)
    n_true, n_pred, n_inter, tp, fp, fn = metric_counts(*t, *p, 20)
    assert tp.sum() == n_inter.sum()
    assert tp.sum() + fn.sum() == n_true.sum()
    assert tp.sum() + fp.sum() == n_pred.sum()


@pytest.mark.parametrize("bad,match", [
    (([0, 1], [5], [0, 0], [], 3), "true_indices must lie"),
    (([0, 1], [0], [0, 1], [-1], 3), "pred_indices must lie"),
    (([1, 1], [0], [0, 0], [], 3), "must start at 0"),
    (([0, 1], [0], [0, 0, 0], [], 3), "truth has 1 records but predictions have 2"),
    (([0, 1], [0.5], [0, 0], [], 3), "integers"),
])
def test_wrapper_rejects_bad_input_with_a_clear_message(bad, match):
    with pytest.raises(ValueError, match=match):
        metric_counts(*bad)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="unknown backend"):
        metric_counts([0], [], [0], [], 1, backend="fortran")


def test_cupy_backend_needs_cupy_arrays():
    with pytest.raises(ValueError, match="CuPy arrays"):
        metric_counts([0], [], [0], [], 1, backend="cupy")
