"""The Kafka message format: JSON records in, predictions and dead letters out.

A message value is one UTF-8 JSON object, in one of three shapes:

* a record: ``{"id": ..., "features": {name: value} | [v0, v1, ...], "labels": [...]}``
  -- predicted, scored and learned;
* an unlabelled record: the same with ``"labels": null`` -- predicted only;
* a label delivery: ``{"id": ..., "labels": [...]}`` (no ``features``) -- the labels of
  the unlabelled record with that ``id``, arriving later (label delay).

A record or a label delivery may add ``"unknown": [...]``: the labels that are unknown
for it (partial annotation), mapped to ``None`` in ``y`` (see :mod:`stream.types`). They
follow the rules of ``labels`` (non-empty strings or integers, at most
``max_label_length`` characters, at most ``max_labels`` of them), none may be named twice
(``duplicate_unknown``) and none may also be positive (``unknown_overlaps_labels``). An
unlabelled record (``"labels": null``) takes no ``unknown`` list: every label is unknown
there already.

Values are validated by :func:`stream.readers.jsonl.decode_record` (the JSONL reader's
rules: a feature value is a finite number, ``true``/``false`` are not numbers, ``NaN`` and
``Infinity`` are refused, ``null`` is a missing value; a list of features is named
``"0"``, ``"1"``, ...; labels are strings or integers, integers become strings), plus the
rules a network source needs:

* ``id`` is a string or an integer (integers become strings), at most ``max_id_length``
  characters; optional on records, required on label deliveries;
* the top-level keys are ``id``, ``features``, ``labels`` and ``unknown`` only: any other
  key is a
  dead letter (``unknown_field``), so that a typo (``"label"``) is caught rather than
  read as an unlabelled record;
* ``labels`` is required on records (``null`` for an unlabelled one);
* sizes are bounded: the value's bytes, the features, the labels per record, the
  length of a label, a feature name and an id.

A key repeated in one JSON object keeps its last value (Python's ``json``).

:func:`decode_message` never raises on bad input: it returns a :class:`DecodedRecord`
or a :class:`DeadLetter` with a stable machine-readable ``code`` (one of
:data:`REASONS`) and a message naming the field.

Examples
--------
>>> decode_message(b'{"id": "r1", "features": {"a": 1.5}, "labels": ["sky"]}')
DecodedRecord(id='r1', x={'a': 1.5}, y={'sky': True})
>>> decode_message(b'{"id": "r1", "labels": ["sky", 3]}').is_label_delivery
True
>>> decode_message(b'{"id": 1, "features": [1, NaN], "labels": null}')
DeadLetter(code='bad_feature_value', text="feature '1': nan is not a finite number ...")
>>> decode_message(b'{"id": 1, "features": [1], "label": ["a"]}').code
'unknown_field'
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from stream.readers.jsonl import InvalidRecord, decode_record
from stream.readers.jsonl import fast_loads as _fast_loads
from stream.readers.jsonl import finite_number_types
from stream.writers import record_to_dict, record_to_json

try:  # a compiled JSON parser, about 4x faster than the standard one; optional
    import orjson as _orjson
except ImportError:  # pragma: no cover - the standard parser alone gives the same results
    _orjson = None

__all__ = [
    "DEAD_LETTER_HEADERS",
    "LABEL_NAMES_HEADER",
    "REASONS",
    "DeadLetter",
    "DecodedRecord",
    "SourcePosition",
    "dead_letter_headers",
    "decode_message",
    "encode_label_delivery",
    "encode_prediction",
    "encode_record",
    "label_names_header",
    "read_label_names",
]

#: Every reason a message can be refused for: ``code -> what it means``. The codes are
#: stable (dashboards and alerting key on them); the human text varies.
REASONS = {
    "empty": "the message has no value (a tombstone) or an empty one",
    "too_large": "the value is larger than max_bytes",
    "invalid_encoding": "the value is not UTF-8 text",
    "invalid_json": "the value is not valid JSON",
    "too_deep": "the JSON nests too deeply to parse",
    "not_an_object": "the JSON value is not an object",
    "unknown_field": "the object has a key other than id, features, labels and unknown",
    "missing_field": "a required key is missing (features or labels, or id on a delivery)",
    "bad_id": "id is not a string or an integer, or is too long",
    "bad_features": "features is not an object or a list",
    "too_many_features": "more features than max_features",
    "bad_feature_name": "a feature name is empty or too long",
    "bad_feature_value": "a feature value is not a finite number",
    "bad_labels": "labels is not a list, or a label is not a non-empty string or integer",
    "too_many_labels": "more labels in one record than max_labels",
    "bad_label": "a label is longer than max_label_length",
    "bad_string": "a string holds an unpaired UTF-16 surrogate (not encodable as UTF-8)",
    "bad_unknown": "unknown is not a list, an entry is not a non-empty string or integer, "
                   "or it is given on an unlabelled record (labels null)",
    "too_many_unknown": "more unknown labels in one record than max_labels",
    "bad_unknown_label": "an unknown label is longer than max_label_length",
    "duplicate_unknown": "a label is named twice in unknown",
    "unknown_overlaps_labels": "a label is both in labels (positive) and in unknown",
    # set by the consumers of decoded messages, not by decode_message:
    "unknown_id": "a label delivery for an id that was never seen (or no longer held)",
    "expired_id": "labels for a held record that expired or was evicted before they came",
    "not_labels": "a message with features (or without an id) on the labels topic",
    "label_cap": "a new label beyond the configured cap on distinct labels",
    "undecodable": "an unexpected failure while decoding (a bug: please report it)",
}

#: Header names of a dead letter (see :func:`dead_letter_headers`).
DEAD_LETTER_HEADERS = ("dlq.reason", "dlq.reason.text", "dlq.source.topic",
                       "dlq.source.partition", "dlq.source.offset")

#: Header that declares a stream's labels (a JSON list of names), the way an ARFF file's
#: header does: ``labelstream produce`` puts it on the first message it sends to each
#: partition, and a replay reads it from the first message of each partition, so that
#: labels never seen positive still count (Hamming loss) from the first record.
LABEL_NAMES_HEADER = "labelstream.label-names"

_KNOWN_KEYS = frozenset(("id", "features", "labels", "unknown"))
_SURROGATE = re.compile(rb"\\u[dD][89abAB]|\\u[dD][c-fC-F]")
_FLOAT = frozenset((float,))
_STR = frozenset((str,))
_names: list[str] = []  # "0", "1", ...: the names of list features (_list_names)
_TEXT_LIMIT = 500


@dataclass(frozen=True)
class DecodedRecord:
    """A valid message.

    Attributes
    ----------
    id
        The record's id as a string, or ``None`` when it has none.
    x
        Features ``{name: float}``, or ``None`` for a label delivery.
    y
        Positive labels ``{label: True}`` and unknown ones ``{label: None}``, or ``None``
        for an unlabelled record.
    """

    id: str | None
    x: dict | None
    y: dict | None

    @property
    def is_label_delivery(self) -> bool:
        """Labels for an earlier unlabelled record (no features)."""
        return self.x is None

    @property
    def is_labelled(self) -> bool:
        """A record with both features and labels (test-then-train at once)."""
        return self.x is not None and self.y is not None


@dataclass(frozen=True)
class DeadLetter:
    """A refused message: ``code`` is one of :data:`REASONS`, ``text`` names the field."""

    code: str
    text: str


class SourcePosition(NamedTuple):
    """Where a message came from."""

    topic: str
    partition: int
    offset: int


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _has_lone_surrogate(obj: Any) -> bool:
    """Whether any string in ``obj`` (keys included) cannot be encoded as UTF-8."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def decode_message(value: bytes | bytearray | memoryview | str | None, *,
                   max_bytes: int = 1_000_000, max_features: int = 100_000,
                   max_labels: int = 10_000, max_label_length: int = 1_000,
                   max_feature_name_length: int = 1_000,
                   max_id_length: int = 256) -> DecodedRecord | DeadLetter:
    """Decode and validate one message value; never raises on bad input.

    Parameters
    ----------
    value
        The message value (``None`` for a tombstone).
    max_bytes
        Largest value accepted, in bytes.
    max_features, max_labels
        Most features in a record, most labels in one record.
    max_label_length, max_feature_name_length, max_id_length
        Longest label, feature name and id, in characters.

    Returns
    -------
    DecodedRecord or DeadLetter

    Examples
    --------
    >>> decode_message(b'{"features": [0.5, null, 2], "labels": []}')
    DecodedRecord(id=None, x={'0': 0.5, '2': 2.0}, y={})
    >>> decode_message(b'{"id": "r1", "features": {"a": 1}, "labels": null}').y is None
    True
    >>> decode_message(b'{"id": "r1", "features": {"a": "1"}, "labels": []}').code
    'bad_feature_value'
    >>> decode_message(b'[1, 2]')
    DeadLetter(code='not_an_object', text='a record must be a JSON object, got list')
    """
    try:
        return _decode(value, max_bytes, max_features, max_labels, max_label_length,
                       max_feature_name_length, max_id_length)
    except Exception as exc:  # the contract: classify, never raise
        return DeadLetter("undecodable", f"{type(exc).__name__}: {exc}"[:_TEXT_LIMIT])


