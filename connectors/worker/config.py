"""What ``labelstream worker`` was asked to do: :class:`WorkerConfig`, built once at the CLI edge.

:func:`add_worker_arguments` adds the flags to an argparse parser and
:meth:`WorkerConfig.from_args` reads them back; library code takes a :class:`WorkerConfig`.
The configuration says *where* secrets are (the checkpoint key's environment variable or
file, the SASL password's), never a secret, so it can be printed and logged.

Examples
--------
>>> from connectors.kafka.client import KafkaSettings
>>> cfg = WorkerConfig(KafkaSettings("127.0.0.1:9092"), "records", learner="br")
>>> cfg.mode
'assign'
>>> cfg.checkpoint_name(None), cfg.checkpoint_name(3)
('records', 'records.p3')
>>> WorkerConfig(KafkaSettings("h:1"), "t", checkpoint_every=0)
Traceback (most recent call last):
...
ValueError: --checkpoint-every must be >= 1, got 0
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field

from connectors.alerts.config import AlertConfig, add_alert_arguments
from connectors.kafka.client import KafkaSettings, add_kafka_arguments
from connectors.kafka.compression import add_compression_argument

__all__ = ["WorkerConfig", "add_worker_arguments", "WORKER_EPILOG", "LABEL_DRIFT"]

LABEL_DRIFT = ("cardinality", "prevalence", "correlation")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a :class:`~connectors.worker.loop.Worker` needs.

    Parameters
    ----------
    settings
        Kafka brokers, TLS and SASL (:class:`~connectors.kafka.client.KafkaSettings`).
    topic
        The input topic.
    group
        Consumer group id: workers of one group split the topic's partitions (Kafka's
        group protocol). ``None``: this worker assigns itself every partition and its
        checkpoint alone holds the offsets.
    predictions_topic, dead_letter_topic
        Where predictions and refused messages go (``None``: not published, only
        counted). Created, with the input's partition count, when missing.
    compression_type
        The codec of the output record batches: ``"none"``, ``"gzip"``, ``"snappy"``,
        ``"lz4"`` or ``"zstd"`` (:mod:`connectors.kafka.compression`). The input may use
        any of them whatever this says.
    checkpoint_dir
        Directory of the checkpoints (``None``: no checkpoints, every start is fresh).
    checkpoint_key_env, checkpoint_key_file
        Where the checkpoint HMAC key is (default: the environment variable
        ``LABELSTREAM_CHECKPOINT_KEY``).
    checkpoint_every, checkpoint_interval
        A checkpoint is due after this many messages or this many seconds, whichever first.
        A checkpoint pickles the whole state on the loop's thread (tens of milliseconds
        for a model of a few MB), so the record count is what keeps its cost per record
        small; fewer records between checkpoints means fewer predictions repeated after
        a crash (learning is exactly once either way).
    learner, seed, learner_options
        The learner (:func:`learners.registry.make_learner`), its seed and its constructor
        options (``(("robust", 0.5),)`` from ``--robust 0.5``). A model resumed from a
        checkpoint keeps the options it was made with.
    label_shard
        A :class:`~connectors.worker.label_shard.LabelShard`: learn and predict only this
        shard's labels and publish partial predictions for ``labelstream merge``
        (``--label-shard I/N``); ``None``: every label.
    labels_topic
        A second input topic of label deliveries ``{"id", "labels"}`` (annotators'
        answers, ground truth that comes later), joined by id to the held records. Key
        both topics by record id with the same number of partitions: partition ``p`` of
        one joins partition ``p`` of the other (a group uses the range assignor so that
        they stay together). Labels for an id not held yet wait (bounded by
        ``max_pending``, for ``pending_timeout``) for their record; the ones that never
        meet it become dead letters ``unknown_id``, labels for a record already expired
        or evicted dead letters ``expired_id``. Its offsets are in the checkpoint with
        the input's.
    label_budget, query, query_seed, queries_topic
        Active learning: of the unlabelled records that carry an id, a
        :class:`~stream.active.LabelQuery` (budget, strategy, seed) asks for the labels of
        some; their prediction says ``"query": true`` and, with ``queries_topic``, the
        record itself goes there for annotators. Labels delivered for any held record are
        learned. The query's state (its token bucket) is in the checkpoint.
    window, detector, label_drift, alerts
        Sliding-window size of the metrics, the error drift detector, the label-structure
        detectors and the alert delivery, as in ``labelstream replay``.
    max_labels
        Most distinct labels a model learns; a record or delivery bringing more is a dead
        letter ``label_cap``.
    max_pending, pending_timeout
        Unlabelled records held for their labels (by id): at most this many, for at most
        this many seconds; the oldest beyond either are dropped and counted, never learned.
    model_per_partition
        One model per partition, each with its own checkpoint (which follows the partition
        to whichever worker of the group gets it).
    worker_id
        Names the checkpoint of a group worker that has one model for all its partitions
        (default: the host name); must be stable across restarts and unique in the group.
    poll_timeout, max_poll_records
        Longest wait of one poll (seconds) and most messages it returns. A learner with a
        batch path learns a poll's records together: larger polls cost less per record
        (and kafka-python fetches ahead only once a poll has drained what it fetched).
    session_timeout, heartbeat_interval
        Group membership timing, seconds (tansu's join waits about half the session).
    stop_at_end
        Stop once every partition reaches the end (high-water mark) seen at the start.
    idle_timeout
        Stop after this many seconds without a message (``None``: never), counted from
        the first group assignment (the warm-up and the first join do not count).
    max_message_bytes
        Larger message values are dead letters ``too_large``.
    decode_limits
        Other limits of :func:`~connectors.kafka.codec.decode_message` as ``(name,
        value)`` pairs, e.g. ``(("max_features", 500),)``.
    metrics_port, metrics_host
        Serve Prometheus ``/metrics`` there (``None``: no endpoint; 0: any free port).
    status_port, status_host, status_token_env, status_token_file
        Serve the live status page (:mod:`connectors.status`) there (``None``: no page; 0:
        any free port). Its token is read from the variable or file named
        (:func:`~connectors.status.token.load_status_token`; default
        ``LABELSTREAM_STATUS_TOKEN`` if set) and is required off loopback.
    json_summary
        Print the final summary as one JSON object.
    """

    settings: KafkaSettings
    topic: str
    group: str | None = None
    predictions_topic: str | None = None
    dead_letter_topic: str | None = None
    compression_type: str = "none"
    checkpoint_dir: str | None = None
    checkpoint_key_env: str | None = None
    checkpoint_key_file: str | None = None
    checkpoint_every: int = 10_000
    checkpoint_interval: float = 30.0
    learner: str = "ihomer"
    seed: int | None = None
    learner_options: tuple = ()  # (name, value) pairs for the learner's constructor
    label_budget: float | None = None  # active learning: share of records to ask labels of
    query: str = "uncertainty"
    query_seed: int = 0
    queries_topic: str | None = None
    labels_topic: str | None = None
    label_shard: object = None  # connectors.worker.label_shard.LabelShard, or None
    window: int = 1000
    detector: str = "adwin"
    label_drift: tuple = LABEL_DRIFT
    alerts: AlertConfig | None = None
    max_labels: int = 10_000
    max_pending: int = 100_000
    pending_timeout: float = 3600.0
    model_per_partition: bool = False
    worker_id: str | None = None
    poll_timeout: float = 0.2
    max_poll_records: int = 2000
    session_timeout: float = 10.0
    heartbeat_interval: float | None = None
    stop_at_end: bool = False
    idle_timeout: float | None = None
    max_message_bytes: int = 1_000_000
    decode_limits: tuple = ()
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    status_port: int | None = None
    status_host: str = "127.0.0.1"
    status_token_env: str | None = None
    status_token_file: str | None = None
    json_summary: bool = False
    client_id: str = field(default="labelstream-worker")

    def __post_init__(self):
        if not self.topic:
            raise ValueError("--topic is empty")
        for name in ("checkpoint_every", "max_labels", "max_pending", "max_poll_records",
                     "window", "max_message_bytes"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        for name in ("checkpoint_interval", "pending_timeout", "poll_timeout",
                     "session_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {value}")
        if self.idle_timeout is not None and not self.idle_timeout > 0:
            raise ValueError(f"--idle-timeout must be > 0, got {self.idle_timeout}")
        if self.heartbeat_interval is not None and not (
                0 < self.heartbeat_interval < self.session_timeout):
            raise ValueError("--heartbeat-interval must be > 0 and below --session-timeout")
        if self.checkpoint_key_env and self.checkpoint_key_file:
            raise ValueError("give the checkpoint key one way: --checkpoint-key-env or "
                             "--checkpoint-key-file")
        if self.metrics_port is not None and not 0 <= self.metrics_port < 65536:
            raise ValueError(f"--metrics-port must be 0..65535, got {self.metrics_port}")
        if self.status_port is not None and not 0 <= self.status_port < 65536:
            raise ValueError(f"--status-port must be 0..65535, got {self.status_port}")
        if self.status_token_env and self.status_token_file:
            raise ValueError("give the status-page token one way: --status-token-env or "
                             "--status-token-file")
        outputs = {self.predictions_topic, self.dead_letter_topic} - {None}
        from connectors.kafka.compression import CODECS

        if self.compression_type not in CODECS:
            raise ValueError(f"--compression-type must be one of {', '.join(CODECS)}, got "
                             f"{self.compression_type!r}")
        if self.topic in outputs:
            raise ValueError("the predictions or dead-letter topic is the input topic")
        if self.labels_topic is not None and self.labels_topic in (
                outputs | {self.topic, self.queries_topic}):
            raise ValueError("--labels-topic must be a topic of its own (not the input, "
                             "predictions, dead-letter or queries topic)")
        if (self.predictions_topic and self.predictions_topic == self.dead_letter_topic):
            raise ValueError("predictions and dead letters need different topics")
        object.__setattr__(self, "label_drift", tuple(self.label_drift))
        limits = tuple(sorted(dict(self.decode_limits).items()))
        known = {"max_features", "max_labels", "max_label_length", "max_feature_name_length",
                 "max_id_length"}
        for name, value in limits:
            if name not in known:
                raise ValueError(f"unknown decode limit {name!r}; one of {sorted(known)}")
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"decode limit {name} must be an integer >= 1")
        object.__setattr__(self, "decode_limits", limits)

    @property
    def mode(self) -> str:
        """``"group"`` (Kafka's group protocol) or ``"assign"`` (every partition, no group)."""
        return "assign" if self.group is None else "group"

    def new_query(self):
        """A fresh :class:`~stream.active.LabelQuery`, or ``None`` without a budget."""
        if self.label_budget is None:
            return None
        from stream.active import LabelQuery

        return LabelQuery(self.label_budget, self.query, seed=self.query_seed)

    def new_learner(self):
        """A fresh learner as configured (name, seed, options)."""
        from learners.registry import make_learner

        return make_learner(self.learner, seed=self.seed, **dict(self.learner_options))

    def checkpoint_name(self, partition: int | None) -> str:
        """The checkpoint name of one partition's model, or of the worker's single model.

        Per-partition names depend on the group and topic only, so any worker of the group
        finds a partition's model; a single model's name also holds the worker id.
        """
        base = _safe(self.topic) if self.group is None else \
            f"{_safe(self.group)}.{_safe(self.topic)}"
        if self.label_shard is not None:  # shards may share a checkpoint directory
            base += f".shard{self.label_shard.index}of{self.label_shard.count}"
        if partition is not None:
            return f"{base}.p{int(partition)}"
        if self.group is None:
            return base
        return f"{base}.{_safe(self.worker_id or socket.gethostname())}"

    @classmethod
    def from_args(cls, args) -> WorkerConfig:
        """Read the flags of :func:`add_worker_arguments` (``ValueError`` on a bad mix)."""
        label_drift = tuple(x.strip() for x in args.label_drift.split(",") if x.strip())
        if label_drift in (("none",), ("off",)):
            label_drift = ()
        unknown = [x for x in label_drift if x not in LABEL_DRIFT]
        if unknown:
            raise ValueError(f"--label-drift: unknown {', '.join(unknown)}; choose from "
                             f"{', '.join(LABEL_DRIFT)} or none")
        from drift.detectors import make_detector
        from learners.registry import LEARNERS

        make_detector(args.detector)
        if args.learner not in LEARNERS:
            raise ValueError(f"unknown learner {args.learner!r}; choose one of: "
                             f"{', '.join(sorted(LEARNERS))}")
        from connectors.learner_options import learner_options

        options = tuple(learner_options(args, args.learner).items())
        from connectors.label_arrival import LabelArrival

        arrival = LabelArrival.from_args(args)
        if args.queries_topic and arrival.budget is None:
            raise ValueError("--queries-topic needs --label-budget B (which records to ask "
                             "labels for)")
        if arrival.query == "cluster-disagreement" and args.learner not in ("ihomer",):
            raise ValueError(f"--query cluster-disagreement needs a learner with experts "
                             f"(ihomer), not {args.learner}: use uncertainty or random")
        alerts = AlertConfig.from_args(args)
        shard = None
        if getattr(args, "label_shard", None) is not None:
            from connectors.worker.label_shard import LabelShard

            shard = LabelShard.parse(args.label_shard)
            if not args.predictions_topic:
                raise ValueError("--label-shard publishes partial predictions for "
                                 "labelstream merge: give --predictions-topic")
            if arrival.budget is not None:
                raise ValueError("--label-budget with --label-shard: each shard would ask "
                                 "for the labels of records of its own choosing; run the "
                                 "budget on an unsharded worker")
        return cls(
            settings=KafkaSettings.from_args(args), topic=args.topic, group=args.group,
            predictions_topic=args.predictions_topic, dead_letter_topic=args.dead_letter_topic,
            compression_type=args.compression_type,
            checkpoint_dir=args.checkpoint_dir, checkpoint_key_env=args.checkpoint_key_env,
            checkpoint_key_file=args.checkpoint_key_file,
            checkpoint_every=args.checkpoint_every,
            checkpoint_interval=args.checkpoint_interval, learner=args.learner,
            seed=args.seed, learner_options=options, label_budget=arrival.budget,
            query=arrival.query, query_seed=arrival.seed, queries_topic=args.queries_topic,
            labels_topic=args.labels_topic, label_shard=shard,
            window=args.window, detector=args.detector,
            label_drift=label_drift, alerts=alerts if alerts.enabled else None,
            max_labels=args.max_labels, max_pending=args.max_pending,
            pending_timeout=args.pending_timeout,
            model_per_partition=args.model_per_partition, worker_id=args.worker_id,
            poll_timeout=args.poll_timeout, max_poll_records=args.max_poll_records,
            session_timeout=args.session_timeout, stop_at_end=args.stop_at_end,
            idle_timeout=args.idle_timeout, max_message_bytes=args.max_message_bytes,
            metrics_port=args.metrics_port, metrics_host=args.metrics_host,
            status_port=args.status_port, status_host=args.status_host,
            status_token_env=args.status_token_env, status_token_file=args.status_token_file,
            json_summary=args.json)


