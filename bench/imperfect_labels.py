"""Labels as they really are: unknown, noisy, long-tailed (issue 12's benchmark).

For each stream (file order and shuffled with seed 1) and each learner it runs the
prequential loop three ways and prints a table (``--json``: one object per row; ``--plot``:
a PNG of the first two experiments):

* **unknown**: 0 / 30 / 60 % of the label slots of each record hidden (seeded, per record
  and label). *aware*: the hidden labels are unknown (``None``) to the learner; *negative*:
  the learner is told they are absent. Both are scored on the known labels only
  (ex-F1, macro-AUC).
* **noise**: 0 / 20 / 40 % of the positives missing from what the learner learns, plus 5 %
  wrong tags (``stream.label_noise.LabelNoise``), scored against the clean truth, with the
  learner's ``robust`` option off and on (when the learner has one).
* **tail**: head / medium / tail macro-F1 of the clean stream (thirds of the labels by
  frequency), with the learner as configured (``--option`` changes it, e.g.
  ``--option rare_labels=False`` for the "before" column).

    python bench/imperfect_labels.py                               # 4 streams x 2 orders
    python bench/imperfect_labels.py --streams yeast --learners br --experiments unknown
    python bench/imperfect_labels.py --json > bench/results/imperfect_labels.jsonl

Records are fed in runs of 500 through the learners' batched path (the figures equal
record-by-record ones).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learners.registry import make_learner  # noqa: E402
from stream.label_noise import LabelNoise  # noqa: E402
from stream.prequential import PrequentialEvaluator  # noqa: E402
from stream.readers import open_stream  # noqa: E402

DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
STREAMS = {
    "yeast": ("yeast/yeast.arff", {"labels": -14}),
    "enron": ("enron/enron.arff", {"label_file": "enron/enron.xml"}),
    "medical": ("medical/medical.arff", {"label_file": "medical/medical.xml"}),
    "bibtex": ("bibtex/bibtex.arff", {"label_file": "bibtex/bibtex.xml"}),
}
RUN = 500


def load(name: str, shuffle: int | None):
    file, options = STREAMS[name]
    options = {k: (str(DATA / v) if k == "label_file" else v) for k, v in options.items()}
    reader = open_stream(DATA / file, **options)
    records = list(reader)
    if shuffle is not None:
        random.Random(shuffle).shuffle(records)
    return records, list(reader.label_names)


def build(learner: str, options: dict):
    model = make_learner(learner, seed=0)
    if options:
        params = {k: v for k, v in options.items() if k in model._get_params()}
        if len(params) < len(options):
            return None
        model = model.clone(params)
    return model


def prequential(model, records, learn_records, label_names) -> dict:
    ev = PrequentialEvaluator(model, window_size=1000, label_names=label_names)
    batched = hasattr(model, "predict_learn_many")
    t0 = time.perf_counter()
    for a in range(0, len(records), RUN):
        chunk, learn = records[a:a + RUN], learn_records[a:a + RUN]
        if batched:
            ev.process_many(chunk, learn_records=learn)
        else:
            for (x, y), (_, z) in zip(chunk, learn):
                ev.process_one(x, y, learn_y=z)
    out = ev.summary()
    out["seconds"] = time.perf_counter() - t0
    return out


def hide(records, rate: float, seed: int, labels):
    """(scored, aware, negative): the truth with hidden slots unknown; the same for the
    learner; the learner told the hidden slots are absent."""
    if rate == 0:
        return records, records, records
    scored, negative = [], []
    for i, (x, y) in enumerate(records):
        rng = np.random.default_rng((seed, i))
        full = {lb: bool(y.get(lb, False)) for lb in labels}
        hidden = rng.random(len(labels)) < rate
        yk = {lb: (None if h else v) for (lb, v), h in zip(full.items(), hidden)}
        scored.append((x, yk))
        negative.append((x, {lb: (False if v is None else v) for lb, v in yk.items()}))
    return scored, scored, negative


def noisy(records, noise: LabelNoise, labels):
    return [(x, noise.corrupt(y, i, labels)) for i, (x, y) in enumerate(records)]


def _row(kind, stream, order, learner, setting, s, **extra):
    row = {"experiment": kind, "stream": stream, "order": order, "learner": learner,
           "setting": setting}
    for key in ("example_f1", "macro_auc", "micro_auc", "macro_f1", "head_macro_f1",
                "medium_macro_f1", "tail_macro_f1", "unknown_label_slots", "seconds"):
        if key in s:
            row[key] = s[key]
    row.update(extra)
    return row


def run(args):
    options = dict(_option(o) for o in args.option)
    for stream in args.streams:
        for shuffle in (None, 1):
            order = "file" if shuffle is None else "shuffled"
            records, labels = load(stream, shuffle)
            for learner in args.learners:
                if "unknown" in args.experiments:
                    for rate in (0.0, 0.3, 0.6):
                        scored, aware, negative = hide(records, rate, args.seed, labels)
                        for mode, learn in (("aware", aware), ("negative", negative)):
                            if rate == 0 and mode == "negative":
                                continue
                            s = prequential(build(learner, options), scored, learn, labels)
                            yield _row("unknown", stream, order, learner,
                                       f"{rate:.0%} unknown, {mode}", s, rate=rate, mode=mode)
                if "noise" in args.experiments:
                    for missing in (0.0, 0.2, 0.4):
                        noise = LabelNoise(missing=missing, flip=0.05 if missing else 0.0,
                                           seed=args.seed)
                        learn = noisy(records, noise, labels)
                        for robust in (False, True):
                            model = build(learner, {**options, "robust": robust}) \
                                if robust else build(learner, options)
                            if model is None:
                                continue
                            s = prequential(model, records, learn, labels)
                            yield _row("noise", stream, order, learner,
                                       f"missing {missing:.0%}"
                                       + (", flip 5%" if missing else "")
                                       + (", robust" if robust else ""), s,
                                       missing=missing, robust=robust)
                if "tail" in args.experiments:
                    s = prequential(build(learner, options), records, records, labels)
                    yield _row("tail", stream, order, learner,
                               ",".join(f"{k}={v}" for k, v in options.items()) or "default",
                               s)


def _option(text: str):
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def _print(row) -> None:
    cols = [f"{row['stream']:>8} {row['order']:>8} {row['learner']:>7}  {row['setting']:<30}"]
    for key in ("example_f1", "macro_auc", "head_macro_f1", "tail_macro_f1"):
        value = row.get(key)
        cols.append(f"{key.replace('_macro', '').replace('example_', 'ex-')}="
                    + ("   -  " if value is None else f"{value:.4f}"))
    print("  ".join(cols), flush=True)


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, kind, key, xs in ((axes[0], "unknown", "rate", (0.0, 0.3, 0.6)),
                              (axes[1], "noise", "missing", (0.0, 0.2, 0.4))):
        groups = {}
        for r in rows:
            if r["experiment"] != kind:
                continue
            variant = r.get("mode") if kind == "unknown" else (
                "robust" if r.get("robust") else "plain")
            groups.setdefault((r["learner"], variant), {}).setdefault(r[key], []).append(
                r["example_f1"])
        for (learner, variant), by_x in sorted(groups.items()):
            if kind == "unknown" and variant == "aware" or kind == "noise" and \
                    variant == "plain":
                style = "-"
            else:
                style = "--"
            pts = [(x, np.mean(by_x[x])) for x in xs if x in by_x]
            if kind == "unknown" and variant == "negative" and 0.0 in groups.get(
                    (learner, "aware"), {}):
                pts = [(0.0, np.mean(groups[(learner, "aware")][0.0]))] + pts
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o",
                    label=f"{learner} {variant}")
        ax.set_xlabel("unknown share of label slots" if kind == "unknown" else
                      "missing share of positives (+5 % wrong tags)")
        ax.set_ylabel("example-F1 (mean over streams and orders)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("labelstream on imperfect labels")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", nargs="+", default=list(STREAMS), choices=list(STREAMS))
    p.add_argument("--learners", nargs="+", default=["ihomer", "moe", "br"])
    p.add_argument("--experiments", nargs="+", default=["unknown", "noise", "tail"],
                   choices=["unknown", "noise", "tail"])
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a learner parameter for every run (JSON value)")
    p.add_argument("--seed", type=int, default=1, help="seed of the hiding and the noise")
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG")
    args = p.parse_args(argv)
    rows = []
    for row in run(args):
        rows.append(row)
        print(json.dumps(row)) if args.json else _print(row)
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
