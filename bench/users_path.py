"""The users' path against the bare loop: `labelstream replay` (parse the file, default drift
watcher, label-structure detectors, metrics) over the prequential loop alone (records
already in memory, no watcher), same learner, same run.

    python bench/users_path.py                       # ihomer and br on yeast scene enron medical
    python bench/users_path.py --learners ihomer --streams yeast --repeat 5 --json

Both rates are records/s of ``evaluate`` (kernels warmed before the clock starts); the
replay is :func:`connectors.cli.run_replay` in-process, which is what the command runs
after its imports. The two take turns, ``--repeat`` times each; the best of each is
reported with their ratio (issue 15 asks >= 0.85 for iHOMER on the four streams).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.cli import ReplayConfig, run_replay  # noqa: E402
from connectors.sources import SourceSpec, open_source  # noqa: E402
from learners.registry import make_learner  # noqa: E402
from stream.prequential import evaluate  # noqa: E402

DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
STREAMS = {
    "yeast": "yeast/yeast.arff",
    "scene": "scene/Scene-meka.arff.gz",
    "enron": "enron/enron.arff",
    "medical": "medical/medical.arff",
    "emotions": "emotions/emotions.arff",
    "bibtex": "bibtex/bibtex.arff",
}


def measure(stream: str, learner: str, repeat: int) -> dict:
    path = str(DATA / STREAMS[stream]) if stream in STREAMS else stream
    records = list(open_source(SourceSpec(path=path))[0])
    loop, replay = [], []
    for _ in range(repeat):
        res = evaluate(records, make_learner(learner), report_every=0)
        loop.append(res.summary["instances_per_second"])
        out = run_replay(ReplayConfig(source=SourceSpec(path=path), learner=learner,
                                      json=True, quiet=True), out=io.StringIO())
        replay.append(out["instances_per_second"])
    return {"stream": stream, "learner": learner, "records": len(records),
            "loop_rec_s": max(loop), "replay_rec_s": max(replay),
            "ratio": max(replay) / max(loop), "drift_events": out["drift_events"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--learners", nargs="+", default=["ihomer", "br"])
    p.add_argument("--streams", nargs="+", default=["yeast", "scene", "enron", "medical"])
    p.add_argument("--repeat", type=int, default=3, help="runs of each (best of)")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    if not args.json:
        print(f"best of {args.repeat}, load average {load:.2f} at the start")
        print("| stream | learner | loop rec/s | replay rec/s | replay / loop | drift events |")
        print("|---|---|---|---|---|---|")
    for stream in args.streams:
        for learner in args.learners:
            row = measure(stream, learner, args.repeat)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(f"| {stream} | {learner} | {row['loop_rec_s']:,.0f} | "
                      f"{row['replay_rec_s']:,.0f} | {row['ratio']:.2f} | "
                      f"{row['drift_events']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
