"""Worker throughput against `labelstream replay` and the raw kafka-python consume rate.

Starts a throwaway tansu broker, publishes each stream to a one-partition topic (as
`labelstream produce` does), then measures, on the same machine and stream:

* **replay**: `labelstream replay FILE --learner L` (in-process, the same code), its
  records/s (kernels compiled before the clock starts; reading the file is included);
* **raw consume**: a bare kafka-python consumer reading the topic (no decoding), from its
  first record to its last, once per record-batch checksum implementation: kafka-python's
  as installed (pure Python without the optional ``crc32c`` package) and the worker's
  (google-crc32c's C function, installed by :mod:`connectors.kafka.crc32c`); the two take
  turns, run by run, so that they see the same load;
* **worker**: `labelstream worker --stop-at-end` (in-process) with a predictions topic, a
  dead-letter topic and checkpoints, its records/s from its first prediction to its last
  (a learner with a batch path learns a poll's records together: the clock then starts at
  the end of the first poll's run, whose records are not counted):
  consume, decode, predict, score, learn, drift watch, publish every prediction and
  checkpoint, end to end through the broker. Over the same window the CPU time of the
  worker's process, of its output process and of the broker is sampled (from /proc), and
  given per 1,000 records: on a machine shared with other work, CPU time says what the
  records cost when the wall clock says mostly how busy the machine was.

    python bench/worker.py                               # yeast, learners br and ihomer
    python bench/worker.py --streams yeast scene --learners br --repeat 5
    python bench/worker.py --copies 1                    # each file once (short: noisy)
    python bench/worker.py --json                        # one JSON object per row
    python bench/worker.py --streams yeast scene --consume-only   # raw consume rates only

``--copies K`` (default 10) makes the stream K times the file back to back (a temporary
ARFF file with the data section repeated; the label layout file copied beside it), used
by both the replay and the worker: a run of seconds rather than a fraction of one, for a
steadier rate, and long enough for the worker to checkpoint inside the measured window
at its default cadence; still the same stream for both.

Each figure is the median of --repeat runs (best in brackets); replay and worker runs
alternate so that both see the same load. The load average before and after is printed:
quote it with the figures.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import threading
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
TICK = os.sysconf("SC_CLK_TCK")


def stream_path(name: str) -> str:
    return str(DATA / STREAMS[name]) if name in STREAMS else name


def replicate(path: str, copies: int, directory: str) -> str:
    """An ARFF file holding the records of ``path`` ``copies`` times over (header once),
    with the stream's Mulan ``.xml`` label file beside it when it has one."""
    if copies == 1:
        return path
    src = Path(path)
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rt", encoding="utf-8", errors="surrogateescape") as fh:
        lines = fh.read().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().lower().startswith("@data"))
    stem = src.name[:-3] if src.suffix == ".gz" else src.name
    out = Path(directory) / stem
    with open(out, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.writelines(lines[:at + 1])
        data = [line if line.endswith("\n") else line + "\n" for line in lines[at + 1:]]
        for _ in range(copies):
            fh.writelines(data)
    xml = src.with_name(Path(stem).stem + ".xml")
    if xml.exists():
        shutil.copy(xml, Path(directory) / xml.name)
    return str(out)


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


def replay_run(path: str, learner: str) -> tuple[float, float]:
    """Records/s of `labelstream replay` and its CPU ms per 1,000 records (the timed
    part: the last ``seconds`` before it returns)."""
    from connectors.cli import ReplayConfig, run_replay
    from connectors.sources import SourceSpec

    sampler = CPUSampler({"replay": os.getpid()})
    sampler.start()
    try:
        summary = run_replay(ReplayConfig(source=SourceSpec(path=path), learner=learner,
                                          json=True, quiet=True), out=io.StringIO())
        end = time.perf_counter()
    finally:
        sampler.stop()
    cpu = sampler.between(end - summary["seconds"], end).get("replay", float("nan"))
    return summary["instances_per_second"], 1e6 * cpu / summary["instances"]


def consume_rate(broker, topic: str, n: int) -> float:
    """Records/s of a bare consumer from its first record to its last (the records of the
    first poll are not counted: they were fetched before the clock started)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                             enable_auto_commit=False, fetch_max_wait_ms=100,
                             max_poll_records=500)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        total = counted = 0
        first = last = None
        deadline = time.monotonic() + 300
        while total < n and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for records in batch.values():
                for record in records:  # touch every value, as a consumer would
                    _ = record.value
                now = time.perf_counter()
                total += len(records)
                if first is None:
                    first = now
                else:
                    counted += len(records)
                last = now
    finally:
        consumer.close()
    return counted / (last - first) if first is not None and last > first else float("nan")


# -- CPU time of the processes involved ------------------------------------------------------
def _cpu_seconds(pid) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


class CPUSampler(threading.Thread):
    """Samples the CPU seconds of named processes every ``interval`` seconds."""

    def __init__(self, pids: dict, interval: float = 0.02):
        super().__init__(daemon=True, name="bench-cpu-sampler")
        self.pids = dict(pids)  # name -> pid or a callable giving the pid (or None)
        self.interval = interval
        self.samples: list = []
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            row = {}
            for name, pid in self.pids.items():
                pid = pid() if callable(pid) else pid
                if pid is not None:
                    row[name] = _cpu_seconds(pid)
            self.samples.append((time.perf_counter(), row))
            self._done.wait(self.interval)

    def stop(self):
        self._done.set()
        self.join()

    def between(self, t0: float, t1: float) -> dict:
        """CPU seconds each process used from ``t0`` to ``t1`` (nearest samples)."""
        def at(t):
            return min(self.samples, key=lambda s: abs(s[0] - t))[1]

        a, b = at(t0), at(t1)
        return {name: b[name] - a[name] for name in b
                if a.get(name) is not None and b.get(name) is not None}


def worker_run(broker, topic: str, learner: str, out_topic: str, checkpoint_every: int,
               checkpoint_interval: float, max_poll_records: int, **options) -> dict:
    from connectors.kafka.client import KafkaSettings
    from connectors.worker import Worker, WorkerConfig

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as ckpt:
        cfg = WorkerConfig(KafkaSettings(broker.bootstrap), topic, learner=learner,
                           predictions_topic=out_topic + "-pred",
                           dead_letter_topic=out_topic + "-dlq", checkpoint_dir=ckpt,
                           checkpoint_every=checkpoint_every,
                           checkpoint_interval=checkpoint_interval,
                           max_poll_records=max_poll_records, stop_at_end=True, **options)
        worker = Worker(cfg, key=KEY)

        def helper():
            pids = worker.helper_pids()
            return pids[0] if pids else None

        sampler = CPUSampler({"worker": os.getpid(), "output": helper,
                              "broker": broker.pid})
        sampler.start()
        try:
            summary = worker.run()
        finally:
            sampler.stop()
    first, last, n = worker.prediction_window()
    cpu = sampler.between(first, last)
    summary["cpu_ms_per_1k"] = {k: 1e6 * v / n for k, v in cpu.items()} if n else {}
    return summary


def fmt(values) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "-"
    return f"{statistics.median(values):>8,.0f} [{max(values):,.0f}]"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# -- raw consume, per record-batch checksum implementation -----------------------------------
def crc_implementations() -> dict:
    """``{name: calc_crc32c}``: kafka-python's as installed ("pure-Python" without the
    optional ``crc32c`` package) and the worker's (:func:`use_compiled_crc32c`:
    google-crc32c's C function)."""
    from kafka.record import default_records

    from connectors.kafka.crc32c import use_compiled_crc32c

    as_installed = default_records.calc_crc32c  # kafka-python's own checksum function
    use_compiled_crc32c()
    return {"pure-Python": as_installed, "worker": default_records.calc_crc32c}


