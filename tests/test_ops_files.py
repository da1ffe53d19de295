"""The shipped operations files (:mod:`connectors.ops`): the alert rules pass ``promtool
check rules`` and fire as ``tests/prometheus_rules_test.yml`` says (``promtool test
rules``); the Grafana dashboard parses, every PromQL expression in it passes promtool's
parser, and every metric and label it (or a rule) names is one the worker really exports:
the names come from the worker's own collector (``MetricsServer``'s registry) fed a
snapshot built by ``Reporter.publish``, not from a copied list. promtool comes with
Debian's ``prometheus`` package (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from connectors.ops import dashboard_path, rules_path

HERE = Path(__file__).parent
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed: apt-get update && apt-get install "
                             "-y prometheus (Debian's package; .ci/run does it)")
#: series Prometheus itself makes for every target (``up``: the scrape succeeded)
SCRAPE_SERIES = {"up": ("job", "instance")}
#: labels Prometheus adds to every scraped series, and the histogram bucket bound
TARGET_LABELS = {"job", "instance", "le", "__name__"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}


def worker_snapshot() -> dict:
    """A ``/metrics`` snapshot as a worker publishes it (``Reporter.publish``), over a real
    iHOMER model state that predicted a few records and saw a drift event."""
    from connectors.worker.reporting import Reporter
    from connectors.worker.state import ModelState
    from learners.ihomer import IHOMER
    from stream.synthetic import MultiLabelGenerator

    state = ModelState.new("m", "ihomer", IHOMER())
    for x, y in MultiLabelGenerator(n_features=4, n_labels=3, seed=1).take(30):
        state.evaluator.process_one(x, y)
    state.event_counts["global.drift"] += 1
    records = SimpleNamespace(counts={"messages": 31, "records": 30, "predictions": 30,
                                      "label_deliveries": 0},
                              dead_letters={"invalid_json": 1})
    checkpoints = SimpleNamespace(n_checkpoints=1, n_failed=0, age=lambda: 1.0)
    broker = SimpleNamespace(connected=True, outages=0, outage_seconds=0.0)
    return Reporter(None).publish(records, checkpoints, [state], [(0, 5)], broker=broker)


@pytest.fixture(scope="module")
def exported() -> dict:
    """Sample name -> {label name: values}, as a worker's ``/metrics`` exposes them."""
    from connectors.worker.metrics import MetricsServer

    snapshot = worker_snapshot()
    server = MetricsServer(lambda: snapshot)  # not started: its registry is enough
    server.observe_batch(0.01)
    names: dict = {}
    for family in server.registry.collect():
        for sample in family.samples:
            labels = names.setdefault(sample.name, {})
            for key, value in sample.labels.items():
                labels.setdefault(key, set()).add(value)
    for name, labels in SCRAPE_SERIES.items():
        names.setdefault(name, {}).update({key: set() for key in labels})
    return names


def dashboard_expressions(dashboard: dict) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets, annotations and the
    ``label_values(selector, label)`` of query variables (as the selector)."""
    out = []

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", ()))

    for panel in panels(dashboard.get("panels", ())):
        out += [t["expr"] for t in panel.get("targets", ()) if t.get("expr")]
    out += [a["expr"] for a in dashboard.get("annotations", {}).get("list", ()) if a.get("expr")]
    for var in dashboard.get("templating", {}).get("list", ()):
        if var.get("type") != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
        assert match, f"unexpected variable query {query!r}"
        out.append(f"group by ({match.group(2)}) ({match.group(1)})")
    return out


def concrete(expr: str) -> str:
    """Grafana's variables replaced by what they stand for, so Prometheus can parse it."""
    expr = re.sub(r"\$__(rate_interval|interval|range)", "5m", expr)
    expr = re.sub(r"\$\{?\w+\}?", ".*", expr)  # $instance, ${metric}: regex matchers
    assert "$" not in expr, expr
    return expr


