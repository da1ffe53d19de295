"""The worker's errors: :class:`WorkerError` (the worker cannot go on) and
:class:`UnreadableBatchError` (a record batch it cannot decompress)."""

__all__ = ["UnreadableBatchError", "WorkerError"]


class WorkerError(RuntimeError):
    """The worker cannot go on (the broker refused output, a topic is missing, a
    checkpoint cannot be written, ...). The message says what to do next."""


class UnreadableBatchError(WorkerError):
    """A poll met a record batch compressed with a codec this install cannot read.

    Nothing of that batch was returned, so every record before it was handled whole: the
    worker checkpoints them and stops, and the committed offsets stay at the batch.
    """
