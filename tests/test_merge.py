"""The shard merge without a broker (``connectors.merge.merger``) and the label shard's cut
(``connectors.worker.label_shard``): shards' partials equal one learner's predictions and
metrics, repeats are dropped, late shards are counted and published incomplete, bad
partials are refused with their reason, a pickled merger goes on where it stopped; and the
command line's clear errors for a bad shard spec or merge."""

from __future__ import annotations

import json
import pickle

import pytest

from connectors.cli import main
from connectors.kafka.codec import DecodedRecord
from connectors.merge.merger import ShardMerger
from connectors.worker.label_shard import LabelShard, shard_of
from connectors.worker.state import WorkerEvaluator
from learners.registry import make_learner

N = 3


def _stream(n=300, labels=60, seed=3):
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=12, n_labels=labels, n_clusters=12, cardinality=3.0,
                              seed=seed)
    return [(x, {k: True for k, on in y.items() if on}) for x, y in gen.take(n)]


def _partials(records, shards=N):
    """What ``shards`` br workers with --label-shard i/N would publish, record by record;
    and one unsharded br evaluator over the same records."""
    alone = WorkerEvaluator(make_learner("br", threshold="ofo"), window_size=100)
    cuts = [LabelShard(i, shards) for i in range(shards)]
    evs = [WorkerEvaluator(make_learner("br", threshold="ofo"), window_size=100) for _ in cuts]
    out, want = [], []
    for off, (x, y) in enumerate(records):
        pred, scores = alone.process_one(x, y)
        want.append((sorted(k for k, on in pred.items() if on), scores))
        row = []
        for cut, ev in zip(cuts, evs):
            rec = cut.own(DecodedRecord(f"r{off}", x, y))
            p, s = ev.process_one(x, rec.y)
            row.append({"id": f"r{off}", "source": {"topic": "in", "partition": 0, "offset": off},
                        "labels": [k for k, on in p.items() if on], "scores": s,
                        "model": {"learner": "br"}, "shard": cut.partial(rec, len(ev.labels))})
        out.append(row)
    return out, want, alone


def test_the_shards_of_a_record_merge_into_one_learners_prediction_and_metrics():
    partials, want, alone = _partials(_stream())
    merger = ShardMerger(N, window_size=100)
    got = []
    for row in partials:
        for doc in row[::-1]:  # shards in any order
            assert merger.check(doc) is None
            for merged in merger.add(doc, now=0.0):
                got.append((sorted(merged["labels"]), merged["scores"]))
    assert got == want
    a, b = alone.summary(), merger.summary()
    for key in ("instances", "labels", "example_f1", "micro_f1", "macro_f1", "hamming_loss",
                "precision_at_1", "macro_auc", "lrap", "one_error", "no_change_example_f1",
                "head_macro_f1", "tail_macro_f1"):
        assert a[key] == b[key], key
    assert merger.counts["scored"] == len(partials) and not merger.pending


def test_repeats_are_dropped_and_a_pickled_merger_goes_on_where_it_stopped():
    partials, want, _ = _partials(_stream(n=120))
    merger = ShardMerger(N)
    merged = []
    for row in partials[:60]:
        for doc in row:
            merged += merger.add(doc, now=0.0)
    merger = pickle.loads(pickle.dumps(merger))
    for row in partials[50:]:  # a restarted shard publishes again what it published
        for doc in row:
            merged += merger.add(doc, now=0.0)
    assert merger.counts["duplicates"] == 10 * N
    assert [(sorted(m["labels"]), m["scores"]) for m in merged] == want


def test_a_late_shard_is_counted_and_its_record_published_incomplete():
    partials, _, _ = _partials(_stream(n=20))
    merger = ShardMerger(N, shard_timeout=5.0, max_pending=4)
    for row in partials[:3]:
        assert merger.add(row[0], now=0.0) == [] and merger.add(row[2], now=1.0) == []
    late = merger.expire(now=5.5)
    assert [m["source"]["offset"] for m in late] == [0, 1, 2]
    assert all(m["missing_shards"] == [1] for m in late)
    assert merger.add(partials[0][1], now=6.0) == []  # its partial, too late
    assert merger.counts["late"] == 1 and merger.counts["incomplete"] == 3
    # beyond max_pending records waiting, the oldest goes out incomplete
    out = [m for row in partials[3:9] for m in merger.add(row[0], now=7.0)]
    assert [m["source"]["offset"] for m in out] == [3, 4]
    assert merger.counts["scored"] == 0 and len(merger.pending) == 4


