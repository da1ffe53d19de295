"""Alert delivery against real endpoints on loopback: a signed webhook, a real program.

Every server binds 127.0.0.1 only; every wait is bounded; hanging handlers are released
when their test ends.
"""

import argparse
import json
import logging
import os
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from connectors.alerts import (
    AlertConfig,
    AlertDeliveryError,
    AlertDispatcher,
    BackgroundDelivery,
    CallableHook,
    CommandHook,
    JsonlFileHook,
    KafkaTopicHook,
    WebhookHook,
    WebhookVerificationError,
    add_alert_arguments,
    generate_secret,
    sign,
    verify_webhook,
)
from connectors.alerts.kafka_topic import serialize_event
from drift.detectors import ErrorDriftMonitor
from drift.events import DriftEvent, new_event

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY="


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


class Endpoint:
    """A ThreadingHTTPServer on 127.0.0.1 that records requests and answers by script.

    ``script(n)`` gives the answer to the n-th request (0-based): an HTTP status, or
    ``"hang"`` (hold the connection until the test ends, at most 10 s).
    """

    def __init__(self, script=lambda n: 200):
        self.script = script
        self.requests = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                with endpoint.lock:
                    n = len(endpoint.requests)
                    endpoint.requests.append((self.headers, body, time.time()))
                answer = endpoint.script(n)
                if answer == "hang":
                    endpoint.release.wait(10)
                    return
                self.send_response(answer)
                if answer == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/drift?token=t0p"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait_for(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.005)
        return len(self.requests) >= n

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def endpoint():
    made = []

    def make(script=lambda n: 200):
        ep = Endpoint(script)
        made.append(ep)
        return ep

    yield make
    for ep in made:
        ep.stop()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a small replay with a known drift -------------------------------------------------------
DRIFT_AT = 4000
N_LABELS = 6


def replay(alerts, n=8000, drift_at=DRIFT_AT, seed=0, detector="adwin", work=0):
    """Prequential-style loop over a stream whose predictions get worse at ``drift_at``.

    The "learner" predicts each record's labels with every label flipped with probability
    0.05 before the drift and 0.35 after; ``work`` adds that many small numpy updates per
    record, standing in for a learner's cost. Returns the events emitted.
    """
    rng = random.Random(seed)
    weights = np.zeros((32, N_LABELS))
    x = np.linspace(-1, 1, 32)
    monitor = ErrorDriftMonitor(detector)
    events = []
    for i in range(n):
        truth = {label: rng.random() < 0.3 for label in range(N_LABELS)}
        flip = 0.05 if i < drift_at else 0.35
        pred = {label: (not v) if rng.random() < flip else v for label, v in truth.items()}
        for _ in range(work):
            weights += 1e-3 * np.outer(x, np.tanh(x @ weights))
        monitor.update_one(truth, pred)
        if monitor.drift_detected:
            event = monitor.make_event(i, source_offset={"topic": "records", "partition": 0,
                                                         "offset": i})
            events.append(event)
            alerts.emit(event)
    return events


def test_replay_with_known_drift_delivers_a_correctly_signed_alert(endpoint, monkeypatch):
    ep = endpoint()
    monkeypatch.setenv("LABELSTREAM_TEST_WEBHOOK_SECRET", SECRET)
    cfg = AlertConfig(webhook_url=ep.url, secret_env="LABELSTREAM_TEST_WEBHOOK_SECRET",
                      cooldown_records=100_000)
    alerts = cfg.build()
    events = replay(alerts)
    assert alerts.flush(timeout=10)
    alerts.close()
    assert events and DRIFT_AT <= events[0].position < DRIFT_AT + 300
    assert len(ep.requests) == 1  # the cooldown folds later detections into this one
    headers, body, _ = ep.requests[0]
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == events[0].id
    seen = set()
    payload = verify_webhook(SECRET, headers, body, seen_ids=seen)
    received = DriftEvent.from_dict(payload)
    assert received.id == events[0].id and received.position == events[0].position
    assert received.level == "global" and received.detector == "adwin"
    assert received.source_offset["offset"] == events[0].position
    assert received.details["suppressed"] == 0
    assert received == events[0].replace(details={**events[0].details, "suppressed": 0})
    assert alerts.stats["delivered"] == 1 and alerts.stats["failed"] == 0
    assert alerts.stats["suppressed"] == len(events) - 1


