"""SparseCooccurrence equals the dense RollingCooccurrence (which equals brute force, see
test_cooccurrence.py) in every mode and through every reader; the memory plan's factory,
the dense store's new readers, 4-byte dense counts, compaction and pruning."""

import pickle

import numpy as np
import pytest

from stream.cooccurrence import (
    RollingCooccurrence,
    choose_layout,
    dense_nbytes,
    label_cooccurrence,
)
from stream.kernels import jaccard, topk_similar
from stream.sparse_cooccurrence import SparseCooccurrence, merge_sorted


def clustered_stream(seed, n, L, mean_labels=4.0, group=6):
    """Records drawn mostly from one group of ``group`` neighbouring labels: structure, ties."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        g = int(rng.integers(0, max(1, L // group)))
        m = int(min(rng.poisson(mean_labels - 1) + 1, group))
        cols = g * group + rng.choice(group, size=m, replace=False)
        if rng.random() < 0.2:
            cols = np.append(cols, rng.integers(0, L))  # noise across groups
        rows.append(np.unique(cols[cols < L]))
    return rows


def feed(stores, rows):
    for r in rows:
        for s in stores:
            s.update(r)


def assert_same_readers(dense, sparse, rng, exact=True):
    eq = np.testing.assert_array_equal if exact else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12))
    L = dense.n_labels
    assert sparse.n_labels == L
    assert sparse.n_records == pytest.approx(dense.n_records)
    eq(sparse.counts(), dense.counts())
    eq(sparse.diagonal(), dense.diagonal())
    eq(sparse.jaccard(), dense.jaccard())
    eq(sparse.counts_csr().toarray(), dense.counts())
    eq(sparse.jaccard_csr().toarray(), dense.jaccard())
    eq(dense.jaccard_csr().toarray(), dense.jaccard())
    rows, cols = rng.integers(0, L + 3, 300), rng.integers(0, L + 3, 300)  # some unseen
    rows[:20] = cols[:20]  # diagonal entries too
    eq(sparse.pair_counts(rows, cols), dense.pair_counts(rows, cols))
    eq(sparse.jaccard_pairs(rows, cols), dense.jaccard_pairs(rows, cols))
    J = dense.jaccard()
    inside = (rows < L) & (cols < L)
    eq(dense.jaccard_pairs(rows, cols)[inside], J[rows[inside], cols[inside]])
    labels = np.concatenate([rng.choice(L, size=min(L, 15), replace=False), [L + 2, 0]])
    for store in (dense, sparse):
        sub = store.jaccard_submatrix(labels)
        assert sub.shape == (labels.size, labels.size)
        eq(sub[:-2, :-2], J[np.ix_(labels[:-2], labels[:-2])])
        assert np.all(sub[-2] == 0) and np.all(sub[:, -2] == 0)  # never seen: 0, even itself
        eq(sub[-1], sub[labels.tolist().index(0)])  # a repeated label repeats its row
    for k in (1, 5, 40):
        d_idx, d_val = dense.topk_similar(k)
        s_idx, s_val = sparse.topk_similar(k)
        if exact:
            eq(s_idx, d_idx)
        eq(s_val, d_val)
        ref = topk_similar(J, k, backend="numpy")
        eq(d_idx, ref[0])
    for lab in (0, L - 1, L + 5):
        dc, dv = dense.neighbours(lab)
        sc, sv = sparse.neighbours(lab)
        eq(sc, dc)
        eq(sv, dv)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("mode", [{}, {"window_size": 1}, {"window_size": 37},
                                  {"window_size": 600}])
def test_sparse_equals_dense_exactly_in_count_modes(mode, backend):
    rng = np.random.default_rng(len(mode) + mode.get("window_size", 0))
    rows = clustered_stream(1, 1500, 90)
    dense = RollingCooccurrence(**mode, backend=backend)
    sparse = SparseCooccurrence(**mode, backend=backend)
    feed((dense, sparse), rows[:700])
    assert_same_readers(dense, sparse, rng)
    feed((dense, sparse), rows[700:])
    assert_same_readers(dense, sparse, rng)


@pytest.mark.parametrize("lam", [0.999, 0.9, 1e-3])
def test_sparse_equals_dense_with_fading(lam):
    rng = np.random.default_rng(4)
    rows = clustered_stream(2, 1300, 60)
    dense = RollingCooccurrence(fading_factor=lam)
    sparse = SparseCooccurrence(fading_factor=lam, prune_below=0.0)
    feed((dense, sparse), rows)
    assert_same_readers(dense, sparse, rng, exact=False)


def test_window_reverts_are_compacted_and_memory_stays_bounded():
    rng = np.random.default_rng(0)
    L = 50_000  # a large, drifting label space: old pairs leave the window for good
    sparse = SparseCooccurrence(window_size=500)
    peak = 0
    for t in range(20_000):
        base = (t // 50) * 100 % (L - 10)  # the active labels move along the space
        sparse.update(base + rng.choice(10, size=4, replace=False))
        if t % 1000 == 999:
            peak = max(peak, sparse.nnz)
    # the window holds at most 500 records x 12 ordered pairs; reverted pairs are dropped
    assert sparse.nnz <= 500 * 12
    assert peak <= 2 * 500 * 12
    assert sparse.n_labels > 10_000 and sparse.nbytes < 2_000_000
    assert int(np.count_nonzero(sparse.counts_csr().data == 0)) <= sparse.nnz // 4 + 1024


def test_fading_prunes_pairs_that_stopped_occurring():
    lam = 0.98  # scale folded (and the store pruned) every 230 / -ln(lam) = 11,400 records
    sparse = SparseCooccurrence(fading_factor=lam)  # prune_below=1e-9
    exact = SparseCooccurrence(fading_factor=lam, prune_below=0.0)
    for t in range(30_000):  # every 100 records a new pair of labels takes over
        g = 2 * (t // 100)
        for s in (sparse, exact):
            s.update([g, g + 1])
    assert exact.nnz == 2 * 300  # every pair that ever occurred
    assert sparse.nnz < exact.nnz / 3  # old pairs (counts < 1e-9) dropped
    # the pairs kept are the recent ones, with their exact similarities
    np.testing.assert_allclose(sparse.jaccard_pairs([598, 590], [599, 591]),
                               exact.jaccard_pairs([598, 590], [599, 591]), rtol=1e-9)
    # a dropped pair reads 0 instead of a similarity of at most prune_below / denominator
    assert sparse.pair_counts([0], [1])[0] == 0.0
    assert exact.pair_counts([0], [1])[0] <= 1e-9


def test_update_batch_equals_update_and_pickle_round_trip():
    rows = clustered_stream(3, 2100, 40)
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    indices = np.concatenate(rows)
    for cls, mode in [(c, m) for c in (RollingCooccurrence, SparseCooccurrence)
                      for m in ({"window_size": 333}, {})]:
        one, batch = cls(**mode), cls(**mode)
        feed((one,), rows)
        batch.update_batch(indptr[:1001], indices[:indptr[1000]])
        batch.update_batch([0], [])  # an empty batch is fine
        batch.update_batch(indptr[1000:] - indptr[1000], indices[indptr[1000]:])
        np.testing.assert_array_equal(batch.counts(), one.counts())
        clone = pickle.loads(pickle.dumps(one))
        for r in rows[:400]:
            one.update(r)
            clone.update(r)
        np.testing.assert_array_equal(clone.counts(), one.counts())
        np.testing.assert_array_equal(clone.topk_similar(3)[0], one.topk_similar(3)[0])
        with pytest.raises(ValueError, match="indptr must start at 0"):
            batch.update_batch([0, 3], [1])
        with pytest.raises(ValueError, match=">= 0"):
            batch.update_batch([0, 1], [-1])


def test_empty_and_tiny_stores():
    for store in (SparseCooccurrence(), RollingCooccurrence()):
        assert store.n_labels == 0 and store.n_records == 0
        assert store.counts().shape == (0, 0) and store.jaccard().shape == (0, 0)
        idx, val = store.topk_similar(3)
        assert idx.shape == val.shape == (0, 0)
        assert store.jaccard_submatrix([]).shape == (0, 0)
        assert store.jaccard_pairs([], []).shape == (0,)
        assert store.jaccard_csr().shape == (0, 0)
        store.update([2])
        assert store.jaccard_submatrix([2, 0]).tolist() == [[1.0, 0.0], [0.0, 0.0]]
        assert store.topk_similar(5)[0].tolist() == [[1, 2], [0, 2], [0, 1]]


def test_merge_sorted():
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 1000, 300))
    new = np.setdiff1d(np.unique(rng.integers(0, 1000, 100)), keys)
    k, v = merge_sorted(np, keys, keys * 1.0, new, new * 1.0)
    np.testing.assert_array_equal(k, np.union1d(keys, new))
    np.testing.assert_array_equal(v, k * 1.0)


# ------------------------------------------------------------------------ memory plan

def test_memory_plan_and_factory():
    assert dense_nbytes(100_000, np.int32) == 40_000_000_000
    assert choose_layout(16_384, np.int32) == "dense"
    assert choose_layout(16_385, np.int32) == "sparse"
    assert choose_layout(11_585, np.float64) == "dense"
    assert choose_layout(11_586, np.float64) == "sparse"
    co = label_cooccurrence(2_000, window_size=100)
    assert isinstance(co, RollingCooccurrence) and co._S.dtype == np.int32
    assert co.nbytes == dense_nbytes(2_000, np.int32)
    faded = label_cooccurrence(2_000, fading_factor=0.99)
    assert isinstance(faded, RollingCooccurrence) and faded._S.dtype == np.float64
    assert isinstance(label_cooccurrence(None), SparseCooccurrence)
    assert isinstance(label_cooccurrence(50, layout="sparse"), SparseCooccurrence)
    assert isinstance(label_cooccurrence(300, layout="dense", max_dense_bytes=0),
                      RollingCooccurrence)  # an explicit layout wins over the budget
    assert isinstance(label_cooccurrence(300, max_dense_bytes=300**2 * 4 - 1),
                      SparseCooccurrence)
    with pytest.raises(ValueError, match="layout"):
        label_cooccurrence(10, layout="diagonal")


def test_dense_store_four_byte_counts_equal_float64():
    rows = clustered_stream(5, 1200, 30)
    ref = RollingCooccurrence(window_size=250)
    small = RollingCooccurrence(window_size=250, dtype=np.int32, capacity=8)
    feed((ref, small), rows)
    C = small.counts()
    assert C.dtype == np.int32 and C.shape == (30, 30)
    np.testing.assert_array_equal(C, ref.counts())
    np.testing.assert_array_equal(small.jaccard(), ref.jaccard())
    np.testing.assert_array_equal(small.topk_similar(4)[0], ref.topk_similar(4)[0])
    with pytest.raises(ValueError, match="fading factor needs dtype float64"):
        RollingCooccurrence(fading_factor=0.9, dtype=np.float32)
    with pytest.raises(ValueError, match="dtype must be"):
        RollingCooccurrence(dtype=np.int8)
    with pytest.raises(ValueError, match="capacity"):
        RollingCooccurrence(capacity=-1)


def test_dense_store_grows_geometrically_label_by_label():
    co = RollingCooccurrence()
    sizes = set()
    for lab in range(1500):
        co.update([lab, max(lab - 1, 0)])
        if lab % 7 == 0:
            co.diagonal()  # a reader: flushes and grows
            sizes.add(co._S.shape[0])
    assert len(sizes) < 25  # not one reallocation per new label
    assert co.counts().shape == (1500, 1500)
    assert co.jaccard_pairs([10], [11])[0] == pytest.approx(1 / 3)
    np.testing.assert_array_equal(jaccard(co.counts())[[5, 6]], co.jaccard()[[5, 6]])


def test_sparse_store_validates():
    with pytest.raises(ValueError, match="prune_below"):
        SparseCooccurrence(fading_factor=0.9, prune_below=-1.0)
    with pytest.raises(ValueError, match="unknown backend"):
        SparseCooccurrence(backend="fortran")
    co = SparseCooccurrence()
    co.update([1, 3])
    with pytest.raises(ValueError, match="one shape"):
        co.jaccard_pairs([0, 1], [1])
    with pytest.raises(ValueError, match=">= 0"):
        co.jaccard_submatrix([-1])
