"""The long-running Kafka worker: poll -> decode -> predict -> score -> learn -> watch ->
sinks -> checkpoint, with exactly-once learning across crashes.

:class:`Worker` reads the input topic with ``kafka-python``, either by assigning itself
every partition (no group: its checkpoint alone holds the offsets) or as a member of a
consumer group (workers of the group split the partitions; a rebalance listener saves the
state of partitions that leave and loads the state of partitions that arrive).

Per message (see :mod:`connectors.kafka.codec` for the format):

* a malformed message, or one that would take the model past ``max_labels`` distinct
  labels, is produced unchanged to the dead-letter topic with ``dlq.*`` headers and
  counted by reason;
* a record is predicted by the prequential evaluator (so the metrics are the ones
  ``labelstream replay`` computes), its prediction produced (keyed like the input, naming
  the source offset and how many records the model had learned), and learned -- or, when
  its labels are ``null``, held by id until they arrive;
* a label delivery completes a held record: it is scored with the prediction made when it
  arrived, then learned; a delivery for an id not held is a dead letter ``unknown_id``.

Held records are bounded by ``max_pending`` (oldest dropped first) and
``pending_timeout`` (dropped when older); dropped ones are counted, never learned.

Checkpoints (:meth:`Worker.checkpoint`) are due every ``checkpoint_every`` messages or
``checkpoint_interval`` seconds: flush the producer (every prediction and dead letter so
far acknowledged), write each model's state atomically (:mod:`connectors.checkpoint`),
then commit the offsets to the group. On start (or when the group assigns a partition)
the state is loaded and the consumer seeks to its offsets: a crash at any moment repeats
at most the predictions made since the last checkpoint and learns every record exactly
once.

:meth:`Worker.request_stop` (what the CLI's SIGTERM/SIGINT handlers call) only sets a
flag: the loop finishes the message in hand, writes a final checkpoint, commits, and
closes the clients.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter

from connectors.kafka.codec import (
    DeadLetter,
    dead_letter_headers,
    decode_message,
    read_label_names,
)
from connectors.worker.config import WorkerConfig
from connectors.worker.state import ModelState, PendingRecord

__all__ = ["Worker", "WorkerError"]

log = logging.getLogger(__name__)

#: Dead-letter values are cut to this size (the full size is in a header).
DLQ_MAX_VALUE_BYTES = 512 * 1024
#: Dead letters logged at WARNING per reason (later ones at DEBUG).
_DLQ_WARNINGS = 5
#: Seconds between two snapshots for the /metrics endpoint.
METRICS_INTERVAL = 1.0
#: Seconds allowed for the producer to have every output acknowledged at a checkpoint.
FLUSH_TIMEOUT = 60.0


class WorkerError(RuntimeError):
    """The worker cannot go on (the broker refused output, a topic is missing, ...)."""


class _CheckpointJob:
    """One checkpoint between its cut (states pickled) and its completion."""

    def __init__(self, reason: str, payloads: list, offsets: dict, learned: int, t0: float):
        self.reason = reason
        self.payloads = payloads  # [(name, pickled state)]
        self.offsets = offsets  # to commit once written
        self.learned = learned
        self.t0 = t0
        self.cut_seconds = 0.0
        self.flush_seconds = 0.0
        self.n_bytes = 0
        self.error: BaseException | None = None
        self.done = threading.Event()


def _kv(event: str, **fields) -> str:
    """A structured log line: ``event key=value ...``."""
    parts = [event]
    for key, value in fields.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        text = str(value)
        if not text or any(c in text for c in " =\"\n"):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


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
        self._store = None
        self._consumer = None
        self._outputs = None
        self._dispatcher = None
        self._metrics_server = None
        self._shared: ModelState | None = None
        self._states: dict[int, ModelState] = {}  # assigned partition -> its state
        self._ends: dict[int, int] = {}  # partition -> high-water mark seen first
        self._recheck: set = set()  # group, one model: partitions to check commits of
        self._inflight: _CheckpointJob | None = None
        self._jobs: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None
        self._loop_thread: threading.Thread | None = None
        self._decode_options = dict(config.decode_limits, max_bytes=config.max_message_bytes)
        self._batched = False  # set once the learner is known (predict_learn_many)
        self._listener_error: BaseException | None = None
        self._failed = False
        self._started = False
        self._tp_cache: dict = {}
        # this run's figures
        self.run_counts: Counter = Counter()
        self.run_dead_letters: Counter = Counter()
        self.n_checkpoints = 0
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._last_checkpoint_wall: float | None = None
        self._started_at = time.monotonic()
        self._last_message_at = time.monotonic()
        self._first_prediction_at: float | None = None
        self._last_prediction_at: float | None = None
        self._records_after_first = 0
        self._retired: list[dict] = []  # summaries of per-partition models handed away
        self.published_metrics: dict = {"counters": {"up": 0}}
        self._published_at = 0.0
        self._rate_mark = (time.monotonic(), 0)

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
        self._loop_thread = threading.current_thread()
        try:
            self._open()
            self._loop()
            self.checkpoint("final")
            log.info(_kv("worker.stopped", reason=self.stop_reason,
                         messages=self.run_counts["messages"],
                         checkpoints=self.n_checkpoints))
        except BaseException:
            self._failed = True  # no checkpoint of a state that may be half-updated
            raise
        finally:
            self._close()
        return self.summary()

    # -- opening ---------------------------------------------------------------------------
    def _open(self) -> None:
        cfg = self.config
        if cfg.checkpoint_dir is not None:
            from connectors.checkpoint import CheckpointStore, load_checkpoint_key

            key = self._key if self._key is not None else load_checkpoint_key(
                env=cfg.checkpoint_key_env, file=cfg.checkpoint_key_file)
            self._store = CheckpointStore(cfg.checkpoint_dir, key)
            self._lock_checkpoint()
        else:
            log.warning(_kv("worker.no_checkpoints", hint="without --checkpoint-dir every "
                                                          "start learns from scratch"))
        if not cfg.model_per_partition:
            # refuse a bad checkpoint before connecting to anything
            self._shared = self._load_state(cfg.checkpoint_name(None))
        from learners.registry import make_learner

        self._batched = hasattr(make_learner(cfg.learner, seed=cfg.seed), "predict_learn_many")
        if cfg.predictions_topic or cfg.dead_letter_topic:
            from connectors.worker.outputs import OutputProcess

            # started first: the child's imports overlap the warm-up below
            self._outputs = OutputProcess(cfg.settings, learner=cfg.learner, producer_options={
                "client_id": cfg.client_id + "-out", "allow_auto_create_topics": False,
                "max_request_size": max(1_048_576, DLQ_MAX_VALUE_BYTES * 2),
                "delivery_timeout_ms": int(FLUSH_TIMEOUT * 1000) - 5000}).start()
        self._warm_up()
        if cfg.alerts is not None and cfg.alerts.enabled:
            self._dispatcher = cfg.alerts.build()
        self._connect()
        if cfg.metrics_port is not None:
            from connectors.worker.metrics import MetricsServer

            self.publish_metrics()
            self._metrics_server = MetricsServer(self, cfg.metrics_host, cfg.metrics_port)
            self._metrics_server.start()
        self._started = True

    def _lock_checkpoint(self) -> None:
        """One process per single-model checkpoint (an flock, released when it dies)."""
        if self.config.model_per_partition:
            return  # partitions are owned through the group (or this worker alone)
        import fcntl

        name = self.config.checkpoint_name(None)
        path = self._store.directory / f".{name}.lock"
        fh = open(path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise WorkerError(f"another worker holds the checkpoint {name!r} in "
                              f"{self._store.directory} (lock {path}); give this one another "
                              "--checkpoint-dir or --worker-id") from None
        self._lock_file = fh

    def _load_state(self, name: str) -> ModelState:
        cfg = self.config
        data = self._store.load(name) if self._store is not None else None
        if data is None:
            from learners.registry import make_learner

            log.info(_kv("worker.model.new", checkpoint=name, learner=cfg.learner))
            return ModelState.new(name, cfg.learner, make_learner(cfg.learner, seed=cfg.seed),
                                  window_size=cfg.window, detector=cfg.detector,
                                  label_drift=cfg.label_drift)
        try:
            state = ModelState.from_checkpoint(data, name=name, topic=cfg.topic,
                                               learner_name=cfg.learner)
        except ValueError as err:
            from connectors.checkpoint import CheckpointError

            raise CheckpointError(str(err)) from None
        log.info(_kv("worker.model.restored", checkpoint=name,
                     learned=state.evaluator.n_learned, offsets=state.offsets,
                     pending=len(state.pending)))
        return state

    def _warm_up(self) -> None:
        """Compile every numba kernel on the record path before joining a group.

        A first compile holds the GIL for seconds; kafka-python heartbeats on a background
        thread, so compiling after joining could cost the group membership.
        """
        from connectors.kafka.crc32c import use_compiled_crc32c
        from learners.registry import make_learner
        from stream.metrics import warm_up

        cfg = self.config
        t0 = time.perf_counter()
        use_compiled_crc32c()  # compiled here, before any client exists
        warm_up()
        learner = make_learner(cfg.learner, seed=cfg.seed)
        if hasattr(learner, "warm_up"):
            learner.warm_up()
        scratch = ModelState.new("warm-up", cfg.learner, learner, window_size=8,
                                 detector=cfg.detector, label_drift=cfg.label_drift)
        ev = scratch.evaluator
        for i in range(6):
            x = {"a": float(i % 3), "b": 1.0 - i}
            y = {"u": i % 2 == 0, "v": i % 3 == 0}
            if i % 2:
                ev.process_delivered(x, y, ev.process_one(x, None))
            else:
                ev.process_one(x, y)
        log.info(_kv("worker.warmed_up", learner=cfg.learner,
                     seconds=time.perf_counter() - t0))

    def _tp(self, partition: int):
        tp = self._tp_cache.get(partition)
        if tp is None:
            from kafka import TopicPartition

            tp = self._tp_cache[partition] = TopicPartition(self.config.topic, partition)
        return tp

    def _connect(self) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        cfg = self.config
        settings = cfg.settings
        session_ms = int(cfg.session_timeout * 1000)
        heartbeat_ms = int((cfg.heartbeat_interval or cfg.session_timeout / 4) * 1000)
        consumer_config = settings.consumer_config(
            group_id=cfg.group, client_id=cfg.client_id, allow_auto_create_topics=False,
            fetch_max_wait_ms=100, max_poll_records=cfg.max_poll_records,
            bootstrap_timeout_ms=15_000, enable_auto_commit=False,
            auto_offset_reset="earliest")
        if cfg.group is not None:
            consumer_config.update(session_timeout_ms=session_ms,
                                   heartbeat_interval_ms=heartbeat_ms,
                                   max_poll_interval_ms=max(300_000, session_ms))
        try:
            self._consumer = KafkaConsumer(**consumer_config)
        except KafkaError as err:
            raise WorkerError(f"cannot reach the brokers ({settings.describe()}): "
                              f"{err}") from None
        partitions = self._consumer.partitions_for_topic(cfg.topic)
        if not partitions:
            raise WorkerError(f"topic {cfg.topic!r} does not exist on {settings.describe()}")
        outputs = [t for t in (cfg.predictions_topic, cfg.dead_letter_topic) if t]
        if outputs:
            from connectors.worker.outputs import OutputError

            self._ensure_topics(outputs, len(partitions))
            try:
                self._outputs.wait_ready()
            except OutputError as err:
                raise WorkerError(str(err)) from None
        if cfg.group is None:
            tps = [self._tp(p) for p in sorted(partitions)]
            self._consumer.assign(tps)
            self._take_partitions(tps)
            log.info(_kv("worker.assigned", topic=cfg.topic, partitions=sorted(partitions),
                         mode="assign"))
        else:
            self._consumer.subscribe([cfg.topic], listener=_RebalanceListener(self))
            log.info(_kv("worker.subscribed", topic=cfg.topic, group=cfg.group))

    def _ensure_topics(self, topics, partitions: int) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

        settings = self.config.settings
        try:
            admin = KafkaAdminClient(**settings.admin_config(client_id=self.config.client_id
                                                             + "-admin"))
        except KafkaError as err:
            raise WorkerError(f"cannot reach the brokers ({settings.describe()}): "
                              f"{err}") from None
        try:
            existing = set(admin.list_topics())
            for topic in topics:
                if topic in existing:
                    continue
                try:
                    admin.create_topics([NewTopic(topic, partitions, 1)])
                    log.info(_kv("worker.topic.created", topic=topic, partitions=partitions))
                except TopicAlreadyExistsError:
                    pass
        except KafkaError as err:
            raise WorkerError(f"output topics {topics}: {err}") from None
        finally:
            admin.close()

    def _take_partitions(self, tps) -> None:
        """Own ``tps``: find (load) their state and seek to its offsets.

        Runs on the main thread (no group) or in the rebalance listener, on kafka-python's
        IO thread while the main thread waits in ``poll``: only non-blocking consumer calls.
        """
        cfg = self.config
        consumer = self._consumer
        for tp in tps:
            p = tp.partition
            if cfg.model_per_partition:
                state = self._load_state(cfg.checkpoint_name(p))
            else:
                state = self._shared
            self._states[p] = state
            self._retired = [r for r in self._retired if r["checkpoint"] != state.name]
            self._ends.pop(p, None)
            offset = state.offsets.get(p)
            if offset is not None:
                consumer.seek(tp, offset)
            elif cfg.group is None or cfg.model_per_partition:
                consumer.seek_to_beginning(tp)
            # group + one model: without an offset of our own the group's committed offset
            # (or the earliest) applies; with one, the larger of the two (checked after poll)
            if cfg.group is not None and not cfg.model_per_partition:
                self._recheck.add(p)

    # -- the loop --------------------------------------------------------------------------
    def _loop(self) -> None:
        from kafka.errors import KafkaError

        cfg = self.config
        consumer = self._consumer
        poll_ms = int(cfg.poll_timeout * 1000)
        stop = self._stop
        handle = self._handle_records
        while not stop.is_set():
            try:
                batch = consumer.poll(timeout_ms=poll_ms)
            except KafkaError:
                if self._listener_error is not None:
                    raise self._listener_error from None
                raise
            if self._listener_error is not None:
                raise self._listener_error
            if self._recheck:
                self._apply_committed_offsets()
            if batch:
                self._last_message_at = time.monotonic()
                for records in batch.values():
                    handle(records)
                    if stop.is_set():
                        break
                if self._outputs is not None:
                    self._outputs.send_batch()
            self._finish_checkpoint(block=False)
            if (self._since_checkpoint
                    and time.monotonic() - self._last_checkpoint >= cfg.checkpoint_interval):
                self.checkpoint("interval", wait=False)
            self._expire_pending()
            if self._metrics_server is not None and \
                    time.monotonic() - self._published_at >= METRICS_INTERVAL:
                self.publish_metrics()
            if cfg.stop_at_end and self._at_end():
                self.request_stop("end of the partitions")
            elif (cfg.idle_timeout is not None
                  and time.monotonic() - self._last_message_at >= cfg.idle_timeout):
                self.request_stop(f"no message for {cfg.idle_timeout:g} s")

    def _apply_committed_offsets(self) -> None:
        """Group with one model: start a partition at the larger of our offset and the
        group's committed one (another worker may have learned it further meanwhile)."""
        consumer = self._consumer
        for p in sorted(self._recheck):
            state = self._states.get(p)
            if state is None:
                continue
            tp = self._tp(p)
            committed = consumer.committed(tp)
            own = state.offsets.get(p)
            if committed is not None and (own is None or committed > own):
                state.offsets[p] = committed
                position = consumer.position(tp)
                if position is None or position < committed:
                    consumer.seek(tp, committed)
                log.info(_kv("worker.partition.from_group", partition=p, own=own,
                             committed=committed))
        self._recheck.clear()

    def _at_end(self) -> bool:
        """Whether every owned partition reached the high-water mark first seen for it."""
        if not self._states:
            return False
        consumer = self._consumer
        for p, state in self._states.items():
            end = self._ends.get(p)
            if end is None:
                end = consumer.highwater(self._tp(p))
                if end is None:
                    return False
                self._ends[p] = end
            if end > 0 and state.offsets.get(p, 0) < end:
                return False
        return True

    def _expire_pending(self) -> None:
        timeout = self.config.pending_timeout
        now = time.time()
        for state in self._owned_states():
            if state.pending:
                n = state.expire(now, timeout)
                if n:
                    self.run_counts["pending_expired"] += n
                    log.info(_kv("worker.pending.expired", model=state.name, n=n))

    def _owned_states(self) -> list[ModelState]:
        seen, out = set(), []
        for state in self._states.values():
            if id(state) not in seen:
                seen.add(id(state))
                out.append(state)
        if not out and self._shared is not None:
            out.append(self._shared)
        return out

    # -- messages ---------------------------------------------------------------------------
    def _handle_records(self, records) -> None:
        """One partition's messages from a poll, in offset order.

        With a learner that has a compiled batch path (``predict_learn_many``), runs of
        consecutive labelled records are predicted, scored and learned together through
        :meth:`WorkerEvaluator.process_many_predicted` (the same figures as one at a
        time); anything else (dead letters, unlabelled records, label deliveries, a label
        declaration) ends the run and is handled on its own. A stop request is honoured
        between messages (a run in hand is finished).

        The messages are decoded first, all of them (decoding has no side effects): one
        tight loop keeps the parser's code and caches warm, where decoding between
        learning steps costs half as much again.
        """
        cfg = self.config
        stop = self._stop
        run: list = []
        run_labels: set = set()
        state = None
        options = self._decode_options
        values = [decode_message(msg.value, **options) for msg in records]
        for msg, decoded in zip(records, values):
            if stop.is_set():
                break
            p = msg.partition
            state = self._states.get(p)
            if state is None:  # not ours any more
                return
            expected = state.offsets.get(p)
            if expected is not None and msg.offset < expected:
                self.run_counts["replayed_skipped"] += 1
                continue
            self.run_counts["messages"] += 1
            if msg.headers:
                names = read_label_names(msg.headers)
                if names:
                    if run:
                        self._run(state, run)
                        run, run_labels = [], set()
                    state.declare_labels(names, cfg.max_labels)
            if (self._batched and not isinstance(decoded, DeadLetter)
                    and decoded.x is not None and decoded.y is not None):
                labels = state.evaluator.labels
                new = {label for label, on in decoded.y.items()
                       if on and label not in labels and label not in run_labels}
                if not new or len(labels) + len(run_labels) + len(new) <= cfg.max_labels:
                    run.append((msg, decoded))
                    run_labels |= new
                    if self._since_checkpoint + len(run) >= cfg.checkpoint_every:
                        self._run(state, run)
                        run, run_labels = [], set()
                        self.checkpoint("every", wait=False)
                    continue
            if run:
                self._run(state, run)
                run, run_labels = [], set()
            self._apply(state, msg, decoded)
            self._since_checkpoint += 1
            if self._since_checkpoint >= cfg.checkpoint_every:
                self.checkpoint("every", wait=False)
        if run:
            self._run(state, run)

    def _run(self, state: ModelState, run: list) -> None:
        """Test-then-train a run of labelled records at once; publish their predictions."""
        ev = state.evaluator
        learned = ev.n_learned
        names, P, S = ev.process_many_predicted(
            [(decoded.x, state.full_labels(decoded.y)) for _, decoded in run])
        topic = self.config.predictions_topic
        if topic is not None:  # encoded in the output process, row by row
            self._outputs.predictions(topic, names, P, S, [
                (msg.key, decoded.id, (msg.topic, msg.partition, msg.offset), learned + i)
                for i, (msg, decoded) in enumerate(run)])
        n = len(run)
        last = run[-1][0]
        state.offsets[last.partition] = last.offset + 1
        state.unsaved += n
        state.counters["records"] += n
        self.run_counts["records"] += n
        if topic is not None:
            self.run_counts["predictions"] += n
        self._since_checkpoint += n
        self._count_predictions(n)
        if ev.events:
            self._drift_events(state, last)

    def _count_predictions(self, n: int) -> None:
        """``n`` records were just predicted (one, or a run learned together). The clock
        of :meth:`records_per_second` starts once the first of them is done: a first run
        counts for nothing (its records' own times are not known), so the rate is never
        inflated by records predicted before the clock started."""
        now = time.perf_counter()
        if self._first_prediction_at is None:
            self._first_prediction_at = now
            n = 0
        self._records_after_first += n
        self._last_prediction_at = now

    def _apply(self, state: ModelState, msg, decoded) -> None:
        """Handle one decoded message (a dead letter, a record or a label delivery)."""
        if isinstance(decoded, DeadLetter):
            self._dead_letter(state, msg, decoded)
        elif decoded.x is None:
            self._deliver(state, msg, decoded)
        else:
            self._record(state, msg, decoded)
        state.offsets[msg.partition] = msg.offset + 1
        state.unsaved += 1
        if state.evaluator.events:
            self._drift_events(state, msg)

    def _over_cap(self, state: ModelState, y: dict) -> int:
        n_new = state.new_labels(y)
        if n_new and len(state.evaluator.labels) + n_new > self.config.max_labels:
            return n_new
        return 0

    def _record(self, state: ModelState, msg, decoded) -> None:
        y = decoded.y
        if y is not None:
            n_new = self._over_cap(state, y)
            if n_new:
                self._dead_letter(state, msg, self._label_cap(state, n_new))
                return
        ev = state.evaluator
        learned = ev.n_learned
        if y is None:
            pred, scores = ev.process_one(decoded.x, None)
            if decoded.id is None:
                state.counters["unlabelled_without_id"] += 1
            else:
                state.hold(decoded.id, PendingRecord(decoded.x, (pred, scores), msg.partition,
                                                     msg.offset, time.time()),
                           self.config.max_pending)
                state.counters["held"] += 1
        else:
            pred, scores = ev.process_one(decoded.x, state.full_labels(y))
        state.counters["records"] += 1
        self.run_counts["records"] += 1
        self._count_predictions(1)
        topic = self.config.predictions_topic
        if topic is not None:
            self._outputs.prediction(topic, msg.key, decoded.id,
                                     (msg.topic, msg.partition, msg.offset),
                                     [label for label, on in pred.items() if on], scores,
                                     learned)
            self.run_counts["predictions"] += 1

    def _deliver(self, state: ModelState, msg, decoded) -> None:
        held = state.pending.pop(decoded.id, None)
        if held is None:
            self._dead_letter(state, msg, DeadLetter(
                "unknown_id", f"labels for id {decoded.id!r}, which is not an unlabelled "
                              "record held for its labels (never seen, expired or evicted)"))
            return
        n_new = self._over_cap(state, decoded.y)
        if n_new:
            state.counters["pending_dropped"] += 1
            self._dead_letter(state, msg, self._label_cap(state, n_new))
            return
        state.evaluator.process_delivered(held.x, state.full_labels(decoded.y), held.prediction)
        state.counters["label_deliveries"] += 1
        self.run_counts["label_deliveries"] += 1

    def _label_cap(self, state: ModelState, n_new: int) -> DeadLetter:
        return DeadLetter("label_cap", f"{n_new} new label(s) would take the model past "
                                       f"--max-labels {self.config.max_labels} (it knows "
                                       f"{len(state.evaluator.labels)})")

    def _dead_letter(self, state: ModelState, msg, dead: DeadLetter) -> None:
        state.dead_letters[dead.code] += 1
        self.run_dead_letters[dead.code] += 1
        n = self.run_dead_letters[dead.code]
        level = logging.WARNING if n <= _DLQ_WARNINGS else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, _kv("worker.dead_letter", reason=dead.code, partition=msg.partition,
                               offset=msg.offset, text=dead.text[:200]))
        topic = self.config.dead_letter_topic
        if topic is None:
            return
        headers = dead_letter_headers(dead, msg)
        value = msg.value
        if value is not None and len(value) > DLQ_MAX_VALUE_BYTES:
            headers.append(("dlq.value.truncated-from", str(len(value)).encode()))
            value = bytes(value[:DLQ_MAX_VALUE_BYTES])
        if value is None and msg.key is None:
            value = b""  # a record needs a key or a value
        self._outputs.message(topic, msg.key, value, headers)

    def _drift_events(self, state: ModelState, msg) -> None:
        ev = state.evaluator
        events, ev.events = ev.events, []
        where = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        for event in events:
            try:
                import dataclasses

                event = dataclasses.replace(event, source_offset=where)
            except (TypeError, ValueError):
                pass
            state.event_counts[f"{event.level}.{event.kind}"] += 1
            state.recent_events.append(event.to_dict() if hasattr(event, "to_dict")
                                       else dict(event))
            self.run_counts["drift_events"] += 1
            log.info(_kv("worker.drift", model=state.name, level=event.level, kind=event.kind,
                         detector=event.detector, position=event.position,
                         partition=msg.partition, offset=msg.offset))
            if self._dispatcher is not None:
                self._dispatcher.emit(event)

    # -- output ----------------------------------------------------------------------------
    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint(self, reason: str = "requested", states=None, *, commit: bool = True,
                   wait: bool = True) -> None:
        """Checkpoint the states (all owned ones by default) and commit their offsets.

        The states are pickled now -- that is the consistent cut -- and the outputs so far
        are asked to be acknowledged; once they are, the snapshot is written (atomically)
        and the offsets committed. With ``wait=False`` (the loop's periodic checkpoints)
        the wait and the write happen on a writer thread while the loop goes on; at most
        one checkpoint is in flight. A crash before the write leaves the previous
        checkpoint, and outputs are never covered by a checkpoint before they are
        acknowledged.
        """
        self._finish_checkpoint(block=True)
        t0 = time.perf_counter()
        states = self._owned_states() if states is None else list(states)
        payloads = []
        for state in states:
            if state.unsaved or state.saved_at is None:
                if self._store is not None:
                    payloads.append((state.name, self._store.dumps(
                        state.to_checkpoint(self.config.topic))))
                state.unsaved = 0
                state.saved_at = time.time()
        offsets = (self._offsets_to_commit(states)
                   if commit and self.config.group is not None else {})
        job = _CheckpointJob(reason, payloads, offsets,
                             sum(s.evaluator.n_learned for s in states), t0)
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        if self._outputs is not None:
            from connectors.worker.outputs import OutputError

            try:
                self._outputs.request_flush(FLUSH_TIMEOUT)
            except OutputError as err:
                raise WorkerError(f"outputs not delivered: {err}; no checkpoint written: a "
                                  "restart resumes from the last one") from None
        job.cut_seconds = time.perf_counter() - t0
        self._inflight = job
        if wait:
            self._write(job)
            self._finish_checkpoint(block=True)
        else:
            if self._writer is None:
                self._writer = threading.Thread(target=self._writer_loop, daemon=True,
                                                name="labelstream-checkpoint-writer")
                self._writer.start()
            self._jobs.put(job)

    def _write(self, job: _CheckpointJob) -> None:
        """Wait for the outputs the job covers, then write its snapshots (any thread)."""
        try:
            if self._outputs is not None:
                self._outputs.wait_flushed(FLUSH_TIMEOUT)
            job.flush_seconds = time.perf_counter() - job.t0
            for name, payload in job.payloads:
                job.n_bytes += self._store.write(name, payload)
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

    def _finish_checkpoint(self, *, block: bool) -> None:
        """Complete the checkpoint in flight, if it is written (or wait for it): raise its
        error, commit its offsets (on the loop's thread only), log it."""
        job = self._inflight
        if job is None or not (block or job.done.is_set()):
            return
        job.done.wait()
        self._inflight = None
        if job.error is not None:
            from connectors.checkpoint import CheckpointError
            from connectors.worker.outputs import OutputError

            if isinstance(job.error, OutputError):
                raise WorkerError(f"outputs not delivered: {job.error}; no checkpoint "
                                  "written: a restart resumes from the last one")
            if isinstance(job.error, (OSError, CheckpointError)):
                raise WorkerError(f"checkpoint not written: {job.error}")
            raise job.error
        if job.offsets and threading.current_thread() is self._loop_thread:
            from kafka.errors import KafkaError

            try:
                self._consumer.commit(job.offsets)
            except KafkaError as err:  # the checkpoint is the truth; commits follow it
                log.warning(_kv("worker.commit_failed", error=err))
        self.n_checkpoints += 1
        self._last_checkpoint_wall = time.time()
        log.info(_kv("worker.checkpoint", reason=job.reason, saved=len(job.payloads),
                     bytes=job.n_bytes, learned=job.learned, cut_seconds=job.cut_seconds,
                     flush_seconds=job.flush_seconds,
                     seconds=time.perf_counter() - job.t0))

    def _offsets_to_commit(self, states, partitions=None) -> dict:
        from kafka.structs import OffsetAndMetadata

        out = {}
        for state in states:
            for p, offset in state.offsets.items():
                if (partitions is None and p in self._states) or (
                        partitions is not None and p in partitions):
                    out[self._tp(p)] = OffsetAndMetadata(offset, "", -1)
        return out

    # -- group rebalancing (called on kafka-python's IO thread, main thread in poll) ------
    def _partitions_revoked(self, tps, *, lost: bool = False) -> dict:
        """Save what leaves; returns the offsets to commit (none when ``lost``)."""
        parts = {tp.partition for tp in tps if tp.topic == self.config.topic}
        leaving = [self._states[p] for p in parts if p in self._states]
        offsets = {}
        if leaving and not self._failed and not lost:
            unique = list({id(s): s for s in leaving}.values())
            self.checkpoint("rebalance", unique, commit=False)
            offsets = self._offsets_to_commit(unique, parts)
        for p in parts:
            state = self._states.pop(p, None)
            self._ends.pop(p, None)
            self._recheck.discard(p)
            if state is not None and self.config.model_per_partition:
                self._retired.append(self._state_summary(state))
        log.info(_kv("worker.partitions.lost" if lost else "worker.partitions.revoked",
                     partitions=sorted(parts)))
        return offsets

    def _partitions_assigned(self, tps) -> None:
        mine = [tp for tp in tps if tp.topic == self.config.topic]
        self._take_partitions(mine)
        log.info(_kv("worker.partitions.assigned",
                     partitions=sorted(tp.partition for tp in mine)))

    # -- closing ---------------------------------------------------------------------------
    def _close(self) -> None:
        job = self._inflight
        if job is not None and not job.done.wait(FLUSH_TIMEOUT + 10):
            log.warning(_kv("worker.checkpoint_abandoned", reason=job.reason))
        if self._writer is not None:
            self._jobs.put(None)
            self._writer.join(timeout=5)
            self._writer = None
        if self._metrics_server is not None:
            self.published_metrics = {**self.published_metrics, "counters": {
                **self.published_metrics.get("counters", {}), "up": 0}}
            self._metrics_server.stop()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                consumer.close(autocommit=False)
            except Exception as err:  # noqa: BLE001 - closing must not mask the real error
                log.warning(_kv("worker.close_failed", client="consumer", error=err))
        outputs, self._outputs = self._outputs, None
        if outputs is not None:
            try:
                outputs.close()
            except Exception as err:  # noqa: BLE001
                log.warning(_kv("worker.close_failed", client="outputs", error=err))
        if self._dispatcher is not None:
            self._dispatcher.close(timeout=10.0)
        lock = getattr(self, "_lock_file", None)
        if lock is not None:
            lock.close()
            self._lock_file = None

    # -- reading ---------------------------------------------------------------------------
    @property
    def metrics_port(self) -> int | None:
        """The port of the ``/metrics`` endpoint (``None`` without one)."""
        return None if self._metrics_server is None else self._metrics_server.port

    def publish_metrics(self, *, up: bool = True) -> dict:
        """Compute the Prometheus snapshot now (main thread) and publish it to the server."""
        now = time.monotonic()
        then, records_then = self._rate_mark
        records = self.run_counts["records"]
        rate = (records - records_then) / (now - then) if now > then else 0.0
        self._rate_mark = (now, records)
        counters = {"messages_total": self.run_counts["messages"],
                    "records_total": records,
                    "predictions_total": self.run_counts["predictions"],
                    "label_deliveries_total": self.run_counts["label_deliveries"],
                    "records_per_second": rate,
                    "checkpoints_total": self.n_checkpoints,
                    "up": 1 if up else 0}
        age = self.checkpoint_age()
        if age is not None:
            counters["checkpoint_age_seconds"] = age
        labelled = {"dead_letters_total": [({"reason": r}, n) for r, n in
                                           sorted(self.run_dead_letters.items())],
                    "learned_records": [], "pending_records": [], "drift_events_total": [],
                    "prequential": [], "consumer_lag": []}
        for state in self._owned_states():
            model = {"model": state.name}
            labelled["learned_records"].append((model, state.evaluator.n_learned))
            labelled["pending_records"].append((model, len(state.pending)))
            for key, n in sorted(state.event_counts.items()):
                level, _, kind = key.partition(".")
                labelled["drift_events_total"].append(
                    ({"model": state.name, "level": level, "kind": kind}, n))
            if state.evaluator.n_predicted:
                for name, value in state.evaluator.snapshot().items():
                    if name == "records" or not isinstance(value, (int, float)):
                        continue
                    scope = "window" if name.startswith("window_") else "cumulative"
                    metric = name[len("window_"):] if scope == "window" else name
                    labelled["prequential"].append(
                        ({"model": state.name, "metric": metric, "scope": scope}, value))
        consumer = self._consumer
        if consumer is not None:
            for p, state in sorted(self._states.items()):
                try:
                    high = consumer.highwater(self._tp(p))
                except Exception:  # noqa: BLE001 - not assigned any more
                    continue
                if high is not None:
                    lag = max(0, high - state.offsets.get(p, 0))
                    labelled["consumer_lag"].append(({"partition": p}, lag))
        snapshot = {"counters": counters, "labelled": labelled}
        self.published_metrics = snapshot
        self._published_at = now
        return snapshot

    def records_per_second(self) -> float | None:
        """Records predicted per second from the first prediction (the end of the first
        run of records learned together) to the last."""
        if self._first_prediction_at is None or self._records_after_first == 0:
            return None
        elapsed = self._last_prediction_at - self._first_prediction_at
        return self._records_after_first / elapsed if elapsed > 0 else None

    def prediction_window(self) -> tuple[float, float, int] | None:
        """``(first, last, n)``: ``time.perf_counter()`` of this run's first and last
        prediction and the records predicted after the first (what
        :meth:`records_per_second` divides), or ``None`` before the first."""
        if self._first_prediction_at is None:
            return None
        return self._first_prediction_at, self._last_prediction_at, self._records_after_first

    def helper_pids(self) -> list[int]:
        """Process ids of the worker's helper processes (the output process)."""
        proc = getattr(self._outputs, "_proc", None)
        return [proc.pid] if proc is not None else []

    def checkpoint_age(self) -> float | None:
        """Seconds since the last checkpoint this run wrote (``None`` before the first)."""
        if self._last_checkpoint_wall is None:
            return None
        return time.time() - self._last_checkpoint_wall

    def _state_summary(self, state: ModelState) -> dict:
        ev = state.evaluator
        out = {"checkpoint": state.name, "offsets": dict(sorted(state.offsets.items())),
               "learned": ev.n_learned, "predicted": ev.n_predicted,
               "pending": len(state.pending), "dead_letters": dict(state.dead_letters),
               "drift_events": sum(state.event_counts.values())}
        out.update(state.counters)
        out["metrics"] = ev.summary()
        return out

    def summary(self) -> dict:
        """What this worker did: this run's counts, and each model's lifetime figures.

        With one model its metrics (as ``labelstream replay`` reports them: ``instances``,
        ``example_f1``, ``no_change_example_f1``, ...) and drift ``events`` are also at
        the top level.
        """
        cfg = self.config
        states = self._owned_states()
        models = [self._state_summary(s) for s in states] + self._retired
        out = {"topic": cfg.topic, "group": cfg.group, "learner": cfg.learner,
               "mode": cfg.mode, "model_per_partition": cfg.model_per_partition,
               "stop_reason": self.stop_reason,
               "messages": self.run_counts["messages"], "records": self.run_counts["records"],
               "predictions": self.run_counts["predictions"],
               "label_deliveries": self.run_counts["label_deliveries"],
               "dead_letters": sum(self.run_dead_letters.values()),
               "dead_letter_reasons": dict(sorted(self.run_dead_letters.items())),
               "replayed_skipped": self.run_counts["replayed_skipped"],
               "pending_expired": self.run_counts["pending_expired"],
               "drift_events": self.run_counts["drift_events"],
               "checkpoints": self.n_checkpoints,
               "seconds": time.monotonic() - self._started_at,
               "records_per_second": self.records_per_second(),
               "learned": sum(m["learned"] for m in models),
               "models": models}
        if len(states) == 1 and not cfg.model_per_partition:
            state = states[0]
            out.update(state.evaluator.summary())
            out["events"] = list(state.recent_events)
        return out


