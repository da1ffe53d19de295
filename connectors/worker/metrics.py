"""A Prometheus ``/metrics`` endpoint for a worker, through ``prometheus-client``.

The worker's loop publishes a snapshot of its figures about once a second
(:meth:`~connectors.worker.reporting.Reporter.publish`); a scrape turns the latest
snapshot into metric families (:class:`SnapshotCollector`), so the server thread never
reads state the loop is changing. Beside the worker's own families the registry carries
what a process running for months needs: ``process_cpu_seconds_total``,
``process_resident_memory_bytes``, ``process_open_fds`` (and the rest of
``prometheus_client``'s process and Python collectors), and a histogram of the time one
poll's messages took to handle (``labelstream_worker_batch_seconds``). Served on
``127.0.0.1`` by default: put it behind whatever exposes metrics in your deployment.

The worker's families (all prefixed ``labelstream_worker_``):

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
``pending_expired_total``                 held records dropped unlearned after --pending-timeout
``labels_waiting``                        labels-topic deliveries waiting for their record
``labels_unmatched_total``                labels-topic deliveries whose record never came
``prequential``                           metric values by model, metric and scope
                                          (``cumulative`` or ``window``)
``checkpoint_age_seconds``                seconds since the last checkpoint this run wrote
``checkpoints_total``                     checkpoints written
``up``                                    1 while the loop runs
``batch_seconds``                         histogram: seconds to handle one poll's messages
========================================  ======================================================

Who calls it: the worker (:mod:`connectors.worker.loop`) starts and stops the server and
observes batch times from the loop's thread; the server's threads only read.

Examples
--------
>>> print(render({"counters": {"messages_total": 3}, "labelled": {
...     "dead_letters_total": [({"reason": "invalid_json"}, 2)]}}))
# HELP labelstream_worker_messages_total Messages handled (records, label deliveries, dead letters).
# TYPE labelstream_worker_messages_total counter
labelstream_worker_messages_total 3.0
# HELP labelstream_worker_dead_letters_total Dead letters by reason.
# TYPE labelstream_worker_dead_letters_total counter
labelstream_worker_dead_letters_total{reason="invalid_json"} 2.0
<BLANKLINE>
"""

from __future__ import annotations

import logging
import threading
from socketserver import ThreadingMixIn
from typing import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

__all__ = ["FAMILIES", "MetricsServer", "SnapshotCollector", "render"]

log = logging.getLogger(__name__)

PREFIX = "labelstream_worker_"
#: name -> (type, help), in the order they are exposed
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
    "pending_expired_total": ("counter", "Held records dropped unlearned after the pending "
                                         "timeout."),
    "labels_waiting": ("gauge", "Label deliveries of the labels topic waiting for their "
                                "record, by model."),
    "labels_unmatched_total": ("counter", "Label deliveries of the labels topic whose record "
                                          "never came (dead letters unknown_id)."),
    "prequential": ("gauge", "Prequential metrics by model, metric and scope."),
    "checkpoint_age_seconds": ("gauge", "Seconds since the last checkpoint this run wrote."),
    "checkpoints_total": ("counter", "Checkpoints written."),
    "checkpoint_failures_total": ("counter", "Periodic checkpoints that could not be written "
                                             "(the worker went on; see the log)."),
    "broker_connected": ("gauge", "1 while the consumer has a broker connection, 0 during "
                                  "an outage."),
    "broker_outages_total": ("counter", "Broker outages (no connection for a few seconds)."),
    "broker_outage_seconds_total": ("counter", "Seconds spent in broker outages."),
    "up": ("gauge", "1 while the worker loop runs."),
}
#: Bucket bounds (seconds) of the batch handling histogram: a poll of up to a few
#: thousand records takes from about a millisecond to seconds.
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                 10.0, 30.0)


class SnapshotCollector:
    """A ``prometheus_client`` collector over the latest published snapshot.

    ``source()`` returns ``{"counters": {family: value}, "labelled": {family: [(labels,
    value), ...]}}``; families are those of :data:`FAMILIES`, exposed in that order.
    """

    def __init__(self, source: Callable[[], dict]):
        self.source = source

    def collect(self):
        snapshot = self.source()
        plain = snapshot.get("counters", {})
        labelled = snapshot.get("labelled", {})
        for family, (kind, text) in FAMILIES.items():
            if family not in plain and family not in labelled:
                continue
            rows = labelled.get(family, ())
            names = sorted({k for labels, _ in rows for k in labels})
            make = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            metric = make(PREFIX + family, text, labels=names)
            if family in plain:
                metric.add_metric([], _value(plain[family]))
            for labels, value in rows:
                metric.add_metric([str(labels.get(k, "")) for k in names], _value(value))
            yield metric


def _value(value) -> float:
    return float("nan") if value is None else float(value)


def render(snapshot: dict) -> str:
    """Prometheus text exposition (format 0.0.4) of a published snapshot alone."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: snapshot))
    return generate_latest(registry).decode("utf-8")


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        log.debug("metrics %s - %s", self.address_string(), format % args)


class MetricsServer:
    """Serve a worker's snapshot and process figures on ``http://host:port/metrics``.

    Parameters
    ----------
    source
        Returns the latest published snapshot (see :class:`SnapshotCollector`).
    host, port
        Where to listen (port 0: any free port; :attr:`port` tells which).

    Attributes
    ----------
    registry : prometheus_client.CollectorRegistry
        This server's own registry (not the library's global one).
    batch_seconds : prometheus_client.Histogram
        Seconds to handle one poll's messages (:meth:`observe_batch`).
    """

    def __init__(self, source: Callable[[], dict], host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.requested_port = port
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(source))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.batch_seconds = Histogram(
            PREFIX + "batch_seconds", "Seconds to handle one poll's messages (decode, "
            "predict, score, learn, hand to the outputs).", buckets=BATCH_BUCKETS,
            registry=self.registry)
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int | None:
        return None if self._server is None else self._server.server_address[1]

    def observe_batch(self, seconds: float) -> None:
        """Count one poll's handling time in the histogram."""
        self.batch_seconds.observe(seconds)

    def _app(self, environ, start_response):
        if environ.get("PATH_INFO", "/") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"only /metrics is served here\n"]
        accept = environ.get("HTTP_ACCEPT", "")
        if "openmetrics" in accept:
            encoder, content_type = choose_encoder(accept)
        else:  # the classic text format, as Prometheus 2 and promtool read it
            encoder, content_type = generate_latest, CONTENT_TYPE_PLAIN_0_0_4
        body = encoder(self.registry)
        start_response("200 OK", [("Content-Type", content_type),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def start(self) -> MetricsServer:
        server = make_server(self.host, self.requested_port, self._app,
                             server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
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
