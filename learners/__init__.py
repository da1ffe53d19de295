"""Incremental multi-label learners (river-compatible) and their registry."""

from learners.logistic import LogisticBinaryRelevance
from learners.registry import LEARNERS, make_learner

__all__ = ["LEARNERS", "LogisticBinaryRelevance", "make_learner"]
