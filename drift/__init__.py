"""Drift: river's detectors by name, the error monitor, and the events detections become.

Detectors are pure (``update``, read-only ``drift_detected``, picklable, no logging); the
loop turns a detection into a frozen :class:`DriftEvent` and hands it to the alert hooks in
``connectors.alerts``. Names are imported lazily, so ``from drift.events import DriftEvent``
(e.g. on a webhook receiver) does not import river.
"""

import importlib

__all__ = [
    "DETECTORS", "KINDS", "LEVELS", "LOSSES", "DriftEvent", "ErrorDriftMonitor",
    "describe_detectors", "detector_input", "event_id", "make_detector", "new_event",
    "record_loss",
]

_WHERE = {
    "DETECTORS": "drift.detectors", "LOSSES": "drift.detectors",
    "ErrorDriftMonitor": "drift.detectors", "describe_detectors": "drift.detectors",
    "detector_input": "drift.detectors", "make_detector": "drift.detectors",
    "record_loss": "drift.detectors",
    "KINDS": "drift.events", "LEVELS": "drift.events", "DriftEvent": "drift.events",
    "event_id": "drift.events", "new_event": "drift.events",
}


def __getattr__(name):
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'drift' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
