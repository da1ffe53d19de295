"""Detectors of change in the label structure of a multi-label stream.

Each detector watches one aspect of the label sets alone (no features, no predictions):

* :class:`LabelCardinalityDetector`: the mean number of positive labels per record;
* :class:`LabelPrevalenceDetector`: the prevalence (rate of positives) of every label;
* :class:`LabelCorrelationDetector`: the Jaccard similarity of every pair of labels.

They follow the project's detector rules (DESIGN section 5): ``update(label_cols)`` with
one record's positive label columns, a read-only ``drift_detected`` that is ``True`` right
after the update that detected a change (and ``False`` again after the next update),
picklable state, no logging, no callbacks. After a detection, ``labels_involved`` (label
columns, ascending) and ``statistic`` (a float, documented per detector) say what moved;
both keep their values until the next detection. New label columns may appear at any
time: the state grows with them.

The two-window test
-------------------
The prevalence and the correlation detectors compare a **reference window** (the first
``reference_size`` records after the start or after the last detection, then frozen)
with a **recent window** (the last ``window_size`` records after the reference). Every
``check_every`` records, once the recent window is full, each quantity ``theta`` (a
prevalence, or a Jaccard similarity) is tested with Bernstein's inequality for the
difference of two means of independent variables in ``[0, 1]``:

    |theta_recent - theta_ref| > sqrt(2 v (1/n_ref + 1/n_recent) ln(2 K / delta))
                                 + 2 ln(2 K / delta) / (3 min(n_ref, n_recent))

where ``n_*`` are the sample sizes behind each estimate, ``v = p (1 - p)`` is the
variance of the pooled estimate ``p`` (both windows together: the variance under the
null hypothesis of no change) and ``K`` is the number of quantities tested at that check
(Bonferroni). Under no change, a check raises a false alarm with probability at most
about ``delta`` (``v`` is estimated, hence "about"), so a stream of ``N`` records has at
most about ``delta * N / check_every`` false alarms; the bound is conservative, and with
the defaults no false alarm was measured in 2.4 million stationary synthetic records
(three label-space shapes, eight seeds each).

A Jaccard similarity fits this test exactly: among the records that hold label ``i`` or
label ``j`` (there are ``u = C_ii + C_jj - C_ij`` of them), each holds both with
probability ``J_ij``, independently, so ``n_ref = u_ref`` and ``n_recent = u_recent`` for
that pair. Only pairs with ``u >= min_support`` in both windows are tested.

After a detection both windows restart: the next ``reference_size`` records form the new
reference and testing resumes once ``window_size`` more have arrived, so nothing is
detected for ``reference_size + window_size`` records. (Reusing the recent window as the
new reference was measured: at detection that window still mixes the old and the new
concept, and the new concept, compared with the mixture, fired a second time for the
same change in 5 runs out of 5.) For the same reason a gradual or incremental change
that lasts longer than the detection delay may be reported twice: once while it
happens, once against a reference taken during the transition. A label column above
the highest one seen in the reference window is not tested until the next reference:
its reference value is unknown rather than zero (the source may have just started
sending it).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from river.base import Base

from drift.adwin import ADWIN
from stream.cooccurrence import RollingCooccurrence

__all__ = [
    "LabelCardinalityDetector",
    "LabelCorrelationDetector",
    "LabelPrevalenceDetector",
    "bernstein_threshold",
    "rows_to_csr",
]

_EMPTY = np.zeros(0, dtype=np.int64)


def _as_cols(label_cols) -> np.ndarray:
    cols = np.asarray(label_cols)
    if cols.ndim != 1:
        raise ValueError(f"label_cols must be one-dimensional, got shape {cols.shape}")
    if cols.size == 0:
        return _EMPTY
    if cols.dtype.kind not in "iu":
        raise ValueError(f"label_cols must hold integers, got dtype {cols.dtype}")
    if cols.min() < 0:
        raise ValueError(f"label columns must be >= 0, got {int(cols.min())}")
    return cols.astype(np.int64)  # a copy: windows keep it, the caller may reuse its buffer


def _as_csr(indptr, indices) -> tuple[np.ndarray, np.ndarray]:
    """Checked int64 copies of a CSR batch of label rows (as :func:`_as_cols` per row)."""
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    if indptr.ndim != 1 or indices.ndim != 1 or indptr.size == 0:
        raise ValueError("indptr and indices must be one-dimensional, indptr non-empty")
    if indptr.dtype.kind not in "iu" or (indices.size and indices.dtype.kind not in "iu"):
        raise ValueError("indptr and indices must hold integers")
    if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr) < 0):
        raise ValueError(f"indptr must start at 0, not decrease and end at "
                         f"len(indices)={indices.size}")
    if indices.size and indices.min() < 0:
        raise ValueError(f"label columns must be >= 0, got {int(indices.min())}")
    return indptr.astype(np.int64), indices.astype(np.int64)


def rows_to_csr(rows) -> tuple[np.ndarray, np.ndarray]:
    """One CSR batch ``(indptr, indices)`` from a sequence of label-column rows.

    Examples
    --------
    >>> p, i = rows_to_csr([[0, 2], [], [1]])
    >>> p.tolist(), i.tolist()
    ([0, 2, 2, 3], [0, 2, 1])
    """
    arrays = [np.asarray(r) for r in rows]
    indptr = np.zeros(len(arrays) + 1, dtype=np.int64)
    if arrays:
        np.cumsum([a.size for a in arrays], out=indptr[1:])
    sized = [a for a in arrays if a.size]
    indices = np.concatenate(sized).astype(np.int64) if sized else _EMPTY
    return indptr, indices


def bernstein_threshold(p_pooled, n_ref, n_recent, n_tests: int, delta: float):
    """Half-width of the two-sample Bernstein test on means of ``[0, 1]`` variables.

    A difference of the two means larger than this has probability at most ``delta``
    over all ``n_tests`` tests together under the null hypothesis of equal means (with the
    pooled variance ``p (1 - p)`` taken as the variance). Arrays broadcast.

    Examples
    --------
    >>> round(float(bernstein_threshold(0.5, 1000, 1000, n_tests=1, delta=0.01)), 3)
    0.076
    """
    log_term = math.log(2.0 * max(n_tests, 1) / delta)
    n_ref = np.asarray(n_ref, dtype=np.float64)
    n_recent = np.asarray(n_recent, dtype=np.float64)
    var = p_pooled * (1.0 - p_pooled)
    return (np.sqrt(2.0 * var * (1.0 / n_ref + 1.0 / n_recent) * log_term)
            + 2.0 * log_term / (3.0 * np.minimum(n_ref, n_recent)))


def _check_common(delta, reference_size, window_size, check_every):
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    for name, value in (("reference_size", reference_size), ("window_size", window_size),
                        ("check_every", check_every)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


# ------------------------------------------------------------------------ cardinality


class LabelCardinalityDetector(Base):
    """Change in the mean number of positive labels per record.

    Runs river's :class:`~river.drift.ADWIN` on the per-record cardinality ``|y|``.
    ADWIN keeps a window of variable length and cuts it where the means of the two parts
    differ by more than a Bernstein-style bound at confidence ``delta`` (corrected for
    the number of cut points). The default ``delta = 1e-4`` is below ADWIN's ``0.002``:
    on the synthetic streams of the tests, ``0.002`` raised about one false alarm per
    800,000 stationary records and ``1e-4`` none in 2.4 million, while a change of the
    mean cardinality from 3 to 3.5 (20 labels) was caught 455 to 1,095 records after it
    and from 3 to 4 after 135 to 391 records (ten seeds each).

    Parameters
    ----------
    delta
        ADWIN's confidence parameter (smaller: fewer false alarms, longer delay).
    clock
        ADWIN checks for a cut every ``clock`` records.

    Attributes
    ----------
    labels_involved : list of int
        Always empty: the cardinality is a property of the whole label set.
    statistic : float
        After a detection: the mean cardinality of the part of ADWIN's window it keeps
        (the recent records) minus that of the part it dropped; ``nan`` before. ADWIN
        cuts at bucket boundaries soon after a change, so the kept part still holds older
        records and this underestimates the size of the change.

    Examples
    --------
    >>> from stream.synthetic import MultiLabelGenerator
    >>> def label_sets(cardinality, seed, n):
    ...     gen = MultiLabelGenerator(n_features=8, n_labels=10, cardinality=cardinality,
    ...                               n_clusters=3, seed=seed)
    ...     return [row.nonzero()[0] for row in gen.arrays(n)[1]]
    >>> stream = label_sets(2.0, seed=1, n=3000) + label_sets(3.5, seed=2, n=1000)
    >>> det = LabelCardinalityDetector()
    >>> detections = []
    >>> for t, cols in enumerate(stream):
    ...     det.update(cols)
    ...     if det.drift_detected:
    ...         detections.append(t)
    >>> len(detections), 3000 < detections[0] < 3300
    (1, True)
    >>> det.statistic > 0       # more labels per record after the cut
    True
    """

    def __init__(self, delta: float = 1e-4, clock: int = 32):
        self.delta = delta
        self.clock = clock
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}")
        self._adwin = ADWIN(delta=delta, clock=clock)
        self._drift = False
        self.labels_involved: list[int] = []
        self.statistic = math.nan

    @property
    def drift_detected(self) -> bool:
        """Whether the last update detected a change."""
        return self._drift

    @property
    def cardinality(self) -> float:
        """Mean cardinality over ADWIN's current window."""
        return float(self._adwin.estimation)

    def update(self, label_cols) -> None:
        """Add one record's positive label columns (unique: the count is the cardinality)."""
        self._update_count(float(len(_as_cols(label_cols))))

    def update_many(self, indptr, indices) -> list:
        """:meth:`update` on every row of a CSR batch, in order.

        Returns ``[(row, labels_involved, statistic), ...]`` for the rows where a change
        was detected (what the attributes held right after that row's update).

        Examples
        --------
        >>> det = LabelCardinalityDetector()
        >>> det.update_many([0, 1, 3], [4, 0, 2])
        []
        """
        indptr, _ = _as_csr(indptr, indices)
        found = []
        for row, x in enumerate(np.diff(indptr).astype(np.float64).tolist()):
            self._update_count(x)
            if self._drift:
                found.append((row, [], self.statistic))
        return found

    def _update_count(self, x: float) -> None:
        adwin = self._adwin
        width, total = adwin.width, adwin.estimation * adwin.width
        adwin.update(x)
        self._drift = adwin.drift_detected
        if self._drift:
            kept_n, kept_mean = adwin.width, adwin.estimation
            dropped_n = width + 1 - kept_n
            dropped_mean = (total + x - kept_mean * kept_n) / max(dropped_n, 1)
            self.statistic = float(kept_mean - dropped_mean)
            self.labels_involved = []


