"""A NumPy-backed stand-in for CuPy, to run the GPU tests' plumbing on a CPU machine.

``install()`` puts this module in ``sys.modules`` as ``cupy`` (and a minimal
``cupyx.scipy.sparse``); it is only ever called in a child process (see
``test_kernels_xp.py::test_gpu_test_suite_runs_against_a_numpy_backed_cupy``), never in
the main test session. What it checks: that the CuPy branches of the wrappers and of the
GPU-resident stores keep data in the "device" namespace, never hand device arrays to
NumPy (``numpy.asarray`` on a stand-in array raises ``TypeError``, as on CuPy), never mix
host and device arrays in one operation (raises, as on CuPy), and return device arrays.
What it cannot check: CuPy's own API coverage and the CUDA source of the fused Jaccard
kernel (the stand-in evaluates its formula with NumPy); those need the real GPU run.
"""

from __future__ import annotations

import sys
import types

import numpy as _np
from numpy.lib.mixins import NDArrayOperatorsMixin

_HOST_OK = {"asarray", "array", "ascontiguousarray"}  # host -> device copies are explicit


class ndarray(NDArrayOperatorsMixin):  # noqa: N801 - mirrors cupy.ndarray
    """A "device" array: a NumPy array that refuses implicit conversion to the host."""

    __slots__ = ("_a",)

    def __init__(self, a):
        self._a = a

    # ------------------------------------------------------------ host/device guards
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = _unwrap(inputs, strict=True)
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(kwargs["out"], strict=True))
        return _wrap(getattr(ufunc, method)(*args, **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args, strict=True), **_unwrap(kwargs, strict=True)))

    # --------------------------------------------------------------------- protocol
    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, strict=False)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key, strict=False)] = _unwrap(value, strict=True)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(x) for x in self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __bool__(self):
        return bool(self._a)

    def __repr__(self):
        return f"fake_cupy.{self._a!r}"

    def get(self):
        return self._a.copy()

    @property
    def T(self):  # noqa: N802
        return _wrap(self._a.T)

    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ & co: no silent host views
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *a, **k: _wrap(attr(*_unwrap(a, strict=True),
                                              **_unwrap(k, strict=True)))
        return attr


ndarray.__module__ = "cupy"  # what stream.kernels._backend.is_cupy_array looks at


def _unwrap(obj, strict):
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, _np.ndarray) and obj.ndim > 0 and strict:
        raise TypeError(f"Unsupported type {type(obj)} mixed with device arrays")
    if isinstance(obj, tuple):
        return tuple(_unwrap(o, strict) for o in obj)
    if isinstance(obj, list):
        return [_unwrap(o, strict) for o in obj]
    if isinstance(obj, dict):
        return {k: _unwrap(v, strict) for k, v in obj.items()}
    return obj


def _wrap(obj):
    if isinstance(obj, _np.ndarray):
        return ndarray(obj)
    if isinstance(obj, tuple):
        return tuple(_wrap(o) for o in obj)
    if isinstance(obj, list):
        return [_wrap(o) for o in obj]
    return obj


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else _np.asarray(a)


def argsort(a, axis=-1, kind=None):
    """CuPy sorts are always stable (and take no other ``kind``)."""
    if kind not in (None, "stable"):
        raise ValueError("only kind=None / 'stable' is supported")
    return ndarray(_np.argsort(_unwrap(a, strict=True), axis=axis, kind="stable"))


def sort(a, axis=-1, kind=None):
    if kind not in (None, "stable"):
        raise ValueError("only kind=None / 'stable' is supported")
    return ndarray(_np.sort(_unwrap(a, strict=True), axis=axis, kind="stable"))


class ElementwiseKernel:
    """Only the fused Jaccard kernel, its formula evaluated with NumPy."""

    def __init__(self, in_params, out_params, operation, name, **kwargs):
        if name != "labelstream_jaccard":
            raise NotImplementedError(f"the stand-in cannot run kernel {name!r}")

    def __call__(self, c, di, dj):
        c, di, dj = _unwrap((c, di, dj), strict=True)
        den = di + dj - c
        pos = den > 0
        return ndarray(_np.where(pos, c / _np.where(pos, den, 1.0), 0.0))


class _Pool:
    def free_all_blocks(self):
        pass


def get_default_memory_pool():
    return _Pool()


cuda = types.SimpleNamespace(
    is_available=lambda: True,
    Stream=types.SimpleNamespace(null=types.SimpleNamespace(synchronize=lambda: None)),
    runtime=types.SimpleNamespace(memGetInfo=lambda: (8 << 30, 16 << 30)),
)


def __getattr__(name):
    target = getattr(_np, name)
    if not callable(target) or isinstance(target, type):
        return target

    def call(*args, **kwargs):
        strict = name not in _HOST_OK
        return _wrap(target(*_unwrap(args, strict), **_unwrap(kwargs, strict)))

    call.__name__ = name
    return call


def _csr_matrix(arg, shape=None):
    from scipy.sparse import csr_matrix

    data, indices, indptr = _unwrap(arg, strict=True)
    m = csr_matrix((data, indices, indptr), shape=shape)
    wrapper = types.SimpleNamespace(shape=m.shape, toarray=lambda: ndarray(m.toarray()))
    return wrapper


def install():
    """Make ``import cupy`` (and ``cupyx.scipy.sparse``) give this stand-in."""
    me = sys.modules[__name__]
    sys.modules["cupy"] = me
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = types.ModuleType("cupyx.scipy")
    cupyx.scipy.sparse = types.ModuleType("cupyx.scipy.sparse")
    cupyx.scipy.sparse.csr_matrix = _csr_matrix
    sys.modules.update({"cupyx": cupyx, "cupyx.scipy": cupyx.scipy,
                        "cupyx.scipy.sparse": cupyx.scipy.sparse})
