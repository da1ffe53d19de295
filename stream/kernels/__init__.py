"""Kernels: a numpy reference, a numba version and (with the GPU extra) a CuPy version of each
array computation, behind one validating wrapper per kernel family."""

from stream.kernels.cooccurrence import (
    cooccurrence_update,
    jaccard,
    jaccard_distance,
    topk_similar,
)
from stream.kernels.metric_counts import metric_counts

__all__ = [
    "cooccurrence_update",
    "jaccard",
    "jaccard_distance",
    "metric_counts",
    "topk_similar",
]
