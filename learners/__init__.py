"""Incremental multi-label learners (river-compatible) and their registry."""

from learners.ihomer import IHOMER
from learners.logistic import LogisticBinaryRelevance
from learners.ml_tree import MultiLabelHoeffdingTree
from learners.moe import MixtureOfExperts
from learners.registry import LEARNERS, make_learner

__all__ = ["IHOMER", "LEARNERS", "LogisticBinaryRelevance", "MixtureOfExperts",
           "MultiLabelHoeffdingTree", "make_learner"]
