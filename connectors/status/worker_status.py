"""The status page of a running worker (``labelstream worker --status-port PORT``).

:class:`WorkerStatus` sits between the worker's loop and a
:class:`~connectors.status.StatusServer`. About once a second, on the loop's thread, the
worker hands it the snapshot it has just published for ``/metrics``
(:meth:`connectors.worker.reporting.Reporter.publish`) and its owned model states
(:meth:`WorkerStatus.update`); it adds the recent drift events and, with one model, the
label-cluster tree (:func:`~connectors.status.cluster_tree`), and replaces the status the
server reads in one assignment. The server's threads only read that reference: they never
touch a model, and the loop never waits for them.

Examples
--------
>>> import json, urllib.request
>>> status = WorkerStatus(port=0, title="records").start()
>>> status.update({"counters": {"records_total": 5}}, [])
>>> with urllib.request.urlopen(status.url + "status.json") as resp:
...     json.loads(resp.read())["counters"]["records_total"]
5
>>> status.stop()
"""

from __future__ import annotations

import logging

from connectors.status import StatusServer, cluster_tree

__all__ = ["WorkerStatus", "RECENT_EVENTS"]

log = logging.getLogger(__name__)

#: drift events shown, newest kept
RECENT_EVENTS = 100


class WorkerStatus:
    """The latest status of one worker, served on ``http://host:port/``.

    Parameters
    ----------
    host, port, token
        As :class:`~connectors.status.StatusServer` takes them (port 0: any free port; a
        host other than loopback needs a token, else ``ValueError`` here, before anything
        is started).
    title
        The page's heading.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None, *,
                 title: str | None = None):
        self.title = title
        self._latest: dict = {"counters": {"up": 0}, "title": title}
        self.server = StatusServer(self.latest, host, port, token)

    def latest(self) -> dict:
        """The status last handed over (the server's threads call this)."""
        return self._latest

    def update(self, published: dict, states) -> None:
        """Make ``published`` (plus the states' events and clusters) the served status.

        Call on the thread that learns: the cluster tree is read from the model.
        """
        events = []
        for state in states:
            events.extend(state.recent_events)
        events.sort(key=lambda e: e.get("timestamp") or 0.0)
        status = dict(published)
        status["events"] = events[-RECENT_EVENTS:]
        status["title"] = self.title
        if len(states) == 1:
            status["clusters"] = cluster_tree(states[0].evaluator.learner)
        self._latest = status  # one assignment: a reader sees the old or the new dict

    def mark_down(self) -> None:
        """The loop has stopped: the served status says ``up 0``."""
        latest = self._latest
        self._latest = {**latest, "counters": {**latest.get("counters", {}), "up": 0}}

    @property
    def port(self) -> int | None:
        return self.server.port

    @property
    def url(self) -> str:
        """The page's address (without the token)."""
        host = self.server.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def start(self) -> WorkerStatus:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
