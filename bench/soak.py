"""Soak: millions of records through one `labelstream worker`; does memory level off?

Starts a throwaway tansu broker and one worker (a subprocess, as deployed: `labelstream
worker --metrics-port`, checkpoints, predictions and dead-letter topics), then streams a
synthetic multi-label stream through it while sampling the worker every few seconds:

* new features and new labels keep appearing (every ``--new-every`` records a few of each),
  each label a noisy linear function of the features;
* label delay: a share of the records (``--delayed``) arrive with ``"labels": null`` and
  their labels follow ``--delay`` records later as a label delivery;
* a few malformed messages (one in 10,000) go to the dead-letter topic.

Sampled: the worker's resident memory (its own /metrics `process_resident_memory_bytes`,
plus its output process's RSS from /proc), the size of its checkpoint (model, metrics,
detectors and held records: the model's footprint on disk), messages handled and the
records/s over each interval. Printed as a table; plotted to ``--out`` (PNG). The verdict
compares the last half of the run: memory growth between its first and last samples must
stay under 5 %, and records/s must not fall away.

    python bench/soak.py                          # 2,000,000 records, learner br
    python bench/soak.py --records 200000 --learner ihomer
    python bench/soak.py --json > soak.jsonl

The producer runs ahead of the worker by at most ``--ahead`` records, so the broker holds
a bounded backlog and the worker's rate is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "soak-" + "0123456789abcdef" * 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SoakStream:
    """Encoded messages of the soak stream, in order (records, deliveries, bad ones)."""

    def __init__(self, n: int, *, seed: int = 0, start_features: int = 20,
                 start_labels: int = 8, new_every: int = 100_000, new_features: int = 5,
                 new_labels: int = 2, delayed: float = 0.2, delay: int = 500):
        import numpy as np

        self.n, self.seed = n, seed
        self.start_features, self.start_labels = start_features, start_labels
        self.new_every, self.new_features, self.new_labels = new_every, new_features, new_labels
        self.delayed, self.delay = delayed, delay
        self.max_features = start_features + new_features * (n // new_every + 1)
        self.max_labels = start_labels + new_labels * (n // new_every + 1)
        rng = np.random.default_rng(seed)
        self.W = rng.normal(size=(self.max_features, self.max_labels))
        self.bias = rng.normal(-1.5, 0.5, size=self.max_labels)

    def __iter__(self):
        import numpy as np

        from connectors.kafka.codec import encode_label_delivery, encode_record

        rng = np.random.default_rng(self.seed + 1)
        waiting = []  # (due index, id, y)
        block = 10_000
        for start in range(0, self.n, block):
            m = min(block, self.n - start)
            era = start // self.new_every
            d = self.start_features + self.new_features * era
            L = self.start_labels + self.new_labels * era
            X = rng.normal(size=(m, d))
            Z = X @ self.W[:d, :L] / np.sqrt(d) * 3 + self.bias[:L] + rng.normal(
                scale=0.5, size=(m, L))
            Y = Z > 0
            late = rng.random(m) < self.delayed
            for i in range(m):
                t = start + i
                while waiting and waiting[0][0] <= t:
                    _, rid, y = waiting.pop(0)
                    yield encode_label_delivery(rid, y)
                if t % 10_000 == 5_000:
                    yield b"{not json"
                x = {f"f{j}": float(X[i, j]) for j in range(d)}
                y = {f"l{j}": bool(Y[i, j]) for j in range(L)}
                rid = f"r{t}"
                if late[i]:
                    waiting.append((t + self.delay, rid, y))
                    yield encode_record(x, None, id=rid)
                else:
                    yield encode_record(x, y, id=rid)
        for _, rid, y in waiting:
            yield encode_label_delivery(rid, y)


def _scrape(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for name in ("process_resident_memory_bytes", "labelstream_worker_messages_total",
                 "labelstream_worker_records_total", "labelstream_worker_pending_records"):
        m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
        if m:
            out[name] = float(m.group(1))
    return out


def _rss(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float("nan")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def run(args) -> dict:
    from kafka import KafkaProducer

    from connectors.kafka.broker import TansuBroker

    work = Path(tempfile.mkdtemp(prefix="labelstream-soak-"))
    stream = SoakStream(args.records, seed=args.seed, new_every=args.new_every,
                        delayed=args.delayed, delay=args.delay)
    samples = []
    with TansuBroker() as broker:
        topic = broker.create_topic("soak")
        port = _free_port()
        env = dict(os.environ, LABELSTREAM_CHECKPOINT_KEY=KEY)
        ckpt = work / "ckpt"
        cmd = [sys.executable, "-m", "connectors.cli", "worker", "--bootstrap-servers",
               broker.bootstrap, "--topic", topic, "--learner", args.learner,
               "--predictions-topic", "soak-pred", "--dead-letter-topic", "soak-dlq",
               "--checkpoint-dir", str(ckpt), "--checkpoint-every", str(args.checkpoint_every),
               "--metrics-port", str(port), "--json", "--max-pending", "100000"]
        worker = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                  stderr=open(work / "worker.log", "w"), text=True, cwd=ROOT)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20,
                                 batch_size=512 * 1024, acks=1)
        sent = [0]
        done = threading.Event()

        def produce():
            for value in stream:
                while sent[0] - _handled[0] > args.ahead and worker.poll() is None:
                    time.sleep(0.05)
                producer.send(topic, value=value, partition=0)
                sent[0] += 1
            producer.flush()
            done.set()

        _handled = [0]
        thread = threading.Thread(target=produce, daemon=True)
        t0 = time.monotonic()
        thread.start()
        last = (t0, 0.0)
        try:
            while True:
                time.sleep(args.every)
                m = _scrape(port)
                if not m:
                    if worker.poll() is not None:
                        raise SystemExit(f"the worker exited ({worker.returncode}); see "
                                         f"{work / 'worker.log'}")
                    continue
                handled = m.get("labelstream_worker_messages_total", 0.0)
                _handled[0] = handled
                now = time.monotonic()
                rate = (handled - last[1]) / (now - last[0]) if now > last[0] else 0.0
                last = (now, handled)
                files = list(ckpt.glob("*.ckpt")) if ckpt.exists() else []
                out_rss = sum(_rss(p) for p in _children(worker.pid))
                row = {"seconds": now - t0, "messages": handled, "sent": sent[0],
                       "rss_mb": m.get("process_resident_memory_bytes", float("nan")) / 1e6,
                       "output_rss_mb": out_rss / 1e6,
                       "checkpoint_mb": sum(f.stat().st_size for f in files) / 1e6,
                       "pending": m.get("labelstream_worker_pending_records", 0.0),
                       "messages_per_second": rate}
                samples.append(row)
                if not args.json:
                    print(f"{row['seconds']:8.0f} s  {handled:>11,.0f} msgs  "
                          f"{rate:>8,.0f} msg/s  rss {row['rss_mb']:7.1f} MB  output "
                          f"{row['output_rss_mb']:6.1f} MB  checkpoint "
                          f"{row['checkpoint_mb']:6.2f} MB  pending {row['pending']:,.0f}",
                          flush=True)
                if done.is_set() and handled >= sent[0]:
                    break
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                out, _ = worker.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                worker.kill()
                out = ""
            producer.close()
    summary = json.loads(out.strip().splitlines()[-1]) if out and out.strip() else {}
    half = [s for s in samples if s["messages"] >= samples[-1]["messages"] / 2]
    first, last_s = half[0], half[-1]
    growth = (last_s["rss_mb"] - first["rss_mb"]) / first["rss_mb"]
    ck_growth = ((last_s["checkpoint_mb"] - first["checkpoint_mb"]) / first["checkpoint_mb"]
                 if first["checkpoint_mb"] else float("nan"))
    # the first and the last interval are partial
    rates = [s["messages_per_second"] for s in samples[1:-1]] or \
        [samples[-1]["messages_per_second"]]
    q = max(1, len(rates) // 4)
    verdict = {"records": args.records, "learner": args.learner,
               "messages": samples[-1]["messages"], "seconds": samples[-1]["seconds"],
               "rss_first_half_end_mb": first["rss_mb"], "rss_end_mb": last_s["rss_mb"],
               "rss_growth_last_half": growth, "checkpoint_growth_last_half": ck_growth,
               "rate_first_quarter": sum(rates[:q]) / q, "rate_last_quarter":
               sum(rates[-q:]) / q, "memory_levels_off": growth < 0.05,
               "worker_summary": {k: summary.get(k) for k in (
                   "messages", "records", "learned", "dead_letters", "label_deliveries",
                   "example_f1", "checkpoints")}}
    if args.out:
        _plot(samples, args)
        verdict["plot"] = str(args.out)
    return verdict


def _plot(samples, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = [s["messages"] / 1e6 for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    axes[0].plot(m, [s["rss_mb"] for s in samples], label="worker RSS")
    axes[0].plot(m, [s["output_rss_mb"] for s in samples], label="output process RSS")
    axes[0].set_ylabel("MB")
    axes[0].legend()
    axes[1].plot(m, [s["checkpoint_mb"] for s in samples], color="tab:green")
    axes[1].set_ylabel("checkpoint MB")
    axes[2].plot(m, [s["messages_per_second"] for s in samples], color="tab:orange")
    axes[2].set_ylabel("messages / s")
    axes[2].set_xlabel("messages handled (millions)")
    fig.suptitle(f"labelstream worker soak: {args.records:,} records, learner {args.learner}")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=2_000_000)
    p.add_argument("--learner", default="br")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--new-every", type=int, default=100_000,
                   help="records between arrivals of new features and labels")
    p.add_argument("--delayed", type=float, default=0.2,
                   help="share of records whose labels arrive later")
    p.add_argument("--delay", type=int, default=500, help="records until those labels come")
    p.add_argument("--checkpoint-every", type=int, default=50_000)
    p.add_argument("--ahead", type=int, default=50_000,
                   help="most records the producer runs ahead of the worker")
    p.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.png")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    verdict = run(args)
    print(json.dumps(verdict, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
