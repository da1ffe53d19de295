"""``labelstream merge``: join label shards' partial predictions from Kafka, restartably.

The loop reads every partition of the partial-predictions topic (the ``N`` shards'
``--predictions-topic``), hands each message to a :class:`~connectors.merge.merger.ShardMerger`
and publishes the merged predictions to ``--output-topic`` (keyed like the input). Refused
messages go to ``--dead-letter-topic`` with a reason code header, as the worker's do.

Checkpoints, every ``--checkpoint-every`` messages or ``--checkpoint-interval`` seconds,
in the worker's order: every merged prediction so far acknowledged -> the merger (metrics,
records waiting for shards, the last offset taken from each shard) and the next offset of
each partition written atomically, signed -> offsets committed to ``--group`` (when given).
A restart loads the snapshot and seeks to its offsets: after a kill -9 each record is
scored once, and the merged predictions since the last checkpoint are published again
(at-least-once, recognisable by ``source``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

from connectors.worker.logfmt import kv

__all__ = ["MergeConfig", "add_merge_arguments", "run_merge"]

log = logging.getLogger(__name__)

#: Version of the merge's checkpoint content.
MERGE_CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class MergeConfig:
    """What ``labelstream merge`` does (see ``labelstream merge --help``)."""

    settings: object  # connectors.kafka.client.KafkaSettings
    topic: str
    shards: int
    output_topic: str | None = None
    dead_letter_topic: str | None = None
    group: str | None = None
    checkpoint_dir: str | None = None
    checkpoint_key_env: str | None = None
    checkpoint_key_file: str | None = None
    checkpoint_every: int = 10_000
    checkpoint_interval: float = 30.0
    shard_timeout: float = 60.0
    max_pending: int = 100_000
    window: int = 1000
    idle_timeout: float | None = None
    json_summary: bool = False

    def __post_init__(self):
        if self.shards < 1:
            raise ValueError(f"--shards must be >= 1, got {self.shards}")
        if self.output_topic and self.output_topic in (self.topic, self.dead_letter_topic):
            raise ValueError("--output-topic must differ from --topic and --dead-letter-topic")
        for name in ("checkpoint_every", "max_pending", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        for name in ("checkpoint_interval", "shard_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0")
        if self.idle_timeout is not None and not self.idle_timeout > 0:
            raise ValueError("--idle-timeout must be > 0")

    @property
    def checkpoint_name(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.topic)
        return f"merge.{safe}.{self.shards}shards"

    @classmethod
    def from_args(cls, args) -> MergeConfig:
        from connectors.kafka.client import KafkaSettings

        return cls(settings=KafkaSettings.from_args(args), topic=args.topic,
                   shards=args.shards, output_topic=args.output_topic,
                   dead_letter_topic=args.dead_letter_topic, group=args.group,
                   checkpoint_dir=args.checkpoint_dir,
                   checkpoint_key_env=args.checkpoint_key_env,
                   checkpoint_key_file=args.checkpoint_key_file,
                   checkpoint_every=args.checkpoint_every,
                   checkpoint_interval=args.checkpoint_interval,
                   shard_timeout=args.shard_timeout, max_pending=args.max_pending,
                   window=args.window, idle_timeout=args.idle_timeout, json_summary=args.json)


MERGE_EPILOG = """\
how it fits:
  N workers, each `labelstream worker --label-shard I/N --predictions-topic PARTIALS`
  (its own --group, or none) on the same input topic, learn one share of the labels
  each. `labelstream merge --topic PARTIALS --shards N --output-topic PREDICTIONS` joins
  the N partial predictions of each record (by source topic, partition and offset) into
  the full one, and scores it over every label when the shards sent its truth.

late and bad shards:
  A record still missing a shard --shard-timeout seconds after its first partial came
  (or pushed out by --max-pending newer ones) is published with "missing_shards" and not
  scored; counted as incomplete, its late partials counted as late. A shard's repeated
  partials (after its restart) are counted as duplicates and dropped. Partials from a
  merge of another N, or naming a label of another shard, go to --dead-letter-topic
  (reasons shard_count, shard_index, foreign_label, not_partial).

examples:
  labelstream merge --bootstrap-servers kafka:9092 --topic partials --shards 3 \\
      --output-topic predictions --checkpoint-dir /var/lib/labelstream-merge --json
