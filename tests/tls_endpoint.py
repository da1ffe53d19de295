"""Helpers for the TLS tests (no tests here): a test CA, a server certificate, and a TLS
endpoint in front of the tansu test broker.

tansu 0.6's own TLS flags do not work as shipped (``--cert`` and ``--key`` are refused
together, and either alone gives a listener that never completes a handshake), so the
tests terminate TLS in front of it, as a TLS-terminating load balancer does in many Kafka
deployments: :class:`TlsEndpoint` listens with the server certificate on the port the
broker advertises and relays each connection to the broker's plain port. The client side
-- kafka-python's TLS, the CA check, the host-name check -- is the real one.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path


def make_ca_and_server_cert(directory: Path, name: str = "test") -> dict:
    """Write ``<name>-ca.pem`` and a server certificate/key for 127.0.0.1 signed by it.

    Returns the paths: ``{"ca": ..., "cert": ..., "key": ...}``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                 x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / f"{name}-ca.pem", "cert": directory / f"{name}-server.pem",
             "key": directory / f"{name}-server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TlsEndpoint:
    """TLS on ``port`` (127.0.0.1), relaying every connection to ``target_port``."""

    def __init__(self, port: int, target_port: int, cert: Path, key: Path):
        self.port = port
        self.target_port = target_port
        self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ctx.load_cert_chain(str(cert), str(key))
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tls-endpoint")
        self.handshakes_failed = 0

    def start(self) -> TlsEndpoint:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the TLS endpoint did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main():
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port,
                                                      ssl=self._ctx)
            self._ready.set()

        self._loop.run_until_complete(main())
        self._loop.run_forever()

    async def _relay(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, ssl.SSLError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        def shutdown():
            self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(5)

    def __enter__(self) -> TlsEndpoint:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
