"""The status page of a replay (``labelstream replay ... --serve PORT``).

While the replay runs, :class:`ReplayStatus` follows the prequential evaluator through its
drift watcher: :meth:`ReplayStatus.follow` wraps the watcher that
:func:`stream.prequential.evaluate` calls after each scored record or batch, on the
replay's own thread, with the records scored so far and each one's example F1. From those
it keeps the records count, the cumulative and window example F1 (the evaluator's
per-record values, averaged), the throughput and the drift events, and about once a
second it builds the status (with the learner's label-cluster tree,
:func:`~connectors.status.cluster_tree`, read there, between two learning steps) and
replaces the one the server reads in one assignment. When the replay ends,
:meth:`ReplayStatus.finish` puts the final figures of the summary in. With ``--serve-wait``
the page is served on until Ctrl-C (:meth:`ReplayStatus.wait`); without, it stops with the
replay.

Examples
--------
>>> import json, urllib.request
>>> from learners.logistic import LogisticBinaryRelevance
>>> from river import datasets
>>> from stream.prequential import evaluate
>>> with ReplayStatus(ServeConfig(port=0), title="yeast", window=100) as status:
...     learner = LogisticBinaryRelevance()
...     result = evaluate(datasets.Yeast(), learner, limit=300,
...                       watch=status.follow(learner, None))
...     final = status.finish(result.summary)
...     with urllib.request.urlopen(status.url + "status.json") as resp:
...         served = json.loads(resp.read())
>>> served["counters"]["records_total"], served["state"]
(300, 'finished')
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass

from connectors.status import StatusServer, cluster_tree
from connectors.status.token import add_token_arguments, load_status_token

__all__ = ["ReplayStatus", "ServeConfig", "add_serve_arguments"]

log = logging.getLogger(__name__)

#: drift events shown, newest kept
RECENT_EVENTS = 100
#: metrics of a replay's summary put in the final status (cumulative)
FINAL_METRICS = ("example_f1", "example_precision", "example_recall", "micro_f1", "macro_f1",
                 "hamming_loss", "subset_accuracy", "no_change_example_f1",
                 "no_change_micro_f1", "kappa_temporal_example_f1")


@dataclass(frozen=True)
class ServeConfig:
    """Where a replay's status page listens and whether it outlives the replay.

    The configuration says where the token is, never the token.
    """

    port: int = 0
    host: str = "127.0.0.1"
    wait: bool = False
    token_env: str | None = None
    token_file: str | None = None
    interval: float = 1.0  # seconds between two status snapshots

    def __post_init__(self):
        if not 0 <= self.port < 65536:
            raise ValueError(f"--serve must be 0..65535, got {self.port}")
        if self.token_env and self.token_file:
            raise ValueError("give the status-page token one way: --serve-token-env or "
                             "--serve-token-file")

    @classmethod
    def from_args(cls, args) -> ServeConfig | None:
        """From :func:`add_serve_arguments`' flags (``None`` without ``--serve``)."""
        if args.serve is None:
            if args.serve_wait:
                raise ValueError("--serve-wait needs --serve PORT")
            return None
        return cls(port=args.serve, host=args.serve_host, wait=args.serve_wait,
                   token_env=args.serve_token_env, token_file=args.serve_token_file)


def add_serve_arguments(parser) -> None:
    """The flags of a replay's status page."""
    group = parser.add_argument_group("status page")
    group.add_argument("--serve", type=int, default=None, metavar="PORT",
                       help="serve a live status page of the replay (records, throughput, "
                            "example F1, drift events, iHOMER's label clusters) on this "
                            "port while it runs; 0: any free port; the address is printed "
                            "on stderr (default: no page)")
    group.add_argument("--serve-host", default="127.0.0.1", metavar="ADDR",
                       help="address of the status page; any but loopback needs a token")
    group.add_argument("--serve-wait", action="store_true",
                       help="after the replay, keep serving its final state until Ctrl-C "
                            "(default: the page stops with the replay)")
    add_token_arguments(group, "serve")


