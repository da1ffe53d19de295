"""Labels introduced in phases (class-incremental streams) from any recorded stream.

A business adds labels over time. :class:`LabelPhases` turns a recorded stream into such a
stream: its labels are dealt into ``n_phases`` groups (a seeded shuffle, so each group
mixes frequent and rare labels), and phase ``k`` starts at record ``k * n_records /
n_phases``. A label whose phase has not started is hidden: it is taken out of the
record's labels altogether, so the learner never hears of it and the metrics do not score
it (it did not exist yet). :class:`PhasedRecords` applies it to ``(x, y)`` pairs.

For a synthetic stream with phases, :func:`phased_generator` sets the generator's
``new_labels_at`` so that each phase brings its share of new labels.

Examples
--------
>>> phases = LabelPhases(2, n_records=10, labels=["a", "b", "c", "d"], seed=0)
>>> phases.starts
[0, 5]
>>> [sorted(phases.labels_of(k)) for k in range(2)]
[['b', 'c'], ['a', 'd']]
>>> y = {"a": True, "b": True, "c": False}
>>> phases.hide(y, 3), phases.hide(y, 5)
({'b': True, 'c': False}, {'a': True, 'b': True, 'c': False})
"""

from __future__ import annotations

import random
import zlib
from typing import Iterable, Iterator, Sequence

__all__ = ["LabelPhases", "PhasedRecords", "phased_generator"]


class LabelPhases:
    """Which label appears when (see the module docstring).

    Parameters
    ----------
    n_phases
        Number of phases (``>= 1``; 1 hides nothing).
    n_records
        Length of the stream: phase ``k`` starts at ``k * n_records // n_phases``.
    labels
        The stream's labels, if known: dealt evenly into the phases after a shuffle
        seeded by ``seed``. A label not among them (or every label, without them) gets
        its phase from a seeded hash of its name.
    seed
        Seed of the deal.
    """

    def __init__(self, n_phases: int, n_records: int, labels: Sequence | None = None,
                 seed: int = 0):
        if isinstance(n_phases, bool) or not isinstance(n_phases, int) or n_phases < 1:
            raise ValueError(f"the number of label phases must be an integer >= 1, got "
                             f"{n_phases!r}")
        if n_records < n_phases:
            raise ValueError(f"{n_phases} label phases need at least {n_phases} records, "
                             f"the stream has {n_records}")
        self.n_phases = n_phases
        self.n_records = int(n_records)
        self.seed = seed
        self.starts = [k * self.n_records // n_phases for k in range(n_phases)]
        self._phase: dict = {}
        if labels:
            order = sorted(labels, key=str)
            random.Random(seed).shuffle(order)
            for i, label in enumerate(order):
                self._phase[label] = i % n_phases

    def phase_of(self, label) -> int:
        """The phase in which ``label`` appears."""
        phase = self._phase.get(label)
        if phase is None:
            key = f"{self.seed}:{label}".encode()
            phase = self._phase[label] = zlib.crc32(key) % self.n_phases
        return phase

    def labels_of(self, phase: int) -> list:
        """The known labels of ``phase``."""
        return [label for label, k in self._phase.items() if k == phase]

    def phase_at(self, position: int) -> int:
        """The phase that record ``position`` (0-based) belongs to."""
        k = 0
        while k + 1 < self.n_phases and position >= self.starts[k + 1]:
            k += 1
        return k

    def hide(self, y: dict, position: int) -> dict:
        """``y`` without the labels whose phase starts after record ``position``."""
        now = self.phase_at(position)
        return {label: v for label, v in y.items() if self.phase_of(label) <= now}


class PhasedRecords:
    """``(x, y)`` pairs with the labels of later phases hidden (see :class:`LabelPhases`).

    Examples
    --------
    >>> phases = LabelPhases(2, n_records=4, labels=["a", "b"], seed=0)
    >>> [sorted(y) for _, y in PhasedRecords([({}, {"a": True, "b": True})] * 4, phases)]
    [['a'], ['a'], ['a', 'b'], ['a', 'b']]
    """

    def __init__(self, records: Iterable, phases: LabelPhases):
        self.records = records
        self.phases = phases

    def __iter__(self) -> Iterator:
        for position, (x, y) in enumerate(self.records):
            yield x, self.phases.hide(y, position)


def phased_generator(n_phases: int, n_records: int, labels_per_phase: int, **options):
    """A :class:`~stream.synthetic.MultiLabelGenerator` whose labels arrive in phases:
    ``n_labels`` at the start, then ``labels_per_phase`` new ones at the start of each of
    the next ``n_phases - 1`` phases (evenly spaced over ``n_records``).

    Examples
    --------
    >>> gen = phased_generator(3, 900, 2, n_labels=4, seed=1)
    >>> gen.new_labels_at, len(gen.labels)
    ({300: 2, 600: 2}, 8)
    """
    from stream.synthetic import MultiLabelGenerator

    if n_phases < 1 or labels_per_phase < 1:
        raise ValueError("n_phases and labels_per_phase must be >= 1")
    starts = [k * n_records // n_phases for k in range(1, n_phases)]
    return MultiLabelGenerator(n_records=n_records,
                               new_labels_at={s: labels_per_phase for s in starts},
                               **options)
