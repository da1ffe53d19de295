"""``njit`` for labelstream's kernels: ahead-of-time compiled code when it is there, numba else.

Every kernel module decorates its loops with this module's :func:`njit` instead of numba's.
The decorator imports nothing: it returns a :class:`Kernel`, which on a call

1. looks the arguments' types up in the ahead-of-time (AOT) extension that
   ``pip install`` builds (:mod:`stream.kernels.aot`), and runs the compiled function
   when the types are ones it was built for and the kernel sources are the ones it was
   built from; no numba is imported and nothing is compiled;
2. otherwise hands the call to a numba dispatcher made on first need with the same options
   (``cache=True`` and the rest), exactly as ``numba.njit`` would have.

Both paths run the same source through the same compiler, so the results are identical
(tested); the AOT path only saves numba's import, its target's start-up and the compile or
cache load of each kernel: most of a short run's time.

A kernel called from another kernel is typed as its numba dispatcher, so compiled code
calls compiled code directly either way.

Examples
--------
>>> import numpy as np
>>> @njit(cache=False)
... def total(a):
...     s = 0.0
...     for v in a:
...         s += v
...     return s
>>> total(np.arange(4.0))
6.0
>>> float(total.py_func(np.arange(4.0)))  # the Python function itself
6.0
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["Kernel", "njit", "numba_loaded"]

_NDARRAY = np.ndarray
# a scalar argument's key: the numpy dtype numba types it as (int -> int64, float -> float64)
_SCALAR_KEYS = {int: np.dtype(np.int64), float: np.dtype(np.float64), bool: np.dtype(np.bool_)}
for _t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
           np.float32, np.float64, np.bool_):
    _SCALAR_KEYS[_t] = np.dtype(_t)

_KERNELS: list[Kernel] = []
_TYPEOF_REGISTERED = False


def arg_key(a):
    """The part of numba's type of ``a`` that picks a compiled specialisation (hashable).

    Arrays: dtype, dimensions, layout (C, F or A, as numba maps it), writeable, aligned;
    scalars: the dtype numba gives them; tuples: their items' keys; anything else its type
    (which no AOT signature holds, so such calls go to numba).

    Examples
    --------
    >>> arg_key(np.zeros((2, 3)))
    (dtype('float64'), 2, 'C', True, True)
    >>> arg_key(np.zeros((2, 3))[:, ::2])[2], arg_key(3), arg_key((1.0, np.int32(2)))
    ('A', dtype('int64'), (dtype('float64'), dtype('int32')))
    """
    t = type(a)
    if t is _NDARRAY:
        f = a.flags
        layout = "C" if f.c_contiguous else ("F" if f.f_contiguous else "A")
        return (a.dtype, a.ndim, layout, f.writeable, f.aligned)
    key = _SCALAR_KEYS.get(t)
    if key is not None:
        return key
    if t is tuple:
        return tuple([arg_key(v) for v in a])
    return t


class Kernel:
    """A compiled loop: the AOT function for known argument types, a numba dispatcher else.

    Parameters
    ----------
    py_func
        The Python function (numba's nopython subset).
    options
        ``numba.njit`` options (``cache``, ``nogil``, ``inline``, ``error_model``...).
    """

    def __init__(self, py_func, options: dict):
        self.py_func = py_func
        self.options = dict(options)
        self.__name__ = py_func.__name__
        self.__qualname__ = py_func.__qualname__
        self.__module__ = py_func.__module__
        self.__doc__ = py_func.__doc__
        self.__wrapped__ = py_func
        self._dispatcher = None
        self._aot = None  # {argument keys: compiled function}, {} when there is none
        self._last = None  # (arguments, their keys) of the last AOT call
        _KERNELS.append(self)

    @property
    def name(self) -> str:
        """``module:qualname``, the kernel's name in the AOT table."""
        return f"{self.__module__}:{self.__qualname__}"

    @property
    def dispatcher(self):
        """The numba dispatcher (made, and numba imported, on first use)."""
        d = self._dispatcher
        if d is None:
            import numba

            _register_typeof()
            d = self._dispatcher = numba.njit(**self.options)(self.py_func)
        return d

    def __call__(self, *args):
        table = self._aot
        if table is None:
            table = self._aot = _aot_table(self)
        if table:
            last = self._last
            if last is not None and len(last[0]) == len(args):
                # a kernel is mostly called with the same state arrays as last time: their
                # keys are reused (an ndarray's dtype, dimensions and flags are not changed
                # in place anywhere in labelstream)
                keys = tuple([k if a is p else arg_key(a)
                              for a, p, k in zip(args, last[0], last[1])])
            else:
                keys = tuple([arg_key(a) for a in args])
            fn = table.get(keys)
            if fn is not None:
                self._last = (args, keys)
                if _RECORD_PATH is not None:
                    _record(self, args)
                return fn(*args)
        if _RECORD_PATH is not None:
            _record(self, args)
        return self.dispatcher(*args)

    def __repr__(self) -> str:
        return f"Kernel({self.name})"

    def __reduce__(self):
        # pickled by name, as a module-level function is
        return _kernel_by_name, (self.__module__, self.__qualname__)


def _kernel_by_name(module: str, qualname: str) -> Kernel:
    import importlib

    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def njit(**options):
    """Decorate a kernel: ``@njit(cache=True, nogil=True)`` as with numba (see module doc)."""
    def decorate(py_func):
        return Kernel(py_func, options)
    return decorate


def numba_loaded() -> bool:
    """True once anything in this process has imported numba.

    Examples
    --------
    >>> isinstance(numba_loaded(), bool)
    True
    """
    import sys

    return "numba" in sys.modules


def _register_typeof() -> None:
    """Let numba type a :class:`Kernel` global as its dispatcher (compiled calls compiled)."""
    global _TYPEOF_REGISTERED
    if _TYPEOF_REGISTERED:
        return
    from numba.extending import typeof_impl

    @typeof_impl.register(Kernel)
    def _typeof_kernel(val, c):
        return typeof_impl(val.dispatcher, c)

    _TYPEOF_REGISTERED = True


def _aot_table(kernel: Kernel) -> dict:
    if os.environ.get("LABELSTREAM_AOT", "1") == "0":
        return {}
    from stream.kernels import aot_lookup as aot

    return aot.table_for(kernel.name)


# --- recording the argument types of calls (to choose what the AOT build compiles) ----------

_RECORD_PATH = os.environ.get("LABELSTREAM_RECORD_KERNELS")
_RECORDED: dict = {}


def _record(kernel: Kernel, args) -> None:
    key = (kernel.name, tuple([arg_key(a) for a in args]))
    if key not in _RECORDED:
        from numba import typeof

        _RECORDED[key] = [typeof(a) for a in args]
        if len(_RECORDED) == 1:
            import atexit

            atexit.register(_write_recorded)


def _write_recorded() -> None:
    from stream.kernels import aot_lookup as aot

    aot.append_signatures(_RECORD_PATH, [(name, types) for (name, _), types
                                         in _RECORDED.items()])