def test_tampered_stale_replayed_or_wrongly_keyed_deliveries_fail_verification(endpoint):
    ep = endpoint()
    hook = WebhookHook(ep.url, secret=SECRET)
    event = new_event("ddm", "global", 1234, timestamp=1.0, labels=("a",))
    hook.deliver(event)
    headers, body, received_at = ep.requests[0]
    ts = int(headers["webhook-timestamp"])
    assert abs(ts - received_at) < 5
    seen = set()
    assert verify_webhook(SECRET, headers, body, seen_ids=seen)["id"] == event.id
    assert seen == {event.id}

    def fails(reason, *args, **kwargs):
        with pytest.raises(WebhookVerificationError) as err:
            verify_webhook(*args, **kwargs)
        assert reason in err.value.reason

    fails("replayed", SECRET, headers, body, seen_ids=seen)
    fails("replayed", SECRET, headers, body, seen_ids=lambda msg_id: msg_id == event.id)
    fails("no matching signature", SECRET, headers, body.replace(b"1234", b"1235"))
    fails("no matching signature", SECRET, headers, body + b" ")
    fails("no matching signature", generate_secret(), headers, body)
    fails("no matching signature", b"another key", headers, body)
    fails("too old", SECRET, headers, body, now=ts + 301)
    fails("future", SECRET, headers, body, now=ts - 301)
    assert verify_webhook(SECRET, headers, body, now=ts + 299)["position"] == 1234
    moved = {k.lower(): v for k, v in headers.items()}
    moved["webhook-timestamp"] = str(ts + 1)  # re-dated, signature not re-made
    fails("no matching signature", SECRET, moved, body)
    other_id = dict(moved, **{"webhook-timestamp": str(ts), "webhook-id": "evt_other"})
    fails("no matching signature", SECRET, other_id, body)
    missing = {k: v for k, v in headers.items() if k.lower() != "webhook-signature"}
    fails("missing header", SECRET, missing, body)
    fails("invalid webhook-timestamp", SECRET, dict(moved, **{"webhook-timestamp": "soon"}),
          body)
    # several signatures (key rotation): any valid one is enough
    rotated = dict(other_id, **{"webhook-id": event.id,
                                "webhook-signature": "v1,AAAA " + headers["webhook-signature"]})
    assert verify_webhook(SECRET, rotated, body)["id"] == event.id
    # a raw (non-whsec) secret works the same way on both sides
    assert sign("raw secret", "evt_1", 5, b"{}") != sign(SECRET, "evt_1", 5, b"{}")


def test_signatures_match_the_standard_webhooks_test_vector():
    # the specification's published vector: receivers can use any Standard Webhooks library
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    headers = {"Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "Webhook-Timestamp": "1614265330",
               "Webhook-Signature": expected}
    assert verify_webhook(secret, headers, body, now=1614265330) == {"test": 2432232314}


def test_retries_on_500_keep_the_same_id_then_succeed(endpoint):
    ep = endpoint(lambda n: 500 if n < 2 else (429 if n == 2 else 200))
    hook = WebhookHook(ep.url, secret=SECRET, backoff=0.01, jitter=True, seed=1)
    event = new_event("adwin", "global", 77, timestamp=0.0)
    hook.deliver(event)
    assert hook.n_attempts == 4 and len(ep.requests) == 4
    ids = {h["webhook-id"] for h, _, _ in ep.requests}
    bodies = {b for _, b, _ in ep.requests}
    assert ids == {event.id} and bodies == {event.to_json().encode()}
    seen = set()
    verify_webhook(SECRET, ep.requests[-1][0], ep.requests[-1][1], seen_ids=seen)
    with pytest.raises(WebhookVerificationError, match="replayed"):
        verify_webhook(SECRET, ep.requests[0][0], ep.requests[0][1], seen_ids=seen)


