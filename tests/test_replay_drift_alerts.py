"""`labelstream replay` over streams with known drift: events, and alerts delivered for real."""

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from connectors.alerts.signing import WebhookVerificationError, generate_secret, verify_webhook
from stream.synthetic import Drift, MultiLabelGenerator
from stream.writers import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
DRIFT_AT = 4000


def labelstream(*args, env=None):
    exe = shutil.which("labelstream")
    cmd = [exe] if exe else [sys.executable, "-m", "connectors.cli"]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def drifting_stream(tmp_path_factory):
    """8,000 records; the feature -> label mapping changes suddenly at record 4,000."""
    gen = MultiLabelGenerator(n_features=20, n_labels=8, seed=11,
                              drifts=[Drift(position=DRIFT_AT, target="p_y_given_x")])
    path = tmp_path_factory.mktemp("streams") / "drift.jsonl"
    write_jsonl(gen.take(8000), path)
    return path


@pytest.fixture
def receiver():
    """A real HTTP server on loopback that records every POST."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/drift", received
    server.shutdown()
    server.server_close()


def test_replay_detects_the_drift_and_delivers_a_signed_alert(drifting_stream, receiver):
    url, received = receiver
    secret = generate_secret()
    proc = labelstream("replay", str(drifting_stream), "--learner", "br", "--json", "-q",
                       "--label-drift", "none", "--alert-webhook", url,
                       "--alert-secret-env", "LS_TEST_SECRET", "--alert-cooldown", "0",
                       env={"LS_TEST_SECRET": secret})
    out = json.loads(proc.stdout)
    drifts = [e for e in out["events"] if e["level"] == "global" and e["kind"] == "drift"]
    assert drifts, out["events"]
    # detected after the change, within a documented delay (ADWIN: ~100-1,000 records here)
    assert any(DRIFT_AT <= e["position"] < DRIFT_AT + 1500 for e in drifts), drifts
    assert not [e for e in drifts if e["position"] < DRIFT_AT], "false alarm before the drift"
    assert out["alerts"]["delivered"] >= 1 and len(received) == out["alerts"]["delivered"]
    seen = set()
    for headers, body in received:
        event = verify_webhook(secret, headers, body, seen_ids=seen)  # raises if not genuine
        assert event["id"] in {e["id"] for e in out["events"]}
    headers, body = received[0]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body.replace(b'"position":', b'"position":1'))  # tampered
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body, seen_ids=seen)  # replayed delivery
    with pytest.raises(WebhookVerificationError):
        verify_webhook(generate_secret(), headers, body)  # not signed with our secret


def test_correlation_drift_is_reported_with_the_labels_that_moved(tmp_path):
    gen = MultiLabelGenerator(n_features=20, n_labels=12, n_clusters=4, cardinality=3.0,
                              seed=5, drifts=[Drift(position=6000, target="correlation")])
    path = tmp_path / "corr.jsonl"
    write_jsonl(gen.take(10000), path)
    out = json.loads(labelstream("replay", str(path), "--json", "-q", "--detector", "none",
                                 "--label-drift", "correlation").stdout)
    events = [e for e in out["events"] if e["level"] == "label_structure"]
    assert events, out["events"]
    assert all(e["position"] >= 6000 for e in events)
    assert events[0]["position"] < 6000 + 2000 and events[0]["labels"]


def test_command_hook_receives_the_event_on_stdin(drifting_stream, tmp_path):
    sink = tmp_path / "alerts.jsonl"
    script = tmp_path / "sink.py"
    script.write_text("import sys\nopen(sys.argv[1], 'a').write(sys.stdin.read())\n")
    command = f"{sys.executable} {script} {sink}"
    out = json.loads(labelstream("replay", str(drifting_stream), "--learner", "br", "--json", "-q",
                                 "--label-drift", "none", "--alert-command", command,
                                 "--alert-cooldown", "0").stdout)
    lines = [json.loads(line) for line in sink.read_text().splitlines()]
    assert lines and {e["id"] for e in lines} <= {e["id"] for e in out["events"]}


def test_report_plot_marks_drift_events(drifting_stream, tmp_path):
    labelstream("replay", str(drifting_stream), "--learner", "br", "-q", "--label-drift", "none",
                "--report", str(tmp_path))
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert any(e["level"] == "global" for e in doc["events"])
    assert (tmp_path / "metrics.png").stat().st_size > 10_000
