"""What a worker tells: the ``/metrics`` snapshot and the run's summary.

:class:`Reporter` turns the worker's parts -- the record path's counts and clock, the
checkpointer's figures, the owned model states, the consumer lag -- into

* a **snapshot** for the ``/metrics`` endpoint (:meth:`Reporter.publish`), computed on the
  loop's thread about once a second and only read by the server thread
  (:mod:`connectors.worker.metrics`), so a scrape never reads state the loop is changing;
* the **summary** a run returns (:meth:`Reporter.summary`): this run's counts and each
  model's lifetime figures, including models handed to other workers of the group.

Who calls it: the worker (:mod:`connectors.worker.loop`) on the loop's thread; the
partition owner's ``retire`` callback (:meth:`Reporter.retire`) from the rebalance
listener, while the loop waits in ``poll``.
"""

from __future__ import annotations

import time

from connectors.worker.state import ModelState

__all__ = ["Reporter", "state_summary"]


def state_summary(state: ModelState) -> dict:
    """One model's lifetime figures: offsets, learned, held, dead letters, metrics."""
    ev = state.evaluator
    out = {"checkpoint": state.name, "offsets": dict(sorted(state.offsets.items())),
           "learned": ev.n_learned, "predicted": ev.n_predicted,
           "pending": len(state.pending), "dead_letters": dict(state.dead_letters),
           "label_offsets": dict(sorted(state.label_offsets.items())),
           "labels_waiting": len(state.early_labels),
           "drift_events": sum(state.event_counts.values())}
    out.update(state.counters)
    out["metrics"] = ev.summary()
    return out


class Reporter:
    """Snapshots for ``/metrics`` and the run's summary of one worker.

    Parameters
    ----------
    config
        The worker's :class:`~connectors.worker.config.WorkerConfig`.
    """

    def __init__(self, config):
        self.config = config
        self.started_at = time.monotonic()
        self.published: dict = {"counters": {"up": 0}}
        self.published_at = 0.0
        self._rate_mark = (time.monotonic(), 0)
        self._retired: dict[str, dict] = {}  # checkpoint name -> summary when handed away

    def retire(self, state: ModelState) -> None:
        """A per-partition model went to another worker: keep its figures for the summary."""
        self._retired[state.name] = state_summary(state)

    def publish(self, records, checkpoints, states, lag, *, up: bool = True,
                broker=None) -> dict:
        """Compute the ``/metrics`` snapshot now and make it the published one.

        ``records``: the :class:`~connectors.worker.records.RecordPath`; ``checkpoints``:
        the :class:`~connectors.worker.checkpointer.Checkpointer`; ``states``: the owned
        model states; ``lag``: ``[(partition, lag)]``; ``broker``: the
        :class:`~connectors.worker.outage.BrokerWatch` (``None``: not reported).
        """
        now = time.monotonic()
        then, records_then = self._rate_mark
        counts = records.counts
        n_records = counts["records"]
        rate = (n_records - records_then) / (now - then) if now > then else 0.0
        self._rate_mark = (now, n_records)
        counters = {"messages_total": counts["messages"],
                    "records_total": n_records,
                    "predictions_total": counts["predictions"],
                    "label_deliveries_total": counts["label_deliveries"],
                    "pending_expired_total": counts.get("pending_expired", 0),
                    "labels_unmatched_total": counts.get("labels_unmatched", 0),
                    "records_per_second": rate,
                    "checkpoints_total": checkpoints.n_checkpoints,
                    "checkpoint_failures_total": checkpoints.n_failed,
                    "up": 1 if up else 0}
        if broker is not None:
            counters["broker_connected"] = 1 if broker.connected else 0
            counters["broker_outages_total"] = broker.outages
            counters["broker_outage_seconds_total"] = broker.outage_seconds
        age = checkpoints.age()
        if age is not None:
            counters["checkpoint_age_seconds"] = age
        labelled = {"dead_letters_total": [({"reason": r}, n) for r, n in
                                           sorted(records.dead_letters.items())],
                    "learned_records": [], "pending_records": [], "labels_waiting": [],
                    "drift_events_total": [],
                    "prequential": [],
                    "consumer_lag": [({"partition": p}, n) for p, n in lag]}
        for state in states:
            model = {"model": state.name}
            labelled["learned_records"].append((model, state.evaluator.n_learned))
            labelled["pending_records"].append((model, len(state.pending)))
            labelled["labels_waiting"].append((model, len(state.early_labels)))
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
        self.published = {"counters": counters, "labelled": labelled}
        self.published_at = now
        return self.published

    def mark_down(self) -> None:
        """The loop has stopped: the published snapshot says ``up 0``."""
        self.published = {**self.published, "counters": {
            **self.published.get("counters", {}), "up": 0}}

    def summary(self, records, checkpoints, states, *, stop_reason, broker=None) -> dict:
        """What this worker did: this run's counts, and each model's lifetime figures.

        With one model its metrics (as ``labelstream replay`` reports them:
        ``instances``, ``example_f1``, ``no_change_example_f1``, ...) and drift
        ``events`` are also at the top level.
        """
        cfg = self.config
        owned = {s.name for s in states}
        models = [state_summary(s) for s in states] + [
            m for name, m in self._retired.items() if name not in owned]
        counts = records.counts
        out = {"topic": cfg.topic, "group": cfg.group, "learner": cfg.learner,
               "mode": cfg.mode, "model_per_partition": cfg.model_per_partition,
               "stop_reason": stop_reason,
               "messages": counts["messages"], "records": counts["records"],
               "predictions": counts["predictions"],
               "label_deliveries": counts["label_deliveries"],
               "dead_letters": sum(records.dead_letters.values()),
               "dead_letter_reasons": dict(sorted(records.dead_letters.items())),
               "replayed_skipped": counts["replayed_skipped"],
               "pending_expired": counts["pending_expired"],
               "labels_unmatched": counts["labels_unmatched"],
               "drift_events": counts["drift_events"],
               "checkpoints": checkpoints.n_checkpoints,
               "checkpoint_failures": checkpoints.n_failed,
               "seconds": time.monotonic() - self.started_at,
               "records_per_second": records.clock.rate(),
               "learned": sum(m["learned"] for m in models),
               "models": models}
        if broker is not None:
            out["broker_outages"] = broker.outages
            out["broker_outage_seconds"] = broker.outage_seconds
        if len(states) == 1 and not cfg.model_per_partition:
            state = states[0]
            out.update(state.evaluator.summary())
            out["events"] = list(state.recent_events)
        return out
