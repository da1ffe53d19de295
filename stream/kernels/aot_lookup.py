"""Where a kernel finds its ahead-of-time compiled code: the build's manifest, read once.

The argument types of the build are kept as JSON *specs*; this module turns them into the
numba types the build compiles (:func:`type_of_spec`, numba imported then) and into the
keys :func:`stream.kernels.jit.arg_key` computes at a call (:func:`key_of_spec`, numpy
only). :func:`table_for` loads the extension when every kernel source still has the hash it
was built from (else every table is empty: numba compiles, see :mod:`stream.kernels.aot`).

Examples
--------
>>> spec = ["array", "<f8", 2, "C", False, True]
>>> key_of_spec(spec)
(dtype('float64'), 2, 'C', True, True)
>>> key_of_spec(["tuple", [["scalar", "<i8"], ["none"]]])
(dtype('int64'), <class 'NoneType'>)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["append_signatures", "forget", "key_of_spec", "spec_of_type", "status",
           "table_for", "type_of_spec"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # the directory holding stream/, learners/...
DEFAULT_OUT = HERE / "_aot"
EXTENSION = "labelstream_kernels"
MANIFEST = "manifest.json"

_TABLES: dict | None = None
_PROBLEM: str | None = None


# --- specs: argument types as JSON ----------------------------------------------------------

def spec_of_type(ty):
    """A numba type as a JSON-able spec, or ``None`` when the AOT build does not take it."""
    from numba.core import types
    from numba.np.numpy_support import as_dtype

    if isinstance(ty, types.Array):
        return ["array", as_dtype(ty.dtype).str, ty.ndim, ty.layout, not ty.mutable,
                bool(ty.aligned)]
    if isinstance(ty, (types.Integer, types.Float, types.Boolean)):
        return ["scalar", as_dtype(ty).str]
    if isinstance(ty, types.NoneType):
        return ["none"]
    if isinstance(ty, types.BaseTuple):
        items = [spec_of_type(t) for t in ty.types]
        return None if any(i is None for i in items) else ["tuple", items]
    return None


def type_of_spec(spec):
    """The numba type a spec stands for (the inverse of :func:`spec_of_type`)."""
    from numba.core import types
    from numba.np.numpy_support import from_dtype

    kind = spec[0]
    if kind == "array":
        _, dtype, ndim, layout, readonly, aligned = spec
        return types.Array(from_dtype(np.dtype(dtype)), ndim, layout, readonly=readonly,
                           aligned=aligned)
    if kind == "scalar":
        return from_dtype(np.dtype(spec[1]))
    if kind == "none":
        return types.none
    return types.BaseTuple.from_types([type_of_spec(s) for s in spec[1]])


def key_of_spec(spec):
    """The :func:`stream.kernels.jit.arg_key` of the arguments a spec's type takes."""
    kind = spec[0]
    if kind == "array":
        _, dtype, ndim, layout, readonly, aligned = spec
        return (np.dtype(dtype), ndim, layout, not readonly, aligned)
    if kind == "scalar":
        return np.dtype(spec[1])
    if kind == "none":
        return type(None)
    return tuple(key_of_spec(s) for s in spec[1])


def append_signatures(path, entries) -> None:
    """Merge recorded ``(kernel name, [numba types])`` calls into the JSON list at ``path``."""
    path = Path(path)
    known = json.loads(path.read_text()) if path.exists() else []
    seen = {(e["kernel"], json.dumps(e["args"])) for e in known}
    for name, arg_types in entries:
        specs = [spec_of_type(t) for t in arg_types]
        if any(s is None for s in specs):
            continue
        k = (name, json.dumps(specs))
        if k not in seen:
            seen.add(k)
            known.append({"kernel": name, "args": specs})
    known.sort(key=lambda e: (e["kernel"], json.dumps(e["args"])))
    path.write_text(json.dumps(known, indent=0) + "\n")


# --- the lookup at run time -----------------------------------------------------------------

def _load(out=DEFAULT_OUT) -> dict:
    global _PROBLEM
    out = Path(out)
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        _PROBLEM = f"no AOT build in {out} (python -m stream.kernels.aot build)"
        return {}
    if manifest.get("python") != sys.implementation.cache_tag:
        _PROBLEM = f"the AOT build is for {manifest.get('python')}"
        return {}
    for rel, digest in manifest["sources"].items():
        try:
            now = hashlib.sha256((ROOT / rel).read_bytes()).hexdigest()
        except OSError:
            now = None
        if now != digest:
            _PROBLEM = f"{rel} changed since the AOT build (python -m stream.kernels.aot build)"
            return {}
    from importlib.machinery import ExtensionFileLoader
    from importlib.util import module_from_spec, spec_from_loader

    path = str(out / manifest["extension"])
    try:
        loader = ExtensionFileLoader(EXTENSION, path)
        ext = module_from_spec(spec_from_loader(EXTENSION, loader))
        loader.exec_module(ext)
    except (ImportError, OSError) as err:
        _PROBLEM = f"the AOT extension does not load: {err}"
        return {}
    tables: dict = {}
    for e in manifest["exports"]:
        key = tuple(key_of_spec(s) for s in e["args"])
        tables.setdefault(e["kernel"], {})[key] = getattr(ext, e["export"])
    return tables


def table_for(name: str) -> dict:
    """``{argument keys: compiled function}`` for kernel ``name`` (empty: use numba)."""
    global _TABLES
    if _TABLES is None:
        _TABLES = _load(os.environ.get("LABELSTREAM_AOT_DIR", DEFAULT_OUT))
    return _TABLES.get(name, {})


def forget() -> None:
    """Drop the loaded tables (the next lookup reads the build again)."""
    global _TABLES
    _TABLES = None


def status() -> str:
    """One line: how many kernels and signatures the AOT build serves, or why none."""
    table_for("")
    if not _TABLES:
        return f"AOT kernels: none ({_PROBLEM})"
    n = sum(len(t) for t in _TABLES.values())
    return f"AOT kernels: {len(_TABLES)} kernels, {n} signatures"


