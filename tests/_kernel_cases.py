"""Edge-case label batches that every kernel backend must handle like the numpy reference.

Each case is ``(indptr, indices, L)``: a CSR batch of label sets over ``L`` labels. Shared
by ``test_kernels_xp.py`` (numpy, numba, array-generic code) and ``test_kernels_gpu.py``
(CuPy on a GPU).
"""

EDGE_BATCHES = {
    "empty batch": ([0], [], 3),
    "empty batch, L = 0": ([0], [], 0),
    "records without labels": ([0, 0, 0], [], 2),
    "L = 1": ([0, 1, 1, 2], [0, 0], 1),
    "one label": ([0, 1], [2], 3),
    "unsorted indices": ([0, 3, 5], [2, 0, 1, 3, 1], 4),
    "repeated column counts once": ([0, 3], [1, 1, 0], 2),
}
