"""The Kafka message codec: every malformed value is a dead letter with a reason, never a crash;
every valid value decodes to the expected record."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import pytest
from conftest import FUZZ_LIMITS

from connectors.kafka.codec import (
    DEAD_LETTER_HEADERS,
    REASONS,
    DeadLetter,
    DecodedRecord,
    SourcePosition,
    dead_letter_headers,
    decode_message,
    encode_label_delivery,
    encode_prediction,
    encode_record,
    label_names_header,
    read_label_names,
)


def test_fuzz_corpus_every_malformed_message_is_a_dead_letter_with_its_reason(fuzz_corpus):
    assert len(fuzz_corpus) >= 1000
    codes = Counter()
    for value, expected, kind in fuzz_corpus:
        out = decode_message(value, **FUZZ_LIMITS)
        assert isinstance(out, DeadLetter), (kind, value[:200] if value else value, out)
        assert out.code in expected, (kind, value[:200] if value else value, out)
        assert out.code in REASONS and out.code != "undecodable"
        assert out.text and len(out.text) <= 500
        codes[out.code] += 1
    # the corpus reaches every reason decode_message gives
    assert set(codes) == set(REASONS) - {"unknown_id", "label_cap", "undecodable"}, codes


def test_fuzz_corpus_at_default_limits_never_raises(fuzz_corpus):
    for value, _, kind in fuzz_corpus:
        out = decode_message(value)
        assert isinstance(out, (DeadLetter, DecodedRecord)), kind
        if isinstance(out, DeadLetter):
            assert out.code in REASONS and out.code != "undecodable", (kind, out)


def test_random_mutations_of_valid_messages_never_raise():
    rng = random.Random(11)
    base = encode_record({"a": 1.5, "b": -2.0, "c": 0.0}, {"sky": True, "sea": False}, id="r1")
    for _ in range(2000):
        value = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(3)
            i = rng.randrange(len(value))
            if op == 0:
                value[i] = rng.randrange(256)
            elif op == 1:
                del value[i]
            else:
                value.insert(i, rng.randrange(256))
        out = decode_message(bytes(value))
        assert isinstance(out, (DeadLetter, DecodedRecord))
        if isinstance(out, DeadLetter):
            assert out.code in REASONS and out.code != "undecodable", (bytes(value), out)


def _valid_corpus(n=600, seed=3):
    """``[(value, expected DecodedRecord)]``, shapes and spellings varied."""
    rng = random.Random(seed)
    names = ["a", "b", "feat 1", "ü-name", "x" * 30, "0", "é"]
    labels = ["sky", "sea", "label with space", "日本", "7"]
    out = []
    for i in range(n):
        shape = i % 4
        rid = rng.choice([f"r{i}", i, None]) if shape != 3 else rng.choice([f"r{i}", i])
        x = {}
        if rng.random() < 0.5:
            feats = {}
            for name in rng.sample(names, rng.randint(0, len(names))):
                v = rng.choice([rng.uniform(-1e6, 1e6), rng.randint(-10**6, 10**6), None,
                                0, 1e-300, -1e300])
                feats[name] = v
                if v is not None:
                    x[name] = float(v)
        else:
            feats = [rng.choice([rng.uniform(-5, 5), None, 3]) for _ in range(rng.randint(0, 9))]
            x = {str(j): float(v) for j, v in enumerate(feats) if v is not None}
        ys = rng.sample(labels, rng.randint(0, 3)) + rng.sample([1, 22, 333], rng.randint(0, 1))
        y = {str(label): True for label in ys}
        expect_id = None if rid is None else str(rid)
        if shape == 0:
            doc = {"id": rid, "features": feats, "labels": ys}
            expected = DecodedRecord(expect_id, x, y)
        elif shape == 1:
            doc = {"features": feats, "labels": ys}
            expected = DecodedRecord(None, x, y)
        elif shape == 2:
            doc = {"id": rid, "features": feats, "labels": None}
            expected = DecodedRecord(expect_id, x, None)
        else:
            doc = {"id": rid, "labels": ys}
            expected = DecodedRecord(expect_id, None, y)
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.5,
                          indent=rng.choice([None, 2]))
        if rng.random() < 0.2:
            text = "  " + text + "\n"
        out.append((text.encode("utf-8"), expected))
    return out


def test_valid_corpus_decodes_to_the_expected_records():
    for value, expected in _valid_corpus():
        out = decode_message(value)
        assert out == expected, (value, out)
        if out.x is not None:
            assert list(out.x) == list(expected.x)  # feature order kept
            assert all(type(v) is float for v in out.x.values())


def test_shapes_and_properties():
    rec = decode_message(b'{"id": "a", "features": {"f": 1}, "labels": ["x"]}')
    assert rec.is_labelled and not rec.is_label_delivery
    unl = decode_message(b'{"id": "a", "features": {"f": 1}, "labels": null}')
    assert not unl.is_labelled and not unl.is_label_delivery and unl.y is None
    dlv = decode_message(b'{"id": 5, "labels": []}')
    assert dlv.is_label_delivery and dlv.id == "5" and dlv.y == {}
    assert decode_message(b'{"id":"a","features":[],"labels":[]}') == DecodedRecord("a", {}, {})


@pytest.mark.parametrize("value, code, words", [
    (b'{"features": {"a": NaN}, "labels": []}', "bad_feature_value", "'a'"),
    (b'{"features": {"a": "NaN"}, "labels": []}', "bad_feature_value", "'a'"),
    (b'{"features": {"a": Infinity}, "labels": []}', "bad_feature_value", "finite"),
    (b'{"features": {"a": 1e999}, "labels": []}', "bad_feature_value", "finite"),
    (b'{"features": [1, true], "labels": []}', "bad_feature_value", "'1'"),
    (b'{"features": {"a": 1}, "labels": [1.5]}', "bad_labels", "1.5"),
    (b'{"features": {"a": 1}, "labels": "sky"}', "bad_labels", "'labels'"),
    (b'{"features": {"a": 1}}', "missing_field", "'labels'"),
    (b'{"labels": ["a"]}', "missing_field", "'id'"),
    (b'{"id": 1.5, "features": {}, "labels": []}', "bad_id", "'id'"),
    (b'{"features": "a=1", "labels": []}', "bad_features", "'features'"),
    (b'{"features": {}, "labels": [], "extra": 1}', "unknown_field", "'extra'"),
    (b"\xff\xfe{}", "invalid_encoding", "UTF-8"),
    (b"{'features': {}}", "invalid_json", "JSON"),
])
def test_reasons_name_the_field(value, code, words):
    out = decode_message(value)
    assert out.code == code and words in out.text, out


def test_size_limits():
    big = encode_record({"a": 1.0}, {"x": True}, id="r" * 100)
    assert decode_message(big, max_bytes=50).code == "too_large"
    assert decode_message(big, max_id_length=10).code == "bad_id"
    many = encode_record({f"f{i}": 1.0 for i in range(20)}, {}, id="1")
    assert decode_message(many, max_features=19).code == "too_many_features"
    assert isinstance(decode_message(many, max_features=20), DecodedRecord)
    assert decode_message(encode_record({}, {"l" * 20: True}), max_label_length=19).code == \
        "bad_label"


def test_encode_record_roundtrips_exactly():
    rng = random.Random(5)
    for i in range(300):
        x = {f"f{j}": rng.choice([rng.uniform(-1, 1) * 10 ** rng.randint(-300, 300), 0.0,
                                  float(rng.randint(-5, 5)), 5e-324])
             for j in range(rng.randint(0, 20))}
        y = {f"l{j}": rng.random() < 0.5 for j in range(5)}
        out = decode_message(encode_record(x, y, id=str(i)))
        assert out.x == x and list(out.x) == list(x)
        assert out.y == {k: True for k, v in y.items() if v}
        assert out.id == str(i)
    assert decode_message(encode_record({"a": 1.0}, None, id="u")).y is None
    assert decode_message(encode_label_delivery("u", {"a": True, "b": False})) == \
        DecodedRecord("u", None, {"a": True})
    with pytest.raises(ValueError):
        encode_record({"a": math.nan}, {})


def test_prediction_value_and_dead_letter_headers():
    value = encode_prediction("r1", SourcePosition("in", 3, 99), ["sky"], {"sky": 0.75,
                              "sea": math.inf}, learner="br", records_learned=98)
    doc = json.loads(value)
    assert doc == {"id": "r1", "source": {"topic": "in", "partition": 3, "offset": 99},
                   "labels": ["sky"], "scores": {"sky": 0.75, "sea": None},
                   "model": {"learner": "br", "records_learned": 98}}
    dead = decode_message(b"not json")
    headers = dead_letter_headers(dead, SourcePosition("in", 1, 7))
    assert [name for name, _ in headers] == list(DEAD_LETTER_HEADERS)
    values = dict(headers)
    assert values["dlq.reason"] == b"invalid_json"
    assert values["dlq.source.topic"] == b"in" and values["dlq.source.offset"] == b"7"
    assert all(isinstance(v, bytes) for v in values.values())


def test_label_names_header_roundtrip_and_garbage():
    assert read_label_names([label_names_header(["a", "b c"])]) == ["a", "b c"]
    for junk in (b"[1, 2]", b"{}", b"\xff", b'["a", ""]', b"[" * 5000):
        assert read_label_names([("labelstream.label-names", junk)]) is None
    assert read_label_names([]) is None and read_label_names(None) is None
