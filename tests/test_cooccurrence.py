"""Co-occurrence / Jaccard / top-k kernels (every backend equals the numpy reference) and
RollingCooccurrence (cumulative, window and fading equal brute-force recomputation)."""

import pickle

import numpy as np
import pytest

from stream.cooccurrence import RollingCooccurrence
from stream.kernels import cooccurrence_update, jaccard, jaccard_distance, topk_similar

BACKENDS = ["numpy", "numba"]


def random_sets(rng, n, n_labels, density):
    rows = [np.flatnonzero(rng.random(n_labels) < density) for _ in range(n)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return rows, indptr, indices


def brute_force(rows, n_labels, weights=None):
    C = np.zeros((n_labels, n_labels))
    for r, row in enumerate(rows):
        w = 1.0 if weights is None else weights[r]
        s = sorted({int(c) for c in row})
        for i in s:
            for j in s:
                C[i, j] += w
    return C


# ------------------------------------------------------------------ cooccurrence_update

EDGE_CASES = {
    "empty batch": ([0], [], 3),
    "empty batch, L = 0": ([0], [], 0),
    "records without labels, L = 0": ([0, 0, 0], [], 0),
    "L = 1": ([0, 1, 1, 2], [0, 0], 1),
    "rows with no labels": ([0, 0, 2, 2], [0, 1], 3),
    "one label": ([0, 1], [2], 3),
    "unsorted indices": ([0, 3, 5], [2, 0, 1, 3, 1], 4),
    "repeated column counts once": ([0, 3], [1, 1, 0], 2),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_update_edge_cases(case, backend):
    indptr, indices, L = EDGE_CASES[case]
    rows = [indices[indptr[r]:indptr[r + 1]] for r in range(len(indptr) - 1)]
    C = np.zeros((L, L))
    cooccurrence_update(C, indptr, indices, backend=backend)
    np.testing.assert_array_equal(C, brute_force(rows, L))


def test_update_known_values():
    C = np.zeros((3, 3))
    cooccurrence_update(C, [0, 2, 3, 3], [0, 2, 1])  # {0, 2}, {1}, {}
    np.testing.assert_array_equal(C, [[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    cooccurrence_update(C, [0, 1], [1], weight=2.5)  # weights add to every pair
    assert C[1, 1] == 3.5


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_labels,density", [(1, 0.5), (2, 0.5), (9, 0.3), (60, 0.05),
                                              (400, 0.01)])
def test_backends_match_reference_on_random_batches(seed, n_labels, density):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    rows, indptr, indices = random_sets(rng, n, n_labels, density)
    # shuffle within records: order must not matter
    indices = indices.copy()
    for r in range(n):
        rng.shuffle(indices[indptr[r]:indptr[r + 1]])
    start = rng.integers(0, 5, (n_labels, n_labels)).astype(np.float64)
    expected = start + brute_force(rows, n_labels)
    for backend in BACKENDS:
        C = start.copy()
        cooccurrence_update(C, indptr, indices, backend=backend)
        np.testing.assert_array_equal(C, expected)
    # per-record weights (not integers: equal to rounding)
    w = rng.random(n)
    for backend in BACKENDS:
        C = np.zeros((n_labels, n_labels))
        cooccurrence_update(C, indptr, indices, weight=w, backend=backend)
        np.testing.assert_allclose(C, brute_force(rows, n_labels, w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_then_revert_returns_to_zero(backend):
    rng = np.random.default_rng(7)
    _, indptr, indices = random_sets(rng, 500, 50, 0.1)
    C = np.zeros((50, 50))
    cooccurrence_update(C, indptr, indices, backend=backend)
    assert C.sum() > 0
    half = indptr[250]
    cooccurrence_update(C, indptr[:251], indices[:half], weight=-1, backend=backend)
    cooccurrence_update(C, indptr[250:] - half, indices[half:], weight=-1, backend=backend)
    assert np.all(C == 0)


@pytest.mark.parametrize("bad,match", [
    ((np.zeros((3, 3)), [0, 1], [3]), r"indices must lie in \[0, L=3\)"),
    ((np.zeros((3, 3)), [0, 1], [-1]), "indices must lie"),
    ((np.zeros((3, 3)), [1, 1], [0]), "must start at 0"),
    ((np.zeros((3, 3)), [0, 2, 1], [0, 1]), "end at len"),
    ((np.zeros((3, 3)), [0, 1], [0.5]), "integers"),
    ((np.zeros((3, 2)), [0], []), "square"),
    ((np.zeros((3, 3), dtype=bool), [0], []), "float64 .* got bool"),
    ((np.zeros((3, 3), dtype=np.float16), [0], []), "float64 .* got float16"),
    ((np.zeros((3, 3), dtype=np.int32), [0, 1], [0], 0.5), "integer weights only"),
    (([[0.0]], [0], []), "must be an array"),
])
def test_update_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        cooccurrence_update(*bad)


def test_update_rejects_read_only_matrix_and_bad_weights():
    C = np.zeros((2, 2))
    C.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        cooccurrence_update(C, [0, 1], [0])
    with pytest.raises(ValueError, match="per-record weights"):
        cooccurrence_update(np.zeros((2, 2)), [0, 1, 2], [0, 1], weight=[1.0, 2.0, 3.0])


def test_backend_choice():
    with pytest.raises(ValueError, match="unknown backend"):
        cooccurrence_update(np.zeros((1, 1)), [0], [], backend="fortran")
    for call in (lambda: cooccurrence_update(np.zeros((1, 1)), [0], [], backend="cupy"),
                 lambda: jaccard(np.zeros((1, 1)), backend="cupy"),
                 lambda: topk_similar(np.zeros((1, 1)), 1, backend="cupy")):
        with pytest.raises(ValueError, match="CuPy arrays"):
            call()


# -------------------------------------------------------------------------- jaccard

@pytest.mark.parametrize("backend", BACKENDS)
def test_jaccard_known_values(backend):
    C = np.array([[4.0, 2.0, 0.0, 1.0],
                  [2.0, 3.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0],
                  [1.0, 0.0, 0.0, 1.0]])
    J = jaccard(C, backend=backend)
    expected = np.array([[1.0, 0.4, 0.0, 0.25],
                         [0.4, 1.0, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 0.0],  # never seen: 0/0 = 0, diagonal 0
                         [0.25, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(J, expected)
    D = jaccard_distance(C, backend=backend)
    np.testing.assert_array_equal(np.diag(D), 0.0)  # zero diagonal, seen or not
    assert D[2, 0] == D[0, 2] == 1.0  # no data: the largest distance
    assert D[0, 1] == pytest.approx(0.6)
    from scipy.spatial.distance import squareform
    assert squareform(D).shape == (6,)  # a valid condensed distance matrix


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("L", [0, 1])
def test_jaccard_tiny(backend, L):
    assert jaccard(np.zeros((L, L)), backend=backend).shape == (L, L)
    if L == 1:
        assert jaccard(np.array([[3.0]]), backend=backend)[0, 0] == 1.0
        assert jaccard_distance(np.array([[0.0]]), backend=backend)[0, 0] == 0.0


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_labels,density", [(5, 0.4), (80, 0.05), (300, 0.01)])
def test_jaccard_backends_match_reference_and_are_scale_free(seed, n_labels, density):
    rng = np.random.default_rng(seed)
    rows, _, _ = random_sets(rng, 400, n_labels, density)
    C = brute_force(rows, n_labels)
    ref = jaccard(C, backend="numpy")
    for backend in BACKENDS:
        J = jaccard(C, backend=backend)
        np.testing.assert_array_equal(J, ref)
        np.testing.assert_allclose(jaccard(C * 1e-30, backend=backend), ref, rtol=1e-12)
        np.testing.assert_array_equal(jaccard_distance(C, backend=backend),
                                      np.where(np.eye(n_labels, dtype=bool), 0, 1 - ref))
    assert np.all((ref >= 0) & (ref <= 1))
    np.testing.assert_array_equal(ref, ref.T)
    # brute force on the sets
    sets = [set(r.tolist()) for r in rows]
    i, j = 0, min(1, n_labels - 1)
    both = sum(1 for s in sets if i in s and j in s)
    either = sum(1 for s in sets if i in s or j in s)
    assert ref[i, j] == (both / either if either else 0.0)


def test_jaccard_accepts_integer_counts_and_rejects_bad_shapes():
    np.testing.assert_array_equal(jaccard(np.array([[2, 1], [1, 1]])), [[1, 0.5], [0.5, 1]])
    with pytest.raises(ValueError, match="square"):
        jaccard(np.zeros(3))
    with pytest.raises(ValueError, match="real numbers"):
        jaccard(np.zeros((2, 2), dtype=bool))


# --------------------------------------------------------------------------- top-k

@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_known_values_ties_and_clipping(backend):
    J = np.array([[1.0, 0.4, 0.4, 0.9],
                  [0.4, 1.0, 0.1, 0.1],
                  [0.4, 0.1, 1.0, 0.0],
                  [0.9, 0.1, 0.0, 1.0]])
    idx, val = topk_similar(J, 2, backend=backend)
    assert idx.tolist() == [[3, 1], [0, 2], [0, 1], [0, 1]]  # ties: the lower index first
    assert val.tolist() == [[0.9, 0.4], [0.4, 0.1], [0.4, 0.1], [0.9, 0.1]]
    idx, val = topk_similar(J, 10, backend=backend)  # clipped to L - 1 = 3
    assert idx.shape == val.shape == (4, 3)
    assert idx[0].tolist() == [3, 1, 2]
    idx, val = topk_similar(J, 0, backend=backend)
    assert idx.shape == (4, 0) and idx.dtype == np.int64 and val.dtype == np.float64


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("L", [0, 1])
def test_topk_tiny(backend, L):
    idx, val = topk_similar(np.eye(L), 3, backend=backend)
    assert idx.shape == val.shape == (L, 0)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L,k", [(2, 1), (10, 3), (50, 49), (200, 5), (200, 40), (200, 199)])
def test_topk_backends_match_reference(seed, L, k):
    rng = np.random.default_rng(seed)
    J = np.round(rng.random((L, L)), 1)  # coarse values: many ties
    J = (J + J.T) / 2
    ref = topk_similar(J, k, backend="numpy")
    for backend in BACKENDS:
        got = topk_similar(J, k, backend=backend)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    i = int(rng.integers(0, L))
    others = sorted((j for j in range(L) if j != i), key=lambda j: (-J[i, j], j))[:k]
    assert ref[0][i].tolist() == others
    assert i not in ref[0][i]


def test_topk_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        topk_similar(np.array([[1.0, np.nan], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match="k must be"):
        topk_similar(np.eye(3), -1)
    with pytest.raises(ValueError, match="k must be"):
        topk_similar(np.eye(3), 1.5)


# ---------------------------------------------------------------- RollingCooccurrence

def _stream(seed=0, n=1500, L=12, density=0.2):
    rng = np.random.default_rng(seed)
    return [np.flatnonzero(rng.random(L) < density) for _ in range(n)]


def test_rolling_cumulative_matches_brute_force():
    rows = _stream()
    co = RollingCooccurrence()
    for r in rows:
        co.update(r)
    np.testing.assert_array_equal(co.counts(), brute_force(rows, 12))
    assert co.n_records == len(rows)
    np.testing.assert_array_equal(co.jaccard(), jaccard(brute_force(rows, 12)))


@pytest.mark.parametrize("window_size", [1, 7, 300, 5000])
def test_rolling_window_matches_brute_force_at_every_read(window_size):
    rows = _stream(seed=window_size)
    co = RollingCooccurrence(window_size=window_size)
    for t, r in enumerate(rows, start=1):
        co.update(r)
        if t % 397 == 0 or t == len(rows):
            recent = rows[max(0, t - window_size):t]
            np.testing.assert_array_equal(co.counts(), brute_force(recent, co.n_labels))
            assert co.n_records == len(recent)


@pytest.mark.parametrize("lam", [0.999, 0.9, 0.3, 1e-3])
def test_rolling_fading_matches_brute_force(lam):
    rows = _stream(seed=3, n=1200)
    co = RollingCooccurrence(fading_factor=lam)
    for t, r in enumerate(rows, start=1):
        co.update(r)
        if t in (1, 600, 1200):
            weights = lam ** np.arange(t - 1, -1, -1, dtype=np.float64)
            expected = brute_force(rows[:t], co.n_labels, weights)
            np.testing.assert_allclose(co.counts(), expected, rtol=1e-9, atol=1e-300)
            assert co.n_records == pytest.approx(weights.sum(), rel=1e-9)
            np.testing.assert_allclose(co.jaccard(), jaccard(expected), rtol=1e-9, atol=1e-12)


def test_rolling_fading_survives_a_long_stream():
    co = RollingCooccurrence(fading_factor=0.5)  # scale 0.5 ** 20000: renormalised often
    for _ in range(20000):
        co.update([0, 1])
    assert np.isfinite(co.counts()).all()
    np.testing.assert_allclose(co.counts(), np.full((2, 2), 2.0), rtol=1e-9)
    assert co.n_records == pytest.approx(2.0)


def test_rolling_label_space_grows_and_keeps_counts():
    co = RollingCooccurrence(window_size=3)
    co.update([0])
    co.update([])
    assert co.n_labels == 1 and co.counts().tolist() == [[1.0]]
    co.update([1, 4])
    assert co.n_labels == 5
    C = co.counts()
    assert C.shape == (5, 5) and C[0, 0] == 1 and C[1, 4] == 1 and C[4, 4] == 1
    co.update([4])  # the record {0} leaves the window
    C = co.counts()
    assert C[0, 0] == 0 and C[4, 4] == 2 and co.n_records == 3


def test_rolling_empty_and_pickle():
    co = RollingCooccurrence(fading_factor=0.9)
    assert co.n_labels == 0 and co.counts().shape == (0, 0) and co.n_records == 0
    rows = _stream(n=700)
    for r in rows[:650]:
        co.update(r)
    clone = pickle.loads(pickle.dumps(co))
    for r in rows[650:]:
        co.update(r)
        clone.update(r)
    np.testing.assert_array_equal(co.counts(), clone.counts())


@pytest.mark.parametrize("kwargs,match", [
    ({"window_size": 10, "fading_factor": 0.9}, "not both"),
    ({"window_size": 0}, "window_size"),
    ({"window_size": 2.5}, "window_size"),
    ({"fading_factor": 0.0}, "fading_factor"),
    ({"fading_factor": 1.5}, "fading_factor"),
])
def test_rolling_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RollingCooccurrence(**kwargs)


def test_rolling_rejects_bad_records():
    co = RollingCooccurrence()
    with pytest.raises(ValueError, match=">= 0"):
        co.update([-1])
    with pytest.raises(ValueError, match="integers"):
        co.update([0.5])
    with pytest.raises(ValueError, match="one-dimensional"):
        co.update([[0]])


def test_rolling_pair_counts_read_entries_and_zero_beyond():
    rows = _stream(n=600)
    co = RollingCooccurrence(fading_factor=0.99)
    for r in rows:
        co.update(r)
    C = co.counts()
    i, j = np.array([0, 3, 5, 11, 40]), np.array([0, 7, 5, 2, 1])
    got = co.pair_counts(i, j)
    np.testing.assert_array_equal(got[:4], C[i[:4], j[:4]])
    assert got[4] == 0.0  # label 40 never seen


def test_rolling_keeps_its_own_copy_of_each_record():
    co = RollingCooccurrence(window_size=2)
    buf = np.array([0, 1])
    co.update(buf)
    buf[:] = [2, 3]  # the caller reuses its buffer
    co.update(buf)
    co.update([])
    co.update([])  # both records leave the window: the revert must match what was added
    assert np.all(co.counts() == 0)
