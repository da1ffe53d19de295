"""iHOMER on an extreme label space: a 10,000-label synthetic stream, end to end, on the CPU.

    python bench/ihomer_large.py                      # 10,000 labels, 20,000 records
    python bench/ihomer_large.py --labels 100000 --records 5000
    python bench/ihomer_large.py --json

The stream (:func:`extreme_stream`) is built for extreme multi-label streams (tags,
products, codes): ``labels`` labels in topics of ``topic_size``; a record picks a topic
(Zipf-like popularity, so a few topics are frequent and most are rare), its ``features``
dense features are the topic's prototype plus noise, and it carries each label of the
topic with probability ``0.45`` plus, with probability 0.5, one label drawn from
anywhere: about 5 labels per record out of ``labels``. Label names appear as the stream
reaches them, so the label space keeps growing for most of the run.

It runs iHOMER (defaults) through the same prequential loop as `labelstream replay`
(records generated in memory, then predict, score, learn; the no-change baseline in the
same pass) and prints records/s, the quality figures, the model's
``memory_usage()``, its number of label clusters and of label-set classes, and the peak
resident memory of the process (``ru_maxrss``), which must stay far below 24 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learners.ihomer import IHOMER  # noqa: E402
from stream.prequential import evaluate  # noqa: E402


def extreme_stream(n_records: int, n_labels: int = 10_000, n_features: int = 50,
                   topic_size: int = 10, seed: int = 0):
    """A list of ``(x, y)`` records over ``n_labels`` labels, ~5 positive labels each.

    ``y`` holds the positive labels only (absent = negative), as extreme-label sources
    deliver them.
    """
    rng = np.random.default_rng(seed)
    n_topics = max(1, n_labels // topic_size)
    proto = rng.standard_normal((n_topics, n_features))
    popularity = 1.0 / np.arange(1, n_topics + 1) ** 0.8
    popularity /= popularity.sum()
    topic_of = rng.permutation(n_labels) % n_topics  # label -> topic
    order = np.argsort(topic_of, kind="stable")
    starts = np.searchsorted(topic_of[order], np.arange(n_topics + 1))
    topics = rng.choice(n_topics, size=n_records, p=popularity)
    X = proto[topics] + 0.7 * rng.standard_normal((n_records, n_features))
    names = [f"x{j}" for j in range(n_features)]
    records = []
    for t, x in zip(topics, X):
        members = order[starts[t]:starts[t + 1]]
        on = members[rng.random(members.size) < 0.45]
        if rng.random() < 0.5:
            on = np.append(on, rng.integers(n_labels))
        records.append((dict(zip(names, x.tolist())),
                        {f"tag{l}": True for l in np.unique(on).tolist()}))
    return records


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=int, default=10_000)
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--features", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    records = extreme_stream(args.records, args.labels, args.features, seed=args.seed)
    gen_s = time.perf_counter() - t0
    IHOMER().warm_up()
    model = IHOMER()
    res = evaluate(records, model, report_every=0)
    s = res.summary
    out = {
        "labels_declared": args.labels,
        "labels_seen": s["labels"],
        "records": s["instances"],
        "records_per_second": s["instances_per_second"],
        "seconds": s["seconds"],
        "generate_seconds": gen_s,
        "example_f1": s["example_f1"],
        "micro_f1": s["micro_f1"],
        "macro_f1": s["macro_f1"],
        "hamming_loss": s["hamming_loss"],
        "subset_accuracy": s["subset_accuracy"],
        "precision_at_1": s.get("precision_at_1"),
        "precision_at_5": s.get("precision_at_5"),
        "no_change_example_f1": s["no_change_example_f1"],
        "memory_usage_bytes": model.memory_usage(),
        "clusters": model.n_clusters,
        "largest_cluster": max((len(c) for c in model.clusters()), default=0),
        "label_set_classes": model.n_classes,
        "router_leaves": model._tree.n_leaves,
        "expert_usage": model.expert_usage,
        "peak_rss_bytes": peak_rss_bytes(),
    }
    if args.json:
        print(json.dumps(out))
        return out
    mib = 2**20
    print(f"iHOMER on {out['records']:,} records, {out['labels_seen']:,} labels seen "
          f"({args.labels:,} declared), {args.features} features")
    print(f"  records/s            {out['records_per_second']:,.0f}  "
          f"({out['seconds']:.1f} s; generating the stream took {gen_s:.1f} s)")
    print(f"  example-F1           {out['example_f1']:.3f}  (no-change "
          f"{out['no_change_example_f1']:.3f})")
    print(f"  micro / macro-F1     {out['micro_f1']:.3f} / {out['macro_f1']:.3f}")
    print(f"  Hamming / subset     {out['hamming_loss']:.5f} / {out['subset_accuracy']:.3f}")
    if out["precision_at_1"] is not None:
        print(f"  P@1 / P@5            {out['precision_at_1']:.3f} / "
              f"{out['precision_at_5']:.3f}")
    print(f"  memory_usage()       {out['memory_usage_bytes'] / mib:,.1f} MiB")
    print(f"  clusters             {out['clusters']} (largest {out['largest_cluster']} labels), "
          f"{out['label_set_classes']} label-set classes, {out['router_leaves']} router leaves")
    print(f"  expert usage         {out['expert_usage']}")
    print(f"  peak RSS             {out['peak_rss_bytes'] / mib:,.0f} MiB (process, "
          "stream in memory included)")
    return out


if __name__ == "__main__":
    main()
