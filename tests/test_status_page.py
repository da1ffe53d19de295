"""The live status page (:mod:`connectors.status`): served over loopback to a real HTTP
client, its token enforced off loopback, and rendered by a real headless Chromium (the
distribution's package: ``apt-get install -y chromium``), which must show the snapshot's
numbers, a drift event, a cluster label and a poll's later figures, with no console
message."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from html.parser import HTMLParser

import pytest

from connectors.status import StatusServer, cluster_tree, static_file

EVENT_TIME = 1_800_000_000.0


def snapshot_source():
    """A snapshot shaped like ``Reporter.publish``'s, whose ``records_total`` grows by one
    per call (so a page that polled shows a later figure than the embedded one)."""
    calls = itertools.count()

    def snapshot():
        n = next(calls)
        return {
            "title": "topic-in / group-a",
            "counters": {"records_per_second": 1234.5, "records_total": 5000 + n,
                         "messages_total": 5010 + n, "checkpoint_age_seconds": 2.25,
                         "broker_connected": 1, "up": 1},
            "labelled": {
                "consumer_lag": [({"partition": 0}, 40), ({"partition": 1}, 2)],
                "dead_letters_total": [({"reason": "invalid_json"}, 3),
                                       ({"reason": "schema_mismatch"}, 1)],
                "drift_events_total": [({"model": "m", "level": "global", "kind": "drift"}, 1)],
                "prequential": [
                    ({"model": "m", "metric": "example_f1", "scope": "window"}, 0.625),
                    ({"model": "m", "metric": "example_f1", "scope": "cumulative"},
                     float("nan"))]},
            "events": [{"id": "evt_0000000000000001", "level": "global", "kind": "drift",
                        "detector": "adwin", "position": 2000, "timestamp": EVENT_TIME,
                        "labels": [], "statistic": 0.4}],
            "clusters": [["sports", "football"], [["politics"], ["economy", "markets"]]],
        }

    return snapshot


def _get(url: str, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return resp.status, resp.headers.get("Content-Type"), resp.read()


def _status_code(url: str, headers=None) -> int:
    try:
        return _get(url, headers)[0]
    except urllib.error.HTTPError as err:
        return err.code


class _Texts(HTMLParser):
    """Text of the elements with an id, from a page's markup."""

    def __init__(self):
        super().__init__()
        self.by_id, self._stack = {}, []

    def handle_starttag(self, tag, attrs):
        self._stack.append(dict(attrs).get("id"))
        for key in filter(None, self._stack):
            self.by_id.setdefault(key, "")

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()

    def handle_data(self, data):
        for key in filter(None, self._stack):
            self.by_id[key] = self.by_id.get(key, "") + data


def test_loopback_serves_page_json_and_assets():
    with StatusServer(snapshot_source(), history_interval=None) as server:
        base = f"http://127.0.0.1:{server.port}"
        code, kind, body = _get(base + "/status.json")
        status = json.loads(body)  # strict JSON: the NaN came back as null
        assert (code, kind) == (200, "application/json")
        assert status["counters"]["records_per_second"] == 1234.5
        assert status["labelled"]["dead_letters_total"][0] == [{"reason": "invalid_json"}, 3]
        assert status["labelled"]["prequential"][1][1] is None
        assert status["clusters"][1][1] == ["economy", "markets"]
        point = status["history"][0]  # sampled at start
        assert (point["records_per_second"], point["lag"]) == (1234.5, 42)
        assert point["metrics"] == {"m/example_f1": 0.625}

        code, kind, page = _get(base + "/")
        assert (code, kind) == (200, "text/html; charset=utf-8")
        assert b"__LABELSTREAM_STATUS__" not in page and b'"records_per_second":1234.5' in page
        for asset in ("status.js", "status.css"):
            code, _, body = _get(f"{base}/{asset}")
            assert code == 200 and body == static_file(asset)
        assert _status_code(base + "/nothing-here") == 404


def test_off_loopback_needs_a_token():
    with pytest.raises(ValueError, match="not a loopback address: give it a token"):
        StatusServer(snapshot_source(), host="0.0.0.0")
    with pytest.raises(ValueError, match="empty"):
        StatusServer(snapshot_source(), host="0.0.0.0", token="")
    with StatusServer(snapshot_source(), host="0.0.0.0", token="s3cret",
                      history_interval=None) as server:
        assert "s3cret" not in repr(server)
        base = f"http://127.0.0.1:{server.port}"
        assert _status_code(base + "/status.json") == 401
        assert _status_code(base + "/") == 401
        assert _status_code(base + "/status.json?token=wrong") == 401
        assert _status_code(base + "/status.json", {"Authorization": "Bearer wrong"}) == 401
        assert _status_code(base + "/status.json?token=s3cret") == 200
        assert _status_code(base + "/?token=s3cret") == 200
        code, _, body = _get(base + "/status.json", {"Authorization": "Bearer s3cret"})
        assert code == 200 and json.loads(body)["counters"]["records_total"] >= 5000
        assert _status_code(base + "/status.js") == 200  # no data in the assets


