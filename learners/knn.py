"""Streaming nearest neighbours over a bounded window of recent records (``--learner knn``).

An instance-based multi-label learner that is useful after a few dozen records: it keeps
the last ``window_size`` records (features as padded CSR rows, label sets as boolean rows)
and predicts a record from its ``k`` nearest ones by a distance-weighted vote, with a
threshold chosen online. State is in numpy arrays, hot loops in numba
(:mod:`learners._knn_kernels`).
"""

from __future__ import annotations

import numpy as np
from river import base

from learners import _knn_kernels as K
from learners._vectorised import LabelArrivals, ScoredLearnerMethods
from stream.batch import (Batch, csr_row_slice, known_feature_rows, label_csr, rows_as_csr,
                          unknown_csr)
from stream.types import FeatureIndex, LabelIndex

__all__ = ["KNN"]

_NO_LABELS = np.zeros(0, dtype=np.int64)


def _grown(a: np.ndarray, shape, fill=0) -> np.ndarray:
    """``a`` enlarged to at least ``shape`` (doubling), new cells ``fill``."""
    if shape[0] <= a.shape[0] and (len(shape) == 1 or shape[1] <= a.shape[1]):
        return a
    new_shape = tuple(max(n, 2 * m) if n > m else m for n, m in zip(shape, a.shape))
    # zeros come from the allocator untouched: pages are paid for when first written
    new = np.zeros(new_shape, dtype=a.dtype) if not fill else np.full(new_shape, fill,
                                                                      dtype=a.dtype)
    new[tuple(slice(0, m) for m in a.shape)] = a
    return new


