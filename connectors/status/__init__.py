"""A live status page for a worker or a replay: one HTML page, one script, one stylesheet.

:class:`StatusServer` serves, from a threaded HTTP server of the standard library,

* ``/`` -- the page (``static/index.html``), with the current status embedded so that it
  renders before its first poll;
* ``/status.json`` -- the status: the snapshot from the ``snapshot`` callable plus
  ``history`` and ``served_at`` (below); the page polls it once a second;
* ``/status.js``, ``/status.css`` -- the page's script and stylesheet, as shipped in the
  package (no CDN, no build step; these two carry no data and need no token).

**Where it listens.** ``127.0.0.1`` by default. Bound to any other address it needs a
``token`` (it refuses to start without one): ``/`` and ``/status.json`` then answer 401
unless the request carries ``?token=...`` or ``Authorization: Bearer ...``. Open the page
as ``http://host:port/?token=...``; its script sends the token on with each poll. A token
given on loopback is enforced too. The token is never logged.

**The snapshot** is a dict of JSON values (tuples count as lists; NaN and infinities are
sent as ``null``). Its keys are those of the worker's ``/metrics`` snapshot
(:meth:`connectors.worker.reporting.Reporter.publish`), so the page reads the same
numbers as ``/metrics``, plus two optional ones; every key may be missing:

``counters`` : dict
    Plain figures, as ``Reporter.publish`` names them: ``records_per_second``,
    ``records_total``, ``messages_total``, ``predictions_total``,
    ``label_deliveries_total``, ``checkpoints_total``, ``checkpoint_failures_total``,
    ``checkpoint_age_seconds``, ``broker_connected``, ``broker_outages_total``,
    ``broker_outage_seconds_total``, ``up``.
``labelled`` : dict
    Figures with labels, as lists of ``(labels, value)`` pairs: ``consumer_lag``
    (``{"partition": p}``), ``dead_letters_total`` (``{"reason": r}``), ``prequential``
    (``{"model", "metric", "scope"}``, scope ``"cumulative"`` or ``"window"``),
    ``drift_events_total`` (``{"model", "level", "kind"}``), ``pending_records`` and
    ``learned_records`` (``{"model"}``).
``events`` : list of dict, optional
    Recent drift events, oldest first, as :meth:`drift.events.DriftEvent.to_dict` gives
    them (the worker keeps them in ``ModelState.recent_events``); the page marks each on
    the charts' time axis by its ``timestamp`` (unix seconds) and lists them.
``clusters`` : list, optional
    iHOMER's label-cluster tree as nested lists: a node is a list whose items are either
    all label names (a leaf cluster) or all nodes (its children). The flat list of
    ``IHOMER.clusters()`` is a valid tree (a root whose children are the leaves);
    :func:`cluster_tree` gives the whole hierarchy.
``title`` : str, optional
    Shown as the page's heading (e.g. the topic and group).

**History is kept server-side**: a sampler thread calls ``snapshot`` every
``history_interval`` seconds and keeps the last ``history_size`` points (one is taken at
:meth:`StatusServer.start`), so a page opened late still shows the past. Each point of
``history`` is ``{"t": unix seconds, "records_per_second": x, "lag": total lag,
"metrics": {"model/metric": window value}}``.

Who calls it: whoever owns the numbers (the worker, a replay) builds the snapshot on its
own thread and hands over a callable that only returns the latest one, as the
``/metrics`` server does; the server's threads call it and never touch a model.

Examples
--------
>>> import json, urllib.request
>>> server = StatusServer(lambda: {"counters": {"records_per_second": 12.5}},
...                       history_interval=None).start()
>>> url = f"http://127.0.0.1:{server.port}/status.json"
>>> with urllib.request.urlopen(url) as resp:
...     status = json.loads(resp.read())
>>> status["counters"]["records_per_second"], status["history"][0]["records_per_second"]
(12.5, 12.5)
>>> server.stop()
>>> StatusServer(dict, host="0.0.0.0")
Traceback (most recent call last):
...
ValueError: the status page would listen on 0.0.0.0, not a loopback address: give it a token ...
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Callable

import orjson

__all__ = ["StatusServer", "cluster_tree", "history_point", "static_file"]

log = logging.getLogger(__name__)

#: path -> (file in ``static/``, content type); served without a token (no data in them)
ASSETS = {"/status.js": ("status.js", "text/javascript; charset=utf-8"),
          "/status.css": ("status.css", "text/css; charset=utf-8")}
PAGE_PATHS = ("/", "/index.html")
#: where ``index.html`` takes the embedded status
PLACEHOLDER = "__LABELSTREAM_STATUS__"


def static_file(name: str) -> bytes:
    """The bytes of one of the page's files as shipped in the package.

    Examples
    --------
    >>> b"status.js" in static_file("index.html")
    True
    """
    return resources.files(__name__).joinpath("static", name).read_bytes()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost`` counts).

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        return False


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def history_point(snapshot: dict, t: float) -> dict:
    """One point of the server-side history: throughput, total lag and window metrics.

    Examples
    --------
    >>> history_point({"counters": {"records_per_second": 3.0}, "labelled": {
    ...     "consumer_lag": [({"partition": 0}, 4), ({"partition": 1}, 1)],
    ...     "prequential": [({"model": "m", "metric": "example_f1", "scope": "window"}, 0.5),
    ...                     ({"model": "m", "metric": "example_f1", "scope": "cumulative"},
    ...                      0.4)]}}, t=10.0)
    {'t': 10.0, 'records_per_second': 3.0, 'lag': 5, 'metrics': {'m/example_f1': 0.5}}
    """
    counters = snapshot.get("counters") or {}
    labelled = snapshot.get("labelled") or {}
    lags = [n for _, n in labelled.get("consumer_lag") or () if n is not None]
    metrics = {}
    for labels, value in labelled.get("prequential") or ():
        if labels.get("scope") == "window":
            metrics[f"{labels.get('model', '')}/{labels.get('metric', '')}"] = _finite(value)
    return {"t": t, "records_per_second": _finite(counters.get("records_per_second")),
            "lag": sum(lags) if lags else None, "metrics": metrics}


def cluster_tree(learner) -> list | None:
    """A learner's label-cluster tree as nested lists of label names (``None``: it has none).

    iHOMER's whole hierarchy (:class:`learners.label_clustering.LabelHierarchy`) where the
    learner has one, else the flat list of its ``clusters()``. Read it on the thread that
    learns (the hierarchy changes while a model learns) and put the result in the
    snapshot.

    Examples
    --------
    >>> from learners.ihomer import IHOMER
    >>> from stream.synthetic import MultiLabelGenerator
    >>> gen = MultiLabelGenerator(n_features=6, n_labels=8, n_clusters=4, cardinality=3.0,
    ...                           seed=7, noise=0.2)
    >>> model = IHOMER(max_classes=4, restructure_every=100)
    >>> for x, y in gen.take(800):
    ...     model.learn_one(x, y)
    >>> cluster_tree(model)  # the root's two children, the second split twice more
    [['l1', 'l3'], [[['l6', 'l7'], ['l0', 'l4']], ['l2', 'l5']]]
    >>> model.clusters()  # the leaves alone, also a valid tree
    [['l1', 'l3'], ['l6', 'l7'], ['l0', 'l4'], ['l2', 'l5']]
    >>> cluster_tree(object()) is None
    True
    """
    hierarchy = getattr(learner, "_hierarchy", None)
    labels = getattr(learner, "_labels", None)
    if hierarchy is not None and labels is not None and hierarchy.root is not None:
        names = labels.keys

        def node(i):
            n = hierarchy.nodes[i]
            if n.children:
                return [node(c) for c in n.children]
            return [str(names[c]) for c in n.labels]

        tree = node(hierarchy.root)
        return tree if tree and isinstance(tree[0], list) else [tree]
    clusters = getattr(learner, "clusters", None)
    if callable(clusters):
        clusters = clusters()
    if clusters is None:
        return None
    return [[str(label) for label in cluster] for cluster in clusters]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: StatusServer


class _Handler(BaseHTTPRequestHandler):
    server_version = "labelstream-status"

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        # the request line may hold ?token=: log the path only
        log.debug("status %s %s", self.address_string(), self.path.split("?", 1)[0])

    def _send(self, code: int, body: bytes, content_type: str, extra=()) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in extra:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's name
        owner = self.server.owner
        url = urllib.parse.urlsplit(self.path)
        if url.path in ASSETS:
            name, content_type = ASSETS[url.path]
            return self._send(200, static_file(name), content_type)
        if url.path not in PAGE_PATHS and url.path != "/status.json":
            return self._send(404, b"not found: the status page is at /\n",
                              "text/plain; charset=utf-8")
        if not owner.authorized(url.query, self.headers.get("Authorization")):
            return self._send(401, b"a token is needed: ?token=... or "
                                   b"Authorization: Bearer ...\n",
                              "text/plain; charset=utf-8",
                              [("WWW-Authenticate", 'Bearer realm="labelstream"')])
        try:
            body = owner.status_json()
        except Exception:  # noqa: BLE001 - a failing snapshot must not kill the server
            log.exception("status snapshot failed")
            return self._send(503, b'{"error": "snapshot failed"}',
                              "application/json")
        if url.path == "/status.json":
            return self._send(200, body, "application/json")
        # embedded in a <script type="application/json">: no "</script>" can close it
        embedded = body.replace(b"<", b"\\u003c")
        page = static_file("index.html").replace(PLACEHOLDER.encode(), embedded)
        return self._send(200, page, "text/html; charset=utf-8")


class StatusServer:
    """Serve the live status page on ``http://host:port/``.

    Parameters
    ----------
    snapshot
        Returns the latest status (the schema is in this module's docstring); called from
        the server's threads, so it should only hand over something already built.
    host, port
        Where to listen (port 0: any free port; :attr:`port` tells which).
    token
        Needed by ``/`` and ``/status.json`` when given; required when ``host`` is not a
        loopback address.
    history_interval
        Seconds between history samples (``None``: no sampler thread; call
        :meth:`sample` yourself).
    history_size
        Points of history kept (600 at one a second: ten minutes).

    Raises
    ------
    ValueError
        ``host`` is not a loopback address and there is no token, or the token is empty.
    """

    def __init__(self, snapshot: Callable[[], dict], host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, *, history_interval: float | None = 1.0,
                 history_size: int = 600):
        if token is not None and not token:
            raise ValueError("the status page's token is empty")
        if token is None and not is_loopback(host):
            raise ValueError(
                f"the status page would listen on {host}, not a loopback address: give it "
                "a token (it is then needed as ?token= or Authorization: Bearer), or bind "
                "it to 127.0.0.1")
        self.snapshot = snapshot
        self.host = host
        self.requested_port = port
        self._token = None if token is None else token.encode("utf-8")
        self.history_interval = history_interval
        self.history: deque = deque(maxlen=history_size)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    def __repr__(self):  # the token stays out of logs and reprs
        return f"StatusServer(host={self.host!r}, port={self.port})"

    @property
    def port(self) -> int | None:
        return None if self._server is None else self._server.server_address[1]

    def authorized(self, query: str, authorization: str | None) -> bool:
        """Whether a request with this query string and ``Authorization`` header may see
        the status (always, without a token)."""
        if self._token is None:
            return True
        offered = []
        if authorization and authorization.lower().startswith("bearer "):
            offered.append(authorization[7:].strip())
        offered += urllib.parse.parse_qs(query).get("token", [])
        return any(hmac.compare_digest(t.encode("utf-8"), self._token) for t in offered)

    def sample(self) -> dict:
        """Take one history point from the snapshot now; returns it."""
        point = history_point(self.snapshot() or {}, time.time())
        with self._lock:
            self.history.append(point)
        return point

    def status(self) -> dict:
        """The snapshot with ``history`` and ``served_at`` added (what ``/status.json``
        sends)."""
        out = dict(self.snapshot() or {})
        with self._lock:
            out["history"] = list(self.history)
        out["served_at"] = time.time()
        return out

    def status_json(self) -> bytes:
        """:meth:`status` as JSON (NaN and infinities as ``null``)."""
        return orjson.dumps(self.status(), option=orjson.OPT_NON_STR_KEYS)

    def _sampler(self) -> None:
        while not self._stop.wait(self.history_interval):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - keep sampling; the page shows what it has
                log.exception("status history sample failed")

    def start(self) -> StatusServer:
        """Listen and serve from background threads; returns ``self``."""
        server = _Server((self.host, self.requested_port), _Handler)
        server.owner = self
        self._server = server
        self._stop.clear()
        try:
            self.sample()
        except Exception:  # noqa: BLE001
            log.exception("status history sample failed")
        self._threads = [threading.Thread(target=server.serve_forever, kwargs={
            "poll_interval": 0.2}, name="labelstream-status", daemon=True)]
        if self.history_interval is not None:
            self._threads.append(threading.Thread(target=self._sampler, daemon=True,
                                                  name="labelstream-status-history"))
        for thread in self._threads:
            thread.start()
        log.info("status page http://%s:%d/%s", self.host, self.port,
                 " (token required)" if self._token is not None else "")
        return self

    def stop(self) -> None:
        """Stop serving and sampling; the port is released."""
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> StatusServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
