"""Kafka: the JSON record format, client settings, publishing and replaying topics.

* :mod:`~connectors.kafka.codec` -- message values in (records, unlabelled records, label
  deliveries; bad input becomes a :class:`DeadLetter` with a reason code, never an
  exception) and out (records, predictions, dead-letter headers);
* :mod:`~connectors.kafka.client` -- :class:`KafkaSettings` (brokers, TLS, SASL; secrets
  from the environment or files only) and the CLI flags;
* :mod:`~connectors.kafka.produce` -- ``labelstream produce``: a recorded stream to a topic;
* :mod:`~connectors.kafka.source` -- ``labelstream replay kafka://HOST:PORT/TOPIC``: a
  topic's history as a finite record stream;
* :mod:`~connectors.kafka.broker` -- :class:`TansuBroker`, a throwaway broker for tests.

``kafka-python`` is imported only where a client is made.

Examples
--------
>>> from connectors.kafka import decode_message, encode_record
>>> value = encode_record({"a": 0.5}, {"sky": True}, id="r1")
>>> decode_message(value)
DecodedRecord(id='r1', x={'a': 0.5}, y={'sky': True})
>>> decode_message(value[:-1]).code
'invalid_json'
"""

from stream.lazy_exports import lazy_exports

__all__ = [
    "REASONS", "DeadLetter", "DecodedRecord", "KafkaSettings", "KafkaSettingsError",
    "KafkaSourceError", "KafkaTopicSource", "SourcePosition", "add_kafka_arguments",
    "dead_letter_headers", "decode_message", "encode_label_delivery", "encode_prediction",
    "encode_record", "parse_kafka_url",
]


# loaded on first use: the command line imports only what it runs
__getattr__, __dir__ = lazy_exports(__name__, {
    "KafkaSettings": "connectors.kafka.client",
    "KafkaSettingsError": "connectors.kafka.client",
    "add_kafka_arguments": "connectors.kafka.client",
    "REASONS": "connectors.kafka.codec",
    "DeadLetter": "connectors.kafka.codec",
    "DecodedRecord": "connectors.kafka.codec",
    "SourcePosition": "connectors.kafka.codec",
    "dead_letter_headers": "connectors.kafka.codec",
    "decode_message": "connectors.kafka.codec",
    "encode_label_delivery": "connectors.kafka.codec",
    "encode_prediction": "connectors.kafka.codec",
    "encode_record": "connectors.kafka.codec",
    "KafkaSourceError": "connectors.kafka.source",
    "KafkaTopicSource": "connectors.kafka.source",
    "parse_kafka_url": "connectors.kafka.source",
})
