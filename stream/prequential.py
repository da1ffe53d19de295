"""The prequential (test-then-train) loop.

For every record: predict, score the prediction against the truth, then learn (at once,
or ``label_delay`` records later, when the label would arrive in a real system). The
no-change baseline — predict the label set of the last record whose labels were
delivered — is scored in the same pass, so every result says how much of a learner's
score is merely the stream's temporal dependence (Zliobaite et al., 2015). The gain over
it is reported as a kappa-temporal statistic ``(s - s_nc) / (1 - s_nc)``: 0 means no better
than no-change, negative worse, 1 perfect.

:class:`PrequentialEvaluator` processes one record at a time, so a Kafka worker, a file
replay and the tests all drive the same code; :func:`evaluate` runs it over an iterable.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from stream.batch import split_rows
from stream.metrics import MultiLabelMetrics, precisions_at_k, warm_up
from stream.types import LabelIndex

__all__ = ["PrequentialEvaluator", "PrequentialResult", "evaluate", "kappa_temporal"]

BASELINE_PREFIX = "no_change_"


def kappa_temporal(score: float, baseline: float) -> float:
    """Gain of ``score`` over the no-change ``baseline`` on a 0..1 metric.

    Examples
    --------
    >>> kappa_temporal(0.8, 0.6)
    0.5
    >>> kappa_temporal(0.5, 1.0)   # baseline already perfect: undefined
    nan
    """
    if math.isnan(score) or math.isnan(baseline) or baseline >= 1.0:
        return math.nan
    return (score - baseline) / (1.0 - baseline)


@dataclass
class PrequentialResult:
    """What a prequential run measured.

    Attributes
    ----------
    summary
        Final cumulative metrics, the no-change baseline's, the kappa-temporal gains,
        ``instances``, ``labels``, ``seconds`` and ``instances_per_second``.
    history
        One row every ``report_every`` records: ``records``, cumulative metrics under their
        names and the sliding window's as ``window_<name>``, baseline included.
    events
        Drift events noted during the run (dicts with at least ``position``).
    """

    summary: dict
    history: list = field(default_factory=list)
    events: list = field(default_factory=list)


class PrequentialEvaluator:
    """Test-then-train one record at a time, with the no-change baseline alongside.

    Parameters
    ----------
    learner
        A river multi-label classifier. When it has ``predict_scores_one`` (labelstream's
        learners do) precision@k and the ranking metrics (macro/micro AUC, LRAP,
        one-error: :mod:`stream.ranking_metrics`) are measured from its scores. Each
        record ranks every label known to the evaluator at that record; a known label
        the learner gave no score is scored 0 (predicted absent). Without scores the
        ranking metrics are NaN.
    window_size
        Records in the sliding-window metrics.
    label_delay
        A record's labels reach the learner this many records after its prediction.
    label_names
        Labels declared by the source, if any (they count for Hamming loss from the start).
    top_k
        ``k`` values for precision@k.
    tail_cuts
        ``None`` (thirds of the labels seen) or ``(a, b)``: the head / medium / tail split
        of macro-F1 on a label's share of records (see :mod:`stream.metrics`).
    query
        Optional :class:`~stream.active.LabelQuery`: active learning under a label
        budget. Every record is predicted and scored, but only the records it asks for
        are learned (their labels "bought"); the no-change baseline repeats the last
        label set delivered. The summary adds ``labels_spent``, ``label_budget_left``,
        ``queried_share`` and ``example_f1_per_label_spent``.
    watch
        Optional drift watcher, called after each scored record or batch as
        ``watch(first_position, example_f1, true_label_rows, learner_events, label_names)``
        (``learner_events``: what the learner's ``pop_events()`` gave); whatever it
        returns (events with a ``position``) is kept in :attr:`events`. See
        :class:`drift.watch.StreamWatcher`.

    Examples
    --------
    >>> from river import datasets
    >>> from learners.logistic import LogisticBinaryRelevance
    >>> ev = PrequentialEvaluator(LogisticBinaryRelevance(), window_size=100)
    >>> for x, y in datasets.Yeast().take(400):
    ...     _ = ev.process_one(x, y)
    >>> s = ev.summary()
    >>> s["instances"], s["labels"]
    (400, 14)
    >>> s["example_f1"] > s["no_change_example_f1"]
    True
    """

    def __init__(self, learner, *, window_size: int = 1000, label_delay: int = 0,
                 label_names: Sequence | None = None, top_k=(1, 3, 5), watch=None,
                 tail_cuts=None, query=None):
        if label_delay < 0:
            raise ValueError("label_delay must be >= 0")
        self.learner = learner
        self.window_size = window_size
        self.label_delay = label_delay
        self.top_k = tuple(top_k)
        self.tail_cuts = tail_cuts
        self.labels = LabelIndex(label_names or ())
        self.metrics = MultiLabelMetrics(window_size, top_k=self.top_k, tail_cuts=tail_cuts)
        self.baseline = MultiLabelMetrics(window_size, top_k=(), ranking=False)
        self.n_predicted = 0
        self.n_learned = 0
        self.n_unknown_slots = 0  # label slots of the scored records that were unknown
        self._pending: deque = deque()
        self._nochange_cols: list = []
        self._dense_labels = not getattr(learner, "_sparse_labels", False)
        self._has_scores = hasattr(learner, "predict_scores_one")
        self._label_pos = self.labels._pos
        self.watch = watch
        self.query = query
        self.events: list = []

    def __setstate__(self, state):
        # the label index rebuilds its position map when unpickled, and the shortcut to
        # that map must follow it (otherwise labels added after a restart are missing
        # from precision@k)
        self.__dict__.update(state)
        self._label_pos = self.labels._pos

    # -- one record ----------------------------------------------------------------------
    def predict(self, x):
        """The learner's prediction ``(labels dict, scores dict or None)`` for ``x``."""
        if self._has_scores:
            return self.learner.predict_scores_one(x)
        return self.learner.predict_one(x), None

    def process_one(self, x, y=None, learn_y=None):
        """Predict ``x``, score against ``y`` and learn it (after the label delay).

        ``y=None`` (labels not known yet) only predicts. With ``learn_y`` the learner
        learns ``(x, learn_y)`` (noisy labels, say) while the metrics score against ``y``;
        the no-change baseline keeps repeating the truth ``y``, so that it is the same
        reference with and without noise. Returns ``(prediction, scores)``.
        """
        if y is None and learn_y is not None:
            raise ValueError("learn_y needs the truth y to score against")
        pred, scores = self.predict(x)
        self.n_predicted += 1
        asked = True if self.query is None else self.query.decide(pred, scores,
                                                                   self.learner, x)
        if y is None:
            return pred, scores
        true_cols, pred_cols = self.score(y, pred, scores)
        if asked:
            self._pending.append((x, y if learn_y is None else learn_y, true_cols))
            if self.query is not None:
                self.query.observe(y)
        while len(self._pending) > self.label_delay:
            self._learn(*self._pending.popleft())
        if self.watch is not None:
            inter = np.intersect1d(true_cols, pred_cols, assume_unique=True).size
            size = true_cols.size + pred_cols.size
            f1 = 1.0 if size == 0 else 2.0 * inter / size
            self._watch(self.metrics.n - 1, [f1], [true_cols])
        return pred, scores

    def score(self, y, pred, scores, n_labels: int | None = None):
        """Score the prediction ``pred`` (and its ``scores``) against the truth ``y``, in
        the cumulative and window metrics and the no-change baseline; nothing is learned.
        Returns the truth's and the prediction's label columns.

        ``n_labels`` is the number of labels known when the record was scored (Hamming
        loss); by default the labels met so far, this record's included. A merge of label
        shards gives the sum of the shards' counts.
        """
        labels = self.labels
        true_cols = labels.positions(y)
        pred_cols = labels.positions(pred)
        if n_labels is None:
            n_labels = len(labels)
        # unknown labels (None in y) are not scored: out of the prediction and the ranking
        unknown = labels.unknown_positions(y) if None in y.values() else None
        if unknown is not None:
            self.n_unknown_slots += sum(1 for v in y.values() if v is None)
        if unknown is not None and unknown.size:
            pred_cols = np.setdiff1d(pred_cols, unknown, assume_unique=True)
            if scores:
                scores = {k: v for k, v in scores.items() if y.get(k, False) is not None}
        else:
            unknown = None
        patk = score_row = None
        if scores:
            patk = precisions_at_k(true_cols, scores, self._label_pos, self.top_k)
        if scores is not None:  # every known label is ranked; unscored ones score 0
            score_row = np.zeros(n_labels)
            pos = self._label_pos
            for label, value in scores.items():
                col = pos.get(label)
                if col is not None and col < n_labels and value == value:
                    score_row[col] = value
            if unknown is not None:
                score_row[unknown[unknown < n_labels]] = np.nan
        self.metrics.update(true_cols, pred_cols, n_labels, patk, score_row)
        self.baseline.update(true_cols, self._nochange_cols, n_labels)
        return true_cols, pred_cols

    def set_no_change(self, true_cols) -> None:
        """The label set (columns) the no-change baseline predicts for the next record:
        what :meth:`score`'s caller learned last (the learning step sets it itself)."""
        self._nochange_cols = true_cols

    def _watch(self, first_position, example_f1, true_rows):
        pop = getattr(self.learner, "pop_events", None)
        learner_events = pop() if pop is not None else []
        self.events.extend(self.watch(first_position, example_f1, true_rows, learner_events,
                                      self.labels.keys))

    def process_many(self, records: list, learn_records: list | None = None) -> None:
        """Test-then-train a list of records through the learner's compiled path.

        Needs ``learner.predict_learn_many`` and no label delay. The label sets, the
        no-change baseline, precision@k and the score rows of the ranking metrics are
        formed as arrays for the whole batch and the metrics are updated once; the
        figures equal those of ``process_one`` record by record (a test checks it).

        ``learn_records``, parallel to ``records`` (same features, other labels), is
        what the learner learns, as ``learn_y`` in :meth:`process_one`. This is
        :func:`~stream.batch.to_batch` (``sparse=True``) then :meth:`process_batch`.
        """
        from stream.batch import to_batch

        self._check_batched()
        n = len(records)
        if not n:
            return
        if learn_records is not None and len(learn_records) != n:
            raise ValueError(f"{n} records but {len(learn_records)} learn_records")
        batch = to_batch(records, sparse=True)
        learn_batch = None if learn_records is None else to_batch(learn_records, sparse=True)
        self.process_batch(batch, learn_batch)

    def _check_batched(self) -> None:
        if self.label_delay or self.query is not None:
            raise ValueError("process_many needs label_delay=0 and no label query; use "
                             "process_one")

    def process_batch(self, batch, learn_batch=None) -> None:
        """Test-then-train a :class:`~stream.batch.Batch` through the learner's compiled path.

        The body of :meth:`process_many` after :func:`~stream.batch.to_batch`: a reader
        that parses straight into batch arrays (``ArffReader.iter_batches``) hands its
        batches here. ``batch`` must be what ``to_batch(records, sparse=True)`` gives for
        the batch's records (fresh indexes: the columns in first-seen order, ``named_at``
        set), or the figures may differ from record by record. ``learn_batch`` (same rows
        and features, other labels) is what the learner learns; by default ``batch``.

        Examples
        --------
        >>> from river import datasets
        >>> from learners.logistic import LogisticBinaryRelevance
        >>> from stream.batch import to_batch
        >>> ev = PrequentialEvaluator(LogisticBinaryRelevance(), window_size=100)
        >>> ev.process_batch(to_batch(list(datasets.Yeast().take(50)), sparse=True))
        >>> ev.summary()["instances"]
        50
        """
        self._check_batched()
        n = len(batch)
        if not n:
            return
        if learn_batch is None:
            learn_batch = batch
        elif len(learn_batch) != n:
            raise ValueError(f"{n} rows in the batch but {len(learn_batch)} in learn_batch")
        P, S = self.learner.predict_learn_many(learn_batch)
        labels = self.labels
        # batch label columns -> evaluator columns; a label not known yet is registered
        # at the first record that has it positive or is predicted to (truth first), as
        # process_one does, so that the number of known labels (Hamming loss) follows
        # the same record-by-record path; a label the learner knows but no record has
        # had positive or predicted yet stays unregistered (and unranked)
        Y = batch.Y
        L_before = len(labels)
        names = self.learner.labels_
        bmap = np.full(Y.shape[1], -1, dtype=np.int64)
        firsts = []  # (row, truth 0 / prediction 1, column, name)
        for j, name in enumerate(batch.label_names):
            col = labels.get(name)
            if col is not None:
                bmap[j] = col
            elif Y[:, j].any():
                firsts.append((int(np.argmax(Y[:, j])), 0, j, name))
        predicted = P.any(axis=0) if P.size else np.zeros(0, dtype=bool)
        for c in np.flatnonzero(predicted):
            if c < len(names) and names[c] not in labels:
                firsts.append((int(np.argmax(P[:, c])), 1, int(c), names[c]))
        arrivals = np.zeros(n + 1, dtype=np.int64)
        for row, _, _, name in sorted(firsts):
            if name not in labels:
                labels.add(name)
                arrivals[row + 1] += 1
        for j, name in enumerate(batch.label_names):
            if bmap[j] < 0 and name in labels:
                bmap[j] = labels[name]
        n_labels = L_before + np.cumsum(arrivals)[1:]
        rows, cols = np.nonzero(Y)
        t_idx = bmap[cols]
        t_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=t_ptr[1:])
        lmap = np.fromiter((labels.get(nm, -1) for nm in names), dtype=np.int64,
                           count=len(names))
        if batch.unknown is not None:  # unknown slots: out of the prediction and the ranking
            U = np.zeros((n, len(labels)), dtype=bool)
            bcol = {}
            for j, name in enumerate(batch.label_names):
                bcol[name] = j
                col = labels.get(name)
                if col is not None:
                    U[:, col] = batch.unknown[:, j]
            self.n_unknown_slots += int(batch.unknown.sum())
            m = min(P.shape[1], S.shape[1], lmap.size)
            hidden = np.zeros((n, m), dtype=bool)
            for c in range(m):
                j = bcol.get(names[c])
                if j is not None:
                    hidden[:, c] = batch.unknown[:, j]
            P = np.array(P, dtype=bool)
            P[:, :m] &= ~hidden
            S = np.array(S, dtype=np.float64)
            S[:, :m][hidden] = np.nan
        prow, pcol = np.nonzero(P)
        p_idx = lmap[pcol]
        p_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(prow, minlength=n), out=p_ptr[1:])
        patk = self._batch_precision_at_k(S, lmap, t_ptr, t_idx, len(labels))
        scores = self._batch_score_rows(S, lmap, n_labels, len(labels))
        if batch.unknown is not None:
            scores[U[:, :scores.shape[1]]] = np.nan
        first_position = self.metrics.n
        self.metrics.update_many(t_ptr, t_idx, p_ptr, p_idx, n_labels, patk, scores)
        # no-change predicts the previous record's labels
        prev = np.asarray(self._nochange_cols, dtype=np.int64)
        nc_idx = np.concatenate([prev, t_idx[:t_ptr[n - 1]]])
        nc_ptr = np.concatenate([[0], prev.size + t_ptr[:n]])
        self.baseline.update_many(t_ptr, t_idx, nc_ptr, nc_idx, n_labels)
        self._nochange_cols = np.sort(t_idx[t_ptr[n - 1]:])
        self.n_predicted += n
        self.n_learned += n
        if self.watch is not None:
            f1 = self.metrics.last_example_values[:, 2]
            self._watch(first_position, f1, split_rows(t_ptr, t_idx))

    @staticmethod
    def _batch_score_rows(S, lmap, n_labels, n_cols):
        """Scores by evaluator column: a label known at that row but not scored gets 0,
        one not known yet NaN (not ranked), as :meth:`process_one` forms them."""
        m = min(S.shape[1], lmap.size)
        Z = np.zeros((S.shape[0], n_cols))
        if m:
            on = lmap[:m] >= 0  # a label the evaluator has not registered is not ranked
            Z[:, lmap[:m][on]] = np.where(np.isnan(S[:, :m][:, on]), 0.0, S[:, :m][:, on])
        Z[np.arange(n_cols)[None, :] >= n_labels[:, None]] = np.nan
        return Z

    def _batch_precision_at_k(self, S, lmap, t_ptr, t_idx, n_cols):
        """precision@k per row from a score matrix (NaN = label unknown at that row)."""
        n = t_ptr.size - 1
        ks = self.top_k
        out = np.full((n, len(ks)), np.nan)
        if not ks or S.shape[1] == 0:
            return out
        kmax = max(ks)
        truth = np.zeros((n, n_cols + 1), dtype=bool)  # the last: labels not registered
        truth[np.repeat(np.arange(n), np.diff(t_ptr)), t_idx] = True
        order = np.argsort(-S, axis=1, kind="stable")[:, :kmax]
        valid = ~np.isnan(np.take_along_axis(S, order, axis=1))
        cols = np.where(lmap >= 0, lmap, n_cols)[order]
        hits = truth[np.arange(n)[:, None], cols] & valid
        cum = np.cumsum(hits, axis=1)
        n_valid = valid.sum(axis=1)
        has_truth = np.diff(t_ptr) > 0
        for j, k in enumerate(ks):
            vals = cum[:, min(k, cum.shape[1]) - 1] / k
            out[:, j] = np.where(has_truth & (n_valid > 0), vals, np.nan)
        return out

    def _learn(self, x, y, true_cols):
        if self._dense_labels and len(y) < len(self.labels):
            full = dict.fromkeys(self.labels, False)
            full.update(y)
            y = full
        self.learner.learn_one(x, y)
        self.n_learned += 1
        self._nochange_cols = true_cols

    def flush(self) -> None:
        """Learn every record still waiting for its delayed label (end of a stream)."""
        while self._pending:
            self._learn(*self._pending.popleft())

    # -- reading -------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Cumulative and window metrics of the learner and of no-change, as one flat row."""
        row = {"records": self.metrics.n if self.n_predicted else 0}
        row.update(self.metrics.get())
        row.update(self.metrics.get_window())
        base = self.baseline.get()
        base_win = self.baseline.get_window()
        for name in ("example_f1", "micro_f1"):
            row[BASELINE_PREFIX + name] = base[name]
            row["window_" + BASELINE_PREFIX + name] = base_win["window_" + name]
        return row

    def summary(self) -> dict:
        """Final cumulative figures (no window) with the gains over no-change."""
        out = {"instances": self.metrics.n, "labels": len(self.labels)}
        out.update(self.metrics.get())
        out["unknown_label_slots"] = self.n_unknown_slots
        slots = self.metrics.n * len(self.labels)
        out["unknown_share"] = self.n_unknown_slots / slots if slots else 0.0
        base = self.baseline.get()
        for name in ("example_f1", "micro_f1"):
            out[BASELINE_PREFIX + name] = base[name]
            out["kappa_temporal_" + name] = kappa_temporal(out[name], base[name])
        if self.query is not None:
            out.update(self.query.stats())
            spent = out["labels_spent"]
            out["example_f1_per_label_spent"] = (out["example_f1"] / spent if spent
                                                 else math.nan)
        return out