def test_bad_partials_are_refused_with_their_reason():
    partials, _, _ = _partials(_stream(n=5))
    merger = ShardMerger(N)
    doc = partials[1][0]
    assert merger.check({"labels": []}).code == "not_partial"
    assert merger.check(dict(doc, shard=dict(doc["shard"], count=4))).code == "shard_count"
    assert ShardMerger(1).check(doc).code == "shard_count"
    foreign = next(f"l{i}" for i in range(99) if shard_of(f"l{i}", N) != 0)
    refused = merger.check(dict(doc, labels=[foreign]))
    assert refused.code == "foreign_label" and "disagree on the label set" in refused.text
    assert merger.check(dict(doc, shard=dict(doc["shard"], index=-1))).code in (
        "shard_index", "foreign_label")


def test_a_shard_keeps_its_labels_and_their_place_among_the_record_positives():
    cut = LabelShard(1, 2)
    y = {f"l{i}": True for i in range(10)} | {"l10": None}
    rec = cut.own(DecodedRecord("r", {"a": 1.0}, y))
    kept = [k for k in y if shard_of(k, 2) == 1]
    assert list(rec.y) == kept and 0 < len(kept) < 11
    assert [list(y)[i] for i in rec.truth_at] == [k for k in kept if y[k]]
    part = cut.partial(rec, 7)
    assert part["n_labels"] == 7 and part["truth"] == [k for k in kept if y[k]]
    assert cut.partial(DecodedRecord("r", {"a": 1.0}, None), 7)["truth"] is None


def test_held_records_are_scored_once_every_shards_labels_came():
    records = _stream(n=200)
    alone = WorkerEvaluator(make_learner("br", threshold="ofo"), window_size=100)
    cuts = [LabelShard(i, N) for i in range(N)]
    evs = [WorkerEvaluator(make_learner("br", threshold="ofo"), window_size=100) for _ in cuts]
    merger = ShardMerger(N, window_size=100)
    held, deliveries = {}, []
    for off, (x, y) in enumerate(records):
        later = off % 3 == 0  # a third of the records come unlabelled, their labels later
        src = ("in", 0, off)
        alone_pred = alone.process_one(x, None if later else y)
        if later:
            held[off] = (x, y, alone_pred)
        for cut, ev in zip(cuts, evs):
            rec = cut.own(DecodedRecord(f"r{off}", x, None if later else y))
            p, s = ev.process_one(x, rec.y)
            if later:
                held[(off, cut.index)] = (p, s)
            doc = {"id": f"r{off}", "source": dict(zip(("topic", "partition", "offset"), src)),
                   "labels": [k for k, on in p.items() if on], "scores": s,
                   "shard": cut.partial(rec, len(ev.labels))}
            merger.add(doc, now=0.0)
        if off % 9 == 8:  # three held records get their labels, in an order of their own
            deliveries += sorted((k for k in held if isinstance(k, int)), reverse=True)
            for k in deliveries[-3:]:
                hx, hy, pred = held.pop(k)
                alone.process_delivered(hx, hy, pred)
                for cut, ev in zip(cuts, evs):
                    rec = cut.own(DecodedRecord(f"r{k}", None, hy))
                    ev.process_delivered(hx, rec.y, held.pop((k, cut.index)))
                    doc = json.loads(cut.delivery(rec, ("in", 0, k), len(ev.labels)))
                    assert merger.check(doc) is None
                    assert merger.add(doc, now=0.0) == []
            deliveries = []
    a, b = alone.summary(), merger.summary()
    assert merger.counts["scored_at_delivery"] > 10 and a["instances"] == b["instances"]
    for key in ("labels", "example_f1", "micro_f1", "macro_f1", "hamming_loss",
                "precision_at_1", "macro_auc", "lrap", "no_change_example_f1"):
        assert a[key] == b[key], key


@pytest.mark.parametrize("spec, text", [
    ("3/3", "0 <= I < N"), ("x", "expected I/N"), ("1/0", "must be >= 1")])
def test_a_bad_shard_spec_is_a_usage_error(spec, text, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["worker", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t",
              "--predictions-topic", "p", "--label-shard", spec])
    assert exit_.value.code == 2 and text in capsys.readouterr().err


def test_a_shard_without_predictions_and_a_merge_of_no_shards_are_usage_errors(capsys):
    with pytest.raises(SystemExit):
        main(["worker", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t",
              "--label-shard", "0/2"])
    assert "give --predictions-topic" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["worker", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t",
              "--predictions-topic", "p", "--label-shard", "0/2", "--label-budget", "0.1"])
    assert "--label-budget with --label-shard" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["merge", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t", "--shards", "0"])
    assert "--shards must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["worker", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t",
              "--threshold", "2", "--learner", "br"])
    assert "--threshold must be auto, ofo or a probability" in capsys.readouterr().err
