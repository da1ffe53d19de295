"""Label co-occurrence over a stream: cumulative, over a sliding window, or faded.

The entry point of the co-occurrence stores, above both of them. What lives where:

* here: the layout choice (:func:`label_cooccurrence`, :func:`choose_layout`,
  :func:`dense_nbytes`, :data:`DENSE_MAX_BYTES`) and the memory plan below;
  :class:`RollingCooccurrence` is importable from here;
* :mod:`stream.dense_cooccurrence`: :class:`RollingCooccurrence`, the dense store;
* :mod:`stream.sparse_cooccurrence`:
  :class:`~stream.sparse_cooccurrence.SparseCooccurrence`, the sparse store;
* :mod:`stream._cooccurrence_base` (below both stores): their shared buffering, sliding
  window, fading and readers (``_CooccurrenceStream``) and :func:`csr_matrix`.

Neither store imports the other; this module imports both.

:class:`RollingCooccurrence` keeps the co-occurrence matrix ``C`` of the label sets seen
so far (``C[i, j]`` = weighted number of records holding both labels ``i`` and ``j``,
``C[i, i]`` = weighted number holding ``i``) and the Jaccard similarities derived from it.
It feeds iHOMER's label clustering and the label-structure drift detectors of
:mod:`drift.label_structure`. The arithmetic is done by the kernels of
:mod:`stream.kernels.cooccurrence`; records are buffered and handed over in batches.
:class:`stream.sparse_cooccurrence.SparseCooccurrence` is its sibling for label spaces
whose ``L x L`` matrix does not fit; both answer the same questions.

Memory plan for large label spaces
----------------------------------
A dense matrix costs ``L**2 * itemsize`` bytes whatever the data: 4 bytes a cell in
``int32`` (window and cumulative counts, exact up to ``2**31`` records) or ``float32``,
8 bytes in ``float64`` (required with a fading factor, whose lazy scaling needs the
range). The sparse store costs what the data holds: 16 bytes per stored ordered pair
(an ``int64`` key and a ``float64`` count, both orientations, so 32 bytes per unordered
pair) plus 8 bytes per label for the diagonal.

==========  ===================  ===================  =================================
labels L    dense 4-byte counts  dense float64        sparse (records with ~5 labels)
==========  ===================  ===================  =================================
1,000       4 MB                 8 MB                 ~20 ordered pairs per record, at
10,000      400 MB               800 MB               most: 32 MB per 100,000 distinct
100,000     40 GB                80 GB                unordered pairs, independent of L
==========  ===================  ===================  =================================

:func:`label_cooccurrence` picks the layout: dense while ``L**2 * itemsize`` stays within
``max_dense_bytes`` (:data:`DENSE_MAX_BYTES`, 1 GiB: up to ``L = 16,384`` with 4-byte
counts, ``11,585`` with ``float64``), sparse beyond it or when ``L`` is not known in
advance. The full Jaccard matrix (:meth:`~RollingCooccurrence.jaccard`) is ``float64``
and adds ``8 L**2`` bytes: in large label spaces ask for what is needed instead —
:meth:`~RollingCooccurrence.jaccard_submatrix` (the labels of one cluster),
:meth:`~RollingCooccurrence.jaccard_pairs` (chosen pairs),
:meth:`~RollingCooccurrence.topk_similar` (``L x k`` neighbours) or
:meth:`~RollingCooccurrence.jaccard_csr` (every positive similarity, a sparse matrix).
Costs per call, dense / sparse: ``jaccard_submatrix`` ``O(m**2)`` /
``O(sum of the m labels' neighbours + m**2)``; ``topk_similar`` ``O(L**2)`` /
``O(nnz + L k)``; ``update`` ``O(labels per record ** 2)`` amortised for both (the sparse
store merges a flushed batch into its sorted arrays in ``O(nnz)`` and flushes less often
as it grows).

With ``backend="cupy"`` the dense matrix (or the sparse arrays) live on the GPU: records
still arrive on the host, each flushed batch is copied to the device (a few kB), and the
readers return CuPy arrays.
"""

from __future__ import annotations

import numpy as np

from stream.dense_cooccurrence import RollingCooccurrence
from stream.sparse_cooccurrence import SparseCooccurrence

__all__ = [
    "DENSE_MAX_BYTES",
    "RollingCooccurrence",
    "choose_layout",
    "dense_nbytes",
    "label_cooccurrence",
]

#: the largest dense co-occurrence matrix :func:`label_cooccurrence` allocates (1 GiB)
DENSE_MAX_BYTES = 1 << 30


def dense_nbytes(n_labels: int, dtype=np.float64) -> int:
    """Bytes of a dense ``(n_labels, n_labels)`` co-occurrence matrix.

    Examples
    --------
    >>> dense_nbytes(10_000, "int32") / 1e6
    400.0
    """
    return int(n_labels) ** 2 * np.dtype(dtype).itemsize


def choose_layout(n_labels, dtype=np.float64, max_dense_bytes: int = DENSE_MAX_BYTES) -> str:
    """``"dense"`` when the ``L x L`` matrix fits in ``max_dense_bytes``, else ``"sparse"``.

    An unknown label count (``None``) gives ``"sparse"``: it has no size limit.

    Examples
    --------
    >>> choose_layout(10_000, "int32"), choose_layout(100_000, "int32"), choose_layout(None)
    ('dense', 'sparse', 'sparse')
    """
    if n_labels is None:
        return "sparse"
    return "dense" if dense_nbytes(n_labels, dtype) <= max_dense_bytes else "sparse"


def label_cooccurrence(n_labels: int | None = None, *, window_size: int | None = None,
                       fading_factor: float | None = None, layout: str = "auto",
                       dtype=None, max_dense_bytes: int = DENSE_MAX_BYTES,
                       backend: str = "auto"):
    """A co-occurrence store sized for ``n_labels`` labels: dense if it fits, else sparse.

    Parameters
    ----------
    n_labels
        Expected number of labels (the store still grows past it); ``None`` if unknown.
    window_size, fading_factor
        As in :class:`RollingCooccurrence` (at most one).
    layout
        ``"auto"`` (see :func:`choose_layout`), ``"dense"`` or ``"sparse"``.
    dtype
        Dense cell type: default ``int32`` (4 bytes) for window or cumulative counts,
        ``float64`` with a fading factor (the only type it allows).
    max_dense_bytes
        Largest dense matrix for ``layout="auto"``.
    backend
        Kernel backend; ``"cupy"`` keeps the store on the GPU.

    Returns
    -------
    RollingCooccurrence or stream.sparse_cooccurrence.SparseCooccurrence

    Examples
    --------
    >>> label_cooccurrence(1_000, window_size=5_000)
    RollingCooccurrence(window_size=5000, fading_factor=None)
    >>> label_cooccurrence(100_000, window_size=5_000)
    SparseCooccurrence(window_size=5000, fading_factor=None)
    """
    fading = fading_factor is not None and fading_factor < 1.0
    if dtype is None:
        dtype = np.float64 if fading else np.int32
    if layout == "auto":
        layout = choose_layout(n_labels, dtype, max_dense_bytes)
    if layout == "dense":
        return RollingCooccurrence(window_size, fading_factor, backend,
                                   capacity=n_labels or 0, dtype=dtype)
    if layout == "sparse":
        return SparseCooccurrence(window_size, fading_factor, backend)
    raise ValueError(f"layout must be 'auto', 'dense' or 'sparse', got {layout!r}")