def test_cluster_tree_of_ihomer_names_every_label_once():
    from learners.ihomer import IHOMER
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=6, n_labels=8, n_clusters=4, cardinality=3.0,
                              seed=7, noise=0.2)
    model = IHOMER(max_classes=4, restructure_every=100)
    for x, y in gen.take(800):
        model.learn_one(x, y)
    tree = cluster_tree(model)

    def leaves(node):
        if node and isinstance(node[0], list):
            return [leaf for child in node for leaf in leaves(child)]
        return [node]

    assert isinstance(tree[1][0], list)  # a nested hierarchy, not only the leaves
    assert sorted(map(tuple, leaves(tree))) == sorted(map(tuple, model.clusters()))
    assert sorted(sum(leaves(tree), [])) == [f"l{i}" for i in range(8)]
    assert cluster_tree(object()) is None


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium: apt-get update && apt-get "
                    "install -y chromium (Debian) or chromium-browser (Ubuntu)")
@pytest.mark.parametrize("token", [None, "tok-123"])
def test_headless_chromium_renders_the_snapshot(tmp_path, token):
    host = "127.0.0.1" if token is None else "0.0.0.0"
    with StatusServer(snapshot_source(), host=host, token=token,
                      history_interval=0.05) as server:
        url = f"http://127.0.0.1:{server.port}/" + (f"?token={token}" if token else "")
        run = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=3000", "--dump-dom", url],
            capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # no console errors (the page logs nothing else)
    texts = _Texts()
    texts.feed(run.stdout)
    got = texts.by_id
    assert got["records-per-second"] == "1234.5"
    assert got["lag"] == "42"
    assert got["dead-letters-total"] == "4"
    assert got["checkpoint-age"] in ("2.2", "2.3")  # 2.25, toFixed(1)
    assert "invalid_json" in got["dead-letters"] and "schema_mismatch" in got["dead-letters"]
    assert "markets" in got["clusters"] and "football" in got["clusters"]
    assert "adwin" in got["events"] and "2000" in got["events"]
    assert "0.6250" in got["metrics-table"]
    assert got["title"] == "topic-in / group-a"
    assert got["error"] == ""
    # the page polled /status.json (with the token, where there is one) at least once
    # after rendering the embedded status: a later records_total than the embedded 5000
    assert int(got["records-total"]) > 5000
    assert 'data-series="m/example_f1"' in run.stdout  # the window metric's line chart


class _Stream:
    """A real iHOMER model state learning a stream with a drift at record 800, published
    as the worker publishes it (``Reporter.publish``, events and clusters beside it); each
    call of :meth:`snapshot` learns ``chunk`` more records first, so every poll of the page
    sees records that flowed since the last."""

    def __init__(self):
        import threading
        from types import SimpleNamespace

        from connectors.worker.reporting import Reporter
        from connectors.worker.state import ModelState
        from learners.ihomer import IHOMER
        from stream.synthetic import Drift, MultiLabelGenerator

        self.learner = IHOMER(restructure_every=100)
        self.state = ModelState.new("m", "ihomer", self.learner)
        self.records = iter(MultiLabelGenerator(
            n_features=6, n_labels=6, n_clusters=3, cardinality=2.0, seed=11, noise=0.1,
            drifts=[Drift(position=800, target="p_y_given_x")]).take(2000))
        self.path = SimpleNamespace(counts={"messages": 0, "records": 0, "predictions": 0,
                                            "label_deliveries": 0}, dead_letters={})
        self.checkpoints = SimpleNamespace(n_checkpoints=0, n_failed=0, age=lambda: None)
        self.reporter = Reporter(None)
        self.chunk = 100
        self.lock = threading.Lock()

    def snapshot(self) -> dict:
        with self.lock:
            ev = self.state.evaluator
            for x, y in itertools.islice(self.records, self.chunk):
                ev.process_one(x, y)
                for event in ev.events:  # as connectors/worker/records.py hands them on
                    self.state.event_counts[f"{event.level}.{event.kind}"] += 1
                    self.state.recent_events.append(event.to_dict())
                ev.events = []
                self.path.counts["records"] += 1
                self.path.counts["messages"] += 1
            published = self.reporter.publish(self.path, self.checkpoints, [self.state],
                                              [(0, 10)])
            return {**published, "events": list(self.state.recent_events),
                    "clusters": cluster_tree(self.learner)}


@pytest.mark.skipif(_chromium() is None, reason="no Chromium: apt-get update && apt-get "
                    "install -y chromium (Debian) or chromium-browser (Ubuntu)")
def test_headless_chromium_follows_a_real_stream_through_a_drift(tmp_path):
    stream = _Stream()
    server = StatusServer(stream.snapshot, history_interval=None)
    with server:  # start() samples once: 100 records
        for _ in range(8):  # 900 records, past the drift, in the server's history
            server.sample()
        assert stream.state.event_counts["global.drift"] >= 1
        stream.chunk = 20  # from here on each request learns 20 more records
        run = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=2500", "--dump-dom", f"http://127.0.0.1:{server.port}/"],
            capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [line for line in run.stderr.splitlines() if ":CONSOLE" in line] == []
    texts = _Texts()
    texts.feed(run.stdout)
    got = texts.by_id
    assert got["error"] == ""
    # the page was served at 920 records at the earliest; a poll came after it
    assert int(got["records-total"]) >= 940
    assert "global" in got["events"] and "adwin" in got["events"]
    assert 'class="drift-marker"' in run.stdout  # the drift on the charts' time axis
    assert "example_f1" in got["metrics-table"]
    shown = set(re.findall(r'class="cluster-label">(\w+)<', run.stdout))
    assert shown == {f"l{i}" for i in range(6)}
