"""The mixture of experts (issue 6) on drifting synthetic streams and stationary real ones.

    python bench/moe.py                       # the full table and the plot
    python bench/moe.py --json > moe.jsonl    # one JSON object per run, then the verdicts
    python bench/moe.py --streams recurring --seeds 1 --no-real --plot moe.png

Learners: ``moe-data`` (``MixtureOfExperts()``, data-regime experts, ``--learner moe``),
``moe-task`` (``MixtureOfExperts(experts="task")``, one expert per iHOMER label
cluster), ``ihomer`` and ``br`` (binary relevance of logistic regressions), each through
the same prequential loop as ``labelstream replay`` (``stream.prequential.evaluate``).

Synthetic streams (``stream.synthetic.MultiLabelGenerator``, 20 features, 10 labels in 4
groups, cardinality 2.5, seeds ``--seeds``): ``recurring`` (P(y|x) changes at 5,000 and
the old concept returns at 10,000; 15,000 records), ``recurring-gradual`` (the same, each
switch gradual over 500 records), ``sudden`` (a new P(y|x) at 5,000; 10,000 records),
``gradual`` (a new P(y|x) mixed in over 5,000-7,000; 10,000 records).

For every drift position ``p`` (a recurring drift has two: the switch and the return):

* ``after p``: the mean example-F1 of the ``--after`` records from ``p`` on;
* ``recover p``: records from ``p`` until the windowed example-F1 (mean over the last
  ``--window`` records, all after the end of the transition) is back within ``--tolerance``
  of its pre-drift level (the mean over the 500 records before ``p``). The smallest
  possible value is ``--window`` plus the transition's width; ``-`` means not before the
  next drift or the end of the stream.

Real streams (``../shared/data``, or ``$LABELSTREAM_DATA``), in file order and shuffled
with seed 1 (``scene-shuffled`` is itself a shuffled copy of ``scene``): example-F1,
its difference to iHOMER's, records/s.

Verdicts: the mixture recovers faster than iHOMER after each recurring drift's return
(both variants, every seed), and loses at most 0.01 example-F1 to iHOMER on every real
stream and order. ``rec/s`` is the prequential loop over records in memory (predict,
score, learn); figures are measured as they come on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learners.moe import MixtureOfExperts  # noqa: E402
from learners.registry import make_learner  # noqa: E402
from stream.prequential import evaluate  # noqa: E402
from stream.readers import open_stream  # noqa: E402
from stream.synthetic import Drift, MultiLabelGenerator  # noqa: E402

DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
REAL = {
    "emotions": "emotions/emotions.arff",
    "yeast": "yeast/yeast.arff",
    "scene": "scene/Scene-meka.arff.gz",
    "scene-shuffled": "scene/scene-shuffled.arff.gz",
    "enron": "enron/enron.arff",
    "medical": "medical/medical.arff",
    "flags": "flags/flags.arff",
}
SYNTHETIC = {  # name -> (drifts, records)
    "recurring": ([Drift(5000, kind="recurring", duration=5000)], 15000),
    "recurring-gradual": ([Drift(5000, kind="recurring", width=500, duration=5000)], 15000),
    "sudden": ([Drift(5000)], 10000),
    "gradual": ([Drift(5000, kind="gradual", width=2000)], 10000),
}
LEARNERS = ("moe-data", "moe-task", "ihomer", "br")
PRE = 500  # records before a drift that set its pre-drift level


def build(name: str):
    if name == "moe-data":
        return MixtureOfExperts()
    if name == "moe-task":
        return MixtureOfExperts(experts="task")
    return make_learner(name)


def run(records, name: str, label_names=None):
    """Prequential run of learner ``name``: (summary, per-record example-F1)."""
    f1 = []

    def watch(first, example_f1, rows, events, names):
        f1.extend(np.asarray(example_f1, dtype=float).tolist())
        return []

    res = evaluate(records, build(name), label_names=label_names, report_every=0,
                   watch=watch)
    return res.summary, np.asarray(f1)


def recovery(f1: np.ndarray, position: int, width: int, end: int, window: int,
             tolerance: float):
    """Records from ``position`` until the mean example-F1 of the last ``window`` records
    (all after the transition) is back within ``tolerance`` of the pre-drift level."""
    pre = f1[position - PRE:position].mean()
    csum = np.concatenate([[0.0], np.cumsum(f1)])
    for t in range(position + width + window, end + 1):
        if (csum[t] - csum[t - window]) / window >= pre - tolerance:
            return t - position
    return None


def synthetic_rows(names, seeds, learners, window, tolerance, after):
    rows, curves = [], {}
    for stream in names:
        drifts, n = SYNTHETIC[stream]
        for seed in seeds:
            gen = MultiLabelGenerator(n_features=20, n_labels=10, n_clusters=4,
                                      cardinality=2.5, seed=seed, drifts=drifts)
            records = [(x, {k: v for k, v in y.items() if v}) for x, y in gen.take(n)]
            positions = gen.drift_positions
            widths = [d.width for d in drifts for _ in range(2 if d.kind == "recurring" else 1)]
            for learner in learners:
                summary, f1 = run(records, learner)
                row = {"stream": stream, "seed": seed, "learner": learner,
                       "example_f1": summary["example_f1"],
                       "rec_s": summary["instances_per_second"], "drifts": []}
                for k, (p, w) in enumerate(zip(positions, widths)):
                    end = positions[k + 1] if k + 1 < len(positions) else n
                    row["drifts"].append({
                        "position": p, "pre": float(f1[p - PRE:p].mean()),
                        "after": float(f1[p:p + after].mean()),
                        "recover": recovery(f1, p, w, end, window, tolerance)})
                rows.append(row)
                curves[(stream, seed, learner)] = f1
                yield row, None
    yield None, curves


def real_rows(names, learners, shuffled):
    for stream in names:
        reader = open_stream(DATA / REAL[stream])
        records = list(reader)
        orders = [None] + ([1] if shuffled and stream != "scene-shuffled" else [])
        for order in orders:
            recs = list(records)
            if order is not None:
                random.Random(order).shuffle(recs)
            results = {}
            for learner in learners:
                summary, _ = run(recs, learner, reader.label_names)
                results[learner] = summary
            base = results.get("ihomer", {}).get("example_f1")
            for learner, summary in results.items():
                yield {"stream": stream, "order": "file" if order is None else f"shuffled {order}",
                       "learner": learner, "example_f1": summary["example_f1"],
                       "vs_ihomer": None if base is None else summary["example_f1"] - base,
                       "rec_s": summary["instances_per_second"]}


def plot(curves, path, window):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    streams = sorted({k[0] for k in curves}, key=list(SYNTHETIC).index)
    seed = min(k[1] for k in curves)
    fig, axes = plt.subplots(len(streams), 1, figsize=(11, 3.2 * len(streams)), dpi=110,
                             squeeze=False)
    colours = {"moe-data": "tab:red", "moe-task": "tab:orange", "ihomer": "tab:blue",
               "br": "tab:grey"}
    for ax, stream in zip(axes[:, 0], streams):
        drifts, n = SYNTHETIC[stream]
        for learner in [k[2] for k in curves if k[0] == stream and k[1] == seed]:
            f1 = curves[(stream, seed, learner)]
            csum = np.concatenate([[0.0], np.cumsum(f1)])
            xs = np.arange(window, f1.size + 1)
            ax.plot(xs, (csum[window:] - csum[:-window]) / window, linewidth=1.1,
                    color=colours.get(learner), label=learner)
        gen = MultiLabelGenerator(n_features=20, n_labels=10, n_clusters=4, cardinality=2.5,
                                  seed=seed, drifts=drifts)
        widths = [d.width for d in drifts for _ in range(2 if d.kind == "recurring" else 1)]
        for k, (p, w) in enumerate(zip(gen.drift_positions, widths)):
            ax.axvline(p, color="black", linestyle="--", linewidth=0.9,
                       label="drift" if k == 0 else None)
            if w:
                ax.axvspan(p, p + w, color="grey", alpha=0.15,
                           label="transition" if k == 0 else None)
        ax.set_xlim(0, n)
        ax.set_ylim(0.2, 1.0)
        ax.grid(alpha=0.3)
        ax.set_ylabel(f"example-F1 (last {window})")
        ax.set_title(f"{stream} (seed {seed})", fontsize=10)
        ax.legend(loc="lower left", fontsize=8, ncol=6)
    axes[-1, 0].set_xlabel("records")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _recover_text(value):
    return "-" if value is None else f"{value:,}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", nargs="*", default=list(SYNTHETIC), choices=list(SYNTHETIC))
    p.add_argument("--real", nargs="*", default=list(REAL), choices=list(REAL))
    p.add_argument("--no-real", action="store_true", help="synthetic streams only")
    p.add_argument("--file-order-only", action="store_true",
                   help="real streams in file order only (default: shuffled with seed 1 too)")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--learners", nargs="+", default=list(LEARNERS))
    p.add_argument("--window", type=int, default=100,
                   help="records in the windowed example-F1 of the recovery measure")
    p.add_argument("--tolerance", type=float, default=0.02)
    p.add_argument("--after", type=int, default=1000,
                   help="records after each drift in the 'after' example-F1")
    p.add_argument("--plot", default="moe_drift.png", help="PNG path ('' for none)")
    p.add_argument("--plot-window", type=int, default=200)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    out = sys.stdout
    syn, curves = [], {}
    for row, done in synthetic_rows(args.streams, args.seeds, args.learners, args.window,
                                    args.tolerance, args.after):
        if row is None:
            curves = done
            continue
        syn.append(row)
        if args.json:
            print(json.dumps(row), file=out, flush=True)
    real = []
    if not args.no_real:
        for row in real_rows(args.real, args.learners, not args.file_order_only):
            real.append(row)
            if args.json:
                print(json.dumps(row), file=out, flush=True)

    verdicts = []
    for variant in [v for v in ("moe-data", "moe-task") if v in args.learners]:
        if "ihomer" in args.learners:
            faster, total = 0, 0
            for row in syn:
                if row["learner"] != variant or not row["stream"].startswith("recurring"):
                    continue
                ref = next(r for r in syn if r["learner"] == "ihomer"
                           and r["stream"] == row["stream"] and r["seed"] == row["seed"])
                mine, theirs = row["drifts"][-1]["recover"], ref["drifts"][-1]["recover"]
                total += 1
                faster += mine is not None and (theirs is None or mine < theirs)
            worst = min((r["vs_ihomer"] for r in real if r["learner"] == variant),
                        default=None)
            verdicts.append({"learner": variant, "recurring_returns_faster": faster,
                             "recurring_returns": total, "worst_real_vs_ihomer": worst})
    if args.json:
        for v in verdicts:
            print(json.dumps({"verdict": v}), file=out)
    else:
        n_drifts = max((len(r["drifts"]) for r in syn), default=0)
        head = "| stream | seed | learner | ex-F1 |"
        rule = "|---|---|---|---|"
        for k in range(n_drifts):
            head += f" after drift {k + 1} | recover drift {k + 1} |"
            rule += "---|---|"
        print(head + " rec/s |", file=out)
        print(rule + "---|", file=out)
        for r in syn:
            cells = "".join(
                f" {d['after']:.3f} | {_recover_text(d['recover'])} |" for d in r["drifts"])
            cells += " - | - |" * (n_drifts - len(r["drifts"]))
            print(f"| {r['stream']} | {r['seed']} | {r['learner']} | {r['example_f1']:.3f} |"
                  f"{cells} {r['rec_s']:,.0f} |", file=out)
        if syn:
            print(f"\ndrift positions: recurring* 5,000 and 10,000 (the return); sudden and "
                  f"gradual 5,000 (gradual over 2,000). 'after': mean ex-F1 of the "
                  f"{args.after} records from the drift; 'recover': records until the last "
                  f"{args.window} records' ex-F1 is within {args.tolerance} of the 500 "
                  f"before the drift ('-': not before the next drift / the end).", file=out)
        if real:
            print("\n| stream | order | learner | ex-F1 | vs iHOMER | rec/s |", file=out)
            print("|---|---|---|---|---|---|", file=out)
            for r in real:
                vs = "-" if r["vs_ihomer"] is None else f"{r['vs_ihomer']:+.3f}"
                print(f"| {r['stream']} | {r['order']} | {r['learner']} | "
                      f"{r['example_f1']:.3f} | {vs} | {r['rec_s']:,.0f} |", file=out)
        for v in verdicts:
            worst = ("-" if v["worst_real_vs_ihomer"] is None
                     else f"{v['worst_real_vs_ihomer']:+.3f}")
            print(f"\n{v['learner']}: recovers faster than iHOMER after "
                  f"{v['recurring_returns_faster']}/{v['recurring_returns']} recurring "
                  f"returns; worst example-F1 difference to iHOMER on the real streams: "
                  f"{worst} (must be >= -0.010)", file=out)
    if args.plot and curves:
        plot(curves, args.plot, args.plot_window)
        if not args.json:
            print(f"\nplot: {args.plot}", file=out)
    return syn, real, verdicts


if __name__ == "__main__":
    main()
