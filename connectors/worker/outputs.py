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

Secrets never cross the pipe: the child is handed the :class:`KafkaSettings` (where the
SASL password is, not the password) and reads the password itself.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

__all__ = ["OutputError", "OutputProcess"]

log = logging.getLogger(__name__)

_READY_TIMEOUT = 60.0


class OutputError(RuntimeError):
    """The outputs cannot be delivered (the broker refused them, or the child died)."""


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

    Notes
    -----
    Not thread-safe: one thread appends (the worker's loop) and flushes. The rebalance
    listener flushes from kafka-python's IO thread while the loop waits in ``poll``, which
    is the same thing in turn, not at once.
    """

    def __init__(self, settings, *, learner: str = "", producer_options: dict | None = None):
        self.settings = settings
        self.learner = learner
        self.producer_options = dict(producer_options or {})
        self._batch: list = []
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
        self._conn = Connection(parent_sock.detach())
        self._conn.send((self.settings, self.producer_options, self.learner))
        return self

    def wait_ready(self, timeout: float = _READY_TIMEOUT) -> None:
        """Wait until the child's producer is connected; :class:`OutputError` if it fails."""
        reply = self._reply(timeout, "start")
        if reply[0] != "ready":
            raise OutputError(f"the output process could not start: {reply[1]}")

    # -- queueing ----------------------------------------------------------------------------
    def prediction(self, topic: str, key, record_id, source, positives, scores,
                   records_learned: int) -> None:
        """Queue a prediction (encoded in the child by
        :func:`~connectors.kafka.codec.encode_prediction`)."""
        self._batch.append(("one", topic, key, record_id, source, positives, scores,
                            records_learned))

    def predictions(self, topic: str, names: list, P, S, rows: list) -> None:
        """Queue the predictions of a run of records as arrays (see
        :meth:`~connectors.worker.state.WorkerEvaluator.process_many_predicted`): the
        child makes each row's labels and scores, so the worker's loop does not.

        ``rows`` holds ``(key, record_id, source, records_learned)`` per row of ``P``
        and ``S``.
        """
        self._batch.append(("many", topic, names, P, S, rows))

    def message(self, topic: str, key, value, headers=None) -> None:
        """Queue a ready message (a dead letter)."""
        self._batch.append(("message", topic, key, value, headers))

    def send_batch(self) -> None:
        """Hand what is queued to the child."""
        if self._batch:
            batch, self._batch = self._batch, []
            try:
                self._conn.send(batch)
            except (OSError, ValueError) as err:
                raise OutputError(f"the output process is gone ({err})") from None

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
        try:
            self._conn.send(("flush", timeout))
        except (OSError, ValueError) as err:
            raise OutputError(f"the output process is gone ({err})") from None

    def wait_flushed(self, timeout: float) -> None:
        """Wait for the answer to :meth:`request_flush` (may run on another thread)."""
        reply = self._reply(timeout + 5.0, "flush")
        if reply[0] != "flushed":
            raise OutputError(reply[1])

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
        """Deliver what is queued (best effort), stop the child."""
        conn, self._conn = self._conn, None
        proc, self._proc = self._proc, None
        if conn is not None:
            try:
                if self._batch:
                    conn.send(self._batch)
                    self._batch = []
                conn.send(("close",))
            except (OSError, ValueError):
                pass
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
        settings, producer_options, learner = conn.recv()
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
    try:
        while True:
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
            producer.close(timeout=10)
        except Exception:  # noqa: BLE001
            pass
        conn.close()


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
                _, topic, key, record_id, source, positives, scores, learned = item
                value = encode_prediction(record_id, SourcePosition(*source), positives,
                                          scores, learner=learner, records_learned=learned)
                sent.append(send(topic, key=key, value=value).add_errback(failures.append))
            else:
                _, topic, names, P, S, rows = item
                for (key, record_id, source, learned), (positives, scores) in zip(
                        rows, prediction_rows(names, P, S)):
                    value = encode_prediction(record_id, SourcePosition(*source), positives,
                                              scores, learner=learner,
                                              records_learned=learned)
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