WORKER_EPILOG = """\
message format (JSON values):
  {"id": ..., "features": {name: number} | [numbers], "labels": [...]}   predicted, learned
  {"id": ..., "features": ..., "labels": null}        predicted; held for its labels
  {"id": ..., "labels": [...]}                         the labels of that held record
  Predictions: {"id", "source": {"topic","partition","offset"}, "labels", "scores",
  "model": {"learner","records_learned"}}, keyed like the input. Anything else goes to
  the dead-letter topic unchanged, with the reason in the dlq.reason header.

checkpoints and restarts:
  Every --checkpoint-every messages or --checkpoint-interval seconds the worker flushes
  its outputs, writes one atomic snapshot (model, metrics, drift detectors, held records,
  next offset of each partition) signed with HMAC-SHA256, then commits the offsets (with
  --group). On start it loads the snapshot and seeks to its offsets, so after a crash
  every record is learned exactly once; predictions are at-least-once (each names its
  source offset). The key comes from $LABELSTREAM_CHECKPOINT_KEY, --checkpoint-key-env
  NAME or --checkpoint-key-file PATH (never the command line); a snapshot that fails its
  check is refused.

scale-out:
  Without --group the worker reads every partition itself. With --group, workers of the
  group split the partitions; add --model-per-partition to give each partition its own
  model, whose checkpoint (in a directory all workers share) follows the partition.
  For more labels than one worker can hold, --label-shard I/N learns only shard I of N
  of the labels (a stable hash of the label name); run N shards, each its own --group
  (or none) on the same --topic, and `labelstream merge --shards N` joins their partial
  predictions into full ones and scores them.

stopping:
  SIGTERM or SIGINT: the message in hand is finished, a final checkpoint written, offsets
  committed, everything closed, exit status 0. --stop-at-end stops once the partitions
  reach the end seen at the start; --idle-timeout after a quiet spell.

examples:
  LABELSTREAM_CHECKPOINT_KEY=$(cat /run/secrets/ckpt) labelstream worker \\
      --bootstrap-servers kafka:9092 --topic records --predictions-topic predictions \\
      --dead-letter-topic records-dlq --checkpoint-dir /var/lib/labelstream --learner br
"""


