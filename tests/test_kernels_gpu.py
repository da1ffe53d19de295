"""The CuPy backend on a real GPU: every kernel family and both co-occurrence stores equal
the numpy reference on edge cases and seeded random inputs, and results stay on the GPU.

Skips as a whole, with the reason, where CuPy is not installed or no CUDA device is
visible (every CPU machine). The array-generic code these tests run on the GPU is run
with ``xp=numpy`` by ``test_kernels_xp.py`` on every machine.

    python -m pytest tests/test_kernels_gpu.py -v      # on a GPU machine, about a minute
"""

import numpy as np
import pytest

cp = pytest.importorskip(
    "cupy", reason="CuPy is not installed (pip install -e '.[gpu]' on a GPU machine)")
try:
    _GPU = bool(cp.cuda.is_available())
except Exception as err:  # a broken driver or runtime is a skip with its message
    _GPU, _WHY = False, f"CUDA is not usable: {err}"
else:
    _WHY = "CuPy is installed but no CUDA GPU is visible"
if not _GPU:
    pytest.skip(_WHY, allow_module_level=True)

from stream.cooccurrence import RollingCooccurrence  # noqa: E402
from stream.kernels import (  # noqa: E402
    cooccurrence_pairs,
    cooccurrence_update,
    jaccard,
    jaccard_distance,
    jaccard_pairs,
    metric_counts,
    topk_similar,
    topk_similar_sparse,
)
from stream.kernels._backend import resolve_backend  # noqa: E402
from _kernel_cases import EDGE_BATCHES  # noqa: E402
from stream.sparse_cooccurrence import SparseCooccurrence  # noqa: E402



