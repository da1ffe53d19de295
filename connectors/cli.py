"""The ``labelstream`` command line.

``labelstream replay`` evaluates a learner prequentially (test-then-train) over a recorded
stream and prints honest metrics, always next to the no-change baseline. Configuration is
parsed once here into frozen dataclasses; library code takes explicit arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import dataclass

from connectors.alerts.config import AlertConfig, add_alert_arguments
from connectors.label_arrival import LabelArrival, add_label_arrival_arguments
from connectors.learner_options import add_learner_option_arguments, learner_options
from connectors.sources import SourceSpec

__all__ = ["main", "build_parser", "ReplayConfig"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_DATA_ERROR, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class ReplayConfig:
    """Everything ``labelstream replay`` was asked to do."""

    source: SourceSpec
    learner: str = "ihomer"
    seed: int | None = None
    limit: int | None = None
    window: int = 1000
    label_delay: int = 0
    report: str | None = None
    report_every: int = 100
    json: bool = False
    quiet: bool = False
    detector: str = "adwin"
    label_drift: tuple = ("cardinality", "prevalence", "correlation")
    alerts: AlertConfig | None = None
    label_noise: object = None  # stream.label_noise.LabelNoise, or None
    learner_options: tuple = ()  # (name, value) pairs for the learner's constructor
    arrival: LabelArrival = LabelArrival()  # label budget and phases
    serve: object = None  # connectors.status.replay_status.ServeConfig (--serve), or None


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and shows a default where it tells something: not
    for flags, options without a default, or help that already names its default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or action.default in (None, False, argparse.SUPPRESS)
                or action.option_strings == [] or isinstance(action.default, bool)):
            return text
        return text + " (default: %(default)s)"


REPLAY_EPILOG = """\
label layout:
  ARFF files name their labels in a Mulan .xml beside them (same stem, else the only .xml
  in the folder) or in MEKA's '-C n' in the relation name; --label-file and --labels
  override that. --labels follows MEKA's sign: 6 = the first 6 attributes (or CSV
  columns) are labels, -6 = the last 6.

drift and alerts:
  The stream's per-record error is watched by --detector (ADWIN by default), the labels'
  structure by --label-drift detectors (label cardinality, per-label prevalence, label
  correlation), and the learner reports its own restructurings. Each detection is a drift
  event (listed at the end, marked on metrics.png, counted in --json) and, with an
  --alert-* option, an alert: a signed webhook, a program given the event on stdin (no
  shell), a JSONL file or a Kafka topic, delivered in the background with a cooldown.

temporal dependence:
  Many benchmark files are sorted by label, so repeating the previous record's label set
  already scores well. Every result shows that 'no-change' baseline and the learner's
  gain over it (kappa-temporal: 0 = no better, 1 = perfect). Use --shuffle SEED to see
  the learner without the file's order (loads the whole file into memory).

examples:
  labelstream replay                                  # embedded Yeast stream, learner ihomer
  labelstream replay data/scene/Scene-meka.arff.gz --learner cc --json
  labelstream replay data/medical/medical.arff --shuffle 1 --report out/medical
  WEBHOOK_SECRET=whsec_... labelstream replay stream.jsonl \
      --alert-webhook https://example.org/hooks/drift --alert-secret-env WEBHOOK_SECRET
