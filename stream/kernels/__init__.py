"""Kernels: a numpy reference, a numba version and (with the GPU extra) a CuPy version of each
array computation, behind one validating wrapper per kernel family."""

from stream.kernels._backend import array_namespace, cupy_available
from stream.kernels.cooccurrence import (
    cooccurrence_pairs,
    cooccurrence_update,
    jaccard,
    jaccard_distance,
    jaccard_pairs,
    topk_similar,
    topk_similar_sparse,
)
from stream.kernels.metric_counts import metric_counts

__all__ = [
    "array_namespace",
    "cooccurrence_pairs",
    "cooccurrence_update",
    "cupy_available",
    "jaccard",
    "jaccard_distance",
    "jaccard_pairs",
    "metric_counts",
    "topk_similar",
    "topk_similar_sparse",
]
