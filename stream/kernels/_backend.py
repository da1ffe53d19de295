"""Backend selection shared by the kernel wrappers."""

from __future__ import annotations

import numpy as np

__all__ = ["BACKENDS", "resolve_backend", "is_cupy_array"]

BACKENDS = ("auto", "numpy", "numba", "cupy")


def is_cupy_array(a) -> bool:
    """True when ``a`` is a CuPy array (without importing CuPy if it is not loaded)."""
    return type(a).__module__.split(".")[0] == "cupy"


def resolve_backend(backend: str, *arrays) -> str:
    """Pick the concrete backend for ``arrays``.

    ``"auto"`` means CuPy when any input is a CuPy array, else numba. An explicit
    backend that does not fit the inputs raises ``ValueError`` that says what to do.

    Examples
    --------
    >>> import numpy as np
    >>> resolve_backend("auto", np.zeros(3))
    'numba'
    >>> resolve_backend("numpy", np.zeros(3))
    'numpy'
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    on_gpu = any(is_cupy_array(a) for a in arrays if a is not None)
    if backend == "auto":
        return "cupy" if on_gpu else "numba"
    if on_gpu and backend != "cupy":
        raise ValueError(
            f"backend={backend!r} was asked for CuPy arrays; pass backend='cupy' or 'auto', "
            "or move the inputs to the host with cupy.asnumpy"
        )
    if backend == "cupy" and not on_gpu:
        raise ValueError("backend='cupy' needs CuPy arrays; convert with cupy.asarray first")
    return backend


def as_index_array(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)