def random_batch(rng, n, L, mean_labels=5.0):
    m = np.minimum(rng.poisson(mean_labels - 1, n) + 1, L)
    rows = [np.sort(rng.choice(L, size=k, replace=False)) for k in m]
    indptr = np.concatenate([[0], np.cumsum(m)]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if n else np.zeros(0, np.int64)
    return indptr, indices


def on_gpu(*arrays):
    return tuple(cp.asarray(a) for a in arrays)


def host(a):
    assert isinstance(a, cp.ndarray), f"expected a CuPy result, got {type(a).__name__}"
    return cp.asnumpy(a)


def test_auto_picks_cupy_for_device_arrays():
    assert resolve_backend("auto", cp.zeros(3)) == "cupy"
    with pytest.raises(ValueError, match="CuPy arrays"):
        jaccard(cp.zeros((2, 2)), backend="numba")


# ------------------------------------------------------------------------ update

@pytest.mark.parametrize("case", list(EDGE_BATCHES))
def test_update_edge_cases(case):
    indptr, indices, L = EDGE_BATCHES[case]
    ref = np.zeros((L, L))
    cooccurrence_update(ref, indptr, indices, backend="numpy")
    C = cp.zeros((L, L))
    cooccurrence_update(C, *on_gpu(indptr, indices))  # auto: CuPy
    np.testing.assert_array_equal(host(C), ref)
    C = cp.zeros((L, L))
    cooccurrence_update(C, indptr, indices, backend="cupy")  # a host batch is copied over
    np.testing.assert_array_equal(host(C), ref)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L", [7, 300, 5000])
def test_update_matches_reference(seed, L, dtype):
    rng = np.random.default_rng(seed)
    indptr, indices = random_batch(rng, 1024, L)
    start = rng.integers(0, 4, (L, L)).astype(dtype) if L <= 300 else np.zeros((L, L), dtype)
    w = rng.integers(-2, 3, 1024).astype(np.float64)  # integers: exact in any order
    ref = start.astype(np.float64)
    cooccurrence_update(ref, indptr, indices, weight=w, backend="numpy" if L <= 300 else "numba")
    C = cp.asarray(start)
    cooccurrence_update(C, *on_gpu(indptr, indices, w))
    assert C.dtype == dtype
    np.testing.assert_array_equal(host(C), ref)


def test_update_with_fractional_weights_is_close():
    rng = np.random.default_rng(9)
    indptr, indices = random_batch(rng, 2000, 50)
    w = rng.random(2000)  # the GPU sums in another order: equal to rounding
    ref = np.zeros((50, 50))
    cooccurrence_update(ref, indptr, indices, weight=w, backend="numpy")
    C = cp.zeros((50, 50))
    cooccurrence_update(C, *on_gpu(indptr, indices, w))
    np.testing.assert_allclose(host(C), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L", [3, 200, 100_000])
def test_pairs_match_numba(seed, L):
    rng = np.random.default_rng(seed)
    indptr, indices = random_batch(rng, 1024, L)
    ref = cooccurrence_pairs(indptr, indices, backend="numba")
    got = cooccurrence_pairs(*on_gpu(indptr, indices))
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(host(g), r)


# ------------------------------------------------------------------------ jaccard

@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L", [0, 1, 4, 257, 3000])
def test_fused_jaccard_equals_reference_bit_for_bit(seed, L):
    rng = np.random.default_rng(seed)
    C = np.zeros((L, L))
    if L:
        cooccurrence_update(C, *random_batch(rng, 4000, L))
        C[L // 2:, L // 2:] *= rng.random()  # not integer counts
    ref = jaccard(C, backend="numpy")
    np.testing.assert_array_equal(host(jaccard(cp.asarray(C))), ref)
    np.testing.assert_array_equal(host(jaccard(cp.asarray(C).astype(cp.float32))),
                                  jaccard(C.astype(np.float32), backend="numpy"))
    np.testing.assert_array_equal(host(jaccard_distance(cp.asarray(C))),
                                  jaccard_distance(C, backend="numpy"))


def test_jaccard_pairs_match_reference():
    rng = np.random.default_rng(1)
    L = 500
    C = np.zeros((L, L))
    cooccurrence_update(C, *random_batch(rng, 3000, L))
    rr, cc = rng.integers(0, L, 5000), rng.integers(0, L, 5000)
    ref = jaccard_pairs(rr, cc, C[rr, cc], np.diagonal(C), backend="numpy")
    got = jaccard_pairs(*on_gpu(rr, cc, C[rr, cc], np.diagonal(C).copy()))
    np.testing.assert_array_equal(host(got), ref)


# -------------------------------------------------------------------------- top-k

@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L,k", [(0, 3), (1, 3), (2, 1), (10, 3), (50, 49), (400, 10),
                                 (3000, 10)])
def test_topk_matches_reference(seed, L, k):
    rng = np.random.default_rng(seed)
    J = np.round(rng.random((L, L)), 1)  # many ties
    J = (J + J.T) / 2
    ref = topk_similar(J, k, backend="numpy" if L <= 400 else "numba")
    idx, val = topk_similar(cp.asarray(J), k)
    np.testing.assert_array_equal(host(idx), ref[0])
    np.testing.assert_array_equal(host(val), ref[1])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("L,k,density", [(1, 2, 0.5), (12, 4, 0.3), (150, 10, 0.02),
                                         (150, 40, 0.2), (2000, 10, 0.005)])
def test_sparse_topk_matches_dense_reference(seed, L, k, density):
    rng = np.random.default_rng(seed)
    S = np.round(rng.random((L, L)), 1) * (rng.random((L, L)) < density)
    S = np.maximum(S, S.T)
    np.fill_diagonal(S, 1.0)
    mask = S > 0
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    rows, cols = np.nonzero(mask)
    ref = topk_similar(S, k, backend="numba")
    idx, val = topk_similar_sparse(*on_gpu(indptr, cols, S[rows, cols]), k)
    np.testing.assert_array_equal(host(idx), ref[0])
    np.testing.assert_array_equal(host(val), ref[1])


# ------------------------------------------------------------------ metric counts

@pytest.mark.parametrize("args", [([0], [], [0], [], 3), ([0, 0], [], [0, 2], [0, 1], 2),
                                  ([0, 2], [0, 1], [0, 0], [], 2), ([0], [], [0], [], 0),
                                  ([0, 2], [0, 3], [0, 2], [0, 3], 4)])
def test_metric_counts_edge_cases(args):
    ref = metric_counts(*args, backend="numpy")
    got = metric_counts(*on_gpu(*args[:4]), args[4])
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(host(g), r)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("L", [1, 60, 100_000])
def test_metric_counts_match_reference(seed, L):
    rng = np.random.default_rng(seed)
    t = random_batch(rng, 1024, L, 3.0)
    p = random_batch(rng, 1024, L, 3.0)
    ref = metric_counts(*t, *p, L, backend="numba")
    got = metric_counts(*on_gpu(*t, *p), L)
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(host(g), r)


# ---------------------------------------------------------------- the GPU stores

@pytest.mark.parametrize("cls", [RollingCooccurrence, SparseCooccurrence])
@pytest.mark.parametrize("mode", [{}, {"window_size": 300}, {"fading_factor": 0.99}])
def test_gpu_stores_equal_host_stores(cls, mode):
    rng = np.random.default_rng(3)
    rows = [np.sort(rng.choice(80, size=int(rng.integers(0, 6)), replace=False))
            for _ in range(1500)]
    kw = {"prune_below": 0.0} if cls is SparseCooccurrence and mode.get("fading_factor") \
        else {}
    cpu, gpu = cls(**mode, **kw), cls(**mode, backend="cupy", **kw)
    for r in rows:
        cpu.update(r)
        gpu.update(r)
    close = (np.testing.assert_allclose if "fading_factor" in mode
             else np.testing.assert_array_equal)
    close(host(gpu.counts()), cpu.counts())
    close(host(gpu.jaccard()), cpu.jaccard())
    labels = [3, 70, 5, 200]
    close(host(gpu.jaccard_submatrix(labels)), cpu.jaccard_submatrix(labels))
    close(host(gpu.jaccard_pairs([1, 2, 90], [4, 2, 1])), cpu.jaccard_pairs([1, 2, 90], [4, 2, 1]))
    gi, gv = gpu.topk_similar(5)
    ci, cv = cpu.topk_similar(5)
    close(host(gv), cv)
    if "fading_factor" not in mode:
        np.testing.assert_array_equal(host(gi), ci)
    close(gpu.jaccard_csr().toarray().get(), cpu.jaccard_csr().toarray())
