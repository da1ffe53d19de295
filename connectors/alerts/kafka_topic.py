"""Alert a Kafka topic: one message per event, value = the event's JSON, key = its id.

The key makes every alert about the same detection land on one partition, and lets a
compacted topic keep one message per event id. ``kafka-python`` is imported only when the
hook builds its own producer.

Examples
--------
>>> from drift.events import new_event
>>> key, value, headers = serialize_event(new_event("adwin", "global", 9, timestamp=0.0))
>>> key.startswith(b"evt_"), value[:1], headers
(True, b'{', [('content-type', b'application/json')])
"""

from __future__ import annotations

__all__ = ["KafkaTopicHook", "serialize_event"]


def serialize_event(event) -> tuple[bytes, bytes, list]:
    """``(key, value, headers)`` of the Kafka message for ``event``."""
    return (event.id.encode("utf-8"), event.to_json().encode("utf-8"),
            [("content-type", b"application/json")])


class KafkaTopicHook:
    """Produce each event to ``topic`` and wait for the broker's acknowledgement.

    Parameters
    ----------
    topic
        The alerts topic.
    producer
        A ``kafka.KafkaProducer`` (or anything with ``send``/``flush``) to use; it is
        flushed but not closed by :meth:`close`, since its owner may still need it.
    bootstrap_servers
        When no producer is given: brokers for a producer this hook builds on its first
        delivery (in the delivery thread, so a broker that is down never blocks the
        learner) and closes in :meth:`close`.
    timeout
        Seconds to wait for each message's acknowledgement.
    producer_config
        More ``KafkaProducer`` arguments (``acks`` defaults to ``"all"``).

    Notes
    -----
    Delivered from a background queue by the dispatcher (``background = True``), one
    message at a time; a message not acknowledged in ``timeout`` is a failed delivery.
    """

    name = "kafka"
    background = True

    def __init__(self, topic: str, *, producer=None, bootstrap_servers=None,
                 timeout: float = 10.0, producer_config: dict | None = None):
        if not topic:
            raise ValueError("the alerts topic needs a name")
        if producer is None and not bootstrap_servers:
            raise ValueError("give a producer or bootstrap_servers")
        self.topic = topic
        self.producer = producer
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self.producer_config = producer_config
        self._producer = producer
        self._owns_producer = producer is None

    def _get_producer(self):
        if self._producer is None:
            from kafka import KafkaProducer

            config = {"acks": "all", "client_id": "labelstream-alerts"}
            config.update(self.producer_config or {})
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap_servers, **config)
        return self._producer

    def deliver(self, event) -> None:
        key, value, headers = serialize_event(event)
        future = self._get_producer().send(self.topic, key=key, value=value, headers=headers)
        future.get(timeout=self.timeout)

    def close(self) -> None:
        producer = self._producer
        if producer is None:
            return
        if self._owns_producer:
            self._producer = None
            producer.close(timeout=self.timeout)
        else:
            producer.flush(timeout=self.timeout)

    def __repr__(self):
        return f"KafkaTopicHook({self.topic!r})"
