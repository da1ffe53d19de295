"""Structured log lines for the worker and its parts: ``event key=value ...`` (logfmt).

Every module of :mod:`connectors.worker` logs through :func:`kv`, so one ``grep
worker.checkpoint`` finds a worker's checkpoints whichever module wrote the line.

Examples
--------
>>> kv("worker.checkpoint", reason="every", seconds=0.0123456, text="two words")
'worker.checkpoint reason=every seconds=0.0123456 text="two words"'
"""

from __future__ import annotations

__all__ = ["kv"]


def kv(event: str, **fields) -> str:
    """A structured log line: ``event key=value ...`` (values with spaces quoted)."""
    parts = [event]
    for key, value in fields.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        text = str(value)
        if not text or any(c in text for c in " =\"\n"):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)