# -------------------------------------------------------------------------- two windows


class _TwoWindowDetector(Base):
    """Phases shared by the reference-versus-recent detectors (see the module docstring)."""

    def _init_windows(self):
        self._drift = False
        self._warning = False
        self._n_in_phase = 0  # records since the last (re)start
        self.labels_involved: list[int] = []
        self.statistic = math.nan
        self.n_detections = 0

    @property
    def drift_detected(self) -> bool:
        """Whether the last update detected a change."""
        return self._drift

    @property
    def warning_detected(self) -> bool:
        """Whether the last update ran a check that found a change at ``warning_delta``
        but not at ``delta``."""
        return self._warning

    @property
    def is_testing(self) -> bool:
        """Whether both windows are full, so that checks run."""
        return self._n_in_phase >= self.reference_size + self.window_size

    def update(self, label_cols) -> None:
        """Add one record's positive label columns."""
        cols = _as_cols(label_cols)
        self._drift = self._warning = False
        self._n_in_phase += 1
        if self._n_in_phase <= self.reference_size:
            self._add_reference(cols)
            if self._n_in_phase == self.reference_size:
                self._freeze_reference()
            return
        self._add_recent(cols)
        past = self._n_in_phase - self.reference_size - self.window_size
        if past >= 0 and past % self.check_every == 0:
            self._check()

    def update_many(self, indptr, indices) -> list:
        """:meth:`update` on every row of a CSR batch, in order, with the rows between two
        checks added at once (the same state and detections as row by row).

        Returns ``[(row, labels_involved, statistic), ...]`` for the rows where a change
        was detected (what the attributes held right after that row's update).
        """
        indptr, indices = _as_csr(indptr, indices)
        n = indptr.size - 1
        found = []
        row = 0
        base = self.reference_size + self.window_size
        while row < n:
            self._drift = self._warning = False
            done = self._n_in_phase
            if done < self.reference_size:
                stop = min(n, row + self.reference_size - done)
                self._add_reference_rows(indptr, indices, row, stop)
                self._n_in_phase += stop - row
                row = stop
                if self._n_in_phase == self.reference_size:
                    self._freeze_reference()
                continue
            # the next record count at which a check runs
            due = base if done + 1 <= base else \
                base + -(-(done + 1 - base) // self.check_every) * self.check_every
            stop = min(n, row + due - done)
            self._add_recent_rows(indptr, indices, row, stop)
            self._n_in_phase += stop - row
            row = stop
            if self._n_in_phase == due:
                self._check()
                if self._drift:
                    found.append((row - 1, list(self.labels_involved), self.statistic))
        return found

    def _detected(self, labels, statistic) -> None:
        self._drift = True
        self.labels_involved = sorted(int(c) for c in labels)
        self.statistic = float(statistic)
        self.n_detections += 1
        self._restart()


class LabelPrevalenceDetector(_TwoWindowDetector):
    """Change in the prevalence of any label.

    One two-window Bernstein test per label (module docstring), all labels at once with
    a Bonferroni correction, on arrays: an update costs ``O(labels per record)`` and a
    check ``O(L)``, so a few hundred or thousand labels are cheap.

    Parameters
    ----------
    delta
        False-alarm probability per check, over all labels together.
    reference_size
        Records in the reference window.
    window_size
        Records in the recent (sliding) window.
    check_every
        Records between two checks.
    warning_delta
        A looser ``delta`` for ``warning_detected`` (``None``: no warnings).

    Attributes
    ----------
    labels_involved : list of int
        After a detection: the label columns whose prevalence moved significantly.
    statistic : float
        After a detection: the largest absolute prevalence change among them
        (recent minus reference, in absolute value).
    n_detections : int
        Detections so far.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Y = rng.random((5000, 30)) < 0.1
    >>> Y[3000:, 7] = rng.random(2000) < 0.3           # label 7 becomes more frequent
    >>> det = LabelPrevalenceDetector()
    >>> for t, row in enumerate(Y):
    ...     det.update(row.nonzero()[0])
    ...     if det.drift_detected:
    ...         print(t, det.labels_involved, round(det.statistic, 1))
    3399 [7] 0.1
    """

    def __init__(self, delta: float = 1e-4, reference_size: int = 2000,
                 window_size: int = 1000, check_every: int = 100,
                 warning_delta: float | None = None):
        self.delta = delta
        self.reference_size = reference_size
        self.window_size = window_size
        self.check_every = check_every
        self.warning_delta = warning_delta
        _check_common(delta, reference_size, window_size, check_every)
        if warning_delta is not None and not delta <= warning_delta < 1.0:
            raise ValueError(f"warning_delta must be in [delta, 1), got {warning_delta!r}")
        self._init_windows()
        self._restart()

    def _restart(self) -> None:
        self._n_in_phase = 0
        self._ref = np.zeros(0, dtype=np.float64)
        self._rec = np.zeros(0, dtype=np.float64)
        self._rec_rows: deque = deque()
        self._n_tested = 0  # labels known when the reference was frozen

    @staticmethod
    def _grown(a, cols):
        hi = int(cols.max()) + 1 if cols.size else 0
        if hi > a.size:
            a = np.concatenate([a, np.zeros(max(hi, 2 * a.size) - a.size)])
        return a

    def _add_reference(self, cols) -> None:
        self._ref = self._grown(self._ref, cols)
        self._ref[cols] += 1.0

    def _add_reference_rows(self, indptr, indices, a, b) -> None:
        cols = indices[indptr[a]:indptr[b]]
        self._ref = self._grown(self._ref, cols)
        np.add.at(self._ref, cols, 1.0)

    def _add_recent_rows(self, indptr, indices, a, b) -> None:
        cols = indices[indptr[a]:indptr[b]]
        self._rec = self._grown(self._rec, cols)
        np.add.at(self._rec, cols, 1.0)
        rows = self._rec_rows
        rows.extend(np.split(cols, (indptr[a + 1:b] - indptr[a])))
        excess = len(rows) - self.window_size
        if excess > 0:
            leaving = [rows.popleft() for _ in range(excess)]
            np.subtract.at(self._rec, np.concatenate(leaving), 1.0)

    def _freeze_reference(self) -> None:
        nz = np.flatnonzero(self._ref)
        self._n_tested = int(nz[-1]) + 1 if nz.size else 0

    def _add_recent(self, cols) -> None:
        self._rec = self._grown(self._rec, cols)
        self._rec[cols] += 1.0
        self._rec_rows.append(cols)
        if len(self._rec_rows) > self.window_size:
            self._rec[self._rec_rows.popleft()] -= 1.0

    def _check(self) -> None:
        L = self._n_tested
        if L == 0:
            return
        n_r, n_w = float(self.reference_size), float(self.window_size)
        a, b = self._ref[:L], self._rec[:L]
        if b.size < L:
            b = np.concatenate([b, np.zeros(L - b.size)])
        diff = np.abs(b / n_w - a / n_r)
        pooled = (a + b) / (n_r + n_w)
        eps = bernstein_threshold(pooled, n_r, n_w, L, self.delta)
        moved = np.flatnonzero(diff > eps)
        if moved.size:
            self._detected(moved, diff[moved].max())
        elif self.warning_delta is not None:
            self._warning = bool(
                np.any(diff > bernstein_threshold(pooled, n_r, n_w, L, self.warning_delta))
            )


class LabelCorrelationDetector(_TwoWindowDetector):
    """Change in the Jaccard similarities between labels.

    The reference and the recent window each keep a co-occurrence matrix
    (:class:`stream.cooccurrence.RollingCooccurrence`, cumulative and windowed). Every
    ``check_every`` records, every pair ``i < j`` of labels known to the reference with at
    least ``min_support`` records holding ``i`` or ``j`` in each window is tested with the
    two-window Bernstein test of the module docstring, Bonferroni-corrected over the
    pairs tested. An update costs ``O(labels per record ** 2)``; a check costs
    ``O(P)`` for the ``P`` pairs with enough support in the reference (at most
    ``L (L - 1) / 2``, selected once when the reference is frozen). The co-occurrence
    matrices are dense, ``O(L ** 2)`` memory: a few thousand labels at most. With 1,000
    labels (476,000 pairs with support) a check takes about 7 ms, 72 us per record at
    ``check_every=100``; raise ``check_every`` for larger label spaces.

    A change of prevalence can also move Jaccard similarities (they depend on both
    marginals and dependence); run :class:`LabelPrevalenceDetector` alongside to tell
    the two apart. Changes of ``P(x)`` or of ``P(y | x)`` that keep the joint
    distribution of the labels do not move them.

    Parameters
    ----------
    delta
        False-alarm probability per check, over all pairs tested together.
    reference_size
        Records in the reference window.
    window_size
        Records in the recent (sliding) window.
    check_every
        Records between two checks.
    min_support
        Least number of records holding either label of a pair, in each window, for the
        pair to be tested.
    warning_delta
        A looser ``delta`` for ``warning_detected`` (``None``: no warnings).

    Attributes
    ----------
    pairs_involved : list of tuple of int
        After a detection: the pairs ``(i, j)``, ``i < j``, whose similarity moved
        significantly, most significant first.
    labels_involved : list of int
        The labels of those pairs.
    statistic : float
        The largest absolute Jaccard change among those pairs.
    n_detections : int
        Detections so far.

    Examples
    --------
    >>> from stream.synthetic import Drift, MultiLabelGenerator
    >>> gen = MultiLabelGenerator(n_features=10, n_labels=12, cardinality=3, n_clusters=4,
    ...                           seed=3, drifts=[Drift(4000, target="correlation")])
    >>> _, Y = gen.arrays(6000)
    >>> det = LabelCorrelationDetector()
    >>> for t, row in enumerate(Y):
    ...     det.update(row.nonzero()[0])
    ...     if det.drift_detected:
    ...         break
    >>> t, det.pairs_involved, det.labels_involved   # 300 records after the change
    (4299, [(4, 8)], [4, 8])
    >>> any({"l4", "l8"} <= group for group in gen.label_groups(4000))  # now one group
    True
    """

    def __init__(self, delta: float = 1e-4, reference_size: int = 2000,
                 window_size: int = 1000, check_every: int = 100, min_support: int = 30,
                 warning_delta: float | None = None):
        self.delta = delta
        self.reference_size = reference_size
        self.window_size = window_size
        self.check_every = check_every
        self.min_support = min_support
        self.warning_delta = warning_delta
        _check_common(delta, reference_size, window_size, check_every)
        if isinstance(min_support, bool) or not isinstance(min_support, (int, np.integer)) \
                or min_support < 1:
            raise ValueError(f"min_support must be an integer >= 1, got {min_support!r}")
        if warning_delta is not None and not delta <= warning_delta < 1.0:
            raise ValueError(f"warning_delta must be in [delta, 1), got {warning_delta!r}")
        self.pairs_involved: list[tuple[int, int]] = []
        self._init_windows()
        self._restart()

    def _restart(self) -> None:
        self._n_in_phase = 0
        self._ref = RollingCooccurrence()
        self._rec = RollingCooccurrence(window_size=self.window_size)

    def _add_reference(self, cols) -> None:
        self._ref.update(cols)

    def _freeze_reference(self) -> None:
        C = self._ref.counts()
        iu, ju = np.triu_indices(C.shape[0], k=1)
        d = np.diagonal(C)
        both = C[iu, ju]
        union = d[iu] + d[ju] - both
        keep = union >= self.min_support  # the others can never be tested: drop them now
        self._n_ref_labels = C.shape[0]
        self._pairs = (iu[keep], ju[keep])
        self._ref_both = both[keep]
        self._ref_union = union[keep]
        self._ref = None  # the matrix is no longer needed

    def _add_recent(self, cols) -> None:
        self._rec.update(cols)

    def _add_reference_rows(self, indptr, indices, a, b) -> None:
        self._ref.update_batch(indptr[a:b + 1] - indptr[a], indices[indptr[a]:indptr[b]])

    def _add_recent_rows(self, indptr, indices, a, b) -> None:
        self._rec.update_batch(indptr[a:b + 1] - indptr[a], indices[indptr[a]:indptr[b]])

    def _check(self) -> None:
        iu, ju = self._pairs
        if iu.size == 0:
            return
        rec = self._rec
        diag = np.arange(self._n_ref_labels)
        d = rec.pair_counts(diag, diag)
        both_w = rec.pair_counts(iu, ju)
        union_w = d[iu] + d[ju] - both_w
        both_r, union_r = self._ref_both, self._ref_union
        ok = (union_r >= self.min_support) & (union_w >= self.min_support)
        n_tests = int(ok.sum())
        if n_tests == 0:
            return
        both_r, union_r, both_w, union_w = both_r[ok], union_r[ok], both_w[ok], union_w[ok]
        diff = np.abs(both_w / union_w - both_r / union_r)
        pooled = (both_r + both_w) / (union_r + union_w)
        eps = bernstein_threshold(pooled, union_r, union_w, n_tests, self.delta)
        moved = diff > eps
        if moved.any():
            where = np.flatnonzero(ok)[moved]
            order = np.argsort(-(diff[moved] / eps[moved]), kind="stable")
            self.pairs_involved = [(int(iu[where[k]]), int(ju[where[k]])) for k in order]
            labels = {c for pair in self.pairs_involved for c in pair}
            self._detected(labels, diff[moved].max())
        elif self.warning_delta is not None:
            eps_w = bernstein_threshold(pooled, union_r, union_w, n_tests, self.warning_delta)
            self._warning = bool(np.any(diff > eps_w))