from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener  # noqa: E402


class _RebalanceListener(AsyncConsumerRebalanceListener):
    """Save leaving partitions' state and commit; load arriving partitions' state.

    kafka-python runs these on its IO thread while the worker's main thread waits inside
    ``poll``; exceptions are kept and re-raised on the main thread.
    """

    def __init__(self, worker: Worker):
        self.worker = worker

    async def on_partitions_revoked(self, revoked):
        worker = self.worker
        try:
            offsets = worker._partitions_revoked(revoked)
            if offsets and worker._consumer is not None:
                await _commit(worker._consumer, offsets)
        except BaseException as exc:
            worker._listener_error = worker._listener_error or exc
            raise

    async def on_partitions_assigned(self, assigned):
        worker = self.worker
        try:
            worker._partitions_assigned(assigned)
        except BaseException as exc:
            worker._listener_error = worker._listener_error or exc
            raise

    async def on_partitions_lost(self, lost):
        try:
            self.worker._partitions_revoked(lost, lost=True)
        except BaseException as exc:
            self.worker._listener_error = self.worker._listener_error or exc
            raise


async def _commit(consumer, offsets) -> None:
    """Commit from inside a rebalance listener (a blocking ``commit`` would deadlock there)."""
    coordinator = getattr(consumer, "_coordinator", None)
    commit = getattr(coordinator, "_commit_offsets_sync_async", None)
    try:
        if commit is not None:
            await commit(offsets, timeout_ms=5000)
        else:  # another kafka-python: fire and forget (the checkpoint is the truth anyway)
            consumer.commit_async(offsets)
    except Exception as err:  # noqa: BLE001
        log.warning(_kv("worker.commit_failed", where="rebalance", error=err))
