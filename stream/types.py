"""The record model.

A record is a pair ``(x, y)`` in river's style:

* ``x`` is a ``dict[str, float]`` of features. Sparse sources give only the non-zero
  entries; a dense source with a missing value (``?`` in ARFF) leaves the feature out,
  so *absent means missing* unless the source is sparse.
* ``y`` is a ``dict[label, bool | None]``. A label absent from ``y`` is negative. Sources
  that declare their labels (ARFF, CSV) give every declared label, ``True`` or ``False``;
  sources that list positives only (JSONL, LIBSVM) give only the ``True`` ones.
* ``y[label] is None`` says the label is **unknown** for this record (partial
  annotation: nobody looked): neither positive nor negative. Learners skip an unknown
  label in their updates instead of learning it as a negative; :func:`positive_labels`
  never lists it (``None`` is not positive), :func:`unknown_labels` does. JSONL and Kafka
  records name them in an ``"unknown": [...]`` list.

:class:`LabelIndex` and :class:`FeatureIndex` give labels and features stable integer
columns, growing as new ones appear, for the vectorised (batch) form used by fast learners.
"""

from __future__ import annotations

from itertools import repeat
from typing import Callable, Dict, Hashable, Iterable, Optional, Tuple

import numpy as np

__all__ = ["Features", "Labels", "Record", "LabelIndex", "FeatureIndex", "positive_labels",
           "unknown_labels", "has_unknown", "known_labels"]

Features = Dict[str, float]
Labels = Dict[Hashable, Optional[bool]]  # None: the label is unknown for this record
Record = Tuple[Features, Labels]


def positive_labels(y: Labels) -> list:
    """The labels that are ``True`` in ``y``, in the dict's order.

    Examples
    --------
    >>> positive_labels({"a": True, "b": False, "c": True})
    ['a', 'c']
    """
    return [label for label, on in y.items() if on]


def unknown_labels(y: Labels) -> list:
    """The labels that are unknown (``None``) in ``y``, in the dict's order.

    Examples
    --------
    >>> unknown_labels({"a": True, "b": None, "c": False, "d": None})
    ['b', 'd']
    >>> unknown_labels({"a": True})
    []
    """
    return [label for label, on in y.items() if on is None]


def has_unknown(y: Labels) -> bool:
    """Whether some label of ``y`` is unknown (``None``); cheap on a clean record.

    Examples
    --------
    >>> has_unknown({"a": True, "b": False}), has_unknown({"a": None})
    (False, True)
    """
    return None in y.values()


def known_labels(y: Labels) -> dict:
    """``y`` without its unknown labels (the labels a record does say something about).

    Examples
    --------
    >>> known_labels({"a": True, "b": None, "c": False})
    {'a': True, 'c': False}
    """
    return {label: on for label, on in y.items() if on is not None}


class _GrowingIndex:
    """Maps keys to consecutive integer columns, adding unseen keys at the end."""

    def __init__(self, keys: Iterable[Hashable] = ()):
        self._pos: dict = {}
        self._keys: list = []
        for key in keys:
            self.add(key)

    def add(self, key: Hashable) -> int:
        pos = self._pos.get(key)
        if pos is None:
            pos = len(self._keys)
            self._pos[key] = pos
            self._keys.append(key)
        return pos

    def add_all(self, keys) -> "np.ndarray":
        """The columns of ``keys`` (``int64``), adding the unseen ones in their order: the
        same as ``add`` on each, in one pass of dictionary lookups.

        Examples
        --------
        >>> index = FeatureIndex(["a"])
        >>> index.add_all(["b", "a", "c"]).tolist(), index.keys
        ([1, 0, 2], ['a', 'b', 'c'])
        """
        n = len(keys)
        out = np.fromiter(map(self._pos.get, keys, repeat(-1, n)), dtype=np.int64, count=n)
        for i in np.flatnonzero(out < 0).tolist():
            out[i] = self.add(keys[i])
        return out

    def get(self, key: Hashable, default=None):
        return self._pos.get(key, default)

    def __getitem__(self, key: Hashable) -> int:
        return self._pos[key]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._pos

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    @property
    def keys(self) -> list:
        """The keys in column order (a copy)."""
        return list(self._keys)

    def key(self, column: int) -> Hashable:
        return self._keys[column]

    def __getstate__(self):
        return {"keys": self._keys}

    def __setstate__(self, state):
        self._keys = list(state["keys"])
        self._pos = {key: i for i, key in enumerate(self._keys)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._keys!r})"


