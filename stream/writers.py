"""Write records in labelstream's JSON record format (one object per line).

The format is the one the JSONL reader and the Kafka worker read:
``{"id": ..., "features": {name: value}, "labels": [label, ...]}``; ``labels`` lists the
positive labels only (an absent label is negative).
"""

from __future__ import annotations

import json
import math
from typing import Iterable

__all__ = ["record_to_dict", "record_to_json", "write_jsonl"]


def record_to_dict(x: dict, y: dict | None, id=None) -> dict:
    """The JSON-ready dict of one record; ``y=None`` writes ``"labels": null`` (unlabelled).

    Examples
    --------
    >>> record_to_dict({"a": 1.5}, {"sky": True, "sea": False}, id="r1")
    {'id': 'r1', 'features': {'a': 1.5}, 'labels': ['sky']}
    """
    for name, value in x.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(
                value):
            raise ValueError(f"feature {name!r}: {value!r} is not a finite number")
    out = {} if id is None else {"id": id}
    out["features"] = dict(x)
    out["labels"] = None if y is None else [label for label, on in y.items() if on]
    return out


def record_to_json(x: dict, y: dict | None, id=None) -> str:
    """One record as a compact JSON line (no newline)."""
    return json.dumps(record_to_dict(x, y, id), separators=(",", ":"))


def write_jsonl(records: Iterable, path, ids: bool = True) -> int:
    """Write ``(x, y)`` records to ``path``, one JSON object per line; returns the count.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     n = write_jsonl([({"a": 1.0}, {"u": True})], os.path.join(d, "s.jsonl"))
    ...     open(os.path.join(d, "s.jsonl")).read()
    '{"id":"0","features":{"a":1.0},"labels":["u"]}\\n'
    """
    n = 0
    with open(path, "w") as fh:
        for x, y in records:
            fh.write(record_to_json(x, y, str(n) if ids else None))
            fh.write("\n")
            n += 1
    return n
