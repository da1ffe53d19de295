"""Incremental multi-label learners (river-compatible) and their registry.

The learners load on first use (``from learners import IHOMER`` imports iHOMER and its
numba kernels, nothing else), so the command line answers ``--help`` without numba.
"""

from stream.lazy_exports import lazy_exports

__all__ = ["IHOMER", "LEARNERS", "LogisticBinaryRelevance", "MixtureOfExperts",
           "MultiLabelHoeffdingTree", "make_learner"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "IHOMER": "learners.ihomer",
    "LogisticBinaryRelevance": "learners.logistic",
    "MixtureOfExperts": "learners.moe",
    "MultiLabelHoeffdingTree": "learners.ml_tree",
    "LEARNERS": "learners.registry",
    "make_learner": "learners.registry",
})
