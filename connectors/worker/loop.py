"""The long-running Kafka worker: poll -> decode -> predict -> score -> learn -> watch ->
sinks -> checkpoint, with exactly-once learning across crashes.

:class:`Worker` is the run loop and nothing else: it opens the parts, polls, hands each
poll's messages to the record path, asks for checkpoints when they are due, honours stop
requests and closes everything, always. Each concern lives in a module of its own:

=============================================  ===============================================
:mod:`~connectors.worker.partitions`           the consumer, assignment or group membership,
                                               rebalancing, committed offsets, lag
:mod:`~connectors.worker.records`              a poll's messages in; predictions, dead
                                               letters, held records, drift events out
:mod:`~connectors.worker.checkpointer`         cut, wait for the outputs, write, commit
:mod:`~connectors.worker.reporting`            the ``/metrics`` snapshot and the summary
:mod:`~connectors.worker.metrics`              the ``/metrics`` endpoint (prometheus-client)
:mod:`~connectors.status.worker_status`        the live status page (``--status-port``)
:mod:`~connectors.worker.outputs`              the output process (predictions, dead letters)
:mod:`~connectors.worker.state`                one model and everything checkpointed with it
=============================================  ===============================================

Checkpoints are due every ``checkpoint_every`` messages or ``checkpoint_interval``
seconds: flush the producer (every prediction and dead letter so far acknowledged), write
each model's state atomically (:mod:`connectors.checkpoint`), then commit the offsets to
the group. On start (or when the group assigns a partition) the state is loaded and the
consumer seeks to its offsets: a crash at any moment repeats at most the predictions made
since the last checkpoint and learns every record exactly once.

:meth:`Worker.request_stop` (what the CLI's SIGTERM/SIGINT handlers call) only sets a
flag: the loop finishes the message in hand, writes a final checkpoint, commits, and
closes the clients.
"""

from __future__ import annotations

import logging
import threading
import time

from connectors.worker.checkpointer import OUTAGE_TIMEOUT, Checkpointer, load_state
from connectors.worker.config import WorkerConfig
from connectors.worker.errors import UnreadableBatchError, WorkerError
from connectors.worker.logfmt import kv
from connectors.worker.outage import BrokerWatch
from connectors.worker.partitions import PartitionOwner
from connectors.worker.records import DLQ_MAX_VALUE_BYTES, RecordPath, warm_up
from connectors.worker.reporting import Reporter
from connectors.worker.state import ModelState

__all__ = ["Worker", "WorkerError"]

log = logging.getLogger(__name__)

#: Seconds between two snapshots for the /metrics endpoint.
METRICS_INTERVAL = 1.0
SLOW_WARM_UP_SECONDS = 5.0  # longer: the kernels were compiled, not loaded from the cache