def raw_consume(broker, topic: str, n: int, checksums: dict, repeat: int) -> dict:
    """``{name: [records/s per run]}``: the raw consume rate with each checksum function
    in turn (run by run, so that they share the load), the worker's put back after."""
    from kafka.record import default_records

    worker_crc = default_records.calc_crc32c
    rates = {name: [] for name in checksums}
    try:
        for _ in range(repeat):
            for name, fn in checksums.items():
                default_records.calc_crc32c = fn  # for this measurement only
                rates[name].append(consume_rate(broker, topic, n))
    finally:
        default_records.calc_crc32c = worker_crc
    return rates


def print_consume(consume_by: dict, topics: dict, args, load_start: str) -> None:
    for stream, rates in consume_by.items():
        n = topics[stream][2]
        if args.json:
            print(json.dumps({"stream": stream, "copies": args.copies, "records": n,
                              "raw_consume_by_crc_rps": {k: statistics.median(v)
                                                         for k, v in rates.items()},
                              "raw_consume_by_crc_runs": rates, "cpus": os.cpu_count(),
                              "load_average": load()}), flush=True)
    if args.json:
        return
    names = list(next(iter(consume_by.values())))
    print("| stream | records | " + " | ".join(f"raw consume rec/s, {k} CRC" for k in names)
          + " |")
    print("|---|---|" + "---|" * len(names))
    for stream, rates in consume_by.items():
        copies = f" x{args.copies}" if args.copies > 1 else ""
        print(f"| {stream}{copies} | {topics[stream][2]:,} | "
              + " | ".join(fmt(rates[k]).strip() for k in names) + " |")
    print(f"\n{os.cpu_count()} CPUs, load average {load_start} at the start, {load()} at "
          f"the end; medians of {args.repeat} runs [best]; one-partition topics on tansu.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", nargs="+", default=["yeast"])
    parser.add_argument("--learners", nargs="+", default=["br", "ihomer"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, default=10,
                        help="the stream is the file this many times over (default 10: "
                             "a steady rate; 1: the file once)")
    parser.add_argument("--checkpoint-every", type=int, default=None,
                        help="worker checkpoint cadence (default: the worker's default)")
    parser.add_argument("--checkpoint-interval", type=float, default=None)
    parser.add_argument("--max-poll-records", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--consume-only", action="store_true",
                        help="measure the raw consume rates only (no replay, no worker)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    from connectors.kafka.broker import TansuBroker

    checksums = crc_implementations()
    if not args.consume_only:
        from connectors.worker import WorkerConfig
        from learners.registry import make_learner

        defaults = WorkerConfig.__dataclass_fields__
        every = args.checkpoint_every or defaults["checkpoint_every"].default
        interval = args.checkpoint_interval or defaults["checkpoint_interval"].default
        max_poll = args.max_poll_records or defaults["max_poll_records"].default
    rows = []
    load_start = load()
    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        topics = {}
        for stream in args.streams:
            sub = Path(tmp) / stream
            sub.mkdir()
            path = replicate(stream_path(stream), args.copies, str(sub))
            topic = f"bench-{Path(path).stem.replace('.', '-')}"
            topics[stream] = (path, topic, publish(broker, path, topic))
        consume_by = {s: raw_consume(broker, t, n, checksums, args.repeat)
                      for s, (_, t, n) in topics.items()}
        if args.consume_only:
            print_consume(consume_by, topics, args, load_start)
            return 0
        for stream, (path, topic, n) in topics.items():
            consume = consume_by[stream]["worker"]
            consume_py = {stream: consume_by[stream]["pure-Python"]}
            for learner in args.learners:
                model = make_learner(learner)
                if hasattr(model, "warm_up"):
                    model.warm_up()  # numba's cache filled before any timing
                replay, replay_cpu, worker, cpu, checkpoints = [], [], [], [], []
                for r in range(args.repeat):
                    rate, replay_ms = replay_run(path, learner)
                    replay.append(rate)
                    replay_cpu.append(replay_ms)
                    s = worker_run(broker, topic, learner, f"{topic}-{learner}-{r}", every,
                                   interval, max_poll)
                    assert s["records"] == n and s["predictions"] == n, s
                    worker.append(s["records_per_second"])
                    cpu.append(s["cpu_ms_per_1k"])
                    checkpoints.append(s["checkpoints"])
                med = {k: statistics.median(c[k] for c in cpu if k in c) for k in cpu[0]}
                row = {"stream": stream, "copies": args.copies, "records": n,
                       "learner": learner,
                       "replay_rps": statistics.median(replay),
                       "worker_rps": statistics.median(worker),
                       "raw_consume_rps": statistics.median(consume),
                       "raw_consume_pure_python_crc_rps": statistics.median(consume_py[stream]),
                       "raw_consume_by_crc_rps": {k: statistics.median(v) for k, v in
                                                  consume_by[stream].items()},
                       "worker_vs_replay": statistics.median(worker) / statistics.median(
                           replay),
                       "worker_cpu_ms_per_1k": med,
                       "replay_cpu_ms_per_1k": statistics.median(replay_cpu),
                       "replay_runs": replay, "worker_runs": worker,
                       "raw_consume_runs": consume, "raw_consume_pure_python_crc_runs":
                           consume_py[stream],
                       "worker_checkpoints": checkpoints, "checkpoint_every": every,
                       "checkpoint_interval": interval,
                       "max_poll_records": max_poll, "cpus": os.cpu_count(),
                       "load_average": load()}
                rows.append(row)
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    cpu_text = ", ".join(f"{k} {v:,.0f}" for k, v in med.items())
                    print(f"{stream:<8} {learner:<7} replay {fmt(replay)}  worker "
                          f"{fmt(worker)}  ({row['worker_vs_replay']:.0%})  raw consume "
                          f"{fmt(consume)} (pure-Python CRC {fmt(consume_py[stream])}) "
                          f"records/s; CPU ms per 1k records: replay "
                          f"{row['replay_cpu_ms_per_1k']:,.0f}, worker: {cpu_text}; worker "
                          f"checkpoints per run (the final one included): {checkpoints}",
                          flush=True)
    if not args.json:
        print()
        print("| stream | records | learner | replay rec/s | worker rec/s | worker/replay "
              "| raw consume rec/s | (pure-Python CRC) | CPU ms/1k replay | CPU ms/1k "
              "worker: own + output + broker |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            c = r["worker_cpu_ms_per_1k"]
            print(f"| {r['stream']}{' x' + str(r['copies']) if r['copies'] > 1 else ''} | "
                  f"{r['records']:,} | {r['learner']} | "
                  f"{fmt(r['replay_runs']).strip()} | {fmt(r['worker_runs']).strip()} | "
                  f"{r['worker_vs_replay']:.0%} | {fmt(r['raw_consume_runs']).strip()} | "
                  f"{fmt(r['raw_consume_pure_python_crc_runs']).strip()} | "
                  f"{r['replay_cpu_ms_per_1k']:,.0f} | {c.get('worker', 0):,.0f} + "
                  f"{c.get('output', 0):,.0f} + {c.get('broker', 0):,.0f} |")
        print(f"\n{os.cpu_count()} CPUs, load average {load_start} at the start, {load()} at "
              f"the end; medians of {args.repeat} runs [best]; worker checkpoint every "
              f"{every} records or {interval:g} s, polls of up to {max_poll}; one-partition "
              "topics on tansu.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
