"""Helpers shared by the worker tests (no tests here): produce, read a topic back, configs."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LABELSTREAM_DATA") or ROOT.parent / "shared" / "data")
YEAST = DATA / "yeast" / "yeast.arff"
KEY = "worker-tests-0123456789abcdef0123456789"
KEY_ENV = "LABELSTREAM_TEST_WORKER_KEY"


def producer(broker):
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5,
                         batch_size=256 * 1024)


def send_all(broker, topic, values, *, partition=None, keys=None, headers=None) -> None:
    """Send message values (bytes or None) in order; keys default to the index."""
    prod = producer(broker)
    failures = []
    try:
        for i, value in enumerate(values):
            key = keys[i] if keys is not None else str(i).encode()
            hdrs = headers[i] if headers is not None else None
            prod.send(topic, value=value, key=key, partition=partition,
                      headers=hdrs).add_errback(failures.append)
        prod.flush()
    finally:
        prod.close()
    assert not failures, failures[:3]


def read_topic(broker, topic, *, expect=None, timeout=30.0, quiet=1.5) -> list:
    """Every message of ``topic`` (all partitions, from the beginning).

    Stops when ``expect`` messages are read, or after ``quiet`` seconds without one.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                             enable_auto_commit=False, fetch_max_wait_ms=100,
                             auto_offset_reset="earliest")
    out = []
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for records in batch.values():
                out.extend(records)
            if batch:
                last = time.monotonic()
            if expect is not None and len(out) >= expect:
                break
            if expect is None and time.monotonic() - last > quiet:
                break
    finally:
        consumer.close()
    return out


def worker_config(broker, topic, **options):
    from connectors.kafka.client import KafkaSettings
    from connectors.worker import WorkerConfig

    options.setdefault("learner", "br")
    options.setdefault("stop_at_end", True)
    options.setdefault("checkpoint_key_env", KEY_ENV)
    return WorkerConfig(KafkaSettings(broker.bootstrap), topic, **options)


def cli_command() -> list:
    exe = shutil.which("labelstream")
    return [exe] if exe else [sys.executable, "-m", "connectors.cli"]


def cli_env() -> dict:
    env = dict(os.environ)
    env[KEY_ENV] = KEY
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def kill_9_at(cmd, log_path, marker: str = "worker.checkpoint reason=every",
              timeout: float = 60.0) -> int:
    """Run the CLI ``cmd`` (stderr to ``log_path``), kill it with SIGKILL as soon as its log
    shows ``marker``, and return its exit status (``-SIGKILL``)."""
    import signal
    import subprocess
    import time

    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
                                env=cli_env(), start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while marker not in log_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, \
                    log_path.read_text()[-3000:]
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            proc.kill()
            proc.wait()
    return proc.returncode


def predictions(messages) -> list:
    return [json.loads(m.value) for m in messages]


def same_figure(a, b) -> bool:
    """Equal metric values (two NaNs are equal: a metric without data)."""
    import math

    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
                      and math.isnan(b))