class KNN(ScoredLearnerMethods, base.MultiLabelClassifier):
    """Multi-label nearest neighbours over a sliding window of recent records.

    **Distance.** Dense input (decided from the first ``PROBE_RECORDS`` records: at least a
    quarter of the features present per record) is standardised by the running mean and
    standard deviation of each feature (a missing feature sits at its mean); sparse input
    keeps its raw values (absent = 0). The default ``metric="cosine"`` is the cosine of the
    scaled rows (cost ``O(window x features)`` per query on dense input, ``O(window x
    the query's non-zeros)`` on sparse input); ``"euclidean"`` is
    the Euclidean distance, ``"auto"`` Euclidean on dense input and cosine on sparse.
    Measured on the dev streams' first 1,000 records (``bench/early.py``, both orders),
    cosine beat Euclidean on dense input too (mean ex-F1 0.633 vs 0.619 with ``k=10``;
    ``k`` 5, 7, 10 within 0.004 of each other, 3 and 20 lower).

    **Vote.** The ``k`` nearest records of the window vote for their labels, each with
    weight ``1 / (distance + 1e-6)`` (Euclidean) or its cosine similarity; a label's score
    is its weighted share among the neighbours where that label is known. A label is
    predicted when its score passes the threshold whose faded prequential example-F1 (each
    record scored before it is learned, factor ``fade``) is best among ``THRESHOLD_GRID``,
    each with and without "the top label when nothing passes".

    **Unknown labels** (``y[label] is None``) are stored as unknown: they take no part in
    that label's vote nor in the threshold scores. Labels are registered at their first
    positive record (as in :class:`learners.ihomer.IHOMER`), so ``predict_learn_many`` is
    exactly a loop of ``predict_scores_one`` and ``learn_one``.

    **Memory** is bounded by the window: ``window_size x (16 x the largest record's
    non-zeros + 2 x labels + 8)`` bytes plus ``24`` per feature, and a feature-major
    ``float32`` copy of the window (``4 x window_size`` bytes per feature)
    while it fits in ``TABLE_BYTES`` (64 MiB: 16,777 features at the default window),
    which lets a query screen every stored record in single precision and measure only
    the few that can be among the nearest exactly (the same neighbours as without it);
    wider streams drop the copy (:meth:`memory_usage`).

    Parameters
    ----------
    window_size
        Records kept (the oldest is overwritten).
    k
        Neighbours that vote.
    metric
        ``"cosine"``, ``"euclidean"`` or ``"auto"``.
    fade
        Fading factor of the threshold choices' example-F1.

    Examples
    --------
    >>> from river import datasets
    >>> model = KNN(window_size=200)
    >>> model.predict_one({"Att1": 0.3})
    {}
    >>> for x, y in datasets.Yeast().take(300):
    ...     model.learn_one(x, y)
    >>> pred = {k for k, v in model.predict_one(x).items() if v}
    >>> bool(pred & {k for k, v in y.items() if v})
    True
    >>> model.n_window
    200
    """

    _sparse_labels = True  # labels absent from y are negative; None is unknown
    THRESHOLD_GRID = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))  # 0.10 .. 0.90
    PROBE_RECORDS = 20
    TABLE_BYTES = 64 * 2**20  # the feature-major copy of the window, while it fits
    DEFAULT_CHOICE = 8 + 17  # score > 0.5, top label forced: the choice before any score

    def __init__(self, window_size: int = 1000, k: int = 10, metric: str = "cosine",
                 fade: float = 0.998):
        self.window_size = window_size
        self.k = k
        self.metric = metric
        self.fade = fade
        if int(window_size) < 1 or int(k) < 1:
            raise ValueError("window_size and k must be >= 1")
        if metric not in ("auto", "euclidean", "cosine"):
            raise ValueError(f"metric must be 'cosine', 'euclidean' or 'auto', got {metric!r}")
        if not 0.0 < fade <= 1.0:
            raise ValueError("fade must lie in (0, 1]")
        self._features = FeatureIndex()
        self._labels = LabelIndex()
        self._named: dict = {}  # labels named in some y but never positive yet
        W = int(window_size)
        self._state = np.zeros(1, dtype=np.int64)
        self._f_count = np.zeros(16)
        self._f_mean = np.zeros(16)
        self._f_m2 = np.zeros(16)
        self._r_nnz = np.zeros(W, dtype=np.int64)
        self._r_idx = np.zeros((W, 8), dtype=np.int64)
        self._r_val = np.zeros((W, 8))
        self._r_y = np.zeros((W, 4), dtype=bool)
        self._r_u = np.zeros((W, 4), dtype=bool)
        self._rt = np.full((16, W), np.nan, dtype=np.float32)  # feature-major window
        self._r_norm2 = np.zeros(W)
        self._thr_grid = np.asarray(self.THRESHOLD_GRID, dtype=np.float64)
        self._thr_score = np.zeros(2 * self._thr_grid.size)
        self._thr_score[self.DEFAULT_CHOICE] = 1e-9
        self._center = None
        self._probe_nnz = 0
        self._probe_features: set = set()

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "_rt" not in state:  # saved before the feature-major table: built from the rows
            W = int(self.window_size)
            d = self._f_count.size
            self._r_norm2 = np.zeros(W)
            self._rt = np.full((d, W) if d * W * 4 <= self.TABLE_BYTES else (0, 0), np.nan,
                               dtype=np.float32)
            if self._table:
                for s in range(min(self.n_learned, W)):
                    m = int(self._r_nnz[s])
                    self._rt[self._r_idx[s, :m], s] = self._r_val[s, :m]
                    nr = 0.0
                    for v in self._rt[self._r_idx[s, :m], s].tolist():  # the kernel's order
                        nr += v * v
                    self._r_norm2[s] = nr

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"window_size": 30, "k": 3, "metric": "euclidean"}

    # -- reading -----------------------------------------------------------------------
    @property
    def n_learned(self) -> int:
        """Records learned so far."""
        return int(self._state[0])

    @property
    def n_window(self) -> int:
        """Records in the window now."""
        return min(self.n_learned, int(self.window_size))

    @property
    def threshold(self) -> tuple:
        """The threshold in use and whether the top label is forced into an empty set."""
        c = int(np.argmax(self._thr_score))
        G = self._thr_grid.size
        return float(self._thr_grid[c % G]), bool(c >= G)

    def memory_usage(self) -> int:
        """Bytes held by the model's arrays (the window's and the feature statistics)."""
        return int(sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray)))

    # -- bookkeeping -------------------------------------------------------------------
    def _metric_code(self, center: bool) -> int:
        if self.metric == "auto":
            return K.EUCLIDEAN if center else K.COSINE
        return K.EUCLIDEAN if self.metric == "euclidean" else K.COSINE

    @property
    def _table(self) -> bool:
        return self._rt.shape[1] == int(self.window_size)

    def _ensure_capacity(self, max_nnz: int = 0):
        d, L = len(self._features), len(self._labels)
        W = int(self.window_size)
        for name in ("_f_count", "_f_mean", "_f_m2"):
            setattr(self, name, _grown(getattr(self, name), (d,)))
        self._r_idx = _grown(self._r_idx, (W, max_nnz))
        self._r_val = _grown(self._r_val, (W, max_nnz))
        if self._table and d > self._rt.shape[0]:
            rows = max(d, 2 * self._rt.shape[0])
            if rows * W * 4 > self.TABLE_BYTES:  # too wide: the CSR rows alone from now on
                self._rt = np.zeros((0, 0), dtype=np.float32)
            else:
                self._rt = _grown(self._rt, (rows, W), np.nan)
        self._r_y = _grown(self._r_y, (W, L), False)
        self._r_u = _grown(self._r_u, (W, L), False)

    def _run(self, x_ptr, x_idx, x_val, y_ptr, y_idx, learn, u_ptr=None, u_idx=None):
        n = len(x_ptr) - 1
        L = len(self._labels)
        if u_ptr is None:
            u_ptr, u_idx = np.zeros(n + 1, dtype=np.int64), _NO_LABELS
        if y_ptr is None:
            y_ptr, y_idx = np.zeros(n + 1, dtype=np.int64), _NO_LABELS
        out_pred = np.zeros((n, L), dtype=bool)
        out_score = np.zeros((n, L))
        max_nnz = int(np.max(np.diff(x_ptr))) if n else 0
        self._ensure_capacity(max_nnz if learn else 0)
        center = True if self._center is None else self._center
        K.step(x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, bool(learn), L, center,
               self._metric_code(center), int(self.k), self._f_count, self._f_mean,
               self._f_m2, self._state, self._r_nnz, self._r_idx, self._r_val, self._r_y,
               self._r_u, self._table, self._rt, self._r_norm2, self._thr_grid,
               self._thr_score, float(self.fade), out_pred, out_score)
        if learn and self._center is None and self.n_learned >= self.PROBE_RECORDS:
            denom = self.PROBE_RECORDS * max(1, len(self._probe_features))
            self._center = bool(self._probe_nnz / denom >= 0.25)
            self._probe_features = set()
        return out_pred, out_score

    def _probe_rows(self, x_ptr, x_idx):
        if self._center is None:
            for i in range(len(x_ptr) - 1):
                cols = x_idx[x_ptr[i]:x_ptr[i + 1]]
                self._probe_nnz += cols.size
                self._probe_features.update(cols.tolist())

    # -- river API ---------------------------------------------------------------------
    def learn_one(self, x, y):
        self.learn_one_predicted(x, y)

    def learn_one_predicted(self, x, y) -> set:
        """``learn_one``, returning the labels the window predicted for ``x`` before it
        learned it (what ``predict_one`` would have said)."""
        idx, val = self._features.encode(x, grow=True)
        known = self._labels._pos
        fresh = []
        for lab, on in y.items():
            if lab not in known:
                if on:
                    fresh.append(lab)
                    self._named.pop(lab, None)
                else:
                    self._named.setdefault(lab)
        for lab in LabelIndex.arrival_order(fresh):
            self._labels.add(lab)
        cols = self._labels.positions(y, grow=False)
        u_ptr = u_idx = None
        if None in y.values():
            u_idx = self._labels.unknown_positions(y)
            u_ptr = np.array([0, u_idx.size])
        x_ptr = np.array([0, idx.size])
        self._probe_rows(x_ptr, idx)
        pred, _ = self._run(x_ptr, idx, val, np.array([0, cols.size]), cols, True, u_ptr,
                            u_idx)
        keys = self._labels.keys
        return {keys[j] for j in np.flatnonzero(pred[0]).tolist()}

    def predict_scores_one(self, x):
        """The prediction and each known label's vote share, in one pass."""
        if not len(self._labels):
            if not self._named:
                return {}, {}
            return dict.fromkeys(self._named, False), dict.fromkeys(self._named, 0.0)
        idx, val = self._features.encode(x, grow=False)
        pred, score = self._run(np.array([0, idx.size]), idx, val, None, None, False)
        keys = self._labels.keys
        labels, scores = dict(zip(keys, pred[0].tolist())), dict(zip(keys, score[0].tolist()))
        if self._named:
            labels.update(dict.fromkeys(self._named, False))
            scores.update(dict.fromkeys(self._named, 0.0))
        return labels, scores

    def predict_learn_many(self, batch: Batch):
        """Test-then-train over a batch, record by record, in compiled code.

        Each row is predicted from the window as it stands after the rows before it, then
        learned: exactly a loop of ``predict_scores_one`` and ``learn_one``.

        Returns
        -------
        (pred, scores)
            Booleans and vote shares, ``(n, len(labels_))`` after the batch; a score is
            NaN where its label was not known yet when the row was predicted.
        """
        f_map = self._features.add_all(batch.feature_names)
        x_ptr, x_idx, x_val = rows_as_csr(batch.X)
        x_idx = f_map[x_idx] if x_idx.size else x_idx
        Y = np.asarray(batch.Y, dtype=bool)
        U = getattr(batch, "unknown", None)
        n = Y.shape[0]
        arrivals = LabelArrivals(batch.label_names, Y, self._labels)
        l_map = arrivals.column_map
        preds, scores = [], []
        row = 0
        while row < n:
            if arrivals.arriving_at(row):
                # as learn_one: register, then test-then-train the row in one call; the
                # new labels have no votes yet, so its prediction is the one made with the
                # labels known before (their columns are left out of it)
                one = slice(row, row + 1)
                xs = csr_row_slice(x_ptr, x_idx, x_val, one)
                known = len(self._labels)
                arrivals.arrive(row, self._labels, self._named)
                y_ptr, y_idx = label_csr(Y[one], l_map)
                u_ptr, u_idx = unknown_csr(None if U is None else U[one], l_map, 1)
                self._probe_rows(xs[0], xs[1])
                pred, score = self._run(*xs, y_ptr, y_idx, True, u_ptr, u_idx)
                preds.append(pred[:, :known])
                scores.append(score[:, :known])
                row += 1
                continue
            end = arrivals.next_arrival(row)
            if self._center is None:  # the dense/sparse decision falls between rows
                end = min(end, row + max(1, self.PROBE_RECORDS - self.n_learned))
            y_ptr, y_idx = label_csr(Y[row:end], l_map)
            u_ptr, u_idx = unknown_csr(None if U is None else U[row:end], l_map, end - row)
            xs = csr_row_slice(x_ptr, x_idx, x_val, slice(row, end))
            self._probe_rows(xs[0], xs[1])
            pred, score = self._run(*xs, y_ptr, y_idx, True, u_ptr, u_idx)
            preds.append(pred)
            scores.append(score)
            row = end
        return arrivals.outputs(preds, scores, self._labels, self._named)

    def predict_scores_many(self, batch: Batch):
        """Predictions and vote shares of every row from the current window (no learning)."""
        n = len(batch)
        if not len(self._labels):
            return np.zeros((n, 0), dtype=bool), np.zeros((n, 0))
        x_ptr, x_idx, x_val = known_feature_rows(batch, self._features)
        return self._run(x_ptr, x_idx, x_val, None, None, False)

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the kernel before the first record."""
        scratch = KNN(window_size=2, k=1, metric=self.metric)
        scratch.learn_one({"a": 1.0}, {"u": True})
        scratch.predict_scores_one({"a": 1.0})