def _decode(value, max_bytes, max_features, max_labels, max_label_length,
            max_feature_name_length, max_id_length):
    if value is None:
        return DeadLetter("empty", "the message has no value (a tombstone)")
    if isinstance(value, str):
        try:
            value = value.encode("utf-8")
        except UnicodeEncodeError:
            return DeadLetter("bad_string", "the value holds an unpaired UTF-16 surrogate")
    if len(value) > max_bytes:
        return DeadLetter("too_large",
                          f"the value is {len(value):,} bytes; at most {max_bytes:,} are read")
    raw = bytes(value)
    obj = _fast_loads(raw)
    if obj is None:
        obj = _loads(raw)
        if isinstance(obj, DeadLetter):
            return obj
    if not isinstance(obj, dict):
        return DeadLetter("not_an_object",
                          f"a record must be a JSON object, got {type(obj).__name__}")
    if not obj.keys() <= _KNOWN_KEYS:
        extra = sorted(k for k in obj if k not in _KNOWN_KEYS)
        names = ", ".join(_short(k) for k in extra[:5])
        return DeadLetter("unknown_field", f"unknown key(s) {names}; a record has only id, "
                                           "features, labels and unknown")
    if _SURROGATE.search(raw) and _has_lone_surrogate(obj):
        return DeadLetter("bad_string", "a string holds an unpaired UTF-16 surrogate "
                                        "(not encodable as UTF-8)")

    record_id = obj.get("id")
    if record_id is not None:
        if isinstance(record_id, bool) or not isinstance(record_id, (str, int)):
            return DeadLetter("bad_id", f"'id' must be a string or an integer, got "
                                        f"{type(record_id).__name__}")
        if isinstance(record_id, int):
            record_id = str(record_id)
        if len(record_id) > max_id_length:
            return DeadLetter("bad_id", f"'id' is {len(record_id):,} characters; at most "
                                        f"{max_id_length} are allowed")
        if not record_id:
            return DeadLetter("bad_id", "'id' is empty")

    if "labels" not in obj:
        if "features" in obj:
            return DeadLetter("missing_field", "the record has no 'labels' (write null for an "
                                               "unlabelled record, [] for no label)")
        return DeadLetter("missing_field", "the message has neither 'features' nor 'labels'")
    labels = obj["labels"]
    y = None
    if labels is not None:
        y = _fast_labels(labels, max_labels, max_label_length)
        if y is None:
            dead = _check_labels(labels, max_labels, max_label_length)
            if dead is not None:
                return dead
    unknown = obj.get("unknown")
    if unknown is not None:
        if labels is None:
            return DeadLetter("bad_unknown", "'unknown' on an unlabelled record (labels "
                                             "null): every label is unknown there already")
        dead = _check_unknown(unknown, labels, max_labels, max_label_length)
        if dead is not None:
            return dead

    if "features" not in obj:
        if labels is None:
            return DeadLetter("missing_field", "a message without 'features' is a label "
                                               "delivery and needs a list of 'labels'")
        if record_id is None:
            return DeadLetter("missing_field", "a label delivery (no 'features') needs the "
                                               "'id' of the record it labels")
        _, y, _ = decode_record({"features": {}, "labels": labels, "unknown": unknown})
        return DecodedRecord(record_id, None, y)

    features = obj["features"]
    if isinstance(features, (dict, list)) and len(features) <= max_features:
        x = _fast_features(features, max_feature_name_length)
        if x is not None and (y is not None or labels is None):
            if unknown:
                y = dict(y)
                y.update(dict.fromkeys(_unknown_names(unknown), None))
            return DecodedRecord(record_id, x, y)
    if isinstance(features, dict):
        if len(features) > max_features:
            return DeadLetter("too_many_features", f"{len(features):,} features; at most "
                                                   f"{max_features:,} are allowed")
        for name in features:
            if not name or len(name) > max_feature_name_length:
                what = "empty" if not name else f"{len(name):,} characters long"
                return DeadLetter("bad_feature_name",
                                  f"feature name {_short(name)} is {what} (1 to "
                                  f"{max_feature_name_length} characters)")
    elif isinstance(features, list):
        if len(features) > max_features:
            return DeadLetter("too_many_features", f"{len(features):,} features; at most "
                                                   f"{max_features:,} are allowed")
    else:
        return DeadLetter("bad_features", f"'features' must be an object or a list, got "
                                          f"{type(features).__name__}")
    try:
        x, y, _ = decode_record({"features": features,
                                 "labels": [] if labels is None else labels,
                                 "unknown": unknown})
    except InvalidRecord as err:
        return DeadLetter("bad_feature_value", str(err)[:_TEXT_LIMIT])
    return DecodedRecord(record_id, x, None if labels is None else y)