"""

LABEL_DRIFT = ("cardinality", "prevalence", "correlation")


def build_parser() -> argparse.ArgumentParser:
    from learners.registry import describe_learners

    parser = argparse.ArgumentParser(
        prog="labelstream",
        description="Streaming multi-label learning: replay recorded streams through "
                    "incremental learners and read prequential metrics.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    rp = sub.add_parser(
        "replay", formatter_class=_Formatter, epilog=REPLAY_EPILOG,
        help="evaluate a learner test-then-train over a recorded stream",
        description="Replay a recorded multi-label stream through a learner, prequentially: "
                    "each record is predicted, scored, then learned.\n\nlearners:\n"
                    + describe_learners(),
    )
    rp.add_argument("source", nargs="?", default=None, metavar="SOURCE",
                    help="ARFF (Mulan or MEKA, dense or sparse), LIBSVM/XMC, JSONL or CSV file, "
                         "gzip or not, or a Kafka topic kafka://HOST:PORT/TOPIC (its history "
                         "up to now); default: the Yeast stream embedded in river")
    rp.add_argument("--learner", default="ihomer", help="learner name (see the list above)")
    rp.add_argument("--seed", type=int, default=None, help="seed for stochastic learners")
    add_learner_option_arguments(rp)
    group = rp.add_mutually_exclusive_group()
    group.add_argument("--labels", type=int, default=None, metavar="N",
                       help="label columns, MEKA sign: N>0 first N, N<0 last |N|")
    group.add_argument("--label-file", default=None, metavar="XML",
                       help="Mulan XML naming the labels (wins over -C in the file)")
    group.add_argument("--label-column", action="append", default=None, metavar="NAME",
                       help="CSV: a label column by name (repeat for each)")
    rp.add_argument("--format", choices=("arff", "libsvm", "jsonl", "csv"), default=None,
                    help="file format, when the suffix does not tell")
    rp.add_argument("--limit", type=int, default=None, metavar="N",
                    help="stop after N records")
    rp.add_argument("--window", type=int, default=1000, metavar="N",
                    help="records in the sliding-window metrics")
    rp.add_argument("--label-delay", type=int, default=0, metavar="N",
                    help="labels reach the learner N records after the prediction")
    rp.add_argument("--label-noise", default=None, metavar="missing=P,flip=Q",
                    help="corrupt the labels the learner learns (each positive dropped with "
                         "probability P, replaced by a wrong label with probability Q) while "
                         "the metrics score against the clean labels: what noise costs")
    rp.add_argument("--noise-seed", type=int, default=0, metavar="SEED",
                    help="seed of --label-noise")
    rp.add_argument("--shuffle", type=int, default=None, metavar="SEED",
                    help="replay in a seeded random order (loads the file into memory)")
    rp.add_argument("--skip-bad", action="store_true",
                    help="count and report malformed records instead of stopping at the first")
    rp.add_argument("--report", default=None, metavar="DIR",
                    help="write metrics.csv, metrics.json and metrics.png into DIR")
    rp.add_argument("--report-every", type=int, default=100, metavar="N",
                    help="a report row every N records")
    rp.add_argument("--json", action="store_true",
                    help="print one JSON object with the final metrics instead of a table")
    rp.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    drift = rp.add_argument_group("drift detection")
    drift.add_argument("--detector", default="adwin", metavar="SPEC",
                       help="detector of the per-record error: NAME or "
                            "NAME:param=value,... ('none' turns it off); one of: "
                            + _detector_names())
    drift.add_argument("--label-drift", default=",".join(LABEL_DRIFT), metavar="LIST",
                       help="label-structure detectors, comma-separated from "
                            f"{', '.join(LABEL_DRIFT)}; 'none' turns them off")
    add_label_arrival_arguments(rp)
    add_alert_arguments(rp)
    _add_kafka_replay_arguments(rp)
    from connectors.status.replay_status import add_serve_arguments

    add_serve_arguments(rp)

    from connectors.kafka.produce import add_produce_arguments

    pp = sub.add_parser(
        "produce", formatter_class=_Formatter, allow_abbrev=False,
        help="publish a recorded stream to a Kafka topic as JSON records",
        description="Publish every record of a file (what replay reads, with the same source "
                    "options) to a Kafka topic as a JSON message {id, features, labels}, "
                    "keyed by the record id, in the file's order.")
    add_produce_arguments(pp)

    from connectors.worker.config import WORKER_EPILOG, add_worker_arguments

    wp = sub.add_parser(
        "worker", formatter_class=_Formatter, allow_abbrev=False, epilog=WORKER_EPILOG,
        help="predict, score and learn a Kafka topic continuously, with checkpoints",
        description="Consume JSON records from a Kafka topic, publish a prediction for each, "
                    "learn them test-then-train (exactly once across restarts, through "
                    "signed checkpoints), watch for drift, and send malformed messages to a "
                    "dead-letter topic.\n\nlearners:\n" + describe_learners())
    add_worker_arguments(wp)

    from connectors.merge.runner import MERGE_EPILOG, add_merge_arguments

    mp = sub.add_parser(
        "merge", formatter_class=_Formatter, allow_abbrev=False, epilog=MERGE_EPILOG,
        help="join label shards' partial predictions into full ones, and score them",
        description="Read the partial predictions of N label-sharded workers "
                    "(labelstream worker --label-shard I/N) from a Kafka topic, join each "
                    "record's N partials into its full prediction, publish it, and keep "
                    "the prequential metrics over every label; restartable from signed "
                    "checkpoints.")
    add_merge_arguments(mp)
    return parser


def _add_kafka_replay_arguments(rp) -> None:
    """replay's options for a kafka:// SOURCE: where to start, TLS and SASL."""
    from connectors.kafka.client import add_kafka_arguments

    group = rp.add_argument_group("kafka:// source").add_mutually_exclusive_group()
    group.add_argument("--from-beginning", action="store_true",
                       help="replay each partition from its first record (the default)")
    group.add_argument("--from-timestamp", default=None, metavar="TIME",
                       help="replay from each partition's first record at or after TIME "
                            "(ISO 8601, UTC unless it has a zone, or epoch milliseconds)")
    add_kafka_arguments(rp, bootstrap=False)