def add_worker_arguments(parser) -> None:
    """The flags of ``labelstream worker``."""
    parser.add_argument("--topic", required=True, help="the input topic")
    parser.add_argument("--group", default=None, metavar="ID",
                        help="consumer group: workers of a group split the partitions "
                             "(default: no group, read every partition)")
    parser.add_argument("--predictions-topic", default=None, metavar="TOPIC",
                        help="publish predictions here (default: not published)")
    parser.add_argument("--dead-letter-topic", default=None, metavar="TOPIC",
                        help="publish refused messages here (default: counted and logged)")
    add_compression_argument(parser, what="the predictions and dead letters")
    parser.add_argument("--learner", default="ihomer", help="learner name (see the list above)")
    parser.add_argument("--seed", type=int, default=None, help="seed for stochastic learners")
    from connectors.learner_options import add_learner_option_arguments

    add_learner_option_arguments(parser)
    from connectors.label_arrival import add_label_query_arguments

    group = parser.add_argument_group("labels on request (active learning)")
    add_label_query_arguments(group, learned_only=False)
    group.add_argument("--queries-topic", default=None, metavar="TOPIC",
                       help="publish the records --label-budget asks labels for here (the "
                            "input message as it came, header labelstream.query=1)")
    group.add_argument("--labels-topic", default=None, metavar="TOPIC",
                       help="also read label deliveries {\"id\", \"labels\"} from this "
                            "topic (keyed by id, as many partitions as --topic) and learn each "
                            "held record when its labels come; labels that come before their "
                            "record wait for it up to --pending-timeout")
    parser.add_argument("--model-per-partition", action="store_true",
                        help="one model (and checkpoint) per partition")
    parser.add_argument("--label-shard", default=None, metavar="I/N",
                        help="learn and predict only shard I of N of the labels (CRC-32 of "
                             "the label name modulo N) and publish partial predictions for "
                             "`labelstream merge --shards N`; needs --predictions-topic")
    parser.add_argument("--worker-id", default=None, metavar="NAME",
                        help="with --group and one model: names this worker's checkpoint "
                             "(default: the host name)")
    ck = parser.add_argument_group("checkpoints")
    ck.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                    help="where checkpoints live (default: none; every start is fresh)")
    ck.add_argument("--checkpoint-every", type=int, default=10_000, metavar="N",
                    help="a checkpoint every N messages ...")
    ck.add_argument("--checkpoint-interval", type=float, default=30.0, metavar="SECONDS",
                    help="... or every SECONDS, whichever comes first")
    ck.add_argument("--checkpoint-key-env", default=None, metavar="NAME",
                    help="environment variable holding the checkpoint HMAC key "
                         "(default: LABELSTREAM_CHECKPOINT_KEY)")
    ck.add_argument("--checkpoint-key-file", default=None, metavar="PATH",
                    help="file holding the checkpoint HMAC key")
    lim = parser.add_argument_group("limits")
    lim.add_argument("--max-labels", type=int, default=10_000, metavar="N",
                     help="most distinct labels learned; records bringing more are dead "
                          "letters (label_cap)")
    lim.add_argument("--max-pending", type=int, default=100_000, metavar="N",
                     help="most unlabelled records held for their labels")
    lim.add_argument("--pending-timeout", type=float, default=3600.0, metavar="SECONDS",
                     help="longest an unlabelled record is held for its labels")
    lim.add_argument("--max-message-bytes", type=int, default=1_000_000, metavar="N",
                     help="larger message values are dead letters (too_large)")
    run = parser.add_argument_group("running")
    run.add_argument("--poll-timeout", type=float, default=0.2, metavar="SECONDS",
                     help="longest wait of one poll")
    run.add_argument("--max-poll-records", type=int, default=2000, metavar="N",
                     help="most messages one poll returns")
    run.add_argument("--session-timeout", type=float, default=10.0, metavar="SECONDS",
                     help="group session timeout (a dead worker's partitions move after it)")
    run.add_argument("--stop-at-end", action="store_true",
                     help="stop once every partition reaches the end seen at the start")
    run.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS",
                     help="stop after SECONDS without a message, counted from the first "
                          "group assignment (the warm-up and the join do not count)")
    run.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                     help="serve Prometheus /metrics on this port (0: any free port)")
    run.add_argument("--metrics-host", default="127.0.0.1", metavar="ADDR",
                     help="address of the /metrics endpoint")
    run.add_argument("--json", action="store_true",
                     help="print the final summary as one JSON object")
    from connectors.status.token import add_token_arguments

    page = parser.add_argument_group("status page")
    page.add_argument("--status-port", type=int, default=None, metavar="PORT",
                      help="serve the live status page (throughput, lag, prequential "
                           "metrics, drift events, iHOMER's label clusters) on this port; "
                           "0: any free port, logged as worker.status_serving url=... "
                           "(default: no page)")
    page.add_argument("--status-host", default="127.0.0.1", metavar="ADDR",
                      help="address of the status page; any but loopback needs a token")
    add_token_arguments(page, "status")
    drift = parser.add_argument_group("drift detection")
    drift.add_argument("--window", type=int, default=1000, metavar="N",
                       help="records in the sliding-window metrics")
    drift.add_argument("--detector", default="adwin", metavar="SPEC",
                       help="detector of the per-record error: NAME or NAME:param=value,... "
                            "('none' turns it off)")
    drift.add_argument("--label-drift", default=",".join(LABEL_DRIFT), metavar="LIST",
                       help="label-structure detectors, comma-separated from "
                            f"{', '.join(LABEL_DRIFT)}; 'none' turns them off")
    add_alert_arguments(parser)
    add_kafka_arguments(parser)
