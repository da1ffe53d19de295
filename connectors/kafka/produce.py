"""Publish a recorded stream to a Kafka topic: ``labelstream produce SOURCE --topic T``.

Every record of the source (any file ``labelstream replay`` reads, with the same source
options) becomes one JSON message (:func:`connectors.kafka.codec.encode_record`), in the
source's order. The key is the record's id -- the JSONL ``id`` when the file has one,
else the record's index in the stream -- so a given id always lands in the same
partition (the Java client's murmur2 partitioner, computed here); ``--key none`` sends
unkeyed messages, spread round-robin. The first message sent to each partition carries
the source's declared labels in the ``labelstream.label-names`` header, so a replay of
the topic knows them as a replay of the file does.

The producer waits for every acknowledgement (``acks=all``), flushes and closes at the
end; a message the broker refused fails the command.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass

from connectors.kafka.client import KafkaSettings, add_kafka_arguments
from connectors.kafka.compression import add_compression_argument, producer_compression

__all__ = ["ProduceConfig", "KafkaProduceError", "add_produce_arguments", "produce_records",
           "run_produce", "partition_for"]

log = logging.getLogger(__name__)

CONTENT_TYPE = ("content-type", b"application/json")
MAX_ID_LENGTH = 256  # decode_message's default max_id_length


class KafkaProduceError(OSError):
    """Messages were refused or the topic is unusable; the message says why."""


def partition_for(key: bytes, partitions) -> int:
    """The partition the Java client's default partitioner picks for ``key``.

    Examples
    --------
    >>> partition_for(b"42", [0, 1, 2])
    1
    """
    from kafka.partitioner.default import murmur2

    ordered = sorted(partitions)
    return ordered[(murmur2(key) & 0x7FFFFFFF) % len(ordered)]


@dataclass(frozen=True)
class ProduceConfig:
    """Everything ``labelstream produce`` was asked to do."""

    source: object  # connectors.sources.SourceSpec
    settings: KafkaSettings
    topic: str
    key: str = "id"
    limit: int | None = None
    partitions: int | None = None
    compression_type: str = "none"
    json: bool = False
    quiet: bool = False

    def __post_init__(self):
        if self.key not in ("id", "none"):
            raise ValueError(f"--key must be id or none, got {self.key!r}")
        if not self.topic:
            raise ValueError("--topic is empty")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"--limit must be >= 0, got {self.limit}")
        if self.partitions is not None and self.partitions < 1:
            raise ValueError(f"--partitions must be >= 1, got {self.partitions}")

    @classmethod
    def from_args(cls, args) -> ProduceConfig:
        from connectors.sources import SourceSpec

        source = SourceSpec(
            path=args.source, labels=args.labels, label_file=args.label_file,
            label_columns=tuple(args.label_column) if args.label_column else None,
            format=args.format, skip_bad=args.skip_bad, shuffle=args.shuffle)
        return cls(source=source, settings=KafkaSettings.from_args(args), topic=args.topic,
                   key=args.key, limit=args.limit, partitions=args.partitions,
                   compression_type=args.compression_type,
                   json=args.json, quiet=args.quiet)


def add_produce_arguments(parser) -> None:
    """The flags of ``labelstream produce`` (source options as in ``replay``)."""
    parser.add_argument("source", metavar="SOURCE",
                        help="ARFF (Mulan or MEKA, dense or sparse), LIBSVM/XMC, JSONL or CSV "
                             "file, gzip or not")
    parser.add_argument("--topic", required=True, help="the topic to publish to")
    parser.add_argument("--key", choices=("id", "none"), default="id",
                        help="message key: the record id (JSONL id, else its index) or none")
    parser.add_argument("--partitions", type=int, default=None, metavar="N",
                        help="create the topic with N partitions if it does not exist "
                             "(without it, a missing topic is an error)")
    add_compression_argument(parser, what="the record batches")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="stop after N records")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--labels", type=int, default=None, metavar="N",
                       help="label columns, MEKA sign: N>0 first N, N<0 last |N|")
    group.add_argument("--label-file", default=None, metavar="XML",
                       help="Mulan XML naming the labels (wins over -C in the file)")
    group.add_argument("--label-column", action="append", default=None, metavar="NAME",
                       help="CSV: a label column by name (repeat for each)")
    parser.add_argument("--format", choices=("arff", "libsvm", "jsonl", "csv"), default=None,
                        help="file format, when the suffix does not tell")
    parser.add_argument("--shuffle", type=int, default=None, metavar="SEED",
                        help="publish in a seeded random order (loads the file into memory)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="count and skip malformed records instead of stopping")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add_kafka_arguments(parser)


def _ensure_topic(settings: KafkaSettings, topic: str, partitions: int | None) -> None:
    from connectors.kafka.client import KafkaTopicError, ensure_topics

    try:
        missing = ensure_topics(settings, [topic], partitions)
    except KafkaTopicError as err:
        raise KafkaProduceError(str(err)) from None
    if missing and partitions is None:
        raise KafkaProduceError(f"topic {topic!r} does not exist; pass --partitions N to "
                                "create it")


def produce_records(records, producer, topic: str, partitions, *, key: str = "id",
                    ids=None, label_names=None, limit: int | None = None,
                    on_progress=None, progress_interval: float = 0.5) -> dict:
    """Send ``(x, y)`` records to ``topic``; returns ``{"records", "bytes", "seconds"}``.

    Parameters
    ----------
    records
        Iterable of ``(x, y)``.
    producer
        A ``KafkaProducer`` (flushed, not closed, here).
    partitions
        The topic's partition numbers.
    key
        ``"id"``: key each message by its record id; ``"none"``: no key.
    ids
        Called after each record is read, returns its id or ``None`` (then the index as a
        string is the id).
    label_names
        Declared labels, sent in a header on the first message to each partition.
    """
    from connectors.kafka.codec import encode_record, label_names_header

    partitions = sorted(partitions)
    headered: set = set()
    label_header = label_names_header(label_names) if label_names else None
    failures = []

    def failed(exc):
        failures.append(exc)

    n = n_bytes = 0
    start = time.perf_counter()
    last_tick = time.monotonic()
    for x, y in records:
        if limit is not None and n >= limit:
            break
        record_id = ids() if ids is not None else None
        if record_id is None:
            record_id = str(n)
        value = encode_record(x, y, record_id)
        if key == "id":
            key_bytes = str(record_id).encode("utf-8")
            partition = partition_for(key_bytes, partitions)
        else:
            key_bytes = None
            partition = partitions[n % len(partitions)]
        headers = [CONTENT_TYPE]
        if label_header is not None and partition not in headered:
            headered.add(partition)
            headers.append(label_header)
        producer.send(topic, value=value, key=key_bytes, headers=headers,
                      partition=partition).add_errback(failed)
        n += 1
        n_bytes += len(value)
        if failures:
            break
        if on_progress is not None and n % 256 == 0:
            now = time.monotonic()
            if now - last_tick >= progress_interval:
                last_tick = now
                elapsed = time.perf_counter() - start
                on_progress({"records": n, "records_per_second": n / max(elapsed, 1e-9)})
    producer.flush()
    seconds = time.perf_counter() - start
    if failures:
        raise KafkaProduceError(f"the broker refused a message to {topic!r}: {failures[0]} "
                                f"({len(failures)} failed)")
    return {"records": n, "bytes": n_bytes, "seconds": seconds}


def run_produce(cfg: ProduceConfig, out=None) -> dict:
    """Run ``labelstream produce`` as configured; returns the summary that was printed."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from connectors.progress import ProgressLine
    from connectors.sources import ShuffledSource, open_source

    out = out if out is not None else sys.stdout
    records, name = open_source(cfg.source)
    total = None
    if isinstance(records, ShuffledSource):
        iter(records)
        total = len(records)
    if cfg.limit is not None:
        total = min(total, cfg.limit) if total else cfg.limit
    _ensure_topic(cfg.settings, cfg.topic, cfg.partitions)
    ids = None
    if cfg.source.shuffle is None and hasattr(records, "last_id"):
        def ids():  # the JSONL reader's id of the record just read, when usable as a key
            value = records.last_id
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                return None
            value = str(value)
            return value if 0 < len(value) <= MAX_ID_LENGTH else None
    from connectors.kafka.crc32c import use_compiled_crc32c

    use_compiled_crc32c()
    try:
        producer = KafkaProducer(**cfg.settings.producer_config(
            allow_auto_create_topics=False,
            compression_type=producer_compression(cfg.compression_type)))
    except KafkaError as err:
        raise KafkaProduceError(cfg.settings.unreachable(err)) from None
    bar = ProgressLine(total=total, enabled=False if cfg.quiet else None, label="produce")
    try:
        partitions = producer.partitions_for(cfg.topic)
        if not partitions:
            raise KafkaProduceError(f"topic {cfg.topic!r} has no partitions")
        stats = produce_records(records, producer, cfg.topic, partitions, key=cfg.key, ids=ids,
                                label_names=getattr(records, "label_names", None),
                                limit=cfg.limit, on_progress=bar.update)
    except KafkaError as err:
        raise KafkaProduceError(f"{cfg.topic}: {err}") from None
    finally:
        bar.close()
        producer.close()
    seconds = stats["seconds"]
    summary = {"source": name, "topic": cfg.topic, "bootstrap_servers":
               ",".join(cfg.settings.bootstrap_servers), "partitions": len(partitions),
               "records": stats["records"], "bytes": stats["bytes"],
               "bad_records": getattr(records, "n_bad", 0), "seconds": seconds,
               "records_per_second": stats["records"] / seconds if seconds > 0 else None}
    for err in getattr(records, "bad", [])[:5]:
        print(f"labelstream: skipped malformed record: {err}", file=sys.stderr)
    if cfg.json:
        print(json.dumps(summary), file=out)
    else:
        rate = summary["records_per_second"] or 0.0
        print(f"produced {summary['records']:,} records ({summary['bytes'] / 1e6:,.1f} MB) "
              f"from {name} to {cfg.topic} ({len(partitions)} partition(s)) in "
              f"{seconds:.2f} s = {rate:,.0f} records/s", file=out)
        if summary["bad_records"]:
            print(f"skipped {summary['bad_records']} malformed records (--skip-bad)", file=out)
    return summary