def _detector_names() -> str:
    from drift.detectors import DETECTORS

    return ", ".join(sorted(DETECTORS))


def _replay_config(args) -> ReplayConfig:
    from_timestamp, kafka = _kafka_source_options(args)
    source = SourceSpec(
        path=args.source, labels=args.labels, label_file=args.label_file,
        label_columns=tuple(args.label_column) if args.label_column else None,
        format=args.format, skip_bad=args.skip_bad, shuffle=args.shuffle,
        from_timestamp=from_timestamp, kafka=kafka,
    )
    for name in ("limit", "window", "label_delay", "report_every"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise _UsageError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
    label_drift = tuple(x.strip() for x in args.label_drift.split(",") if x.strip())
    if label_drift in (("none",), ("off",)):
        label_drift = ()
    unknown = [x for x in label_drift if x not in LABEL_DRIFT]
    if unknown:
        raise _UsageError(f"--label-drift: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(LABEL_DRIFT)} or none")
    try:
        from drift.detectors import make_detector
        from learners.registry import learner_spec

        learner_spec(args.learner)  # a wrong name fails before anything heavy loads
        make_detector(args.detector)
        alerts = AlertConfig.from_args(args)
        noise = None
        if args.label_noise is not None:
            from stream.label_noise import LabelNoise

            noise = LabelNoise.parse(args.label_noise, seed=args.noise_seed)
        options = tuple(learner_options(args, args.learner).items())
        arrival = LabelArrival.from_args(args)
        if arrival.phases is not None and kafka is not None:
            raise ValueError("--label-phases needs a file source (it counts the records)")
        from connectors.status.replay_status import ServeConfig

        serve = ServeConfig.from_args(args)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    return ReplayConfig(source=source, learner=args.learner, seed=args.seed, limit=args.limit,
                        window=args.window, label_delay=args.label_delay, report=args.report,
                        report_every=args.report_every, json=args.json, quiet=args.quiet,
                        detector=args.detector, label_drift=label_drift, alerts=alerts,
                        label_noise=noise, learner_options=options, arrival=arrival,
                        serve=serve)


class _UsageError(Exception):
    pass


def _kafka_source_options(args):
    """``(from_timestamp, KafkaSettings)`` for a kafka:// SOURCE; ``(None, None)`` else."""
    from connectors.kafka.client import KafkaSettings
    from connectors.kafka.source import is_kafka_url, parse_kafka_url, parse_timestamp

    if not is_kafka_url(args.source):
        if args.from_timestamp is not None or args.from_beginning:
            raise _UsageError("--from-beginning and --from-timestamp apply to a kafka:// "
                              "SOURCE only")
        return None, None
    try:
        servers, _ = parse_kafka_url(args.source)
        from_timestamp = (None if args.from_timestamp is None
                          else parse_timestamp(args.from_timestamp))
        return from_timestamp, KafkaSettings.from_args(args, bootstrap_servers=servers)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None


def _drift_watch(cfg: ReplayConfig):
    """The drift watcher for a replay, and the alert dispatcher its events go to."""
    from drift.label_structure import (LabelCardinalityDetector, LabelCorrelationDetector,
                                       LabelPrevalenceDetector)
    from drift.watch import StreamWatcher

    make = {"cardinality": LabelCardinalityDetector, "prevalence": LabelPrevalenceDetector,
            "correlation": LabelCorrelationDetector}
    watcher = StreamWatcher(cfg.detector, learner=cfg.learner,
                            label_detectors=[make[name]() for name in cfg.label_drift])
    dispatcher = cfg.alerts.build() if cfg.alerts is not None and cfg.alerts.enabled else None
    if dispatcher is None:
        return watcher, None

    def watch(*args):
        events = watcher(*args)
        for event in events:
            dispatcher.emit(event)
        return events

    return watch, dispatcher


def run_replay(cfg: ReplayConfig, out=None) -> dict:
    """Run one replay as configured; returns the summary that was printed.

    With ``cfg.serve`` its live status page is served while it runs (and after, until
    Ctrl-C, with ``--serve-wait``): :mod:`connectors.status.replay_status`.
    """
    if cfg.serve is None:
        return _run_replay(cfg, out)
    from connectors.status.replay_status import ReplayStatus

    title = f"{cfg.learner} on {cfg.source.path or 'Yeast'}"
    try:
        status = ReplayStatus(cfg.serve, title=title, window=cfg.window)
    except ValueError as exc:  # off loopback without a token, an unreadable token file
        raise _UsageError(str(exc)) from None
    status.start(announce=sys.stderr)
    try:
        summary = _run_replay(cfg, out, status)
        status.finish(summary)
        if cfg.serve.wait:
            status.wait(announce=sys.stderr)
    finally:
        status.stop()
    return summary


def _run_replay(cfg: ReplayConfig, out=None, status=None) -> dict:
    from connectors.progress import ProgressLine, SlowStartNotice
    from connectors.sources import ShuffledSource, open_source
    from learners.registry import make_learner
    from stream.prequential import evaluate
    from stream.report import write_report

    out = out if out is not None else sys.stdout
    learner = make_learner(cfg.learner, seed=cfg.seed, **dict(cfg.learner_options))
    with SlowStartNotice(cfg.learner, enabled=not cfg.quiet):  # evaluate() finds them loaded
        from stream.metrics import warm_up

        warm_up()
        if hasattr(learner, "warm_up"):
            learner.warm_up()
    watch, dispatcher = _drift_watch(cfg)
    if status is not None:  # the status page follows the evaluator through its watcher
        watch = status.follow(learner, watch, model=cfg.learner)
    records, name = open_source(cfg.source)
    total = None
    if isinstance(records, ShuffledSource):
        iter(records)
        total = len(records)
    if cfg.limit is not None:
        total = min(total, cfg.limit) if total else cfg.limit
    label_names = getattr(records, "label_names", None)
    if cfg.arrival.phases is not None:
        def count():
            if total is not None:
                return total
            again, _ = open_source(cfg.source)
            return sum(1 for _ in again)

        records = cfg.arrival.phased(records, label_names, count)
        label_names = None  # a label counts from its phase on
    bar = ProgressLine(total=total, enabled=False if cfg.quiet else None, label=cfg.learner)
    try:
        result = evaluate(records, learner, window_size=cfg.window,
                          label_delay=cfg.label_delay,
                          label_names=label_names, query=cfg.arrival.make_query(),
                          limit=cfg.limit,
                          # history rows only feed --report: without it none are taken
                          report_every=cfg.report_every if cfg.report else 0,
                          # no callback without a bar: evaluate's progress tick folds the
                          # metric sums at wall-clock times (last-ulp differences run to run)
                          on_progress=bar.update if bar.enabled else None, watch=watch,
                          label_noise=cfg.label_noise)
    finally:
        bar.close()
        close = getattr(records, "close", None)
        if close is not None:  # a kafka:// source's consumer
            close()
        alert_stats = None
        if dispatcher is not None:
            dispatcher.close(timeout=10.0)
            alert_stats = dispatcher.stats
    summary = {"source": name, "learner": cfg.learner, "order": (
        f"shuffled (seed {cfg.source.shuffle})" if cfg.source.shuffle is not None else "file")}
    summary.update(result.summary)
    summary["window"] = cfg.window
    summary["label_delay"] = cfg.label_delay
    if cfg.learner_options:
        summary["learner_options"] = dict(cfg.learner_options)
    if cfg.arrival.budget is not None:
        summary["label_budget"] = {"budget": cfg.arrival.budget, "query": cfg.arrival.query,
                                   "seed": cfg.arrival.seed}
    if cfg.arrival.phases is not None:
        summary["label_phases"] = cfg.arrival.phases
    if cfg.label_noise is not None:
        n = cfg.label_noise
        summary["label_noise"] = {"missing": n.missing, "flip": n.flip, "seed": n.seed}
    summary["bad_records"] = getattr(records, "n_bad", 0)
    if getattr(records, "n_unlabelled", 0):  # kafka://: predicted-only, never labelled
        summary["unlabelled_records"] = records.n_unlabelled
    summary["events"] = result.events
    if alert_stats is not None:
        summary["alerts"] = alert_stats
    if summary["bad_records"]:
        for err in getattr(records, "bad", [])[:5]:
            print(f"labelstream: skipped malformed record: {err}", file=sys.stderr)
    if cfg.report:
        paths = write_report(cfg.report, result.history, summary, result.events,
                             title=f"{cfg.learner} on {name}")
        summary["report"] = paths
    if cfg.json:
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                 for k, v in summary.items()}
        print(json.dumps(clean, default=str), file=out)
    else:
        print(format_summary(summary), file=out)
    return summary


