"""The array-generic kernels (what the CuPy backend runs, with ``xp=cupy``) run here with
``xp=numpy`` and must equal the numpy reference; the sparse kernels (pairs, Jaccard of
pairs, sparse top-k) equal the dense ones; dense matrices of 4-byte dtypes work."""

import numpy as np
import pytest

from stream.kernels import cooccurrence as K
from stream.kernels import (
    cooccurrence_pairs,
    cooccurrence_update,
    jaccard,
    jaccard_pairs,
    metric_counts,
    topk_similar,
    topk_similar_sparse,
)
from stream.kernels._backend import argsort_stable, check_csr, segment_ids
from stream.kernels.metric_counts import _metric_counts_numpy, _metric_counts_xp

from _kernel_cases import EDGE_BATCHES


def random_batch(rng, n, L, mean_labels=5.0, repeats=True):
    m = np.minimum(rng.poisson(mean_labels - 1, n) + 1, L) if L else np.zeros(n, int)
    rows = [rng.choice(L, size=k, replace=False) for k in m]
    if repeats and n and L:  # a repeated column within a record counts once
        rows[0] = np.concatenate([rows[0], rows[0][:1]])
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if n else np.zeros(0, np.int64)
    return indptr, indices


def csr(indptr, indices, L, xp=np):
    return check_csr(indptr, indices, L, xp=xp)


def dense_from_pairs(rows, cols, vals, L):
    C = np.zeros((L, L))
    C[rows, cols] = vals
    return C


# ----------------------------------------------------------------------- helpers

def test_segment_ids_and_stable_argsort():
    ptr = np.array([0, 2, 2, 5])
    assert segment_ids(np, ptr, 5).tolist() == [0, 0, 2, 2, 2]
    assert argsort_stable(np, np.array([1.0, 0.0, 1.0, 0.0])).tolist() == [1, 3, 0, 2]


# ------------------------------------------------------------------------ update

@pytest.mark.parametrize("case", list(EDGE_BATCHES))
def test_generic_update_edge_cases(case):
    indptr, indices, L = EDGE_BATCHES[case]
    ptr, idx = csr(indptr, indices, L)
    ref = np.zeros((L, L))
    K._update_numpy(ref, ptr, idx, np.ones(ptr.size - 1))
    C = np.zeros((L, L))
    K._update_xp(np, C, ptr, idx, np.ones(ptr.size - 1))
    np.testing.assert_array_equal(C, ref)
    r, c, v = K._pairs_xp(np, ptr, idx, np.ones(ptr.size - 1))
    np.testing.assert_array_equal(dense_from_pairs(r, c, v, L), ref)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L", [1, 7, 60, 300])
def test_generic_update_matches_reference(seed, L):
    rng = np.random.default_rng(seed)
    ptr, idx = random_batch(rng, int(rng.integers(1, 200)), L)
    start = rng.integers(0, 4, (L, L)).astype(np.float64)
    w = rng.integers(-2, 3, ptr.size - 1).astype(np.float64)
    ref = start.copy()
    K._update_numpy(ref, ptr, idx, w)
    C = start.copy()
    K._update_xp(np, C, ptr, idx, w)
    np.testing.assert_array_equal(C, ref)  # integer weights: exact in any order


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_four_byte_and_integer_matrices(dtype, backend):
    rng = np.random.default_rng(5)
    ptr, idx = random_batch(rng, 300, 40)
    ref = np.zeros((40, 40))
    cooccurrence_update(ref, ptr, idx, weight=2, backend="numpy")
    C = np.zeros((40, 40), dtype=dtype)
    cooccurrence_update(C, ptr, idx, weight=2, backend=backend)
    assert C.dtype == dtype
    np.testing.assert_array_equal(C, ref)
    C2 = np.zeros((40, 40), dtype=dtype)
    K._update_xp(np, C2, *csr(ptr, idx, 40), np.full(300, 2.0))
    np.testing.assert_array_equal(C2, ref)
    np.testing.assert_array_equal(jaccard(C, backend=backend), jaccard(ref))


# ------------------------------------------------------------------------- pairs

@pytest.mark.parametrize("case", list(EDGE_BATCHES))
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_pairs_edge_cases(case, backend):
    indptr, indices, L = EDGE_BATCHES[case]
    ref = np.zeros((L, L))
    cooccurrence_update(ref, indptr, indices, backend="numpy")
    r, c, v = cooccurrence_pairs(indptr, indices, n_labels=L, backend=backend)
    assert r.dtype == c.dtype == np.int64 and v.dtype == np.float64
    np.testing.assert_array_equal(dense_from_pairs(r, c, v, L), ref)
    assert np.count_nonzero(ref) == r.size


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("L", [3, 50, 2000])
def test_pairs_backends_agree_bit_for_bit_and_match_dense(seed, L):
    rng = np.random.default_rng(seed)
    ptr, idx = random_batch(rng, int(rng.integers(1, 400)), L)
    w = rng.random(ptr.size - 1)  # fractional: summation order matters
    got = {b: cooccurrence_pairs(ptr, idx, weight=w, backend=b) for b in ("numpy", "numba")}
    for a, b in zip(got["numpy"], got["numba"]):
        np.testing.assert_array_equal(a, b)  # same pairs, same order, same sums
    r, c, v = got["numba"]
    keys = r * L + c
    assert np.all(np.diff(keys) > 0)  # sorted by (row, col), unique
    ref = np.zeros((L, L))
    cooccurrence_update(ref, ptr, idx, weight=w, backend="numpy")
    np.testing.assert_allclose(dense_from_pairs(r, c, v, L), ref, rtol=1e-12, atol=1e-12)


