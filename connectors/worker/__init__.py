"""``labelstream worker``: a long-running Kafka worker that predicts, scores and learns.

* :mod:`~connectors.worker.config` -- :class:`WorkerConfig` (frozen, built at the CLI
  edge) and the command's flags;
* :mod:`~connectors.worker.state` -- :class:`ModelState`: one model and everything
  checkpointed with it (metrics, drift detectors, held records, offsets);
* :mod:`~connectors.worker.loop` -- :class:`Worker`: the poll loop, dead letters,
  predictions, checkpoints, group rebalancing;
* :mod:`~connectors.worker.metrics` -- the Prometheus ``/metrics`` endpoint.

Signal handlers belong to the command line (:mod:`connectors.cli`): they only call
:meth:`Worker.request_stop`.
"""

from connectors.worker.config import WorkerConfig, add_worker_arguments
from connectors.worker.loop import Worker, WorkerError
from connectors.worker.state import ModelState, WorkerEvaluator

__all__ = ["ModelState", "Worker", "WorkerConfig", "WorkerError", "WorkerEvaluator",
           "add_worker_arguments"]
