"""Label noise for evaluation: corrupt the labels a learner learns from, keep the truth.

Real annotation misses tags and gets some wrong. :class:`LabelNoise` corrupts a record's
label set the way that happens, so a run can learn from the corrupted labels while its
metrics keep scoring against the clean ones and show what the noise costs:

* ``missing=p``: each positive label is dropped (learned as absent) with probability ``p``
  -- positive-only annotation, where an absent tag is not evidence of absence;
* ``flip=q``: each positive label that is kept is replaced, with probability ``q``, by a
  label drawn uniformly from the other labels known so far -- a wrong tag (the record keeps
  its number of tags).

Unknown labels (``None`` in ``y``) are left as they are. The corruption of a record depends
only on the seed and the record's position in the stream, never on what came before, so a
run is reproducible and two learners see the same corrupted stream.

Examples
--------
>>> noise = LabelNoise.parse("missing=0.5,flip=0.1", seed=3)
>>> noise
LabelNoise(missing=0.5, flip=0.1, seed=3)
>>> y = {"a": True, "b": True, "c": False, "d": True}
>>> noisy = noise.corrupt(y, 0, ["a", "b", "c", "d"])
>>> sorted(k for k, v in noisy.items() if v) == sorted(k for k, v in
...     noise.corrupt(y, 0, ["a", "b", "c", "d"]).items() if v)   # same position, same noise
True
>>> LabelNoise().corrupt(y, 0, ["a"]) == y                          # no noise: unchanged
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

__all__ = ["LabelNoise", "NoisyRecords"]


@dataclass(frozen=True)
class LabelNoise:
    """Positive labels dropped with probability ``missing``, replaced by a wrong one with
    probability ``flip``; see the module docstring.

    Parameters
    ----------
    missing, flip
        Probabilities in ``[0, 1]``.
    seed
        Seed of the corruption (each record's draw is seeded by ``(seed, position)``).
    """

    missing: float = 0.0
    flip: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for name in ("missing", "flip"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"--label-noise {name}={value}: a probability must be in "
                                 "[0, 1]")

    @classmethod
    def parse(cls, spec: str, seed: int = 0) -> LabelNoise:
        """``"missing=0.3,flip=0.05"`` (either part may be left out).

        Examples
        --------
        >>> LabelNoise.parse("flip=0.05")
        LabelNoise(missing=0.0, flip=0.05, seed=0)
        >>> LabelNoise.parse("drop=0.1")
        Traceback (most recent call last):
        ...
        ValueError: --label-noise: unknown part 'drop'; write missing=P,flip=Q (probabilities)
        """
        values = {}
        for part in (p.strip() for p in str(spec).split(",")):
            if not part:
                continue
            name, sep, text = part.partition("=")
            name = name.strip()
            if name not in ("missing", "flip") or not sep:
                raise ValueError(f"--label-noise: unknown part {name!r}; write "
                                 "missing=P,flip=Q (probabilities)")
            try:
                values[name] = float(text)
            except ValueError:
                raise ValueError(f"--label-noise: {name}={text!r} is not a number") from None
        return cls(seed=int(seed), **values)

    @property
    def active(self) -> bool:
        """Whether any label can change."""
        return self.missing > 0 or self.flip > 0

    def corrupt(self, y: dict, position: int, labels: Iterable) -> dict:
        """The corrupted copy of ``y`` for the record at ``position``.

        ``labels``: the labels known so far (what a wrong tag is drawn from). Positives that
        are dropped or replaced become ``False``; a wrong tag becomes ``True``.
        """
        if not self.active:
            return y
        positives = [k for k, v in y.items() if v]
        if not positives:
            return y
        rng = np.random.default_rng((self.seed, int(position)))
        out = dict(y)
        keep = rng.random(len(positives)) >= self.missing
        replace = rng.random(len(positives)) < self.flip
        pool = None
        for label, kept, wrong in zip(positives, keep, replace):
            if not kept:
                out[label] = False
            elif wrong:
                if pool is None:
                    pool = [k for k in labels if not y.get(k) and y.get(k, False) is not None]
                choices = [k for k in pool if not out.get(k)]
                if choices:
                    out[label] = False
                    out[choices[int(rng.integers(len(choices)))]] = True
        return out


class NoisyRecords:
    """Iterate ``(x, y, y_learned)``: each record with its clean labels and the labels the
    learner learns from (corrupted by ``noise``).

    The labels a wrong tag is drawn from are those declared (``label_names``) and those seen
    so far in the clean stream.

    Examples
    --------
    >>> recs = [({"f": 1.0}, {"a": True}), ({"f": 2.0}, {"b": True})]
    >>> [(y, z) for _, y, z in NoisyRecords(recs, LabelNoise(missing=1.0))]
    [({'a': True}, {'a': False}), ({'b': True}, {'b': False})]
    """

    def __init__(self, records: Iterable, noise: LabelNoise, label_names=None):
        self.records = records
        self.noise = noise
        self.label_names = label_names

    def __iter__(self) -> Iterator:
        known = dict.fromkeys(self.label_names or ())
        noise = self.noise
        for position, (x, y) in enumerate(self.records):
            if y is not None:
                for label in y:
                    if label not in known:
                        known[label] = None
            yield x, y, (None if y is None else noise.corrupt(y, position, known))
