"""``labelstream replay`` flags for labels that arrive on request and in phases.

``--label-budget B --query STRATEGY`` learns only the records a
:class:`~stream.active.LabelQuery` asks for (every record is still scored);
``--label-phases K`` reveals the file's labels in ``K`` phases
(:class:`~stream.label_phases.LabelPhases`).

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_label_arrival_arguments(parser)
>>> spec = LabelArrival.from_args(parser.parse_args(["--label-budget", "0.1"]))
>>> spec.budget, spec.query, spec.phases
(0.1, 'uncertainty', None)
>>> LabelArrival.from_args(parser.parse_args(["--query", "random"]))
Traceback (most recent call last):
...
ValueError: --query needs --label-budget B (the share of records whose labels may be asked for)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

__all__ = ["LabelArrival", "add_label_arrival_arguments", "add_label_query_arguments"]

_STRATEGIES = ("random", "uncertainty", "cluster-disagreement")


def add_label_query_arguments(group, learned_only: bool = True) -> None:
    """Add ``--label-budget``, ``--query`` and ``--query-seed`` to ``group``."""
    then = ("only those are learned, every record is scored" if learned_only else
            "their predictions say \"query\": true and, with --queries-topic, the records "
            "go to annotators; labels delivered for any record are learned")
    group.add_argument("--label-budget", type=float, default=None, metavar="B",
                       help="active learning: ask for the labels of at most a share B in "
                            "(0, 1] of the records (paced: never more than B of the records "
                            "so far); " + then)
    group.add_argument("--query", default=None, choices=_STRATEGIES,
                       help="which records' labels to ask for under --label-budget: random, "
                            "uncertainty (scores near 0.5, summed over labels) or "
                            "cluster-disagreement (iHOMER's experts disagree) "
                            "(default: uncertainty)")
    group.add_argument("--query-seed", type=int, default=0, metavar="SEED",
                       help="seed of the query strategy's random choices")


def add_label_arrival_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the label query flags and ``--label-phases``."""
    group = parser.add_argument_group("labels on request and in phases")
    add_label_query_arguments(group)
    group.add_argument("--label-phases", type=int, default=None, metavar="K",
                       help="reveal the stream's labels in K phases (a seeded deal of the "
                            "labels; phase k starts at record k*N/K): a label is hidden, "
                            "neither learned nor scored, before its phase")


@dataclass(frozen=True)
class LabelArrival:
    """What the replay was asked: a label budget and strategy, label phases."""

    budget: float | None = None
    query: str = "uncertainty"
    seed: int = 0
    phases: int | None = None

    @classmethod
    def from_args(cls, args) -> LabelArrival:
        budget = getattr(args, "label_budget", None)
        query = getattr(args, "query", None)
        phases = getattr(args, "label_phases", None)
        if query is not None and budget is None:
            raise ValueError("--query needs --label-budget B (the share of records whose "
                             "labels may be asked for)")
        if budget is not None and not 0.0 < budget <= 1.0:
            raise ValueError(f"--label-budget must be a share of records in (0, 1], got "
                             f"{budget}")
        if phases is not None and phases < 1:
            raise ValueError(f"--label-phases must be >= 1, got {phases}")
        return cls(budget=budget, query=query or "uncertainty",
                   seed=getattr(args, "query_seed", 0), phases=phases)

    @property
    def active(self) -> bool:
        return self.budget is not None or self.phases is not None

    def make_query(self):
        """The :class:`~stream.active.LabelQuery`, or ``None`` without a budget."""
        if self.budget is None:
            return None
        from stream.active import LabelQuery

        return LabelQuery(self.budget, self.query, seed=self.seed)

    def phased(self, records, label_names, count):
        """``records`` with the labels of later phases hidden; ``count()`` gives the
        stream's length when it is not known."""
        if self.phases is None:
            return records
        from stream.label_phases import LabelPhases, PhasedRecords

        n = count()
        return PhasedRecords(records, LabelPhases(self.phases, n, labels=label_names,
                                                  seed=self.seed))

    @staticmethod
    def lines(summary: dict) -> list:
        """Lines for the replay's table, from its summary."""
        lines = []
        budget = summary.get("label_budget")
        if budget:
            lines.append(
                f"label budget {budget['budget']:.0%} ({budget['query']}): labels of "
                f"{summary.get('labels_spent', 0):,} records asked for and learned "
                f"({summary.get('queried_share', 0):.1%}); every record scored")
        if summary.get("label_phases"):
            lines.append(f"labels revealed in {summary['label_phases']} phases: each label "
                         f"hidden (not learned, not scored) before its phase")
        return lines