def _list_names(n: int) -> list[str]:
    """``["0", "1", ...]``, at least ``n`` of them (grown by replacement, never mutated:
    safe to share between threads)."""
    global _names
    names = _names
    if len(names) < n:
        names = _names = [str(i) for i in range(max(n, 2 * len(names)))]
    return names


def _loads(raw: bytes):
    """``raw`` parsed by the standard parser, or the :class:`DeadLetter` saying why not."""
    if not raw.strip():
        return DeadLetter("empty", "the message value is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return DeadLetter("invalid_encoding",
                          f"the value is not UTF-8 text (byte {err.start}: {err.reason})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        return DeadLetter("invalid_json",
                          f"not valid JSON: {err.msg} (line {err.lineno} column {err.colno})")
    except RecursionError:
        return DeadLetter("too_deep", "the JSON nests too deeply to parse")
    except ValueError as err:  # e.g. an integer literal of more than 4300 digits
        return DeadLetter("invalid_json", f"not valid JSON: {err}"[:_TEXT_LIMIT])


def _fast_labels(labels, max_labels, max_label_length) -> dict | None:
    """``{label: True}`` when ``labels`` is a valid list of strings (the common case), else
    ``None`` (then :func:`_check_labels` and :func:`decode_record` decide, and say why)."""
    if (type(labels) is not list or len(labels) > max_labels
            or (labels and (set(map(type, labels)) != _STR
                            or min(map(len, labels)) == 0
                            or max(map(len, labels)) > max_label_length))):
        return None
    return dict.fromkeys(labels, True)


