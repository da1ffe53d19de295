"""Early-stream quality (issue 14): example-F1 after the first 50 .. 1,000 records.

    python bench/early.py                                  # every dev stream, both orders
    python bench/early.py --streams emotions flags --learners ihomer knn --merge
    python bench/early.py --no-prefixes --orders shuffled

Every dev stream (emotions, yeast, scene = Scene-meka, enron, medical, bibtex, birds,
flags, genbase; the list of ``bench/ihomer.py``) is replayed prequentially
(``stream.prequential.evaluate``, the loop of ``labelstream replay``) in file order and
shuffled with seed 1, for each learner of ``--learners`` (names of
``learners/registry.py``); the curve is the cumulative example-F1 after ``--at`` records
(50, 100, 200, 500, 1,000; fewer on a shorter stream). Only the first ``max(--at)``
records are replayed. ``no-change`` is the registry's learner (the evaluator's own
baseline gives the same figure).

Then the first 200 and 500 records of each shuffled stream are replayed as streams of
their own (unless ``--no-prefixes``; shown on the shuffled rows); a prequential run is
causal, so each must equal the shuffled curve at that point -- where one does not, the
cell shows the curve's figure too.

Output: a markdown table on stdout, the rows in ``bench/results/early.json`` (``--merge``
keeps the rows of other learners/streams already there) and a PNG of the curves
(``bench/results/early.png``, matplotlib).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learners.registry import make_learner  # noqa: E402
from stream.prequential import evaluate  # noqa: E402
from stream.readers import open_stream  # noqa: E402

DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
DEV_STREAMS = {  # as bench/ihomer.py (BAR + EXTRA, scene-shuffled being scene shuffled)
    "emotions": "emotions/emotions.arff",
    "yeast": "yeast/yeast.arff",
    "scene": "scene/Scene-meka.arff.gz",
    "enron": "enron/enron.arff",
    "medical": "medical/medical.arff",
    "bibtex": "bibtex/bibtex.arff",
    "birds": "birds/birds.arff",
    "flags": "flags/flags.arff",
    "genbase": "genbase/genbase.arff",
}
LEARNERS = ("ihomer", "moe", "br", "lp", "no-change")
AT = (50, 100, 200, 500, 1000)
PREFIXES = (200, 500)
OUT = ROOT / "bench" / "results"


def load(stream: str, shuffle: int | None, limit: int):
    reader = open_stream(DATA / DEV_STREAMS[stream])
    records = list(reader)
    if shuffle is not None:
        random.Random(shuffle).shuffle(records)
    return records[:limit], list(reader.label_names)


def curve(records, label_names, learner: str, at) -> dict:
    """Cumulative ex-F1 after each of ``at`` records (those the stream reaches)."""
    model = make_learner(learner, seed=1)
    t0 = time.perf_counter()
    res = evaluate(records, model, label_names=label_names, report_every=50,
                   limit=max(at))
    seconds = time.perf_counter() - t0
    by_n = {row["records"]: row["example_f1"] for row in res.history}
    n = res.summary["instances"]
    pts = {str(a): by_n[a] for a in at if a in by_n}
    if n not in by_n or (n < max(at) and str(n) not in pts):
        pts[str(n)] = res.summary["example_f1"]
    return {"curve": pts, "instances": n, "seconds": seconds,
            "final_example_f1": res.summary["example_f1"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", nargs="+", default=list(DEV_STREAMS),
                   choices=list(DEV_STREAMS))
    p.add_argument("--learners", nargs="+", default=list(LEARNERS))
    p.add_argument("--orders", nargs="+", default=["file", "shuffled"],
                   choices=["file", "shuffled"])
    p.add_argument("--at", nargs="+", type=int, default=list(AT))
    p.add_argument("--no-prefixes", action="store_true",
                   help="skip the 200/500-record shuffled prefixes as streams of their own")
    p.add_argument("--merge", action="store_true",
                   help="keep rows of other learners/streams already in --json-out")
    p.add_argument("--json-out", type=Path, default=OUT / "early.json")
    p.add_argument("--png", type=Path, default=OUT / "early.png")
    p.add_argument("--table-only", action="store_true",
                   help="print the table and plot of --json-out without running anything")
    args = p.parse_args(argv)
    at = sorted(args.at)
    if args.table_only:
        saved = json.loads(args.json_out.read_text())
        print(table(saved["rows"], saved["at"]))
        plot(saved["rows"], args.png)
        return saved["rows"]

    rows = []
    for stream in args.streams:
        for order in args.orders:
            shuffle = 1 if order == "shuffled" else None
            records, names = load(stream, shuffle, max(at))
            for learner in args.learners:
                r = {"stream": stream, "order": order, "learner": learner,
                     **curve(records, names, learner, at)}
                rows.append(r)
                print(f"  {stream:9s} {order:8s} {learner:9s} " + " ".join(
                    f"{k}:{v:.3f}" for k, v in r["curve"].items())
                    + f"  ({r['seconds']:.1f}s)", file=sys.stderr, flush=True)
                if order == "shuffled" and not args.no_prefixes:
                    for n in PREFIXES:
                        if n > len(records):
                            continue
                        pr = curve(records[:n], names, learner, [n])
                        rows.append({"stream": stream, "order": f"prefix{n}",
                                     "learner": learner, **pr})
    if args.merge and args.json_out.exists():
        old = json.loads(args.json_out.read_text())["rows"]
        keys = {(r["stream"], r["order"], r["learner"]) for r in rows}
        rows = [r for r in old if (r["stream"], r["order"], r["learner"]) not in keys] + rows
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps({"at": at, "rows": rows}, indent=1))
    print(table(rows, at))
    try:
        plot(rows, args.png)
        print(f"\nplot: {args.png}")
    except ImportError:
        print("\n(matplotlib not installed: no plot)")
    return rows


def table(rows, at) -> str:
    """Markdown: one line per stream/order/learner, ex-F1 at each point and the prefixes;
    the best learner of a column in bold."""
    curves = [r for r in rows if not r["order"].startswith("prefix")]
    pref = {(r["stream"], r["order"], r["learner"]): r for r in rows
            if r["order"].startswith("prefix")}
    learners = list(dict.fromkeys(r["learner"] for r in curves))
    cols = [str(a) for a in at]
    head = "| stream | order | learner | " + " | ".join(cols) + " | prefix 200 | prefix 500 |"
    lines = [head, "|" + "---|" * (len(cols) + 5)]
    groups = list(dict.fromkeys((r["stream"], r["order"]) for r in curves))
    for stream, order in groups:
        sel = {r["learner"]: r for r in curves if (r["stream"], r["order"]) == (stream, order)}
        best = {c: max((r["curve"].get(c, -1) for r in sel.values()), default=-1)
                for c in cols}
        bestp = {n: max((pref[(stream, f"prefix{n}", lr)]["final_example_f1"]
                         for lr in sel if (stream, f"prefix{n}", lr) in pref), default=-1)
                 for n in PREFIXES}
        for lr in learners:
            if lr not in sel:
                continue
            c = sel[lr]["curve"]
            cells = []
            for k in cols:
                v = c.get(k)
                cells.append("-" if v is None else
                             (f"**{v:.3f}**" if v >= best[k] - 1e-12 else f"{v:.3f}"))
            for n in PREFIXES:
                pr = pref.get((stream, f"prefix{n}", lr))
                if pr is None or order != "shuffled":
                    cells.append("-")
                    continue
                v = pr["final_example_f1"]
                s = f"**{v:.3f}**" if v >= bestp[n] - 1e-12 else f"{v:.3f}"
                on_curve = c.get(str(n))
                if on_curve is not None and abs(on_curve - v) > 1e-9:
                    s += f" (curve {on_curve:.3f})"
                cells.append(s)
            extra = ""
            if len(c) and list(c)[-1] not in cols:  # a stream shorter than max(at)
                k = list(c)[-1]
                extra = f" (all {k}: {c[k]:.3f})"
            lines.append(f"| {stream} | {order} | {lr}{extra} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [r for r in rows if not r["order"].startswith("prefix")]
    streams = list(dict.fromkeys(r["stream"] for r in curves))
    orders = list(dict.fromkeys(r["order"] for r in curves))
    learners = list(dict.fromkeys(r["learner"] for r in curves))
    colours = {lr: f"C{i}" for i, lr in enumerate(learners)}
    fig, axes = plt.subplots(len(orders), len(streams), figsize=(2.6 * len(streams),
                                                                 2.6 * len(orders)),
                             squeeze=False, sharex=True)
    for i, order in enumerate(orders):
        for j, stream in enumerate(streams):
            ax = axes[i][j]
            for r in curves:
                if (r["stream"], r["order"]) != (stream, order):
                    continue
                xs = [int(k) for k in r["curve"]]
                ax.plot(xs, list(r["curve"].values()), marker=".", color=colours[r["learner"]],
                        label=r["learner"])
            ax.set_xscale("log")
            ax.set_title(f"{stream} ({order})", fontsize=9)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel("cumulative ex-F1")
    axes[0][0].legend(fontsize=7)
    fig.supxlabel("records")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
