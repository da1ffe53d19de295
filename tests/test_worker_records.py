"""The worker's record path without a broker: plain messages in; predictions, dead letters,
held records, label deliveries, caps and drift events out (connectors/worker/records.py)."""

from __future__ import annotations

import pytest

from connectors.kafka.client import KafkaSettings
from connectors.kafka.codec import (
    encode_label_delivery,
    encode_record,
    label_names_header,
)
from connectors.worker.config import WorkerConfig
from connectors.worker.records import DLQ_MAX_VALUE_BYTES, Message, RecordPath
from connectors.worker.state import ModelState
from learners.registry import make_learner
from stream.synthetic import Drift, MultiLabelGenerator

TOPIC = "records"


class Sink:
    """Records what the record path hands to the output process."""

    def __init__(self):
        self.produced = []  # (topic, key, id, source, positives, learned)
        self.messages = []  # (topic, key, value, headers)

    def prediction(self, topic, key, record_id, source, positives, scores, learned):
        self.produced.append((topic, key, record_id, source, sorted(positives), learned))

    def predictions(self, topic, names, P, S, rows):
        for i, (key, record_id, source, learned) in enumerate(rows):
            positives = sorted(n for n, on in zip(names, P[i]) if on)
            self.produced.append((topic, key, record_id, source, positives, learned))

    def message(self, topic, key, value, headers=None):
        self.messages.append((topic, key, value, dict(headers or ())))


class Dispatcher:
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)


def config(**options):
    options.setdefault("learner", "br")
    options.setdefault("detector", "none")
    return WorkerConfig(KafkaSettings("127.0.0.1:9"), TOPIC, predictions_topic="pred",
                        dead_letter_topic="dlq", label_drift=(), **options)


def new_state(cfg, name=TOPIC):
    return ModelState.new(name, cfg.learner, make_learner(cfg.learner, seed=cfg.seed),
                          window_size=cfg.window, detector=cfg.detector,
                          label_drift=cfg.label_drift)


def messages(values, partition=0, start=0, headers=None):
    return [Message(TOPIC, partition, start + i, f"k{start + i}".encode(), v,
                    (headers or {}).get(start + i, []))
            for i, v in enumerate(values)]


def stream(n, seed=3, **options):
    return list(MultiLabelGenerator(n_features=6, n_labels=5, seed=seed, **options).take(n))


