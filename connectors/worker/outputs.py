"""The worker's output sink: predictions and dead letters produced from a child process.

``kafka-python`` is pure Python: a producer costs its caller tens of microseconds per
message, and its IO thread competes for the GIL with the learner, whose numba kernels
release the GIL several times per record (each release hands the interpreter to whichever
kafka thread is ready, and getting it back waits for that thread). Producing from the
worker's own process more than halves its records/s. :class:`OutputProcess` therefore
runs the ``KafkaProducer`` in a child process (a fresh interpreter: no fork after threads):
the worker appends small tuples to a batch (a run of records learned together: its
prediction arrays and one ``(key, id, source, records learned)`` tuple per record) and
hands the batch over a pipe once per poll (a few microseconds a record); the child makes
each prediction's labels and scores, encodes it and sends.

Delivery guarantee: :meth:`OutputProcess.flush` returns only after the child's producer
has every message so far acknowledged (or raises :class:`OutputError`), so a checkpoint
written after it never covers an output that was lost. A child that dies makes the next
flush fail; a parent that dies closes the pipe and the child flushes what it holds and
exits. The child ignores SIGINT and SIGTERM: the worker decides when output stops.

Back-pressure, bounded: kafka-python 3's producer has no memory bound (its accumulator
takes every ``send`` while the brokers are unreachable), so the child caps what it holds
unacknowledged at :data:`MAX_UNACKNOWLEDGED` messages: at the cap it stops reading the
socket until acknowledgements free room. The socket then fills and
:meth:`OutputProcess.send_batch` blocks the worker's loop -- it reads no more input -- logging
``worker.outputs_backpressure`` once it has waited :data:`BACKPRESSURE_LOG_SECONDS` and
``worker.outputs_flowing`` when the child reads again. What the output path holds is so
bounded by the cap, the socket's buffer and one poll's batch, however long the outage;
:attr:`OutputProcess.unacknowledged` counts it from the parent's side. A stop requested
while the loop is held (``stop``) ends the wait, after :data:`STOP_GRACE_SECONDS`, with
:class:`WorkerError`: no checkpoint covers the outputs held, so a restart repeats them.
The child's ``send`` may itself wait for metadata or room as long as a message may wait
for delivery (``max_block_ms`` is the ``delivery_timeout_ms``): an outage holds outputs,
it does not fail them.

Secrets never cross the pipe: the child is handed the :class:`KafkaSettings` (where the
SASL password is, not the password) and reads the password itself.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

from connectors.worker.errors import WorkerError
from connectors.worker.logfmt import kv

__all__ = ["BACKPRESSURE_LOG_SECONDS", "MAX_UNACKNOWLEDGED", "STOP_GRACE_SECONDS",
           "OutputError", "OutputProcess"]

log = logging.getLogger(__name__)

_READY_TIMEOUT = 60.0

#: Output messages the child holds sent but not acknowledged before it stops reading from
#: the worker (predictions are a few hundred bytes: some megabytes at most).
MAX_UNACKNOWLEDGED = 10_000

#: Seconds the loop waits for the output process to take a batch before it says so
#: (``worker.outputs_backpressure``).
BACKPRESSURE_LOG_SECONDS = 1.0

#: Seconds a wait for the output process goes on once a stop is requested (a slow output
#: path may still drain; a dead one ends the run).
STOP_GRACE_SECONDS = 10.0


class OutputError(WorkerError):
    """The outputs cannot be delivered (the broker refused them, or the child died).

    A :class:`~connectors.worker.errors.WorkerError`: raised out of the loop (a batch
    handed to a dead child), it ends the run with its one line, not a traceback.
    """


class OutputProcess:
    """Produce predictions and dead letters from a child process.

    Parameters
    ----------
    settings
        :class:`~connectors.kafka.client.KafkaSettings` of the brokers.
    learner
        The learner's name, written into each prediction.
    producer_options
        Extra ``KafkaProducer`` arguments.
    max_unacknowledged
        The child's cap on messages sent and not yet acknowledged (default
        :data:`MAX_UNACKNOWLEDGED`, read when the object is made).
    stop
        A :class:`threading.Event` (or anything with ``is_set``) whose setting ends a wait
        for the child to take a batch :data:`STOP_GRACE_SECONDS` later (see the module
        docstring), or ``None``.

    Attributes
    ----------
    backpressure_events : int
        Times a batch waited :data:`BACKPRESSURE_LOG_SECONDS` or more for the child.
    backpressure_seconds : float
        Seconds batches waited for the child in all.

    Notes
    -----
    Not thread-safe: one thread appends (the worker's loop) and flushes. The rebalance
    listener flushes from kafka-python's IO thread while the loop waits in ``poll``, which
    is the same thing in turn, not at once.
    """

    def __init__(self, settings, *, learner: str = "", producer_options: dict | None = None,
                 max_unacknowledged: int | None = None, stop=None):
        self.settings = settings
        self.learner = learner
        self.producer_options = dict(producer_options or {})
        # an outage holds outputs (bounded by the child's cap), it does not fail them
        self.producer_options.setdefault(
            "max_block_ms", self.producer_options.get("delivery_timeout_ms", 120_000))
        self.max_unacknowledged = int(MAX_UNACKNOWLEDGED if max_unacknowledged is None
                                      else max_unacknowledged)
        if self.max_unacknowledged < 1:
            raise ValueError("max_unacknowledged must be at least 1")
        self.stop = stop
        self.backpressure_events = 0
        self.backpressure_seconds = 0.0
        self._batch: list = []
        self._batch_messages = 0  # output messages in _batch
        self._handed = 0  # output messages handed to the child, ever
        self._acked = 0  # of which covered by an answered flush
        self._flush_marks: collections.deque = collections.deque()
        self._blocked_since: float | None = None
        self._stuck = False  # a wait for the child was given up: close() does not wait again
        self._sock = None
        self._conn = None
        self._proc = None

    def start(self) -> OutputProcess:
        """Start the child (returns at once; :meth:`wait_ready` waits for its producer).

        The child is ``python -m connectors.worker.outputs FD`` joined by a socket pair (a
        fresh interpreter, not ``multiprocessing``: that would re-run the caller's main
        script in the child).
        """
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"]
                                    if env.get("PYTHONPATH") else "")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "connectors.worker.outputs", str(child_sock.fileno())],
                pass_fds=(child_sock.fileno(),), stdin=subprocess.DEVNULL, env=env)
        finally:
            child_sock.close()
        # replies are read through the Connection; batches are written through the socket
        # itself, without blocking, so that a wait for the child can be seen and ended
        self._sock = parent_sock
        self._conn = Connection(os.dup(parent_sock.fileno()))
        self._send((self.settings, self.producer_options, self.learner,
                    self.max_unacknowledged), stoppable=False)
        return self

    def wait_ready(self, timeout: float = _READY_TIMEOUT) -> None:
        """Wait until the child's producer is connected; :class:`OutputError` if it fails."""
        reply = self._reply(timeout, "start")
        if reply[0] != "ready":
            raise OutputError(f"the output process could not start: {reply[1]}")

    # -- queueing ----------------------------------------------------------------------------
    def prediction(self, topic: str, key, record_id, source, positives, scores,
                   records_learned: int, shard: dict | None = None) -> None:
        """Queue a prediction (encoded in the child by
        :func:`~connectors.kafka.codec.encode_prediction`; ``shard``: a label shard's
        partial prediction)."""
        self._batch.append(("one", topic, key, record_id, source, positives, scores,
                            records_learned, shard))
        self._batch_messages += 1

    def predictions(self, topic: str, names: list, P, S, rows: list) -> None:
        """Queue the predictions of a run of records as arrays (see
        :meth:`~connectors.worker.state.WorkerEvaluator.process_many_predicted`): the
        child makes each row's labels and scores, so the worker's loop does not.

        ``rows`` holds ``(key, record_id, source, records_learned)`` per row of ``P``
        and ``S``, and a label shard's part of a partial prediction after them.
        """
        self._batch.append(("many", topic, names, P, S, rows))
        self._batch_messages += len(rows)

    def message(self, topic: str, key, value, headers=None) -> None:
        """Queue a ready message (a dead letter)."""
        self._batch.append(("message", topic, key, value, headers))
        self._batch_messages += 1

    def send_batch(self) -> None:
        """Hand what is queued to the child; blocks while the child holds its cap of
        unacknowledged messages (see the module docstring)."""
        if self._batch:
            batch, self._batch = self._batch, []
            n, self._batch_messages = self._batch_messages, 0
            self._handed += n
            self._send(batch)

    # -- what the output path holds ------------------------------------------------------
    @property
    def unacknowledged(self) -> int:
        """Output messages queued or handed to the child and not yet covered by an answered
        flush: an upper bound of what the output path holds (bounded by the child's cap,
        the socket's buffer and one batch while the loop is held)."""
        return self._handed + self._batch_messages - self._acked

    @property
    def blocked(self) -> bool:
        """Whether a batch is waiting for the child to take it now."""
        return self._blocked_since is not None

    def _send(self, obj, *, stoppable: bool = True, deadline: float | None = None) -> None:
        """Write ``obj`` as :meth:`multiprocessing.connection.Connection.send` frames it,
        waiting (and saying so) while the child does not read."""
        if self._sock is None:
            raise OutputError("the output process is not running")
        payload = ForkingPickler.dumps(obj)
        n = len(payload)
        header = struct.pack("!i", n) if n <= 0x7fffffff else struct.pack("!iQ", -1, n)
        started = warned = stop_seen = None
        taken = False
        try:
            for chunk in (header, payload):
                view = memoryview(chunk)
                while view:
                    try:
                        view = view[self._sock.send(view, socket.MSG_DONTWAIT):]
                        continue
                    except BlockingIOError:
                        pass
                    now = time.monotonic()
                    if started is None:
                        started = self._blocked_since = now
                    elif warned is None and now - started >= BACKPRESSURE_LOG_SECONDS:
                        warned = now
                        self.backpressure_events += 1
                        log.warning(kv("worker.outputs_backpressure",
                                       unacknowledged=self.unacknowledged,
                                       cap=self.max_unacknowledged,
                                       hint="the output producer cannot deliver (brokers or "
                                            "output topics unreachable, or slow): the loop "
                                            "waits and reads no input meanwhile"))
                    if stoppable and self.stop is not None and self.stop.is_set():
                        stop_seen = now if stop_seen is None else stop_seen
                    if stop_seen is not None and now - stop_seen >= STOP_GRACE_SECONDS:
                        self._stuck = True
                        raise WorkerError(
                            f"stop requested while {self.unacknowledged} output message(s) "
                            "wait for delivery (the output producer cannot deliver); no "
                            "checkpoint covers them: a restart resumes from the last one")
                    if deadline is not None and now >= deadline:
                        self._stuck = True
                        raise OutputError("the output process took nothing in time")
                    code = self._proc.poll() if self._proc is not None else None
                    if code is not None:
                        raise OutputError(f"the output process died (exit status {code}); "
                                          "the outputs since the last checkpoint are not "
                                          "covered by it: a restart resumes from it")
                    select.select([], [self._sock], [], 0.2)
            taken = True
        except OSError as err:  # BrokenPipeError, ConnectionResetError: the child is gone
            code = self._proc.poll() if self._proc is not None else None
            raise OutputError(f"the output process is gone (exit status {code}; {err}); the "
                              "outputs since the last checkpoint are not covered by it: a "
                              "restart resumes from it") from None
        finally:
            if started is not None:
                waited = time.monotonic() - started
                self._blocked_since = None
                self.backpressure_seconds += waited
                if warned is not None and taken:
                    log.warning(kv("worker.outputs_flowing", waited_seconds=waited,
                                   unacknowledged=self.unacknowledged))

    def flush(self, timeout: float) -> None:
        """Return once every output so far is acknowledged by the brokers."""
        self.request_flush(timeout)
        self.wait_flushed(timeout)

    def request_flush(self, timeout: float) -> None:
        """Ask for everything queued so far to be acknowledged; :meth:`wait_flushed` waits.

        One flush at a time. Queueing and sending more meanwhile is fine (from the same
        thread as before): the answer covers what was queued before the request.
        """
        self.send_batch()
        self._send(("flush", timeout))
        self._flush_marks.append(self._handed)

    def wait_flushed(self, timeout: float) -> None:
        """Wait for the answer to :meth:`request_flush` (may run on another thread)."""
        reply = self._reply(timeout + 5.0, "flush")
        mark = self._flush_marks.popleft() if self._flush_marks else None
        if reply[0] != "flushed":
            raise OutputError(reply[1])
        if mark is not None:
            self._acked = max(self._acked, mark)

    def _reply(self, timeout: float, what: str):
        try:
            if not self._conn.poll(timeout):
                raise OutputError(f"the output process did not answer {what} within "
                                  f"{timeout:g} s")
            return self._conn.recv()
        except (EOFError, OSError) as err:
            code = self._proc.poll() if self._proc is not None else None
            raise OutputError(f"the output process died (exit status {code}; {err or 'EOF'})"
                              ) from None

    def close(self, timeout: float = 15.0) -> None:
        """Deliver what is queued (best effort), stop the child.

        A child that takes nothing for a few seconds (held at its cap), or one a wait was
        given up on already, is not waited for to read the request: both ends of the
        socket are closed, and it stops on the hang-up.
        """
        closed_early = self._stuck
        if self._conn is not None and not self._stuck:
            deadline = time.monotonic() + min(timeout, 5.0)
            try:
                if self._batch:
                    batch, self._batch = self._batch, []
                    self._send(batch, stoppable=False, deadline=deadline)
                self._send(("close",), stoppable=False, deadline=deadline)
            except OutputError as err:
                log.warning(kv("worker.outputs_close", error=err,
                               unacknowledged=self.unacknowledged))
                closed_early = True
        conn, self._conn = self._conn, None
        sock, self._sock = self._sock, None
        proc, self._proc = self._proc, None
        if sock is not None:
            if closed_early:
                # a shutdown, not only a close: a thread still waiting in wait_flushed
                # holds the socket open, so a close alone would tell the child nothing
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            sock.close()
        if closed_early and conn is not None:
            conn.close()
            conn = None
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the output process did not stop within %g s; killing it",
                            timeout)
                proc.kill()
                proc.wait(5)
        if conn is not None:
            conn.close()


