"""Label co-occurrence over a stream: cumulative, over a sliding window, or faded.

:class:`RollingCooccurrence` keeps the co-occurrence matrix ``C`` of the label sets seen
so far (``C[i, j]`` = weighted number of records holding both labels ``i`` and ``j``,
``C[i, i]`` = weighted number holding ``i``) and the Jaccard similarities derived from it.
It feeds iHOMER's label clustering and the label-structure drift detectors of
:mod:`drift.label_structure`. The arithmetic is done by the kernels of
:mod:`stream.kernels.cooccurrence`; records are buffered and handed over in batches.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from stream.kernels.cooccurrence import cooccurrence_update, jaccard

__all__ = ["RollingCooccurrence"]

_FLUSH_EVERY = 512  # records buffered before they are handed to the kernel
_RENORM_BELOW = 1e-100  # fading: fold the running scale into C once it falls below this
_EMPTY = np.zeros(0, dtype=np.int64)


def _csr(rows):
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    if rows:
        np.cumsum([len(r) for r in rows], out=indptr[1:])
        indices = np.concatenate(rows)
    else:
        indices = _EMPTY
    return indptr, indices


class RollingCooccurrence:
    """Label co-occurrence counts of a stream, cumulative, windowed or faded.

    Three modes:

    * cumulative (both arguments ``None``): ``C`` counts every record so far;
    * sliding window (``window_size=w``): ``C`` counts the last ``w`` records; a deque
      keeps their label sets and a record that leaves is reverted through the kernel
      (``weight=-1``), so the counts stay exact integers;
    * fading factor (``fading_factor=lam``, ``0 < lam <= 1``):
      ``C_t = lam * C_{t-1} + y_t y_t^T``, every record's weight decays by ``lam`` per
      newer record.

    The fading factor is applied lazily: the object stores ``S`` and a running ``scale``
    with ``C = scale * S``. A new record multiplies ``scale`` by ``lam`` and adds
    ``y y^T / scale`` to ``S``, so a record costs ``O(labels per record ** 2)`` instead of
    the ``O(L ** 2)`` of scaling ``C``. Once ``scale`` falls below ``1e-100``, it is folded
    into ``S`` (``S *= scale``, ``scale = 1``), an ``O(L ** 2)`` step that happens at most
    every ``230 / -ln(lam)`` records; the weights ``1 / scale`` therefore stay below
    ``1e200`` and within ``float64`` range. Jaccard similarities are scale free and are
    computed from ``S`` directly.

    :meth:`update` costs a list append: records are buffered and counted in batches of
    512 by :func:`stream.kernels.cooccurrence_update`; every reader flushes first. The
    label space grows with the data: a column ``>= n_labels`` enlarges ``C`` (with zeros)
    and keeps the counts.

    Parameters
    ----------
    window_size
        Number of most recent records counted (``None``: no window).
    fading_factor
        Weight decay per record, in ``(0, 1]`` (``None``: no fading). At most one of
        ``window_size`` and ``fading_factor`` may be given.
    backend
        Kernel backend (``"auto"``, ``"numpy"``, ``"numba"``).

    Examples
    --------
    >>> from stream.synthetic import MultiLabelGenerator
    >>> gen = MultiLabelGenerator(n_features=6, n_labels=4, n_clusters=2, seed=1)
    >>> _, Y = gen.arrays(2000)
    >>> co = RollingCooccurrence(window_size=1000)
    >>> for row in Y:
    ...     co.update(row.nonzero()[0])
    >>> co.n_labels, co.n_records
    (4, 1000)
    >>> J = co.jaccard()
    >>> sorted(sorted(g) for g in gen.label_groups(0))   # the true label groups
    [['l0', 'l3'], ['l1', 'l2']]
    >>> bool(min(J[0, 3], J[1, 2]) > max(J[0, 1], J[0, 2], J[1, 3], J[2, 3]))
    True
    """

    def __init__(self, window_size: int | None = None, fading_factor: float | None = None,
                 backend: str = "auto"):
        self.window_size = window_size
        self.fading_factor = fading_factor
        self.backend = backend
        if window_size is not None and fading_factor is not None:
            raise ValueError("give window_size or fading_factor, not both")
        if window_size is not None and (
            isinstance(window_size, bool) or not isinstance(window_size, (int, np.integer))
            or window_size < 1
        ):
            raise ValueError(f"window_size must be an integer >= 1, got {window_size!r}")
        if fading_factor is not None and not 0.0 < fading_factor <= 1.0:
            raise ValueError(f"fading_factor must be in (0, 1], got {fading_factor!r}")
        self._S = np.zeros((0, 0), dtype=np.float64)
        self._scale = 1.0
        self._weight_sum = 0.0  # fading: sum of the current record weights
        self._n_seen = 0  # records counted into _S (not the pending ones)
        self._n_labels = 0
        self._pending: list = []
        self._window: deque = deque()

    # ----------------------------------------------------------------------- recording
    def update(self, label_cols) -> None:
        """Count one record.

        Parameters
        ----------
        label_cols
            Integer columns of the record's positive labels (1-D, each ``>= 0``; sorted
            and unique as produced by ``numpy.flatnonzero``, though neither is required).
        """
        cols = np.asarray(label_cols)
        if cols.ndim != 1:
            raise ValueError(f"label_cols must be one-dimensional, got shape {cols.shape}")
        if cols.size:
            if cols.dtype.kind not in "iu":
                raise ValueError(f"label_cols must hold integers, got dtype {cols.dtype}")
            cols = cols.astype(np.int64)  # a copy: the caller may reuse its buffer
            lo, hi = int(cols.min()), int(cols.max())
            if lo < 0:
                raise ValueError(f"label columns must be >= 0, got {lo}")
            if hi >= self._n_labels:
                self._n_labels = hi + 1
        else:
            cols = _EMPTY
        self._pending.append(cols)
        if len(self._pending) >= _FLUSH_EVERY:
            self._flush()

    def _grow(self) -> None:
        L = self._S.shape[0]
        if self._n_labels > L:
            S = np.zeros((self._n_labels, self._n_labels), dtype=np.float64)
            S[:L, :L] = self._S
            self._S = S

    def _flush(self) -> None:
        rows = self._pending
        if not rows:
            return
        self._pending = []
        self._grow()
        n = len(rows)
        if self.fading_factor is not None and self.fading_factor < 1.0:
            self._add_faded(rows)
        else:
            self._add(rows, 1.0)
        self._n_seen += n
        if self.window_size is not None:
            self._window.extend(rows)
            excess = len(self._window) - self.window_size
            if excess > 0:
                self._add([self._window.popleft() for _ in range(excess)], -1.0)

    def _add(self, rows, weight) -> None:
        indptr, indices = _csr(rows)
        cooccurrence_update(self._S, indptr, indices, weight, backend=self.backend)

    def _add_faded(self, rows) -> None:
        lam = self.fading_factor
        # largest chunk whose scale stays above _RENORM_BELOW**2 from a start >= _RENORM_BELOW
        chunk = max(1, int(math.log(_RENORM_BELOW) / math.log(lam)))
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            if self._scale < _RENORM_BELOW:
                self._S *= self._scale
                self._scale = 1.0
            scales = self._scale * lam ** np.arange(1, len(part) + 1)
            self._add(part, 1.0 / scales)
            self._scale = float(scales[-1])
            m = len(part)
            self._weight_sum = lam**m * self._weight_sum + (1.0 - lam**m) / (1.0 - lam)

    # ------------------------------------------------------------------------- reading
    @property
    def n_labels(self) -> int:
        """Size of the label space: one more than the largest column seen."""
        return self._n_labels

    @property
    def n_records(self) -> float:
        """Effective number of records counted.

        Records in the window (windowed), records seen (cumulative), or the sum of the
        current record weights ``sum_s lam ** (t - s)`` (faded; a float).
        """
        if self.window_size is not None:
            return min(len(self._window) + len(self._pending), self.window_size)
        if self.fading_factor is not None and self.fading_factor < 1.0:
            self._flush()
            return self._weight_sum
        return self._n_seen + len(self._pending)

    def counts(self) -> np.ndarray:
        """The co-occurrence matrix ``C`` (a copy), ``(n_labels, n_labels)`` float64."""
        self._flush()
        self._grow()
        return self._S * self._scale

    def pair_counts(self, rows, cols) -> np.ndarray:
        """Entries ``C[rows[k], cols[k]]`` without copying the whole matrix.

        Parameters
        ----------
        rows, cols
            Integer arrays of the same shape, each ``>= 0``; entries at or beyond
            ``n_labels`` read as ``0``.

        Returns
        -------
        numpy.ndarray
            float64 array of the shape of ``rows``.
        """
        self._flush()
        self._grow()
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        L = self._S.shape[0]
        inside = (rows < L) & (cols < L)
        out = np.zeros(rows.shape, dtype=np.float64)
        out[inside] = self._S[rows[inside], cols[inside]] * self._scale
        return out

    def jaccard(self) -> np.ndarray:
        """Jaccard similarities of the labels, ``(n_labels, n_labels)``.

        See :func:`stream.kernels.jaccard` for the conventions (0/0 is 0).
        """
        self._flush()
        self._grow()
        return jaccard(self._S, backend=self.backend)

    def __getstate__(self):
        self._flush()
        return self.__dict__.copy()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(window_size={self.window_size}, "
                f"fading_factor={self.fading_factor})")
