"""Learner options on the command line (``--robust``, ``--threshold``,
``--no-neighbours``), shared by ``replay`` and ``worker``.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_learner_option_arguments(parser)
>>> learner_options(parser.parse_args(["--robust", "0.5"]), "ihomer")
{'robust': 0.5}
>>> learner_options(parser.parse_args([]), "cc")
{}
>>> learner_options(parser.parse_args(["--threshold", "ofo"]), "br")
{'threshold': 'ofo'}
>>> learner_options(parser.parse_args(["--no-neighbours"]), "ihomer")
{'neighbours': False}
>>> learner_options(parser.parse_args(["--robust", "2"]), "br")
Traceback (most recent call last):
...
ValueError: --robust must be a number in [0, 1], got 2.0
"""

from __future__ import annotations

import argparse

__all__ = ["add_learner_option_arguments", "learner_options"]

ROBUST_HELP = (
    "learn labels that may be missing with care: a label the record does not name, but "
    "that the model scores p as positive, is learned as a negative with weight 1 - R*p "
    "(R in [0, 1]; br, ihomer, moe, moe-task). Helps when positives go unrecorded "
    "(measured: R=0.5 loses less example-F1 under 20%% missing labels on all four streams "
    "tried, and costs under 0.001 on clean ones); off by default")


THRESHOLD_HELP = (
    "br's decision threshold: auto (default: the one threshold that would have scored the "
    "best example-F1 so far, over all labels), ofo (one per label, online F-measure "
    "optimisation) or a fixed probability P in (0, 1). Label shards (--label-shard) of br "
    "predict exactly what one br worker would with ofo or P; with auto each shard picks "
    "its own threshold over its own labels")


NEIGHBOURS_HELP = (
    "iHOMER (ihomer, and the generalist of moe / moe-task) without its nearest-neighbour "
    "expert: about 30%% more records/s (yeast, enron, medical), less quality on short "
    "streams (medical example-F1 0.640 -> 0.579, birds 0.570 -> 0.517); on by default")

_HAS_NEIGHBOURS = ("ihomer", "moe", "moe-task")


def add_learner_option_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--robust R``, ``--threshold {auto,ofo,P}`` and ``--no-neighbours`` to
    ``parser``."""
    parser.add_argument("--robust", type=float, default=None, metavar="R", help=ROBUST_HELP)
    parser.add_argument("--threshold", default=None, metavar="auto|ofo|P",
                        help=THRESHOLD_HELP)
    parser.add_argument("--no-neighbours", action="store_true", help=NEIGHBOURS_HELP)


def learner_options(args: argparse.Namespace, learner: str) -> dict:
    """The constructor options ``args`` ask of ``learner``, checked.

    Raises ``ValueError`` (a usage error) for a value out of range or a learner that takes
    no options.
    """
    from learners.registry import check_options

    options = {}
    robust = getattr(args, "robust", None)
    if robust is not None:
        if not 0.0 <= robust <= 1.0:
            raise ValueError(f"--robust must be a number in [0, 1], got {robust}")
        options["robust"] = robust
    threshold = getattr(args, "threshold", None)
    if threshold is not None:
        if learner != "br":
            raise ValueError(f"--threshold applies to br only, not {learner}")
        if threshold not in ("auto", "ofo"):
            try:
                threshold = float(threshold)
            except ValueError:
                threshold = -1.0
            if not 0.0 < threshold < 1.0:
                raise ValueError(f"--threshold must be auto, ofo or a probability in (0, 1), "
                                 f"got {args.threshold!r}")
        options["threshold"] = threshold
    if getattr(args, "no_neighbours", False):
        if learner not in _HAS_NEIGHBOURS:
            raise ValueError(f"--no-neighbours applies to {', '.join(_HAS_NEIGHBOURS)}, "
                             f"not {learner}")
        options["neighbours"] = False
    check_options(learner, options)
    return options
