"""iHOMER: an online hierarchy of multi-label classifiers over Jaccard label clusters.

After Neves, Lourenco, Cano and Marreiros (ECAI 2025, arXiv 2507.20894), built for the
bar of labelstream's benchmark table rather than fidelity to the authors' draft code.
"""

from __future__ import annotations

from collections import deque
import numpy as np
from river import base

from learners import _ihomer_kernels as K
from learners._label_thresholds import LabelThresholds
from learners._neighbour_choice import NeighbourChoice
from learners._rare_label_memory import RareLabelMemory
from learners._vectorised import LabelArrivals, ScoredLearnerMethods
from learners.label_clustering import LabelHierarchy
from learners.logistic import check_robust, robust_value
from learners.ml_tree import MultiLabelHoeffdingTree
from stream.batch import (Batch, csr_row_slice, known_feature_rows, label_csr, rows_as_csr,
                          split_rows, unknown_csr)
from stream.types import FeatureIndex, LabelIndex

__all__ = ["IHOMER"]

_NO_LABELS = np.zeros(0, dtype=np.int64)



def _label_key(col: int) -> int:
    """A fixed pseudo-random 63-bit key per label column (splitmix64), for set hashing."""
    z = (col + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF


def _grown(a: np.ndarray, shape, fill=0) -> np.ndarray:
    if all(n <= m for n, m in zip(shape, a.shape)):
        return a
    new_shape = tuple(max(n, 2 * m) if n > m else m for n, m in zip(shape, a.shape))
    new = np.full(new_shape, fill, dtype=a.dtype)
    new[tuple(slice(0, m) for m in a.shape)] = a
    return new


def _stack_ptr(ptrs) -> np.ndarray:
    """One CSR row pointer for blocks of rows given by their own pointers."""
    out = [np.zeros(1, dtype=np.int64)]
    base_ = 0
    for p in ptrs:
        out.append(p[1:] - p[0] + base_)
        base_ += int(p[-1] - p[0])
    return np.concatenate(out)


class IHOMER(ScoredLearnerMethods, base.MultiLabelClassifier):
    """Online hierarchy of multi-label classifiers over Jaccard label clusters.

    **Label clusters.** Labels are partitioned online by divisive-agglomerative clustering
    with distance ``1 - Jaccard`` (:class:`learners.label_clustering.LabelHierarchy`,
    after ODAC): every ``restructure_every`` records a cluster whose label sets outgrow its
    joint model is split around its two most distant labels when a Hoeffding bound says
    the split is real, and siblings whose union is well modelled again are merged back.
    A restructuring keeps the learners (and alternates) of every cluster it leaves
    unchanged or only enlarged by newly placed labels (warm start) and is reported as an
    event (:meth:`pop_events`).

    **Local learners.** Each cluster predicts its labels jointly with a pruned label
    powerset: a softmax regression over the cluster's ``max_classes`` admitted label
    sets (a set is admitted once seen ``min_count`` times, counted with Misra-Gries; a
    rarer set is learned as its largest admitted subset). A record's prediction is the
    union over clusters.

    **Local drift.** Each cluster's powerset is watched by an HDDM-A test on its loss
    (``1 - F1`` over the cluster's labels); a warning grows an alternate powerset beside
    it, which replaces the old one when significantly better (``local_drift``). Alternates
    started, replacements and dropped alternates are reported as events.

    **Global learner (router).** An incremental multi-label Hoeffding tree in the
    instance space (:class:`learners.ml_tree.MultiLabelHoeffdingTree`: a split's gain is
    the drop of the summed per-label binary entropies, as in MLHT/MLHAT, taken when a
    Hoeffding bound says the best split beats the others) routes every record to a leaf,
    and so decides which part of the model serves it. Every tree node below the root is
    an indicator input of the record's path: each label's logistic model and each
    cluster's label-set softmax get a learned offset per region, refined at each level
    (a new leaf starts at zero on top of its ancestors' offsets, so nothing learned
    before a split is lost). The choice of expert is made per region too: each node
    keeps the experts' faded example-F1 of the records routed to it, a new leaf starting
    from its parent's. The tree learns from ``x`` and ``y`` alone, so the batched path
    routes a whole batch first (each row as the tree stood before it) and stays exact.
    Until the tree splits — on short streams, a few thousand records, it usually does
    not — iHOMER is exactly the model without it; on long streams whose label
    distribution depends on the region of instance space it lifts what a linear model
    can express (a test shows 0.65 -> 0.86 example-F1).

    **Extreme label spaces.** Nothing is ``labels x labels``: the clustering works on
    sparse co-occurrence statistics (and bisects clusters of more than 512 labels on the
    sparse co-occurrence graph, in balance), a class lists its labels in a row as long
    as the largest label set, at most ``max_clusters`` clusters hold
    ``2 x max_clusters x max_classes`` class rows, and the previous label set reaches the
    learners through ``ar_buckets`` buckets. Memory is ``O(labels x (features +
    ar_buckets + tree nodes))`` plus the class tables (:meth:`memory_usage`; ~200 MiB at
    10,000 labels), and new labels cost ``O(1)`` each when they arrive. ``bench/ihomer_large.py``
    replays a 10,000-label stream end to end.

    **Experts and drift.** Beside the hierarchy, a binary relevance of logistic
    regressions (threshold chosen online by example-F1) and the no-change predictor
    (the last delivered label set) run on every record. The prediction comes from the
    expert whose faded example-F1 (factor ``expert_fade``, measured on each record
    before it is learned) is best, so the model follows a change of regime — including
    streams sorted by label, where repeating the last label set is right — within tens
    of records. Both learners also receive the previous delivered label set as input
    (``autoregressive=True``), which lets them learn the stream's temporal dependence
    instead of ignoring it. All models learn by AdaGrad on standardised features (mean
    and variance for dense input, root mean square for sparse input, decided from the
    first 20 records).

    **Unknown labels.** A label mapped to ``None`` in ``y`` is unknown for that record:
    its binary relevance models are left exactly as they were, it counts in no expert's
    or threshold's score, and a cluster holding it learns nothing from the record (its
    label set there is not known, so the powerset has no class to learn). Two statistics
    still read an unknown label as absent: the label clustering's window of recent label
    sets and the router tree's label counts (both see positives only).

    Parameters
    ----------
    max_classes
        Label sets (classes) per cluster's powerset.
    min_count
        Sightings before a label set becomes a class.
    coverage
        A cluster is split when its ``max_classes`` commonest label sets cover less than
        this share of the recent records.
    merge_coverage
        Sibling clusters merge back when their union is covered this well.
    restructure_every
        Records between two updates of the label hierarchy (ODAC's ``n_min``).
    history
        Recent label sets kept for the clustering statistics (a sliding window).
    delta, tau
        Confidence and tie threshold of the Hoeffding bound of a split. When labels form
        clean groups many pairs tie for the largest distance (``d1 - d2`` near 0), so a
        split waits until ``eps < tau``: about ``ln(1/delta) / (2 tau^2)`` = 230 records
        with the defaults, well inside ``history``.
    max_cluster_share
        Largest cluster, as a share of the labels.
    max_clusters
        Most label clusters. Each holds ``2 x max_classes`` class rows (its powerset and
        room for an alternate), so this caps the class tables at
        ``2 x max_clusters x max_classes`` rows: 4,096 with the defaults, whatever the
        number of labels (real streams here use at most 13 clusters; at 10,000 labels the
        powersets cost about as much as binary relevance with this cap). Splits stop at
        the cap; new labels then share one newcomer cluster until the next update
        places them.
    learning_rate, l2
        AdaGrad step and L2 penalty of both learners.
    expert_fade
        Fading factor of the experts' example-F1 (closer to 1: slower to switch).
    autoregressive
        Feed the previous delivered label set to the learners.
    fast_learning_rate
        A second binary relevance learning at this (faster) rate runs as one more expert
        (``None``: none). Streams differ in how fast they reward learning; the expert
        choice picks the rate each stream wants.
    local_drift
        Watch each cluster's powerset with an HDDM-A test on its loss; a warning starts
        an alternate powerset, which replaces the old one at a confirmed drift if it has
        done at least as well since the warning, or whenever it is significantly better.
    drift_confidence, warning_confidence
        HDDM-A confidence levels of a drift and of a warning.
    alternate_patience
        Records after which an alternate that never replaced its cluster is dropped.
    ar_buckets
        Indicator inputs for the previous label set: label column ``l`` feeds bucket
        ``l mod ar_buckets`` (one bucket per label up to that many labels; shared buckets
        beyond, so memory stays ``O(ar_buckets x labels)`` in extreme label spaces).
    tree_max_leaves
        Largest number of leaves (regions) of the router tree; 1 turns the router off.
    tree_grace_period, tree_delta, tree_tau
        Records between two split attempts of a leaf, confidence of the Hoeffding bound
        and tie threshold (in bits) of the router tree. The bound's range is
        ``log2(labels)`` (MOA's choice): with the defaults a clearly informative split
        (gain ahead by ~1 bit at 8 labels) is taken after a few hundred records and a
        near tie after ~35,000.
    tree_max_bytes
        Byte budget of the tree's split statistics (``4 x features x 8 bins x labels``
        per leaf for dense input); the tree stops growing when it is reached.
    robust
        Noisy labels (positives missing from the records, wrong tags): ``None`` or 0 is
        plain learning; a value ``r`` in ``(0, 1]`` weights the binary relevance step of
        a label the record says is absent by ``1 - r * p`` (``p`` the model's
        probability), so a confident disagreement -- likely a missing positive -- pulls
        the model down less, as in
        :class:`learners.logistic.LogisticBinaryRelevance`.
    tail_balance
        Rare labels: ``None`` or 0 is plain learning; ``a > 0`` weights the binary
        relevance step of a positive of label ``l`` by ``(mean count / count_l) ** a``,
        clipped to ``[1, 10]`` (class-balanced updates: labels rarer than the mean label
        learn their positives harder).
    label_thresholds
        Rare labels: ``True`` adds a label the chosen expert left out of a prediction
        when the binary relevance probability passes that label's own threshold, chosen
        online for the label's F1 and used only where it beats the chosen expert's F1
        for that label (:class:`learners._label_thresholds.LabelThresholds`). On by
        default: on the dev streams it moved example-F1 by -0.001 to +0.007 at the same
        speed (bench/imperfect_labels_learners.py tail).
    rare_memory
        Rare labels, sparse input (text) only: ``True`` remembers the recent records that
        carried a label with fewer than 25 positives and gives a record the rare labels
        of a remembered record it is nearly identical to (cosine similarity, at the
        similarity whose additions would have raised example-F1 most on the stream so
        far; :class:`learners._rare_label_memory.RareLabelMemory`). On by default: a
        stream without near-duplicates never gets a positive sum and predicts as
        without it. Dense numeric input is left alone (there, every record is near
        some other in cosine).
    neighbours
        Few records: ``True`` runs a nearest-neighbour expert beside the hierarchy
        (:class:`learners.knn.KNN`, the last 1,000 records, cosine, distance-weighted
        vote) and serves each record from whichever of the two -- iHOMER's own chosen
        expert or the neighbours -- has the higher faded example-F1 (factor
        ``expert_fade``, ties to iHOMER; :class:`learners._neighbour_choice.NeighbourChoice`).
        Neighbours are useful after a few dozen records, long before the linear
        learners have warmed up, and stay ahead on many small streams.

    Examples
    --------
    >>> from river import datasets
    >>> model = IHOMER()
    >>> model.predict_one({"Att1": 0.3})
    {}
    >>> for x, y in datasets.Yeast().take(400):
    ...     model.learn_one(x, y)
    >>> sorted(model.predict_one(x)) == sorted(y)
    True
    >>> model.n_clusters >= 1
    True
    """

    _sparse_labels = True  # labels absent from y are negative; None is unknown
    THRESHOLD_GRID = tuple(round(0.1 + 0.05 * i, 2) for i in range(11))
    THRESHOLD_FADE = 0.998
    PROBE_RECORDS = 20  # records that decide dense or sparse input scaling
    MAX_PENDING_EVENTS = 10_000  # events kept for pop_events(); older ones are dropped
    robust = None  # models pickled before the option learn as without it
    tail_balance = None
    label_thresholds = False  # models pickled before the option predict as they did
    rare_memory = False
    neighbours = False
    _nn = None

    def __init__(self, max_classes: int = 32, min_count: int = 2, coverage: float = 0.9,
                 merge_coverage: float = 0.97, restructure_every: int = 200,
                 history: int = 1000, delta: float = 0.01, tau: float = 0.1,
                 max_cluster_share: float = 1.0, max_clusters: int = 64,
                 learning_rate: float = 0.05,
                 l2: float = 1e-4, expert_fade: float = 0.995, autoregressive: bool = True,
                 fast_learning_rate: float | None = 0.15,
                 local_drift: bool = True, drift_confidence: float = 0.001,
                 warning_confidence: float = 0.005, alternate_patience: int = 2000,
                 ar_buckets: int = 256, tree_max_leaves: int = 32,
                 tree_grace_period: int = 200, tree_delta: float = 1e-7,
                 tree_tau: float = 0.05, tree_max_bytes: int = 2**26,
                 robust: float | None = None, tail_balance: float | None = None,
                 label_thresholds: bool = True, rare_memory: bool = True,
                 neighbours: bool = True):
        self.max_classes = max_classes
        self.min_count = min_count
        self.coverage = coverage
        self.merge_coverage = merge_coverage
        self.restructure_every = restructure_every
        self.history = history
        self.delta = delta
        self.tau = tau
        self.max_cluster_share = max_cluster_share
        self.max_clusters = max_clusters
        self.learning_rate = learning_rate
        self.l2 = l2
        self.expert_fade = expert_fade
        self.autoregressive = autoregressive
        self.fast_learning_rate = fast_learning_rate
        self.local_drift = local_drift
        self.drift_confidence = drift_confidence
        self.warning_confidence = warning_confidence
        self.alternate_patience = alternate_patience
        self.ar_buckets = ar_buckets
        self.tree_max_leaves = tree_max_leaves
        self.tree_grace_period = tree_grace_period
        self.tree_delta = tree_delta
        self.tree_tau = tree_tau
        self.tree_max_bytes = tree_max_bytes
        self.robust = robust
        check_robust(robust)
        self.tail_balance = tail_balance
        if tail_balance is not None and not float(tail_balance) >= 0.0:
            raise ValueError(f"tail_balance must be None or >= 0, got {tail_balance!r}")
        self.label_thresholds = bool(label_thresholds)
        self._lt = LabelThresholds() if self.label_thresholds else None
        self.rare_memory = bool(rare_memory)
        self._rm = RareLabelMemory() if self.rare_memory else None
        self.neighbours = bool(neighbours)
        self._nn = NeighbourChoice(float(expert_fade)) if self.neighbours else None
        if int(max_clusters) < 1:
            raise ValueError("max_clusters must be >= 1")
        if int(ar_buckets) < 1:
            raise ValueError("ar_buckets must be >= 1")
        if not 0.0 < drift_confidence < warning_confidence < 1.0:
            raise ValueError("need 0 < drift_confidence < warning_confidence < 1")
        if max_classes < 2:
            raise ValueError("max_classes must be >= 2")
        if not 0.0 < coverage <= 1.0 or not 0.0 < merge_coverage <= 1.0:
            raise ValueError("coverage and merge_coverage must lie in (0, 1]")
        if restructure_every < 1 or history < 1:
            raise ValueError("restructure_every and history must be >= 1")
        self._features = FeatureIndex()
        self._labels = LabelIndex()
        self._tree = MultiLabelHoeffdingTree(
            grace_period=tree_grace_period, delta=tree_delta, tau=tree_tau,
            max_leaves=tree_max_leaves, max_bytes=tree_max_bytes)
        self._tree.share_indexes(self._features, self._labels)
        self._hierarchy = LabelHierarchy(max_leaves=int(max_clusters))
        self._clusters: list = []
        self._cluster_nodes: list = []  # the hierarchy's node id of each cluster
        self._held: list = []  # CSR blocks the router has not learned yet (_route_learn)
        self._held_rows = 0
        self._recent: deque = deque(maxlen=history)
        self._n = 0
        self._center = None
        self._probe_nnz = 0
        self._probe_features: set = set()
        self._events: deque = deque(maxlen=self.MAX_PENDING_EVENTS)
        self._events_dropped = 0  # events that fell off an unread queue
        self._named: dict = {}  # labels named in some y but never positive yet
        self._init_arrays()

    def __setstate__(self, state):
        if "_tree" not in state:
            raise ValueError("this iHOMER was saved by an older version (before the router "
                             "tree and the sparse label statistics); its state cannot be "
                             "carried over: start from a fresh model")
        self.__dict__.update(state)
        if "_lab_count" not in state:  # saved before tail_balance: counts start now
            self._lab_count = np.zeros(self._prev.shape[0])

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"max_classes": 4, "restructure_every": 20, "history": 50,
               "autoregressive": False, "local_drift": False, "ar_buckets": 2,
               "tree_grace_period": 10, "tree_tau": float("inf"), "tree_max_leaves": 4}

    # -- state arrays ------------------------------------------------------------------
    @property
    def _br_rates(self) -> tuple:
        rates = (float(self.learning_rate),)
        if self.fast_learning_rate is not None:
            rates += (float(self.fast_learning_rate),)
        return rates

    @property
    def expert_names(self) -> tuple:
        """Names of the experts, in the order of :attr:`expert_usage`."""
        br = ["binary_relevance"] + [f"binary_relevance_lr{r:g}" for r in self._br_rates[1:]]
        return ("hierarchy", *br, "no_change")

    def _indicator_rows(self):
        """Give rows of ``A`` / ``VA`` to the indicators that exist now: the previous-set
        bucket of every label registered (virtual indicator ``l mod ar_buckets``) and
        every tree node below the root (``ar_buckets + v - 1``), in order of arrival."""
        H = int(self.ar_buckets)
        key = (min(len(self._labels), H), self._tree.n_nodes)
        if key == self._ind_key:
            return
        self._ind_key = key
        virt = np.concatenate([np.arange(key[0]), H + np.arange(key[1] - 1)])
        missing = virt[self._ind_row[virt] < 0]
        if not missing.size:
            return
        self._ind_row[missing] = self._n_ind_rows + np.arange(missing.size)
        self._n_ind_rows += int(missing.size)
        rows = self._n_ind_rows
        R, _, L = self._A.shape
        for name in ("_A", "_GA"):
            setattr(self, name, _grown(getattr(self, name), (R, rows, L)))
        for name in ("_VA", "_GVA"):
            setattr(self, name, _grown(getattr(self, name), (rows, self._VA.shape[1])))

    def _init_arrays(self):
        d, L = 16, 4
        R = len(self._br_rates)
        n_ind = 4
        self._ind_row = np.full(int(self.ar_buckets) + self._tree.max_nodes - 1, -1,
                                dtype=np.int64)
        self._n_ind_rows = 0
        self._ind_key = None  # (buckets, tree nodes) that have rows
        self._br_lr = np.asarray(self._br_rates)
        self._f = np.zeros((4, d))  # count, mean, m2, sumsq
        self._state = np.zeros(1)
        self._W = np.zeros((R, d, L))
        self._GW = np.zeros((R, d, L))
        self._A = np.zeros((R, n_ind, L))
        self._GA = np.zeros((R, n_ind, L))
        self._b = np.zeros((R, L))
        self._Gb = np.zeros((R, L))
        self._label_cluster = np.zeros(L, dtype=np.int64)
        self._label_key = np.zeros(L, dtype=np.int64)
        self._prev = np.zeros(L, dtype=bool)
        self._lab_count = np.zeros(L)  # positives seen per label (tail_balance)
        self._node_score = np.zeros((self._tree.max_nodes, R + 2))
        self._node_ready = np.zeros(self._tree.max_nodes, dtype=bool)
        self._node_ready[0] = True  # the root
        self._thr_grid = np.asarray(self.THRESHOLD_GRID)
        self._thr_score = np.zeros((R, self._thr_grid.size))
        self._alloc_classes(0, d)
        self._n_expert_used = np.zeros(R + 2, dtype=np.int64)

    # per-cluster state: class rows (axis 1 of the 2-D arrays, axis 0 of the vectors),
    # Misra-Gries candidate rows, and the local drift state
    _CLASS_2D = ("_V", "_GV", "_VA", "_GVA")
    _CLASS_1D = ("_Vb", "_GVb", "_class_hash", "_class_used", "_class_count", "_class_nlab")
    _DRIFT = ("_dd", "_alt_on", "_alt_n", "_alt_sum")

    def _alloc_classes(self, capacity, d):
        """Zeroed class tables for ``capacity`` clusters (each a powerset and an alternate,
        ``max_classes`` rows apiece): main powersets first, alternates from row
        ``capacity * max_classes`` on, so clusters can be appended without moving rows."""
        Kc = self.max_classes
        P = max(int(capacity), 1)
        self._cluster_capacity = P
        R = 2 * P * Kc
        self._V = np.zeros((d, R))
        self._GV = np.zeros((d, R))
        rows = self._A.shape[1]  # indicator rows (see _indicator_rows)
        self._VA = np.zeros((rows, R))
        self._GVA = np.zeros((rows, R))
        self._Vb = np.zeros(R)
        self._GVb = np.zeros(R)
        self._class_hash = np.zeros(R, dtype=np.int64)
        self._class_used = np.zeros(R, dtype=bool)
        self._class_count = np.zeros(R)
        # a class's labels: as many columns as the largest label set learned so far
        width = self._class_lab.shape[1] if hasattr(self, "_class_lab") else 1
        self._class_lab = np.zeros((R, width), dtype=np.int64)
        self._class_nlab = np.zeros(R, dtype=np.int64)
        self._cand_hash = np.zeros((2 * P, 4 * Kc), dtype=np.int64)
        self._cand_count = np.zeros((2 * P, 4 * Kc))
        self._dd = np.zeros((P, 4))
        self._alt_on = np.zeros(P, dtype=bool)
        self._alt_n = np.zeros(P, dtype=np.int64)
        self._alt_sum = np.zeros(P)
        self._ev_buf = np.zeros((256, 3), dtype=np.int64)
        self._ev_count = np.zeros(1, dtype=np.int64)

    def _class_rows(self, clusters, capacity, alternates: bool) -> tuple:
        """Class rows and candidate rows of ``clusters`` in a layout of ``capacity``
        (their powersets, then their alternates if ``alternates``)."""
        Kc = self.max_classes
        v = np.asarray(clusters, dtype=np.int64)
        if alternates:
            v = np.concatenate([v, capacity + v])
        rows = (v[:, None] * Kc + np.arange(Kc)).ravel()
        return rows, v

    def _relayout(self, capacity, moves, alternates: bool):
        """Reallocate the class tables for ``capacity`` clusters, moving cluster
        ``old -> new`` for each pair of ``moves`` (its powerset, candidates and drift
        statistics; its alternate too if ``alternates``); other clusters start empty."""
        P0 = self._cluster_capacity
        keep = {name: getattr(self, name) for name in (
            self._CLASS_2D + self._CLASS_1D + self._DRIFT
            + ("_class_lab", "_cand_hash", "_cand_count"))}
        self._alloc_classes(capacity, self._W.shape[1])
        if not moves:
            return
        P = self._cluster_capacity
        old_i, new_i = (np.asarray(m, dtype=np.int64) for m in zip(*moves))
        src, src_v = self._class_rows(old_i, P0, alternates)
        dst, dst_v = self._class_rows(new_i, P, alternates)
        for name in self._CLASS_2D:
            getattr(self, name)[:, dst] = keep[name][:, src]
        for name in self._CLASS_1D + ("_class_lab",):
            getattr(self, name)[dst] = keep[name][src]
        for name in ("_cand_hash", "_cand_count"):
            getattr(self, name)[dst_v] = keep[name][src_v]
        self._dd[new_i] = keep["_dd"][old_i]
        if alternates:
            for name in ("_alt_on", "_alt_n", "_alt_sum"):
                getattr(self, name)[new_i] = keep[name][old_i]

    def _reset_clusters(self, clusters):
        """Empty the powersets, alternates, candidates and drift state of ``clusters``."""
        if not clusters:
            return
        rows, v = self._class_rows(clusters, self._cluster_capacity, alternates=True)
        for name in self._CLASS_2D:
            getattr(self, name)[:, rows] = 0
        for name in self._CLASS_1D + ("_class_lab",):
            getattr(self, name)[rows] = 0
        for name in ("_cand_hash", "_cand_count"):
            getattr(self, name)[v] = 0
        for name in self._DRIFT:
            getattr(self, name)[np.asarray(clusters, dtype=np.int64)] = 0

    def _ensure_capacity(self):
        d, L = len(self._features), len(self._labels)
        R = self._W.shape[0]
        if d <= self._W.shape[1] and L <= self._W.shape[2]:
            return
        self._f = _grown(self._f, (4, d))
        for name in ("_W", "_GW"):
            setattr(self, name, _grown(getattr(self, name), (R, d, L)))
        for name in ("_A", "_GA"):
            setattr(self, name, _grown(getattr(self, name), (R, self._A.shape[1], L)))
        for name in ("_b", "_Gb"):
            setattr(self, name, _grown(getattr(self, name), (R, L)))
        for name in ("_label_cluster", "_label_key", "_prev", "_lab_count"):
            setattr(self, name, _grown(getattr(self, name), (L,)))
        R = self._V.shape[1]
        for name in ("_V", "_GV"):
            setattr(self, name, _grown(getattr(self, name), (d, R)))

    # -- labels and clusters -------------------------------------------------------------
    def _register_labels(self, cols_before: int):
        """Give new label columns a hash key, a cluster, and a prior bias.

        A label first seen positive now was negative on every earlier record (an absent
        label is negative), so its bias starts at the log-odds of 1 positive in n + 1
        records rather than at 0 (p = 0.5), which would flood the next predictions with
        false positives. The hierarchy puts a new label in a cluster of its own (or, at
        ``max_clusters``, in a shared cluster of newcomers) until its next update places
        it: costs ``O(new labels)``, no reallocation but an occasional doubling.
        """
        L = len(self._labels)
        if L == cols_before:
            return
        self._ensure_capacity()
        prior = np.log(1.0 / (self._n + 1.0)) if self._n else 0.0
        for col in range(cols_before, L):
            self._label_key[col] = _label_key(col)
            self._b[:, col] = prior
        placed = self._hierarchy.add_labels(L)
        index = self._cluster_index
        if not self._clusters:  # the very first labels: the root cluster
            self._apply_clusters(self._hierarchy.leaves(), self._hierarchy.leaf_ids())
            return
        for lab, node in placed:
            i = index.get(node)
            if i is None:  # a new cluster, appended (the hierarchy lists it last)
                i = len(self._clusters)
                if i >= self._cluster_capacity:
                    moves = [(c, c) for c in range(i)]
                    self._relayout(2 * self._cluster_capacity, moves, alternates=True)
                self._clusters.append(())
                self._cluster_nodes.append(node)
                index[node] = i
            self._clusters[i] = self._clusters[i] + (lab,)  # labels arrive in order
            self._label_cluster[lab] = i

    @property
    def _cluster_index(self) -> dict:
        return {node: i for i, node in enumerate(self._cluster_nodes)}

    def _apply_clusters(self, leaves, node_ids):
        """Install a new partition (the hierarchy's leaves and their node ids).

        A cluster whose hierarchy node is still a leaf and has kept all its labels (it
        may have gained some: newcomers that joined it) keeps its powerset and its
        alternate, whose label-set classes stay valid; the others start empty. When no
        kept cluster moves and there is room, this is done in place.
        """
        leaves = [tuple(sorted(c)) for c in leaves]
        node_ids = list(node_ids)
        if leaves == self._clusters and node_ids == self._cluster_nodes:
            return
        old_at = self._cluster_index
        moves = []
        for new_i, (c, node) in enumerate(zip(leaves, node_ids)):
            old_i = old_at.get(node)
            if old_i is not None and set(self._clusters[old_i]) <= set(c):
                moves.append((old_i, new_i))
        n_before = len(self._clusters)
        if (len(leaves) <= self._cluster_capacity
                and all(old_i == new_i for old_i, new_i in moves)):
            kept = {new_i for _, new_i in moves}
            self._reset_clusters([i for i in range(max(len(leaves), n_before))
                                  if i not in kept])
        else:
            capacity = len(leaves) + max(4, len(leaves) // 4)  # room for newcomers
            self._relayout(capacity, moves, alternates=True)
        for new_i, c in enumerate(leaves):
            self._label_cluster[list(c)] = new_i
        self._clusters = leaves
        self._cluster_nodes = node_ids

    def _restructure(self):
        L = len(self._labels)
        max_size = max(1, int(np.ceil(self.max_cluster_share * L)))
        changes = self._hierarchy.update(
            list(self._recent), max_classes=self.max_classes, coverage=self.coverage,
            merge_coverage=self.merge_coverage, delta=self.delta, tau=self.tau,
            max_size=max_size)
        if changes:
            self._apply_clusters(self._hierarchy.leaves(), self._hierarchy.leaf_ids())
            names = self._labels.keys
            for ch in changes:
                self._note_event({
                    "kind": "restructure", "action": ch["action"], "position": self._n,
                    "labels": [names[c] for c in ch["labels"]],
                    "clusters": [[names[c] for c in part] for part in ch["into"]],
                })

    def _note_event(self, event: dict) -> None:
        if len(self._events) == self._events.maxlen:
            self._events_dropped += 1
        self._events.append(event)

    @property
    def events_dropped(self) -> int:
        """Events dropped because nobody called :meth:`pop_events` for a long time."""
        return self._events_dropped

    @property
    def n_clusters(self) -> int:
        """Number of label clusters now."""
        return len(self._clusters)

    @property
    def n_classes(self) -> int:
        """Label-set classes admitted in the clusters' powersets now (alternates excluded)."""
        main = len(self._clusters) * self.max_classes
        return int(self._class_used[:main].sum())

    def clusters(self) -> list:
        """The label clusters, as lists of labels."""
        names = self._labels.keys
        return [[names[c] for c in cluster] for cluster in self._clusters]

    def pop_events(self) -> list:
        """Structural and local-drift events since the last call (dicts with ``kind``,
        ``position``, ``action``, labels). At most ``MAX_PENDING_EVENTS`` are kept between
        calls, so a model nobody reads events from does not grow; the overflow is counted
        in :attr:`events_dropped`."""
        events = list(self._events)
        self._events.clear()
        return events

    @property
    def expert_usage(self) -> dict:
        """How many learned records each expert was the one chosen for (``neighbours``:
        the records the nearest-neighbour expert served instead)."""
        usage = dict(zip(self.expert_names, self._n_expert_used.tolist()))
        if self._nn is not None:
            usage["neighbours"] = self._nn.n_served
        return usage

    def memory_usage(self) -> int:
        """Bytes held by the model's arrays, its router tree's and its label-set window."""
        own = sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))
        window = sum(v.nbytes for v in self._recent)
        window += sum(a.nbytes for block in self._held for a in block)
        if self.rare_memory:
            window += self._rm.memory_usage()
        if self._nn is not None:
            window += self._nn.memory_usage()
        return int(own + window + self._tree.memory_usage())

    # -- encoding ----------------------------------------------------------------------
    def _encode_x(self, x: dict, grow: bool):
        return self._features.encode(x, grow=grow, on_new=self._tree.add_feature)

    def _probe_density(self, x_ptr, x_idx):
        """Count the first records' non-zeros; after ``PROBE_RECORDS`` learned records
        decide dense (standardise) or sparse (scale) input for good."""
        if self._center is not None:
            return
        for i in range(len(x_ptr) - 1):
            cols = x_idx[x_ptr[i]:x_ptr[i + 1]]
            self._probe_nnz += cols.size
            self._probe_features.update(cols.tolist())

    def _settle_center(self):
        if self._center is None and self._n >= self.PROBE_RECORDS:
            denom = self.PROBE_RECORDS * max(1, len(self._probe_features))
            self._center = bool(self._probe_nnz / denom >= 0.25)
            self._probe_features = set()

    # -- the kernel call -----------------------------------------------------------------
    def _run(self, x_ptr, x_idx, x_val, y_ptr, y_idx, learn: bool, u_ptr=None, u_idx=None,
             want_br: bool = False):
        n = len(x_ptr) - 1
        if u_ptr is None:
            u_ptr, u_idx = np.zeros(n + 1, dtype=np.int64), _NO_LABELS
        L = len(self._labels)
        out_pred = np.zeros((n, L), dtype=bool)
        out_score = np.zeros((n, L))
        out_expert = np.zeros(n, dtype=np.int64)
        out_br = np.zeros((n, L) if self.label_thresholds or want_br else (0, 0))
        out_marg = np.zeros((n, L) if want_br else (0, 0))
        extra = (out_br, out_marg) if want_br else ()
        if L == 0:
            return (out_pred, out_score, out_expert) + extra
        if learn:
            self._probe_density(x_ptr, x_idx)
            width = 0
            if y_idx.size > self._class_lab.shape[1]:  # a row may hold more labels
                width = int(np.max(np.diff(y_ptr)))
            if width > self._class_lab.shape[1]:
                self._class_lab = _grown(self._class_lab, (self._class_lab.shape[0], width))
        # the router first: each row's leaf as the tree stood before the row was learned
        # (the tree learns from x and y alone, so it can run ahead of the kernel below)
        if learn:
            leaves = self._route_learn(x_ptr, x_idx, x_val, y_ptr, y_idx)
        else:
            leaves = self._tree.route(x_ptr, x_idx, x_val, y_ptr, y_idx, False)
        self._indicator_rows()
        center = True if self._center is None else self._center
        f = self._f
        K.step(x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, learn, L,
               max(len(self._clusters), 1), self._cluster_capacity, self.max_classes,
               bool(self.autoregressive), center,
               f[0], f[1], f[2], f[3],
               self._state, self._W, self._GW, self._A, self._GA, self._b, self._Gb,
               self._br_lr,
               self._V, self._GV, self._VA, self._GVA, self._Vb, self._GVb,
               self._class_hash, self._class_used, self._class_count, self._class_lab,
               self._class_nlab, self._cand_hash, self._cand_count, self._label_cluster,
               self._label_key, self._prev, int(self.ar_buckets), self._ind_row, leaves,
               self._tree.node_parents, self._node_score, self._node_ready, self._thr_grid,
               self._thr_score, float(self.expert_fade), self.THRESHOLD_FADE,
               float(self.learning_rate), float(self.l2), float(self.min_count),
               robust_value(self.robust), float(self.tail_balance or 0.0), self._lab_count,
               bool(self.local_drift), self._dd, self._alt_on, self._alt_n, self._alt_sum,
               float(self.warning_confidence), float(self.drift_confidence),
               int(self.alternate_patience), self._ev_buf, self._ev_count,
               out_pred, out_score, out_expert, out_br, out_marg)
        if self.label_thresholds:
            self._lt.apply(out_pred, out_br, y_ptr, y_idx, learn, u_ptr, u_idx)
        if self.rare_memory and self._center is False:  # sparse input (text) only
            self._rm.apply(out_pred, x_ptr, x_idx, x_val, y_ptr, y_idx, learn, u_ptr, u_idx,
                           n_columns=len(self._features))
        if self._ev_count[0]:
            self._collect_local_events()
        return (out_pred, out_score, out_expert) + extra

    MAX_HELD = 1024  # rows the router may hold back before it learns them

    def _route_learn(self, x_ptr, x_idx, x_val, y_ptr, y_idx):
        """Route rows to the tree's leaves and teach the tree the rows.

        While the tree is a lone root that cannot split within the next rows
        (:meth:`MultiLabelHoeffdingTree.quiet_records`), every row goes to the root
        whatever the tree learns, so the rows are held back and taught in one call later
        (at most ``MAX_HELD``): the tree sees the same rows in the same order, without a
        call per small chunk.
        """
        n = len(x_ptr) - 1
        held = self._held_rows
        if held + n <= min(self._tree.quiet_records(), self.MAX_HELD):
            self._held.append(tuple(a.copy() for a in (x_ptr, x_idx, x_val, y_ptr, y_idx)))
            self._held_rows = held + n
            return np.zeros(n, dtype=np.int64)
        self._teach_held()
        return self._tree.route(x_ptr, x_idx, x_val, y_ptr, y_idx, True)

    def _teach_held(self):
        """Teach the router the rows held back, in order."""
        if not self._held:
            return
        parts = list(zip(*self._held))
        x_ptr = _stack_ptr(parts[0])
        y_ptr = _stack_ptr(parts[3])
        self._held, self._held_rows = [], 0
        self._tree.route(x_ptr, np.concatenate(parts[1]), np.concatenate(parts[2]), y_ptr,
                         np.concatenate(parts[4]), True)

    _LOCAL_CODES = {1: ("warning", "alternate started"),
                    2: ("replacement", "alternate replaced the cluster's learner"),
                    3: ("warning", "alternate dropped"),
                    4: ("drift", "drift with no better alternate")}

    def _collect_local_events(self):
        names = self._labels.keys
        count = int(min(self._ev_count[0], self._ev_buf.shape[0]))
        for row, cluster, code in self._ev_buf[:count].tolist():
            kind, action = self._LOCAL_CODES[code]
            labels = self._clusters[cluster] if cluster < len(self._clusters) else ()
            self._note_event({"kind": kind, "action": action,
                                 "position": self._n + row,
                                 "labels": [names[c] for c in labels],
                                 "cluster": int(cluster)})
        self._ev_count[0] = 0

    def _after_learning(self, y_rows, experts):
        for cols in y_rows:
            self._recent.append(cols)
            self._n += 1
            self._settle_center()
            if self._n % self.restructure_every == 0:
                self._restructure()
        np.add.at(self._n_expert_used, experts, 1)

    # -- river API ---------------------------------------------------------------------
    def learn_one(self, x, y):
        idx, val = self._encode_x(x, grow=True)
        before = len(self._labels)
        known = self._labels._pos
        fresh = []
        for lab, on in y.items():
            if lab not in known:
                if on:
                    fresh.append(lab)
                    self._named.pop(lab, None)
                else:
                    self._named.setdefault(lab)
        before_pred = None
        if self._nn is not None and fresh:  # as the batched path: predicted before the
            before_pred = self._run(np.array([0, idx.size]), idx, val,  # new labels
                                    np.zeros(2, dtype=np.int64), np.zeros(0, np.int64),
                                    False)[0]
        for lab in LabelIndex.arrival_order(fresh):
            self._labels.add(lab)
        cols = self._labels.positions(y, grow=False)
        self._ensure_capacity()
        self._register_labels(before)
        u_ptr = u_idx = None
        if None in y.values():  # unknown labels: skipped by the updates (see the kernel)
            u_idx = self._labels.unknown_positions(y)
            u_ptr = np.array([0, u_idx.size])
        pred, _, experts = self._run(np.array([0, idx.size]), idx, val,
                                     np.array([0, cols.size]), cols, True, u_ptr, u_idx)
        self._after_learning([cols], experts)
        if self._nn is not None:
            pred = pred if before_pred is None else before_pred
            keys = self._labels.keys
            self._nn.learn_one(x, y, {keys[j] for j in np.flatnonzero(pred[0]).tolist()})

    def predict_scores_one(self, x):
        """The prediction and a score per known label (the chosen expert's), in one pass.

        Labels named in some ``y`` but never positive have no model yet: they are
        predicted ``False`` with score 0.
        """
        if not len(self._labels):
            if not self._named:
                return {}, {}
            return dict.fromkeys(self._named, False), dict.fromkeys(self._named, 0.0)
        idx, val = self._encode_x(x, grow=False)
        pred, score, _ = self._run(np.array([0, idx.size]), idx, val,
                                   np.zeros(2, dtype=np.int64), np.zeros(0, np.int64), False)
        keys = self._labels.keys
        labels, scores = dict(zip(keys, pred[0].tolist())), dict(zip(keys, score[0].tolist()))
        if self._named:
            labels.update(dict.fromkeys(self._named, False))
            scores.update(dict.fromkeys(self._named, 0.0))
        if self._nn is not None:
            return self._nn.predict_one(x, labels, scores)
        return labels, scores

    def disagreement_one(self, x) -> float:
        """How far apart iHOMER's two main experts are on ``x``: the sum over labels of
        ``|m - p|``, ``m`` the label's marginal under the cluster powersets and ``p`` its
        binary relevance probability; 0 when nothing is known yet.
        Active learning's ``cluster-disagreement`` strategy asks for the labels of the
        records where it is largest.

        Examples
        --------
        >>> from river import datasets
        >>> model = IHOMER()
        >>> model.disagreement_one({"Att1": 0.3})
        0.0
        >>> for x, y in datasets.Yeast().take(300):
        ...     model.learn_one(x, y)
        >>> model.disagreement_one(x) > 0
        True
        """
        if not len(self._labels):
            return 0.0
        idx, val = self._encode_x(x, grow=False)
        _, _, _, br, marg = self._run(np.array([0, idx.size]), idx, val,
                                      np.zeros(2, dtype=np.int64), np.zeros(0, np.int64),
                                      False, want_br=True)
        return float(np.abs(marg[0] - br[0]).sum())

    # -- vectorised test-then-train -------------------------------------------------------
    def predict_learn_many(self, batch: Batch):
        """Test-then-train over a batch, record by record, in compiled code.

        Each row is predicted with the model as it stands after learning the rows before
        it, then learned — exactly what a loop of ``predict_scores_one`` and ``learn_one``
        does (a test checks they are equal), without Python per record.

        Returns
        -------
        (pred, scores)
            Boolean predictions and scores, ``(n, len(labels_))`` after the batch; a score
            is NaN where its label was not known yet when the row was predicted.
        """
        f_map = np.asarray([self._tree.add_feature(n) for n in batch.feature_names],
                           dtype=np.int64)
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
            # register the labels that first appear on this row, then run to the next
            # row that brings a new label or to the next restructuring point
            if arrivals.arriving_at(row):
                # as learn_one does: predict the row with the labels known so far, then
                # register its new labels, then learn it
                one = slice(row, row + 1)
                pred, score, _ = self._run(*csr_row_slice(x_ptr, x_idx, x_val, one),
                                           np.zeros(2, np.int64), np.zeros(0, np.int64),
                                           False)
                before = len(self._labels)
                arrivals.arrive(row, self._labels, self._named)
                self._ensure_capacity()
                self._register_labels(before)
                y_ptr, y_idx = label_csr(Y[one], l_map)
                y_rows = split_rows(y_ptr, y_idx)
                u_ptr, u_idx = unknown_csr(None if U is None else U[one], l_map, 1)
                _, _, experts = self._run(*csr_row_slice(x_ptr, x_idx, x_val, one), y_ptr,
                                          y_idx, True, u_ptr, u_idx)
                preds.append(pred)
                scores.append(score)
                self._after_learning(y_rows, experts)
                row += 1
                continue
            end = arrivals.next_arrival(row)
            to_restructure = self.restructure_every - self._n % self.restructure_every
            end = min(end, row + to_restructure)
            if self._center is None and self._n < self.PROBE_RECORDS:
                end = min(end, row + self.PROBE_RECORDS - self._n)
            y_ptr, y_idx = label_csr(Y[row:end], l_map)
            y_rows = split_rows(y_ptr, y_idx)
            u_ptr, u_idx = unknown_csr(None if U is None else U[row:end], l_map, end - row)
            self._ensure_capacity()
            pred, score, experts = self._run(*csr_row_slice(x_ptr, x_idx, x_val,
                                                         slice(row, end)),
                                             y_ptr, y_idx, True, u_ptr, u_idx)
            preds.append(pred)
            scores.append(score)
            self._after_learning(y_rows, experts)
            row = end
        pred, score = arrivals.outputs(preds, scores, self._labels, self._named)
        if self._nn is not None:
            return self._nn.predict_learn_many(batch, pred, score, self._labels.keys)
        return pred, score

    def predict_scores_many(self, batch: Batch):
        """Predictions and scores of every row with the current model (no learning)."""
        n = len(batch)
        if not len(self._labels):
            return np.zeros((n, 0), dtype=bool), np.zeros((n, 0))
        x_ptr, x_idx, x_val = known_feature_rows(batch, self._features)
        pred, score, _ = self._run(x_ptr, x_idx, x_val, np.zeros(n + 1, dtype=np.int64),
                                   np.zeros(0, np.int64), False)
        if self._nn is not None:
            return self._nn.predict_many(batch, pred, score, self._labels.keys)
        return pred, score

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the kernels before the first record."""
        scratch = IHOMER(max_classes=2, label_thresholds=self.label_thresholds,
                         rare_memory=self.rare_memory, neighbours=self.neighbours)
        scratch.learn_one({"a": 1.0}, {"u": True})
        scratch.predict_scores_one({"a": 1.0})
        if self.rare_memory:  # runs on sparse input only, which the scratch model is not
            scratch._rm.warm_up()