ROWS = (("example F1", "example_f1", "no_change_example_f1"),
        ("example precision", "example_precision", None),
        ("example recall", "example_recall", None),
        ("micro F1", "micro_f1", "no_change_micro_f1"),
        ("micro precision", "micro_precision", None),
        ("micro recall", "micro_recall", None),
        ("macro F1", "macro_f1", None),
        ("macro precision", "macro_precision", None),
        ("macro recall", "macro_recall", None),
        ("  head-label macro F1", "head_macro_f1", None),
        ("  medium-label macro F1", "medium_macro_f1", None),
        ("  tail-label macro F1", "tail_macro_f1", None),
        ("Hamming loss", "hamming_loss", None),
        ("subset accuracy", "subset_accuracy", None),
        ("precision@1", "precision_at_1", None),
        ("precision@3", "precision_at_3", None),
        ("macro AUC", "macro_auc", None),
        ("micro AUC", "micro_auc", None),
        ("ranking avg precision", "lrap", None),
        ("one-error", "one_error", None))


def _fmt(v):
    return "   -" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def format_summary(s: dict) -> str:
    """The human-readable result table of a replay."""
    lines = [
        f"source   {s['source']}  ({s['order']} order)",
        f"learner  {s['learner']}" + "".join(
            f"  {k}={v}" for k, v in s.get("learner_options", {}).items()),
        f"records  {s['instances']:,} in {s['seconds']:.2f} s = "
        f"{s['instances_per_second']:,.0f} records/s; {s['labels']} labels",
        "",
        f"{'metric':<24}{'learner':>10}{'no-change':>11}",
    ]
    for title, key, base in ROWS:
        lines.append(f"{title:<24}{_fmt(s.get(key)):>10}{_fmt(s.get(base)) if base else '':>11}")
    if s.get("label_noise"):
        n = s["label_noise"]
        lines.append(f"label noise: the learner learned labels with {n['missing']:.0%} of the "
                     f"positives missing and {n['flip']:.0%} replaced by a wrong label (seed "
                     f"{n['seed']}); scored against the clean labels")
    lines += LabelArrival.lines(s)
    if s.get("unknown_label_slots"):
        lines.append(f"scored on known labels only: {s['unknown_label_slots']:,} label slots "
                     f"were unknown ({s.get('unknown_share', 0):.1%})")
    lines.append("")
    lines.append(
        f"gain over no-change (kappa-temporal): example F1 {_fmt(s['kappa_temporal_example_f1'])}, "
        f"micro F1 {_fmt(s['kappa_temporal_micro_f1'])}"
        "   (0 = no better than repeating the last label set)"
    )
    if s.get("bad_records"):
        lines.append(f"skipped {s['bad_records']} malformed records (--skip-bad)")
    events = s.get("events") or []
    lines.append(f"drift events: {len(events)}")
    for e in events[:12]:
        labels = ", ".join(map(str, e.get("labels") or ()))
        labels = labels if len(labels) <= 48 else labels[:45] + "..."
        action = (e.get("details") or {}).get("action")
        what = f"{e['detector']}" + (f" ({action})" if action else "")
        lines.append(f"  record {e['position']:>7,}  {e['level']:<15} {e['kind']:<11} {what}"
                     + (f"  [{labels}]" if labels else ""))
    if len(events) > 12:
        lines.append(f"  ... {len(events) - 12} more (--json or --report for all)")
    if s.get("alerts"):
        lines.append(f"alerts: {s['alerts']}")
    if s.get("report"):
        lines.append(f"report   {s['report']['csv']}, metrics.json, metrics.png")
    return "\n".join(lines)