class LabelIndex(_GrowingIndex):
    """Stable integer columns for labels; new labels take the next column.

    Examples
    --------
    >>> index = LabelIndex(["sky", "sea"])
    >>> index.positions({"sea": True, "sky": False, "sand": True})
    array([1, 2])
    >>> index.keys
    ['sky', 'sea', 'sand']
    """

    def positions(self, y: Labels, grow: bool = True) -> np.ndarray:
        """Sorted columns of the positive labels of ``y`` (adding new labels if ``grow``).

        Unknown labels (``None``) are not positive: see :meth:`unknown_positions`.
        """
        cols = []
        for label, on in y.items():
            if on:
                pos = self.add(label) if grow else self._pos.get(label)
                if pos is not None:
                    cols.append(pos)
        cols.sort()
        return np.asarray(cols, dtype=np.int64)

    def observe(self, y: Labels) -> None:
        """Register every label named in ``y``, positive, negative or unknown."""
        for label in y:
            self.add(label)

    def unknown_positions(self, y: Labels) -> np.ndarray:
        """Sorted columns of the unknown (``None``) labels of ``y`` that have a column.

        An unknown label without a column is left out: there is no model of it to spare.

        Examples
        --------
        >>> index = LabelIndex(["sky", "sea"])
        >>> index.unknown_positions({"sea": None, "sky": True, "sand": None}).tolist()
        [1]
        """
        pos = self._pos
        cols = sorted(pos[label] for label, on in y.items() if on is None and label in pos)
        return np.asarray(cols, dtype=np.int64)

    @staticmethod
    def arrival_order(names) -> list:
        """The order in which labels that arrive together are registered.

        Deterministic whatever the order they were met in (sorted by type name, then
        text), so a record-by-record path and a batched path give the same columns.

        Examples
        --------
        >>> LabelIndex.arrival_order(["b", 3, "a"])
        [3, 'a', 'b']
        """
        return sorted(names, key=lambda n: (type(n).__name__, str(n)))


class FeatureIndex(_GrowingIndex):
    """Stable integer columns for feature names.

    Examples
    --------
    >>> index = FeatureIndex()
    >>> index.dense({"b": 2.0, "a": 1.0}, grow=True)
    array([2., 1.])
    >>> index.dense({"a": 5.0, "z": 9.0}, grow=False)
    array([0., 5.])
    """

    def encode(self, x: Features, grow: bool = True,
               on_new: Callable[[str], int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Columns and values of the features of ``x``, as int64 and float64 arrays.

        Unknown features are added when ``grow`` (through ``on_new(name)`` if given, which
        must return the new column), else dropped; NaN values are dropped (missing).

        Examples
        --------
        >>> index = FeatureIndex(["a"])
        >>> index.encode({"b": 2.0, "a": 1.0, "c": float("nan")})
        (array([1, 0]), array([2., 1.]))
        >>> index.encode({"z": 5.0, "a": 3.0}, grow=False)
        (array([0]), array([3.]))
        """
        n = len(x)
        idx = np.fromiter(map(self._pos.get, x, repeat(-1, n)), dtype=np.int64, count=n)
        val = np.fromiter(x.values(), dtype=np.float64, count=n)
        keep = ~np.isnan(val)
        unknown = idx < 0
        if unknown.any():
            if grow:
                add = self.add if on_new is None else on_new
                names = list(x)
                for k in np.flatnonzero(unknown & keep):
                    idx[k] = add(names[k])
            else:
                keep &= ~unknown
        if not keep.all():
            idx, val = idx[keep], val[keep]
        return idx, val

    def dense(self, x: Features, grow: bool = True, fill: float = 0.0) -> np.ndarray:
        """``x`` as a dense vector over the known features (unknown ones added if ``grow``)."""
        if grow:
            for name in x:
                self.add(name)
        vec = np.full(len(self._keys), fill, dtype=np.float64)
        pos = self._pos
        for name, value in x.items():
            j = pos.get(name)
            if j is not None:
                vec[j] = value
        return vec
