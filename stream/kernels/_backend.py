"""Backend selection and the array-namespace helpers shared by the kernel wrappers.

CuPy is imported lazily, only when a CuPy array is seen or a GPU backend is asked for, so
that the package imports and runs without it. The array-generic ("xp") kernels take the
array module as their first argument: ``numpy`` on the host, ``cupy`` on a GPU. The GPU
backend runs those generic kernels with ``xp=cupy`` (plus a few fused CuPy kernels), and
the tests run the very same generic code with ``xp=numpy`` on any machine.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BACKENDS",
    "array_namespace",
    "cupy_available",
    "import_cupy",
    "is_cupy_array",
    "resolve_backend",
]

BACKENDS = ("auto", "numpy", "numba", "cupy")


def is_cupy_array(a) -> bool:
    """True when ``a`` is a CuPy array (without importing CuPy if it is not loaded)."""
    return type(a).__module__.split(".")[0] == "cupy"


def import_cupy():
    """Import and return the ``cupy`` module, or raise ``ImportError`` saying how to get it.

    Examples
    --------
    >>> try:
    ...     cp = import_cupy()
    ... except ImportError as err:
    ...     assert "pip install" in str(err)
    """
    try:
        import cupy
    except ImportError as err:  # pragma: no cover - depends on the machine
        raise ImportError(
            "the GPU backend needs CuPy: pip install -e '.[gpu]' (cupy-cuda12x) on a machine "
            "with an NVIDIA GPU"
        ) from err
    return cupy


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one usable CUDA device.

    Examples
    --------
    >>> isinstance(cupy_available(), bool)
    True
    """
    try:
        cupy = import_cupy()
        return bool(cupy.cuda.is_available())
    except Exception:  # ImportError, or a CUDA driver/runtime error
        return False


def array_namespace(*arrays):
    """The array module of ``arrays``: ``cupy`` if any is a CuPy array, else ``numpy``.

    Examples
    --------
    >>> import numpy as np
    >>> array_namespace(np.zeros(2), None) is np
    True
    """
    if any(is_cupy_array(a) for a in arrays if a is not None):
        return import_cupy()
    return np


def resolve_backend(backend: str, *arrays) -> str:
    """Pick the concrete backend for ``arrays``.

    ``"auto"`` means CuPy when any input is a CuPy array, else numba. An explicit
    backend that does not fit the inputs raises ``ValueError`` that says what to do: the
    kernels never copy between host and device behind the caller's back.

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


def as_index_array(a, name: str, xp=np):
    """``a`` as a 1-D int64 array of module ``xp`` (no copy when it already is one)."""
    arr = xp.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def check_csr(indptr, indices, n_labels: int, name: str = "", xp=np):
    """Validate a CSR batch (``indptr``, ``indices``) against ``n_labels`` columns.

    Returns both as int64 arrays of ``xp``. On a GPU the checks cost a few scalar reads.
    ``name`` prefixes the argument names in the messages (``"true"`` gives
    ``true_indptr``).
    """
    p = f"{name}_" if name else ""
    indptr = as_index_array(indptr, f"{p}indptr", xp)
    indices = as_index_array(indices, f"{p}indices", xp)
    if indptr.size == 0 or int(indptr[0]) != 0 or int(indptr[-1]) != indices.size:
        raise ValueError(
            f"{p}indptr must start at 0 and end at len({p}indices)={indices.size}"
        )
    if indptr.size > 1 and bool(xp.any(indptr[1:] < indptr[:-1])):
        raise ValueError(f"{p}indptr must be non-decreasing")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= n_labels):
        raise ValueError(f"{p}indices must lie in [0, {'n_labels' if name else 'L'}="
                         f"{n_labels})")
    return indptr, indices


def argsort_stable(xp, a, axis=-1):
    """Stable argsort in ``xp`` (CuPy's sort is always stable and takes no ``kind``)."""
    if xp is np:
        return np.argsort(a, axis=axis, kind="stable")
    return xp.argsort(a, axis=axis)


def segment_ids(xp, indptr, nnz: int):
    """The record of every stored entry of a CSR batch: ``repeat(arange(n), diff(indptr))``.

    Written with ``searchsorted`` because ``cupy.repeat`` takes no array of repeats.
    """
    return xp.searchsorted(indptr[1:], xp.arange(nnz, dtype=np.int64), side="right")