def _run_until_stopped(loop, config, errors, fmt, out=None) -> int:
    """Run ``loop`` (a worker or a merge) until it stops; SIGTERM and SIGINT only ask it
    to stop. Prints its summary as JSON (``config.json_summary``) or ``fmt(summary)``."""
    import signal

    out = out if out is not None else sys.stdout

    def stop(signum, frame):
        loop.request_stop(f"signal {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        summary = loop.run()
    except errors as exc:
        print(f"labelstream: error: {exc}", file=sys.stderr)
        return EXIT_DATA_ERROR
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if config.json_summary:
        print(json.dumps(_json_clean(summary), default=str), file=out)
    else:
        print(fmt(summary), file=out)
    return EXIT_OK


def _run_worker(args, out=None) -> int:
    """``labelstream worker``."""
    from connectors.checkpoint import CheckpointError
    from connectors.worker import Worker, WorkerConfig, WorkerError

    try:
        cfg = WorkerConfig.from_args(args)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    return _run_until_stopped(Worker(cfg), cfg, (CheckpointError, WorkerError),
                              format_worker_summary, out)


def _run_merge(args, out=None) -> int:
    """``labelstream merge``."""
    from connectors.checkpoint import CheckpointError
    from connectors.merge.runner import MergeConfig, MergeRun

    try:
        cfg = MergeConfig.from_args(args)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    return _run_until_stopped(MergeRun(cfg), cfg, CheckpointError,
                              lambda summary: format_merge_summary(summary, cfg), out)


def format_merge_summary(summary: dict, cfg) -> str:
    """The human-readable summary of a merge run."""
    counts = summary["counts"]
    return (f"merge    {cfg.topic} ({cfg.shards} shards), stopped: {summary['stop_reason']}\n"
            f"merged   {counts.get('merged', 0):,} records, {counts.get('scored', 0):,} "
            f"scored; {counts.get('incomplete', 0):,} incomplete (late shards), "
            f"{counts.get('duplicates', 0):,} repeated partials, "
            f"{sum(summary['dead_letter_reasons'].values()):,} refused\n"
            f"metrics  example F1 {_fmt(summary.get('example_f1'))}, micro F1 "
            f"{_fmt(summary.get('micro_f1'))}, over {summary['labels']:,} labels")


def _json_clean(value):
    """NaN -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    return value


def format_worker_summary(s: dict) -> str:
    """The human-readable summary of a worker run."""
    rate = s.get("records_per_second")
    lines = [f"worker   {s['topic']} ({s['mode']}{', group ' + s['group'] if s['group'] else ''}"
             f"), learner {s['learner']}, stopped: {s['stop_reason']}",
             f"this run {s['messages']:,} messages: {s['records']:,} records predicted, "
             f"{s['label_deliveries']:,} label deliveries, {s['dead_letters']:,} dead letters"
             + (f"; {rate:,.0f} records/s" if rate else ""),
             f"         {s['checkpoints']} checkpoints"]
    if s["dead_letter_reasons"]:
        lines.append("dead letters: " + ", ".join(f"{k} {v}" for k, v in
                                                  s["dead_letter_reasons"].items()))
    for m in s["models"]:
        metrics = m["metrics"]
        lines.append(f"model    {m['checkpoint']}: learned {m['learned']:,}, pending "
                     f"{m['pending']}, example F1 {_fmt(metrics.get('example_f1'))} "
                     f"(no-change {_fmt(metrics.get('no_change_example_f1'))}), micro F1 "
                     f"{_fmt(metrics.get('micro_f1'))}, offsets {m['offsets']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "replay":
            run_replay(_replay_config(args))
        elif args.command == "produce":
            from connectors.kafka.produce import ProduceConfig, run_produce

            try:
                cfg = ProduceConfig.from_args(args)
            except ValueError as exc:
                raise _UsageError(str(exc)) from None
            run_produce(cfg)
        elif args.command == "worker":
            return _run_worker(args)
        elif args.command == "merge":
            return _run_merge(args)
        return EXIT_OK
    except _UsageError as exc:
        parser.error(str(exc))
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"labelstream: error: {exc}", file=sys.stderr)
        return EXIT_DATA_ERROR
    except KeyboardInterrupt:
        print("labelstream: interrupted", file=sys.stderr)
        return 130
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
