"""Errors raised while reading or validating a stream.

Every error that concerns one record names where the record came from (a file and line,
or a topic, partition and offset) and what is wrong with it, so the message alone tells
the user what to fix.
"""

from __future__ import annotations

__all__ = ["StreamError", "MalformedRecordError", "LabelLayoutError"]


class StreamError(ValueError):
    """Base class of the errors about a stream's contents."""


class MalformedRecordError(StreamError):
    """A record that cannot be decoded.

    Parameters
    ----------
    source
        Where the stream comes from: a file path, or ``topic[partition]``.
    position
        The line number in a file (1-based), or the offset in a topic partition.
    reason
        What is wrong, in words a user can act on.

    Examples
    --------
    >>> err = MalformedRecordError("data.arff", 12, "expected 20 values, got 19")
    >>> print(err)
    data.arff, line 12: expected 20 values, got 19
    """

    def __init__(self, source: str, position: int | None, reason: str, *, unit: str = "line"):
        self.source = str(source)
        self.position = position
        self.reason = reason
        self.unit = unit
        where = self.source if position is None else f"{self.source}, {unit} {position}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        return (_rebuild_malformed, (self.source, self.position, self.reason, self.unit))


def _rebuild_malformed(source, position, reason, unit):
    return MalformedRecordError(source, position, reason, unit=unit)


class LabelLayoutError(StreamError):
    """The file does not say which attributes are labels; the message says what to pass."""
