"""What a stuck alert endpoint costs a replay: records/s with no hook, a healthy webhook
and a webhook that never answers.

A real replay (the `labelstream replay` code path: `evaluate` with a `StreamWatcher`
whose events go to an `AlertDispatcher`) over a seeded synthetic stream, with a global
detector that fires every ``--every`` records (``dummy:t_0=N``) so that alerts are
frequent. The webhooks are real HTTP servers on 127.0.0.1: one answers 200 at once, one
holds every connection open until the run ends.

    python bench/alerts.py                       # 20,000 records, an alert every 50
    python bench/alerts.py --records 50000 --every 20 --repeat 7 --learner br

Each figure is the best of ``--repeat`` runs (the configurations interleaved, so a busy
moment of a shared machine hits them alike); the slowdown column compares with no hook.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.alerts import AlertDispatcher, WebhookHook, generate_secret  # noqa: E402
from drift.watch import StreamWatcher  # noqa: E402
from learners.registry import make_learner  # noqa: E402
from stream.prequential import evaluate  # noqa: E402
from stream.synthetic import MultiLabelGenerator  # noqa: E402


def serve(hang: bool):
    """A loopback webhook receiver; ``hang``: never answer (until ``release`` is set)."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            if hang:
                release.wait(600)
                return
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return server, release, f"http://127.0.0.1:{server.server_address[1]}/hook"


def run(records, learner: str, every: int, url: str | None, secret: str) -> dict:
    hooks = [WebhookHook(url, secret=secret, timeout=1.0, backoff=0.05)] if url else []
    dispatcher = AlertDispatcher(hooks)
    watcher = StreamWatcher(f"dummy:t_0={every}", learner=learner)

    def watch(*args):
        events = watcher(*args)
        for event in events:
            dispatcher.emit(event)
        return events

    model = make_learner(learner)
    start = time.perf_counter()
    result = evaluate(records, model, watch=watch, report_every=0)
    seconds = time.perf_counter() - start
    dispatcher.close(timeout=0.1)
    return {"seconds": seconds, "records_per_second": len(records) / seconds,
            "events": len(result.events), **{k: dispatcher.stats[k]
                                             for k in ("delivered", "dropped", "failed")}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=50, help="records between two alerts")
    parser.add_argument("--learner", default="ihomer")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args(argv)
    logging.getLogger("connectors.alerts").setLevel(logging.CRITICAL)  # drops are the point

    gen = MultiLabelGenerator(n_features=20, n_labels=10, seed=7)
    records = list(gen.take(args.records))
    secret = generate_secret()
    ok_server, _, ok_url = serve(hang=False)
    hang_server, release, hang_url = serve(hang=True)
    configs = {"no hook": None, "webhook (200)": ok_url, "webhook (never answers)": hang_url}
    run(records[:500], args.learner, args.every, None, secret)  # compile kernels
    best: dict = {}
    try:
        for _ in range(args.repeat):
            for name, url in configs.items():
                row = run(records, args.learner, args.every, url, secret)
                if name not in best or row["seconds"] < best[name]["seconds"]:
                    best[name] = row
    finally:
        release.set()
        for server in (ok_server, hang_server):
            server.shutdown()
            server.server_close()
    base = best["no hook"]["seconds"]
    rows = [{"config": name, "learner": args.learner, "records": args.records,
             "slowdown": row["seconds"] / base - 1.0, **row} for name, row in best.items()]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{args.records:,} records, {args.learner}, an alert every {args.every} records, "
          f"best of {args.repeat}")
    print(f"{'config':<26}{'rec/s':>10}{'slowdown':>10}{'events':>8}{'delivered':>11}"
          f"{'dropped':>9}{'failed':>8}")
    for row in rows:
        print(f"{row['config']:<26}{row['records_per_second']:>10,.0f}"
              f"{row['slowdown']:>+10.1%}{row['events']:>8}{row['delivered']:>11}"
              f"{row['dropped']:>9}{row['failed']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
