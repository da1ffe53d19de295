"""``labelstream worker``: a long-running Kafka worker that predicts, scores and learns.

* :mod:`~connectors.worker.config` -- :class:`WorkerConfig` (frozen, built at the CLI
  edge) and the command's flags;
* :mod:`~connectors.worker.loop` -- :class:`Worker`: the run loop (open, poll, hand a
  batch on, stop requests, close);
* :mod:`~connectors.worker.partitions` -- the consumer, assignment, rebalancing,
  committed offsets;
* :mod:`~connectors.worker.records` -- the record path: messages in; predictions, dead
  letters, held records and drift events out (no Kafka client inside);
* :mod:`~connectors.worker.checkpointer` -- cut, wait for the outputs, write, commit;
* :mod:`~connectors.worker.reporting` and :mod:`~connectors.worker.metrics` -- the
  summary and the Prometheus ``/metrics`` endpoint;
* :mod:`~connectors.worker.state` -- :class:`ModelState`: one model and everything
  checkpointed with it (metrics, drift detectors, held records, offsets);
* :mod:`~connectors.worker.outputs` -- the output process that produces predictions and
  dead letters.

Signal handlers belong to the command line (:mod:`connectors.cli`): they only call
:meth:`Worker.request_stop`.
"""

from stream.lazy_exports import lazy_exports

__all__ = ["ModelState", "Worker", "WorkerConfig", "WorkerError", "WorkerEvaluator",
           "add_worker_arguments"]

# loaded on first use, so ``labelstream --help`` does not import the worker loop
__getattr__, __dir__ = lazy_exports(__name__, {
    "WorkerConfig": "connectors.worker.config",
    "add_worker_arguments": "connectors.worker.config",
    "WorkerError": "connectors.worker.errors",
    "Worker": "connectors.worker.loop",
    "ModelState": "connectors.worker.state",
    "WorkerEvaluator": "connectors.worker.state",
})
