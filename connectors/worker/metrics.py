"""A Prometheus ``/metrics`` endpoint for a worker (standard library HTTP server).

The worker's main thread publishes a snapshot of its figures about once a second
(:meth:`~connectors.worker.loop.Worker.publish_metrics`); the server thread only renders
the latest snapshot, so it never reads state the loop is changing. Served on
``127.0.0.1`` by default: put it behind whatever exposes metrics in your deployment.

Exposed families (all prefixed ``labelstream_worker_``):

========================================  ======================================================
``messages_total``                        messages handled (records, deliveries, dead letters)
``records_total``                         records predicted
``predictions_total``                     predictions produced
``label_deliveries_total``                held records completed by their labels
``learned_records``                       records each model has learned (lifetime, by model)
``dead_letters_total``                    dead letters by reason
``drift_events_total``                    drift events by model, level and kind
``records_per_second``                    records predicted per second over the last interval
``consumer_lag``                          high-water mark minus next offset, by partition
``pending_records``                       unlabelled records held, by model
``prequential``                           metric values by model, metric and scope
                                          (``cumulative`` or ``window``)
``checkpoint_age_seconds``                seconds since the last checkpoint this run wrote
``checkpoints_total``                     checkpoints written
``up``                                    1 while the loop runs
========================================  ======================================================

Examples
--------
>>> print(render({"counters": {"messages_total": 3}, "labelled": {
...     "dead_letters_total": [({"reason": "invalid_json"}, 2)]}}))
# HELP labelstream_worker_messages_total Messages handled (records, label deliveries, dead letters).
# TYPE labelstream_worker_messages_total counter
labelstream_worker_messages_total 3
# HELP labelstream_worker_dead_letters_total Dead letters by reason.
# TYPE labelstream_worker_dead_letters_total counter
labelstream_worker_dead_letters_total{reason="invalid_json"} 2
<BLANKLINE>
"""

from __future__ import annotations

import logging
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["MetricsServer", "render", "FAMILIES"]

log = logging.getLogger(__name__)

PREFIX = "labelstream_worker_"
#: name -> (type, help)
FAMILIES = {
    "messages_total": ("counter", "Messages handled (records, label deliveries, dead letters)."),
    "records_total": ("counter", "Records predicted."),
    "predictions_total": ("counter", "Predictions produced to the predictions topic."),
    "label_deliveries_total": ("counter", "Held records completed by their labels."),
    "learned_records": ("gauge", "Records learned by each model over its lifetime."),
    "dead_letters_total": ("counter", "Dead letters by reason."),
    "drift_events_total": ("counter", "Drift events by model, level and kind."),
    "records_per_second": ("gauge", "Records predicted per second over the last interval."),
    "consumer_lag": ("gauge", "High-water mark minus the next offset to handle."),
    "pending_records": ("gauge", "Unlabelled records held for their labels."),
    "prequential": ("gauge", "Prequential metrics by model, metric and scope."),
    "checkpoint_age_seconds": ("gauge", "Seconds since the last checkpoint this run wrote."),
    "checkpoints_total": ("counter", "Checkpoints written."),
    "up": ("gauge", "1 while the worker loop runs."),
}


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value) -> str:
    if value is None:
        return "NaN"
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render(snapshot: dict) -> str:
    """Prometheus text exposition (format 0.0.4) of a published snapshot.

    ``snapshot["counters"]``: ``{family: value}``; ``snapshot["labelled"]``:
    ``{family: [(labels dict, value), ...]}``.
    """
    lines = []
    plain = snapshot.get("counters", {})
    labelled = snapshot.get("labelled", {})
    for family, (kind, text) in FAMILIES.items():
        if family not in plain and family not in labelled:
            continue
        name = PREFIX + family
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        if family in plain:
            lines.append(f"{name} {_number(plain[family])}")
        for labels, value in labelled.get(family, ()):
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{inner}}} {_number(value)}")
    return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    server_version = "labelstream"

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404, "only /metrics is served here")
            return
        body = render(self.server.source()).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        log.debug("metrics %s - %s", self.address_string(), format % args)


class MetricsServer:
    """Serve ``worker.published_metrics`` on ``http://host:port/metrics`` from a daemon thread.

    Parameters
    ----------
    worker
        Anything with a ``published_metrics`` attribute (a snapshot dict).
    host, port
        Where to listen (port 0: any free port; :attr:`port` tells which).
    """

    def __init__(self, worker, host: str = "127.0.0.1", port: int = 0):
        self.worker = worker
        self.host = host
        self.requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int | None:
        return None if self._server is None else self._server.server_address[1]

    def start(self) -> MetricsServer:
        server = ThreadingHTTPServer((self.host, self.requested_port), _Handler)
        server.daemon_threads = True
        server.source = lambda: self.worker.published_metrics
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={
            "poll_interval": 0.2}, name="labelstream-metrics", daemon=True)
        self._thread.start()
        log.info("metrics endpoint http://%s:%d/metrics", self.host, self.port)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
