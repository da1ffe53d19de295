"""Alert a Python callable: the hook for library use.

Examples
--------
>>> from drift.events import new_event
>>> received = []
>>> hook = CallableHook(received.append)
>>> hook.deliver(new_event("ddm", "global", 7, timestamp=0.0))
>>> received[0].position
7
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CallableHook"]


class CallableHook:
    """Call ``fn(event)`` for every alert, in the dispatcher's thread.

    Keep ``fn`` quick: it runs inline, between two records. Its exceptions are caught,
    counted and logged by the dispatcher. For slow work, give the dispatcher
    ``BackgroundDelivery(CallableHook(fn))`` instead, or set ``background=True``.

    Parameters
    ----------
    fn
        Called with the :class:`~drift.events.DriftEvent`.
    background
        Deliver from a background queue rather than inline.
    """

    def __init__(self, fn: Callable, *, background: bool = False):
        if not callable(fn):
            raise TypeError(f"expected a callable, got {fn!r}")
        self.fn = fn
        self.background = background
        self.name = "callable:" + getattr(fn, "__qualname__", type(fn).__name__)

    def deliver(self, event) -> None:
        self.fn(event)

    def close(self) -> None:
        pass

    def __repr__(self):
        return f"CallableHook({self.fn!r})"
