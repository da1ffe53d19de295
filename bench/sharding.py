"""iHOMER label shards on the 10,000-label synthetic stream: memory, quality and speed per shard.

    python bench/sharding.py                       # 10,000 labels, 10,000 records, N = 2 and 4
    python bench/sharding.py --shards 2 4 8 --records 20000 --json

What ``labelstream worker --label-shard I/N`` does to each record, in memory, without a
broker: the stream of ``bench/ihomer_large.py`` (:func:`extreme_stream`) is run through
one iHOMER over every label, and through ``N`` iHOMERs that each see the same records with
their labels cut to one shard's share (:class:`connectors.worker.label_shard.LabelShard`,
the CRC-32 of the label name modulo ``N``), in runs of 500 records as a worker learns
them (``WorkerEvaluator.process_many_predicted``). Each shard's predictions become the
partial predictions the worker would publish, and
:class:`connectors.merge.merger.ShardMerger` joins and scores them, as
``labelstream merge --shards N`` does.

Printed per N: each shard's model memory (``memory_usage()``) against the unsharded
model's, each shard's records/s, and the merged example-F1 / micro-F1 / macro-F1 against
the unsharded model's (the issue asks for memory about 1/N and example-F1 within 0.02).
iHOMER clusters labels that occur together; a shard clusters within its share only, so
labels of one topic that hash to different shards are learned apart: what that costs is
the example-F1 difference printed here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ihomer_large import extreme_stream  # noqa: E402

from connectors.kafka.codec import DecodedRecord  # noqa: E402
from connectors.merge.merger import ShardMerger  # noqa: E402
from connectors.worker.label_shard import LabelShard  # noqa: E402
from connectors.worker.state import WorkerEvaluator, prediction_rows  # noqa: E402
from learners.ihomer import IHOMER  # noqa: E402

RUN = 500  # records learned together, as a worker's poll does


def run_alone(records, window: int = 1000):
    """One iHOMER over every label, in runs of ``RUN``: (evaluator, seconds)."""
    ev = WorkerEvaluator(IHOMER(), window_size=window)
    t0 = time.perf_counter()
    for a in range(0, len(records), RUN):
        ev.process_many_predicted(records[a:a + RUN])
    return ev, time.perf_counter() - t0


def run_shards(records, n: int, window: int = 1000):
    """``n`` shards side by side, run by run, their partials merged as they come (the
    partials of one run at a time in memory): (per-shard figures, merger)."""
    cuts = [LabelShard(i, n) for i in range(n)]
    evs = [WorkerEvaluator(IHOMER(), window_size=window) for _ in cuts]
    known = [set() for _ in cuts]
    secs = [0.0] * n
    merger = ShardMerger(n, window_size=window)
    for a in range(0, len(records), RUN):
        block = records[a:a + RUN]
        for i, (cut, ev) in enumerate(zip(cuts, evs)):
            own = [cut.own(DecodedRecord(str(a + k), x, y)) for k, (x, y) in enumerate(block)]
            t0 = time.perf_counter()
            names, P, S = ev.process_many_predicted([(r.x, r.y) for r in own])
            secs[i] += time.perf_counter() - t0
            for k, (rec, (pos, scores)) in enumerate(zip(own, prediction_rows(names, P, S))):
                known[i].update(label for label, on in rec.y.items() if on)
                merger.add({"id": rec.id, "source": {"topic": "in", "partition": 0,
                                                     "offset": a + k},
                            "labels": pos, "scores": scores,
                            "shard": cut.partial(rec, len(known[i]))}, now=0.0)
    per_shard = [{"shard": i, "labels": len(ev.labels),
                  "memory_usage_bytes": ev.learner.memory_usage(),
                  "records_per_second": len(records) / secs[i]} for i, ev in enumerate(evs)]
    return per_shard, merger


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=int, default=10_000)
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--shards", type=int, nargs="+", default=[2, 4])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    records = extreme_stream(args.records, args.labels, seed=args.seed)
    IHOMER().warm_up()
    alone, alone_s = run_alone(records)
    ref = alone.summary()
    ref_bytes = alone.learner.memory_usage()
    out = {"labels_seen": ref["labels"], "records": len(records),
           "unsharded": {"records_per_second": len(records) / alone_s,
                         "memory_usage_bytes": ref_bytes, "example_f1": ref["example_f1"],
                         "micro_f1": ref["micro_f1"], "macro_f1": ref["macro_f1"]},
           "sharded": []}
    for n in args.shards:
        per_shard, merger = run_shards(records, n)
        merged = merger.summary()
        mem = [s["memory_usage_bytes"] for s in per_shard]
        out["sharded"].append({
            "shards": n, "per_shard": per_shard,
            "memory_share_max": max(mem) / ref_bytes, "memory_share_mean": sum(mem) / n / ref_bytes,
            "example_f1": merged["example_f1"], "micro_f1": merged["micro_f1"],
            "macro_f1": merged["macro_f1"],
            "example_f1_minus_unsharded": merged["example_f1"] - ref["example_f1"],
            "scored": merged["counts"].get("scored", 0)})
    if args.json:
        print(json.dumps(out))
        return out
    mib = 2**20
    u = out["unsharded"]
    print(f"iHOMER, {out['records']:,} records, {out['labels_seen']:,} labels seen")
    print(f"  unsharded: {u['memory_usage_bytes'] / mib:8.1f} MiB, {u['records_per_second']:7,.0f}"
          f" records/s, example-F1 {u['example_f1']:.4f}, micro-F1 {u['micro_f1']:.4f}, "
          f"macro-F1 {u['macro_f1']:.4f}")
    for s in out["sharded"]:
        print(f"  N = {s['shards']}: merged example-F1 {s['example_f1']:.4f} "
              f"({s['example_f1_minus_unsharded']:+.4f}), micro-F1 {s['micro_f1']:.4f}, "
              f"macro-F1 {s['macro_f1']:.4f}; memory per shard {s['memory_share_mean']:.3f} "
              f"of unsharded on average, {s['memory_share_max']:.3f} at most")
        for sh in s["per_shard"]:
            print(f"      shard {sh['shard']}: {sh['labels']:,} labels, "
                  f"{sh['memory_usage_bytes'] / mib:7.1f} MiB, "
                  f"{sh['records_per_second']:7,.0f} records/s")
    return out


if __name__ == "__main__":
    main()
