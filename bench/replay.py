"""Prequential quality and speed table: chosen learners over chosen streams, both orders.

Every row comes from one `labelstream replay`-equivalent run (same code path, in-process):
the learner's example/micro/macro F1, Hamming loss, subset accuracy, records/s, and the
no-change baseline's example-F1 measured in the same pass.

    python bench/replay.py                                   # default learners and streams
    python bench/replay.py --learners br cc --streams yeast scene --orders file shuffled
    python bench/replay.py --json > out.jsonl                # one JSON object per run

Streams are names from ../shared/data (see its MANIFEST.md) or file paths; the shuffled
order uses seed 1 (the shuffled scene file of shared/data uses the same seed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.sources import SourceSpec, open_source  # noqa: E402
from learners.registry import make_learner  # noqa: E402
from stream.prequential import evaluate  # noqa: E402

DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
STREAMS = {
    "emotions": "emotions/emotions.arff",
    "yeast": "yeast/yeast.arff",
    "scene": "scene/Scene-meka.arff.gz",
    "enron": "enron/enron.arff",
    "medical": "medical/medical.arff",
    "flags": "flags/flags.arff",
    "birds": "birds/birds.arff",
    "genbase": "genbase/genbase.arff",
    "bibtex": "bibtex/bibtex.arff",
}
COLUMNS = ("example_f1", "micro_f1", "macro_f1", "hamming_loss", "subset_accuracy",
           "instances_per_second", "no_change_example_f1")


def run_one(stream: str, learner: str, order: str, limit=None, seed=None) -> dict:
    path = str(DATA / STREAMS[stream]) if stream in STREAMS else stream
    spec = SourceSpec(path=path, shuffle=1 if order == "shuffled" else None)
    records, _ = open_source(spec)
    if order == "shuffled":
        list(iter(records))  # load before timing: shuffling is not the learner's cost
    model = make_learner(learner, seed=seed)
    t0 = time.perf_counter()
    res = evaluate(records, model, label_names=getattr(records, "label_names", None),
                   limit=limit, report_every=0)
    row = {"stream": stream, "order": order, "learner": learner}
    row.update(res.summary)
    row["wall_seconds"] = time.perf_counter() - t0
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--learners", nargs="+", default=["br", "cc", "br-ht", "lp", "no-change"])
    p.add_argument("--streams", nargs="+", default=["yeast", "scene", "enron", "medical"])
    p.add_argument("--orders", nargs="+", default=["file", "shuffled"],
                   choices=["file", "shuffled"])
    p.add_argument("--limit", type=int, default=None, help="records per run (default: all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    args = p.parse_args(argv)
    rows = []
    header = f"| {'stream':<9}| {'order':<9}| {'learner':<10}| " + " | ".join(
        ["ex-F1", "micro-F1", "macro-F1", "Hamming", "subset", "rec/s", "no-change ex-F1"]) + " |"
    if not args.json:
        print(header)
        print("|" + "|".join("---" for _ in range(10)) + "|")
    for stream in args.streams:
        for order in args.orders:
            for learner in args.learners:
                row = run_one(stream, learner, order, args.limit, args.seed)
                rows.append(row)
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    vals = [f"{row[c]:.3f}" for c in COLUMNS[:5]]
                    vals.append(f"{row['instances_per_second']:,.0f}")
                    vals.append(f"{row['no_change_example_f1']:.3f}")
                    print(f"| {stream:<9}| {order:<9}| {learner:<10}| " + " | ".join(vals) + " |",
                          flush=True)
    return rows


if __name__ == "__main__":
    main()
