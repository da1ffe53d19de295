"""Connection settings for Kafka clients: brokers, TLS and SASL, secrets kept out of sight.

:class:`KafkaSettings` is built once at the CLI edge (:meth:`KafkaSettings.from_args`,
flags from :func:`add_kafka_arguments`) and turned into ``kafka-python`` keyword
arguments by :meth:`~KafkaSettings.consumer_config`, :meth:`~KafkaSettings.producer_config`
and :meth:`~KafkaSettings.admin_config`.

Secrets: the SASL password comes from an environment variable or a file, never from the
command line (argv shows in ``ps`` and shell history) and never from the settings object
itself: the settings hold only *where* the password is, it is read when a client
configuration is made, and the settings' repr never shows it. SASL ``PLAIN`` and
``SCRAM-*`` over an unencrypted connection (``SASL_PLAINTEXT``) send the password (or a
replayable proof of it) in the clear and are refused unless ``allow_plaintext_sasl``.

Examples
--------
>>> s = KafkaSettings(bootstrap_servers="127.0.0.1:9092")
>>> s.consumer_config()["bootstrap_servers"], s.consumer_config()["security_protocol"]
(['127.0.0.1:9092'], 'PLAINTEXT')
>>> KafkaSettings("b:9092", security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
...               sasl_username="u", sasl_password_env="KAFKA_PASSWORD")
Traceback (most recent call last):
...
connectors.kafka.client.KafkaSettingsError: SASL PLAIN over SASL_PLAINTEXT sends ...
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields

__all__ = ["KafkaSettings", "KafkaSettingsError", "KafkaTopicError", "add_kafka_arguments",
           "ensure_topics",
           "SECURITY_PROTOCOLS", "SASL_MECHANISMS"]

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSettingsError(ValueError):
    """Kafka settings that cannot work or are unsafe; the message says what to change."""


def _split_servers(value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    servers = tuple(s.strip() for s in value if s and s.strip())
    if not servers:
        raise KafkaSettingsError("no Kafka brokers given (--bootstrap-servers HOST:PORT)")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise KafkaSettingsError(f"broker {server!r} is not HOST:PORT")
    return servers


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach and authenticate to a Kafka cluster.

    Parameters
    ----------
    bootstrap_servers
        ``"host:port"``, a comma-separated list, or a sequence of them.
    security_protocol
        ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
    ssl_cafile, ssl_certfile, ssl_keyfile
        PEM files: the CA bundle that verifies the brokers, and the client's certificate
        and key for mutual TLS.
    ssl_check_hostname
        Verify that the broker's certificate names the host connected to.
    sasl_mechanism
        ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``.
    sasl_username
        The SASL user (not a secret).
    sasl_password_env, sasl_password_file
        Where the SASL password is: an environment variable's name or a file's path
        (one of them; the file's content is stripped of surrounding blanks).
    allow_plaintext_sasl
        Allow SASL over ``SASL_PLAINTEXT`` (the password crosses the network unencrypted).
    client_id
        The client id the brokers log.

    Examples
    --------
    >>> import os
    >>> os.environ["LABELSTREAM_DOCTEST_KAFKA_PW"] = "hunter2"
    >>> s = KafkaSettings("k1:9093,k2:9093", security_protocol="SASL_SSL",
    ...                   sasl_mechanism="SCRAM-SHA-512", sasl_username="app",
    ...                   sasl_password_env="LABELSTREAM_DOCTEST_KAFKA_PW")
    >>> "hunter2" in repr(s), s.producer_config()["sasl_plain_password"]
    (False, 'hunter2')
    >>> s.describe()
    'k1:9093,k2:9093 over SASL_SSL, SASL SCRAM-SHA-512 as app'
    """

    bootstrap_servers: tuple = ()
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None
    sasl_password_file: str | None = None
    allow_plaintext_sasl: bool = False
    client_id: str = field(default="labelstream")

    def __post_init__(self):
        object.__setattr__(self, "bootstrap_servers", _split_servers(self.bootstrap_servers))
        protocol = (self.security_protocol or "PLAINTEXT").upper()
        object.__setattr__(self, "security_protocol", protocol)
        if protocol not in SECURITY_PROTOCOLS:
            raise KafkaSettingsError(f"unknown security protocol {self.security_protocol!r}; "
                                     f"choose from {', '.join(SECURITY_PROTOCOLS)}")
        uses_ssl = protocol in ("SSL", "SASL_SSL")
        uses_sasl = protocol.startswith("SASL_")
        if not uses_ssl and (self.ssl_cafile or self.ssl_certfile or self.ssl_keyfile):
            raise KafkaSettingsError(f"TLS files were given but the security protocol is "
                                     f"{protocol}; use SSL or SASL_SSL")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise KafkaSettingsError("--ssl-keyfile needs --ssl-certfile (the client "
                                     "certificate it belongs to)")
        if self.sasl_mechanism is not None:
            object.__setattr__(self, "sasl_mechanism", self.sasl_mechanism.upper())
        if not uses_sasl:
            if (self.sasl_mechanism or self.sasl_username or self.sasl_password_env
                    or self.sasl_password_file):
                raise KafkaSettingsError(f"SASL settings were given but the security protocol "
                                         f"is {protocol}; use SASL_SSL (or SASL_PLAINTEXT)")
            return
        mechanism = self.sasl_mechanism or "PLAIN"
        object.__setattr__(self, "sasl_mechanism", mechanism)
        if mechanism not in SASL_MECHANISMS:
            raise KafkaSettingsError(f"unsupported SASL mechanism {mechanism!r}; choose from "
                                     f"{', '.join(SASL_MECHANISMS)}")
        if not self.sasl_username:
            raise KafkaSettingsError(f"SASL {mechanism} needs --sasl-username")
        if bool(self.sasl_password_env) == bool(self.sasl_password_file):
            raise KafkaSettingsError(
                f"SASL {mechanism} needs the password from exactly one of "
                "--sasl-password-env NAME or --sasl-password-file PATH (never on the "
                "command line)")
        if protocol == "SASL_PLAINTEXT" and not self.allow_plaintext_sasl:
            raise KafkaSettingsError(
                f"SASL {mechanism} over SASL_PLAINTEXT sends the credentials unencrypted; "
                "use --security-protocol SASL_SSL, or pass --allow-plaintext-sasl if the "
                "network is trusted")

    # -- reading ---------------------------------------------------------------------------
    def _password(self) -> str:
        if self.sasl_password_env:
            value = os.environ.get(self.sasl_password_env, "")
            if not value:
                raise KafkaSettingsError(f"environment variable {self.sasl_password_env} "
                                         "(the SASL password) is not set or empty")
            return value
        try:
            with open(self.sasl_password_file, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as err:
            raise KafkaSettingsError(f"cannot read the SASL password file "
                                     f"{self.sasl_password_file}: {err.strerror}") from None
        if not value:
            raise KafkaSettingsError(f"the SASL password file {self.sasl_password_file} "
                                     "is empty")
        return value

    def client_config(self) -> dict:
        """``kafka-python`` arguments shared by every client (reads the password now).

        The dict holds the password: pass it to the client, never log it.
        """
        config = {"bootstrap_servers": list(self.bootstrap_servers),
                  "security_protocol": self.security_protocol,
                  "client_id": self.client_id}
        if self.security_protocol in ("SSL", "SASL_SSL"):
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                path = getattr(self, name)
                if path is not None:
                    if not os.path.isfile(path):
                        raise KafkaSettingsError(f"--{name.replace('_', '-')} {path}: "
                                                 "no such file")
                    config[name] = path
            config["ssl_check_hostname"] = self.ssl_check_hostname
        if self.security_protocol.startswith("SASL_"):
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = self._password()
        return config

    def consumer_config(self, **overrides) -> dict:
        """Arguments for ``KafkaConsumer``: no auto-commit, earliest offsets, no group.

        Examples
        --------
        >>> cfg = KafkaSettings("h:1").consumer_config(max_poll_records=10)
        >>> cfg["enable_auto_commit"], cfg["group_id"], cfg["max_poll_records"]
        (False, None, 10)
        """
        config = self.client_config()
        config.update({"group_id": None, "enable_auto_commit": False,
                       "auto_offset_reset": "earliest"})
        config.update(overrides)
        return config

    def producer_config(self, **overrides) -> dict:
        """Arguments for ``KafkaProducer``: acknowledged by all in-sync replicas.

        Examples
        --------
        >>> KafkaSettings("h:1").producer_config()["acks"]
        'all'
        """
        config = self.client_config()
        config.update({"acks": "all", "linger_ms": 5, "batch_size": 256 * 1024})
        config.update(overrides)
        return config

    def admin_config(self, **overrides) -> dict:
        """Arguments for ``KafkaAdminClient``."""
        config = self.client_config()
        config.update(overrides)
        return config

    def unreachable(self, err) -> str:
        """The line for "the clients could not bootstrap": what failed and, over TLS, why.

        kafka-python reports a refused TLS handshake as a bootstrap timeout; this tries one
        handshake itself with the same CA, client certificate and host-name check and says
        what the certificate check found, with the option to change.
        """
        text = f"cannot reach the brokers ({self.describe()}): {err}"
        reason = self.tls_diagnosis() or self.sasl_diagnosis()
        return f"{text}; {reason}" if reason else text

    def sasl_diagnosis(self, timeout: float = 3.0) -> str | None:
        """Why a SASL login may have failed, from a SASL handshake of its own with the first
        bootstrap server that answers (``None`` without SASL, or when none answers).

        kafka-python reports a mechanism the brokers do not offer, and a refused login, as
        a bootstrap timeout. The handshake names the mechanism: a broker that does not offer
        it answers ``UNSUPPORTED_SASL_MECHANISM`` with the ones it does (or closes the
        connection); one that offers it leaves the user and password to blame.
        """
        if self.security_protocol not in ("SASL_PLAINTEXT", "SASL_SSL"):
            return None
        import socket
        import ssl
        import struct

        mechanism = self.sasl_mechanism.encode()
        client = b"labelstream-sasl-check"
        # SaslHandshake v1 (api key 17), request header v1, correlation id 1
        request = (struct.pack("!hhih", 17, 1, 1, len(client)) + client
                   + struct.pack("!h", len(mechanism)) + mechanism)
        for server in self.bootstrap_servers:
            host, _, port = server.rpartition(":")
            host = host.strip("[]")
            try:
                with socket.create_connection((host, int(port)), timeout=timeout) as raw:
                    sock = raw
                    if self.security_protocol == "SASL_SSL":
                        ctx = ssl.create_default_context(cafile=self.ssl_cafile)
                        if self.ssl_certfile:
                            ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
                        ctx.check_hostname = self.ssl_check_hostname
                        sock = ctx.wrap_socket(raw, server_hostname=host)
                    sock.sendall(struct.pack("!i", len(request)) + request)
                    reply = _read_frame(sock)
            except (OSError, ValueError, ssl.SSLError):
                continue
            offered = f"SASL {self.sasl_mechanism}"
            if reply is None:
                return (f"{server} closed the connection at the SASL handshake for "
                        f"{self.sasl_mechanism}: it probably does not offer {offered} "
                        "(choose another --sasl-mechanism)")
            try:
                _, code, count = struct.unpack_from("!ihi", reply)
                names, at = [], 10
                for _ in range(max(count, 0)):
                    (length,) = struct.unpack_from("!h", reply, at)
                    names.append(reply[at + 2:at + 2 + length].decode("utf-8", "replace"))
                    at += 2 + length
            except struct.error:
                return None
            if code == 33:  # UNSUPPORTED_SASL_MECHANISM
                listed = ", ".join(n for n in names if n != self.sasl_mechanism)
                if not listed:
                    return (f"{server} does not offer {offered}, nor says what it offers: "
                            "choose another --sasl-mechanism, or, if it takes no SASL "
                            "login at all, --security-protocol PLAINTEXT or SSL")
                return (f"{server} does not offer {offered} (it offers {listed}): choose "
                        "another --sasl-mechanism")
            if code == 0:
                return (f"{server} offers {offered}, so the login itself was refused, "
                        f"probably: check --sasl-username ({self.sasl_username}) and the "
                        "password (" + (f"--sasl-password-env {self.sasl_password_env}"
                                        if self.sasl_password_env else
                                        f"--sasl-password-file {self.sasl_password_file}")
                        + "), and that the user exists for this mechanism")
            return f"{server} answered the SASL handshake with error code {code}"
        return None

    def tls_diagnosis(self, timeout: float = 3.0) -> str | None:
        """Why a TLS handshake with the first reachable bootstrap server fails (``None``
        when it succeeds, no server answers, or the protocol is not TLS)."""
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        import socket
        import ssl

        try:
            ctx = ssl.create_default_context(cafile=self.ssl_cafile)
            if self.ssl_certfile:
                ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        except (OSError, ssl.SSLError) as exc:
            return f"the TLS files cannot be used ({exc}): check --ssl-cafile/--ssl-certfile"
        ctx.check_hostname = self.ssl_check_hostname
        for server in self.bootstrap_servers:
            host, _, port = server.rpartition(":")
            host = host.strip("[]")
            try:
                with socket.create_connection((host, int(port)), timeout=timeout) as sock:
                    with ctx.wrap_socket(sock, server_hostname=host):
                        return None
            except ssl.SSLCertVerificationError as exc:
                where = (f"the CA in --ssl-cafile {self.ssl_cafile}" if self.ssl_cafile
                         else "the system's CA certificates (give --ssl-cafile PEM)")
                return (f"{server}'s TLS certificate was refused: {exc.verify_message} -- it is "
                        f"not vouched for by {where}, or does not name {host} "
                        "(--ssl-no-check-hostname skips the name check)")
            except ssl.SSLError as exc:
                return f"the TLS handshake with {server} failed: {exc.reason or exc}"
            except (OSError, ValueError):
                continue
        return None

    def describe(self) -> str:
        """One line for logs: brokers, protocol, SASL mechanism and user; no secret."""
        text = f"{','.join(self.bootstrap_servers)} over {self.security_protocol}"
        if self.sasl_mechanism:
            text += f", SASL {self.sasl_mechanism} as {self.sasl_username}"
        return text

    def replace(self, **changes) -> KafkaSettings:
        """A copy with some fields changed (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return KafkaSettings(**values)

    @classmethod
    def from_args(cls, args: argparse.Namespace, bootstrap_servers=None) -> KafkaSettings:
        """Read the flags of :func:`add_kafka_arguments`; ``bootstrap_servers`` overrides
        ``--bootstrap-servers`` (a ``kafka://`` source names its brokers itself)."""
        def get(name, default=None):
            value = getattr(args, name, None)
            return default if value is None else value

        return cls(
            bootstrap_servers=bootstrap_servers or get("bootstrap_servers", ()),
            security_protocol=get("security_protocol", "PLAINTEXT"),
            ssl_cafile=get("ssl_cafile"), ssl_certfile=get("ssl_certfile"),
            ssl_keyfile=get("ssl_keyfile"),
            ssl_check_hostname=not get("ssl_no_check_hostname", False),
            sasl_mechanism=get("sasl_mechanism"), sasl_username=get("sasl_username"),
            sasl_password_env=get("sasl_password_env"),
            sasl_password_file=get("sasl_password_file"),
            allow_plaintext_sasl=get("allow_plaintext_sasl", False),
        )


class _RefuseSecret(argparse.Action):
    """``--sasl-password VALUE``: refused, without echoing the value anywhere."""

    def __init__(self, option_strings, dest, **kwargs):
        kwargs["nargs"] = "?"
        kwargs["help"] = argparse.SUPPRESS
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error("--sasl-password is refused: a secret on the command line shows in ps "
                     "and shell history; use --sasl-password-env NAME or "
                     "--sasl-password-file PATH")


def add_kafka_arguments(parser, *, bootstrap: bool = True) -> None:
    """Add the Kafka connection flags to an argparse parser, in a "kafka" group.

    ``bootstrap=False`` leaves out ``--bootstrap-servers`` (for a ``kafka://`` source,
    whose URL names the brokers).

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_kafka_arguments(p)
    >>> args = p.parse_args(["--bootstrap-servers", "h:9092", "--security-protocol", "SSL",
    ...                      "--ssl-cafile", "ca.pem"])
    >>> KafkaSettings.from_args(args).describe()
    'h:9092 over SSL'
    """
    group = parser.add_argument_group("kafka connection")
    if bootstrap:
        group.add_argument("--bootstrap-servers", required=True, metavar="HOST:PORT[,...]",
                           help="Kafka brokers to connect to first")
    group.add_argument("--security-protocol", default="PLAINTEXT",
                       type=str.upper, choices=SECURITY_PROTOCOLS,
                       help="how to talk to the brokers: plain TCP, TLS, SASL, SASL over TLS")
    group.add_argument("--ssl-cafile", default=None, metavar="PEM",
                       help="CA certificates that verify the brokers (none: the system's)")
    group.add_argument("--ssl-certfile", default=None, metavar="PEM",
                       help="client certificate for mutual TLS")
    group.add_argument("--ssl-keyfile", default=None, metavar="PEM",
                       help="client private key for mutual TLS")
    group.add_argument("--ssl-no-check-hostname", action="store_true",
                       help="do not check that the broker certificate names the host")
    group.add_argument("--sasl-mechanism", default=None, type=str.upper,
                       choices=SASL_MECHANISMS, help="SASL mechanism (with SASL_* protocols)")
    group.add_argument("--sasl-username", default=None, metavar="USER", help="SASL user")
    group.add_argument("--sasl-password-env", default=None, metavar="NAME",
                       help="environment variable holding the SASL password")
    group.add_argument("--sasl-password-file", default=None, metavar="PATH",
                       help="file holding the SASL password")
    group.add_argument("--sasl-password", action=_RefuseSecret, dest="_refused_password")
    group.add_argument("--allow-plaintext-sasl", action="store_true",
                       help="allow SASL over SASL_PLAINTEXT (credentials unencrypted on the "
                            "network)")


class KafkaTopicError(OSError):
    """A topic could not be listed or created; the message says why."""


def ensure_topics(settings: KafkaSettings, topics, partitions: int | None, *,
                  client_id: str | None = None) -> list[str]:
    """Create those of ``topics`` that do not exist, with ``partitions`` partitions each.

    Returns the topics that were missing (``partitions=None``: only found, not created;
    a topic created meanwhile by someone else counts as missing and is fine). Raises
    :class:`KafkaTopicError` naming the brokers or the topics when the admin calls fail.
    """
    import logging

    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    options = settings.admin_config(**({} if client_id is None else {"client_id": client_id}))
    try:
        admin = KafkaAdminClient(**options)
    except KafkaError as err:
        raise KafkaTopicError(settings.unreachable(err)) from None
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        for topic in missing if partitions is not None else ():
            try:
                admin.create_topics([NewTopic(topic, partitions, 1)])
                logging.getLogger(__name__).info("created topic %s with %d partition(s)",
                                                 topic, partitions)
            except TopicAlreadyExistsError:
                pass
    except KafkaError as err:
        raise KafkaTopicError(f"topics {list(topics)}: {err}") from None
    finally:
        admin.close()
    return missing


def _read_frame(sock) -> bytes | None:
    """One size-prefixed Kafka response from ``sock`` (``None`` when it closes first)."""
    import struct

    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    head = exactly(4)
    if head is None:
        return None
    (size,) = struct.unpack("!i", head)
    if not 0 <= size <= 1 << 20:
        raise ValueError(f"not a Kafka response (size {size})")
    return exactly(size)
