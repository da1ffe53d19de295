"""The alert hook protocol and the dispatcher that fans drift events out to hooks.

An alert hook is anything with ``deliver(event) -> None`` (it may block, it may raise) and
``close() -> None``. :class:`AlertDispatcher` is what the loop talks to: :meth:`emit` applies
a cooldown, so that a burst of detections becomes one alert, and hands the event to every
hook without ever raising or blocking:

* hooks with a true ``background`` attribute (webhook, command, Kafka topic) are wrapped in
  a :class:`~connectors.alerts.queue.BackgroundDelivery` (a daemon thread and a bounded
  queue: a full queue drops and counts, it never blocks the learner);
* the others (a Python callable, a JSONL file) run inline; their exceptions are caught,
  counted and logged.

Examples
--------
>>> from drift.events import new_event
>>> seen = []
>>> alerts = AlertDispatcher([seen.append], cooldown_records=1000)
>>> for position in (5000, 5010, 5020, 9000):
...     _ = alerts.emit(new_event("adwin", "global", position, timestamp=0.0))
>>> [(e.position, e.details["suppressed"]) for e in seen]
[(5000, 0), (9000, 2)]
>>> alerts.close()
>>> alerts.stats["alerted"], alerts.stats["suppressed"]
(2, 2)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from connectors.alerts.queue import BackgroundDelivery, hook_name

__all__ = ["AlertDeliveryError", "AlertDispatcher", "AlertHook", "InlineDelivery"]

log = logging.getLogger(__name__)


class AlertDeliveryError(Exception):
    """A hook could not deliver an event (after its own retries, if it has any)."""


@runtime_checkable
class AlertHook(Protocol):
    """Where alerts go. ``deliver`` may block and may raise; ``close`` releases resources.

    Hooks that block on the network or on another process set ``background = True`` so the
    dispatcher delivers to them from a background queue.
    """

    def deliver(self, event) -> None: ...

    def close(self) -> None: ...


class InlineDelivery:
    """Run a quick hook in the caller's thread, catching, counting and logging failures."""

    background = False

    def __init__(self, hook):
        self.hook = hook
        self.name = hook_name(hook)
        self._delivered = 0
        self._failed = 0

    def deliver(self, event) -> None:
        try:
            self.hook.deliver(event)
        except Exception as exc:  # noqa: BLE001 - a hook's failure never reaches the learner
            self._failed += 1
            log.warning("alert hook %s: delivery of %s failed: %s", self.name,
                        getattr(event, "id", "?"), exc)
        else:
            self._delivered += 1

    @property
    def stats(self) -> dict:
        return {"delivered": self._delivered, "failed": self._failed, "dropped": 0,
                "queued": 0}

    def close(self, timeout: float | None = None) -> None:
        try:
            self.hook.close()
        except Exception as exc:  # noqa: BLE001
            log.warning("alert hook %s: close failed: %s", self.name, exc)

    def __repr__(self):
        return f"InlineDelivery({self.hook!r})"


