"""One model and everything checkpointed with it: :class:`ModelState`.

A worker has one :class:`ModelState` (every partition feeds one model) or one per
partition (``--model-per-partition``). A state is exactly what one checkpoint holds: the
prequential evaluator (learner, cumulative and window metrics, the no-change baseline),
the drift watcher, the unlabelled records held for their labels, the labels declared by
the stream, the next offset of each of its partitions, and counters. Everything in it
moves together: a checkpoint is a consistent cut of the stream.

:class:`WorkerEvaluator` is the prequential evaluator with one addition a label-delayed
stream needs: scoring a record, when its labels arrive, with the prediction made when it
arrived (:meth:`WorkerEvaluator.process_delivered`).

Examples
--------
>>> from learners.registry import make_learner
>>> state = ModelState.new("demo", "br", make_learner("br"), window_size=50, detector="none",
...                        label_drift=())
>>> pred, scores = state.evaluator.process_one({"a": 1.0}, None)   # arrival: predict only
>>> _ = state.evaluator.process_delivered({"a": 1.0}, {"sky": True}, (pred, scores))
>>> state.evaluator.n_predicted, state.evaluator.n_learned, state.evaluator.metrics.n
(1, 1, 1)
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass

import numpy as np

from stream.prequential import PrequentialEvaluator

__all__ = ["CHECKPOINT_FORMAT", "ModelState", "PendingRecord", "WorkerEvaluator",
           "make_watcher", "prediction_rows"]

#: Version of the checkpoint content (the dict :meth:`ModelState.to_checkpoint` returns).
CHECKPOINT_FORMAT = 1
#: Drift events kept in a state for the summary (all are counted).
RECENT_EVENTS = 200


class WorkerEvaluator(PrequentialEvaluator):
    """:class:`~stream.prequential.PrequentialEvaluator` that can score a held prediction."""

    _held = None

    def predict(self, x):
        held = self._held
        if held is not None:
            self._held = None
            return held
        return super().predict(x)

    def process_delivered(self, x, y, prediction):
        """Score ``prediction`` (made when ``x`` arrived) against ``y``, then learn ``(x, y)``.

        Exactly what :meth:`process_one` does for a labelled record, except that the
        prediction is not made again (nor counted again in ``n_predicted``).
        """
        self._held = prediction
        try:
            out = self.process_one(x, y)
        finally:
            self._held = None
        self.n_predicted -= 1  # it was counted when the record arrived
        return out

    def process_many_predicted(self, records: list) -> tuple[list, np.ndarray, np.ndarray]:
        """:meth:`process_many` (the learner's compiled test-then-train of a batch), also
        returning the predictions as ``(names, P, S)``: row ``i`` of the boolean ``P``
        and of the scores ``S`` is record ``i``'s prediction, column ``j`` is label
        ``names[j]`` (a NaN score: not scored). :func:`prediction_rows` turns them into
        ``(positive labels, scores)`` per record.

        The positives, the metrics and the learned model are those of
        :meth:`process_one` record by record. The scores name the labels the model had
        met as positive by then (one record at a time, a label declared but never yet
        positive is also scored).
        """
        from stream.batch import to_batch

        self._check_batched()
        return self.process_batch_predicted(to_batch(records, sparse=True))

    def process_batch_predicted(self, batch) -> tuple[list, np.ndarray, np.ndarray]:
        """:meth:`process_many_predicted` of a batch already built (what
        ``to_batch(records, sparse=True)`` gives, see :meth:`process_batch`)."""
        learner = self.learner
        method = learner.predict_learn_many
        captured = []

        def capture(batch):
            P, S = method(batch)
            captured.append((P, S))
            return P, S

        learner.predict_learn_many = capture  # shadows the method for this call only
        try:
            self.process_batch(batch)
        finally:
            del learner.predict_learn_many
        (P, S), = captured
        return list(learner.labels_[:S.shape[1]]), P, S


def prediction_rows(names: list, P, S):
    """``(positive labels, {label: score})`` for each row of a
    :meth:`WorkerEvaluator.process_many_predicted` result (NaN scores left out).

    Examples
    --------
    >>> import numpy as np
    >>> list(prediction_rows(["a", "b"], np.array([[True, False]]),
    ...                      np.array([[0.9, np.nan]])))
    [(['a'], {'a': 0.9})]
    """
    for p_row, s_row in zip(P.tolist(), S.tolist()):
        yield ([n for n, on in zip(names, p_row) if on],
               {n: v for n, v in zip(names, s_row) if v == v})


@dataclass
class PendingRecord:
    """An unlabelled record held until its labels arrive."""

    x: dict
    prediction: tuple  # (labels dict, scores dict or None), as made on arrival
    partition: int
    offset: int
    arrived: float  # unix seconds (wall clock: held records survive restarts)


@dataclass
class EarlyLabels:
    """Labels from the labels topic that came before their record: they wait for it.

    The message's key, value and headers are kept so that labels that never meet their
    record leave as the dead letter of the message that brought them.
    """

    y: dict
    partition: int
    offset: int
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list
    arrived: float  # unix seconds
    truth_at: tuple = ()  # a label shard's: the places of its positives (label_shard)


#: Ids of held records dropped (expired or evicted) that a state remembers, so that their
#: labels, when they come, are told apart from labels for ids never seen.
REMEMBERED_DROPS = 100_000


def make_watcher(learner: str, detector: str = "adwin", label_drift=()):
    """The :class:`~drift.watch.StreamWatcher` of a model, as ``labelstream replay`` builds it."""
    from drift.label_structure import (LabelCardinalityDetector, LabelCorrelationDetector,
                                       LabelPrevalenceDetector)
    from drift.watch import StreamWatcher

    make = {"cardinality": LabelCardinalityDetector, "prevalence": LabelPrevalenceDetector,
            "correlation": LabelCorrelationDetector}
    return StreamWatcher(detector, learner=learner,
                         label_detectors=[make[name]() for name in label_drift])


class ModelState:
    """A model, its metrics, detectors, held records and offsets: one checkpoint.

    Parameters
    ----------
    name
        The checkpoint name.
    learner_name
        The registry name of the learner (checked on restore).
    evaluator
        A :class:`WorkerEvaluator` whose ``watch`` is ``watcher``.
    watcher
        The drift watcher.
    """

    def __init__(self, name: str, learner_name: str, evaluator: WorkerEvaluator, watcher):
        self.name = name
        self.learner_name = learner_name
        self.evaluator = evaluator
        self.watcher = watcher
        self.pending: OrderedDict[str, PendingRecord] = OrderedDict()
        self.offsets: dict[int, int] = {}
        self.label_offsets: dict[int, int] = {}  # of the labels topic (--labels-topic)
        self.early_labels: OrderedDict[str, EarlyLabels] = OrderedDict()
        self.dropped: OrderedDict[str, str] = OrderedDict()  # held id -> why it was dropped
        self.declared_labels: list = []
        self.counters: Counter = Counter()
        self.dead_letters: Counter = Counter()
        self.event_counts: Counter = Counter()
        self.recent_events: deque = deque(maxlen=RECENT_EVENTS)
        self.unsaved = 0  # messages handled since the last checkpoint (not saved)
        self.saved_at: float | None = None  # unix time of the checkpoint it came from
        self.query = None  # stream.active.LabelQuery of --label-budget, once made

    @classmethod
    def new(cls, name: str, learner_name: str, learner, *, window_size: int = 1000,
            detector: str = "adwin", label_drift=()) -> ModelState:
        """A fresh state around ``learner``."""
        watcher = make_watcher(learner_name, detector, label_drift)
        evaluator = WorkerEvaluator(learner, window_size=window_size, watch=watcher)
        return cls(name, learner_name, evaluator, watcher)

    # -- labels ------------------------------------------------------------------------------
    def declare_labels(self, names, max_labels: int) -> int:
        """Register labels a stream declares (header); returns how many were new."""
        labels = self.evaluator.labels
        n = 0
        for name in names:
            if name in labels:
                continue
            if len(labels) >= max_labels:
                break
            labels.add(name)
            self.declared_labels.append(name)
            n += 1
        return n

    def new_labels(self, y: dict) -> int:
        """How many labels of ``y`` (positive ones) the model does not know yet."""
        labels = self.evaluator.labels
        return sum(1 for label, on in y.items() if on and label not in labels)

    def full_labels(self, y: dict) -> dict:
        """``y`` with every declared label present (False unless positive), as the Kafka
        replay source gives them."""
        if not self.declared_labels:
            return y
        full = dict.fromkeys(self.declared_labels, False)
        full.update(y)
        return full

    # -- held records -----------------------------------------------------------------------
    def hold(self, record_id: str, pending: PendingRecord, max_pending: int) -> None:
        """Hold an unlabelled record for its labels (the oldest goes beyond ``max_pending``)."""
        held = self.pending
        if record_id in held:
            del held[record_id]
            self.counters["pending_replaced"] += 1
        held[record_id] = pending
        while len(held) > max_pending:
            self._drop(held.popitem(last=False)[0], "evicted")
            self.counters["pending_evicted"] += 1

    def _drop(self, record_id: str, why: str) -> None:
        dropped = self.dropped
        dropped[record_id] = why
        dropped.move_to_end(record_id)
        while len(dropped) > REMEMBERED_DROPS:
            dropped.popitem(last=False)

    def wait_for_record(self, record_id: str, early: EarlyLabels, max_pending: int) -> list:
        """Keep labels that came before their record; returns the ones pushed out (the
        oldest beyond ``max_pending``), which will never be learned."""
        waiting = self.early_labels
        waiting.pop(record_id, None)
        waiting[record_id] = early
        out = []
        while len(waiting) > max_pending:
            out.append(waiting.popitem(last=False))
        return out

    def expire_early(self, now: float, timeout: float) -> list:
        """``(id, EarlyLabels)`` of labels that waited longer than ``timeout`` seconds."""
        waiting = self.early_labels
        out = []
        limit = now - timeout
        while waiting:
            oldest = next(iter(waiting.values()))
            if oldest.arrived > limit:
                break
            out.append(waiting.popitem(last=False))
        return out

    def expire(self, now: float, timeout: float) -> int:
        """Drop held records older than ``timeout`` seconds; returns how many."""
        held = self.pending
        n = 0
        limit = now - timeout
        while held:
            oldest = next(iter(held.values()))
            if oldest.arrived > limit:
                break
            self._drop(held.popitem(last=False)[0], "expired")
            n += 1
        if n:
            self.counters["pending_expired"] += n
        return n

    # -- checkpoints --------------------------------------------------------------------------
    def to_checkpoint(self, topic: str) -> dict:
        """What a checkpoint of this state holds (a dict, pickled by the store)."""
        return {"format": CHECKPOINT_FORMAT, "kind": "labelstream.worker", "name": self.name,
                "topic": topic, "learner": self.learner_name, "evaluator": self.evaluator,
                "watcher": self.watcher, "pending": self.pending,
                "offsets": dict(self.offsets), "label_offsets": dict(self.label_offsets),
                "early_labels": self.early_labels, "dropped": self.dropped,
                "declared_labels": list(self.declared_labels),
                "counters": dict(self.counters), "dead_letters": dict(self.dead_letters),
                "event_counts": dict(self.event_counts),
                "recent_events": list(self.recent_events), "saved_at": time.time(),
                "query": self.query}

    @classmethod
    def from_checkpoint(cls, data, *, name: str, topic: str, learner_name: str) -> ModelState:
        """Rebuild a state from :meth:`to_checkpoint`'s dict; ``ValueError`` if it does not
        belong here (another topic, learner or format)."""
        if not isinstance(data, dict) or data.get("kind") != "labelstream.worker":
            raise ValueError(f"checkpoint {name!r} is not a labelstream worker checkpoint")
        if data.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint {name!r} has content format {data.get('format')!r}; "
                             f"this labelstream reads format {CHECKPOINT_FORMAT}")
        if data["topic"] != topic:
            raise ValueError(f"checkpoint {name!r} is of topic {data['topic']!r}, not {topic!r}")
        if data["learner"] != learner_name:
            raise ValueError(f"checkpoint {name!r} holds a {data['learner']!r} model but "
                             f"--learner {learner_name} was asked; use the same learner or "
                             "another --checkpoint-dir")
        state = cls(name, learner_name, data["evaluator"], data["watcher"])
        state.pending = data["pending"]
        state.offsets = {int(p): int(o) for p, o in data["offsets"].items()}
        state.label_offsets = {int(p): int(o)
                               for p, o in data.get("label_offsets", {}).items()}
        state.early_labels = data.get("early_labels", OrderedDict())
        state.dropped = data.get("dropped", OrderedDict())
        state.declared_labels = list(data["declared_labels"])
        state.counters = Counter(data["counters"])
        state.dead_letters = Counter(data["dead_letters"])
        state.event_counts = Counter(data["event_counts"])
        state.recent_events.extend(data["recent_events"])
        state.saved_at = data.get("saved_at")
        state.query = data.get("query")
        return state

    def __repr__(self):
        return (f"ModelState({self.name!r}, learned={self.evaluator.n_learned}, "
                f"offsets={self.offsets}, label_offsets={self.label_offsets})")
