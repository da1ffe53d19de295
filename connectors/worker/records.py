"""The record path: one partition's messages in; predictions, dead letters and drift events out.

:class:`RecordPath` owns what happens to a message once it has been fetched: decoding,
the prequential step on its model's :class:`~connectors.worker.state.ModelState`
(predict, score, learn), unlabelled records held by id and the label deliveries that
complete them, the ``max_labels`` cap, dead letters, drift events, and this run's
counts. It holds no Kafka client: a message is anything with ``topic``, ``partition``,
``offset``, ``key``, ``value`` and ``headers`` (kafka-python's ``ConsumerRecord``, or a
:class:`Message`), outputs go to a sink with ``prediction`` / ``predictions`` /
``message`` (the worker's :class:`~connectors.worker.outputs.OutputProcess`), drift
events to a dispatcher with ``emit``. So a test drives it with plain messages.

Who calls it: the run loop (:mod:`connectors.worker.loop`), on the loop's thread only,
with the partition -> state map that :mod:`connectors.worker.partitions` keeps. It asks
for a checkpoint through the ``checkpoint_due`` callback every ``checkpoint_every``
messages (the loop owns checkpoints; :attr:`RecordPath.since_checkpoint` is reset by
whoever cuts one).

Examples
--------
>>> from connectors.kafka.client import KafkaSettings
>>> from connectors.kafka.codec import encode_record
>>> from connectors.worker.config import WorkerConfig
>>> from connectors.worker.state import ModelState
>>> from learners.registry import make_learner
>>> cfg = WorkerConfig(KafkaSettings("127.0.0.1:9"), "records", learner="br", detector="none")
>>> state = ModelState.new("records", "br", make_learner("br"), window_size=50,
...                        detector="none", label_drift=())
>>> path = RecordPath(cfg)
>>> path.handle([Message("records", 0, 0, None, encode_record({"a": 1.0}, {"sky": True})),
...              Message("records", 0, 1, None, b"{oops")], {0: state})
>>> path.counts["records"], dict(path.dead_letters), state.offsets
(1, {'invalid_json': 1}, {0: 2})
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from typing import Any, Callable, NamedTuple

from connectors.kafka.codec import (
    DeadLetter,
    DecodedRecord,
    SourcePosition,
    dead_letter_headers,
    decode_message,
    encode_prediction,
    read_label_names,
)
from connectors.kafka.message_batch import ParsedPoll, ParsedRecord
from connectors.worker.label_shard import ShardRecord
from connectors.worker.logfmt import kv
from connectors.worker.state import EarlyLabels, ModelState, PendingRecord

__all__ = ["DLQ_MAX_VALUE_BYTES", "Message", "PredictionClock", "RecordPath", "warm_up"]

log = logging.getLogger(__name__)

#: Dead-letter values are cut to this size (the full size is in a header).
DLQ_MAX_VALUE_BYTES = 512 * 1024
#: Dead letters logged at WARNING per reason (later ones at DEBUG).
_DLQ_WARNINGS = 5


class Message(NamedTuple):
    """A fetched message as the record path sees it (kafka-python's records fit too)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list = []


class PredictionClock:
    """When this run's predictions happened, for an honest records/s.

    The clock starts once the first prediction (or the first run learned together) is
    done: that first one counts for nothing, since its records' own times are not known,
    so the rate is never inflated by records predicted before the clock started.
    """

    def __init__(self):
        self.first: float | None = None
        self.last: float | None = None
        self.n_after_first = 0

    def count(self, n: int) -> None:
        """``n`` records were just predicted (one, or a run learned together)."""
        now = time.perf_counter()
        if self.first is None:
            self.first = now
            n = 0
        self.n_after_first += n
        self.last = now

    def rate(self) -> float | None:
        """Records per second from the first prediction to the last (``None`` before)."""
        if self.first is None or self.n_after_first == 0:
            return None
        elapsed = self.last - self.first
        return self.n_after_first / elapsed if elapsed > 0 else None


class RecordPath:
    """Decode, predict, score, learn, hold, deliver and dead-letter one poll's messages.

    Parameters
    ----------
    config
        The worker's :class:`~connectors.worker.config.WorkerConfig` (topics, caps,
        decoding limits, ``checkpoint_every``).
    outputs
        Where predictions and dead letters are produced (``None``: only counted). May be
        set later, once the sink is started.
    dispatcher
        Alert delivery for drift events (``emit(event)``), or ``None``.
    batched
        Whether the learner has a compiled batch path (``predict_learn_many``): runs of
        consecutive labelled records are then learned together (same figures as one at a
        time).
    stop
        The worker's stop flag: honoured between messages (a run in hand is finished).
    checkpoint_due
        Called when ``checkpoint_every`` messages have been handled since the last cut.

    Attributes
    ----------
    counts : collections.Counter
        This run's ``messages``, ``records``, ``predictions``, ``label_deliveries``,
        ``drift_events``, ``replayed_skipped``, ``pending_expired``.
    dead_letters : collections.Counter
        This run's dead letters by reason.
    since_checkpoint : int
        Messages handled since the last checkpoint was cut.
    clock : PredictionClock
        When this run's predictions happened.
    """

    def __init__(self, config, *, outputs=None, dispatcher=None, batched: bool = False,
                 stop: threading.Event | None = None,
                 checkpoint_due: Callable[[], Any] | None = None):
        self.config = config
        self.outputs = outputs
        self.dispatcher = dispatcher
        self.batched = batched
        self._stop = stop if stop is not None else threading.Event()
        self.checkpoint_due = checkpoint_due if checkpoint_due is not None else (lambda: None)
        self._decode_options = dict(config.decode_limits, max_bytes=config.max_message_bytes)
        self.shard = getattr(config, "label_shard", None)  # LabelShard, or None: every label
        self.counts: Counter = Counter()
        self.dead_letters: Counter = Counter()
        self.since_checkpoint = 0
        self.clock = PredictionClock()

    # -- a poll's messages --------------------------------------------------------------
    def handle(self, messages, states: dict) -> None:
        """One partition's messages from a poll, in offset order.

        ``states`` maps a partition to its model's state; a message of a partition not in
        it (not ours any more) ends the call. Messages below the state's next offset
        (fetched again after a seek) are skipped and counted.

        With a batched learner, runs of consecutive labelled records are predicted,
        scored and learned together through
        :meth:`~connectors.worker.state.WorkerEvaluator.process_many_predicted`; anything
        else (dead letters, unlabelled records, label deliveries, a label declaration)
        ends the run and is handled on its own.

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
        poll = None
        if self.batched and self.shard is None:  # labelled records parsed into arrays
            poll = ParsedPoll([msg.value for msg in messages], options)
            values = [decode_message(msg.value, **options) if parsed is None else parsed
                      for msg, parsed in zip(messages, poll.records)]
            # the fast lane below skips the per-record label-cap check: only when no other
            # message of the poll can bring labels, and the poll's labels all fit
            fast_lane = not any(type(v) is DecodedRecord and v.y is not None
                                for v in values)
        else:
            values = [decode_message(msg.value, **options) for msg in messages]
            fast_lane = False
        if self.shard is not None:
            values = [self.shard.own(decoded) for decoded in values]
        fits: dict = {}  # id(state) -> whether every label of the poll fits the cap
        for msg, decoded in zip(messages, values):
            if stop.is_set():
                break
            p = msg.partition
            state = states.get(p)
            if state is None:  # not ours any more
                return
            expected = state.offsets.get(p)
            if expected is not None and msg.offset < expected:
                self.counts["replayed_skipped"] += 1
                continue
            self.counts["messages"] += 1
            if msg.headers:
                names = read_label_names(msg.headers)
                if names and self.shard is not None:
                    names = self.shard.own_names(names)
                if names:
                    if run:
                        self._learn_run(state, run)
                        run, run_labels = [], set()
                    state.declare_labels(names, cfg.max_labels)
                    fits.clear()
            if fast_lane and type(decoded) is ParsedRecord:
                ok = fits.get(id(state))
                if ok is None:
                    labels = state.evaluator.labels
                    ok = fits[id(state)] = len(labels) + sum(
                        label not in labels for label in poll.label_names) <= cfg.max_labels
                if ok:
                    run.append((msg, decoded))
                    if self.since_checkpoint + len(run) >= cfg.checkpoint_every:
                        self._learn_run(state, run)
                        run, run_labels = [], set()
                        self.checkpoint_due()
                    continue
            if (self.batched and not isinstance(decoded, DeadLetter)
                    and decoded.x is not None and decoded.y is not None):
                labels = state.evaluator.labels
                new = {label for label, on in decoded.y.items()
                       if on and label not in labels and label not in run_labels}
                if not new or len(labels) + len(run_labels) + len(new) <= cfg.max_labels:
                    run.append((msg, decoded))
                    run_labels |= new
                    if self.since_checkpoint + len(run) >= cfg.checkpoint_every:
                        self._learn_run(state, run)
                        run, run_labels = [], set()
                        self.checkpoint_due()
                    continue
            if run:
                self._learn_run(state, run)
                run, run_labels = [], set()
            self._apply(state, msg, decoded)
            self.since_checkpoint += 1
            if self.since_checkpoint >= cfg.checkpoint_every:
                self.checkpoint_due()
        if run:
            self._learn_run(state, run)

    def handle_labels(self, messages, states: dict) -> None:
        """One partition's messages of the labels topic (``--labels-topic``), in offset
        order: each delivery completes its held record, or waits for a record not seen
        yet. ``states`` maps a labels-topic partition to its model's state; the offsets
        are the state's ``label_offsets``."""
        options = self._decode_options
        for msg in messages:
            if self._stop.is_set():
                break
            p = msg.partition
            state = states.get(p)
            if state is None:
                return
            expected = state.label_offsets.get(p)
            if expected is not None and msg.offset < expected:
                self.counts["replayed_skipped"] += 1
                continue
            self.counts["messages"] += 1
            decoded = decode_message(msg.value, **options)
            if self.shard is not None:
                decoded = self.shard.own(decoded)
            if isinstance(decoded, DeadLetter):
                self._dead_letter(state, msg, decoded)
            elif decoded.x is not None or decoded.id is None:
                self._dead_letter(state, msg, DeadLetter(
                    "not_labels", "the labels topic carries label deliveries "
                                  "{\"id\", \"labels\"} only; records with features go to "
                                  "--topic"))
            elif decoded.id in state.pending:
                self._deliver(state, msg, decoded)
            elif decoded.id in state.dropped:
                self._dead_letter(state, msg, DeadLetter(
                    "expired_id", f"labels for id {decoded.id!r}, whose record was "
                                  f"{state.dropped[decoded.id]} before they came (see "
                                  "--pending-timeout and --max-pending)"))
            else:  # its record has not come yet (or never will): it waits
                for rid, early in state.wait_for_record(decoded.id, EarlyLabels(
                        decoded.y, p, msg.offset, msg.topic, msg.key, msg.value,
                        list(msg.headers or []), time.time(),
                        getattr(decoded, "truth_at", ())), self.config.max_pending):
                    self._never_matched(state, rid, early, "pushed out by newer ones "
                                                            "(--max-pending)")
                state.counters["labels_came_first"] += 1
            state.label_offsets[p] = msg.offset + 1
            state.unsaved += 1
            self.since_checkpoint += 1
            if self.since_checkpoint >= self.config.checkpoint_every:
                self.checkpoint_due()

    def _never_matched(self, state: ModelState, record_id: str, early, why: str) -> None:
        state.counters["labels_unmatched"] += 1
        self.counts["labels_unmatched"] += 1
        self._dead_letter(state, early, DeadLetter(
            "unknown_id", f"labels for id {record_id!r} came on the labels topic and no "
                          f"record with that id came to be held for them ({why})"))

    def expire_pending(self, states) -> None:
        """Drop held records older than ``pending_timeout`` (counted, never learned), and
        labels that waited that long for their record (dead letters ``unknown_id``)."""
        timeout = self.config.pending_timeout
        now = time.time()
        for state in states:
            if state.pending:
                n = state.expire(now, timeout)
                if n:
                    self.counts["pending_expired"] += n
                    log.info(kv("worker.pending.expired", model=state.name, n=n))
            if state.early_labels:
                for rid, early in state.expire_early(now, timeout):
                    self._never_matched(state, rid, early,
                                        f"waited --pending-timeout {timeout:g} s")

    # -- one run, one message -------------------------------------------------------------
    def _learn_run(self, state: ModelState, run: list) -> None:
        """Test-then-train a run of labelled records at once; publish their predictions."""
        ev = state.evaluator
        learned = ev.n_learned
        partials = self._partials(state, run) if self.shard is not None else None
        first = run[0][1]
        if type(first) is ParsedRecord and all(type(decoded) is ParsedRecord
                                               and decoded.poll is first.poll
                                               for _, decoded in run):
            names, P, S = ev.process_batch_predicted(first.poll.batch(
                [decoded.row for _, decoded in run], state.declared_labels))
        else:
            names, P, S = ev.process_many_predicted(
                [(decoded.x, state.full_labels(decoded.y)) for _, decoded in run])
        topic = self.config.predictions_topic
        if topic is not None and self.outputs is not None:  # encoded by the sink, row by row
            rows = [(msg.key, decoded.id, (msg.topic, msg.partition, msg.offset), learned + i)
                    for i, (msg, decoded) in enumerate(run)]
            if partials is not None:  # a label shard's partial predictions say so
                rows = [row + (partial,) for row, partial in zip(rows, partials)]
            self.outputs.predictions(topic, names, P, S, rows)
            self.counts["predictions"] += len(run)
        n = len(run)
        last = run[-1][0]
        state.offsets[last.partition] = last.offset + 1
        state.unsaved += n
        state.counters["records"] += n
        self.counts["records"] += n
        self.since_checkpoint += n
        self.clock.count(n)
        if ev.events:
            self._drift_events(state, last)

    def _partials(self, state: ModelState, run: list) -> list:
        """The shard's part of each partial prediction of a run, before it is learned:
        ``n_labels`` grows as the run's rows bring labels, as the evaluator counts them."""
        labels = state.evaluator.labels
        n = len(labels)
        new: set = set()
        out = []
        for _, decoded in run:
            for label, on in decoded.y.items():
                if on and label not in labels and label not in new:
                    new.add(label)
                    n += 1
            out.append(self.shard.partial(decoded, n))
        return out

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
        asked = False
        if y is None:
            pred, scores = ev.process_one(decoded.x, None)
            if decoded.id is None:
                state.counters["unlabelled_without_id"] += 1
            else:
                state.hold(decoded.id, PendingRecord(decoded.x, (pred, scores), msg.partition,
                                                     msg.offset, time.time()),
                           self.config.max_pending)
                state.counters["held"] += 1
                asked = self._ask(state, msg, decoded, pred, scores)
                early = state.early_labels.pop(decoded.id, None)
                if early is not None:  # its labels came first (--labels-topic)
                    labels = dataclasses.replace(decoded, y=early.y) if self.shard is None \
                        else ShardRecord(decoded.id, decoded.x, early.y,
                                         getattr(early, "truth_at", ()))
                    self._deliver(state, msg, labels)
        else:
            pred, scores = ev.process_one(decoded.x, state.full_labels(y))
        state.counters["records"] += 1
        self.counts["records"] += 1
        self.clock.count(1)
        topic = self.config.predictions_topic
        if asked and topic is not None and self.outputs is not None:
            # a queried record's prediction says so: encoded here (queries are few)
            value = encode_prediction(
                decoded.id, SourcePosition(msg.topic, msg.partition, msg.offset),
                [label for label, on in pred.items() if on], scores,
                learner=self.config.learner, records_learned=learned, query=True)
            self.outputs.message(topic, msg.key, value)
            self.counts["predictions"] += 1
        elif topic is not None and self.outputs is not None:
            shard = {} if self.shard is None else {
                "shard": self.shard.partial(decoded, len(ev.labels))}
            self.outputs.prediction(topic, msg.key, decoded.id,
                                    (msg.topic, msg.partition, msg.offset),
                                    [label for label, on in pred.items() if on], scores,
                                    learned, **shard)
            self.counts["predictions"] += 1

    def _ask(self, state: ModelState, msg, decoded, pred, scores) -> bool:
        """Whether the label budget asks for this held record's labels; if so, the record
        goes to the queries topic."""
        cfg = self.config
        if cfg.label_budget is None:
            return False
        if state.query is None:
            state.query = cfg.new_query()
        if not state.query.decide(pred, scores, state.evaluator.learner, decoded.x):
            return False
        state.counters["queries"] += 1
        self.counts["queries"] += 1
        if cfg.queries_topic is not None and self.outputs is not None:
            headers = list(msg.headers or []) + [("labelstream.query", b"1")]
            self.outputs.message(cfg.queries_topic, msg.key,
                                 msg.value if msg.value is not None else b"", headers)
        return True

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
        self.counts["label_deliveries"] += 1
        topic = self.config.predictions_topic
        if self.shard is not None and topic is not None and self.outputs is not None:
            # the merge scores the record once every shard's share of its labels came
            self.outputs.message(topic, msg.key, self.shard.delivery(
                decoded, (self.config.topic, held.partition, held.offset),
                len(state.evaluator.labels)))

    def _label_cap(self, state: ModelState, n_new: int) -> DeadLetter:
        return DeadLetter("label_cap", f"{n_new} new label(s) would take the model past "
                                       f"--max-labels {self.config.max_labels} (it knows "
                                       f"{len(state.evaluator.labels)})")

    def _dead_letter(self, state: ModelState, msg, dead: DeadLetter) -> None:
        state.dead_letters[dead.code] += 1
        self.dead_letters[dead.code] += 1
        n = self.dead_letters[dead.code]
        level = logging.WARNING if n <= _DLQ_WARNINGS else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, kv("worker.dead_letter", reason=dead.code, partition=msg.partition,
                              offset=msg.offset, text=dead.text[:200]))
        topic = self.config.dead_letter_topic
        if topic is None or self.outputs is None:
            return
        headers = dead_letter_headers(dead, msg)
        value = msg.value
        if value is not None and len(value) > DLQ_MAX_VALUE_BYTES:
            headers.append(("dlq.value.truncated-from", str(len(value)).encode()))
            value = bytes(value[:DLQ_MAX_VALUE_BYTES])
        if value is None and msg.key is None:
            value = b""  # a record needs a key or a value
        self.outputs.message(topic, msg.key, value, headers)

    def _drift_events(self, state: ModelState, msg) -> None:
        ev = state.evaluator
        events, ev.events = ev.events, []
        where = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        for event in events:
            try:
                event = dataclasses.replace(event, source_offset=where)
            except (TypeError, ValueError):
                pass
            state.event_counts[f"{event.level}.{event.kind}"] += 1
            state.recent_events.append(event.to_dict() if hasattr(event, "to_dict")
                                       else dict(event))
            self.counts["drift_events"] += 1
            log.info(kv("worker.drift", model=state.name, level=event.level, kind=event.kind,
                        detector=event.detector, position=event.position,
                        partition=msg.partition, offset=msg.offset))
            if self.dispatcher is not None:
                self.dispatcher.emit(event)


def warm_up(config) -> float:
    """Compile every numba kernel on the record path; returns the seconds it took.

    Called before the worker joins a group: a first compile holds the GIL for seconds,
    and kafka-python heartbeats on a background thread, so compiling after joining could
    cost the group membership.
    """
    from stream.metrics import warm_up as warm_up_metrics

    t0 = time.perf_counter()
    warm_up_metrics()
    learner = config.new_learner()
    if hasattr(learner, "predict_learn_many"):
        from connectors.kafka.message_kernels import warm_up as warm_up_parser

        warm_up_parser()
    if hasattr(learner, "warm_up"):
        learner.warm_up()
    scratch = ModelState.new("warm-up", config.learner, learner, window_size=8,
                             detector=config.detector, label_drift=config.label_drift)
    ev = scratch.evaluator
    for i in range(6):
        x = {"a": float(i % 3), "b": 1.0 - i}
        y = {"u": i % 2 == 0, "v": i % 3 == 0}
        if i % 2:
            ev.process_delivered(x, y, ev.process_one(x, None))
        else:
            ev.process_one(x, y)
    return time.perf_counter() - t0