def test_client_errors_are_not_retried_and_exhausted_retries_fail(endpoint):
    ep = endpoint(lambda n: 400)
    hook = WebhookHook(ep.url, secret=SECRET, backoff=0.01)
    with pytest.raises(AlertDeliveryError, match="HTTP 400"):
        hook.deliver(new_event("adwin", "global", 1, timestamp=0.0))
    assert len(ep.requests) == 1
    ep2 = endpoint(lambda n: 503)
    hook2 = WebhookHook(ep2.url, secret=SECRET, backoff=0.001, max_retries=2)
    with pytest.raises(AlertDeliveryError, match="after 3 attempts"):
        hook2.deliver(new_event("adwin", "global", 1, timestamp=0.0))
    assert len(ep2.requests) == 3
    dead = WebhookHook(f"http://127.0.0.1:{closed_port()}/x", secret=SECRET, backoff=0.001,
                       max_retries=1)
    with pytest.raises(AlertDeliveryError, match="2 attempts"):
        dead.deliver(new_event("adwin", "global", 1, timestamp=0.0))
    assert dead.n_attempts == 2


def test_secret_never_appears_in_repr_or_logs(endpoint, caplog):
    ep = endpoint(lambda n: 503)
    hook = WebhookHook(ep.url, secret=SECRET, backoff=0.001, max_retries=1)
    alerts = AlertDispatcher([hook])
    with caplog.at_level(logging.DEBUG):
        alerts.emit(new_event("adwin", "global", 1, timestamp=0.0))
        alerts.flush(5)
        alerts.close()
    text = caplog.text + repr(hook) + repr(alerts)
    assert alerts.stats["failed"] == 1 and "not delivered" in caplog.text
    assert SECRET not in text and SECRET[6:] not in text
    assert "t0p" not in text and "/hooks" not in text  # URL path and query may hold tokens
    assert "127.0.0.1" in caplog.text


