"""Checkpoints of a worker's models: cut, wait for the outputs, write, then commit.

:class:`Checkpointer` owns the checkpoint store, the lock on a single-model checkpoint,
the background writer thread and the one checkpoint in flight. A checkpoint goes in
this order, always:

1. **cut** (loop thread): each state with unsaved work is pickled -- the consistent cut
   -- and the output sink is asked to have everything produced so far acknowledged;
2. **write** (writer thread, or the caller's with ``wait=True``): once the outputs are
   acknowledged, each snapshot is written atomically (temp file, fsync, rename; see
   :class:`~connectors.checkpoint.CheckpointStore`);
3. **commit** (loop thread, the next time it looks): the offsets the cut covered are
   handed to ``commit`` (the partition owner commits them to the group).

A crash before 2 leaves the previous checkpoint; outputs are never covered by a
checkpoint before they are acknowledged; a commit never runs ahead of its snapshot.

A snapshot that cannot be written (a full disk, a read-only or vanished directory) leaves
the last good one untouched (the write is atomic) and commits nothing: the worker logs
``worker.checkpoint_failed``, counts it (:attr:`Checkpointer.n_failed`), keeps learning,
and the next checkpoint writes the states again. Only the periodic checkpoints are
survived this way: a stop's final one and a rebalance's raise, as they hand the work on
and must not pretend it is saved.

Who calls it: the worker (:mod:`connectors.worker.loop`) -- from the loop's thread, and
from the rebalance listener on kafka-python's IO thread while the loop waits in
``poll`` (there with ``wait=True`` and the commit left to the listener). It holds no
Kafka client; :func:`load_state` opens a model from its checkpoint or anew.

Examples
--------
>>> from learners.registry import make_learner
>>> from connectors.worker.state import ModelState
>>> state = ModelState.new("demo", "br", make_learner("br"), detector="none", label_drift=())
>>> committed = []
>>> cp = Checkpointer(None, topic="demo", commit=committed.append)
>>> cp.loop_thread = threading.current_thread()
>>> cp.checkpoint("requested", [state], {"demo-0": 5})
True
>>> cp.n_checkpoints, committed
(1, [{'demo-0': 5}])
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any, Callable

from connectors.worker.errors import WorkerError
from connectors.worker.logfmt import kv
from connectors.worker.state import ModelState

__all__ = ["Checkpointer", "FLUSH_TIMEOUT", "OUTAGE_TIMEOUT", "load_state"]

log = logging.getLogger(__name__)

#: The checkpoints a failed write is survived in (the others -- a stop's final one, a
#: rebalance's -- hand work on and must not pretend it is saved).
PERIODIC = ("every", "interval")

#: Seconds allowed for the producer to have every output acknowledged at a checkpoint that
#: must complete now (a stop's, a rebalance's).
FLUSH_TIMEOUT = 60.0

#: Seconds a periodic checkpoint may wait for its outputs (a broker outage): the loop goes
#: on meanwhile and later periodic checkpoints wait their turn; it is also how long the
#: output producer keeps retrying a message.
OUTAGE_TIMEOUT = 3600.0


class _CheckpointJob:
    """One checkpoint between its cut (states pickled) and its completion."""

    def __init__(self, reason: str, payloads: list, offsets: dict, learned: int, t0: float,
                 states: list = ()):
        self.reason = reason
        self.states = states  # those whose payloads this job writes
        self.payloads = payloads  # [(name, pickled state)]
        self.offsets = offsets  # to commit once written
        self.learned = learned
        self.t0 = t0
        self.cut_seconds = 0.0
        self.flush_seconds = 0.0
        self.n_bytes = 0
        self.error: BaseException | None = None
        self.flush_timeout = FLUSH_TIMEOUT
        self.done = threading.Event()


class Checkpointer:
    """Snapshot, background write, then commit (see the module docstring for the order).

    Parameters
    ----------
    store
        A :class:`~connectors.checkpoint.CheckpointStore`, or ``None`` (nothing is
        written; checkpoints still cut, flush the outputs and commit).
    topic
        The input topic (recorded in each snapshot).
    outputs
        The output sink (``request_flush`` / ``wait_flushed``), or ``None``; may be set
        once it is started.
    commit
        Called with a checkpoint's offsets once it is written, on the loop's thread.

    Attributes
    ----------
    loop_thread : threading.Thread or None
        The loop's thread: commits happen there only.
    n_checkpoints : int
        Checkpoints completed this run.
    n_failed : int
        Checkpoints whose snapshot could not be written this run (see the module docstring).
    last_error : str or None
        Why the last checkpoint failed (``None`` once one succeeds again).
    last_cut : float
        ``time.monotonic()`` of the last cut (the start, before the first).
    """

    def __init__(self, store, *, topic: str, outputs=None,
                 commit: Callable[[dict], Any] | None = None,
                 flush_timeout: float = FLUSH_TIMEOUT,
                 outage_timeout: float = OUTAGE_TIMEOUT):
        self.store = store
        self.topic = topic
        self.outputs = outputs
        self.commit = commit
        self.flush_timeout = flush_timeout
        self.outage_timeout = outage_timeout
        self.loop_thread: threading.Thread | None = None
        self.n_checkpoints = 0
        self.n_failed = 0
        self.last_error: str | None = None
        self.last_cut = time.monotonic()
        self._last_done_wall: float | None = None
        self._inflight: _CheckpointJob | None = None
        self._jobs: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None
        self._lock_file = None

    # -- one checkpoint ------------------------------------------------------------------
    def checkpoint(self, reason: str, states, offsets: dict | None = None, *,
                   wait: bool = True) -> bool:
        """Cut ``states`` now; write them and commit ``offsets`` (now, or in the
        background with ``wait=False``; at most one checkpoint is in flight).

        Returns ``False`` when a ``wait=False`` checkpoint is deferred because the one in
        flight still waits for its outputs (a broker outage): the caller asks again later.
        A ``wait=True`` checkpoint waits at most ``flush_timeout`` for the one in flight.
        """
        if not wait and self._inflight is not None and not self._inflight.done.is_set():
            return False
        self.finish(block=True, timeout=self.flush_timeout + 5.0)
        t0 = time.perf_counter()
        states = list(states)
        payloads, written = [], []
        for state in states:
            if state.unsaved or state.saved_at is None:
                if self.store is not None:
                    payloads.append((state.name, self.store.dumps(
                        state.to_checkpoint(self.topic))))
                    written.append((state, state.unsaved, state.saved_at))
                state.unsaved = 0
                state.saved_at = time.time()
        job = _CheckpointJob(reason, payloads, dict(offsets or {}),
                             sum(s.evaluator.n_learned for s in states), t0, written)
        if not wait and reason in PERIODIC:
            job.flush_timeout = self.outage_timeout
        else:
            job.flush_timeout = self.flush_timeout
        self.last_cut = time.monotonic()
        if self.outputs is not None:
            from connectors.worker.outputs import OutputError

            try:
                self.outputs.request_flush(job.flush_timeout)
            except OutputError as err:
                raise WorkerError(f"outputs not delivered: {err}; no checkpoint "
                                       "written: a restart resumes from the last one") from None
        job.cut_seconds = time.perf_counter() - t0
        self._inflight = job
        if wait:
            self._write(job)
            self.finish(block=True)
        else:
            if self._writer is None:
                self._writer = threading.Thread(target=self._writer_loop, daemon=True,
                                                name="labelstream-checkpoint-writer")
                self._writer.start()
            self._jobs.put(job)
        return True

    def finish(self, *, block: bool, timeout: float | None = None) -> None:
        """Complete the checkpoint in flight if it is written (or wait for it, at most
        ``timeout`` seconds): raise its error, commit its offsets (on the loop's thread
        only), log it."""
        job = self._inflight
        if job is None or not (block or job.done.is_set()):
            return
        if not job.done.wait(timeout):
            raise WorkerError(f"outputs not delivered within {timeout:g} s (are the brokers "
                              "reachable?); no checkpoint written: a restart resumes from "
                              "the last one")
        self._inflight = None
        if job.error is not None:
            from connectors.checkpoint import CheckpointError
            from connectors.worker.outputs import OutputError

            if isinstance(job.error, OutputError):
                raise WorkerError(f"outputs not delivered: {job.error}; no checkpoint "
                                       "written: a restart resumes from the last one")
            if isinstance(job.error, (OSError, CheckpointError)):
                if job.reason not in PERIODIC:
                    raise WorkerError(f"checkpoint not written: {job.error}; the last good "
                                      "checkpoint stays: a restart resumes from it")
                self._failed(job)
                return
            raise job.error
        if (job.offsets and self.commit is not None
                and threading.current_thread() is self.loop_thread):
            self.commit(job.offsets)
        self.n_checkpoints += 1
        self._last_done_wall = time.time()
        if self.last_error is not None:
            log.warning(kv("worker.checkpoint_recovered", after_failures=self.n_failed))
            self.last_error = None
        log.info(kv("worker.checkpoint", reason=job.reason, saved=len(job.payloads),
                    bytes=job.n_bytes, learned=job.learned, cut_seconds=job.cut_seconds,
                    flush_seconds=job.flush_seconds, seconds=time.perf_counter() - job.t0))

    def _failed(self, job: _CheckpointJob) -> None:
        """A snapshot could not be written: nothing is committed, its states count as
        unsaved again (the next checkpoint rewrites them), and the loop goes on."""
        for state, unsaved, saved_at in job.states:
            state.unsaved = max(state.unsaved + unsaved, 1)
            state.saved_at = saved_at
        self.n_failed += 1
        self.last_error = f"{type(job.error).__name__}: {job.error}"
        directory = getattr(self.store, "directory", None)
        log.warning(kv("worker.checkpoint_failed", reason=job.reason, error=self.last_error,
                       directory=directory, failures=self.n_failed,
                       hint="the last good checkpoint stays and no offset is committed past "
                            "it; learning goes on and the next checkpoint tries again"))

    def age(self) -> float | None:
        """Seconds since the last checkpoint this run completed (``None`` before one)."""
        if self._last_done_wall is None:
            return None
        return time.time() - self._last_done_wall

    def _write(self, job: _CheckpointJob) -> None:
        """Wait for the outputs the job covers, then write its snapshots (any thread)."""
        try:
            if self.outputs is not None:
                self.outputs.wait_flushed(job.flush_timeout)
            job.flush_seconds = time.perf_counter() - job.t0
            for name, payload in job.payloads:
                job.n_bytes += self.store.write(name, payload)
        except BaseException as err:  # noqa: BLE001 - handed to the loop's thread
            job.error = err
        finally:
            job.done.set()

    def _writer_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._write(job)

    # -- the store's lock, closing ---------------------------------------------------------
    def lock(self, name: str) -> None:
        """Hold checkpoint ``name`` for this process (an flock, released when it dies).

        The lock file is held open read-only: a file open for writing would keep the
        directory's file system from being remounted read-only (``mount: ... busy``).
        """
        import fcntl

        path = self.store.directory / f".{name}.lock"
        try:
            fh = os.fdopen(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600), "rb")
        except OSError as err:
            raise WorkerError(f"cannot create the checkpoint lock {path}: "
                              f"{err.strerror or err}; the checkpoint directory "
                              f"{self.store.directory} must be writable (remount it "
                              "read-write, fix its owner or permissions) or give another "
                              "--checkpoint-dir") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise WorkerError(f"another worker holds the checkpoint {name!r} in "
                                   f"{self.store.directory} (lock {path}); give this one "
                                   "another --checkpoint-dir or --worker-id") from None
        self._lock_file = fh

    def close(self, timeout: float | None = None) -> None:
        """Let the checkpoint in flight finish (at most ``timeout`` seconds; by default the
        flush timeout and 10 s) and stop the writer.

        A checkpoint still waiting for its outputs then is abandoned: nothing of it is
        written or committed, and its writer thread (a daemon) is not waited for.
        """
        job = self._inflight
        wait = self.flush_timeout + 10 if timeout is None else timeout
        abandoned = job is not None and not job.done.wait(wait)
        if abandoned:
            log.warning(kv("worker.checkpoint_abandoned", reason=job.reason))
        if self._writer is not None:
            self._jobs.put(None)
            if not abandoned:
                self._writer.join(timeout=5)
            self._writer = None

    def unlock(self) -> None:
        """Release the checkpoint's lock (the worker's very last step)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def load_state(store, config, name: str) -> ModelState:
    """The state of checkpoint ``name`` from ``store``, or a new one when there is none.

    Raises :class:`~connectors.checkpoint.CheckpointError` for a checkpoint that fails
    its integrity check or does not fit ``config`` (another topic or learner).
    """
    data = store.load(name) if store is not None else None
    if data is None:
        log.info(kv("worker.model.new", checkpoint=name, learner=config.learner))
        return ModelState.new(name, config.learner,
                              config.new_learner(),
                              window_size=config.window, detector=config.detector,
                              label_drift=config.label_drift)
    try:
        state = ModelState.from_checkpoint(data, name=name, topic=config.topic,
                                           learner_name=config.learner)
    except ValueError as err:
        from connectors.checkpoint import CheckpointError

        raise CheckpointError(str(err)) from None
    log.info(kv("worker.model.restored", checkpoint=name, learned=state.evaluator.n_learned,
                offsets=state.offsets, pending=len(state.pending)))
    return state
