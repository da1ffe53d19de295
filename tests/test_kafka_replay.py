"""`labelstream produce` and `labelstream replay kafka://...` against a real (tansu) broker.

A file produced into a one-partition topic replays with exactly the metrics of the file;
malformed messages are counted as bad and the rest scored; partitions merge in a fixed
order; --from-timestamp, the end captured at opening, label deliveries.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.kafka.client import KafkaSettings
from connectors.kafka.codec import (
    DeadLetter,
    decode_message,
    encode_label_delivery,
    encode_record,
)
from connectors.kafka.produce import partition_for
from connectors.kafka.source import KafkaTopicSource, open_kafka_source
from stream.writers import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LABELSTREAM_DATA")
            or Path(__file__).resolve().parents[1].parent / "shared" / "data")
YEAST = DATA / "yeast" / "yeast.arff"
needs_yeast = pytest.mark.skipif(not YEAST.is_file(), reason=f"shared data not found at {DATA}")

#: Summary fields that legitimately differ between two replays of the same stream.
NOT_COMPARED = {"source", "seconds", "instances_per_second"}


def labelstream(*args, check=True):
    exe = shutil.which("labelstream")
    cmd = [exe] if exe else [sys.executable, "-m", "connectors.cli"]
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def replay_json(*args):
    return json.loads(labelstream("replay", *args, "--json").stdout)


def _event(e: dict) -> dict:
    return {k: v for k, v in e.items() if k not in ("timestamp", "source_offset")}


def assert_same_metrics(got: dict, want: dict):
    assert set(got) == set(want)
    assert [_event(e) for e in got["events"]] == [_event(e) for e in want["events"]]
    for key in sorted(set(want) - NOT_COMPARED - {"events"}):
        a, b = got[key], want[key]
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), \
            f"{key}: kafka {a!r} != file {b!r}"


def make_producer(broker):
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)


def synthetic(n, seed=0, n_features=5, labels=("a", "b", "c", "d")):
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = {f"f{j}": round(rng.gauss(0, 1), 4) for j in range(n_features)}
        y = {label: (x["f0"] > 0) == (i % 2 == 0) or rng.random() < 0.1
             for i, label in enumerate(labels)}
        out.append((x, y))
    return out


# -- the acceptance test ----------------------------------------------------------------------
@needs_yeast
def test_yeast_produced_by_the_cli_replays_exactly_like_the_file(kafka_broker, unique_topic):
    topic = unique_topic("yeast")
    produced = json.loads(labelstream(
        "produce", YEAST, "--bootstrap-servers", kafka_broker.bootstrap, "--topic", topic,
        "--partitions", "1", "--json").stdout)
    assert produced["records"] == 2417 and produced["partitions"] == 1
    assert produced["records_per_second"] > 0
    from_kafka = replay_json(f"kafka://{kafka_broker.bootstrap}/{topic}")
    from_file = replay_json(YEAST)
    assert from_kafka["source"] == f"kafka://{kafka_broker.bootstrap}/{topic}"
    assert from_kafka["instances"] == 2417 and from_kafka["labels"] == 14
    assert from_kafka["bad_records"] == 0
    assert_same_metrics(from_kafka, from_file)


# -- bad input --------------------------------------------------------------------------------
def test_malformed_messages_are_counted_and_the_rest_scored(kafka_broker, unique_topic,
                                                            fuzz_corpus, tmp_path):
    topic = kafka_broker.create_topic(unique_topic("bad"))
    records = synthetic(400, seed=1)
    # malformed under the default limits too (a few fuzz values are valid at defaults)
    bad = [v for v, _, _ in fuzz_corpus if isinstance(decode_message(v), DeadLetter)][::6]
    assert len(bad) >= 150
    producer = make_producer(kafka_broker)
    try:
        j = 0
        for i, (x, y) in enumerate(records):
            producer.send(topic, encode_record(x, y, id=str(i)), partition=0)
            if i % 2 == 0 and j < len(bad):
                producer.send(topic, bad[j], partition=0)
                j += 1
        for value in bad[j:]:
            producer.send(topic, value, partition=0)
        producer.flush()
    finally:
        producer.close()
    clean = tmp_path / "clean.jsonl"
    write_jsonl(records, clean)
    proc = labelstream("replay", f"kafka://{kafka_broker.bootstrap}/{topic}", "--json")
    got = json.loads(proc.stdout)
    assert got["bad_records"] == len(bad) and got["instances"] == len(records)
    assert f"{topic}[0], offset" in proc.stderr  # the first bad ones are named
    want = replay_json(clean)
    assert want["bad_records"] == 0
    got.pop("bad_records"), want.pop("bad_records")
    assert_same_metrics(got, want)

    source = open_kafka_source(f"kafka://{kafka_broker.bootstrap}/{topic}")
    assert len(list(source)) == len(records)
    assert source.n_bad == len(bad) and sum(source.bad_reasons.values()) == len(bad)
    assert len(source.bad_reasons) >= 10  # many distinct reasons
    assert source.n_messages == len(records) + len(bad)


# -- partitions, keys, order --------------------------------------------------------------------
def test_multi_partition_topic_keys_by_id_and_replays_in_a_fixed_order(kafka_broker,
                                                                     unique_topic, tmp_path):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.partitioner.default import DefaultPartitioner

    src = tmp_path / "s.jsonl"
    with open(src, "w") as fh:
        for i, (x, y) in enumerate(synthetic(300, seed=2)):
            doc = {"id": f"user-{i}", "features": x, "labels": [k for k, v in y.items() if v]}
            fh.write(json.dumps(doc) + "\n")
    topic = unique_topic("parts")
    out = labelstream("produce", src, "--bootstrap-servers", kafka_broker.bootstrap,
                      "--topic", topic, "--partitions", "3", "--json", "--limit", "250").stdout
    assert json.loads(out)["records"] == 250 and json.loads(out)["partitions"] == 3

    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=None,
                             enable_auto_commit=False, fetch_max_wait_ms=100)
    raw = []
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 20
        while len(raw) < 250 and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=200).values():
                raw.extend(recs)
    finally:
        consumer.close()
    assert len(raw) == 250
    default = DefaultPartitioner()
    cluster = type("C", (), {"topics": lambda s: {topic},
                             "partitions_for_topic": lambda s, t: {0, 1, 2},
                             "available_partitions_for_topic": lambda s, t: {0, 1, 2}})()
    for rec in raw:
        assert json.loads(rec.value)["id"] == rec.key.decode()  # key = the JSONL id
        assert rec.partition == partition_for(rec.key, [0, 1, 2])
        assert rec.partition == default.partition(topic, None, rec.key, None, None, cluster)
    assert len({r.partition for r in raw}) == 3

    def replay_ids():
        source = open_kafka_source(f"kafka://{kafka_broker.bootstrap}/{topic}")
        ids = []
        for _ in source:
            ids.append(source.last_id)
        assert source.n_bad == 0 and source.label_names is None  # JSONL declares none
        return ids

    first = replay_ids()
    assert first == replay_ids()  # deterministic
    expected = [json.loads(r.value)["id"]
                for r in sorted(raw, key=lambda r: (r.timestamp, r.partition, r.offset))]
    assert first == expected


def test_arff_labels_are_declared_on_every_partition(kafka_broker, unique_topic):
    if not YEAST.is_file():
        pytest.skip(f"shared data not found at {DATA}")
    from stream.readers import open_stream

    topic = unique_topic("declared")
    labelstream("produce", YEAST, "--bootstrap-servers", kafka_broker.bootstrap, "--topic",
                topic, "--partitions", "2", "--limit", "40", "--key", "none", "-q")
    source = open_kafka_source(f"kafka://{kafka_broker.bootstrap}/{topic}")
    try:
        assert source.label_names == open_stream(YEAST).label_names
        assert set(source.end_offsets.values()) == {20}  # round robin without keys
        rows = list(source)
    finally:
        source.close()
    assert len(rows) == 40 and all(len(y) == 14 for _, y in rows)


# -- where a replay starts and ends ---------------------------------------------------------------
def test_from_timestamp_starts_at_the_first_record_at_or_after_the_time(kafka_broker,
                                                                       unique_topic):
    topic = kafka_broker.create_topic(unique_topic("time"), partitions=2)
    base = 1_700_000_000_000
    producer = make_producer(kafka_broker)
    try:
        for i, (x, y) in enumerate(synthetic(200, seed=3)):
            producer.send(topic, encode_record(x, y, id=str(i)), partition=i % 2,
                          timestamp_ms=base + 10 * i)
            if i % 50 == 49:
                producer.flush()  # several batches, so offsets_for_times has a choice
        producer.flush()
    finally:
        producer.close()
    settings = KafkaSettings(kafka_broker.bootstrap)

    def ids(when):
        with KafkaTopicSource(settings, topic, from_timestamp=when) as source:
            out = []
            for _ in source:
                out.append(int(source.last_id))
            return out, source.n_before_start

    got, skipped = ids(base + 1000)  # record 100 onwards
    assert got == list(range(100, 200)) and skipped <= 100
    assert ids(base + 1005)[0] == list(range(101, 200))
    assert ids(base)[0] == list(range(200))
    assert ids(0)[0] == list(range(200))
    assert ids(base + 10**9)[0] == []  # after the last record (tansu answers offset 0)
    iso = "2023-11-14T22:13:21Z"  # base + 1000 ms
    got = replay_json(f"kafka://{kafka_broker.bootstrap}/{topic}", "--from-timestamp", iso)
    assert got["instances"] == 100


def test_records_produced_after_opening_are_not_replayed(kafka_broker, unique_topic):
    topic = kafka_broker.create_topic(unique_topic("end"))
    producer = make_producer(kafka_broker)
    try:
        for i, (x, y) in enumerate(synthetic(30, seed=4)):
            producer.send(topic, encode_record(x, y, id=str(i)))
        producer.flush()
        source = open_kafka_source(f"kafka://{kafka_broker.bootstrap}/{topic}")
        try:
            assert source.end_offsets == {0: 30}
            for i, (x, y) in enumerate(synthetic(30, seed=5)):
                producer.send(topic, encode_record(x, y, id=f"late{i}"))
            producer.flush()
            assert len(list(source)) == 30
        finally:
            source.close()
    finally:
        producer.close()


def test_label_deliveries_join_their_unlabelled_records(kafka_broker, unique_topic):
    topic = kafka_broker.create_topic(unique_topic("delay"))
    x1, x2, x3, x4 = ({"f": float(i)} for i in range(4))
    messages = [
        encode_record(x1, None, id="u1"),
        encode_record(x2, None, id="u2"),
        encode_record(x3, {"a": True}, id="r3"),
        encode_label_delivery("u1", {"b": True}),
        encode_label_delivery("ghost", {"a": True}),  # never seen
        encode_record(x4, None, id="u4"),  # never labelled
        encode_record(x4, None),  # no id: can never be labelled
    ]
    producer = make_producer(kafka_broker)
    try:
        for value in messages:
            producer.send(topic, value)
        producer.flush()
    finally:
        producer.close()
    source = open_kafka_source(f"kafka://{kafka_broker.bootstrap}/{topic}")
    rows = list(source)
    assert rows == [(x3, {"a": True}), (x1, {"b": True})]
    assert source.n_label_deliveries == 1 and source.n_unlabelled == 3
    assert source.n_bad == 1 and source.bad_reasons == {"unknown_id": 1}
    got = replay_json(f"kafka://{kafka_broker.bootstrap}/{topic}")
    assert got["instances"] == 2 and got["unlabelled_records"] == 3 and got["bad_records"] == 1


# -- errors -----------------------------------------------------------------------------------
def test_missing_topics_are_explained(kafka_broker, unique_topic, tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text('{"features": [1], "labels": []}\n')
    topic = unique_topic("missing")
    proc = labelstream("replay", f"kafka://{kafka_broker.bootstrap}/{topic}", check=False)
    assert proc.returncode == 1 and "no such topic" in proc.stderr
    proc = labelstream("produce", src, "--bootstrap-servers", kafka_broker.bootstrap,
                       "--topic", topic, check=False)
    assert proc.returncode == 1 and "--partitions" in proc.stderr
    proc = labelstream("replay", src, "--from-timestamp", "0", check=False)
    assert proc.returncode == 2 and "kafka://" in proc.stderr


def test_failed_sasl_handshake_never_logs_the_password(kafka_broker, monkeypatch, caplog):
    """tansu without --authentication refuses SASL: the failure is logged at length by
    kafka-python at DEBUG level, and the password must appear nowhere in it."""
    import logging

    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    secret = "hunter2-never-in-logs"
    monkeypatch.setenv("LABELSTREAM_TEST_SASL_PW", secret)
    settings = KafkaSettings(kafka_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_username="app", sasl_password_env="LABELSTREAM_TEST_SASL_PW",
                             allow_plaintext_sasl=True)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KafkaError):
        KafkaConsumer(**settings.consumer_config(bootstrap_timeout_ms=1500)).close()
    assert "SaslHandshake" in caplog.text or "Sasl" in caplog.text
    assert secret not in caplog.text
