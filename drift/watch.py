"""Turn what the prequential loop scored into drift events, at every level.

:class:`StreamWatcher` is the ``watch`` callable of
:class:`stream.prequential.PrequentialEvaluator`. After each scored record (or batch of
records) the evaluator hands it the records' example-F1, their true label columns, and
the events the learner reported about itself (iHOMER's restructurings); it returns the
:class:`~drift.events.DriftEvent` objects they amount to:

* **global**: an :class:`~drift.detectors.ErrorDriftMonitor` on the per-record loss
  ``1 - example F1`` (ADWIN by default);
* **label structure**: label-structure detectors fed with each record's true label
  columns (label cardinality, per-label prevalence, label correlation), each reporting the
  labels that moved;
* **local**: the learner's own structural changes (``kind="restructure"``).

The watcher only detects; delivery (alert hooks, cooldowns) belongs to
``connectors.alerts``.

Examples
--------
>>> import numpy as np
>>> watcher = StreamWatcher("adwin", learner="demo")
>>> rng = np.random.default_rng(0)
>>> f1 = np.where(np.arange(4000) < 2000, 0.8, 0.3) + rng.normal(0, 0.05, 4000)
>>> events = watcher(0, np.clip(f1, 0, 1), [np.array([0])] * 4000, [], ["a"])
>>> [(e.level, e.kind, 2000 <= e.position < 2200) for e in events]
[('global', 'drift', True)]
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from drift.detectors import ErrorDriftMonitor
from drift.events import DriftEvent, new_event
from drift.label_structure import rows_to_csr

__all__ = ["StreamWatcher"]


class StreamWatcher:
    """Global, label-structure and learner-reported drift, as :class:`DriftEvent` objects.

    Parameters
    ----------
    detector
        Spec of the global error detector (``"adwin"``, ``"ddm"``, ``"none"``, ...).
    learner
        The learner's name, copied into events.
    label_detectors
        Label-structure detectors (``update(label_cols)``, ``drift_detected``,
        ``labels_involved``, ``statistic``, ``name``), fed every record's true labels.
    warnings
        Also report the global detector's warnings.
    improvements
        Also report global detections where the loss *fell*. Two-sided detectors (ADWIN,
        KSWIN, Page-Hinkley) fire on a learner that gets better, e.g. at the end of its
        learning curve; that is not a drift anyone wants an alert for, so by default only
        rises of the loss become events.
    """

    def __init__(self, detector="adwin", *, learner: str | None = None,
                 label_detectors: Iterable = (), warnings: bool = False,
                 improvements: bool = False):
        self.detector = detector
        self.learner = learner
        self.warnings = warnings
        self.improvements = improvements
        self.monitor = ErrorDriftMonitor(detector, learner=learner)
        self.label_detectors = list(label_detectors)
        self.n_events = 0

    def __call__(self, first_position: int, example_f1, true_rows: Sequence,
                 learner_events: Sequence, label_names: Sequence) -> list[DriftEvent]:
        events: list[DriftEvent] = []
        monitor = self.monitor
        f1 = np.asarray(example_f1, dtype=np.float64)
        for k, value in enumerate(f1.tolist()):
            monitor.update(1.0 - value)
            if monitor.drift_detected or (self.warnings and monitor.warning_detected):
                event = monitor.make_event(first_position + k)
                if self.improvements or event.details.get("direction") != "decrease":
                    events.append(event)
        # each label detector takes the batch at once; sorting by position (stable) then
        # puts a record's events in the record-by-record order: the monitor's, then the
        # label detectors' in their order
        batched = [det for det in self.label_detectors if hasattr(det, "update_many")]
        if batched and f1.size:
            indptr, indices = rows_to_csr(true_rows[:f1.size])
        for det in self.label_detectors:
            if hasattr(det, "update_many"):
                for k, labels, statistic in det.update_many(indptr, indices):
                    events.append(self._label_event(det, first_position + k, label_names,
                                                    labels, statistic))
                continue
            for k in range(f1.size):
                det.update(true_rows[k])
                if det.drift_detected:
                    events.append(self._label_event(
                        det, first_position + k, label_names,
                        getattr(det, "labels_involved", ()), getattr(det, "statistic", None)))
        for raw in learner_events:
            events.append(self._learner_event(raw))
        events.sort(key=lambda e: e.position)
        self.n_events += len(events)
        return events

    def _label_event(self, det, position, label_names, involved, statistic) -> DriftEvent:
        cols = [int(c) for c in involved]
        names = tuple(str(label_names[c]) for c in cols if c < len(label_names))
        return new_event(getattr(det, "name", type(det).__name__), "label_structure",
                         position, learner=self.learner, labels=names,
                         statistic=None if statistic is None else float(statistic),
                         details={"detector": type(det).__name__})

    def _learner_event(self, raw: dict) -> DriftEvent:
        details = {k: v for k, v in raw.items() if k not in ("position", "labels", "kind")}
        return new_event(f"{self.learner or 'learner'}.structure", "local",
                         int(raw["position"]), learner=self.learner,
                         labels=tuple(str(x) for x in raw.get("labels", ())),
                         kind=raw.get("kind", "restructure"), details=details)
