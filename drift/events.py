"""Drift events: what a detection becomes once the loop has seen it.

A :class:`DriftEvent` is frozen, hashable, picklable and round-trips through JSON
(:meth:`DriftEvent.to_json` / :meth:`DriftEvent.from_json`), so the same object is written
to a report, sent to a webhook, put on a Kafka topic and read back by whoever receives it.

Ids are deterministic: :func:`new_event` derives the id from what identifies the detection
within the stream (detector, level, position, learner, kind and labels), never from the
clock, so replaying the same stream with the same configuration gives the same ids and a
receiver can recognise a repeated alert. Only ``timestamp`` (when the event was made,
``time.time()`` unless given) differs between two replays. A worker keeps ids stable across
restarts by counting ``position`` from the start of the stream (restored from its
checkpoint), not from the start of the process.

Examples
--------
>>> event = new_event("adwin", "global", 1200, timestamp=1700000000.0, statistic=0.42)
>>> event.id
'evt_...'
>>> event == new_event("adwin", "global", 1200, timestamp=1700000999.0, statistic=0.42).replace(
...     timestamp=1700000000.0)
True
>>> DriftEvent.from_json(event.to_json()) == event
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KINDS", "LEVELS", "DriftEvent", "FrozenMapping", "event_id", "new_event"]

LEVELS = ("global", "local", "label_structure")
"""Where a detector watches: the stream's error, one part of a learner, the label structure."""

KINDS = ("drift", "warning", "restructure", "replacement")
"""What happened: a drift, a warning (drift may be coming), a learner restructured itself
(e.g. label clusters rebuilt), or a component was replaced (e.g. an expert swapped)."""

_SCALARS = (str, int, float, bool, type(None))


def _freeze(value: Any, where: str) -> Any:
    """A JSON-compatible value made immutable: dicts -> FrozenMapping, lists -> tuples."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} is not valid JSON; use None")
        return value
    if isinstance(value, Mapping):
        return FrozenMapping(value, _where=where)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, f"{where}[{i}]") for i, v in enumerate(value))
    raise TypeError(f"{where}: {type(value).__name__} is not JSON-serialisable "
                    "(use str, int, float, bool, None, lists and dicts with str keys)")


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenMapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


class FrozenMapping(Mapping):
    """A read-only, hashable, picklable mapping of JSON values (nested dicts frozen too).

    Lists inside are stored as tuples. ``dict(m)`` or :meth:`to_dict` gives a plain copy.

    Examples
    --------
    >>> m = FrozenMapping({"topic": "records", "partition": 0, "offset": 41})
    >>> m["offset"], len(m), hash(m) == hash(FrozenMapping(dict(m)))
    (41, 3, True)
    >>> m["offset"] = 42
    Traceback (most recent call last):
    ...
    TypeError: 'FrozenMapping' object does not support item assignment
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping | None = None, *, _where: str = "mapping"):
        items = {}
        for key, value in (data or {}).items():
            if not isinstance(key, str):
                raise TypeError(f"{_where}: keys must be str, got {key!r}")
            items[key] = _freeze(value, f"{_where}[{key!r}]")
        object.__setattr__(self, "_data", items)
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __hash__(self):
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(json.dumps(
                self.to_dict(), sort_keys=True, separators=(",", ":"))))
        return self._hash

    def __setattr__(self, name, value):
        raise AttributeError("FrozenMapping is read-only")

    def __repr__(self):
        return f"FrozenMapping({self.to_dict()!r})"

    def __reduce__(self):
        return (FrozenMapping, (self.to_dict(),))

    def to_dict(self) -> dict:
        """A plain, mutable, JSON-ready copy (tuples become lists)."""
        return _thaw(self)


