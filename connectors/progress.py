"""A one-line progress display for long replays: quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
import threading
import time

__all__ = ["ProgressLine", "SlowStartNotice"]


class SlowStartNotice:
    """Says on stderr why a start takes long when it does: numba compiling the kernels.

    A context manager around the warm-up: if the block is still running after ``after``
    seconds (a first run after an install compiles the kernels, tens of seconds; a cached
    run loads them in a fraction of a second) one line says what is happening, and the
    end of the block says how long it took. Nothing is written when the block is quick.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> with SlowStartNotice("ihomer", after=0.01, stream=buf):
    ...     time.sleep(0.2)
    >>> "compiling" in buf.getvalue() and "ready after" in buf.getvalue()
    True
    >>> buf = io.StringIO()
    >>> with SlowStartNotice("ihomer", after=5.0, stream=buf):
    ...     pass
    >>> buf.getvalue()
    ''
    """

    def __init__(self, label: str, *, after: float = 2.0, stream=None, enabled: bool = True):
        self.label = label
        self.after = after
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self._shown = threading.Event()
        self._timer = None
        self._start = 0.0

    def _show(self) -> None:
        self._shown.set()
        print(f"labelstream: compiling the numba kernels for {self.label} (the first run "
              "after an install, or with a new NUMBA_CACHE_DIR; later runs load them from "
              "the cache in well under a second)...", file=self.stream, flush=True)

    def __enter__(self) -> SlowStartNotice:
        self._start = time.monotonic()
        if self.enabled:
            self._timer = threading.Timer(self.after, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
        if self._shown.is_set():
            print(f"labelstream: kernels ready after {time.monotonic() - self._start:.1f} s",
                  file=self.stream, flush=True)


class ProgressLine:
    """Rewrites one status line on a terminal: records, records/s, running example-F1.

    Parameters
    ----------
    total
        Records expected, when known (shows a bar and a percentage).
    stream
        Where to write (stderr by default).
    enabled
        ``None`` = only when ``stream`` is a terminal.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> bar = ProgressLine(total=10, stream=buf, enabled=True)
    >>> bar.update({"records": 5, "records_per_second": 100.0, "example_f1": 0.5})
    >>> "50%" in buf.getvalue()
    True
    """

    def __init__(self, total: int | None = None, stream=None, enabled: bool | None = None,
                 label: str = ""):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = enabled
        self.label = label
        self._start = time.monotonic()
        self._width = 0

    def update(self, status: dict) -> None:
        if not self.enabled:
            return
        n = status.get("records", 0)
        parts = [self.label] if self.label else []
        if self.total:
            frac = min(1.0, n / self.total)
            filled = int(24 * frac)
            parts.append(f"[{'#' * filled}{'.' * (24 - filled)}] {frac:4.0%}")
            parts.append(f"{n:,}/{self.total:,}")
        else:
            parts.append(f"{n:,} records")
        parts.append(f"{status.get('records_per_second', 0):,.0f} rec/s")
        f1 = status.get("example_f1")
        if f1 is not None and f1 == f1:
            parts.append(f"ex-F1 {f1:.3f}")
        line = "  ".join(parts)
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
