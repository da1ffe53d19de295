"""ADWIN without importing ``river.drift``.

``import river.drift`` costs most of a second (its ``__init__`` imports
``river.drift.datasets``, hence ``river.datasets`` and, where it is installed, scikit-learn),
although the detector itself is a thin class over river's compiled
``AdaptiveWindowing``. :class:`ADWIN` is that class again, over the same compiled core:
the same constructor, the same ``update`` / ``drift_detected`` / ``width`` /
``estimation`` / ``variance`` / ``total`` / ``n_detections``, and so the same detections
and statistics on any input (``tests/test_drift_adwin.py`` runs both side by side). As in
river, the update after a detection starts from an empty window.

Examples
--------
>>> adwin = ADWIN()
>>> values = [0.0, 0.2] * 500 + [0.8, 1.0] * 500  # the mean moves from 0.1 to 0.9
>>> [i for i, v in enumerate(values) if (adwin.update(v), adwin.drift_detected)[1]]
[1023]
>>> adwin.width, round(adwin.estimation, 3)  # the part of the window kept at the cut
(976.0, 0.9)
"""

from __future__ import annotations

from river._river_rust.drift import AdaptiveWindowing
from river.base import DriftDetector

__all__ = ["ADWIN"]


class ADWIN(DriftDetector):
    """Adaptive windowing: keeps a window of recent values and cuts off its older part
    when the two parts' means differ by more than a Hoeffding-style bound allows.

    Parameters
    ----------
    delta
        Significance of the test (smaller: fewer false alarms, later detections).
    clock
        Test for a cut every ``clock`` updates.
    max_buckets
        Buckets of one size kept before the two oldest merge.
    min_window_length
        Sub-windows shorter than this are not tested.
    grace_period
        No test before the window holds this many values.
    """

    def __init__(self, delta: float = 0.002, clock: int = 32, max_buckets: int = 5,
                 min_window_length: int = 5, grace_period: int = 10):
        super().__init__()
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._core = AdaptiveWindowing(delta=self.delta, clock=self.clock,
                                       max_buckets=self.max_buckets,
                                       min_window_length=self.min_window_length,
                                       grace_period=self.grace_period)

    def update(self, x) -> None:
        """Add one value; :attr:`drift_detected` then says whether the window was cut."""
        if self._drift_detected:
            self._reset()
        self._drift_detected = self._core.update(x)

    @property
    def width(self):
        """Values in the window."""
        return self._core.get_width()

    @property
    def n_detections(self) -> int:
        """Cuts so far (since the last reset)."""
        return self._core.get_n_detections()

    @property
    def variance(self) -> float:
        """The window's variance statistic, as river reports it."""
        return self._core.get_variance()

    @property
    def total(self) -> float:
        """Sum of the values in the window."""
        return self._core.get_total()

    @property
    def estimation(self) -> float:
        """Mean of the window (0 when empty)."""
        width = self.width
        return 0.0 if width == 0 else self.total / width
