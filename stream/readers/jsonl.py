"""Streaming JSON Lines reader: one record per line.

A record is an object ``{"features": ..., "labels": [...], "id": ...}``:

* ``features``: an object ``{name: number}`` or a list ``[v0, v1, ...]`` (named
  ``"0"``, ``"1"``, ...). A value must be a finite number (``true``/``false`` are not
  numbers; ``NaN``/``Infinity`` are refused); ``null`` is a missing value and is left out
  of ``x``, as is a name absent from the object (absent means missing).
* ``labels``: a list of the positive labels, strings or integers (integers become
  strings); ``y`` is ``{label: True}`` for each.
* ``unknown``: optional, a list of the labels that are *unknown* for this record
  (partial annotation), of the same kind as ``labels``: non-empty strings or integers,
  none named twice and none also among the positives. ``y`` maps each to ``None`` (see
  :mod:`stream.types`); ``null`` is the same as no list.
* ``id``: optional, any JSON value; not part of the record, but kept in
  ``reader.last_id``. Other keys are ignored. Blank lines are skipped.

:func:`decode_record` does the validation for one decoded object, for other sources of
JSON records (a Kafka topic, say).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any, TextIO

from stream.readers._text import StreamReader

try:  # a compiled JSON parser, about 4x faster than the standard one; optional
    import orjson as _orjson
except ImportError:  # pragma: no cover - the standard parser alone gives the same results
    _orjson = None

__all__ = ["InvalidRecord", "JSONLReader", "decode_record", "decode_unknown"]


class InvalidRecord(ValueError):
    """A decoded JSON record that is not a valid ``(x, y)`` record; the message says why."""


def decode_unknown(unknown: Any, positives: dict) -> list[str]:
    """Validate a record's ``"unknown"`` list against its positives; the label names.

    ``positives`` is the record's ``{label: True}`` (labels already made strings). An
    integer label becomes a string, so ``3`` and ``"3"`` are the same label.

    Raises
    ------
    InvalidRecord
        For a value that is not a list (or ``null``: no unknown label), an entry that is
        not a non-empty string or an integer, a label named twice, or one that is also
        positive.

    Examples
    --------
    >>> decode_unknown(["sea", 4], {"sky": True})
    ['sea', '4']
    >>> decode_unknown(None, {})
    []
    >>> decode_unknown(["sky"], {"sky": True})
    Traceback (most recent call last):
    ...
    stream.readers.jsonl.InvalidRecord: label 'sky' is both in 'labels' and in 'unknown'
    """
    if unknown is None:
        return []
    if not isinstance(unknown, list):
        raise InvalidRecord(f"'unknown' must be a list of labels, got {type(unknown).__name__}")
    names: list[str] = []
    seen: set = set()
    for label in unknown:
        if isinstance(label, str):
            if not label:
                raise InvalidRecord("an unknown label is the empty string")
            name = label
        elif isinstance(label, int) and not isinstance(label, bool):
            name = str(label)
        else:
            raise InvalidRecord(f"unknown label {label!r} is not a string or an integer")
        if name in seen:
            raise InvalidRecord(f"label {name!r} is named twice in 'unknown'")
        if name in positives:
            raise InvalidRecord(f"label {name!r} is both in 'labels' and in 'unknown'")
        seen.add(name)
        names.append(name)
    return names


#: Values with this many brackets or more are parsed by the standard parser only.
MAX_FAST_BRACKETS = 100
_NUMBER = frozenset((float, int))
_FLOAT = frozenset((float,))


def fast_loads(raw: bytes | str):
    """``raw`` parsed by orjson, or ``None`` when the standard parser must decide.

    orjson refuses some values the standard parser reads (``NaN``, ``Infinity``, unpaired
    surrogates, numbers out of range): those go to the standard parser, so a record decodes
    (or is refused) exactly as with the standard parser alone. Parsed numbers are equal to
    the standard parser's as floats (both round correctly; tested on random values), but
    orjson reads an integer beyond 64 bits as a float where the standard parser keeps an
    int: harmless for features (made floats either way), not for an ``id`` or a label
    (an integer one becomes a string), so a float there also takes the standard parser.
    orjson also nests deeper (1,024 levels) than the standard parser, whose limit is
    Python's recursion limit: a value with :data:`MAX_FAST_BRACKETS` brackets or more (a
    record has two or three) is left to the standard parser.

    Examples
    --------
    >>> fast_loads('{"features": [1, 2.5], "labels": ["a"]}')["features"]
    [1, 2.5]
    >>> fast_loads('{"features": [NaN], "labels": []}') is None  # the standard parser's
    True
    """
    if _orjson is None:
        return None
    brackets = ("[", "{") if isinstance(raw, str) else (b"[", b"{")
    if raw.count(brackets[0]) + raw.count(brackets[1]) >= MAX_FAST_BRACKETS:
        return None
    try:
        obj = _orjson.loads(raw)
    except _orjson.JSONDecodeError:
        return None
    if type(obj) is dict:
        labels = obj.get("labels")
        unknown = obj.get("unknown")
        if type(obj.get("id")) is float or (type(labels) is list
                                           and float in set(map(type, labels))) or (
                type(unknown) is list and float in set(map(type, unknown))):
            return None
    return obj


def finite_number_types(values) -> set | None:
    """The set of the types of ``values`` when every one is a finite ``int`` or ``float``
    (no boolean, no ``None``), checked at once: their types as a set, and their sum, which
    is finite only when every value is (an overflowing sum of finite values also gives
    ``None``: the per-value checks then decide, and say why).

    Examples
    --------
    >>> sorted(t.__name__ for t in finite_number_types([1, 2.5]))
    ['float', 'int']
    >>> finite_number_types([1.0, float("nan")]) is None, finite_number_types([True]) is None
    (True, True)
    """
    types = set(map(type, values))
    if not types <= _NUMBER:
        return None
    try:
        total = sum(values)
    except OverflowError:  # an integer too large for a float
        return None
    return types if total - total == 0.0 else None


def _fast_numbers(features: dict) -> dict | None:
    """``features`` as ``{name: float}`` when :func:`finite_number_types` vouches for every
    value; else ``None``, and the per-feature checks decide and say why."""
    types = finite_number_types(features.values())
    if types is None:
        return None
    try:
        return features if types == _FLOAT else {k: float(v) for k, v in features.items()}
    except OverflowError:  # an integer too large for a float: said by the slow path
        return None


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRecord(f"feature {name!r}: {value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidRecord(f"feature {name!r}: {value!r} is too large for a float") from None
    if not math.isfinite(number):
        raise InvalidRecord(
            f"feature {name!r}: {value!r} is not a finite number (NaN and inf are refused)"
        )
    return number


def decode_record(obj: Any) -> tuple[dict[str, float], dict[str, bool], Any]:
    """Validate one decoded JSON record into ``(x, y, id)``.

    Raises
    ------
    InvalidRecord
        A ``ValueError`` whose message is a reason a user can act on.

    Examples
    --------
    >>> decode_record({"features": {"a": 1, "b": 0.5}, "labels": ["sky", 3], "id": 7})
    ({'a': 1.0, 'b': 0.5}, {'sky': True, '3': True}, 7)
    >>> decode_record({"features": [1, None, 2], "labels": []})
    ({'0': 1.0, '2': 2.0}, {}, None)
    >>> decode_record({"features": {"a": True}, "labels": []})
    Traceback (most recent call last):
    ...
    stream.readers.jsonl.InvalidRecord: feature 'a': True is not a number

    Unknown labels map to ``None``:

    >>> decode_record({"features": {"a": 1}, "labels": ["sky"], "unknown": ["sea"]})
    ({'a': 1.0}, {'sky': True, 'sea': None}, None)
    """
    if not isinstance(obj, dict):
        raise InvalidRecord(f"a record must be a JSON object, got {type(obj).__name__}")
    if "features" not in obj:
        raise InvalidRecord("the record has no 'features'")
    if "labels" not in obj:
        raise InvalidRecord("the record has no 'labels' (write [] for a record with no label)")
    features, labels = obj["features"], obj["labels"]
    x: dict[str, float] = {}
    fast = _fast_numbers(features) if type(features) is dict and features else None
    if fast is not None:
        x = fast
    elif isinstance(features, dict):
        for name, value in features.items():
            if value is not None:
                x[name] = _number(name, value)
    elif isinstance(features, list):
        for i, value in enumerate(features):
            if value is not None:
                name = str(i)
                x[name] = _number(name, value)
    else:
        raise InvalidRecord(
            f"'features' must be an object or a list, got {type(features).__name__}"
        )
    if not isinstance(labels, list):
        raise InvalidRecord(f"'labels' must be a list, got {type(labels).__name__}")
    y: dict[str, bool] = {}
    for label in labels:
        if isinstance(label, str):
            y[label] = True
        elif isinstance(label, int) and not isinstance(label, bool):
            y[str(label)] = True
        else:
            raise InvalidRecord(f"label {label!r} is not a string or an integer")
    unknown = obj.get("unknown")
    if unknown is not None:
        for name in decode_unknown(unknown, y):
            y[name] = None
    return x, y, obj.get("id")


class JSONLReader(StreamReader):
    """Read a JSON Lines file of ``{"features": ..., "labels": [...]}`` records.

    Parameters
    ----------
    path
        The file, possibly gzipped.
    skip_bad
        Skip malformed records (counted, kept, logged) instead of raising
        :class:`~stream.errors.MalformedRecordError`.

    Attributes
    ----------
    last_id
        The ``"id"`` of the record last yielded (``None`` when it had none).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"id": "r1", "features": {"a": 1.5}, "labels": ["sky"]}\\n'
    ...                 '{"features": [0, 2], "labels": [4, "sea"]}\\n'
    ...                 '{"features": [1], "labels": [], "unknown": ["sky"]}\\n')
    >>> reader = JSONLReader(path)
    >>> for x, y in reader:
    ...     print(x, y, reader.last_id)
    {'a': 1.5} {'sky': True} r1
    {'0': 0.0, '1': 2.0} {'4': True, 'sea': True} None
    {'0': 1.0} {'sky': None} None
    """

    format = "jsonl"

    def __init__(self, path: str | os.PathLike, *, skip_bad: bool = False):
        super().__init__(path, skip_bad=skip_bad)
        self.last_id: Any = None

    def _reset(self) -> None:
        super()._reset()
        self.last_id = None

    def _records(self, f: TextIO) -> Iterator[tuple[dict, dict]]:
        loads = json.loads
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                obj = fast_loads(line)
                x, y, record_id = decode_record(loads(line) if obj is None else obj)
            except json.JSONDecodeError as err:
                self._reject(lineno, f"not valid JSON: {err.msg} (column {err.colno})")
                continue
            except (ValueError, RecursionError) as err:
                self._reject(lineno, str(err))
                continue
            self.n_read += 1
            self.line = lineno
            self.last_id = record_id
            yield x, y
