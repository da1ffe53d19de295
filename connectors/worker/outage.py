"""Broker outages as the worker sees them: no connection to any broker for a while.

kafka-python reconnects by itself, with backoff, and a poll during an outage simply
returns nothing -- exactly what a quiet topic looks like. :class:`BrokerWatch` tells the
two apart from the consumer's own ``connection-count`` metric: once it has been zero for
``grace`` seconds the worker logs ``worker.broker_unreachable`` (once), and when a
connection is back ``worker.broker_back`` with how long it lasted. The figures go to
``/metrics`` (:mod:`connectors.worker.reporting`). Nothing else changes during an outage:
the loop keeps polling, the model and its checkpoint stay, learning resumes where it was.

Who calls it: the worker's loop, about once a second (reading the metric builds a dict of
every consumer metric, so not per poll).

Examples
--------
>>> counts = iter([2, 0, 0, 0, 1])
>>> watch = BrokerWatch(lambda: next(counts), grace=1.0)
>>> [watch.check(t) for t in (0.0, 1.0, 1.5, 2.5, 3.0)]
[True, True, True, False, True]
>>> watch.outages, round(watch.outage_seconds, 1)
(1, 2.0)
"""

from __future__ import annotations

import logging
from typing import Callable

from connectors.worker.logfmt import kv

__all__ = ["BrokerWatch"]

log = logging.getLogger(__name__)


class BrokerWatch:
    """Whether the consumer has been without any broker connection for ``grace`` seconds.

    Parameters
    ----------
    connections
        Returns the consumer's current number of broker connections (``None``: unknown,
        counted as connected).
    grace
        Seconds without a connection before it counts as an outage (reconnects after a
        broker's restart take well under this).

    Attributes
    ----------
    connected : bool
        ``False`` during an outage.
    outages : int
        Outages seen this run.
    outage_seconds : float
        Their total length (the current one included, up to the last check).
    """

    def __init__(self, connections: Callable[[], int | None], *, grace: float = 3.0):
        self._connections = connections
        self.grace = grace
        self.connected = True
        self.outages = 0
        self.outage_seconds = 0.0
        self._zero_since: float | None = None
        self._counted_to: float | None = None

    def check(self, now: float) -> bool:
        """Look at the connections at time ``now`` (monotonic seconds); returns
        :attr:`connected`."""
        try:
            n = self._connections()
        except Exception:  # noqa: BLE001 - a closing consumer: say nothing
            return self.connected
        if n is None or n > 0:
            if not self.connected:
                self.outage_seconds += now - self._counted_to
                log.warning(kv("worker.broker_back", outage_seconds=now - self._zero_since))
                self.connected = True
            self._zero_since = self._counted_to = None
            return True
        if self._zero_since is None:
            self._zero_since = now
        if self.connected and now - self._zero_since >= self.grace:
            self.connected = False
            self.outages += 1
            self._counted_to = self._zero_since
            log.warning(kv("worker.broker_unreachable", seconds=now - self._zero_since,
                           hint="kafka-python reconnects by itself; the model and its "
                                "checkpoint are kept and learning resumes where it was"))
        if not self.connected:
            self.outage_seconds += now - self._counted_to
            self._counted_to = now
        return self.connected
