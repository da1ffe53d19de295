"""A one-line progress display for long replays: quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressLine"]


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