class AlertDispatcher:
    """Hand drift events to alert hooks, with a cooldown and without ever stalling.

    Parameters
    ----------
    hooks
        Alert hooks, or plain callables (wrapped in
        :class:`~connectors.alerts.callable.CallableHook`).
    cooldown_seconds
        After an alert, further events with the same key are suppressed for this long
        (``time.monotonic``; 0 turns it off).
    cooldown_records
        ... and while their position is less than this many records after the alerted
        one (0 turns it off). Either window suppresses; use records for replays, where a
        whole stream can pass in seconds, and seconds for live workers.
    kinds
        Event kinds that alert (``None``: all). Others are counted as ``filtered``.
    max_queue
        Queue size of each background hook.
    clock
        Monotonic clock in seconds (for tests).

    Notes
    -----
    The cooldown key is ``(level, detector, learner, kind)``: one detector's burst is one
    alert, while a warning never hides the drift that follows it, and two learners or
    levels never hide each other. The next alert of a key carries in
    ``details["suppressed"]`` how many events of that key were suppressed since the
    previous alert (0 when none), so nothing disappears silently.

    Attributes
    ----------
    stats
        ``emitted``, ``alerted``, ``suppressed``, ``filtered``, ``delivered``, ``failed``,
        ``dropped`` (sums over hooks) and ``hooks``: each hook's own counts by name.
    """

    def __init__(self, hooks: Iterable = (), *, cooldown_seconds: float = 0.0,
                 cooldown_records: int = 0, kinds: Iterable[str] | None = None,
                 max_queue: int = 1000, clock: Callable[[], float] = time.monotonic):
        if cooldown_seconds < 0 or cooldown_records < 0:
            raise ValueError("cooldowns must be >= 0")
        from connectors.alerts.callable import CallableHook

        self.cooldown_seconds = cooldown_seconds
        self.cooldown_records = cooldown_records
        self.kinds = None if kinds is None else frozenset(kinds)
        self.max_queue = max_queue
        self.clock = clock
        self.hooks = []
        for hook in hooks:
            if not hasattr(hook, "deliver") and callable(hook):
                hook = CallableHook(hook)
            if not isinstance(hook, AlertHook):
                raise TypeError(f"an alert hook needs deliver(event) and close(); got {hook!r}")
            if isinstance(hook, (InlineDelivery, BackgroundDelivery)):
                self.hooks.append(hook)
            elif getattr(hook, "background", False):
                self.hooks.append(BackgroundDelivery(hook, max_queue=max_queue))
            else:
                self.hooks.append(InlineDelivery(hook))
        self._last: dict = {}
        self._lock = threading.Lock()
        self._emitted = 0
        self._alerted = 0
        self._suppressed = 0
        self._filtered = 0
        self._closed = False

    def emit(self, event) -> bool:
        """Alert every hook about ``event`` unless cooled down or filtered; True if alerted.

        Never raises because of a hook and never waits on the network.
        """
        with self._lock:
            self._emitted += 1
            if self._closed or (self.kinds is not None and event.kind not in self.kinds):
                self._filtered += 1
                return False
            key = (event.level, event.detector, event.learner, event.kind)
            now = self.clock()
            last = self._last.get(key)
            if last is not None:
                last_time, last_position, suppressed = last
                delta = event.position - last_position
                if ((self.cooldown_seconds and now - last_time < self.cooldown_seconds)
                        or (self.cooldown_records and 0 <= delta < self.cooldown_records)):
                    self._last[key] = (last_time, last_position, suppressed + 1)
                    self._suppressed += 1
                    return False
                n_suppressed = suppressed
            else:
                n_suppressed = 0
            self._last[key] = (now, event.position, 0)
            self._alerted += 1
        details = dict(event.details or {})
        details["suppressed"] = n_suppressed
        event = event.replace(details=details)
        for hook in self.hooks:
            hook.deliver(event)
        return True

    @property
    def stats(self) -> dict:
        per_hook = {}
        for i, hook in enumerate(self.hooks):
            name = hook.name if hook.name not in per_hook else f"{hook.name}-{i}"
            per_hook[name] = hook.stats
        out = {"emitted": self._emitted, "alerted": self._alerted,
               "suppressed": self._suppressed, "filtered": self._filtered}
        for field in ("delivered", "failed", "dropped"):
            out[field] = sum(s[field] for s in per_hook.values())
        out["hooks"] = per_hook
        return out

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for background hooks to finish what is queued; False if time ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for hook in self.hooks:
            if isinstance(hook, BackgroundDelivery):
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                ok = hook.flush(remaining) and ok
        return ok

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued within ``timeout`` seconds (all hooks together), then close.

        Logs a summary, as a warning when events failed or were dropped.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + timeout
        for hook in self.hooks:
            hook.close(timeout=max(0.0, deadline - time.monotonic()))
        if self.hooks:
            s = self.stats
            level = logging.WARNING if s["failed"] or s["dropped"] else logging.INFO
            log.log(level, "alerts: %d events, %d alerted, %d suppressed by cooldown, "
                    "%d filtered; deliveries: %d ok, %d failed, %d dropped", s["emitted"],
                    s["alerted"], s["suppressed"], s["filtered"], s["delivered"], s["failed"],
                    s["dropped"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"AlertDispatcher(hooks={self.hooks!r}, cooldown_seconds="
                f"{self.cooldown_seconds}, cooldown_records={self.cooldown_records})")
