"""Learners by name, for the command line and configuration files.

Examples
--------
>>> model = make_learner("br")
>>> type(model).__name__
'LogisticBinaryRelevance'
>>> sorted(LEARNERS)[:3]
['br', 'br-ht', 'cc']
>>> list(LEARNERS)[0]  # the CLI's default
'ihomer'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["LEARNERS", "LearnerSpec", "make_learner", "learner_spec", "check_options",
           "describe_learners"]


@dataclass(frozen=True)
class LearnerSpec:
    """A learner the CLI can build: its one-line description and its factory."""

    summary: str
    factory: Callable[..., object]


def _br(seed, **options):
    from learners.logistic import LogisticBinaryRelevance

    return LogisticBinaryRelevance(**options)


def _ihomer(seed, **options):
    from learners.ihomer import IHOMER

    return IHOMER(**options)


def _moe(seed, **options):
    from learners.moe import MixtureOfExperts

    kwargs = {} if seed is None else {"seed": seed}
    return MixtureOfExperts(**kwargs, **options)


def _moe_task(seed, **options):
    from learners.moe import MixtureOfExperts

    kwargs = {} if seed is None else {"seed": seed}
    return MixtureOfExperts(experts="task", **kwargs, **options)


def _mlht(seed):
    from learners.ml_tree import MultiLabelHoeffdingTree

    return MultiLabelHoeffdingTree()


def _br_ht(seed):
    from river import tree

    from learners.binary_relevance import BinaryRelevance

    return BinaryRelevance(tree.HoeffdingTreeClassifier())


def _cc(seed):
    from learners.classifier_chain import ClassifierChain

    return ClassifierChain(seed=seed)


def _lp(seed):
    from learners.label_powerset import LabelPowerset

    return LabelPowerset()


def _knn(seed):
    from learners.knn import KNN

    return KNN()


def _no_change(seed):
    from learners.no_change import NoChange

    return NoChange()


LEARNERS: dict[str, LearnerSpec] = {
    "ihomer": LearnerSpec("iHOMER (default): Jaccard label-cluster hierarchy of label "
                          "powersets, binary relevance and no-change, chosen online; numba",
                          _ihomer),
    "br": LearnerSpec("binary relevance of online logistic regressions; numba, fast", _br),
    "moe": LearnerSpec("mixture of experts: routed regime experts with memories, gated "
                       "against an iHOMER generalist; numba", _moe),
    "moe-task": LearnerSpec("mixture of experts with one expert per iHOMER label cluster "
                            "(task experts), the router choosing the clusters; numba",
                            _moe_task),
    "mlht": LearnerSpec("multi-label Hoeffding tree (label-entropy splits); numba", _mlht),
    "br-ht": LearnerSpec("binary relevance of river Hoeffding trees (slow: ~10 ms/record)",
                         _br_ht),
    "cc": LearnerSpec("classifier chain of river logistic regressions", _cc),
    "lp": LearnerSpec("pruned label powerset over a river multiclass classifier", _lp),
    "knn": LearnerSpec("nearest neighbours (cosine) over a window of recent records, "
                       "distance-weighted vote with an online threshold; numba", _knn),
    "no-change": LearnerSpec("repeats the previous record's label set (temporal baseline)",
                             _no_change),
}


def make_learner(name: str, seed: int | None = None, **options):
    """Build the learner registered as ``name``; unknown names list the known ones.

    ``options`` are passed to the learner's constructor (``robust=0.5``, say); only the
    numba learners (``br``, ``ihomer``, ``moe``, ``moe-task``) take options.

    Examples
    --------
    >>> make_learner("br", robust=0.5).robust
    0.5
    >>> make_learner("cc", robust=0.5)
    Traceback (most recent call last):
    ...
    ValueError: learner 'cc' takes no options (got robust); options apply to br, ihomer, moe, moe-task
    """
    spec = learner_spec(name)
    check_options(name, options)
    return spec.factory(seed, **options)


def learner_spec(name: str) -> LearnerSpec:
    """The registered learner ``name`` (nothing imported yet); unknown names list the
    known ones.

    Examples
    --------
    >>> learner_spec("nope")
    Traceback (most recent call last):
    ...
    ValueError: unknown learner 'nope'; choose one of: br, br-ht, cc, ihomer, knn, lp, mlht, moe, moe-task, no-change
    """
    try:
        return LEARNERS[name]
    except KeyError:
        raise ValueError(
            f"unknown learner {name!r}; choose one of: {', '.join(sorted(LEARNERS))}"
        ) from None


_TAKES_OPTIONS = ("br", "ihomer", "moe", "moe-task")


def check_options(name: str, options: dict) -> None:
    """Raise ``ValueError`` unless learner ``name`` takes ``options`` (names only).

    Examples
    --------
    >>> check_options("ihomer", {"robust": 0.5})
    >>> check_options("lp", {"robust": 0.5})
    Traceback (most recent call last):
    ...
    ValueError: learner 'lp' takes no options (got robust); options apply to br, ihomer, moe, moe-task
    """
    if options and name not in _TAKES_OPTIONS:
        raise ValueError(f"learner {name!r} takes no options (got {', '.join(options)}); "
                         f"options apply to {', '.join(_TAKES_OPTIONS)}")


def describe_learners() -> str:
    """One line per learner, for ``--help``."""
    width = max(len(n) for n in LEARNERS)
    return "\n".join(f"  {n:<{width}}  {s.summary}" for n, s in LEARNERS.items())