class ReplayStatus:
    """The live status of one replay, served while it runs (a context manager).

    Parameters
    ----------
    config
        A :class:`ServeConfig`.
    title
        The page's heading (e.g. ``"ihomer on yeast.arff"``).
    window
        Records in the window example F1 (the replay's ``--window``).
    token
        The token; by default read as ``config`` says.
    """

    def __init__(self, config: ServeConfig, *, title: str | None = None, window: int = 1000,
                 token: str | None = None):
        self.config = config
        self.title = title
        self.window = max(int(window), 1)
        if token is None:
            token = load_status_token(config.token_env, config.token_file)
        self.needs_token = token is not None
        self._latest: dict = {"counters": {"up": 1, "records_total": 0}, "title": title,
                              "state": "starting"}
        self.server = StatusServer(self.latest, config.host, config.port, token,
                                   history_interval=config.interval)
        self._learner = None
        self._model = "learner"
        self._n = 0
        self._f1_sum = 0.0
        self._f1_window: deque = deque(maxlen=self.window)
        self._events: deque = deque(maxlen=RECENT_EVENTS)
        self._event_counts: dict = {}
        self._published_at = None
        self._rate_mark = (time.monotonic(), 0)

    # -- serving ---------------------------------------------------------------------------
    def latest(self) -> dict:
        """The status last built (the server's threads call this)."""
        return self._latest

    @property
    def port(self) -> int | None:
        return self.server.port

    @property
    def url(self) -> str:
        """The page's address (without the token)."""
        host = self.server.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def start(self, announce=None) -> ReplayStatus:
        """Serve; the address (never the token) is written to ``announce`` (a file)."""
        self.server.start()
        log.info("replay.status_serving url=%s", self.url)
        if announce is not None:
            hint = " (add ?token=...)" if self.needs_token else ""
            print(f"labelstream: status page at {self.url}{hint}", file=announce, flush=True)
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> ReplayStatus:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- following the replay --------------------------------------------------------------
    def follow(self, learner, watch, *, model: str | None = None):
        """A drift watcher for :func:`~stream.prequential.evaluate` that calls ``watch``
        (``None``: no drift detection) and keeps this status up to date."""
        self._learner = learner
        self._model = model or type(learner).__name__
        self._latest = {**self._latest, "state": "running"}

        def watched(first_position, example_f1, true_rows, learner_events, label_names):
            if watch is not None:
                events = watch(first_position, example_f1, true_rows, learner_events,
                               label_names)
            else:
                events = []
            self._observe(first_position, example_f1, events)
            return events

        return watched

    def _observe(self, first_position: int, example_f1, events) -> None:
        import numpy as np  # loaded by then: the evaluator's own

        f1 = np.asarray(example_f1, dtype=np.float64)
        self._n = int(first_position) + int(f1.size)
        self._f1_sum += float(f1.sum())
        self._f1_window.extend(f1[-self.window:].tolist())
        for event in events:
            data = event.to_dict() if hasattr(event, "to_dict") else dict(event)
            self._events.append(data)
            key = (data.get("level"), data.get("kind"))
            self._event_counts[key] = self._event_counts.get(key, 0) + 1
        now = time.monotonic()
        if self._published_at is None or now - self._published_at >= self.config.interval:
            self.publish(now)

    def publish(self, now: float | None = None, *, state: str = "running",
                final: dict | None = None) -> dict:
        """Build the status from what was seen so far and make it the served one."""
        now = time.monotonic() if now is None else now
        then, n_then = self._rate_mark
        rate = (self._n - n_then) / (now - then) if now > then else 0.0
        self._rate_mark = (now, self._n)
        model = self._model
        counters = {"records_total": self._n, "records_per_second": rate,
                    "up": 1 if state == "running" else 0}
        prequential = []
        if self._n:
            prequential.append(({"model": model, "metric": "example_f1",
                                 "scope": "cumulative"}, self._f1_sum / self._n))
        if self._f1_window:
            prequential.append(({"model": model, "metric": "example_f1", "scope": "window"},
                                sum(self._f1_window) / len(self._f1_window)))
        if final is not None:
            counters["records_total"] = final.get("instances", self._n)
            counters["records_per_second"] = final.get("instances_per_second", rate)
            prequential = [p for p in prequential if p[0]["scope"] == "window"]
            prequential += [({"model": model, "metric": name, "scope": "cumulative"},
                             final[name]) for name in FINAL_METRICS
                            if isinstance(final.get(name), (int, float))]
        status = {"counters": counters, "labelled": {
            "prequential": prequential,
            "drift_events_total": [({"model": model, "level": level, "kind": kind}, n)
                                   for (level, kind), n in sorted(
                                       self._event_counts.items(), key=str)]},
            "events": list(self._events), "title": self.title, "state": state}
        if self._learner is not None:
            status["clusters"] = cluster_tree(self._learner)
        self._published_at = now
        self._latest = status  # one assignment: a reader sees the old or the new dict
        return status

    def finish(self, summary: dict) -> dict:
        """The replay ended: serve its final figures (``summary`` as the replay prints it)."""
        return self.publish(state="finished", final=summary)

    def wait(self, stop: threading.Event | None = None, announce=None) -> None:
        """Serve until Ctrl-C or SIGTERM (or until ``stop`` is set)."""
        stop = stop if stop is not None else threading.Event()
        if announce is not None:
            print(f"labelstream: the replay is over; serving its final state at {self.url} "
                  "until Ctrl-C", file=announce, flush=True)
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

