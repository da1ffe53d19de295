"""Worker throughput against `labelstream replay` and the raw kafka-python consume rate.

Starts a throwaway tansu broker, publishes each stream to a one-partition topic (as
`labelstream produce` does), then measures, on the same machine and stream:

* **replay**: `labelstream replay FILE --learner L` (in-process, the same code), its
  records/s (kernels compiled before the clock starts);
* **raw consume**: a bare kafka-python consumer reading the topic (no decoding), from its
  first record to its last;
* **worker**: `labelstream worker --stop-at-end` (in-process) with a predictions topic, a
  dead-letter topic and checkpoints (default cadence), its records/s from its first
  prediction to its last: consume, decode, predict, score, learn, drift watch, publish
  every prediction and checkpoint, end to end through the broker.

    python bench/worker.py                               # yeast, learners br and ihomer
    python bench/worker.py --streams yeast scene --learners br --repeat 5
    python bench/worker.py --json                        # one JSON object per row

Each figure is the median of --repeat runs (best in brackets). The broker, the worker's
output process and the worker share the machine's cores: say how many when quoting.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
STREAMS = {
    "emotions": "emotions/emotions.arff",
    "yeast": "yeast/yeast.arff",
    "scene": "scene/Scene-meka.arff.gz",
    "enron": "enron/enron.arff",
    "medical": "medical/medical.arff",
    "bibtex": "bibtex/bibtex.arff",
}
KEY = b"bench-worker-checkpoint-key-0123456789"


def stream_path(name: str) -> str:
    return str(DATA / STREAMS[name]) if name in STREAMS else name


def publish(broker, path: str, topic: str) -> int:
    from kafka import KafkaProducer

    from connectors.kafka.produce import produce_records
    from connectors.sources import SourceSpec, open_source

    broker.create_topic(topic, partitions=1)
    records, _ = open_source(SourceSpec(path=path))
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5,
                             batch_size=256 * 1024)
    try:
        stats = produce_records(records, producer, topic, [0],
                                label_names=getattr(records, "label_names", None))
    finally:
        producer.close()
    return stats["records"]


def replay_rate(path: str, learner: str) -> float:
    from connectors.cli import ReplayConfig, run_replay
    from connectors.sources import SourceSpec

    summary = run_replay(ReplayConfig(source=SourceSpec(path=path), learner=learner,
                                      json=True, quiet=True), out=io.StringIO())
    return summary["instances_per_second"]


def consume_rate(broker, topic: str, n: int) -> float:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                             enable_auto_commit=False, fetch_max_wait_ms=100,
                             max_poll_records=500)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        seen = 0
        first = last = None
        deadline = time.monotonic() + 120
        while seen < n and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for records in batch.values():
                now = time.perf_counter()
                if first is None:
                    first, seen = now, len(records) - 1  # count from the first record
                else:
                    seen += len(records)
                last = now
                for record in records:  # touch every value, as a consumer would
                    _ = record.value
    finally:
        consumer.close()
    return seen / (last - first) if last and last > first else float("nan")


def worker_rate(broker, topic: str, learner: str, out_topic: str, checkpoint_every: int,
                checkpoint_interval: float, max_poll_records: int) -> dict:
    from connectors.kafka.client import KafkaSettings
    from connectors.worker import Worker, WorkerConfig

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as ckpt:
        cfg = WorkerConfig(KafkaSettings(broker.bootstrap), topic, learner=learner,
                           predictions_topic=out_topic + "-pred",
                           dead_letter_topic=out_topic + "-dlq", checkpoint_dir=ckpt,
                           checkpoint_every=checkpoint_every,
                           checkpoint_interval=checkpoint_interval,
                           max_poll_records=max_poll_records, stop_at_end=True)
        summary = Worker(cfg, key=KEY).run()
    return summary


def fmt(values) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "-"
    return f"{statistics.median(values):>8,.0f} [{max(values):,.0f}]"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", nargs="+", default=["yeast"])
    parser.add_argument("--learners", nargs="+", default=["br", "ihomer"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--checkpoint-every", type=int, default=None,
                        help="worker checkpoint cadence (default: the worker's default)")
    parser.add_argument("--checkpoint-interval", type=float, default=None)
    parser.add_argument("--max-poll-records", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("connectors.worker").setLevel(logging.ERROR)

    from connectors.kafka.broker import TansuBroker
    from connectors.worker import WorkerConfig
    from learners.registry import make_learner

    defaults = WorkerConfig.__dataclass_fields__
    every = args.checkpoint_every or defaults["checkpoint_every"].default
    interval = args.checkpoint_interval or defaults["checkpoint_interval"].default
    max_poll = args.max_poll_records or defaults["max_poll_records"].default
    rows = []
    with TansuBroker() as broker:
        for stream in args.streams:
            path = stream_path(stream)
            topic = f"bench-{Path(path).stem.replace('.', '-')}"
            n = publish(broker, path, topic)
            consume = [consume_rate(broker, topic, n) for _ in range(args.repeat)]
            for learner in args.learners:
                model = make_learner(learner)
                if hasattr(model, "warm_up"):
                    model.warm_up()  # numba's cache filled before any timing
                replay, worker, checkpoints = [], [], []
                for r in range(args.repeat):
                    replay.append(replay_rate(path, learner))
                    s = worker_rate(broker, topic, learner, f"{topic}-{learner}-{r}", every,
                                    interval, max_poll)
                    assert s["records"] == n and s["predictions"] == n, s
                    worker.append(s["records_per_second"])
                    checkpoints.append(s["checkpoints"])
                row = {"stream": stream, "records": n, "learner": learner,
                       "replay_rps": statistics.median(replay),
                       "worker_rps": statistics.median(worker),
                       "raw_consume_rps": statistics.median(consume),
                       "worker_vs_replay": statistics.median(worker) / statistics.median(
                           replay),
                       "replay_runs": replay, "worker_runs": worker,
                       "raw_consume_runs": consume, "worker_checkpoints": checkpoints[0],
                       "checkpoint_every": every, "max_poll_records": max_poll,
                       "cpus": os.cpu_count()}
                rows.append(row)
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    print(f"{stream:<8} {learner:<7} replay {fmt(replay)}  worker "
                          f"{fmt(worker)}  ({row['worker_vs_replay']:.0%})  raw consume "
                          f"{fmt(consume)} records/s", flush=True)
    if not args.json:
        print()
        print("| stream | records | learner | replay rec/s | worker rec/s | worker/replay "
              "| raw kafka-python consume rec/s |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['stream']} | {r['records']:,} | {r['learner']} | "
                  f"{r['replay_rps']:,.0f} | {r['worker_rps']:,.0f} | "
                  f"{r['worker_vs_replay']:.0%} | {r['raw_consume_rps']:,.0f} |")
        print(f"\n{os.cpu_count()} CPUs; medians of {args.repeat} runs [best]; worker checkpoint "
              f"every {every} records or {interval:g} s, polls of up to {max_poll}; "
              "one-partition topics on tansu.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