def test_pairs_validate_and_keep_cancelled_pairs():
    r, c, v = cooccurrence_pairs([0, 2, 4], [0, 1, 1, 0], weight=[1.0, -1.0])
    assert r.tolist() == [0, 0, 1, 1] and v.tolist() == [0.0] * 4
    with pytest.raises(ValueError, match=r"indices must lie in \[0, L=2\)"):
        cooccurrence_pairs([0, 1], [2], n_labels=2)
    with pytest.raises(ValueError, match="n_labels"):
        cooccurrence_pairs([0], [], n_labels=2**40)
    with pytest.raises(ValueError, match="per-record weights"):
        cooccurrence_pairs([0, 1], [0], weight=[1.0, 2.0])


# ------------------------------------------------------------------------ jaccard

@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L", [0, 1, 9, 120])
def test_generic_jaccard_equals_reference_bit_for_bit(seed, L):
    rng = np.random.default_rng(seed)
    C = np.zeros((L, L))
    if L:
        cooccurrence_update(C, *random_batch(rng, 300, L))
    C[L // 2:, L // 2:] *= rng.random() * 1e-3  # a scaled block: not integer counts
    ref = K._jaccard_numpy(C)
    np.testing.assert_array_equal(K._jaccard_xp(np, C), ref)
    np.testing.assert_array_equal(jaccard(C, backend="numba"), ref)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_jaccard_pairs_equal_dense_jaccard(backend):
    rng = np.random.default_rng(2)
    L = 70
    ptr, idx = random_batch(rng, 500, L)
    C = np.zeros((L, L))
    cooccurrence_update(C, ptr, idx)
    J = jaccard(C, backend="numpy")
    r, c, v = cooccurrence_pairs(ptr, idx, backend=backend)
    got = jaccard_pairs(r, c, v, np.diagonal(C), backend=backend)
    np.testing.assert_array_equal(got, J[r, c])
    # arbitrary pairs, including never-seen labels and the diagonal
    rr, cc = rng.integers(0, L, 200), rng.integers(0, L, 200)
    np.testing.assert_array_equal(
        jaccard_pairs(rr, cc, C[rr, cc], np.diagonal(C), backend=backend), J[rr, cc])
    np.testing.assert_array_equal(K._jaccard_pairs_xp(np, rr, cc, C[rr, cc], np.diagonal(C)),
                                  J[rr, cc])


def test_jaccard_pairs_validate():
    with pytest.raises(ValueError, match="one shape"):
        jaccard_pairs([0], [0, 1], [1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"cols must lie in \[0, len\(diagonal\)=2\)"):
        jaccard_pairs([0], [2], [1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        jaccard_pairs([0], [0], [1.0], [[1.0]])


# -------------------------------------------------------------------------- top-k

@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L,k", [(0, 3), (1, 3), (2, 1), (10, 3), (50, 49), (120, 5)])
def test_generic_topk_equals_reference(seed, L, k):
    rng = np.random.default_rng(seed)
    J = np.round(rng.random((L, L)), 1)  # many ties
    J = (J + J.T) / 2
    k = min(k, max(L - 1, 0))
    ref = K._topk_numpy(J, k)
    for chunk in (K._CHUNK_ELEMENTS, 7):  # one block, and blocks of one row
        got = K._topk_xp(np, J, k, chunk_elements=chunk)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def sparse_similarity(rng, L, density):
    """A symmetric non-negative CSR similarity with ties, explicit zeros and a diagonal."""
    S = np.round(rng.random((L, L)), 1) * (rng.random((L, L)) < density)
    S = np.maximum(S, S.T)
    np.fill_diagonal(S, 1.0)
    S[rng.random((L, L)) < 0.02] = 0.0  # stored zeros appear below through the mask
    mask = (S > 0) | (rng.random((L, L)) < 0.05)
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    rows, cols = np.nonzero(mask)
    return S, indptr, cols.astype(np.int64), S[rows, cols]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L,k,density", [(1, 2, 0.5), (2, 1, 0.0), (12, 4, 0.3),
                                         (60, 5, 0.05), (60, 40, 0.2), (150, 10, 0.0),
                                         (150, 33, 0.02)])
def test_sparse_topk_equals_dense_topk(seed, L, k, density):
    rng = np.random.default_rng(seed)
    S, indptr, indices, values = sparse_similarity(rng, L, density)
    ref = topk_similar(S, k, backend="numpy")
    for backend in ("numpy", "numba"):
        got = topk_similar_sparse(indptr, indices, values, k, backend=backend)
        np.testing.assert_array_equal(got[0], ref[0], err_msg=backend)
        np.testing.assert_array_equal(got[1], ref[1], err_msg=backend)
    kk = min(k, max(L - 1, 0))
    for chunk in (K._CHUNK_ELEMENTS, 5):
        got = K._topk_sparse_xp(np, indptr, indices, values, kk, chunk_elements=chunk)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
        got = K._topk_sparse_dense_xp(np, indptr, indices, values, kk, chunk_elements=chunk)
        np.testing.assert_array_equal(got[0], ref[0])


def test_sparse_topk_validates():
    with pytest.raises(ValueError, match="strictly increasing"):
        topk_similar_sparse([0, 2, 2], [1, 1], [0.5, 0.5], 1)
    with pytest.raises(ValueError, match=">= 0 and not NaN"):
        topk_similar_sparse([0, 1, 1], [1], [np.nan], 1)
    with pytest.raises(ValueError, match=">= 0 and not NaN"):
        topk_similar_sparse([0, 1, 1], [1], [-0.5], 1)
    with pytest.raises(ValueError, match="match indices"):
        topk_similar_sparse([0, 1, 1], [1], [0.5, 0.1], 1)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, L=2\)"):
        topk_similar_sparse([0, 1, 1], [2], [0.5], 1)
    with pytest.raises(ValueError, match="k must be"):
        topk_similar_sparse([0, 0], [], [], -1)
    idx, val = topk_similar_sparse([0], [], [], 3)  # L = 0
    assert idx.shape == val.shape == (0, 0)


# ------------------------------------------------------------------ metric counts

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("L", [1, 8, 300])
def test_generic_metric_counts_equal_reference(seed, L):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 200))
    t = random_batch(rng, n, L, mean_labels=2.0, repeats=False)
    p = random_batch(rng, n, L, mean_labels=2.0, repeats=False)
    if n:  # empty truth and empty prediction in some records
        t = (np.concatenate([[0, 0], t[0][1:]]), t[1])
        p = (np.concatenate([[0], p[0][1:], [p[0][-1]]]), p[1])
    ref = _metric_counts_numpy(*csr(*t, L), *csr(*p, L), L)
    got = _metric_counts_xp(np, *csr(*t, L), *csr(*p, L), L)
    for r, g in zip(ref, got):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("args", [([0], [], [0], [], 3), ([0, 0], [], [0, 2], [0, 1], 2),
                                  ([0, 2], [0, 1], [0, 0], [], 2), ([0], [], [0], [], 0)])