# -- the child ---------------------------------------------------------------------------------
def _child_main(fd: int) -> None:
    """Run in the child: a KafkaProducer fed from the socket ``fd``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        settings, producer_options, learner, cap = conn.recv()
    except (EOFError, OSError):
        return
    from kafka import KafkaProducer

    from connectors.kafka.crc32c import use_compiled_crc32c

    use_compiled_crc32c()
    # what the first batch needs, loaded before "ready" (not on the first flush's clock)
    import connectors.kafka.codec  # noqa: F401
    import connectors.worker.state  # noqa: F401
    try:
        producer = KafkaProducer(**settings.producer_config(**producer_options))
    except Exception as err:  # noqa: BLE001 - reported to the parent
        conn.send(("error", settings.unreachable(err)))
        return
    failures: list = []
    conn.send(("ready",))
    # a flush request waits for the sends before it while the child keeps reading (a
    # blocking producer.flush would stop reading, fill the socket and stall the loop)
    sent: list = []  # futures since the last flush request
    waits: list = []  # [(futures, deadline, t0)] of the flush requests not answered yet
    close_timeout = 10.0  # seconds to deliver what is left once the parent is gone
    try:
        while True:
            if len(sent) + sum(len(w[0]) for w in waits) >= cap and _held(sent, waits, cap):
                # at the cap: read nothing until acknowledgements free room (the socket
                # fills and the parent's loop waits), answering flushes meanwhile
                time.sleep(0.02)
                if waits and not _answer_flushes(conn, waits, failures):
                    break
                if _parent_gone(fd):
                    close_timeout = 1.0  # what is held cannot be delivered now
                    break
                continue
            if not waits or conn.poll(0.02):
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    break  # the parent is gone: deliver what we have, then stop
                if isinstance(msg, list):
                    _send_items(producer, msg, learner, sent, failures)
                elif msg[0] == "flush":
                    now = time.monotonic()
                    waits.append((sent, now + msg[1], now))
                    sent = []
                elif msg[0] == "close":
                    break
            if waits and not _answer_flushes(conn, waits, failures):
                break  # the parent is gone: stop
    finally:
        try:
            producer.close(timeout=close_timeout)
        except Exception:  # noqa: BLE001
            pass
        conn.close()


def _parent_gone(fd: int) -> bool:
    """Whether the parent closed its end, even with batches still unread in the socket
    (a hang-up poll event; where there is no ``POLLRDHUP``, an empty peek)."""
    hangup = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)
    poller = select.poll()
    poller.register(fd, select.POLLIN | getattr(select, "POLLRDHUP", 0))
    events = sum(e for _, e in poller.poll(0))
    if events & hangup:
        return True
    if hasattr(select, "POLLRDHUP") or not events & select.POLLIN:
        return False
    peer = socket.socket(fileno=os.dup(fd))
    try:
        return peer.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        peer.close()


def _held(sent: list, waits: list, cap: int) -> bool:
    """Drop the acknowledged futures; whether ``cap`` or more are still unacknowledged."""
    sent[:] = [f for f in sent if not f.is_done]
    for futures, _, _ in waits:
        futures[:] = [f for f in futures if not f.is_done]
    return len(sent) + sum(len(w[0]) for w in waits) >= cap


def _send_items(producer, items, learner, sent: list, failures: list) -> None:
    """Send one batch from the parent; each future goes to ``sent``."""
    from connectors.kafka.codec import SourcePosition, encode_prediction
    from connectors.worker.state import prediction_rows

    send = producer.send
    for item in items:
        try:
            if item[0] == "message":
                _, topic, key, value, headers = item
                sent.append(send(topic, key=key, value=value,
                                 headers=headers).add_errback(failures.append))
            elif item[0] == "one":
                _, topic, key, record_id, source, positives, scores, learned, shard = item
                value = encode_prediction(record_id, SourcePosition(*source), positives,
                                          scores, learner=learner, records_learned=learned,
                                          shard=shard)
                sent.append(send(topic, key=key, value=value).add_errback(failures.append))
            else:
                _, topic, names, P, S, rows = item
                for (key, record_id, source, learned, *shard), (positives, scores) in zip(
                        rows, prediction_rows(names, P, S)):
                    shard = shard[0] if shard else None
                    value = encode_prediction(record_id, SourcePosition(*source), positives,
                                              scores, learner=learner,
                                              records_learned=learned, shard=shard)
                    sent.append(send(topic, key=key, value=value).add_errback(
                        failures.append))
        except Exception as err:  # noqa: BLE001 - reported at the next flush
            failures.append(err)


def _answer_flushes(conn, waits: list, failures: list) -> bool:
    """Answer the oldest flush requests whose sends are all done (or whose time is up);
    ``False`` when the parent is gone."""
    while waits:
        futures, deadline, t0 = waits[0]
        futures[:] = [f for f in futures if not f.is_done]
        now = time.monotonic()
        if futures and now < deadline:
            return True
        waits.pop(0)
        if failures:
            reply = ("failed", f"the broker refused {len(failures)} output message(s) "
                               f"({failures[0]!r})")
        elif futures:
            reply = ("failed", f"{len(futures)} output message(s) not acknowledged within "
                               f"{deadline - t0:g} s")
        else:
            reply = ("flushed", now - t0)
        try:
            conn.send(reply)
        except OSError:
            return False
    return True


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