def names_in(expr: str) -> tuple[set, set, set]:
    """(metric names, label names, exact ``(label, value)`` matchers) of a PromQL expression."""
    labels = set()
    exact = set(re.findall(r'(\w+)\s*=\s*"([^"]*)"', expr))
    body = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings out
    for group in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)",
                            body):
        labels |= {g.strip() for g in group.split(",") if g.strip()}
    body = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", body)
    for matchers in re.findall(r"\{([^}]*)\}", body):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
    body = re.sub(r"\{[^}]*\}", " ", body)
    body = re.sub(r"\[[^\]]*\]", " ", body)  # ranges
    words = re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*)(?!\w)(\s*\()?", body)
    metrics = {w for w, call in words if not call and w.lower() not in KEYWORDS}
    return metrics, labels, exact


def check_names(exprs, exported, where):
    used = set()
    for expr in exprs:
        metrics, labels, exact = names_in(concrete(expr))
        unknown = metrics - exported.keys()
        assert not unknown, f"{where}: {expr!r} names {unknown}, not exported by the worker"
        allowed = set().union(*(exported[m] for m in metrics)) | TARGET_LABELS
        assert labels <= allowed, f"{where}: {expr!r} uses labels {labels - allowed}"
        for label, value in exact:  # e.g. scope="window", kind="drift": values it exports
            if label in TARGET_LABELS:
                continue
            values = set().union(*(exported[m].get(label, set()) for m in metrics))
            assert value in values, f"{where}: {expr!r}: no {label}={value!r} is exported"
        used |= metrics
    return used


def rules():
    return [rule for group in yaml.safe_load(rules_path().read_text())["groups"]
            for rule in group["rules"]]


def test_names_in_reads_promql():
    metrics, labels, exact = names_in('sum by (le, instance) (rate(a_bucket{x="y", z=~"w"}'
                                      '[5m])) / on (instance) b > 1e-9 and c offset 5m')
    assert metrics == {"a_bucket", "b", "c"}
    assert labels == {"le", "instance", "x", "z"}
    assert exact == {("x", "y")}


def test_dashboard_parses_and_names_only_exported_metrics(exported):
    dashboard = json.loads(dashboard_path().read_text())
    assert dashboard["uid"] == "labelstream-workers" and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exprs = dashboard_expressions(dashboard)
    used = check_names(exprs, exported, "dashboard")
    for family in ("consumer_lag", "dead_letters_total", "drift_events_total",
                   "checkpoint_age_seconds", "records_per_second", "prequential",
                   "broker_connected", "checkpoint_failures_total"):
        assert "labelstream_worker_" + family in used, family
    assert any('scope="window"' in e for e in exprs)  # checked against the exported values


def test_rules_name_only_exported_metrics(exported):
    used = check_names([r["expr"] for r in rules()], exported, "rules")
    assert {"labelstream_worker_consumer_lag", "labelstream_worker_dead_letters_total",
            "labelstream_worker_drift_events_total", "labelstream_worker_checkpoint_age_seconds",
            "labelstream_worker_broker_connected", "labelstream_worker_up", "up"} <= used


@needs_promtool
def test_promtool_checks_the_rules_and_the_dashboard_expressions(tmp_path):
    run = subprocess.run([PROMTOOL, "check", "rules", str(rules_path())],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(rules())} rules found" in run.stdout
    # the dashboard's expressions, as recording rules: promtool parses each one
    exprs = [concrete(e) for e in dashboard_expressions(json.loads(dashboard_path().read_text()))]
    recorded = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(recorded))
    run = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in run.stdout


@needs_promtool
def test_promtool_unit_tests_fire_every_alert(tmp_path):
    cases = yaml.safe_load((HERE / "prometheus_rules_test.yml").read_text())
    tested = {t["alertname"] for case in cases["tests"] for t in case["alert_rule_test"]
              if t["exp_alerts"]}
    assert tested == {r["alert"] for r in rules()}  # each alert fires in some case
    shutil.copy(rules_path(), tmp_path / "prometheus_rules.yml")
    shutil.copy(HERE / "prometheus_rules_test.yml", tmp_path)
    run = subprocess.run([PROMTOOL, "test", "rules", "prometheus_rules_test.yml"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _wait(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Prometheus is not installed: "
                    "apt-get update && apt-get install -y prometheus (.ci/run does it)")
def test_a_running_prometheus_answers_every_dashboard_query_and_evaluates_the_rules(tmp_path):
    from connectors.worker.metrics import MetricsServer

    snapshot = worker_snapshot()
    metrics = MetricsServer(lambda: snapshot).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        web = f"127.0.0.1:{s.getsockname()[1]}"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{rules_path()}']\n"
        "scrape_configs:\n  - job_name: labelstream\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{metrics.port}']\n")
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address={web}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    api = f"http://{web}/api/v1"

    def query(expr):
        return _get_json(f"{api}/query?query={urllib.parse.quote(expr)}")

    try:
        _wait(lambda: query("count_over_time(labelstream_worker_up[5m]) >= 2")["data"]["result"],
              "two scrapes of the worker stored")
        dashboard = json.loads(dashboard_path().read_text())
        annotations = {a.get("expr") for a in dashboard["annotations"]["list"]}
        for expr in dashboard_expressions(dashboard):
            answer = query(concrete(expr))
            assert answer["status"] == "success", (expr, answer)
            if expr not in annotations:  # the drift annotation is empty without a new event
                assert answer["data"]["result"], f"no data for {expr!r}"

        def evaluated():
            groups = _get_json(f"{api}/rules")["data"]["groups"]
            found = [r for g in groups for r in g["rules"]]
            # not evaluated yet: lastEvaluation is Go's zero time, 0001-01-01
            done = [r for r in found if not r.get("lastEvaluation", "0001").startswith("0001")]
            return found if found and len(done) == len(found) else None

        loaded = _wait(evaluated, "Prometheus to evaluate every rule")
        assert {r["name"] for r in loaded} == {r["alert"] for r in rules()}
        assert all(r["health"] == "ok" for r in loaded), [
            (r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
        # this healthy worker fires nothing but the info-level drift alert
        firing = {r["name"] for r in loaded if r["state"] != "inactive"}
        assert firing <= {"LabelstreamDriftDetected"}, firing
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=15)
        except subprocess.TimeoutExpired:
            prom.kill()
        metrics.stop()