def _finishes(fn, within: float):
    """Run ``fn`` on a thread; its result, or fail if it is still running after ``within``
    seconds (a deadlock check with a wide margin, not a speed measurement: speed is
    measured by bench/alerts.py)."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn()), daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"still blocked after {within} s"
    return out["value"]


@pytest.mark.parametrize("kind", ["hang", "dead"])
def test_a_hanging_or_dead_endpoint_never_blocks_emit(endpoint, kind):
    if kind == "hang":
        url = endpoint(lambda n: "hang").url
    else:
        url = f"http://127.0.0.1:{closed_port()}/hook"
    hook = WebhookHook(url, secret=SECRET, timeout=0.2, backoff=0.05, max_retries=100)
    alerts = AlertDispatcher([hook], max_queue=100)
    events = [new_event("adwin", "global", i, timestamp=0.0) for i in range(10_000)]
    # With max_retries=100 a single blocking delivery would take > 20 s per event.
    accepted = _finishes(lambda: [alerts.emit(event) for event in events], within=30)
    stats = alerts.stats
    assert all(accepted) and stats["alerted"] == 10_000
    assert stats["dropped"] >= 10_000 - 101
    assert stats["dropped"] + stats["hooks"]["webhook"]["queued"] + stats["failed"] \
        + stats["delivered"] == 10_000
    # close() honours its timeout instead of waiting out the hook's 100 retries
    _finishes(lambda: alerts.close(timeout=0.2), within=10)
    assert alerts.stats["delivered"] == 0


def test_a_hanging_endpoint_does_not_change_what_a_replay_detects(endpoint):
    """A stuck webhook costs drops, never the replay: same events, and the loop finishes
    although the endpoint never answers (bench/alerts.py measures the time it costs)."""
    url = endpoint(lambda n: "hang").url

    def run(hooks):
        alerts = AlertDispatcher(hooks, max_queue=20)
        events = _finishes(lambda: replay(alerts, n=6000, drift_at=3000,
                                          detector="dummy:t_0=20"), within=60)
        alerts.close(timeout=0.05)
        return events, alerts.stats

    base, _ = run([])
    stuck, stats = run([WebhookHook(url, secret=SECRET, timeout=0.2, backoff=0.05)])
    assert len(base) == 300  # an alert every 20 records, none suppressed
    assert [(e.id, e.position, e.statistic) for e in stuck] \
        == [(e.id, e.position, e.statistic) for e in base]
    assert stats["alerted"] == 300 and stats["dropped"] > 200  # the hook really was stuck


# -- the command hook ----------------------------------------------------------------------
WRITE_STDIN = "import sys; open(sys.argv[1], 'wb').write(sys.stdin.buffer.read())"


def test_command_hook_runs_a_real_program_with_the_event_on_stdin(tmp_path):
    out = tmp_path / "received.json"
    hook = CommandHook([sys.executable, "-c", WRITE_STDIN, str(out)])
    alerts = AlertDispatcher([hook])
    event = new_event("page-hinkley", "local", 42, learner="expert-3", labels=("x", 2),
                      timestamp=5.0, details={"note": "ünïcode"})
    assert alerts.emit(event)
    assert alerts.flush(timeout=20)
    alerts.close()
    assert alerts.stats["delivered"] == 1
    sent = event.replace(details={**event.details, "suppressed": 0})
    assert out.read_text() == sent.to_json() + "\n"
    assert DriftEvent.from_json(out.read_text()) == sent


def test_command_hook_environment_is_minimal(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELSTREAM_SECRET_SHOULD_NOT_LEAK", "x")
    out = tmp_path / "env.json"
    script = "import os, sys, json; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))"
    CommandHook([sys.executable, "-c", script, str(out)]).deliver(
        new_event("adwin", "global", 1, timestamp=0.0))
    env = json.loads(out.read_text())
    assert "LABELSTREAM_SECRET_SHOULD_NOT_LEAK" not in env
    assert set(env) <= {"PATH", "LANG", "LC_CTYPE"}  # Python may coerce LC_CTYPE itself
    out2 = tmp_path / "env2.json"
    CommandHook([sys.executable, "-c", script, str(out2)], env={"ONLY": "this"}).deliver(
        new_event("adwin", "global", 1, timestamp=0.0))
    assert set(json.loads(out2.read_text())) <= {"ONLY", "LC_CTYPE"}


NASTY = ["; touch pwned1", "$(touch pwned2)", "`touch pwned3`", "| tee pwned4",
         "&& touch pwned5 #", "'; touch pwned6; '", "\"; touch pwned7\n"]


def test_shell_metacharacters_in_an_event_do_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "received.json"
    event = new_event("adwin; touch pwned8", "local", 3, learner="$(touch pwned9)",
                      labels=tuple(NASTY), timestamp=0.0,
                      details={"cmd": "`touch pwned10` | tee pwned11 ; rm -rf x"})
    (tmp_path / "x").mkdir()
    hooks = [CommandHook([sys.executable, "-c", WRITE_STDIN, str(out)], cwd=tmp_path)]
    if os.path.exists("/bin/sh"):  # even a shell program only reads the event as data
        hooks.append(CommandHook(["/bin/sh", "-c", 'cat > "$1"', "sh",
                                  str(tmp_path / "via-sh.json")], cwd=tmp_path))
    alerts = AlertDispatcher(hooks)
    alerts.emit(event)
    assert alerts.flush(timeout=20)
    alerts.close()
    assert alerts.stats["delivered"] == len(hooks)
    received = DriftEvent.from_json(out.read_text())
    assert received.labels == tuple(NASTY) and received.learner == "$(touch pwned9)"
    if len(hooks) == 2:
        assert (tmp_path / "via-sh.json").read_text() == out.read_text()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("pwned")]
    assert (tmp_path / "x").is_dir()


def test_command_failures_are_counted_and_logged_with_stderr(caplog):
    fail = CommandHook([sys.executable, "-c",
                        "import sys; sys.stderr.write('endpoint said no'); sys.exit(3)"])
    slow = CommandHook([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    missing = CommandHook(["/nonexistent/labelstream-alert-program"])
    alerts = AlertDispatcher([fail, slow, missing])
    start = time.monotonic()
    with caplog.at_level(logging.WARNING):
        alerts.emit(new_event("adwin", "global", 1, timestamp=0.0))
        assert alerts.flush(timeout=20)
        alerts.close()
    assert time.monotonic() - start < 10
    assert alerts.stats["failed"] == 3 and alerts.stats["delivered"] == 0
    assert "exited with status 3: endpoint said no" in caplog.text
    assert "did not finish within 0.5 s" in caplog.text
    assert "could not run" in caplog.text
    with pytest.raises(TypeError, match="shlex"):
        CommandHook("echo hi")
    with pytest.raises(ValueError):
        CommandHook([])


# -- dispatcher, queue, file, callable, kafka ----------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_cooldown_folds_a_burst_into_one_alert_and_counts_the_rest():
    clock = FakeClock()
    got = []
    alerts = AlertDispatcher([got.append], cooldown_seconds=60, clock=clock)
    burst = [new_event("adwin", "global", 1000 + i, timestamp=0.0) for i in range(50)]
    assert [alerts.emit(e) for e in burst].count(True) == 1
    assert len(got) == 1 and got[0].details["suppressed"] == 0
    # other keys are not held back by this burst
    assert alerts.emit(new_event("adwin", "global", 1010, kind="warning", timestamp=0.0))
    assert alerts.emit(new_event("adwin", "local", 1010, learner="e1", timestamp=0.0))
    assert alerts.emit(new_event("ddm", "global", 1010, timestamp=0.0))
    clock.now += 61
    assert alerts.emit(new_event("adwin", "global", 9000, timestamp=0.0))
    assert got[-1].position == 9000 and got[-1].details["suppressed"] == 49
    stats = alerts.stats
    assert (stats["emitted"], stats["alerted"], stats["suppressed"]) == (54, 5, 49)
    by_records = AlertDispatcher([got.append], cooldown_records=500)
    results = [by_records.emit(new_event("adwin", "global", p, timestamp=0.0))
               for p in (100, 200, 599, 600, 650, 1200)]
    assert results == [True, False, False, True, False, True]


def test_kinds_filter():
    got = []
    alerts = AlertDispatcher([got.append], kinds=("drift",))
    assert not alerts.emit(new_event("ddm", "global", 1, kind="warning", timestamp=0.0))
    assert alerts.emit(new_event("ddm", "global", 1, timestamp=0.0))
    assert alerts.stats["filtered"] == 1 and len(got) == 1


def test_a_failing_inline_hook_is_counted_and_never_raises(caplog):
    def broken(event):
        raise RuntimeError("boom")

    got = []
    alerts = AlertDispatcher([CallableHook(broken), got.append])
    with caplog.at_level(logging.WARNING):
        assert alerts.emit(new_event("adwin", "global", 1, timestamp=0.0))
    assert len(got) == 1
    assert alerts.stats["failed"] == 1 and alerts.stats["delivered"] == 1
    assert "boom" in caplog.text
    with pytest.raises(TypeError):
        AlertDispatcher([object()])


def test_background_close_drains_within_its_deadline():
    class Slow:
        name = "slow"

        def __init__(self):
            self.got = []

        def deliver(self, event):
            time.sleep(0.02)
            self.got.append(event)

        def close(self):
            pass

    ok = BackgroundDelivery(Slow(), max_queue=50)
    for i in range(10):
        ok.deliver(new_event("adwin", "global", i, timestamp=0.0))
    ok.close(timeout=5)
    assert ok.stats == {"delivered": 10, "failed": 0, "dropped": 0, "queued": 0}
    assert [e.position for e in ok.hook.got] == list(range(10))
    cut = BackgroundDelivery(Slow(), max_queue=500)
    for i in range(200):
        cut.deliver(new_event("adwin", "global", i, timestamp=0.0))
    start = time.monotonic()
    cut.close(timeout=0.1)
    assert time.monotonic() - start < 2  # honours its timeout: the 200 deliveries take 4 s
    time.sleep(0.05)
    stats = cut.stats
    assert stats["dropped"] > 150 and stats["delivered"] + stats["dropped"] == 200
    cut.deliver(new_event("adwin", "global", 0, timestamp=0.0))  # after close: dropped
    assert cut.stats["dropped"] == stats["dropped"] + 1


def test_jsonl_file_hook_appends_parseable_lines(tmp_path):
    path = tmp_path / "deep" / "alerts.jsonl"
    events = [new_event("adwin", "global", i, timestamp=float(i)) for i in range(3)]
    with AlertDispatcher([JsonlFileHook(path)]) as alerts:
        for e in events[:2]:
            alerts.emit(e)
    hook = JsonlFileHook(path, fsync=True)
    hook.deliver(events[2])
    hook.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    parsed = [DriftEvent.from_json(line) for line in lines]
    assert [e.position for e in parsed] == [0, 1, 2]
    assert parsed[2] == events[2]


class FakeFuture:
    def __init__(self, fail=False):
        self.fail = fail

    def get(self, timeout=None):
        if self.fail:
            raise TimeoutError("no ack")
        return "metadata"


class FakeProducer:
    def __init__(self, fail=False):
        self.sent, self.flushed, self.closed, self.fail = [], 0, False, fail

    def send(self, topic, key=None, value=None, headers=None):
        self.sent.append((topic, key, value, headers))
        return FakeFuture(self.fail)

    def flush(self, timeout=None):
        self.flushed += 1

    def close(self, timeout=None):
        self.closed = True


def test_kafka_hook_serialises_key_value_headers():
    event = new_event("adwin", "global", 5, timestamp=0.0)
    key, value, _ = serialize_event(event)
    assert key == event.id.encode() and DriftEvent.from_json(value) == event
    producer = FakeProducer()
    alerts = AlertDispatcher([KafkaTopicHook("drift-alerts", producer=producer)])
    alerts.emit(event)
    assert alerts.flush(5)
    alerts.close()
    topic, k, v, h = producer.sent[0]
    assert (topic, k, h) == ("drift-alerts", event.id.encode(),
                             [("content-type", b"application/json")])
    assert json.loads(v)["details"] == {"suppressed": 0}
    assert producer.flushed == 1 and not producer.closed  # not ours to close
    failing = AlertDispatcher([KafkaTopicHook("t", producer=FakeProducer(fail=True))])
    failing.emit(event)
    failing.flush(5)
    failing.close()
    assert failing.stats["failed"] == 1
    lazy = KafkaTopicHook("t", bootstrap_servers="127.0.0.1:1")  # no connection yet
    lazy.close()
    with pytest.raises(ValueError):
        KafkaTopicHook("t")


# -- configuration -------------------------------------------------------------------------
def test_alert_config_from_cli_flags_builds_the_hooks(tmp_path, monkeypatch, endpoint):
    ep = endpoint()
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    parser = argparse.ArgumentParser()
    add_alert_arguments(parser)
    out = tmp_path / "cmd.json"
    args = parser.parse_args([
        "--alert-webhook", ep.url, "--alert-secret-file", str(secret_file),
        "--alert-command", f"{sys.executable} -c \"{WRITE_STDIN}\" {out}",
        "--alert-file", str(tmp_path / "alerts.jsonl"), "--alert-cooldown", "0",
        "--alert-cooldown-records", "10",
    ])
    cfg = AlertConfig.from_args(args)
    assert cfg.enabled and cfg.command[0] == sys.executable and "warning" not in cfg.kinds
    assert SECRET not in repr(cfg)
    alerts = cfg.build()
    assert [h.name for h in alerts.hooks] == ["webhook", "command", "file"]
    event = new_event("adwin", "global", 100, timestamp=0.0)
    alerts.emit(event)
    alerts.emit(new_event("adwin", "global", 105, timestamp=0.0))  # cooled down
    alerts.emit(new_event("adwin", "global", 100, kind="warning", timestamp=0.0))  # filtered
    assert alerts.flush(20)
    alerts.close()
    assert alerts.stats["delivered"] == 3 and alerts.stats["suppressed"] == 1
    assert alerts.stats["filtered"] == 1
    headers, body, _ = ep.requests[0]
    assert verify_webhook(SECRET, headers, body)["id"] == event.id
    assert DriftEvent.from_json(out.read_text()).id == event.id
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1


def test_alert_config_errors():
    with pytest.raises(ValueError, match="one way"):
        AlertConfig(webhook_url="http://127.0.0.1:1/", secret_env="A", secret_file="b")
    with pytest.raises(ValueError, match="without --alert-webhook"):
        AlertConfig(secret_env="A")
    with pytest.raises(ValueError, match="LABELSTREAM_UNSET_SECRET_VAR"):
        AlertConfig(webhook_url="http://127.0.0.1:1/",
                    secret_env="LABELSTREAM_UNSET_SECRET_VAR").build()
    with pytest.raises(ValueError, match="brokers"):
        AlertConfig(topic="alerts").build()
    with pytest.raises(ValueError):
        WebhookHook("ftp://127.0.0.1/x")
    assert AlertConfig(command="notify --to 'ops team'").command == ("notify", "--to",
                                                                      "ops team")
    assert not AlertConfig().enabled and AlertConfig().build().hooks == []
