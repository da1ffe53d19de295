"""Delivery from a bounded background queue, so a slow or dead endpoint never slows learning.

:class:`BackgroundDelivery` wraps one hook (webhook, command, Kafka) with a daemon thread and
a bounded queue. :meth:`BackgroundDelivery.deliver` never blocks and never raises: when the
queue is full the event is dropped and counted. The thread delivers events one at a time;
a failure (the hook raised, after its own retries) is counted and logged. Drops are logged
at most every ``log_interval`` seconds, with the count since the last message, so a storm of
drops is a few log lines.

Examples
--------
>>> from drift.events import new_event
>>> got = []
>>> class Slow:
...     name = "slow"
...     def deliver(self, event):
...         got.append(event.id)
...     def close(self):
...         pass
>>> bg = BackgroundDelivery(Slow(), max_queue=10)
>>> bg.deliver(new_event("adwin", "global", 1, timestamp=0.0))
>>> bg.flush(timeout=5)
True
>>> bg.close(timeout=5)
>>> bg.stats["delivered"], bg.stats["dropped"], len(got)
(1, 0, 1)
"""

from __future__ import annotations

import logging
import queue
import threading
import time

__all__ = ["BackgroundDelivery", "hook_name"]

log = logging.getLogger(__name__)

_STOP = object()


def hook_name(hook) -> str:
    """A short name for logs and stats: the hook's ``name`` or its class name."""
    return str(getattr(hook, "name", None) or type(hook).__name__)


class BackgroundDelivery:
    """Deliver events to ``hook`` from a daemon thread fed by a bounded queue.

    Parameters
    ----------
    hook
        Anything with ``deliver(event)`` (may block, may raise) and ``close()``.
    max_queue
        Events waiting at most; more are dropped (and counted) rather than block the caller.
    log_interval
        Seconds between two log messages about drops.

    Attributes
    ----------
    stats
        ``delivered``, ``failed``, ``dropped`` and ``queued`` (waiting or in flight).
    """

    background = False  # already in the background: the dispatcher must not wrap it again

    def __init__(self, hook, max_queue: int = 1000, *, log_interval: float = 10.0):
        if max_queue < 1:
            raise ValueError("max_queue must be >= 1")
        self.hook = hook
        self.max_queue = max_queue
        self.log_interval = log_interval
        self.name = hook_name(hook)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._delivered = 0
        self._failed = 0
        self._dropped = 0
        self._dropped_unlogged = 0
        self._last_drop_log = -float("inf")
        self._closed = False
        self._abort = False
        self._thread: threading.Thread | None = None

    # -- caller side (never blocks) ------------------------------------------------------
    def deliver(self, event) -> None:
        """Queue ``event``; drop and count it when the queue is full or closed."""
        with self._lock:
            if self._closed:
                self._drop_locked("closed")
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"labelstream-alerts-{self.name}", daemon=True)
                self._thread.start()
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                self._drop_locked("queue full")
                return
            self._pending += 1

    def _drop_locked(self, why: str) -> None:
        self._dropped += 1
        self._dropped_unlogged += 1
        now = time.monotonic()
        if now - self._last_drop_log >= self.log_interval:
            log.warning("alert hook %s: dropped %d event(s) (%s; %d dropped in all)",
                        self.name, self._dropped_unlogged, why, self._dropped)
            self._dropped_unlogged = 0
            self._last_drop_log = now

    @property
    def stats(self) -> dict:
        with self._lock:
            return {"delivered": self._delivered, "failed": self._failed,
                    "dropped": self._dropped, "queued": self._pending}

    # -- delivery thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            if self._abort:
                with self._lock:
                    self._pending -= 1
                    self._drop_locked("closing")
                    self._idle.notify_all()
                continue
            ok = False
            try:
                self.hook.deliver(event)
                ok = True
            except Exception as exc:  # noqa: BLE001 - a hook's failure never reaches the learner
                log.warning("alert hook %s: delivery of %s failed: %s", self.name,
                            getattr(event, "id", "?"), exc)
            with self._lock:
                if ok:
                    self._delivered += 1
                else:
                    self._failed += 1
                self._pending -= 1
                self._idle.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event is delivered or failed; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop taking events, deliver what is queued until ``timeout``, then give up.

        Events still waiting at the deadline are counted as dropped; the hook is closed
        (which interrupts a webhook's backoff). An attempt in flight may finish later in
        the daemon thread; it never keeps the process alive.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        drained = self.flush(timeout) if thread is not None else True
        if not drained:
            self._abort = True
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    with self._lock:
                        self._pending -= 1
                        self._drop_locked("closing before delivery")
        try:
            self.hook.close()
        except Exception as exc:  # noqa: BLE001
            log.warning("alert hook %s: close failed: %s", self.name, exc)
        if thread is not None:
            try:
                self._queue.put_nowait(_STOP)
            except queue.Full:  # pragma: no cover - the queue was just emptied
                pass
            if drained:
                thread.join(1.0)
        stats = self.stats
        if stats["failed"] or stats["dropped"]:
            log.warning("alert hook %s: %d delivered, %d failed, %d dropped", self.name,
                        stats["delivered"], stats["failed"], stats["dropped"])

    def __repr__(self):
        return f"BackgroundDelivery({self.hook!r}, max_queue={self.max_queue})"
