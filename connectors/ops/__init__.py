"""Operations files shipped with the package: a Grafana dashboard and Prometheus alert rules.

Both read the families a worker exports on ``/metrics`` (``labelstream_worker_*``, see
:mod:`connectors.worker.metrics`, and ``prometheus_client``'s ``process_*``):

``grafana_dashboard.json``
    Import it in Grafana (Dashboards -> New -> Import) and pick a Prometheus data source:
    workers running, records/s, consumer lag by partition, batch time, window metrics
    with drift events as annotations, drift events, dead letters by reason,
    checkpoints, broker connection, process memory and CPU. Variables: ``datasource``,
    ``instance`` (workers) and ``metric`` (prequential metric names).
``prometheus_rules.yml``
    Alert rules: worker down (scrape job ``labelstream``) or its loop stopped, consumer
    lag high or growing, dead-letter rate over 1%, drift detected (info) and drift
    storms, stale or failing checkpoints, broker outage.

Examples
--------
>>> import json
>>> dashboard = json.loads(dashboard_path().read_text())
>>> dashboard["uid"], rules_path().name
('labelstream-workers', 'prometheus_rules.yml')
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DASHBOARD", "RULES", "dashboard_path", "rules_path"]

DASHBOARD = "grafana_dashboard.json"
RULES = "prometheus_rules.yml"


def dashboard_path() -> Path:
    """Where the installed Grafana dashboard JSON is (copy it out, or import it as is)."""
    return Path(__file__).with_name(DASHBOARD)


def rules_path() -> Path:
    """Where the installed Prometheus alert rules are (for ``rule_files:``)."""
    return Path(__file__).with_name(RULES)
