"""The worker's compiled message parser (connectors/kafka/message_kernels.py) and the batches
it builds (connectors/kafka/message_batch.py): every message it takes decodes to exactly what
decode_message gives, every batch equals to_batch's, and the record path's figures do not
change with it."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from connectors.kafka import message_batch
from connectors.kafka.codec import decode_message, encode_record, label_names_header
from connectors.kafka.message_batch import ParsedPoll
from connectors.worker.records import RecordPath
from stream.batch import to_batch
from tests.test_worker_records import Sink, config, messages, new_state, stream

DATA = Path(os.environ.get("LABELSTREAM_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data"))


def assert_same_batch(got, want):
    assert list(got.feature_names) == list(want.feature_names)
    assert list(got.label_names) == list(want.label_names)
    assert got.X.shape == want.X.shape
    for part in ("indptr", "indices", "data"):
        a, b = getattr(got.X, part), getattr(want.X, part)
        assert a.dtype == b.dtype and np.array_equal(a, b), part
    assert np.array_equal(np.signbit(got.X.data), np.signbit(want.X.data))  # -0.0 kept
    assert got.Y.dtype == want.Y.dtype and np.array_equal(got.Y, want.Y)
    assert np.array_equal(got.named_at, want.named_at)
    assert got.unknown is None and want.unknown is None


def full(y, declared):
    return {**dict.fromkeys(declared, False), **y} if declared else y


def check_poll(values, declared=(), limits=None):
    """Every message the parser takes equals decode_message's record; batches of all
    and of a sample of the taken rows equal to_batch's. Returns the rows taken."""
    poll = ParsedPoll(values, limits or {})
    decoded = [decode_message(v, **(limits or {})) for v in values]
    rows = [i for i, r in enumerate(poll.records) if r is not None]
    for i in rows:
        r, d = poll.records[i], decoded[i]
        assert (r.id, r.x, r.y) == (d.id, d.x, d.y), values[i]
        assert all(np.signbit(a) == np.signbit(b) for a, b in zip(r.x.values(), d.x.values()))
    if rows:
        rng = random.Random(len(rows))
        for pick in (rows, sorted(rng.sample(rows, max(1, len(rows) // 3)))):
            assert_same_batch(poll.batch(pick, declared),
                              to_batch([(decoded[i].x, full(decoded[i].y, declared))
                                        for i in pick], sparse=True))
    return rows


@pytest.mark.parametrize("name", ["yeast/yeast.arff", "medical/medical.arff"])
def test_dev_streams_parse_to_the_records_and_batches_of_decode_message(name):
    from connectors.sources import SourceSpec, open_source

    records, _ = open_source(SourceSpec(path=str(DATA / name)))
    records = list(records)[:700]
    values = [encode_record(x, y, id=i if i % 3 else f"r{i}") for i, (x, y) in
              enumerate(records)]
    declared = list(getattr(records, "label_names", None) or ["zz", "a"])[:4]
    assert len(check_poll(values)) == len(values)  # all of them taken
    assert len(check_poll(values, declared)) == len(values)


NUMBERS = ["0", "-0", "-0.0", "0.0", "1", "-7", "1.5", "2e3", "-2E-3", "1e22", "1e23",
           "0.30000000000000004", "123456789012345678901234", "9007199254740993",
           "1.7976931348623157e308", "1e400", "-1e-400", "5e-324", "01", "1.", ".5", "+1",
           "1e", "0x10", "NaN", "Infinity", "true", "null", '"1"', "[]", "{}",
           "3.14159265358979323846264338327950288419716939937510"]
NAMES = ["a", "b", "long_name_7", "", "x" * 12, "caf\\u00e9", "é", "tab\\t", " sp ", "0"]
LABELS = ['"sky"', '"sea"', "3", "0", "-1", "007", '""', '"caf\\u00e9"', "true", "1.5",
          '"sky"', "null", '"x"' * 0 + '"y"']


def random_message(rng) -> bytes:
    ws = lambda: rng.choice(["", "", " ", "\n", "\t ", "\r"])  # noqa: E731
    parts = []
    if rng.random() < 0.95:
        names = rng.sample(NAMES, rng.randint(0, 5))
        if rng.random() < 0.05 and names:
            names.append(names[0])  # a name twice
        value = lambda: rng.choice(NUMBERS if rng.random() < 0.3 else NUMBERS[:13])  # noqa: E731
        feats = ",".join(f'{ws()}"{n}"{ws()}:{ws()}{value()}' for n in names)
        parts.append(f'"features":{ws()}{{{feats}{ws()}}}' if rng.random() < 0.95
                     else f'"features":[{rng.choice(NUMBERS[:5])}]')
    r = rng.random()
    if r < 0.85:
        labels = ",".join(rng.choice(LABELS[:4]) if rng.random() < 0.85
                          else rng.choice(LABELS) for _ in range(rng.randint(0, 4)))
        parts.append(f'"labels":{ws()}[{ws()}{labels}{ws()}]')
    elif r < 0.92:
        parts.append('"labels":null')
    if rng.random() < 0.3:
        parts.append('"id":' + rng.choice(['"r1"', "12", '""', "null", "-3", "1.0", '"é"',
                                           "true", '"' + "i" * 300 + '"']))
    if rng.random() < 0.05:
        parts.append(rng.choice(['"unknown":null', '"unknown":["sky"]', '"label":[]',
                                 '"labels":[]']))
    rng.shuffle(parts)
    text = "{" + ws() + ",".join(parts) + ws() + "}" + ws()
    if rng.random() < 0.03:
        text = rng.choice([text[:-2], text + "x", "[" + text + "]", text.replace(":", "", 1)])
    return text.encode("utf-8")


def test_random_messages_taken_are_decoded_exactly_and_the_rest_left_to_decode_message():
    rng = random.Random(11)
    taken = 0
    for _ in range(30):
        values = [random_message(rng) for _ in range(60)] + [None, b"", b"{}", "{}"]
        rows = check_poll(values, declared=rng.choice([(), ("sky",), ("zz", "3")]))
        taken += len(rows)
        for i in rows:
            d = decode_message(values[i])
            assert d.x is not None and d.y is not None  # labelled records only
    assert 150 < taken < 1500  # both kinds are exercised (250 with this seed)


def test_limits_are_those_of_decode_message():
    limits = {"max_features": 2, "max_labels": 2, "max_label_length": 3,
              "max_feature_name_length": 4, "max_id_length": 2, "max_bytes": 60}
    values = [b'{"features":{"a":1,"b":2},"labels":["abc","d"],"id":"r1"}',
              b'{"features":{"a":1,"b":2,"c":3},"labels":[]}',
              b'{"features":{"abcde":1},"labels":[]}',
              b'{"features":{},"labels":["abcd"]}',
              b'{"features":{},"labels":["a","b","c"]}',
              b'{"features":{},"labels":[],"id":"abc"}',
              b'{"features":{"a":1},"labels":[],"id":"r"}' + b" " * 30]
    assert check_poll(values, limits=limits) == [0]
    assert [type(decode_message(v, **limits)).__name__ for v in values[1:]] == \
        ["DeadLetter"] * 6


def test_a_value_that_overflows_in_float_is_left_to_decode_message():
    values = [b'{"features":{"a":1e400},"labels":[]}',
              b'{"features":{"a":' + b"9" * 400 + b'},"labels":[]}',
              b'{"features":{"a":1.5e200},"labels":[]}']
    assert check_poll(values) == [2]
    assert decode_message(values[0]).code == "bad_feature_value"


def run_path(values, headers, *, parsed: bool, monkeypatch, max_labels=10_000):
    if not parsed:  # the parser takes nothing: every message through decode_message
        real = message_batch.ParsedPoll

        class Nothing(real):
            def __init__(self, values, limits):
                super().__init__(values, limits)
                self.records = [None] * len(self.records)

        monkeypatch.setattr("connectors.worker.records.ParsedPoll", Nothing)
    cfg = config(learner="ihomer", checkpoint_every=70, max_labels=max_labels)
    sink, state = Sink(), new_state(cfg)
    path = RecordPath(cfg, outputs=sink, batched=True)
    path.checkpoint_due = lambda: setattr(path, "since_checkpoint", 0)
    for start in range(0, len(values), 50):
        path.handle(messages(values[start:start + 50], start=start, headers=headers),
                    {0: state})
    monkeypatch.undo()
    return (state.evaluator.summary(), sink.produced, sink.messages, dict(path.counts),
            dict(path.dead_letters), list(state.evaluator.labels.keys))


@pytest.mark.parametrize("max_labels", [10_000, 7])
def test_the_record_path_gives_the_same_figures_with_the_parser(monkeypatch, max_labels):
    records = stream(300, seed=9, new_labels_at={100: 3})
    values = [encode_record(x, y, id=f"r{i}" if i % 4 else None)
              for i, (x, y) in enumerate(records)]
    values[17] = b"{oops"
    values[40] = json.dumps({"features": {"caf\u00e9": 1.0}, "labels": ["x1"]}).encode()
    values[41] = json.dumps({"features": {"a\\b": 1.0}, "labels": ["new"]}).encode()
    values[130] = encode_record({"x0": 1.0}, None, id="held")
    values[131] = json.dumps({"id": "held", "labels": ["late"]}).encode()
    headers = {0: [label_names_header(["x0", "x1", "never"])],
               160: [label_names_header(["declared-later"])]}
    fast = run_path(values, headers, parsed=True, monkeypatch=monkeypatch,
                    max_labels=max_labels)
    slow = run_path(values, headers, parsed=False, monkeypatch=monkeypatch,
                    max_labels=max_labels)
    assert fast == slow
    if max_labels < 10:  # the cap refuses records in the parsed lane too
        assert fast[4]["label_cap"] > 0 and fast[3]["records"] > 100
    else:
        assert fast[3]["records"] > 250 and "label_cap" not in fast[4]