def _fast_features(features, max_name_length) -> dict | None:
    """The features ``{name: float}`` when every value is a finite number (no ``null``,
    no boolean) and every name has an allowed length, as :func:`decode_record` would
    return them; else ``None`` (then the record-by-record checks decide, and say why).

    The values are checked all at once: their types as a set, and their sum, which is
    finite only when every value is (an overflowing sum of finite values is sent to the
    slow path, which accepts it).
    """
    values = features.values() if type(features) is dict else features
    if not values:
        return {}
    types = finite_number_types(values)
    if types is None:
        return None
    try:
        if type(features) is dict:
            lengths = set(map(len, features))
            if min(lengths) == 0 or max(lengths) > max_name_length:
                return None
            return features if types == _FLOAT else {k: float(v) for k, v in
                                                     features.items()}
        if types != _FLOAT:
            features = [float(v) for v in features]
        return dict(zip(_list_names(len(features)), features))
    except OverflowError:  # an integer too large for a float: said by the slow path
        return None


def _check_labels(labels, max_labels, max_label_length):
    if not isinstance(labels, list):
        return DeadLetter("bad_labels", f"'labels' must be a list or null, got "
                                        f"{type(labels).__name__}")
    if len(labels) > max_labels:
        return DeadLetter("too_many_labels", f"{len(labels):,} labels in one record; at most "
                                             f"{max_labels:,} are allowed")
    for label in labels:
        if isinstance(label, str):
            if not label:
                return DeadLetter("bad_labels", "a label is the empty string")
            if len(label) > max_label_length:
                return DeadLetter("bad_label", f"label {_short(label)} is {len(label):,} "
                                               f"characters; at most {max_label_length}")
        elif isinstance(label, int) and not isinstance(label, bool):
            if len(str(label)) > max_label_length:
                return DeadLetter("bad_label", f"integer label is longer than "
                                               f"{max_label_length} digits")
        else:
            return DeadLetter("bad_labels", f"label {_short(label)} is not a string or an "
                                            "integer")
    return None


