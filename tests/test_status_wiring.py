"""The status page wired in: a real worker on the tansu broker serves its live status
(``--status-port``), and a replay serves its own while it runs (``--serve``) and after it
with ``--serve-wait``."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from test_worker_helpers import KEY, KEY_ENV, cli_command, cli_env, send_all, worker_config

TOKEN_ENV = "LABELSTREAM_TEST_STATUS_TOKEN"
TOKEN = "status-test-token-0123"


def _get(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def _wait(predicate, what: str, timeout: float = 30.0, seen=lambda: None):
    """Poll ``predicate`` until it returns something true; fail with what was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; saw {seen()!r}")


def _records(broker_records):
    from connectors.kafka.codec import encode_record

    return [encode_record(x, y) for x, y in broker_records]


def test_worker_serves_its_live_status(kafka_broker, unique_topic, monkeypatch):
    from connectors.worker import Worker
    from stream.synthetic import MultiLabelGenerator

    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    topic = kafka_broker.create_topic(unique_topic("status"))
    stream = MultiLabelGenerator(n_features=6, n_labels=6, n_clusters=3, seed=3,
                                 noise=0.1).take(600)
    values = _records(stream)
    send_all(kafka_broker, topic, values[:300], partition=0)
    worker = Worker(worker_config(kafka_broker, topic, learner="ihomer", stop_at_end=False,
                                  status_port=0, status_token_env=TOKEN_ENV))
    result, errors = {}, []

    def run():
        try:
            result.update(worker.run())
        except BaseException as err:  # noqa: BLE001 - reported by the test
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    last = {}

    def status():
        if worker.status_port is None:
            return {}
        last.clear()
        last.update(_get(f"http://127.0.0.1:{worker.status_port}/status.json", TOKEN))
        return last

    def records_total(n):
        return lambda: status().get("counters", {}).get("records_total") == n

    try:
        _wait(lambda: worker.status_port is not None or errors, "the status page")
        assert not errors, errors
        # the token is enforced (given on loopback too)
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(f"http://127.0.0.1:{worker.status_port}/status.json")
        assert refused.value.code == 401
        _wait(records_total(300), "300 records on the page", seen=lambda: last)
        assert worker.messages_handled == 300
        send_all(kafka_broker, topic, values[300:], partition=0)
        _wait(records_total(600), "600 records on the page", seen=lambda: last)
        assert worker.messages_handled == 600
        served = dict(last)
        assert served["counters"]["up"] == 1
        assert served["history"], "no server-side history"
        assert served["title"].startswith(topic)
        model = {"model": worker.config.checkpoint_name(None)}
        assert [model, 600] in served["labelled"]["learned_records"]
        metrics = {(p["metric"], p["scope"]) for p, _ in served["labelled"]["prequential"]}
        assert ("example_f1", "window") in metrics
        # iHOMER's label clusters: every label appears once in the tree
        flat = []

        def leaves(node):
            for item in node:
                (leaves(item) if isinstance(item, list) else flat.append(item))

        leaves(served["clusters"])
        assert sorted(flat) == sorted(set(flat)) and len(flat) >= 2, served["clusters"]
        assert isinstance(served["events"], list)
    finally:
        worker.request_stop("test over")
        thread.join(timeout=60)
    assert not thread.is_alive() and not errors, errors
    assert result["records"] == 600
    assert worker.status_port is None or _refused(worker.status_port)


def _refused(port: int) -> bool:
    try:
        _get(f"http://127.0.0.1:{port}/status.json", TOKEN)
    except OSError:
        return True
    return False


def test_worker_status_off_loopback_needs_a_token(monkeypatch):
    from connectors.kafka.client import KafkaSettings
    from connectors.worker import Worker, WorkerConfig, WorkerError

    monkeypatch.delenv("LABELSTREAM_STATUS_TOKEN", raising=False)
    # refused before anything connects: no broker listens there
    worker = Worker(WorkerConfig(KafkaSettings("127.0.0.1:9"), "records", learner="br",
                                 status_port=0, status_host="0.0.0.0"))
    with pytest.raises(WorkerError, match="not a loopback address"):
        worker.run()
    with pytest.raises(ValueError, match="one way"):
        WorkerConfig(KafkaSettings("127.0.0.1:9"), "records", status_port=0,
                     status_token_env="A", status_token_file="b")


def test_replay_serves_its_status_mid_run(monkeypatch, capsys):
    import connectors.sources
    from connectors.cli import _replay_config, build_parser, run_replay
    from connectors.status.replay_status import ReplayStatus
    from stream.synthetic import MultiLabelGenerator

    records = MultiLabelGenerator(n_features=6, n_labels=5, seed=5, noise=0.1).take(1200)
    gate, served = threading.Event(), []

    def gated():  # the first 600 records, then wait for the test to look
        for i, record in enumerate(records):
            if i == 600:
                assert gate.wait(30), "the test never opened the gate"
            yield record

    monkeypatch.setattr(connectors.sources, "open_source", lambda spec: (gated(), "gated"))
    start = ReplayStatus.start
    monkeypatch.setattr(ReplayStatus, "start",
                        lambda self, **kw: served.append(self) or start(self, **kw))
    args = build_parser().parse_args(["replay", "gated.jsonl", "--learner", "br", "-q",
                                      "--json", "--serve", "0", "--window", "100"])
    cfg = _replay_config(args)
    result, errors = {}, []

    def run():
        try:
            result.update(run_replay(cfg))
        except BaseException as err:  # noqa: BLE001 - reported by the test
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        _wait(lambda: served and served[0].port or errors, "the replay's status page")
        assert not errors, errors
        port = served[0].port
        url = served[0].url + "status.json"
        mid = _wait(lambda: (lambda s: s if s.get("state") == "running"
                             and s["counters"]["records_total"] > 0 else None)(_get(url)),
                    "a running replay's status")
        assert 0 < mid["counters"]["records_total"] <= 600
        assert mid["title"] == "br on gated.jsonl"
        assert any(p["scope"] == "window" for p, _ in mid["labelled"]["prequential"])
    finally:
        gate.set()
        thread.join(timeout=60)
    assert not thread.is_alive() and not errors, errors
    assert result["instances"] == 1200
    assert _refused(port), "the page outlived a replay without --serve-wait"
    assert "status page at http://127.0.0.1:" in capsys.readouterr().err


def test_replay_serve_wait_keeps_the_final_state_until_ctrl_c(tmp_path):
    proc = subprocess.Popen(cli_command() + [
        "replay", "--limit", "300", "--learner", "br", "-q", "--json", "--serve", "0",
        "--serve-wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cli_env())
    try:
        url = None
        err_lines = []
        for line in proc.stderr:
            err_lines.append(line)
            found = re.search(r"status page at (http://\S+/)", line)
            url = url or (found and found.group(1))
            if "the replay is over" in line:
                break
        assert url, "".join(err_lines)
        summary = json.loads(proc.stdout.readline())
        final = _get(url + "status.json")
        assert final["state"] == "finished" and final["counters"]["up"] == 0
        assert final["counters"]["records_total"] == summary["instances"] == 300
        cumulative = {p["metric"]: v for p, v in final["labelled"]["prequential"]
                      if p["scope"] == "cumulative"}
        assert cumulative["example_f1"] == pytest.approx(summary["example_f1"])
        assert proc.poll() is None, "the page stopped before Ctrl-C"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
