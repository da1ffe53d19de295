"""Kafka connection settings: TLS and SASL passed through, unsafe SASL refused, secrets
never in argv, reprs, errors or logs."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.kafka.client import KafkaSettings, KafkaSettingsError, add_kafka_arguments

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-Pa55w0rd-do-not-print"


@pytest.fixture
def password_env(monkeypatch):
    monkeypatch.setenv("LABELSTREAM_TEST_KAFKA_PASSWORD", SECRET)
    return "LABELSTREAM_TEST_KAFKA_PASSWORD"


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_kafka_arguments(parser)
    return KafkaSettings.from_args(parser.parse_args(list(argv)))


def test_plaintext_defaults():
    s = KafkaSettings("h1:9092, h2:9093")
    assert s.bootstrap_servers == ("h1:9092", "h2:9093")
    cfg = s.consumer_config()
    assert cfg["security_protocol"] == "PLAINTEXT"
    assert not any(k.startswith(("sasl", "ssl")) for k in cfg)
    assert cfg["enable_auto_commit"] is False and cfg["group_id"] is None
    assert s.producer_config()["acks"] == "all"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_over_plaintext_is_refused_unless_allowed(mechanism, password_env):
    with pytest.raises(KafkaSettingsError, match="unencrypted.*--allow-plaintext-sasl"):
        KafkaSettings("h:9092", security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                      sasl_username="app", sasl_password_env=password_env)
    s = KafkaSettings("h:9092", security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                      sasl_username="app", sasl_password_env=password_env,
                      allow_plaintext_sasl=True)
    cfg = s.producer_config()
    assert cfg["sasl_mechanism"] == mechanism and cfg["sasl_plain_password"] == SECRET


def test_sasl_ssl_and_tls_files_reach_kafka_python(tmp_path, password_env):
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "cert.pem", "key.pem"))
    for f in (ca, cert, key):
        f.write_text("-----BEGIN CERTIFICATE-----\n")
    s = parse("--bootstrap-servers", "k:9093", "--security-protocol", "sasl_ssl",
              "--ssl-cafile", str(ca), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
              "--sasl-mechanism", "scram-sha-512", "--sasl-username", "app",
              "--sasl-password-env", password_env)
    cfg = s.consumer_config()
    assert cfg["security_protocol"] == "SASL_SSL" and cfg["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (cfg["ssl_cafile"], cfg["ssl_certfile"], cfg["ssl_keyfile"]) == (str(ca), str(cert),
                                                                            str(key))
    assert cfg["ssl_check_hostname"] is True
    assert cfg["sasl_plain_username"] == "app" and cfg["sasl_plain_password"] == SECRET


def test_password_from_a_file(tmp_path):
    path = tmp_path / "pw"
    path.write_text(SECRET + "\n")
    s = KafkaSettings("k:9093", security_protocol="SASL_SSL", sasl_username="app",
                      sasl_password_file=str(path))
    assert s.sasl_mechanism == "PLAIN"
    assert s.admin_config()["sasl_plain_password"] == SECRET


@pytest.mark.parametrize("kwargs, words", [
    ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "exactly one"),
    ({"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password_env": "A",
      "sasl_password_file": "b"}, "exactly one"),
    ({"security_protocol": "SASL_SSL", "sasl_password_env": "A"}, "--sasl-username"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "sasl_username": "u",
      "sasl_password_env": "A"}, "unsupported SASL mechanism"),
    ({"sasl_mechanism": "PLAIN"}, "security protocol is PLAINTEXT"),
    ({"ssl_cafile": "ca.pem"}, "SSL or SASL_SSL"),
    ({"security_protocol": "SSL", "ssl_keyfile": "k.pem"}, "--ssl-certfile"),
    ({"security_protocol": "TLS"}, "unknown security protocol"),
])
def test_bad_settings_are_explained(kwargs, words):
    with pytest.raises(KafkaSettingsError, match=words):
        KafkaSettings("h:9092", **kwargs)


@pytest.mark.parametrize("servers", ["", "h", "h:port", ":9092", "h:70000"])
def test_bad_brokers(servers):
    with pytest.raises(KafkaSettingsError):
        KafkaSettings(servers)


def test_missing_password_source_names_the_variable_not_a_secret(monkeypatch, tmp_path):
    monkeypatch.delenv("LABELSTREAM_TEST_UNSET", raising=False)
    s = KafkaSettings("h:1", security_protocol="SASL_SSL", sasl_username="u",
                      sasl_password_env="LABELSTREAM_TEST_UNSET")
    with pytest.raises(KafkaSettingsError, match="LABELSTREAM_TEST_UNSET"):
        s.consumer_config()
    s = KafkaSettings("h:1", security_protocol="SASL_SSL", sasl_username="u",
                      sasl_password_file=str(tmp_path / "nope"))
    with pytest.raises(KafkaSettingsError, match="cannot read"):
        s.consumer_config()


def test_settings_never_show_the_secret(password_env, caplog):
    s = KafkaSettings("h:9092", security_protocol="SASL_SSL", sasl_username="app",
                      sasl_password_env=password_env)
    cfg = s.producer_config()
    assert cfg["sasl_plain_password"] == SECRET
    caplog.set_level(logging.DEBUG)
    logging.getLogger("labelstream.test").info("connecting: %s / %r", s.describe(), s)
    for text in (repr(s), str(s), s.describe(), caplog.text):
        assert SECRET not in text
    assert password_env in repr(s)  # where it is, not what it is


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "connectors.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env)


@pytest.mark.parametrize("form", ["split", "joined"])
def test_a_password_on_the_command_line_is_refused_without_echoing_it(form, tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text('{"features": [1], "labels": []}\n')
    arg = ["--sasl-password", SECRET] if form == "split" else [f"--sasl-password={SECRET}"]
    for command in (["produce", str(src), "--bootstrap-servers", "127.0.0.1:1", "--topic", "t"],
                    ["replay", "kafka://127.0.0.1:1/t"]):
        proc = cli(*command, "--security-protocol", "SASL_SSL", "--sasl-username", "u", *arg)
        assert proc.returncode == 2
        assert "--sasl-password-env" in proc.stderr
        assert SECRET not in proc.stderr + proc.stdout


def test_cli_refuses_plaintext_sasl_and_never_prints_the_secret(tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text('{"features": [1], "labels": []}\n')
    env = dict(os.environ, KAFKA_PW=SECRET)
    proc = cli("-vv", "produce", str(src), "--bootstrap-servers", "127.0.0.1:1", "--topic", "t",
               "--security-protocol", "SASL_PLAINTEXT", "--sasl-username", "u",
               "--sasl-password-env", "KAFKA_PW", env=env)
    assert proc.returncode == 2 and "--allow-plaintext-sasl" in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout
    proc = cli("replay", "kafka://127.0.0.1:1/t", "--security-protocol", "SASL_PLAINTEXT",
               "--sasl-username", "u", "--sasl-password-env", "KAFKA_PW", env=env)
    assert proc.returncode == 2 and "--allow-plaintext-sasl" in proc.stderr
