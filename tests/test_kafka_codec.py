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
    assert set(codes) == set(REASONS) - {"unknown_id", "expired_id", "not_labels", "label_cap",
                                        "undecodable"}, codes


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


# -- the compiled JSON parser (orjson, when installed) changes nothing -------------------------
def _both_parsers(value, monkeypatch, **limits):
    import connectors.kafka.codec as codec

    fast = decode_message(value, **limits)
    with monkeypatch.context() as m:
        m.setattr(codec, "_orjson", None)
        slow = decode_message(value, **limits)
    return fast, slow


def _edge_values():
    """Values where orjson and the standard parser disagree, or the fast checks stop."""
    big = "123456789012345678901234567890"
    texts = [
        '{"id": %s, "features": {"a": 1}, "labels": []}' % big,
        '{"id": "a", "features": {"a": 1}, "labels": [%s]}' % big,
        '{"id": "a", "labels": [%s, 7]}' % big,
        '{"features": {"a": %s, "b": -%s}, "labels": []}' % (big, big),
        '{"features": [%s, 1.5, 2], "labels": []}' % big,
        '{"features": {"a": 1%s}, "labels": []}' % ("0" * 400),
        '{"features": {"a": NaN}, "labels": []}', '{"features": [Infinity], "labels": []}',
        '{"features": {"a": 1e999}, "labels": []}', '{"features": [1e308, 1e308], "labels": []}',
        '{"features": {"a": 1, "a": true}, "labels": []}',
        '{"features": {"": 1}, "labels": []}', '{"features": [1, null, 2], "labels": [3]}',
        '{"features": {"a": -0.0, "b": 5e-324, "c": 0}, "labels": ["x", "x", ""]}',
        '{"id": "\\ud800", "features": {}, "labels": []}', '["\\ud83d\\ude00"]',
        '{"id": "\\ud83d\\ude00", "features": {"\\u00e9": 1}, "labels": ["\\ud83d\\ude00"]}',
        "  ", "", "[" * 1010 + "]" * 1010, "[" * 60 + "]" * 60,
        '{"features": %s, "labels": []}' % ("[" * 1010 + "]" * 1010),
        '{"features": {"a": 1.0}, "labels": null, "id": 3}', '{"id": 1.0, "labels": []}',
    ]
    return [t.encode("utf-8") for t in texts] + [b"\xef\xbb\xbf{}", b"\xff{}"]


def test_orjson_and_the_standard_parser_decode_every_message_alike(fuzz_corpus, monkeypatch):
    pytest.importorskip("orjson")
    values = [v for v, _, _ in fuzz_corpus] + [v for v, _ in _valid_corpus()] + _edge_values()
    for value in values:
        for limits in (FUZZ_LIMITS, {}):
            fast, slow = _both_parsers(value, monkeypatch, **limits)
            assert fast == slow, (value[:200], fast, slow)
            if isinstance(fast, DecodedRecord) and fast.x is not None:
                assert list(fast.x) == list(slow.x)
                assert [type(v) for v in fast.x.values()] == [float] * len(fast.x)


def test_orjson_reads_numbers_as_the_standard_parser_does():
    orjson = pytest.importorskip("orjson")
    rng = random.Random(17)
    texts = []
    for _ in range(20_000):
        texts.append(repr(rng.uniform(-1, 1) * 10.0 ** rng.randint(-320, 308)))
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
        texts.append(f"{digits[0]}.{digits[1:] or '0'}e{rng.randint(-330, 300)}")
        texts.append(str(rng.randint(-10**18, 10**18)))
    for text in texts:
        expected = json.loads(text)
        if math.isinf(expected):
            continue  # orjson refuses these; the standard parser then decides
        assert orjson.loads(text) == expected and type(orjson.loads(text)) is type(expected), text


def test_prediction_values_are_the_same_json_with_either_encoder(monkeypatch):
    import numpy as np

    import connectors.kafka.codec as codec

    cases = [("r1", ["sky"], {"sky": 0.75, "sea": math.inf, "x": math.nan, "y": 1e-7}),
             (None, [], {}), ("é", ["日本"], {"日本": 1.0}),
             ("r2", ["a"], {"a": np.float64(0.5), "b": np.float32(0.25)}),
             ("r3", [3], {3: 0.5})]
    for rid, labels, scores in cases:
        fast = encode_prediction(rid, SourcePosition("in", 3, 99), labels, scores,
                                 learner="br", records_learned=98)
        with monkeypatch.context() as m:
            m.setattr(codec, "_orjson", None)
            slow = encode_prediction(rid, SourcePosition("in", 3, 99), labels, scores,
                                     learner="br", records_learned=98)
        assert json.loads(fast) == json.loads(slow), (fast, slow)
        doc = json.loads(fast)
        for label, p in scores.items():
            p = float(p)
            assert doc["scores"][str(label)] == (p if math.isfinite(p) else None)


# -- unknown labels ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "unknown, code",
    [
        ('"sea"', "bad_unknown"),
        ('[1.5]', "bad_unknown"),
        ('[true]', "bad_unknown"),
        ('[""]', "bad_unknown"),
        ('["' + "u" * 1001 + '"]', "bad_unknown_label"),
        ("[" + "9" * 1001 + "]", "bad_unknown_label"),
        ('["sea", "sea"]', "duplicate_unknown"),
        ('["7", 7]', "duplicate_unknown"),
        ('["sky"]', "unknown_overlaps_labels"),
        ('["3"]', "unknown_overlaps_labels"),
        ("[" + ",".join(f'"u{i}"' for i in range(10_001)) + "]", "too_many_unknown"),
    ],
)
def test_bad_unknown_is_a_dead_letter_with_its_code(unknown, code):
    for shape in ('{"id": "r1", "features": {"a": 1}, "labels": ["sky", 3], "unknown": @}',
                  '{"id": "r1", "features": [1, null], "labels": ["sky", 3], "unknown": @}',
                  '{"id": "r1", "labels": ["sky", 3], "unknown": @}'):
        out = decode_message(shape.replace("@", unknown).encode())
        assert isinstance(out, DeadLetter), (shape, out)
        assert out.code == code and out.code in REASONS, out


def test_unknown_on_an_unlabelled_record_is_refused():
    out = decode_message(b'{"id": "r1", "features": {"a": 1}, "labels": null, "unknown": ["u"]}')
    assert out.code == "bad_unknown"


def test_unknown_labels_decode_to_none_and_round_trip():
    out = decode_message(b'{"id": "r1", "features": {"a": 1}, "labels": ["sky"], '
                         b'"unknown": ["sea", 4]}')
    assert out == DecodedRecord("r1", {"a": 1.0}, {"sky": True, "sea": None, "4": None})
    delivery = decode_message(b'{"id": "r1", "labels": ["sky"], "unknown": ["sea"]}')
    assert delivery.is_label_delivery and delivery.y == {"sky": True, "sea": None}
    y = {"sky": True, "sea": None, "sand": False}
    back = decode_message(encode_record({"a": 1.5}, y, id="r2"))
    assert back == DecodedRecord("r2", {"a": 1.5}, {"sky": True, "sea": None})
    back = decode_message(encode_label_delivery("r2", y))
    assert back.y == {"sky": True, "sea": None}
    # a clean record is written as before
    assert encode_record({"a": 1.5}, {"sky": True}, id="r3") == \
        b'{"id":"r3","features":{"a":1.5},"labels":["sky"]}'
