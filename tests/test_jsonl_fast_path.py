"""The JSONL reader's fast path (orjson, features checked at once) reads every line exactly
as the standard parser with per-feature checks does: the same records, the same errors on
the same lines, the same ``--skip-bad`` counts."""

from __future__ import annotations

import json
import random

import pytest

import stream.readers.jsonl as jsonl
from stream.errors import MalformedRecordError
from stream.readers.jsonl import JSONLReader


def _lines(seed: int, n: int = 400) -> list[str]:
    rng = random.Random(seed)
    odd = ['{"features": {"a": NaN}, "labels": []}', '{"features": {"a": Infinity}, "labels": []}',
           '{"features": {"a": 1e400}, "labels": []}', '{"features": {"a": true}, "labels": []}',
           '{"features": {"a": null, "b": 2}, "labels": ["x"]}', '{"features": {}, "labels": []}',
           '{"features": [1, null, 3], "labels": [7, "y"]}', '{"features": {"a": 1, "a": 2}, '
           '"labels": ["z"]}', '{"features": {"a": 123456789012345678901234567890}, "labels": []}',
           '{"features": {"a": 1}, "labels": [1.5]}', '{"features": {"a": 1}, "labels": ["x"], '
           '"unknown": ["q"]}', '{"features": {"a": 1}, "labels": ["x"], "unknown": ["x"]}',
           '{"features": {"a": "1"}, "labels": []}', '{"features": 5, "labels": []}',
           '{"features": {"a": 1}}', '[1, 2]', '{"features": {"a": 1}, "labels": []',
           '{"features": {"\\ud800": 1}, "labels": []}', '{"id": 3.0, "features": {"a": 1}, '
           '"labels": []}', '{"features": {"a": -0.0, "b": 5e-324}, "labels": []}']
    out = []
    for i in range(n):
        if rng.random() < 0.2:
            out.append(rng.choice(odd))
            continue
        feats = {f"f{j}": rng.choice([rng.gauss(0, 1), rng.randint(-5, 5), 0, 1e308, 2.5e-300])
                 for j in range(rng.randint(0, 12))}
        labels = [f"l{j}" for j in range(6) if rng.random() < 0.3]
        rec = {"id": f"r{i}", "features": feats, "labels": labels}
        out.append(json.dumps(rec))
    return out


def _read(path, skip_bad: bool):
    reader = JSONLReader(path, skip_bad=skip_bad)
    try:
        records = [(x, y, reader.last_id) for x, y in reader]
    except MalformedRecordError as err:
        return ("error", str(err))
    return records, reader.n_read, reader.n_bad, reader.bad


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("skip_bad", [True, False])
def test_fast_path_reads_as_the_standard_parser(tmp_path, monkeypatch, seed, skip_bad):
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(_lines(seed)) + "\n")
    fast = _read(path, skip_bad)
    monkeypatch.setattr(jsonl, "_orjson", None)  # the standard parser only
    monkeypatch.setattr(jsonl, "_fast_numbers", lambda features: None)  # per-feature checks
    slow = _read(path, skip_bad)
    assert repr(fast) == repr(slow)  # repr: -0.0 and 0.0 differ, NaN never equals itself
    if skip_bad:
        assert fast[1] > 250  # most lines are records
    else:
        assert fast[0] == "error"  # some odd line stops a strict read, at the same line
