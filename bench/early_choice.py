"""Prototype (issue 14): how should iHOMER's expert choice pick the nearest-neighbour expert?

    python bench/early_choice.py                      # every dev stream, both orders
    python bench/early_choice.py --streams medical --orders file --fade 0.99

Outside ``learners/ihomer.py``: ``ihomer`` and ``knn`` (``learners/registry.py``) run side
by side over the first ``--records`` records of each dev stream of ``bench/early.py`` (file
order and shuffled with seed 1), each test-then-train through its own
``predict_learn_many``; their per-record predictions are then combined prequentially
(every choice made from the records before it, so the combination could run online):

* ``per-record``: the expert whose faded example-F1 (factor ``--fade``) is higher serves
  the whole record (iHOMER's rule today, with two experts);
* ``per-label``: each label comes from the expert whose faded F1 on that label (faded
  true/false positive and false negative counts) is higher;
* ``oracle``: the better of the two per record, after the fact (an upper bound, not a
  learner).

Ties go to iHOMER. Figures are cumulative example-F1 after 50 .. 1,000 records (the
metric of ``stream.prequential``: a record with no true and no predicted label scores 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from early import AT, DEV_STREAMS, load  # noqa: E402
from learners.registry import make_learner  # noqa: E402
from stream.batch import to_batch  # noqa: E402

CHUNK = 256


def predictions(name: str, records, labels: list) -> np.ndarray:
    """Test-then-train predictions of learner ``name``, ``(n, len(labels))`` booleans."""
    model = make_learner(name, seed=1)
    col = {lab: j for j, lab in enumerate(labels)}
    out = np.zeros((len(records), len(labels)), dtype=bool)
    for a in range(0, len(records), CHUNK):
        P, _ = model.predict_learn_many(to_batch(records[a:a + CHUNK], sparse=True))
        cols = np.array([col[lab] for lab in model.labels_], dtype=np.int64)
        out[a:a + P.shape[0], cols[:P.shape[1]]] = P
    return out


def ex_f1_rows(T: np.ndarray, P: np.ndarray) -> np.ndarray:
    inter = (T & P).sum(axis=1)
    size = T.sum(axis=1) + P.sum(axis=1)
    return np.where(size == 0, 1.0, 2.0 * inter / np.maximum(size, 1))


def combine(T, A, B, fade: float):
    """Per-record and per-label choices between experts A (iHOMER) and B (knn)."""
    n, L = T.shape
    fa, fb = ex_f1_rows(T, A), ex_f1_rows(T, B)
    rec = np.zeros((n, L), dtype=bool)
    lab = np.zeros((n, L), dtype=bool)
    sa = sb = 0.0
    cnt = np.zeros((2, 3, L))  # expert x (tp, fp, fn) x label, faded
    chose_b_rec = 0
    chose_b_lab = 0.0
    for i in range(n):
        use_b = sb > sa
        rec[i] = B[i] if use_b else A[i]
        chose_b_rec += use_b
        f1 = 2 * cnt[:, 0] / np.maximum(2 * cnt[:, 0] + cnt[:, 1] + cnt[:, 2], 1e-12)
        pick_b = f1[1] > f1[0]
        lab[i] = np.where(pick_b, B[i], A[i])
        chose_b_lab += pick_b.mean()
        sa = fade * sa + fa[i]
        sb = fade * sb + fb[i]
        cnt *= fade
        for e, P in ((0, A[i]), (1, B[i])):
            cnt[e, 0] += P & T[i]
            cnt[e, 1] += P & ~T[i]
            cnt[e, 2] += ~P & T[i]
    oracle = np.maximum(fa, fb)
    return {"ihomer": fa, "knn": fb, "per-record": ex_f1_rows(T, rec),
            "per-label": ex_f1_rows(T, lab), "oracle": oracle}, {
        "knn_share_per_record": chose_b_rec / n, "knn_share_per_label": chose_b_lab / n}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", nargs="+", default=list(DEV_STREAMS),
                   choices=list(DEV_STREAMS))
    p.add_argument("--orders", nargs="+", default=["file", "shuffled"],
                   choices=["file", "shuffled"])
    p.add_argument("--records", type=int, default=max(AT))
    p.add_argument("--fade", type=float, default=0.995,
                   help="fading factor of the choices' F1 (iHOMER's expert_fade default)")
    p.add_argument("--json-out", type=Path,
                   default=ROOT / "bench" / "results" / "early_choice.json")
    args = p.parse_args(argv)
    at = [a for a in AT if a <= args.records]
    rows = []
    for stream in args.streams:
        for order in args.orders:
            records, names = load(stream, 1 if order == "shuffled" else None, args.records)
            labels = list(dict.fromkeys(list(names) + [k for _, y in records for k in y]))
            T = np.zeros((len(records), len(labels)), dtype=bool)
            col = {lab: j for j, lab in enumerate(labels)}
            for i, (_, y) in enumerate(records):
                for k, v in y.items():
                    if v:
                        T[i, col[k]] = True
            A = predictions("ihomer", records, labels)
            B = predictions("knn", records, labels)
            f1s, share = combine(T, A, B, args.fade)
            n = len(records)
            pts = [a for a in at if a <= n] + ([n] if n not in at else [])
            row = {"stream": stream, "order": order, **share,
                   "curves": {k: {str(a): float(v[:a].mean()) for a in pts}
                              for k, v in f1s.items()}}
            rows.append(row)
            print(f"  {stream} {order} done", file=sys.stderr, flush=True)
    args.json_out.write_text(json.dumps({"fade": args.fade, "rows": rows}, indent=1))
    kinds = ["ihomer", "knn", "per-record", "per-label", "oracle"]
    print("| stream | order | records | " + " | ".join(kinds) + " | knn share rec / label |")
    print("|---|---|---|" + "---|" * (len(kinds) + 1))
    for r in rows:
        for k in r["curves"]["ihomer"]:
            vals = [r["curves"][c][k] for c in kinds]
            best = max(vals[:4])
            cells = [f"**{v:.3f}**" if v >= best - 1e-12 and c != "oracle" else f"{v:.3f}"
                     for v, c in zip(vals, kinds)]
            print(f"| {r['stream']} | {r['order']} | {k} | " + " | ".join(cells)
                  + f" | {r['knn_share_per_record']:.2f} / {r['knn_share_per_label']:.2f} |")
    for k in ("200", "1000"):
        sel = [r for r in rows if k in r["curves"]["ihomer"]]
        if sel:
            print(f"\nmean at {k} records over {len(sel)} stream/orders: " + ", ".join(
                f"{c} {np.mean([r['curves'][c][k] for r in sel]):.4f}" for c in kinds))
    return rows


if __name__ == "__main__":
    main()
