"""Append alerts to a JSON Lines file: one event per line, readable by any tool.

Examples
--------
>>> import json, os, tempfile
>>> from drift.events import new_event
>>> path = os.path.join(tempfile.mkdtemp(), "alerts.jsonl")
>>> hook = JsonlFileHook(path)
>>> hook.deliver(new_event("adwin", "global", 10, timestamp=0.0))
>>> hook.deliver(new_event("adwin", "global", 20, timestamp=0.0))
>>> hook.close()
>>> [json.loads(line)["position"] for line in open(path)]
[10, 20]
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["JsonlFileHook"]


class JsonlFileHook:
    """Append each event's JSON and a newline to ``path`` (created with its folders).

    The file is opened in append mode on the first event and kept open; every line is
    flushed at once, so a reader following the file sees whole lines. Runs inline.

    Parameters
    ----------
    path
        The file; existing lines are kept.
    fsync
        Also ``os.fsync`` after each line (survives a power cut, costs a disk sync).
    """

    name = "file"
    background = False

    def __init__(self, path, *, fsync: bool = False):
        self.path = path
        self.fsync = fsync
        self._file = None
        self._lock = threading.Lock()

    def deliver(self, event) -> None:
        line = event.to_json() + "\n"
        with self._lock:
            if self._file is None:
                p = Path(self.path)
                p.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(p, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._file.write(line)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __repr__(self):
        return f"JsonlFileHook({str(self.path)!r})"
