"""Join label shards' partial predictions into full ones, and score them.

:class:`ShardMerger` holds no Kafka client: it takes partial predictions (the decoded JSON
of what ``labelstream worker --label-shard I/N`` publishes, see
:mod:`connectors.worker.label_shard`) and gives merged predictions once all ``N`` shards of
a record have come, in the order they complete. A record's shards are joined by its
source (topic, partition, offset).

- The merged prediction is the union of the shards' labels and scores (each label is one
  shard's). When every shard also sent the record's truth (its labels were known when it
  was predicted), the record is scored as one worker over all labels would have scored
  it: the positives in the record's order, the label count the sum of the shards'.
- A record whose labels came later (``"labels": null``, then a delivery) is merged when
  its predictions are, and scored with that merged prediction once every shard has
  published that it learned its share of the labels (``"delivered": true``), as one
  worker scores a held record's prediction when its labels come.
- A shard's partial at or below the last offset already taken from that shard for that
  source partition is a repeat (a shard restarted from its checkpoint publishes again what
  it published since): counted and dropped.
- A record still missing shards ``shard_timeout`` seconds after its first partial came,
  or pushed out by ``max_pending`` newer ones, is published incomplete (``"missing_shards"``)
  and not scored; counted, never silent. Its late partials are counted and dropped.
- A partial that is not one (no ``shard``), comes from a merge of another size, or names a
  label that hashes to another shard (shards that disagree on the label set) is refused
  with a reason code, as the worker's dead letters are.

Examples
--------
>>> m = ShardMerger(2)
>>> src = {"topic": "in", "partition": 0, "offset": 7}
>>> a = {"id": "r7", "source": src, "labels": ["wind"], "scores": {"wind": 0.9},
...      "shard": {"index": 0, "count": 2, "n_labels": 1, "truth": ["wind"], "truth_at": [1]}}
>>> b = {"id": "r7", "source": src, "labels": [], "scores": {"sky": 0.2},
...      "shard": {"index": 1, "count": 2, "n_labels": 1, "truth": ["sky"], "truth_at": [0]}}
>>> m.check(a) is None and m.check(b) is None
True
>>> m.add(a, now=0.0)
[]
>>> out, = m.add(b, now=0.1)
>>> out["labels"], out["scores"], m.evaluator.metrics.get()["example_f1"]
(['wind'], {'sky': 0.2, 'wind': 0.9}, 0.6666666666666666)
>>> m.check({"source": src, "labels": ["sky"], "scores": {},
...          "shard": {"index": 0, "count": 2, "n_labels": 1, "truth": None}}).code
'foreign_label'
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict

from connectors.kafka.codec import DeadLetter
from connectors.worker.label_shard import shard_of
from stream.prequential import PrequentialEvaluator

__all__ = ["MERGE_REASONS", "ShardMerger"]

#: Reason codes of refused partial predictions.
MERGE_REASONS = ("not_partial", "shard_count", "shard_index", "foreign_label")


class _NoLearner:
    """The merge learns nothing: the shards did."""

    def predict_one(self, x):
        return {}


def _source(doc) -> tuple:
    src = doc["source"]
    return (str(src["topic"]), int(src["partition"]), int(src["offset"]))


class ShardMerger:
    """Partial predictions in, merged predictions out (see the module).

    Parameters
    ----------
    shards
        ``N``: how many label shards there are.
    window_size
        Window of the scored metrics.
    max_pending
        Records waiting for shards at most; beyond, the oldest is published incomplete.
    shard_timeout
        Seconds a record waits for its last shard after its first came.

    Attributes
    ----------
    evaluator : stream.prequential.PrequentialEvaluator
        The merged records' metrics (``evaluator.metrics``, ``evaluator.baseline``).
    counts : collections.Counter
        ``partials``, ``merged``, ``scored``, ``unscored`` (labels not known when
        predicted), ``scored_at_delivery`` (those scored once every shard learned their
        labels), ``truth_mismatch``, ``duplicates``, ``incomplete``, ``late``,
        ``deliveries_dropped`` (held past ``max_pending``).
    """

    def __init__(self, shards: int, *, window_size: int = 1000, max_pending: int = 100_000,
                 shard_timeout: float = 60.0):
        if shards < 1:
            raise ValueError(f"--shards must be >= 1, got {shards}")
        if max_pending < 1 or not shard_timeout > 0:
            raise ValueError("--max-pending must be >= 1 and --shard-timeout > 0")
        self.shards = int(shards)
        self.max_pending = int(max_pending)
        self.shard_timeout = float(shard_timeout)
        self.evaluator = PrequentialEvaluator(_NoLearner(), window_size=window_size)
        self.pending: OrderedDict = OrderedDict()  # source -> [first seen, {index: doc}]
        self.taken: dict = {}  # (topic, partition, shard index) -> last offset taken
        self.closed: OrderedDict = OrderedDict()  # sources published incomplete (bounded)
        # records predicted before their labels came: source -> [merged prediction or
        # None (not all shards' predictions yet), {shard index: delivery}]
        self.awaiting: OrderedDict = OrderedDict()
        self.delivered: OrderedDict = OrderedDict()  # sources scored at delivery (bounded)
        self.counts: Counter = Counter()

    # -- input ---------------------------------------------------------------------------
    def check(self, doc) -> DeadLetter | None:
        """Why ``doc`` is not a partial prediction this merge can take, or ``None``."""
        try:
            shard = doc["shard"]
            _source(doc)
            index, count = int(shard["index"]), int(shard["count"])
            int(shard["n_labels"])
            if doc.get("delivered"):  # a held record's labels came: the shard's truth only
                labels, scores = [], {}
                if shard.get("truth") is None:
                    raise ValueError("a delivery without its truth")
            else:
                labels, scores = list(doc["labels"]), dict(doc.get("scores") or {})
            truth = shard.get("truth")
            truth = [] if truth is None else list(truth)
        except (KeyError, TypeError, ValueError, AttributeError):
            return DeadLetter("not_partial", "not a partial prediction of a label shard "
                                             "(needs source, labels, scores and shard {index, "
                                             "count, n_labels}); is the worker run with "
                                             "--label-shard?")
        if count != self.shards:
            return DeadLetter("shard_count", f"a partial prediction of shard {index} of "
                                             f"{count}; this merge joins {self.shards} shards "
                                             "(every shard and the merge must agree on N)")
        if not 0 <= index < count:
            return DeadLetter("shard_index", f"shard index {index} is not in 0..{count - 1}")
        for label in (*labels, *scores, *truth, *(shard.get("unknown") or ())):
            home = shard_of(label, count)
            if home != index:
                return DeadLetter("foreign_label", f"label {label!r} came from shard {index} "
                                                   f"but hashes to shard {home}: the shards "
                                                   "disagree on the label set (same N and "
                                                   "labelstream version everywhere?)")
        return None

    def add(self, doc: dict, now: float) -> list:
        """Take one partial prediction (checked by :meth:`check`); the merged predictions
        it completes (at most one) and those it pushes out of ``max_pending``."""
        self.counts["partials"] += 1
        src = _source(doc)
        if doc.get("delivered"):
            return self._delivery(src, doc)
        index = int(doc["shard"]["index"])
        at = (src[0], src[1], index)
        if src in self.closed:
            self.counts["late"] += 1
            return []
        last = self.taken.get(at)
        if last is not None and src[2] <= last:
            self.counts["duplicates"] += 1
            return []
        self.taken[at] = src[2]
        entry = self.pending.get(src)
        if entry is None:
            entry = self.pending[src] = [now, {}]
        entry[1][index] = doc
        out = []
        if len(entry[1]) == self.shards:
            del self.pending[src]
            out.append(self._merge(src, entry[1]))
        while len(self.pending) > self.max_pending:
            out.append(self._incomplete(*self.pending.popitem(last=False)))
        return out

    def expire(self, now: float) -> list:
        """Publish incomplete the records whose shards are later than ``shard_timeout``."""
        out = []
        while self.pending:
            src, entry = next(iter(self.pending.items()))
            if now - entry[0] < self.shard_timeout:
                break
            del self.pending[src]
            out.append(self._incomplete(src, entry))
        return out

    def _delivery(self, src, doc) -> list:
        """A shard learned a held record's labels: score the record once all have."""
        if src in self.delivered:
            self.counts["duplicates"] += 1
            return []
        entry = self.awaiting.get(src)
        if entry is None:
            entry = self.awaiting[src] = [None, {}]
        entry[1][int(doc["shard"]["index"])] = doc["shard"]
        self._score_delivered(src)
        while len(self.awaiting) > self.max_pending:
            self.awaiting.popitem(last=False)
            self.counts["deliveries_dropped"] += 1
        return []

    def _score_delivered(self, src) -> None:
        merged, shards = self.awaiting[src]
        if merged is None or len(shards) < self.shards:
            return
        del self.awaiting[src]
        self.delivered[src] = True
        while len(self.delivered) > self.max_pending:
            self.delivered.popitem(last=False)
        self._score(merged, [shards[i] for i in sorted(shards)])
        self.counts["scored_at_delivery"] += 1

    # -- output --------------------------------------------------------------------------
    def _incomplete(self, src, entry) -> dict:
        parts = entry[1]
        self.counts["incomplete"] += 1
        self.closed[src] = True
        while len(self.closed) > self.max_pending:
            self.closed.popitem(last=False)
        merged = self._join(src, parts)
        merged["missing_shards"] = [i for i in range(self.shards) if i not in parts]
        return merged

    def _join(self, src, parts: dict) -> dict:
        docs = [parts[i] for i in sorted(parts)]
        pos = self.evaluator.labels._pos
        scores = {}
        for doc in docs:
            for label, p in (doc.get("scores") or {}).items():
                scores[label] = math.nan if p is None else float(p)
        labels = [label for doc in docs for label in doc["labels"]]
        # in the order of the labels' columns, as one worker's learner lists them
        order = {label: pos.get(label, len(pos) + i) for i, label in enumerate(scores)}
        labels.sort(key=lambda label: order.get(label, len(pos) + len(order)))
        scores = dict(sorted(scores.items(), key=lambda kv: order[kv[0]]))
        first = docs[0]
        return {"id": first.get("id"),
                "source": {"topic": src[0], "partition": src[1], "offset": src[2]},
                "labels": labels, "scores": scores,
                "model": {**(first.get("model") or {}), "shards": self.shards}}

    def _merge(self, src, parts: dict) -> dict:
        self.counts["merged"] += 1
        shards = [parts[i]["shard"] for i in sorted(parts)]
        truths = [s.get("truth") for s in shards]
        if all(t is None for t in truths):  # scored when every shard's labels came
            self.counts["unscored"] += 1
            merged = self._join(src, parts)
            entry = self.awaiting.get(src)
            if entry is None:
                entry = self.awaiting[src] = [None, {}]
            entry[0] = merged
            self._score_delivered(src)
            return merged
        if any(t is None for t in truths):
            self.counts["truth_mismatch"] += 1
            return self._join(src, parts)
        self._add_columns(shards)
        merged = self._join(src, parts)
        self._score(merged, shards)
        self.counts["scored"] += 1
        return merged

    @staticmethod
    def _truth(shards) -> dict:
        """The record's truth over every label: its positives in its own order (new
        labels get columns as one worker's would), then the unknown labels."""
        positives = sorted(((at, label) for s in shards
                            for label, at in zip(s["truth"], s.get("truth_at") or ())),
                           key=lambda t: t[0])
        y = {label: True for _, label in positives}
        for s in shards:
            for label in s.get("unknown") or ():
                y[label] = None
        return y

    def _add_columns(self, shards) -> None:
        # columns first, so that the merged scores come in column order
        for label, on in self._truth(shards).items():
            if on:
                self.evaluator.labels.add(label)

    def _score(self, merged: dict, shards: list) -> None:
        ev = self.evaluator
        y = self._truth(shards)
        pred = dict.fromkeys(merged["labels"], True)
        scored = {k: v for k, v in merged["scores"].items() if v == v}  # NaN: not scored
        true_cols, _ = ev.score(y, pred, scored,
                                n_labels=sum(int(s["n_labels"]) for s in shards))
        ev.set_no_change(true_cols)
        ev.n_predicted += 1

    def summary(self) -> dict:
        """The merged records' metrics and this merger's counts."""
        out = self.evaluator.summary()
        out["counts"] = dict(self.counts)
        out["pending"] = len(self.pending)
        return out
