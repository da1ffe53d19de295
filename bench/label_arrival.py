"""Labels that arrive on request and in phases, measured (issue 13).

    python bench/label_arrival.py budget [--streams yeast scene] [--learners ihomer br]
    python bench/label_arrival.py phases [--streams synthetic enron bibtex]

``budget``: each dev stream (emotions, yeast, scene, enron, medical, bibtex; file order
and shuffled with seed 1) is replayed prequentially with a label budget of 5 / 10 / 30 /
100 % of the records, for each query strategy (``random``, ``uncertainty``, and
``cluster-disagreement`` for iHOMER) and learner (iHOMER, br): every record is scored,
only the queried records are learned (``stream.active.LabelQuery``). The table gives
example-F1 and the labels spent; the verdict of the issue: at 10 % and 30 %, uncertainty
beats random on >= 4 of the 6 streams in each order. The PNG
(``bench/results/label_budget.png``) plots ex-F1 against the budget.

``phases``: labels revealed in four phases (``stream.label_phases``; the synthetic
stream's new labels arrive with ``new_labels_at``). For each new phase: macro-F1 of the
labels of the earlier phases over the ``--window`` records just before the phase and the
``--window`` records just after it (forgetting shows as a drop), and the new labels'
macro-F1 over the window after.

Each budget figure is the mean over ``--seeds`` (3) seeds of the query strategy's random
choices, so that a verdict is not one seed's luck.

``--json`` prints one JSON line per run; results also go to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learners.registry import make_learner  # noqa: E402
from stream.active import LabelQuery  # noqa: E402
from stream.label_phases import LabelPhases, PhasedRecords, phased_generator  # noqa: E402
from stream.prequential import PrequentialEvaluator  # noqa: E402
from stream.readers import open_stream  # noqa: E402

DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
STREAMS = {
    "emotions": ("emotions/emotions.arff", {}),
    "yeast": ("yeast/yeast.arff", {"labels": -14}),
    "scene": ("scene/Scene-meka.arff.gz", {}),
    "enron": ("enron/enron.arff", {"label_file": "enron/enron.xml"}),
    "medical": ("medical/medical.arff", {"label_file": "medical/medical.xml"}),
    "bibtex": ("bibtex/bibtex.arff", {"label_file": "bibtex/bibtex.xml"}),
}
BUDGETS = (0.05, 0.1, 0.3, 1.0)


def load(stream: str, shuffle: int | None):
    if stream == "synthetic":
        gen = phased_generator(4, 8000, 3, n_features=20, n_labels=6, seed=7)
        return list(gen), None, gen
    file, kwargs = STREAMS[stream]
    kwargs = {k: (DATA / v if k == "label_file" else v) for k, v in kwargs.items()}
    reader = open_stream(DATA / file, **kwargs)
    records = list(reader)
    if shuffle is not None:
        random.Random(shuffle).shuffle(records)
    return records, list(reader.label_names), None


def _orders(streams, file_order_only: bool):
    return [(s, o) for s in streams for o in ((None,) if file_order_only else (None, 1))]


def _name(stream, shuffle):
    return stream + (" (shuffled 1)" if shuffle is not None else "")


# -- budget --------------------------------------------------------------------------------
def budget_run(records, names, learner, budget, strategy, seeds=1):
    """Mean over ``seeds`` query seeds (the strategies' random choices)."""
    runs = []
    for seed in range(seeds if budget < 1.0 else 1):
        query = None if budget >= 1.0 else LabelQuery(budget, strategy, seed=seed)
        ev = PrequentialEvaluator(make_learner(learner, seed=1), window_size=1000,
                                  label_names=names, query=query)
        t0 = time.perf_counter()
        for x, y in records:
            ev.process_one(x, y)
        s = ev.summary()
        runs.append({"example_f1": s["example_f1"], "macro_f1": s["macro_f1"],
                     "labels_spent": s.get("labels_spent", len(records)),
                     "seconds": time.perf_counter() - t0})
    out = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    out["labels_spent"] = int(round(out["labels_spent"]))
    out["seeds"] = len(runs)
    return out


def budget_table(args):
    rows = []
    for stream, shuffle in _orders(args.streams or list(STREAMS), args.file_order_only):
        records, names, _ = load(stream, shuffle)
        for learner in args.learners:
            strategies = ["random", "uncertainty"] + (
                ["cluster-disagreement"] if learner == "ihomer" else [])
            full = budget_run(records, names, learner, 1.0, "random")
            for budget in args.budgets:
                for strategy in strategies:
                    r = full if budget >= 1.0 else budget_run(records, names, learner,
                                                              budget, strategy, args.seeds)
                    row = {"stream": _name(stream, shuffle), "learner": learner,
                           "budget": budget, "strategy": strategy, **r}
                    rows.append(row)
                    print(json.dumps(row) if args.json else
                          f"  {row['stream']:22s} {learner:7s} {budget:5.0%} {strategy:21s}"
                          f" ex-F1 {r['example_f1']:.4f}  spent {r['labels_spent']}",
                          file=sys.stdout if args.json else sys.stderr, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "label_budget.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    if args.json:
        return rows
    strategies = sorted({r["strategy"] for r in rows}, key=["random", "uncertainty",
                                                             "cluster-disagreement"].index)
    print("\nexample-F1 (labels spent) by label budget; every record scored, only the "
          "queried ones learned\n")
    print("| stream | learner | budget | " + " | ".join(strategies) + " |")
    print("|---|---|---|" + "---|" * len(strategies))
    key = {(r["stream"], r["learner"], r["budget"], r["strategy"]): r for r in rows}
    for stream, learner, budget in dict.fromkeys((r["stream"], r["learner"], r["budget"])
                                                 for r in rows):
        cells = []
        for st in strategies:
            r = key.get((stream, learner, budget, st))
            cells.append("" if r is None else f"{r['example_f1']:.4f} ({r['labels_spent']})")
        print(f"| {stream} | {learner} | {budget:.0%} | " + " | ".join(cells) + " |")
    print()
    for learner in args.learners:
        for order in ("file order", "shuffled"):
            for budget in (0.1, 0.3):
                if budget not in args.budgets:
                    continue
                sel = [(s, l, b) for (s, l, b, st) in key if st == "random" and l == learner
                       and b == budget and (("shuffled" in s) == (order == "shuffled"))]
                if not sel:
                    continue
                for st in strategies[1:]:
                    wins = sum(key[(s, l, b, st)]["example_f1"] > key[(s, l, b, "random")][
                        "example_f1"] for s, l, b in sel if (s, l, b, st) in key)
                    print(f"{learner}, {order}, budget {budget:.0%}: {st} beats random on "
                          f"{wins}/{len(sel)} streams (need >= 4 of 6)")
    plot_budget(rows, RESULTS / "label_budget.png")
    return rows


def plot_budget(rows, out: Path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    streams = list(dict.fromkeys(r["stream"] for r in rows))
    learners = list(dict.fromkeys(r["learner"] for r in rows))
    cols = min(4, len(streams))
    nrows = math.ceil(len(streams) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.2 * nrows), squeeze=False)
    styles = {"random": ":", "uncertainty": "-", "cluster-disagreement": "--"}
    for ax, stream in zip(axes.flat, streams):
        for learner, color in zip(learners, ("tab:blue", "tab:orange", "tab:green")):
            for st, ls in styles.items():
                pts = sorted((r["budget"], r["example_f1"]) for r in rows
                             if r["stream"] == stream and r["learner"] == learner
                             and r["strategy"] == st)
                if pts:
                    ax.plot([p[0] * 100 for p in pts], [p[1] for p in pts], ls, color=color,
                            marker="o", ms=3, label=f"{learner} {st}")
        ax.set_xscale("log")
        ax.set_xticks([5, 10, 30, 100], ["5", "10", "30", "100"])
        ax.set_title(stream, fontsize=9)
        ax.set_xlabel("label budget (% of records)", fontsize=8)
        ax.set_ylabel("example-F1", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(streams):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle("Active learning: example-F1 against the label budget (prequential)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"plot: {out}", file=sys.stderr)


# -- phases --------------------------------------------------------------------------------
def _macro_f1(tp, fp, fn, labels):
    vals = [2 * tp[l] / (2 * tp[l] + fp[l] + fn[l]) for l in labels
            if tp[l] + fp[l] + fn[l] > 0]
    return float(np.mean(vals)) if vals else math.nan


def phases_run(records, names, gen, learner, n_phases, window):
    n = len(records)
    if gen is not None:  # the synthetic stream: new labels arrive on their own
        starts = [0] + sorted(gen.new_labels_at)
        appear = dict.fromkeys(gen.labels_at(0), 0)
        for k, s in enumerate(starts[1:], 1):
            appear.update(dict.fromkeys(set(gen.labels_at(s)) - set(appear), k))
        phase_of = appear.__getitem__
        stream = records
    else:
        phases = LabelPhases(n_phases, n, labels=names, seed=0)
        starts, phase_of = phases.starts, phases.phase_of
        stream = list(PhasedRecords(records, phases))
    model = make_learner(learner, seed=1)
    ev = PrequentialEvaluator(model, window_size=1000)
    preds = []
    for x, y in stream:
        pred, _ = ev.process_one(x, y)
        preds.append({k for k, v in pred.items() if v})
    truths = [{k for k, v in y.items() if v} for _, y in stream]
    out = []
    for k in range(1, len(starts)):
        s = starts[k]
        w = min(window, s - starts[k - 1], (starts[k + 1] if k + 1 < len(starts) else n) - s)
        old = {lab for t in truths[:s] for lab in t if phase_of(lab) < k}
        new = {lab for t in truths[s:s + w] for lab in t if phase_of(lab) == k}

        def counts(a, b):
            tp, fp, fn = {}, {}, {}
            for lab in old | new:
                tp[lab] = fp[lab] = fn[lab] = 0
            for p, t in zip(preds[a:b], truths[a:b]):
                for lab in p | t:
                    if lab in tp:
                        if lab in p and lab in t:
                            tp[lab] += 1
                        elif lab in p:
                            fp[lab] += 1
                        else:
                            fn[lab] += 1
            return tp, fp, fn

        before, after = counts(s - w, s), counts(s, s + w)
        out.append({"phase": k, "start": s, "window": w, "old_labels": len(old),
                    "new_labels": len(new),
                    "old_macro_f1_before": _macro_f1(*before, old),
                    "old_macro_f1_after": _macro_f1(*after, old),
                    "new_macro_f1_after": _macro_f1(*after, new)})
    s = ev.summary()
    return out, s["example_f1"]


def phases_table(args):
    rows = []
    for stream in args.streams or ["synthetic", "enron", "bibtex"]:
        records, names, gen = load(stream, None)
        for learner in args.learners:
            phases, ex_f1 = phases_run(records, names, gen, learner, args.n_phases,
                                       args.window)
            for p in phases:
                row = {"stream": stream, "learner": learner, "example_f1": ex_f1, **p}
                rows.append(row)
                if args.json:
                    print(json.dumps(row), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "label_phases.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    if args.json:
        return rows
    print(f"\nlabels in {args.n_phases} phases: macro-F1 of the earlier phases' labels over "
          f"the {args.window} records before / after each new phase\n")
    print("| stream | learner | phase (start) | old labels | old before | old after | "
          "change (>= -0.02) | new labels | new after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        d = r["old_macro_f1_after"] - r["old_macro_f1_before"]
        print(f"| {r['stream']} | {r['learner']} | {r['phase']} ({r['start']}) | "
              f"{r['old_labels']} | {r['old_macro_f1_before']:.4f} | "
              f"{r['old_macro_f1_after']:.4f} | {d:+.4f} | {r['new_labels']} | "
              f"{r['new_macro_f1_after']:.4f} |")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    b = sub.add_parser("budget", help="ex-F1 against the label budget, per strategy")
    b.add_argument("--streams", nargs="+", choices=list(STREAMS))
    b.add_argument("--budgets", nargs="+", type=float, default=list(BUDGETS))
    b.add_argument("--file-order-only", action="store_true")
    b.add_argument("--seeds", type=int, default=3,
                   help="query seeds per run; the table gives the mean")
    ph = sub.add_parser("phases", help="old labels' macro-F1 around each new phase")
    ph.add_argument("--streams", nargs="+", choices=["synthetic"] + list(STREAMS))
    ph.add_argument("--n-phases", type=int, default=4)
    ph.add_argument("--window", type=int, default=1000)
    for q in (b, ph):
        q.add_argument("--learners", nargs="+", default=["ihomer", "br"])
        q.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    (budget_table if args.what == "budget" else phases_table)(args)


if __name__ == "__main__":
    main()