def test_generic_metric_counts_edge_cases(args):
    t_ptr, t_idx, p_ptr, p_idx, L = args
    ref = metric_counts(*args, backend="numpy")
    got = _metric_counts_xp(np, *csr(t_ptr, t_idx, L), *csr(p_ptr, p_idx, L), L)
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(g, r)


def test_host_matrix_with_gpu_like_indices_is_refused():
    class cupy_like:  # noqa: N801 - mimics a CuPy array's module for the check
        __module__ = "cupy._core.core"
    with pytest.raises(ValueError, match="CuPy arrays"):
        cooccurrence_update(np.zeros((2, 2)), cupy_like(), [0])


def test_every_numba_kernel_is_compiled_by_numba():
    import sys

    from numba.core.registry import CPUDispatcher

    from stream.kernels.jit import Kernel

    mods = [K, sys.modules["stream.kernels.metric_counts"]]
    names = [(m, n) for m in mods for n in dir(m) if n.endswith("_numba")]
    assert len(names) == 7
    for mod, name in names:
        kernel = getattr(mod, name)
        # ahead-of-time compiled where built (stream/kernels/aot.py), numba's dispatcher else
        assert isinstance(kernel, Kernel), name
        assert isinstance(kernel.dispatcher, CPUDispatcher), name


# A representative third of tests/test_kernels_gpu.py (every kernel family, the edge
# cases, both GPU-resident stores), run in a child process where ``import cupy`` gives
# tests/_fake_cupy.py: a NumPy-backed stand-in that refuses implicit host conversion and
# host/device mixing like CuPy does. It checks the CuPy branches' plumbing on any
# machine; CuPy itself and the CUDA source need the real GPU run.
GPU_SUBSET = ("test_auto or edge_cases or fractional or test_jaccard_pairs or gpu_stores "
              "or (topk_matches_reference and 10-3-0) or (sparse_topk and 150-40-0) "
              "or (metric_counts_match_reference and 60-0) or (pairs_match_numba and 200-0) "
              "or (fused_jaccard and 257-0) or (update_matches_reference and 300-0)")


def test_gpu_test_suite_runs_against_a_numpy_backed_cupy():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    boot = ("import sys; sys.path.insert(0, 'tests'); import _fake_cupy; "
            "_fake_cupy.install(); import pytest; sys.exit(pytest.main(sys.argv[1:]))")
    proc = subprocess.run(
        [sys.executable, "-c", boot, "-q", "-p", "no:cacheprovider",
         "tests/test_kernels_gpu.py", "-k", GPU_SUBSET],
        cwd=root, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "31 passed" in out and "skipped" not in out, out[-2000:]