"""


def add_merge_arguments(parser) -> None:
    """The flags of ``labelstream merge``."""
    from connectors.kafka.client import add_kafka_arguments

    parser.add_argument("--topic", required=True,
                        help="the partial-predictions topic the shards publish to")
    parser.add_argument("--shards", type=int, required=True, metavar="N",
                        help="how many label shards (the N of every --label-shard I/N)")
    parser.add_argument("--output-topic", default=None, metavar="TOPIC",
                        help="publish the merged predictions here (default: only scored)")
    parser.add_argument("--dead-letter-topic", default=None, metavar="TOPIC",
                        help="publish refused partials here (default: counted and logged)")
    parser.add_argument("--group", default=None, metavar="ID",
                        help="also commit the offsets to this consumer group after each "
                             "checkpoint (for lag monitoring; the checkpoint is the truth)")
    parser.add_argument("--shard-timeout", type=float, default=60.0, metavar="S",
                        help="seconds a record waits for its last shard")
    parser.add_argument("--max-pending", type=int, default=100_000, metavar="N",
                        help="records waiting for shards at most (the oldest goes out "
                             "incomplete beyond)")
    parser.add_argument("--window", type=int, default=1000, help="window of the metrics")
    ck = parser.add_argument_group("checkpoints")
    ck.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                    help="signed snapshots here (default: none, a restart starts over)")
    ck.add_argument("--checkpoint-key-env", default=None, metavar="NAME",
                    help="environment variable holding the HMAC key (default "
                         "LABELSTREAM_CHECKPOINT_KEY)")
    ck.add_argument("--checkpoint-key-file", default=None, metavar="PATH",
                    help="file holding the HMAC key")
    ck.add_argument("--checkpoint-every", type=int, default=10_000, metavar="N",
                    help="checkpoint every N messages")
    ck.add_argument("--checkpoint-interval", type=float, default=30.0, metavar="S",
                    help="and at least every S seconds")
    parser.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                        help="stop after S seconds without a message (default: run until "
                             "SIGTERM)")
    parser.add_argument("--json", action="store_true",
                        help="print the final summary as one JSON object")
    add_kafka_arguments(parser)


def _decode(value):
    from connectors.kafka.codec import DeadLetter

    try:
        doc = json.loads(value)
    except (TypeError, ValueError, UnicodeDecodeError):
        return DeadLetter("not_partial", "not JSON: not a partial prediction")
    if not isinstance(doc, dict):
        return DeadLetter("not_partial", "not a JSON object: not a partial prediction")
    return doc


class MergeRun:
    """One run of ``labelstream merge`` (:meth:`run`; :meth:`request_stop` from a signal)."""

    def __init__(self, config: MergeConfig, *, key: bytes | None = None):
        self.config = config
        self._key = key
        self._stop = threading.Event()
        self.stop_reason = None
        self.dead_letters: dict = {}
        self.n_checkpoints = 0

    def request_stop(self, reason: str = "stop requested") -> None:
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def _open_store(self):
        cfg = self.config
        if cfg.checkpoint_dir is None:
            return None
        from connectors.checkpoint import CheckpointStore, load_checkpoint_key

        key = self._key or load_checkpoint_key(cfg.checkpoint_key_env, cfg.checkpoint_key_file)
        return CheckpointStore(cfg.checkpoint_dir, key)

    def _load(self, store):
        from connectors.merge.merger import ShardMerger

        cfg = self.config
        data = store.load(cfg.checkpoint_name) if store is not None else None
        if data is None:
            return ShardMerger(cfg.shards, window_size=cfg.window, max_pending=cfg.max_pending,
                               shard_timeout=cfg.shard_timeout), {}
        if data.get("shards") != cfg.shards:
            raise ValueError(f"the checkpoint {cfg.checkpoint_name} was written by a merge of "
                             f"{data.get('shards')} shards, not {cfg.shards}")
        merger = data["merger"]
        merger.max_pending, merger.shard_timeout = cfg.max_pending, cfg.shard_timeout
        log.info(kv("merge.resumed", merged=merger.counts["merged"], offsets=data["offsets"]))
        return merger, dict(data["offsets"])

    def run(self) -> dict:
        """Merge until stopped (signal, ``--idle-timeout``); the summary."""
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        cfg = self.config
        store = self._open_store()
        merger, offsets = self._load(store)
        consumer = KafkaConsumer(**cfg.settings.consumer_config(group_id=cfg.group))
        producer = KafkaProducer(**cfg.settings.producer_config())
        try:
            deadline = time.monotonic() + 30
            parts = consumer.partitions_for_topic(cfg.topic)
            while not parts and time.monotonic() < deadline and not self._stop.is_set():
                time.sleep(0.2)
                parts = consumer.partitions_for_topic(cfg.topic)
            if not parts:
                raise ValueError(f"topic {cfg.topic!r} has no partitions (does it exist?)")
            tps = [TopicPartition(cfg.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            for tp in tps:
                if tp.partition in offsets:
                    consumer.seek(tp, offsets[tp.partition])
                else:
                    consumer.seek_to_beginning(tp)
            log.info(kv("merge.started", topic=cfg.topic, shards=cfg.shards,
                        partitions=sorted(parts), offsets=offsets))
            self._loop(consumer, producer, merger, offsets, store)
            self._checkpoint(consumer, producer, merger, offsets, store)
        finally:
            producer.close(timeout=10)
            consumer.close(autocommit=False)
        out = merger.summary()
        out.update(stop_reason=self.stop_reason, checkpoints=self.n_checkpoints,
                   dead_letter_reasons=dict(self.dead_letters), offsets=offsets)
        return out

    def _publish(self, producer, merged: list, key) -> None:
        topic = self.config.output_topic
        if topic is None:
            return
        for doc in merged:
            producer.send(topic, key=key, value=_encode(doc))

    def _refuse(self, producer, msg, dead) -> None:
        from connectors.kafka.codec import dead_letter_headers

        self.dead_letters[dead.code] = self.dead_letters.get(dead.code, 0) + 1
        if self.dead_letters[dead.code] <= 5:
            log.warning(kv("merge.dead_letter", reason=dead.code, partition=msg.partition,
                           offset=msg.offset, text=dead.text[:200]))
        if self.config.dead_letter_topic is not None:
            producer.send(self.config.dead_letter_topic, key=msg.key,
                          value=msg.value if msg.value is not None else b"",
                          headers=dead_letter_headers(dead, msg))

    def _loop(self, consumer, producer, merger, offsets, store) -> None:
        cfg = self.config
        since, last_ckpt, last_msg = 0, time.monotonic(), time.monotonic()
        while not self._stop.is_set():
            batch = consumer.poll(timeout_ms=200, max_records=2000)
            now = time.time()
            for tp, records in batch.items():
                for msg in records:
                    if msg.offset < offsets.get(tp.partition, 0):
                        continue
                    doc = _decode(msg.value)
                    dead = doc if not isinstance(doc, dict) else merger.check(doc)
                    if dead is not None:
                        self._refuse(producer, msg, dead)
                    else:
                        self._publish(producer, merger.add(doc, now), msg.key)
                    offsets[tp.partition] = msg.offset + 1
                    since += 1
            if batch:
                last_msg = time.monotonic()
            late = merger.expire(now)
            if late:
                log.warning(kv("merge.incomplete", n=len(late),
                               missing=late[0].get("missing_shards")))
                for doc in late:
                    self._publish(producer, [doc], None)
            if since >= cfg.checkpoint_every or (
                    since and time.monotonic() - last_ckpt >= cfg.checkpoint_interval):
                self._checkpoint(consumer, producer, merger, offsets, store)
                since, last_ckpt = 0, time.monotonic()
            if cfg.idle_timeout is not None and time.monotonic() - last_msg > cfg.idle_timeout:
                self.request_stop(f"idle {cfg.idle_timeout:g} s")

    def _checkpoint(self, consumer, producer, merger, offsets, store) -> None:
        producer.flush()  # every merged prediction so far acknowledged, then the snapshot
        if store is not None:
            store.save(self.config.checkpoint_name, {
                "format": MERGE_CHECKPOINT_FORMAT, "shards": self.config.shards,
                "topic": self.config.topic, "merger": merger, "offsets": dict(offsets)})
        self.n_checkpoints += 1
        log.info(kv("merge.checkpoint", merged=merger.counts["merged"],
                    pending=len(merger.pending), offsets=dict(offsets)))
        if self.config.group is not None and offsets:
            from kafka import TopicPartition
            from kafka.errors import KafkaError
            from kafka.structs import OffsetAndMetadata

            try:  # the checkpoint is the truth: a failed commit is logged, not fatal
                consumer.commit({TopicPartition(self.config.topic, p):
                                 OffsetAndMetadata(o, "", -1) for p, o in offsets.items()},
                                timeout_ms=5000)
            except KafkaError as err:
                log.warning(kv("merge.commit_failed", error=err))


def _encode(doc) -> bytes:
    """A merged prediction as JSON (a score that is not a finite number as ``null``)."""
    import math

    scores = {k: (v if v is not None and math.isfinite(v) else None)
              for k, v in doc["scores"].items()}
    return json.dumps(dict(doc, scores=scores), default=str).encode()


def run_merge(config: MergeConfig) -> dict:
    """Run ``labelstream merge`` until stopped; the summary."""
    return MergeRun(config).run()