@dataclass(frozen=True)
class DriftEvent:
    """One detection, as the loop reports it to reports, logs and alert hooks.

    Parameters
    ----------
    id
        Stable identifier (``evt_`` + 16 hex digits from :func:`new_event`); the same on every
        delivery attempt and, for the same stream and configuration, on every replay.
    level
        ``"global"`` (the stream's prequential error), ``"local"`` (a label cluster, node or
        expert inside a learner) or ``"label_structure"``.
    detector
        The detector's spec, e.g. ``"adwin"`` or ``"kswin:alpha=0.001"``.
    position
        Records seen before the detection fired (0-based index of the record that fired it).
    timestamp
        When the event was made, unix seconds.
    statistic
        The detector's current estimate (for error monitors: the recent loss level); a
        non-finite value is stored as ``None`` so the event stays valid JSON.
    labels
        Labels involved (a tuple of str or int; empty for the global level).
    learner
        The learner or component that raised it (``None`` for the global level).
    source_offset
        Where the record came from, when known, e.g. ``{"topic": "t", "partition": 0,
        "offset": 41}``.
    kind
        ``"drift"``, ``"warning"``, ``"restructure"`` or ``"replacement"``.
    details
        Anything else, JSON values only.

    Notes
    -----
    ``source_offset`` and ``details`` are stored as :class:`FrozenMapping` (read-only,
    hashable, nested lists become tuples) and ``labels`` as a tuple, so the event is truly
    immutable and can be hashed or used as a set member. :meth:`to_dict` returns plain
    dicts and lists. Values are checked when the event is built: a value JSON cannot
    represent raises ``TypeError`` here rather than in a delivery thread later.

    Examples
    --------
    >>> e = DriftEvent(id="evt_1", level="local", detector="ddm", position=10,
    ...                timestamp=0.0, labels=["a", "b"], details={"expert": 3})
    >>> e.labels, e.details["expert"]
    (('a', 'b'), 3)
    >>> e.to_json()
    '{"details":{"expert":3},"detector":"ddm","id":"evt_1","kind":"drift","labels":["a","b"],"learner":null,"level":"local","position":10,"source_offset":null,"statistic":null,"timestamp":0.0}'
    """

    id: str
    level: str
    detector: str
    position: int
    timestamp: float
    statistic: float | None = None
    labels: tuple = ()
    learner: str | None = None
    source_offset: FrozenMapping | None = None
    kind: str = "drift"
    details: FrozenMapping | None = None

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("id must be a non-empty str")
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {self.level!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if not isinstance(self.detector, str):
            raise TypeError("detector must be a str (the detector's spec)")
        if self.learner is not None and not isinstance(self.learner, str):
            raise TypeError("learner must be a str or None")
        if isinstance(self.position, bool) or not isinstance(self.position, numbers.Integral):
            raise TypeError(f"position must be an int, got {self.position!r}")
        set_ = object.__setattr__
        set_(self, "position", int(self.position))
        set_(self, "timestamp", float(self.timestamp))
        stat = self.statistic
        if stat is not None:
            stat = float(stat)
            set_(self, "statistic", stat if math.isfinite(stat) else None)
        labels = self.labels
        if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
            raise TypeError("labels must be a sequence of labels (str or int)")
        frozen = []
        for label in labels:
            if isinstance(label, numbers.Integral) and not isinstance(label, bool):
                frozen.append(int(label))
            elif isinstance(label, str):
                frozen.append(label)
            else:
                raise TypeError(f"labels must be str or int, got {label!r}")
        set_(self, "labels", tuple(frozen))
        for name in ("source_offset", "details"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, FrozenMapping):
                if not isinstance(value, Mapping):
                    raise TypeError(f"{name} must be a mapping or None")
                set_(self, name, FrozenMapping(value, _where=name))

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-ready dict (lists and dicts, no tuples or frozen mappings)."""
        out = {}
        for f in dataclasses.fields(self):
            out[f.name] = _thaw(getattr(self, f.name))
        return out

    def to_json(self) -> str:
        """Compact JSON with sorted keys: the same event always gives the same string."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping) -> DriftEvent:
        """Rebuild an event from :meth:`to_dict` output; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = {"id", "level", "detector", "position", "timestamp"} - set(data)
        if missing:
            raise ValueError(f"not a drift event: missing {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, text: str | bytes) -> DriftEvent:
        """Parse :meth:`to_json` output (str or UTF-8 bytes)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a drift event: expected a JSON object")  # noqa: TRY004
        return cls.from_dict(data)

    def replace(self, **changes) -> DriftEvent:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def event_id(detector: str, level: str, position: int, learner: str | None = None,
             kind: str = "drift", labels=()) -> str:
    """The deterministic id of a detection: ``evt_`` + 16 hex digits of a SHA-256.

    Hashes (detector, level, position, learner, kind, labels). ``kind`` and ``labels`` are
    part of it so that a warning and a drift at the same record, or two label groups
    restructured by one detector at the same record, get different ids.

    Examples
    --------
    >>> event_id("adwin", "global", 100) == event_id("adwin", "global", 100)
    True
    >>> event_id("adwin", "global", 100) == event_id("adwin", "global", 101)
    False
    """
    key = json.dumps([detector, level, int(position), learner, kind,
                      [label if isinstance(label, str) else int(label) for label in labels]],
                     separators=(",", ":"), ensure_ascii=True)
    return "evt_" + hashlib.sha256(key.encode("ascii")).hexdigest()[:16]


def new_event(detector: str, level: str, position: int, *, learner: str | None = None,
              labels=(), kind: str = "drift", statistic: float | None = None,
              timestamp: float | None = None, source_offset: Mapping | None = None,
              details: Mapping | None = None) -> DriftEvent:
    """Make a :class:`DriftEvent` with its deterministic id (see :func:`event_id`).

    ``timestamp`` defaults to ``time.time()``.

    Examples
    --------
    >>> e = new_event("ddm", "local", 5, learner="expert-2", labels=("a",), kind="warning",
    ...               timestamp=1.5, source_offset={"topic": "t", "partition": 0, "offset": 9})
    >>> e.kind, e.learner, e.source_offset["offset"], e.id == event_id(
    ...     "ddm", "local", 5, "expert-2", "warning", ("a",))
    ('warning', 'expert-2', 9, True)
    """
    labels = tuple(labels)
    return DriftEvent(
        id=event_id(detector, level, position, learner, kind, labels),
        level=level, detector=detector, position=position,
        timestamp=time.time() if timestamp is None else timestamp,
        statistic=statistic, labels=labels, learner=learner, source_offset=source_offset,
        kind=kind, details=details,
    )
