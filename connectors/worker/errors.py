"""The worker's one error: :class:`WorkerError` (the worker cannot go on)."""

__all__ = ["WorkerError"]


class WorkerError(RuntimeError):
    """The worker cannot go on (the broker refused output, a topic is missing, a
    checkpoint cannot be written, ...). The message says what to do next."""
