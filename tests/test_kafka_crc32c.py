"""The record-batch CRC-32C (google-crc32c's C function): equal to kafka-python's own on
known and random inputs, plugged into kafka-python's record batches, checks still refuse a
corrupted batch, and without the C extension kafka-python's own is kept with a warning."""

from __future__ import annotations

import importlib.util
import logging
import random

import google_crc32c
import numpy as np
import pytest
from kafka.record._crc32c import crc as kafka_python_crc32c
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

import connectors.kafka.crc32c as module
from connectors.kafka.crc32c import crc32c, use_compiled_crc32c

# RFC 3720 (iSCSI) appendix B.4 and the CRC catalogue's check value
KNOWN = [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]


def test_the_c_extension_is_the_one_in_use():
    assert google_crc32c.implementation == "c"
    assert module.IMPLEMENTATION == "c"


@pytest.mark.parametrize("data, expected", KNOWN)
def test_known_vectors(data, expected):
    assert crc32c(data) == expected
    assert kafka_python_crc32c(data) == expected
    assert module._calc_crc32c(memoryview(bytearray(data))) == expected


def test_random_inputs_equal_kafka_python_for_every_buffer_type_length_and_alignment():
    rng = random.Random(3)
    lengths = list(range(0, 70)) + [255, 256, 1000, 4097, 65_536 + 3]
    for n in lengths:
        data = bytes(rng.randrange(256) for _ in range(n + 8))
        for start in range(8):  # slices at every alignment
            chunk = data[start:start + n]
            expected = kafka_python_crc32c(chunk)
            assert crc32c(chunk) == expected, (n, start)
            assert crc32c(bytearray(chunk)) == expected
            assert crc32c(memoryview(data)[start:start + n]) == expected
            assert crc32c(np.frombuffer(chunk, dtype=np.uint8)) == expected
            # as kafka-python calls it: a memoryview over a bytearray
            assert module._calc_crc32c(memoryview(bytearray(data))[start:start + n]) \
                == expected


def test_running_checksum_continues():
    data = bytes(random.Random(5).randrange(256) for _ in range(3000))
    for cut in (0, 1, 7, 8, 9, 1500, 2999, 3000):
        assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)
    pieces = [data[i:i + 37] for i in range(0, len(data), 37)]
    crc = 0
    for piece in pieces:
        crc = crc32c(bytearray(piece), crc)
    assert crc == kafka_python_crc32c(data)


def _batch(n: int = 50) -> bytearray:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for i in range(n):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=str(i).encode(),
                       value=b'{"id":"%d","features":[%d.5],"labels":[]}' % (i, i),
                       headers=[])
    return builder.build()


def test_kafka_python_uses_it_and_still_refuses_a_corrupted_batch():
    assert use_compiled_crc32c() is True
    from kafka.record import default_records, util

    assert default_records.calc_crc32c is module._calc_crc32c
    assert util.calc_crc32c is module._calc_crc32c
    assert use_compiled_crc32c() is True  # idempotent
    assert default_records.calc_crc32c is module._calc_crc32c

    built = _batch()  # its checksum was computed by google-crc32c's function
    batch = DefaultRecordBatch(bytes(built))
    assert batch.validate_crc()
    assert batch.crc == kafka_python_crc32c(memoryview(bytes(built))[21:])
    assert [r.offset for r in batch] == list(range(50))

    for position in (61, 100, len(built) - 1):  # a flipped bit anywhere in the body
        corrupted = bytearray(built)
        corrupted[position] ^= 0x10
        assert not DefaultRecordBatch(bytes(corrupted)).validate_crc(), position


def test_without_the_c_extension_kafka_pythons_own_is_kept_with_a_warning(monkeypatch,
                                                                           caplog):
    from kafka.record import default_records, util

    use_compiled_crc32c()
    before = default_records.calc_crc32c, util.calc_crc32c
    monkeypatch.setattr(google_crc32c, "implementation", "python")
    spec = importlib.util.spec_from_file_location("crc32c_without_c", module.__file__)
    fallback = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fallback)  # a separate copy, loaded as if without the C code
    assert fallback.IMPLEMENTATION == "kafka-python"
    with caplog.at_level(logging.WARNING, logger=fallback.__name__):
        assert fallback.use_compiled_crc32c() is False
        assert fallback.use_compiled_crc32c() is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "google-crc32c" in warnings[0].getMessage()
    assert (default_records.calc_crc32c, util.calc_crc32c) == before  # left untouched
    for data, expected in KNOWN:
        assert fallback.crc32c(data) == expected
        assert fallback.crc32c(np.frombuffer(data, dtype=np.uint8)) == expected
    assert fallback.crc32c(b"6789", fallback.crc32c(b"12345")) == 0xE3069283


def test_a_consumer_reads_every_record_with_checks_on(kafka_broker, unique_topic):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    use_compiled_crc32c()
    topic = kafka_broker.create_topic(unique_topic("crc"), partitions=1)
    values = [b'{"id":"%d","features":{"a":%d.25},"labels":["x"]}' % (i, i)
              for i in range(3000)]
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, linger_ms=5,
                             batch_size=64 * 1024)
    try:
        for i, value in enumerate(values):
            producer.send(topic, key=str(i).encode(), value=value)
        producer.flush()
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=None,
                             enable_auto_commit=False, check_crcs=True,
                             fetch_max_wait_ms=100)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = []
        for _ in range(200):
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(records)
            if len(got) >= len(values):
                break
    finally:
        consumer.close()
    assert [r.value for r in got] == values
    assert [r.offset for r in got] == list(range(len(values)))