def test_malformed_values_become_dead_letters_and_the_path_goes_on():
    cfg = config()
    sink, state = Sink(), new_state(cfg)
    path = RecordPath(cfg, outputs=sink)
    big = b"[" + b"1," * (DLQ_MAX_VALUE_BYTES // 2 + 10)  # invalid JSON over the cut size
    values = [b"{oops", b"[]", None, b'{"features": {"a": "x"}, "labels": []}',
              encode_record({"a": 1.0}, {"sky": True}), big, '{"a": 1}'.encode()]
    path.handle(messages(values), {0: state})
    got = {m[3]["dlq.source.offset"]: m for m in sink.messages}
    assert sorted(got) == [b"0", b"1", b"2", b"3", b"5", b"6"]  # all but the good record
    assert all(m[0] == "dlq" for m in sink.messages)
    assert got[b"0"][3]["dlq.reason"] == b"invalid_json" and got[b"0"][2] == b"{oops"
    assert got[b"1"][3]["dlq.reason"] == b"not_an_object"
    assert got[b"0"][1] == b"k0"  # the key is kept
    truncated = got[b"5"]
    assert len(truncated[2]) == DLQ_MAX_VALUE_BYTES and truncated[2] == big[:len(truncated[2])]
    assert truncated[3]["dlq.value.truncated-from"] == str(len(big)).encode()
    for offset, m in got.items():  # every dead letter says why, in words
        assert m[3]["dlq.reason.text"], offset
    assert sum(path.dead_letters.values()) == 6 == sum(state.dead_letters.values())
    assert path.counts["messages"] == 7 and path.counts["records"] == 1
    assert state.evaluator.n_learned == 1 and state.offsets == {0: 7}
    assert [p[2:4] for p in sink.produced] == [(None, (TOPIC, 0, 4))]


@pytest.mark.parametrize("learner,batched", [("br", False), ("ihomer", True)])
def test_held_records_are_scored_with_their_arrival_prediction_when_labels_arrive(learner,
                                                                                 batched):
    cfg = config(learner=learner)
    sink, state = Sink(), new_state(cfg)
    path = RecordPath(cfg, outputs=sink, batched=batched)
    records = stream(60)
    values = [encode_record(x, y) for x, y in records[:50]]
    values += [encode_record(records[50][0], None, id="r50"),
               encode_record(records[51][0], None),  # no id: predicted, never learned
               encode_label_delivery("r50", records[50][1]),
               encode_label_delivery("nobody", records[52][1])]
    path.handle(messages(values), {0: state})
    ev = state.evaluator
    assert ev.n_predicted == 52 and ev.n_learned == 51 and ev.metrics.n == 51
    assert path.counts["label_deliveries"] == 1 and not state.pending
    assert state.counters["held"] == 1 and state.counters["unlabelled_without_id"] == 1
    assert dict(path.dead_letters) == {"unknown_id": 1}
    assert b"nobody" in sink.messages[0][3]["dlq.reason.text"]
    held = [p for p in sink.produced if p[2] == "r50"]
    assert len(held) == 1 and held[0][3] == (TOPIC, 0, 50)
    assert len(sink.produced) == 52 and state.offsets == {0: 54}


def test_the_batched_path_gives_the_figures_of_one_message_at_a_time():
    values = [encode_record(x, y) for x, y in stream(400, seed=5, new_labels_at={150: 2})]
    values[120] = b"{oops"
    values[200] = encode_record({"a": 1.0}, None, id="late")
    values[300] = encode_label_delivery("late", {"x0": True})
    out = []
    for batched in (False, True):
        cfg = config(learner="ihomer", checkpoint_every=64)
        sink, state, due = Sink(), new_state(cfg), []
        path = RecordPath(cfg, outputs=sink, batched=batched)

        def cut(path=path, due=due):  # what the worker's checkpoint does to the count
            due.append(path.since_checkpoint)
            path.since_checkpoint = 0

        path.checkpoint_due = cut
        for start in range(0, 400, 90):  # polls of 90 messages
            path.handle(messages(values[start:start + 90], start=start), {0: state})
        out.append((state.evaluator.summary(), sink.produced, sink.messages,
                    dict(path.counts), len(due)))
        assert due and all(n == 64 for n in due)  # a checkpoint asked for every 64
    one, many = out
    assert one[0] == many[0] and one[1] == many[1] and one[2] == many[2]
    assert one[3] == many[3] and one[4] == many[4]


def test_label_cap_refuses_records_and_deliveries_that_bring_too_many_labels():
    cfg = config(max_labels=3)
    sink, state = Sink(), new_state(cfg)
    path = RecordPath(cfg, outputs=sink)
    values = [encode_record({"a": 1.0}, {"u": True, "v": True}),
              encode_record({"a": 2.0}, {"u": True, "w": True, "z": True}),  # 2 new: over
              encode_record({"a": 3.0}, None, id="h"),
              encode_label_delivery("h", {"p": True, "q": True}),  # over too
              encode_record({"a": 4.0}, {"w": True})]  # one new: fits (3 labels)
    path.handle(messages(values), {0: state})
    assert dict(path.dead_letters) == {"label_cap": 2}
    assert [m[3]["dlq.source.offset"] for m in sink.messages] == [b"1", b"3"]
    assert b"--max-labels 3" in sink.messages[0][3]["dlq.reason.text"]
    assert state.counters["pending_dropped"] == 1 and not state.pending
    assert sorted(state.evaluator.labels) == ["u", "v", "w"]
    assert state.evaluator.n_learned == 2


def test_declared_labels_come_from_the_header_and_count_against_the_cap():
    cfg = config(learner="ihomer", max_labels=4)
    state = new_state(cfg)
    path = RecordPath(cfg, outputs=Sink(), batched=True)
    header = {0: [label_names_header(["a", "b", "c"])]}
    path.handle(messages([encode_record({"x": 1.0}, {"a": True}),
                          encode_record({"x": 2.0}, {"d": True, "e": True})],
                         headers=header), {0: state})
    assert state.declared_labels[:3] == ["a", "b", "c"]
    assert dict(path.dead_letters) == {"label_cap": 1}  # a, b, c, d, e would be 5


def test_messages_already_learned_are_skipped_and_other_partitions_end_the_call():
    cfg = config()
    state = new_state(cfg)
    state.offsets[0] = 3  # a checkpoint says 0..2 are learned
    path = RecordPath(cfg, outputs=Sink())
    values = [encode_record(x, y) for x, y in stream(6)]
    path.handle(messages(values), {0: state})
    assert path.counts["replayed_skipped"] == 3 and state.evaluator.n_learned == 3
    path.handle(messages(values, partition=1), {0: state})  # partition 1 is not ours
    assert state.evaluator.n_learned == 3 and path.counts["messages"] == 3


def test_a_stop_request_is_honoured_between_messages():
    import threading

    stop = threading.Event()
    cfg = config(checkpoint_every=5)
    state = new_state(cfg)
    path = RecordPath(cfg, outputs=Sink(), stop=stop, checkpoint_due=stop.set)
    path.handle(messages([encode_record(x, y) for x, y in stream(20)]), {0: state})
    assert state.evaluator.n_learned == 5 and state.offsets == {0: 5}


def test_drift_events_carry_their_source_offset_to_the_dispatcher():
    cfg = config(learner="ihomer", detector="adwin")
    state, dispatcher = new_state(cfg), Dispatcher()
    path = RecordPath(cfg, outputs=Sink(), dispatcher=dispatcher, batched=True)
    records = list(MultiLabelGenerator(n_features=6, n_labels=4, seed=11, noise=0.1, drifts=[
        Drift(position=2000, target="p_y_given_x")]).take(4000))
    values = [encode_record(x, y) for x, y in records]
    for start in range(0, 4000, 500):
        path.handle(messages(values[start:start + 500], start=start), {0: state})
    events = dispatcher.events
    assert events and path.counts["drift_events"] == len(events)
    assert sum(state.event_counts.values()) == len(events)
    after = [e for e in events if e.level == "global"]
    assert after and any(2000 <= e.source_offset["offset"] < 3000 for e in after)
    for event in events:
        where = event.source_offset
        assert where["topic"] == TOPIC and where["partition"] == 0
        assert 0 <= where["offset"] < 4000
    assert state.recent_events and not state.evaluator.events  # handed on, not left behind


def test_labels_topic_joins_by_id_both_ways_and_says_why_labels_are_dropped():
    """--labels-topic: a delivery completes its held record; one that comes before its
    record waits and is learned when the record comes; labels for a record that expired
    are ``expired_id``; labels whose record never comes leave at expiry as ``unknown_id``
    dead letters (the original message); a record on the labels topic is ``not_labels``."""
    import time as _time

    cfg = config(labels_topic="answers", pending_timeout=60.0)
    state = new_state(cfg)
    sink = Sink()
    path = RecordPath(cfg, outputs=sink)
    gen = MultiLabelGenerator(n_features=4, n_labels=3, seed=1)
    (x0, y0), (x1, y1), (x2, _) = gen.take(3)
    labels_of = {"a": [k for k, on in y0.items() if on] or ["l0"],
                 "b": [k for k, on in y1.items() if on] or ["l1"]}
    path.handle([Message(TOPIC, 0, 0, b"a", encode_record(x0, None, id="a"))], {0: state})
    assert "a" in state.pending and state.evaluator.n_learned == 0

    def answer(offset, rid, labels):
        return Message("answers", 0, offset, rid.encode(),
                       encode_label_delivery(rid, {k: True for k in labels}))

    # a's labels complete it; b's labels come before b and wait
    path.handle_labels([answer(0, "a", labels_of["a"]), answer(1, "b", labels_of["b"])],
                       {0: state})
    assert state.evaluator.n_learned == 1 and list(state.early_labels) == ["b"]
    assert state.label_offsets == {0: 2} and state.offsets == {0: 1}
    path.handle([Message(TOPIC, 0, 1, b"b", encode_record(x1, None, id="b"))], {0: state})
    assert state.evaluator.n_learned == 2 and not state.early_labels and not state.pending
    assert [p[2] for p in sink.produced] == ["a", "b"]  # both were predicted on arrival

    # c is held and expires; its labels then come: expired_id. d's never comes: unknown_id
    path.handle([Message(TOPIC, 0, 2, b"c", encode_record(x2, None, id="c"))], {0: state})
    state.pending["c"].arrived -= 120
    path.expire_pending([state])
    assert "c" not in state.pending and state.dropped["c"] == "expired"
    path.handle_labels([answer(2, "c", ["l0"]), answer(3, "d", ["l1"]),
                        Message("answers", 0, 4, b"e", encode_record(x2, {"l0": True},
                                                                      id="e"))], {0: state})
    dlq = [m for m in sink.messages if m[0] == "dlq"]
    assert [m[3]["dlq.reason"] for m in dlq] == [b"expired_id", b"not_labels"]
    assert b"expired before they came" in dlq[0][3]["dlq.reason.text"]
    assert list(state.early_labels) == ["d"] and state.label_offsets == {0: 5}
    state.early_labels["d"].arrived = _time.time() - 61
    path.expire_pending([state])
    dlq = [m for m in sink.messages if m[0] == "dlq"]
    assert dlq[-1][3]["dlq.reason"] == b"unknown_id" and b"'d'" in dlq[-1][3]["dlq.reason.text"]
    assert dlq[-1][2] == answer(3, "d", ["l1"]).value  # the message that brought them
    assert dlq[-1][3]["dlq.source.topic"] == b"answers"
    assert state.counters["labels_unmatched"] == 1 and path.counts["labels_unmatched"] == 1
    assert not state.early_labels and state.evaluator.n_learned == 2

    # what waits is bounded by --max-pending: the oldest leaves as a dead letter
    small = RecordPath(config(labels_topic="answers", max_pending=2), outputs=Sink())
    other = new_state(config(labels_topic="answers", max_pending=2))
    small.handle_labels([answer(i, f"z{i}", ["l0"]) for i in range(3)], {0: other})
    assert list(other.early_labels) == ["z1", "z2"]
    assert small.dead_letters == {"unknown_id": 1}

    # the join survives a checkpoint
    from connectors.worker.state import ModelState as _MS

    again = _MS.from_checkpoint(other.to_checkpoint(TOPIC), name=TOPIC, topic=TOPIC,
                                learner_name="br")
    assert list(again.early_labels) == ["z1", "z2"] and again.label_offsets == {0: 3}


def test_labels_topic_must_be_a_topic_of_its_own():
    for clash in (TOPIC, "pred", "dlq"):
        with pytest.raises(ValueError, match="--labels-topic must be a topic of its own"):
            config(labels_topic=clash)
