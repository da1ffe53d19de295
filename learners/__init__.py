"""Incremental multi-label learners (river-compatible) and their registry."""

from learners.logistic import LogisticBinaryRelevance
from learners.moe import MixtureOfExperts
from learners.registry import LEARNERS, make_learner

__all__ = ["LEARNERS", "LogisticBinaryRelevance", "MixtureOfExperts", "make_learner"]
