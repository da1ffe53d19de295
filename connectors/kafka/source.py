"""A Kafka topic's history as a finite record stream: ``labelstream replay kafka://HOST:PORT/TOPIC``.

:class:`KafkaTopicSource` reads every partition of a topic from the beginning (or from
the first record at or after a time) up to the high-water marks seen when it opened, and
yields ``(x, y)`` records like the file readers do, so a replay of a topic runs the same
prequential loop as a replay of a file.

* **Finite.** The end of each partition is its high-water mark in the first fetch
  response (``KafkaConsumer.highwater``; ``end_offsets`` is not used, being wrong on some
  Kafka-compatible brokers): records produced after that are not read.
* **Start.** From the beginning, or from each partition's first record whose timestamp
  is at or after ``from_timestamp`` (every record after it is read, whatever its
  timestamp). ``offsets_for_times`` only says where to start scanning; records before
  the time are skipped by their own timestamps, so a broker whose answer is coarse
  (tansu: batch accurate, by append time; offset 0 for a time after the last record)
  costs a longer scan, not wrong records -- as long as a partition's timestamps roughly
  follow its offsets, as producer timestamps do.
* **No consumer group.** Partitions are assigned by hand, nothing is committed; a replay
  never disturbs a worker's offsets.
* **Order.** Partitions are merged by the head record's ``(timestamp, partition,
  offset)``; within a partition, offset order is always kept. The order is a function of
  the topic's contents alone, so two replays of a topic see the same stream; a topic with
  one partition replays in offset order -- the file's order when ``labelstream produce``
  wrote it.
* **Messages.** Values are decoded by :func:`connectors.kafka.codec.decode_message`. A
  message that is not a valid record is counted as bad (``n_bad``; the first 100 kept in
  ``bad`` as :class:`~stream.errors.MalformedRecordError` naming topic, partition, offset
  and reason; ``bad_reasons`` counts them by reason code) and skipped, never fatal.
* **Label delay.** An unlabelled record (``"labels": null``) is held (at most
  ``max_pending``, oldest dropped first) until a label delivery ``{"id", "labels"}`` for
  its id arrives; it is then yielded at the delivery's place in the stream, so it is
  predicted, scored and learned with the model as it stands when its labels arrive. A
  delivery for an id not held is a bad record (``unknown_id``); records never labelled
  are counted in ``n_unlabelled``.
* **Declared labels.** The header ``labelstream.label-names`` of a partition's first
  message (written by ``labelstream produce``) or ``label_names=`` declares the labels;
  ``y`` then lists every declared label (``True``/``False``) in declared order, as the
  ARFF reader does, so that a replay of a produced file scores exactly as the file.

Examples
--------
>>> parse_kafka_url("kafka://broker-1:9092,broker-2:9092/records")
(('broker-1:9092', 'broker-2:9092'), 'records')
>>> parse_timestamp("2024-05-01T00:00:00Z"), parse_timestamp("1714521600000")
(1714521600000, 1714521600000)
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict, deque
from datetime import datetime, timezone
from urllib.parse import unquote

from connectors.kafka.client import KafkaSettings
from connectors.kafka.codec import DeadLetter, decode_message, read_label_names
from stream.errors import MalformedRecordError

__all__ = ["KafkaSourceError", "KafkaTopicSource", "is_kafka_url", "open_kafka_source",
           "parse_kafka_url", "parse_timestamp"]

log = logging.getLogger(__name__)

SCHEME = "kafka://"
DEFAULT_PORT = 9092
BAD_KEPT = 100


class KafkaSourceError(OSError):
    """The topic cannot be read (no broker, no such topic, no progress); says why."""


def is_kafka_url(text) -> bool:
    """Whether a SOURCE argument names a Kafka topic."""
    return isinstance(text, str) and text.lower().startswith(SCHEME)


def parse_kafka_url(url: str) -> tuple[tuple[str, ...], str]:
    """``kafka://HOST[:PORT][,HOST[:PORT]...]/TOPIC`` -> ``(servers, topic)``.

    The port defaults to 9092.

    Examples
    --------
    >>> parse_kafka_url("kafka://localhost/t")
    (('localhost:9092',), 't')
    >>> parse_kafka_url("kafka://localhost:9092")
    Traceback (most recent call last):
    ...
    ValueError: kafka://localhost:9092: name a topic, as in kafka://HOST:PORT/TOPIC
    """
    if not is_kafka_url(url):
        raise ValueError(f"{url}: not a kafka:// URL")
    rest = url[len(SCHEME):]
    hosts, sep, topic = rest.partition("/")
    topic = unquote(topic.strip("/"))
    if not sep or not topic:
        raise ValueError(f"{url}: name a topic, as in kafka://HOST:PORT/TOPIC")
    if "/" in topic or len(topic) > 249:
        raise ValueError(f"{url}: {topic!r} is not a topic name")
    servers = []
    for host in hosts.split(","):
        host = host.strip()
        if not host:
            continue
        if host.startswith("["):  # [IPv6]:port
            end = host.find("]")
            port = host[end + 2:] if host[end + 1:end + 2] == ":" else ""
            host = host[:end + 1]
        elif host.count(":") == 1:
            host, port = host.split(":")
        else:
            port = ""
        servers.append(f"{host}:{port or DEFAULT_PORT}")
    if not servers:
        raise ValueError(f"{url}: name a broker, as in kafka://HOST:PORT/TOPIC")
    return tuple(servers), topic


def parse_timestamp(text: str) -> int:
    """A time as epoch milliseconds: ISO 8601 (no zone = UTC) or an integer of ms.

    Examples
    --------
    >>> parse_timestamp("2024-05-01 02:00:00+02:00")
    1714521600000
    >>> parse_timestamp("yesterday")
    Traceback (most recent call last):
    ...
    ValueError: 'yesterday' is not a time: give ISO 8601 (2024-05-01T12:00:00Z) or ...
    """
    text = str(text).strip()
    if text.lstrip("-").isdigit():
        value = int(text)
        if value < 0:
            raise ValueError(f"{text!r}: a timestamp must be >= 0 epoch milliseconds")
        return value
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z"))
                                      else text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: give ISO 8601 (2024-05-01T12:00:00Z) or "
                         "epoch milliseconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(round(when.timestamp() * 1000))


class KafkaTopicSource:
    """Read a topic's history, up to the high-water marks at opening, as ``(x, y)``.

    Parameters
    ----------
    settings
        Brokers and security (:class:`~connectors.kafka.client.KafkaSettings`).
    topic
        The topic.
    from_timestamp
        Epoch milliseconds: start each partition at its first record with a timestamp at
        or after this (``None``: from the beginning).
    label_names
        Declared labels; by default those of the ``labelstream.label-names`` header.
    max_pending
        Unlabelled records held for their label delivery.
    idle_timeout
        Seconds without a fetched record, while some partition is short of its end,
        before giving up with :class:`KafkaSourceError`.
    decode_options
        Limits for :func:`~connectors.kafka.codec.decode_message`.

    Attributes
    ----------
    label_names, n_read, n_bad, bad, bad_reasons, n_messages, n_unlabelled,
    n_label_deliveries, n_before_start
        As in the module notes; ``n_before_start`` counts records skipped because they
        precede ``from_timestamp``.
    end_offsets : dict
        ``partition -> high-water mark`` captured at opening.

    Notes
    -----
    :meth:`open` connects (the CLI calls it at once, so connection errors and the
    declared labels are known before the replay starts); iterating opens it if needed,
    and closes the consumer at the end of the pass. One pass per source.
    """

    format = "kafka"
    sparse = False
    feature_names = None

    def __init__(self, settings: KafkaSettings, topic: str, *, from_timestamp: int | None = None,
                 label_names=None, max_pending: int = 100_000, idle_timeout: float = 30.0,
                 max_buffered: int = 5_000, poll_timeout: float = 0.2,
                 decode_options: dict | None = None, consumer_config: dict | None = None):
        self.settings = settings
        self.topic = topic
        self.from_timestamp = from_timestamp
        self.label_names = list(label_names) if label_names else None
        self.max_pending = max_pending
        self.idle_timeout = idle_timeout
        self.max_buffered = max_buffered
        self.poll_timeout = poll_timeout
        self.decode_options = dict(decode_options or {})
        self.consumer_config = dict(consumer_config or {})
        self.n_read = 0
        self.n_bad = 0
        self.bad: list[MalformedRecordError] = []
        self.bad_reasons: Counter = Counter()
        self.n_messages = 0
        self.n_unlabelled = 0
        self.n_label_deliveries = 0
        self.n_before_start = 0
        self.end_offsets: dict = {}
        self.last_id = None
        self.last_position = None
        self._consumer = None
        self._tps: list = []
        self._buffers: dict = {}
        self._skipping: set = set()  # partitions still before from_timestamp
        self._pending: OrderedDict = OrderedDict()
        self._done = False

    @property
    def name(self) -> str:
        return f"kafka://{','.join(self.settings.bootstrap_servers)}/{self.topic}"

    # -- opening ---------------------------------------------------------------------------
    def open(self) -> KafkaTopicSource:
        """Connect, assign every partition, capture the end offsets, find the start."""
        if self._consumer is not None:
            return self
        if self._done:
            raise KafkaSourceError(f"{self.name}: a KafkaTopicSource reads the topic once; "
                                   "open a new one for another pass")
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError

        from connectors.kafka.crc32c import use_compiled_crc32c

        use_compiled_crc32c()
        config = self.settings.consumer_config(
            allow_auto_create_topics=False, fetch_max_wait_ms=100, max_poll_records=2000,
            bootstrap_timeout_ms=15_000)
        config.update(self.consumer_config)
        try:
            self._consumer = KafkaConsumer(**config)
        except KafkaError as err:
            raise KafkaSourceError(f"{self.name}: {self.settings.unreachable(err)}") from None
        try:
            partitions = self._consumer.partitions_for_topic(self.topic)
            if not partitions:
                raise KafkaSourceError(f"{self.name}: no such topic (or it has no partitions)")
            self._tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            self._buffers = {tp: deque() for tp in self._tps}
            self._consumer.assign(self._tps)
            self._consumer.seek_to_beginning(*self._tps)
            self._prime()
            self._declare_labels()
            if self.from_timestamp is not None:
                self._seek_to_time()
        except KafkaError as err:
            self.close()
            raise KafkaSourceError(f"{self.name}: {err}") from None
        except BaseException:
            self.close()
            raise
        return self

    def _prime(self) -> None:
        """Poll until every partition's end is known and it has a record or is done."""
        deadline = time.monotonic() + self.idle_timeout
        while True:
            missing = [tp for tp in self._tps if tp.partition not in self.end_offsets]
            if not missing and not self._starving():
                return
            if time.monotonic() > deadline:
                which = ", ".join(str(tp.partition) for tp in (missing or self._starving()))
                raise KafkaSourceError(f"{self.name}: no fetch response for partition(s) "
                                       f"{which} in {self.idle_timeout:.0f} s")
            self._fill()

    def _declare_labels(self) -> None:
        """Labels declared in the header of each partition's first message (in order)."""
        if self.label_names is not None:
            return
        names: list = []
        for tp in self._tps:
            buf = self._buffers[tp]  # nothing consumed yet: buf[0] is the first message
            declared = read_label_names(buf[0].headers) if buf else None
            if declared:
                seen = set(names)
                names.extend(n for n in declared if n not in seen)
        self.label_names = names or None

    def _seek_to_time(self) -> None:
        """Start each partition at its first record at/after ``from_timestamp``.

        ``offsets_for_times`` is used as a hint only: an answer that is not a usable
        offset (none, negative timestamp, outside the partition) means scanning from the
        beginning; records before the time are skipped by their own timestamps.
        """
        from kafka.errors import KafkaError

        when = self.from_timestamp
        try:
            hints = self._consumer.offsets_for_times({tp: when for tp in self._tps})
        except (KafkaError, ValueError) as err:
            log.info("%s: offsets_for_times failed (%s); scanning from the beginning",
                     self.name, err)
            hints = {}
        for tp in self._tps:
            self._skipping.add(tp.partition)
            hint = hints.get(tp)
            end = self.end_offsets[tp.partition]
            buf = self._buffers[tp]
            first = buf[0].offset if buf else end
            if tp in hints and hint is None:
                # the broker says no record is at or after the time (or none has a
                # timestamp): nothing to replay from this partition
                buf.clear()
                self._consumer.seek(tp, end)
                continue
            # not every compatible broker answers like Apache Kafka (tansu: offset 0 with
            # timestamp -1 for a time after the last record, and offsets of batches by
            # their append time): an answer is only a place to start scanning from
            if hint is None or hint.timestamp is None or hint.timestamp < 0:
                continue
            if first < hint.offset < end:
                buf.clear()
                self._consumer.seek(tp, hint.offset)

    # -- reading ---------------------------------------------------------------------------
    def _unfinished(self, tp) -> bool:
        """Whether ``tp`` has records buffered or still to fetch before its end."""
        if self._buffers[tp]:
            return True
        end = self.end_offsets.get(tp.partition)
        return end is None or self._consumer.position(tp) < end

    def _starving(self, tps=None) -> list:
        """Partitions with no buffered record that have not reached their end."""
        return [tp for tp in (self._tps if tps is None else tps)
                if not self._buffers[tp] and self._unfinished(tp)]

    def _fill(self) -> int:
        """One poll: pause full or finished partitions, buffer what comes back."""
        consumer = self._consumer
        pause, resume = [], []
        for tp in self._tps:
            end = self.end_offsets.get(tp.partition)
            full = len(self._buffers[tp]) >= self.max_buffered
            finished = end is not None and consumer.position(tp) >= end
            (pause if full or finished else resume).append(tp)
        if pause:
            consumer.pause(*pause)
        if resume:
            consumer.resume(*resume)
        from kafka.errors import UnsupportedCodecError

        try:
            batch = consumer.poll(timeout_ms=int(self.poll_timeout * 1000))
        except UnsupportedCodecError as err:
            from connectors.kafka.compression import unsupported_codec_message

            raise KafkaSourceError(unsupported_codec_message(err, self.topic)) from None
        n = 0
        for tp in self._tps:
            if tp.partition not in self.end_offsets:
                hw = consumer.highwater(tp)
                if hw is not None:
                    self.end_offsets[tp.partition] = hw
        for tp, records in batch.items():
            end = self.end_offsets.get(tp.partition)
            buf = self._buffers[tp]
            for record in records:
                if end is not None and record.offset >= end:
                    break
                buf.append(record)
                n += 1
        return n

    def __iter__(self):
        self.open()
        try:
            yield from self._records()
        finally:
            self.close()

    def _records(self):
        buffers = self._buffers
        active = list(self._tps)  # partitions not finished
        last_progress = time.monotonic()
        while True:
            if not all(buffers[tp] for tp in active):
                # the merge needs the head of every partition that has records to come
                active = [tp for tp in active if self._unfinished(tp)]
                starving = self._starving(active)
                while starving:
                    if self._fill():
                        last_progress = time.monotonic()
                    elif time.monotonic() - last_progress > self.idle_timeout:
                        where = ", ".join(
                            f"partition {tp.partition} at offset {self._consumer.position(tp)} "
                            f"of {self.end_offsets[tp.partition]}" for tp in starving)
                        raise KafkaSourceError(f"{self.name}: no records for "
                                               f"{self.idle_timeout:.0f} s ({where})")
                    active = [tp for tp in active if self._unfinished(tp)]
                    starving = self._starving(active)
            if not active:
                break
            if len(active) == 1:
                tp = active[0]
            else:
                tp = min(active, key=lambda t: (buffers[t][0].timestamp, t.partition,
                                                buffers[t][0].offset))
            out = self._handle(buffers[tp].popleft())
            if out is not None:
                yield out
        self.n_unlabelled += len(self._pending)
        self._pending.clear()

    def _handle(self, record):
        self.n_messages += 1
        if self._skipping and record.partition in self._skipping:
            if record.timestamp < self.from_timestamp:
                self.n_before_start += 1
                return None
            self._skipping.discard(record.partition)
        decoded = decode_message(record.value, **self.decode_options)
        if isinstance(decoded, DeadLetter):
            self._reject(record, decoded.code, decoded.text)
            return None
        if decoded.x is None:  # label delivery
            x = self._pending.pop(decoded.id, None)
            if x is None:
                self._reject(record, "unknown_id", f"labels for id {decoded.id!r}, which is not "
                                                   "an unlabelled record held for its labels")
                return None
            self.n_label_deliveries += 1
        elif decoded.y is None:  # unlabelled: wait for the labels
            if decoded.id is None:
                self.n_unlabelled += 1
                return None
            pending = self._pending
            if decoded.id in pending:
                self.n_unlabelled += 1
                del pending[decoded.id]
            pending[decoded.id] = decoded.x
            if len(pending) > self.max_pending:
                pending.popitem(last=False)
                self.n_unlabelled += 1
            return None
        else:
            x = decoded.x
        y = decoded.y
        if self.label_names:
            full = dict.fromkeys(self.label_names, False)
            full.update(y)
            y = full
        self.n_read += 1
        self.last_id = decoded.id
        self.last_position = (record.partition, record.offset)
        return x, y

    def _reject(self, record, code: str, text: str) -> None:
        self.n_bad += 1
        self.bad_reasons[code] += 1
        if len(self.bad) < BAD_KEPT:
            err = MalformedRecordError(f"{record.topic}[{record.partition}]", record.offset,
                                       f"{code}: {text}", unit="offset")
            self.bad.append(err)
            log.warning("skipped malformed record: %s", err)

    # -- closing ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the consumer (idempotent)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._done = True
            try:
                consumer.close()
            except Exception as err:  # noqa: BLE001 - closing must not mask the real error
                log.warning("%s: closing the consumer failed: %s", self.name, err)

    def __enter__(self) -> KafkaTopicSource:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self):
        return f"KafkaTopicSource({self.name!r})"


def open_kafka_source(url: str, *, settings: KafkaSettings | None = None,
                      from_timestamp: int | None = None, label_file=None,
                      **options) -> KafkaTopicSource:
    """Open the topic a ``kafka://`` URL names (connected, end offsets captured).

    ``settings`` gives the security options (its brokers are replaced by the URL's);
    ``label_file`` a Mulan XML declaring the labels (wins over the topic's header).
    """
    servers, topic = parse_kafka_url(url)
    settings = (KafkaSettings(servers) if settings is None
                else settings.replace(bootstrap_servers=servers))
    label_names = None
    if label_file is not None:
        from stream.readers import read_label_xml

        label_names = read_label_xml(label_file)
    source = KafkaTopicSource(settings, topic, from_timestamp=from_timestamp,
                              label_names=label_names, **options)
    return source.open()