def evaluate(records: Iterable, learner, *, window_size: int = 1000, label_delay: int = 0,
             label_names: Sequence | None = None, limit: int | None = None,
             report_every: int = 100, on_progress: Callable[[dict], None] | None = None,
             progress_interval: float = 0.5, top_k=(1, 3, 5),
             batch_size: int = 256, watch=None, tail_cuts=None,
             label_noise=None, query=None) -> PrequentialResult:
    """Run the prequential loop over ``records`` and return its :class:`PrequentialResult`.

    Parameters
    ----------
    records
        Iterable of ``(x, y)``.
    learner
        A river multi-label classifier.
    limit
        Stop after this many records.
    report_every
        A history row every this many records (0: none).
    watch
        A drift watcher (see :class:`PrequentialEvaluator`); its events are returned.
    tail_cuts
        The head / medium / tail split of macro-F1 (see :class:`PrequentialEvaluator`).
    label_noise
        A :class:`~stream.label_noise.LabelNoise`: the learner learns the corrupted labels
        while the metrics score against the clean ones (``None``: no noise).
    query
        A :class:`~stream.active.LabelQuery`: learn only the records it asks for (see
        :class:`PrequentialEvaluator`); such a run goes record by record.
    on_progress
        Called about every ``progress_interval`` seconds with ``{"records",
        "records_per_second", "example_f1"}`` (for progress bars).

    With no label delay, a learner that has ``predict_learn_many`` (test-then-train of
    a batch, record by record, in compiled code) gets the records in chunks of
    ``batch_size``; the metrics are identical to the record-by-record path. A reader
    with ``iter_batches`` (``ArffReader``, ``LibSVMReader``) then hands over the same
    chunks parsed straight into batch arrays, with no dict per record (not with label
    noise, which corrupts records); its ``warm_up()`` runs before the clock too. Pass
    ``iter(reader)`` to force the record path.

    Kernels are compiled (or loaded from numba's cache) before the clock starts, through
    the learner's ``warm_up()`` when it has one, so ``seconds`` measures the stream.

    Examples
    --------
    >>> from river import datasets
    >>> from learners.logistic import LogisticBinaryRelevance
    >>> res = evaluate(datasets.Yeast(), LogisticBinaryRelevance(), limit=300, report_every=100)
    >>> [row["records"] for row in res.history]
    [100, 200, 300]
    >>> res.summary["instances"]
    300
    """
    ev = PrequentialEvaluator(learner, window_size=window_size, label_delay=label_delay,
                              label_names=label_names, top_k=top_k, watch=watch,
                              tail_cuts=tail_cuts, query=query)
    warm_up()
    if hasattr(learner, "warm_up"):
        learner.warm_up()
    history = []
    batched = (label_delay == 0 and batch_size > 1 and query is None
               and hasattr(learner, "predict_learn_many"))
    noisy = label_noise is not None and label_noise.active
    # a reader that parses straight into batches (ARFF, LIBSVM) skips the records
    from_batches = (batched and not noisy
                    and getattr(type(records), "iter_batches", None) is not None)
    if from_batches and hasattr(records, "warm_up"):
        records.warm_up()  # the reader's compiled parser, before the clock too
    start = time.perf_counter()
    last_tick = time.monotonic()
    n = 0

    def tick():
        nonlocal last_tick
        now = time.monotonic()
        if on_progress is not None and now - last_tick >= progress_interval:
            last_tick = now
            elapsed = time.perf_counter() - start
            on_progress({"records": n, "records_per_second": n / max(elapsed, 1e-9),
                         "example_f1": ev.metrics.get()["example_f1"]})

    if from_batches:
        # the chunks of the record loop below, the same history rows and ticks
        batches = records.iter_batches(_chunk_sizes(batch_size, report_every, limit))
        try:
            for batch in batches:
                if limit is not None and n >= limit:
                    break  # the record past the limit, read as the record loop reads it
                full = min(batch_size, report_every - n % report_every) if report_every \
                    else batch_size
                if len(batch) < full and limit is not None and n + len(batch) >= limit:
                    # a chunk cut by the limit: the record loop reads the record past
                    # the limit before it processes the chunk
                    next(batches, None)
                ev.process_batch(batch)
                n += len(batch)
                if report_every and n % report_every == 0:
                    history.append(ev.snapshot())
                if len(batch) == full:
                    tick()
        finally:
            batches.close()
    else:
        if noisy:
            from stream.label_noise import NoisyRecords

            triples = iter(NoisyRecords(records, label_noise, label_names))
        else:
            triples = ((x, y, None) for x, y in records)
        if batched:
            chunk, learn = [], []
            for x, y, z in triples:
                if limit is not None and n + len(chunk) >= limit:
                    break
                chunk.append((x, y))
                learn.append((x, y if z is None else z))
                at_report = report_every and (n + len(chunk)) % report_every == 0
                if len(chunk) >= batch_size or at_report:
                    ev.process_many(chunk, learn_records=learn if label_noise else None)
                    n += len(chunk)
                    chunk, learn = [], []
                    if at_report:
                        history.append(ev.snapshot())
                    tick()
            if chunk:
                ev.process_many(chunk, learn_records=learn if label_noise else None)
                n += len(chunk)
        else:
            for x, y, z in triples:
                if limit is not None and n >= limit:
                    break
                ev.process_one(x, y, learn_y=z)
                n += 1
                if report_every and n % report_every == 0:
                    history.append(ev.snapshot())
                if n % 64 == 0:
                    tick()
    ev.flush()
    if report_every and n % report_every:
        history.append(ev.snapshot())
    seconds = time.perf_counter() - start
    summary = ev.summary()
    summary["seconds"] = seconds
    summary["instances_per_second"] = n / seconds if seconds > 0 else math.nan
    events = [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in ev.events]
    summary["drift_events"] = len(events)
    return PrequentialResult(summary=summary, history=history, events=events)


def _chunk_sizes(batch_size: int, report_every: int, limit: int | None):
    """The sizes of :func:`evaluate`'s batched chunks: ``batch_size`` records, cut at
    every ``report_every`` and at ``limit``; then 1 more, as the record loop reads one
    record past the limit (and raises its error if it is malformed).

    Examples
    --------
    >>> list(_chunk_sizes(256, 100, 250))
    [100, 100, 50, 1]
    >>> from itertools import islice
    >>> list(islice(_chunk_sizes(64, 0, None), 3))
    [64, 64, 64]
    """
    done = 0
    while limit is None or done < limit:
        k = batch_size
        if report_every:
            k = min(k, report_every - done % report_every)
        if limit is not None:
            k = min(k, limit - done)
        yield k
        done += k
    yield 1