class Worker:
    """A Kafka worker as configured by a :class:`~connectors.worker.config.WorkerConfig`.

    Parameters
    ----------
    config
        What to do.
    key
        The checkpoint HMAC key; by default read from where ``config`` says (only when
        ``config.checkpoint_dir`` is set).

    Attributes
    ----------
    stop_reason : str or None
        Why the loop ended (``"signal SIGTERM"``, ``"end of the partitions"``, ...).
    """

    def __init__(self, config: WorkerConfig, *, key: bytes | None = None):
        self.config = config
        self._key = key
        self._stop = threading.Event()
        self.stop_reason: str | None = None
        self._failed = False  # the loop raised: no checkpoint of a half-updated state
        self._outputs = None
        self._dispatcher = None
        self._metrics = None
        self._status = None  # connectors.status.worker_status.WorkerStatus
        self._last_message_at = time.monotonic()
        self._reporter = Reporter(config)
        self._checkpoints = Checkpointer(None, topic=config.topic)
        self._records = RecordPath(config, stop=self._stop,
                                   checkpoint_due=lambda: self.checkpoint("every", wait=False))
        self._owner = PartitionOwner(config, load=self._load_state, save=self._save_leaving,
                                     retire=self._reporter.retire)
        self._checkpoints.commit = self._owner.commit
        self.broker = BrokerWatch(self._owner.connection_count)
        self._broker_checked = 0.0

    # -- control ---------------------------------------------------------------------------
    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to stop after the message in hand (safe from a signal handler)."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> dict:
        """Run until stopped; returns :meth:`summary`. Closes every client, always."""
        self._checkpoints.loop_thread = threading.current_thread()
        try:
            self._open()
            self._loop()
            self.checkpoint("final")
            log.info(kv("worker.stopped", reason=self.stop_reason,
                        messages=self._records.counts["messages"],
                        checkpoints=self._checkpoints.n_checkpoints))
        except UnreadableBatchError:
            # the poll returned nothing of the batch: every record before it was handled
            # whole, so keep them (checkpoint and commit up to the batch) and stop
            self.stop_reason = "unreadable record batch"
            self.checkpoint("final")
            raise
        except BaseException:
            self._failed = True
            raise
        finally:
            self._close()
        return self.summary()

    # -- opening ---------------------------------------------------------------------------
    def _open(self) -> None:
        cfg = self.config
        if cfg.status_port is not None:  # a bad host/token mix fails before connecting
            self._status = _status_page(cfg)
        if cfg.checkpoint_dir is not None:
            from connectors.checkpoint import CheckpointStore, load_checkpoint_key

            key = self._key if self._key is not None else load_checkpoint_key(
                env=cfg.checkpoint_key_env, file=cfg.checkpoint_key_file)
            self._checkpoints.store = CheckpointStore(cfg.checkpoint_dir, key)
            if not cfg.model_per_partition:  # partitions' own models are owned via the group
                self._checkpoints.lock(cfg.checkpoint_name(None))
        else:
            log.warning(kv("worker.no_checkpoints", hint="without --checkpoint-dir every "
                                                         "start learns from scratch"))
        if not cfg.model_per_partition:
            # refuse a bad checkpoint before connecting to anything
            self._owner.shared = self._load_state(cfg.checkpoint_name(None))
        self._records.batched = hasattr(cfg.new_learner(), "predict_learn_many")
        if cfg.predictions_topic or cfg.dead_letter_topic or cfg.queries_topic:
            from connectors.kafka.compression import CompressionError, producer_compression
            from connectors.worker.outputs import OutputProcess

            try:
                compression = producer_compression(cfg.compression_type)
            except CompressionError as err:
                raise WorkerError(str(err)) from None
            # started first: the child's imports overlap the warm-up below
            self._outputs = OutputProcess(cfg.settings, learner=cfg.learner, producer_options={
                "client_id": cfg.client_id + "-out", "allow_auto_create_topics": False,
                "compression_type": compression,
                # at-least-once outputs need no idempotent producer, and one measured
                # broker (tansu 0.6) forgets producer state in a crash and then acks the
                # retried batches as duplicates without storing them: retries stay, in
                # order (one request in flight), and a retry may repeat a prediction
                "enable_idempotence": False, "max_in_flight_requests_per_connection": 1,
                "max_request_size": max(1_048_576, DLQ_MAX_VALUE_BYTES * 2),
                "delivery_timeout_ms": int(OUTAGE_TIMEOUT * 1000)},
                # a stop ends a wait for a held output process (back-pressure)
                stop=self._stop).start()
            self._records.outputs = self._checkpoints.outputs = self._outputs
        self._warm_up()
        if cfg.alerts is not None and cfg.alerts.enabled:
            self._dispatcher = self._records.dispatcher = cfg.alerts.build()
        self._owner.connect(self._outputs)
        if cfg.metrics_port is not None:
            from connectors.worker.metrics import MetricsServer

            self.publish_metrics()
            self._metrics = MetricsServer(lambda: self._reporter.published,
                                          cfg.metrics_host, cfg.metrics_port).start()
        if self._status is not None:
            self.publish_metrics()
            self._status.start()
            log.info(kv("worker.status_serving", url=self._status.url))

    def _warm_up(self) -> None:
        """Compile the record path's kernels and the Kafka checksum before any client
        exists (a first compile holds the GIL for seconds: after joining a group it could
        cost the membership)."""
        from connectors.kafka.crc32c import use_compiled_crc32c

        t0 = time.perf_counter()
        use_compiled_crc32c()
        warm_up(self.config)
        seconds = time.perf_counter() - t0
        log.info(kv("worker.warmed_up", learner=self.config.learner, seconds=seconds))
        if seconds > SLOW_WARM_UP_SECONDS:  # a cached start loads them in well under 1 s
            log.warning(kv("worker.slow_warm_up", learner=self.config.learner,
                           seconds=round(seconds, 1),
                           hint="numba compiled the kernels (a first start after an "
                                "install, or an empty NUMBA_CACHE_DIR); keep NUMBA_CACHE_DIR "
                                "on a persistent, writable directory so that restarts load "
                                "them"))

    def _load_state(self, name: str) -> ModelState:
        return load_state(self._checkpoints.store, self.config, name)

    def _save_leaving(self, states: list) -> bool:
        """The partition owner's ``save``: checkpoint states whose partitions leave."""
        if self._failed:
            return False
        self.checkpoint("rebalance", states, commit=False)
        return True

    # -- the loop --------------------------------------------------------------------------
    def _loop(self) -> None:
        cfg = self.config
        poll_ms = int(cfg.poll_timeout * 1000)
        stop, owner, records, checkpoints = (self._stop, self._owner, self._records,
                                             self._checkpoints)
        states, label_states, labels_topic = owner.states, owner.label_states, cfg.labels_topic
        self._last_message_at = time.monotonic()  # the warm-up is not a quiet topic
        while not stop.is_set():
            batch = owner.poll(poll_ms)
            if not owner.assignments:  # still joining the group: not quiet either
                self._last_message_at = time.monotonic()
            if batch:
                t0 = time.perf_counter()
                self._last_message_at = time.monotonic()
                # records before labels: a label polled with its record finds it held
                for tp, messages in (sorted(batch.items(), key=lambda item: item[0].topic
                                            == labels_topic) if labels_topic else batch.items()):
                    if tp.topic == labels_topic:
                        records.handle_labels(messages, label_states)
                    else:
                        records.handle(messages, states)
                    if stop.is_set():
                        break
                if self._outputs is not None:
                    self._outputs.send_batch()
                if self._metrics is not None:
                    self._metrics.observe_batch(time.perf_counter() - t0)
            checkpoints.finish(block=False)
            # a failed periodic checkpoint is retried at the next interval even when no
            # record arrived since: its records are still unsaved
            if ((records.since_checkpoint or checkpoints.last_error is not None)
                    and time.monotonic() - checkpoints.last_cut >= cfg.checkpoint_interval):
                self.checkpoint("interval", wait=False)
            records.expire_pending(self._owned_states())
            now = time.monotonic()
            if now - self._broker_checked >= 1.0:
                self._broker_checked = now
                was_connected = self.broker.connected
                if self.broker.check(now) and not was_connected:
                    self._last_message_at = now  # an outage is not a quiet topic
            if (self._metrics is not None or self._status is not None) and \
                    time.monotonic() - self._reporter.published_at >= METRICS_INTERVAL:
                self.publish_metrics()
            if cfg.stop_at_end and owner.at_end():
                self.request_stop("end of the partitions")
            elif (cfg.idle_timeout is not None and self.broker.connected
                  and time.monotonic() - self._last_message_at >= cfg.idle_timeout):
                self.request_stop(f"no message for {cfg.idle_timeout:g} s")

    def _owned_states(self) -> list[ModelState]:
        seen, out = set(), []
        for state in self._owner.states.values():
            if id(state) not in seen:
                seen.add(id(state))
                out.append(state)
        if not out and self._owner.shared is not None:
            out.append(self._owner.shared)
        return out

    def checkpoint(self, reason: str = "requested", states=None, *, commit: bool = True,
                   wait: bool = True) -> None:
        """Checkpoint the states (all owned ones by default) and commit their offsets.

        The states are pickled now -- the consistent cut -- and the outputs so far are
        asked to be acknowledged; once they are, the snapshot is written (atomically) and
        the offsets committed. With ``wait=False`` (the loop's periodic checkpoints) the
        wait and the write happen on a writer thread while the loop goes on; at most one
        checkpoint is in flight (:mod:`connectors.worker.checkpointer`).
        """
        states = self._owned_states() if states is None else list(states)
        offsets = (self._owner.offsets_to_commit(states)
                   if commit and self.config.group is not None else {})
        if self._checkpoints.checkpoint(reason, states, offsets, wait=wait):
            self._records.since_checkpoint = 0

    # -- closing ---------------------------------------------------------------------------
    def _close(self) -> None:
        # a failed run waits briefly for a checkpoint in flight: in an output outage it
        # cannot complete, and the run's error is what matters
        self._checkpoints.close(timeout=10.0 if self._failed else None)
        if self._metrics is not None:
            self._reporter.mark_down()
            self._metrics.stop()
        if self._status is not None:
            self._status.mark_down()
            self._status.stop()
        self._owner.close()
        outputs, self._outputs = self._outputs, None
        if outputs is not None:
            try:
                outputs.close()
            except Exception as err:  # noqa: BLE001 - closing must not mask the real error
                log.warning(kv("worker.close_failed", client="outputs", error=err))
        if self._dispatcher is not None:
            self._dispatcher.close(timeout=10.0)
        self._checkpoints.unlock()

    # -- reading ---------------------------------------------------------------------------
    @property
    def metrics_port(self) -> int | None:
        """The port of the ``/metrics`` endpoint (``None`` without one)."""
        return None if self._metrics is None else self._metrics.port

    @property
    def status_port(self) -> int | None:
        """The port of the status page (``None`` without one, or before it serves)."""
        return None if self._status is None else self._status.port

    @property
    def published_metrics(self) -> dict:
        """The latest ``/metrics`` snapshot (see :mod:`connectors.worker.reporting`)."""
        return self._reporter.published

    def publish_metrics(self, *, up: bool = True) -> dict:
        """Compute the ``/metrics`` snapshot now (loop thread) and publish it."""
        states = self._owned_states()
        published = self._reporter.publish(self._records, self._checkpoints, states,
                                           self._owner.lag(), up=up, broker=self.broker)
        if self._status is not None:
            self._status.update(published, states)
        return published

    def records_per_second(self) -> float | None:
        """Records predicted per second from the first prediction (the end of the first
        run of records learned together) to the last."""
        return self._records.clock.rate()

    def prediction_window(self) -> tuple[float, float, int] | None:
        """``(first, last, n)``: ``time.perf_counter()`` of this run's first and last
        prediction and the records predicted after the first (what
        :meth:`records_per_second` divides), or ``None`` before the first."""
        clock = self._records.clock
        return None if clock.first is None else (clock.first, clock.last, clock.n_after_first)

    def helper_pids(self) -> list[int]:
        """Process ids of the worker's helper processes (the output process)."""
        proc = getattr(self._outputs, "_proc", None)
        return [proc.pid] if proc is not None else []

    @property
    def checkpoint_failures(self) -> int:
        """Periodic checkpoints whose snapshot could not be written this run (the worker
        went on; see :mod:`connectors.worker.checkpointer`)."""
        return self._checkpoints.n_failed

    @property
    def checkpoints_written(self) -> int:
        """Checkpoints completed this run."""
        return self._checkpoints.n_checkpoints

    @property
    def messages_handled(self) -> int:
        """Messages handled this run (records, label deliveries, dead letters)."""
        return self._records.counts["messages"]

    def checkpoint_age(self) -> float | None:
        """Seconds since the last checkpoint this run wrote (``None`` before the first)."""
        return self._checkpoints.age()

    def summary(self) -> dict:
        """This run's counts and each model's lifetime figures
        (:meth:`~connectors.worker.reporting.Reporter.summary`)."""
        return self._reporter.summary(self._records, self._checkpoints, self._owned_states(),
                                      stop_reason=self.stop_reason, broker=self.broker)


def _status_page(cfg: WorkerConfig):
    """The worker's status page as configured (not yet serving)."""
    from connectors.status.token import load_status_token
    from connectors.status.worker_status import WorkerStatus

    try:
        token = load_status_token(cfg.status_token_env, cfg.status_token_file)
        return WorkerStatus(cfg.status_host, cfg.status_port, token, title=(
            f"{cfg.topic} ({cfg.learner}" + (f", group {cfg.group})" if cfg.group else ")")))
    except ValueError as err:
        raise WorkerError(f"--status-port: {err}") from None