def _unknown_names(unknown) -> list[str]:
    """The names of a checked ``unknown`` list (integers become strings)."""
    return [u if type(u) is str else str(u) for u in unknown]


def _check_unknown(unknown, labels, max_labels, max_label_length):
    """The dead letter of a bad ``unknown`` list (``labels`` already checked), or None."""
    if not isinstance(unknown, list):
        return DeadLetter("bad_unknown", f"'unknown' must be a list or null, got "
                                         f"{type(unknown).__name__}")
    if len(unknown) > max_labels:
        return DeadLetter("too_many_unknown", f"{len(unknown):,} unknown labels in one "
                                              f"record; at most {max_labels:,} are allowed")
    seen: set = set()
    for label in unknown:
        if isinstance(label, str):
            if not label:
                return DeadLetter("bad_unknown", "an unknown label is the empty string")
            name = label
        elif isinstance(label, int) and not isinstance(label, bool):
            if len(str(label)) > max_label_length:
                return DeadLetter("bad_unknown_label", f"integer unknown label is longer "
                                                       f"than {max_label_length} digits")
            name = str(label)
        else:
            return DeadLetter("bad_unknown", f"unknown label {_short(label)} is not a string "
                                             "or an integer")
        if len(name) > max_label_length:
            return DeadLetter("bad_unknown_label", f"unknown label {_short(name)} is "
                                                   f"{len(name):,} characters; at most "
                                                   f"{max_label_length}")
        if name in seen:
            return DeadLetter("duplicate_unknown", f"label {_short(name)} is named twice in "
                                                   "'unknown'")
        seen.add(name)
    positives = {u if type(u) is str else str(u) for u in labels}
    both = [name for name in seen if name in positives]
    if both:
        return DeadLetter("unknown_overlaps_labels",
                          f"label {_short(min(both))} is both in 'labels' and in 'unknown'")
    return None


# -- encoding ----------------------------------------------------------------------------
def encode_record(x: dict, y: dict | None, id=None) -> bytes:
    """The message value of a record; ``y=None`` makes an unlabelled record.

    Examples
    --------
    >>> encode_record({"a": 1.5}, {"sky": True, "sea": False}, id="r1")
    b'{"id":"r1","features":{"a":1.5},"labels":["sky"]}'
    >>> decode_message(encode_record({"a": 1.5}, None, id="r1"))
    DecodedRecord(id='r1', x={'a': 1.5}, y=None)

    A label mapped to ``None`` is written in ``"unknown"``:

    >>> encode_record({"a": 1.5}, {"sky": True, "sea": None}, id="r1")
    b'{"id":"r1","features":{"a":1.5},"labels":["sky"],"unknown":["sea"]}'
    """
    if y is not None and None in y.values():
        doc = record_to_dict(x, y, id)
        doc["unknown"] = [label for label, on in y.items() if on is None]
        return json.dumps(doc, separators=(",", ":")).encode("utf-8")
    return record_to_json(x, y, id).encode("utf-8")


