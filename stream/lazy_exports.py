"""Package names that load on first use (PEP 562), so start-up imports only what it needs.

A package lists where each public name lives; ``from package import Name`` (or
``package.Name``) imports that one module then and keeps the value, and ``dir()`` still
shows every name.

Examples
--------
>>> import sys, types
>>> pkg = types.ModuleType("pkg")
>>> sys.modules["pkg"] = pkg
>>> pkg.__getattr__, pkg.__dir__ = lazy_exports("pkg", {"sqrt": "math", "pi": "math"})
>>> pkg.pi
3.141592653589793
>>> "pi" in vars(pkg), "sqrt" in vars(pkg)  # loaded and kept; the rest waits
(True, False)
>>> pkg.tau
Traceback (most recent call last):
...
AttributeError: module 'pkg' has no attribute 'tau'
>>> del sys.modules["pkg"]
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: each name in ``where`` is imported from
    the module ``where[name]`` the first time it is asked for."""

    def __getattr__(name: str):
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
