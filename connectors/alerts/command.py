"""Alert a local program: the event's JSON on its standard input, no shell involved.

The program is started from an argument list (``shell=False``), so nothing in an event,
however it is spelled (``; rm -rf x``, ``$(...)``, backticks, pipes), is ever interpreted:
it only reaches the program as JSON text on stdin. The program runs with a minimal
environment (``PATH`` and ``LANG`` only, unless ``env`` is given), in its own process group,
and is killed with that group after ``timeout`` seconds. A non-zero exit status is a failed
delivery; the end of its stderr goes into the log.

Examples
--------
>>> import sys
>>> from drift.events import new_event
>>> hook = CommandHook([sys.executable, "-c", "import sys, json; json.load(sys.stdin)"])
>>> hook.deliver(new_event("adwin", "global", 3, timestamp=0.0))
>>> CommandHook("notify-send drift")
Traceback (most recent call last):
...
TypeError: argv must be a list of arguments, not a string: no shell is used ...
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

from connectors.alerts.base import AlertDeliveryError

__all__ = ["CommandHook", "minimal_env"]

_STDERR_TAIL = 500


def minimal_env() -> dict:
    """``PATH`` and ``LANG`` from this process (``os.defpath`` and ``C.UTF-8`` if unset)."""
    return {"PATH": os.environ.get("PATH", os.defpath),
            "LANG": os.environ.get("LANG", "C.UTF-8")}


class CommandHook:
    """Run ``argv`` for each alert and write the event's JSON (and a newline) to its stdin.

    Parameters
    ----------
    argv
        The program and its arguments, a list of strings (a single string is refused:
        there is no shell to split it).
    timeout
        Seconds before the program (and its process group) is killed and the delivery
        fails.
    env
        The program's whole environment; default :func:`minimal_env`.
    cwd
        Working directory of the program.

    Notes
    -----
    Delivered from a background queue by :class:`~connectors.alerts.base.AlertDispatcher`
    (``background = True``): one program runs at a time, never on the learner's thread.
    Its stdout is discarded.
    """

    name = "command"
    background = True

    def __init__(self, argv: Sequence[str], *, timeout: float = 10.0,
                 env: Mapping[str, str] | None = None, cwd=None):
        if isinstance(argv, (str, bytes)):
            raise TypeError("argv must be a list of arguments, not a string: no shell is used "
                            "(split it with shlex.split)")
        argv = tuple(os.fspath(a) for a in argv)
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a non-empty list of strings")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.argv = argv
        self.timeout = timeout
        self.env = env
        self.cwd = cwd

    def deliver(self, event) -> None:
        data = (event.to_json() + "\n").encode("utf-8")
        env = dict(self.env) if self.env is not None else minimal_env()
        posix = os.name == "posix"
        try:
            proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, shell=False, env=env, cwd=self.cwd, close_fds=True,
                start_new_session=posix)
        except OSError as exc:
            raise AlertDeliveryError(f"could not run {self.argv[0]!r}: {exc}") from None
        try:
            _, stderr = proc.communicate(data, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc, posix)
            raise AlertDeliveryError(
                f"{self.argv[0]!r} did not finish within {self.timeout:g} s; killed") from None
        except BaseException:
            self._kill(proc, posix)
            raise
        if proc.returncode != 0:
            tail = stderr[-_STDERR_TAIL:].decode("utf-8", "replace").strip()
            raise AlertDeliveryError(f"{self.argv[0]!r} exited with status {proc.returncode}"
                                     + (f": {tail}" if tail else ""))

    @staticmethod
    def _kill(proc: subprocess.Popen, posix: bool) -> None:
        try:
            if posix:
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover
                proc.kill()
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.communicate(timeout=1.0)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass
        if proc.poll() is None and not posix:  # pragma: no cover
            proc.kill()

    def close(self) -> None:
        pass

    def __repr__(self):
        return f"CommandHook({list(self.argv)!r}, timeout={self.timeout})"