def encode_label_delivery(id, y: dict) -> bytes:
    """The message value that delivers the labels of the record ``id``.

    Examples
    --------
    >>> encode_label_delivery("r1", {"sky": True, "sea": False})
    b'{"id":"r1","labels":["sky"]}'
    >>> encode_label_delivery("r1", {"sky": True, "sea": None})
    b'{"id":"r1","labels":["sky"],"unknown":["sea"]}'
    """
    if id is None:
        raise ValueError("a label delivery needs the record's id")
    labels = [label for label, on in y.items() if on]
    doc = {"id": id, "labels": labels}
    if None in y.values():
        doc["unknown"] = [label for label, on in y.items() if on is None]
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def encode_prediction(id, source, labels, scores: dict | None = None, *, learner: str = "",
                      records_learned: int = 0, query: bool = False,
                      shard: dict | None = None) -> bytes:
    """The value of a prediction message.

    ``{"id", "source": {"topic", "partition", "offset"}, "labels": [...],
    "scores": {label: p}, "model": {"learner", "records_learned"}}``. ``labels`` is the
    predicted label set (a dict ``{label: bool}`` or an iterable of positives); a score
    that is not a finite number is written as ``null``. ``query=True`` adds
    ``"query": true``: the worker's label budget asks for this record's labels.
    ``shard`` (a label shard's partial prediction) is written as ``"shard"``.

    Examples
    --------
    >>> encode_prediction("r1", SourcePosition("in", 0, 41), {"sky": True, "sea": False},
    ...                   {"sky": 0.9, "sea": float("nan")}, learner="br", records_learned=40)
    b'{"id":"r1","source":{"topic":"in","partition":0,"offset":41},"labels":["sky"],\
"scores":{"sky":0.9,"sea":null},"model":{"learner":"br","records_learned":40}}'
    """
    if isinstance(labels, dict):
        positives = [label for label, on in labels.items() if on]
    else:
        positives = list(labels)
    scores = scores or {}
    fast = (_orjson is not None and set(map(type, scores.values())) <= _FLOAT
            and set(map(type, scores)) <= _STR)
    if fast:  # orjson writes a float that is not finite as null
        clean = scores
    else:
        clean = {}
        for label, p in scores.items():
            p = float(p)
            clean[str(label)] = p if math.isfinite(p) else None
    doc = {"id": id,
           "source": {"topic": source.topic, "partition": int(source.partition),
                      "offset": int(source.offset)},
           "labels": positives, "scores": clean,
           "model": {"learner": learner, "records_learned": int(records_learned)}}
    if query:
        doc["query"] = True
    if shard is not None:  # a label shard's partial prediction (connectors.worker.label_shard)
        doc["shard"] = shard
    if fast:
        try:
            return _orjson.dumps(doc)
        except TypeError:  # an id or a label of a type orjson does not write
            pass
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def dead_letter_headers(dead: DeadLetter, source) -> list[tuple[str, bytes]]:
    """Kafka headers of a dead letter: reason code and text, source topic/partition/offset.

    ``source`` is a :class:`SourcePosition` or anything with ``topic``, ``partition`` and
    ``offset`` (a ``ConsumerRecord``, say). The dead letter's value is the original
    message value, unchanged.

    Examples
    --------
    >>> for name, value in dead_letter_headers(DeadLetter("invalid_json", "not valid JSON"),
    ...                                        SourcePosition("in", 2, 17)):
    ...     print(name, value)
    dlq.reason b'invalid_json'
    dlq.reason.text b'not valid JSON'
    dlq.source.topic b'in'
    dlq.source.partition b'2'
    dlq.source.offset b'17'
    """
    values = (dead.code, dead.text[:_TEXT_LIMIT], source.topic, str(int(source.partition)),
              str(int(source.offset)))
    return [(name, value.encode("utf-8", "replace"))
            for name, value in zip(DEAD_LETTER_HEADERS, values)]


def label_names_header(names) -> tuple[str, bytes]:
    """The header declaring the stream's labels ``names`` (see :data:`LABEL_NAMES_HEADER`).

    Examples
    --------
    >>> label_names_header(["sky", "sea"])
    ('labelstream.label-names', b'["sky","sea"]')
    """
    return LABEL_NAMES_HEADER, json.dumps([str(n) for n in names],
                                          separators=(",", ":")).encode("utf-8")


def read_label_names(headers, *, max_labels: int = 100_000) -> list[str] | None:
    """The labels declared in a message's headers, or ``None`` (absent or malformed).

    Examples
    --------
    >>> read_label_names([label_names_header(["sky", "sea"]), ("other", b"x")])
    ['sky', 'sea']
    >>> read_label_names([("labelstream.label-names", b"not json")]) is None
    True
    """
    for name, value in headers or ():
        if name != LABEL_NAMES_HEADER or value is None:
            continue
        try:
            names = json.loads(bytes(value).decode("utf-8"))
        except (ValueError, RecursionError):
            return None
        if (isinstance(names, list) and len(names) <= max_labels
                and all(isinstance(n, str) and n for n in names)):
            return names
        return None
    return None
