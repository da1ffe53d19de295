"""A mixture of experts for drifting multi-label streams.

After DriftMoE (Aspis, Cajas Ordonez, Suarez-Cetrulo and Simon Carbajo, 2025,
arXiv 2507.18464), written there for multi-class streams and carried here to multi-label
ones, with the project's own fast learners as experts and a generalist beside them.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from river import base

from learners import _moe_kernels as K
from learners._vectorised import LabelArrivals, ScoredLearnerMethods
from learners.logistic import check_robust, robust_value
from stream.batch import (Batch, csr_row_slice, known_feature_rows, label_csr, rows_as_csr,
                          unknown_csr)
from stream.types import FeatureIndex, LabelIndex

__all__ = ["MixtureOfExperts"]


def _grown(a: np.ndarray, shape, fill=0) -> np.ndarray:
    if all(n <= m for n, m in zip(shape, a.shape)):
        return a
    new_shape = tuple(max(n, 2 * m) if n > m else m for n, m in zip(shape, a.shape))
    new = np.full(new_shape, fill, dtype=a.dtype)
    new[tuple(slice(0, m) for m in a.shape)] = a
    return new


class MixtureOfExperts(ScoredLearnerMethods, base.MultiLabelClassifier):
    """Online mixture of experts with a learned router, for streams that change regime.

    **Experts.** A bank of ``n_experts`` specialists, each a binary relevance of online
    logistic regressions (AdaGrad on features standardised online, threshold chosen by
    faded example-F1), plus a *warm candidate* of the same kind. With
    ``experts="data"`` (data-regime experts) the specialists model the whole label set and
    the router's top-k learnable specialists learn each record, so they specialise in
    the regimes the router sends them. With ``experts="task"`` there is one expert per
    label cluster of the generalist (iHOMER's Jaccard clusters); each cluster keeps
    ``n_experts`` versions of its expert, one of which serves and learns, the others
    being memories of earlier regimes, and the router decides which clusters a record
    involves (the union of the chosen clusters' predictions is the answer).

    **Generalist.** An :class:`learners.ihomer.IHOMER` learns every record
    (``generalist=True``). For data experts it is one more output of the router. The
    mixture's answer replaces the generalist's only while a gate finds it better: the
    faded mean of the per-record example-F1 difference (mixture minus generalist, factor
    ``gate_fade``) must exceed ``gate_z`` standard errors plus ``gate_margin``. So on a
    stationary stream the mixture costs at most noise against the generalist, and after
    a change it serves as soon as it is measurably better.

    **Router.** A one-hidden-layer MLP in numpy/numba (``hidden`` tanh units) on the
    standardised record plus two context inputs per output (recent example-F1 of the
    expert, and its gap to the best one; for task experts, the cluster's recent F1 and
    whether the previous record involved it) whose weights all outputs share. It learns
    online by Adam (``router_lr``) on the binary cross-entropy against a *correctness
    mask* over the last ``router_batch`` records, every ``router_every`` records: an
    output is right on a record when its example-F1 there reaches
    ``correct_threshold`` (task experts: when its cluster is involved and the cluster's
    F1 reaches it); if none is right, the best is marked. Routing takes the ``top_k``
    largest logits and weighs them by ``softmax(z / temperature)``; the prediction is
    their weighted vote (task experts: the top-k clusters whose
    ``sigmoid(z / temperature)`` reaches ``include_threshold``).

    **Drift.** Each routed specialist (data) or each cluster's serving expert (task) is
    watched by an HDDM-A test on its loss ``1 - example F1``. A warning restarts the
    candidate, which then learns the new regime from every record. A drift freezes the
    failing expert (it keeps predicting, as a memory of its regime, but no longer
    learns) and either reactivates a memory that is doing better than the candidate now
    (a recurring regime) or copies the candidate into the least used slot. A memory that
    beats every learning expert by ``reactivate_margin`` learns again. Every such event is
    reported by :meth:`pop_events`, with the generalist's own events.

    **Unknown labels.** A label mapped to ``None`` in ``y`` is unknown for that record:
    the generalist skips it (see :class:`learners.ihomer.IHOMER`), the experts' weights
    for it are left as they were, and the router's correctness mask, the gate, the
    thresholds and the drift tests score the record on its known labels only.

    Parameters
    ----------
    experts
        ``"data"`` (data-regime experts) or ``"task"`` (one expert per label cluster).
    n_experts
        Specialist slots (data) or versions per cluster (task).
    top_k
        Outputs routed per record (``None``: 1 for data experts, 3 for task experts).
    temperature
        Softmax temperature of the routing weights.
    hidden
        Hidden units of the router.
    router_lr, router_l2
        Adam step and L2 penalty of the router.
    router_batch, router_every
        The router learns from the last ``router_batch`` records every ``router_every``
        records.
    correct_threshold
        Example-F1 at which an expert counts as right on a record.
    include_threshold
        Task experts: router probability at which a routed cluster is included.
    learning_rate, l2
        AdaGrad step and L2 penalty of the experts.
    generalist
        Run an iHOMER generalist beside the mixture and gate the mixture against it.
    gate_fade, gate_z, gate_margin
        Fading factor, standard errors and margin of the gate (see above).
    fast_fade
        Fading factor of the experts' recent example-F1 (router context, reactivation).
    drift_confidence, warning_confidence
        HDDM-A confidence levels of a drift and of a warning.
    candidate_cooldown
        Records the candidate learns before a new warning may restart it.
    reactivate_margin
        Recent-F1 lead with which a memory expert serves again.
    min_records
        Records an expert learns before it may be routed to for a prediction.
    seed
        Seed of the router's initial weights.
    robust
        Noisy labels: ``None`` (plain learning) or ``r`` in ``(0, 1]``, the weight
        ``1 - r * p`` on the step of a label the record says is absent, in every bank
        model and in the generalist (see :class:`learners.logistic.LogisticBinaryRelevance`).
    neighbours
        Whether the generalist runs its nearest-neighbour expert (``IHOMER(neighbours=)``).

    Examples
    --------
    >>> from river import datasets
    >>> model = MixtureOfExperts()
    >>> model.predict_one({"Att1": 0.3})
    {}
    >>> for x, y in datasets.Yeast().take(300):
    ...     model.learn_one(x, y)
    >>> sorted(model.predict_one(x)) == sorted(y)
    True
    >>> usage = model.expert_usage  # who answered each learned record
    >>> usage["generalist"] + usage["mixture"]
    300
    """

    _sparse_labels = True  # labels absent from y are negative; None is unknown
    THRESHOLD_GRID = tuple(round(0.1 + 0.05 * i, 2) for i in range(11))
    THRESHOLD_FADE = 0.998
    USAGE_FADE = 0.999
    SLOW_FADE = 0.995  # an expert's longer-run example-F1: a memory's home level
    REPLACE_Z = 3.0  # standard errors by which the candidate must beat an expert
    PROBE_RECORDS = 20
    MAX_PENDING_EVENTS = 10_000
    _CODES = {K.EV_WARNING: ("warning", "candidate restarted"),
              K.EV_DRIFT: ("drift", "expert failing: a copy kept as a memory"),
              K.EV_REPLACED: ("replacement", "slot replaced from the warm candidate"),
              K.EV_REACTIVATED: ("replacement", "memory expert reactivated")}

    robust = None  # models pickled before the option learn as without it
    neighbours = True  # the generalist of an older pickle knows whether it has them

    def __init__(self, experts: str = "data", n_experts: int = 4, top_k: int | None = None,
                 temperature: float = 1.0, hidden: int = 32, router_lr: float = 0.005,
                 router_l2: float = 1e-4, router_batch: int = 32, router_every: int = 8,
                 correct_threshold: float = 0.5, include_threshold: float = 0.1,
                 learning_rate: float = 0.1, l2: float = 1e-4, generalist: bool = True,
                 gate_fade: float = 0.98, gate_z: float = 2.0, gate_margin: float = 0.0,
                 fast_fade: float = 0.95, drift_confidence: float = 0.001,
                 warning_confidence: float = 0.005, candidate_cooldown: int = 50,
                 reactivate_margin: float = 0.05, min_records: int = 10, seed: int = 0,
                 robust: float | None = None, neighbours: bool = True):
        self.experts = experts
        self.n_experts = n_experts
        self.top_k = top_k
        self.temperature = temperature
        self.hidden = hidden
        self.router_lr = router_lr
        self.router_l2 = router_l2
        self.router_batch = router_batch
        self.router_every = router_every
        self.correct_threshold = correct_threshold
        self.include_threshold = include_threshold
        self.learning_rate = learning_rate
        self.l2 = l2
        self.generalist = generalist
        self.gate_fade = gate_fade
        self.gate_z = gate_z
        self.gate_margin = gate_margin
        self.fast_fade = fast_fade
        self.drift_confidence = drift_confidence
        self.warning_confidence = warning_confidence
        self.candidate_cooldown = candidate_cooldown
        self.reactivate_margin = reactivate_margin
        self.min_records = min_records
        self.seed = seed
        self.robust = robust
        self.neighbours = bool(neighbours)
        check_robust(robust)
        if experts not in ("data", "task"):
            raise ValueError(f"experts must be 'data' or 'task', got {experts!r}")
        if experts == "task" and not generalist:
            raise ValueError("task experts follow the generalist's label clusters: "
                             "they need generalist=True")
        if n_experts < 1 or hidden < 1 or router_batch < 1 or router_every < 1:
            raise ValueError("n_experts, hidden, router_batch and router_every must be >= 1")
        if top_k is not None and top_k < 1:
            raise ValueError("top_k must be >= 1 (or None)")
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        if not 0.0 < drift_confidence < warning_confidence < 1.0:
            raise ValueError("need 0 < drift_confidence < warning_confidence < 1")
        self._features = FeatureIndex()
        self._labels = LabelIndex()
        self._named: dict = {}
        self._n = 0
        self._center = None
        self._probe_nnz = 0
        self._probe_features: set = set()
        self._events: deque = deque(maxlen=self.MAX_PENDING_EVENTS)
        self._events_dropped = 0
        self._groups: list = [] if experts == "task" else [None]
        self._outputs_made = 0
        self._gen = None
        self._gen_map = np.zeros(0, dtype=np.int64)
        if generalist:
            from learners.ihomer import IHOMER

            self._gen = IHOMER(robust=robust, neighbours=self.neighbours)
        self._init_arrays()

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"experts": "task", "n_experts": 2}
        yield {"generalist": False, "n_experts": 3, "top_k": 2, "hidden": 8}

    # -- state arrays ------------------------------------------------------------------
    @property
    def _k(self) -> int:
        if self.top_k is not None:
            return int(self.top_k)
        return 1 if self.experts == "data" else 3

    @property
    def _task(self) -> bool:
        return self.experts == "task"

    def _fresh_columns(self, count: int) -> np.ndarray:
        """Initial router output weights for ``count`` new outputs, from the seed."""
        cols = np.zeros((self.hidden, count))
        for c in range(count):
            rng = np.random.default_rng([int(self.seed), 1, self._outputs_made])
            cols[:, c] = rng.normal(0.0, 1.0 / np.sqrt(self.hidden), self.hidden)
            self._outputs_made += 1
        return cols

    def _init_arrays(self):
        d, L = 16, 4
        S = int(self.n_experts)
        G = 1 if not self._task else 4
        E = S + 1 if not self._task else G
        H = int(self.hidden)
        B = int(self.router_batch)
        NG = len(self.THRESHOLD_GRID)
        self._f = np.zeros((4, d))
        self._istate = np.zeros(5, dtype=np.int64)
        self._W = np.zeros((S + 1, d, L))
        self._GW = np.zeros((S + 1, d, L))
        self._b = np.zeros((S + 1, L))
        self._Gb = np.zeros((S + 1, L))
        self._thr_grid = np.asarray(self.THRESHOLD_GRID)
        self._thr_score = np.zeros((S + 1, G, NG))
        # per (slot, group): records learned, usage, recent F1, longer-run F1, home level
        self._stats = np.zeros((5, S + 1, G))
        self._learnable = np.ones(S, dtype=bool)
        self._label_group = np.zeros(L, dtype=np.int64)
        self._act_lab = np.zeros(L, dtype=np.int64)
        self._grp_ptr = np.zeros(2, dtype=np.int64)
        self._grp_lab = np.zeros(0, dtype=np.int64)
        self._gstat = np.zeros(4)
        # router parameters, each with its Adam moments: (value, first, second)
        rng = np.random.default_rng([int(self.seed), 0])
        self._R1 = np.zeros((3, d, H))  # grows with the features: zero rows, set by learning
        self._Rb1 = np.zeros((3, H))
        self._Rb1[0] = rng.normal(0.0, 0.5, H)
        self._R2 = np.zeros((3, H, E))
        self._Rb2 = np.zeros((3, E))
        self._Ra = np.zeros((3, 2))
        self._Ra[0] = (2.0, 5.0)  # prior: recent F1, and its gap to the best
        n_out = S + 1 if not self._task else 0
        if n_out:
            self._R2[0, :, :n_out] = self._fresh_columns(n_out)
        self._ctx = np.zeros((E, 2))
        self._buf_idx = np.zeros((B, d), dtype=np.int64)  # present features of the
        self._buf_val = np.zeros((B, d))                     # recent records, standardised
        self._buf_nnz = np.zeros(B, dtype=np.int64)
        self._buf_ctx = np.zeros((B, E, 2))
        self._buf_mask = np.zeros((B, E))
        self._buf_valid = np.zeros((B, E), dtype=bool)
        self._dd = np.zeros((E, 4))
        self._warn_on = np.zeros(E, dtype=bool)
        self._alt = np.zeros((E, 3))
        self._age = np.zeros(E)
        self._ev_buf = np.zeros((256, 5), dtype=np.int64)
        self._ev_count = np.zeros(1, dtype=np.int64)
        self._n_choice = np.zeros(S + 2, dtype=np.int64)  # generalist, top slot / clusters

    def _ensure_capacity(self):
        d, L = len(self._features), len(self._labels)
        S1 = self._W.shape[0]
        if d > self._W.shape[1] or L > self._W.shape[2]:
            for name in ("_W", "_GW"):
                setattr(self, name, _grown(getattr(self, name), (S1, d, L)))
            for name in ("_b", "_Gb"):
                setattr(self, name, _grown(getattr(self, name), (S1, L)))
            for name in ("_label_group", "_act_lab"):
                setattr(self, name, _grown(getattr(self, name), (L,)))
        if d > self._f.shape[1]:
            self._f = _grown(self._f, (4, d))
            self._R1 = _grown(self._R1, (3, d, self._R1.shape[2]))

    def _ensure_groups(self, G: int):
        """Room for ``G`` label groups (task experts: one router output each)."""
        _, S1, Gc = self._stats.shape
        if G <= Gc:
            return
        NG = self._thr_grid.size
        self._thr_score = _grown(self._thr_score, (S1, G, NG))
        self._stats = _grown(self._stats, (5, S1, G))
        H, B = self._R2.shape[1], self._buf_nnz.shape[0]
        self._R2 = _grown(self._R2, (3, H, G))
        self._Rb2 = _grown(self._Rb2, (3, G))
        self._ctx = _grown(self._ctx, (G, 2))
        self._buf_ctx = _grown(self._buf_ctx, (B, G, 2))
        self._buf_mask = _grown(self._buf_mask, (B, G))
        self._buf_valid = _grown(self._buf_valid, (B, G))
        self._dd = _grown(self._dd, (G, 4))
        self._warn_on = _grown(self._warn_on, (G,))
        self._alt = _grown(self._alt, (G, 3))
        self._age = _grown(self._age, (G,))

    # -- labels, groups ----------------------------------------------------------------
    def _register_labels(self, cols_before: int):
        L = len(self._labels)
        if L == cols_before:
            return
        self._ensure_capacity()
        prior = np.log(1.0 / (self._n + 1.0)) if self._n else 0.0
        for col in range(cols_before, L):
            self._b[:, col] = prior
            self._act_lab[col] = 0
            self._label_group[col] = 0
        if not self._task:
            self._grp_ptr = np.array([0, L], dtype=np.int64)
            self._grp_lab = np.arange(L, dtype=np.int64)
        self._map_generalist()

    def _map_generalist(self):
        if self._gen is None:
            return
        pos = {name: j for j, name in enumerate(self._gen.labels_)}
        self._gen_map = np.array([pos.get(name, -1) for name in self._labels.keys],
                                 dtype=np.int64)

    def _sync_groups(self):
        """Task experts: follow the generalist's label clusters, keeping what is kept.

        A new cluster inherits the per-cluster state (router output, thresholds, drift
        detector, recent scores) of the old cluster it shares most labels with; the
        experts' weights are per label and stay where they are.
        """
        if not self._task:
            return
        pos = self._labels._pos
        groups = []
        covered = set()
        for cluster in self._gen.clusters():
            cols = sorted(pos[name] for name in cluster if name in pos)
            if cols:
                groups.append(tuple(cols))
                covered.update(cols)
        for col in range(len(self._labels)):
            if col not in covered:
                groups.append((col,))
        if groups == self._groups:
            return
        old = self._groups
        parent = []
        for g in groups:
            best, best_n = -1, 0
            members = set(g)
            for i, o in enumerate(old):
                n = len(members.intersection(o))
                if n > best_n:
                    best, best_n = i, n
            parent.append(best)
        G = len(groups)
        self._ensure_groups(G)
        src = np.array(parent, dtype=np.int64)
        has = src >= 0
        fresh = np.flatnonzero(~has)
        take = np.where(has, src, 0)

        def remap(arr, axis):
            moved = np.take(arr, take, axis=axis)
            idx = [slice(None)] * arr.ndim
            idx[axis] = fresh
            moved[tuple(idx)] = 0
            idx[axis] = slice(0, G)
            arr[tuple(idx)] = moved

        for name in ("_stats", "_R2"):
            remap(getattr(self, name), 2)
        for name in ("_thr_score", "_Rb2", "_buf_mask", "_buf_valid", "_buf_ctx"):
            remap(getattr(self, name), 1)
        for name in ("_ctx", "_dd", "_warn_on", "_alt", "_age"):
            remap(getattr(self, name), 0)
        if fresh.size:
            self._R2[0][:, fresh] = self._fresh_columns(fresh.size)
        self._groups = groups
        L = len(self._labels)
        ptr = np.zeros(G + 1, dtype=np.int64)
        lab = np.zeros(L, dtype=np.int64)
        k = 0
        for g, cols in enumerate(groups):
            for col in cols:
                self._label_group[col] = g
                lab[k] = col
                k += 1
            ptr[g + 1] = k
        self._grp_ptr, self._grp_lab = ptr, lab

    @property
    def _sync_every(self) -> int:
        return self._gen.restructure_every if self._gen is not None else 0

    # -- events and introspection ---------------------------------------------------------
    def _note_event(self, event: dict) -> None:
        if len(self._events) == self._events.maxlen:
            self._events_dropped += 1
        self._events.append(event)

    def _collect_events(self):
        names = self._labels.keys
        count = int(min(self._ev_count[0], self._ev_buf.shape[0]))
        for row, code, slot, group, memory in self._ev_buf[:count].tolist():
            kind, action = self._CODES[code]
            if self._task and group < len(self._groups):
                labels = [names[c] for c in self._groups[group]]
            else:
                labels = []
            event = {"kind": kind, "action": action, "position": self._n + row,
                     "labels": labels, "expert": int(slot), "variant": self.experts}
            if self._task:
                event["group"] = int(group)
            if memory >= 0:
                event["memory"] = int(memory)
            self._note_event(event)
        self._ev_count[0] = 0

    def pop_events(self) -> list:
        """Drift events since the last call: the experts' (warnings, frozen experts,
        replacements, reactivations) and the generalist's, as dicts with ``kind``,
        ``position``, ``action`` and ``labels``."""
        events = list(self._events)
        self._events.clear()
        if self._gen is not None:
            for event in self._gen.pop_events():
                events.append({**event, "action": "generalist: " + str(event.get("action"))})
            events.sort(key=lambda e: e["position"])
        return events

    @property
    def events_dropped(self) -> int:
        """Events dropped because nobody called :meth:`pop_events` for a long time."""
        return self._events_dropped

    @property
    def expert_usage(self) -> dict:
        """Learned records by what answered them: the generalist (gate closed) or the
        mixture (gate open), and for data experts the mixture's top output."""
        counts = self._n_choice.tolist()
        out = {"generalist": counts[0], "mixture": sum(counts[1:])}
        if not self._task:
            for e in range(self.n_experts):
                out[f"expert_{e}"] = counts[1 + e]
            out["mixture_generalist"] = counts[1 + self.n_experts]
        return out

    @property
    def frozen_experts(self) -> list:
        """Data experts: the slots kept as memories (not learning now)."""
        return np.flatnonzero(~self._learnable).tolist()

    @property
    def groups(self) -> list:
        """The label groups the experts serve (task: the generalist's clusters)."""
        names = self._labels.keys
        if not self._task:
            return [names]
        return [[names[c] for c in g] for g in self._groups]

    def memory_usage(self) -> int:
        """Bytes held by the model's arrays (with the generalist's)."""
        own = sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))
        return int(own + (self._gen.memory_usage() if self._gen is not None else 0))

    # -- encoding -------------------------------------------------------------------------
    def _probe_density(self, x_ptr, x_idx):
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

    def _gen_arrays(self, P, S, n):
        """The generalist's predictions as ``(n, L)`` arrays over this model's columns."""
        L = len(self._labels)
        pred = np.zeros((n, L), dtype=bool)
        score = np.zeros((n, L))
        if self._gen is None or P is None:
            return pred, score
        gm = self._gen_map[:L]
        ok = (gm >= 0) & (gm < P.shape[1])
        if ok.any():
            pred[:, ok] = P[:, gm[ok]]
            sc = S[:, gm[ok]]
            score[:, ok] = np.where(np.isnan(sc), 0.0, sc)
        return pred, score

    # -- the kernel call ------------------------------------------------------------------
    def _hyper(self) -> np.ndarray:
        """The hyper-parameters in the kernels' order (``_moe_kernels.HYPER``)."""
        values = {"thr_fade": self.THRESHOLD_FADE, "usage_fade": self.USAGE_FADE,
                  "slow_fade": self.SLOW_FADE, "replace_z": self.REPLACE_Z,
                  "lr": self.learning_rate, "top_k": self._k,
                  "robust": robust_value(self.robust)}
        return np.array([float(values[k] if k in values else getattr(self, k))
                         for k in K.HYPER])

    def _run(self, x_ptr, x_idx, x_val, y_ptr, y_idx, learn: bool, gen_pred, gen_score,
             u_ptr=None, u_idx=None):
        n = len(x_ptr) - 1
        if u_ptr is None:
            u_ptr, u_idx = np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        L = len(self._labels)
        out_pred = np.zeros((n, L), dtype=bool)
        out_score = np.zeros((n, L))
        out_choice = np.zeros(n, dtype=np.int64)
        if L == 0:
            return out_pred, out_score
        if learn:
            self._probe_density(x_ptr, x_idx)
        center = True if self._center is None else self._center
        all_labs = np.arange(L, dtype=np.int64)
        if learn and n:
            width = int(np.max(np.diff(x_ptr)))
            if width > self._buf_idx.shape[1]:
                B = self._buf_nnz.shape[0]
                self._buf_idx = _grown(self._buf_idx, (B, width))
                self._buf_val = _grown(self._buf_val, (B, width))
        gen = (self._gen is not None, gen_pred, gen_score, self._gstat)
        router = (self._R1, self._Rb1, self._R2, self._Rb2, self._Ra, self._ctx,
                  self._buf_idx, self._buf_val, self._buf_nnz, self._buf_ctx, self._buf_mask,
                  self._buf_valid)
        tail = (self._dd, self._warn_on, self._alt, self._age, self._ev_buf, self._ev_count,
                out_pred, out_score, out_choice)
        if not self._task:
            K.step_data(x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, learn, L, center,
                        self._hyper(), self._f, self._istate, self._W, self._GW, self._b,
                        self._Gb, all_labs,
                        self._thr_grid, self._thr_score, self._stats, self._learnable, *gen,
                        *router, *tail)
        else:
            K.step_task(x_ptr, x_idx, x_val, y_ptr, y_idx, u_ptr, u_idx, learn, L,
                        len(self._groups), center, self._hyper(), self._f, self._istate,
                        self._W, self._GW,
                        self._b, self._Gb, all_labs, self._label_group, self._grp_ptr,
                        self._grp_lab, self._act_lab, self._thr_grid, self._thr_score,
                        self._stats, *gen, *router, *tail)
        if self._ev_count[0]:
            self._collect_events()
        if learn:
            if self._task:
                self._n_choice[0] += int(np.sum(out_choice < 0))
                self._n_choice[1] += int(np.sum(out_choice >= 0))
            else:
                np.add.at(self._n_choice, out_choice + 1, 1)
        return out_pred, out_score

    def _after_learning(self, n_rows: int):
        for _ in range(n_rows):
            self._n += 1
            self._settle_center()
            if self._task and self._n % self._sync_every == 0:
                self._sync_groups()

    # -- river API ------------------------------------------------------------------------
    def _gen_one(self, x):
        if self._gen is None:
            return None, None
        labels, scores = self._gen.predict_scores_one(x)
        L = len(self._labels)
        pred = np.zeros((1, L), dtype=bool)
        score = np.zeros((1, L))
        for col, name in enumerate(self._labels.keys):
            if labels.get(name):
                pred[0, col] = True
            score[0, col] = scores.get(name, 0.0)
        return pred, score

    def learn_one(self, x, y):
        gen_pred, gen_score = self._gen_one(x)
        if self._gen is not None:
            self._gen.learn_one(x, y)
        idx, val = self._features.encode(x, grow=True)
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
        for lab in LabelIndex.arrival_order(fresh):
            self._labels.add(lab)
        cols = self._labels.positions(y, grow=False)
        self._ensure_capacity()
        self._register_labels(before)
        if len(self._labels) > before:
            self._sync_groups()
        L = len(self._labels)
        if gen_pred is None:
            gen_pred, gen_score = np.zeros((1, L), dtype=bool), np.zeros((1, L))
        elif gen_pred.shape[1] < L:  # labels new on this record: the generalist had none
            gen_pred = np.pad(gen_pred, ((0, 0), (0, L - gen_pred.shape[1])))
            gen_score = np.pad(gen_score, ((0, 0), (0, L - gen_score.shape[1])))
        u_ptr = u_idx = None
        if None in y.values():  # unknown labels: skipped by the experts and the router
            u_idx = self._labels.unknown_positions(y)
            u_ptr = np.array([0, u_idx.size])
        self._run(np.array([0, idx.size]), idx, val, np.array([0, cols.size]), cols, True,
                  gen_pred, gen_score, u_ptr, u_idx)
        self._after_learning(1)

    def predict_scores_one(self, x):
        """The prediction and a score per known label, in one pass.

        Labels named in some ``y`` but never positive are predicted ``False`` with
        score 0.
        """
        if not len(self._labels):
            if not self._named:
                return {}, {}
            return dict.fromkeys(self._named, False), dict.fromkeys(self._named, 0.0)
        gen_pred, gen_score = self._gen_one(x)
        if gen_pred is None:
            gen_pred, gen_score = self._gen_arrays(None, None, 1)
        idx, val = self._features.encode(x, grow=False)
        pred, score = self._run(np.array([0, idx.size]), idx, val, np.zeros(2, dtype=np.int64),
                                np.zeros(0, np.int64), False, gen_pred, gen_score)
        keys = self._labels.keys
        labels, scores = dict(zip(keys, pred[0].tolist())), dict(zip(keys, score[0].tolist()))
        if self._named:
            labels.update(dict.fromkeys(self._named, False))
            scores.update(dict.fromkeys(self._named, 0.0))
        return labels, scores

    # -- vectorised test-then-train ---------------------------------------------------------
    @staticmethod
    def _rows(batch: Batch, a: int, b: int) -> Batch:
        unknown = getattr(batch, "unknown", None)
        if unknown is not None:
            unknown = unknown[a:b] if unknown[a:b].any() else None
        return Batch(batch.X[a:b], batch.Y[a:b], batch.feature_names, batch.label_names,
                     unknown)

    def _gen_many(self, batch: Batch, a: int, b: int):
        if self._gen is None:
            return None, None
        return self._gen.predict_learn_many(self._rows(batch, a, b))

    def predict_learn_many(self, batch: Batch):
        """Test-then-train over a batch, record by record, in compiled code.

        The generalist runs its own batched path over each stretch of rows first (its
        predictions of a row do not depend on the mixture), then the mixture's kernel runs
        over the same rows with them. Stretches end where a label first appears, where
        the task experts follow a restructuring of the generalist's clusters, and where
        the dense-or-sparse probe ends, so the result equals ``predict_scores_one`` then
        ``learn_one`` on every row (a test checks it).

        Returns
        -------
        (pred, scores)
            Boolean predictions and scores, ``(n, len(labels_))`` after the batch; a score
            is NaN where its label was not known yet when the row was predicted.
        """
        f_map = self._features.add_all(batch.feature_names)
        self._ensure_capacity()
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
                one = slice(row, row + 1)
                GP, GS = self._gen_many(batch, row, row + 1)
                self._map_generalist()
                gp, gs = self._gen_arrays(GP, GS, 1)
                pred, score = self._run(*csr_row_slice(x_ptr, x_idx, x_val, one),
                                        np.zeros(2, np.int64), np.zeros(0, np.int64), False,
                                        gp, gs)
                before = len(self._labels)
                arrivals.arrive(row, self._labels, self._named)
                self._ensure_capacity()
                self._register_labels(before)
                self._sync_groups()
                gp, gs = self._gen_arrays(GP, GS, 1)
                y_ptr, y_idx = label_csr(Y[one], l_map)
                u_ptr, u_idx = unknown_csr(None if U is None else U[one], l_map, 1)
                self._run(*csr_row_slice(x_ptr, x_idx, x_val, one), y_ptr, y_idx, True, gp, gs,
                          u_ptr, u_idx)
                preds.append(pred)
                scores.append(score)
                self._after_learning(1)
                row += 1
                continue
            end = arrivals.next_arrival(row)
            if self._task:
                end = min(end, row + self._sync_every - self._n % self._sync_every)
            if self._center is None and self._n < self.PROBE_RECORDS:
                end = min(end, row + self.PROBE_RECORDS - self._n)
            GP, GS = self._gen_many(batch, row, end)
            gp, gs = self._gen_arrays(GP, GS, end - row)
            y_ptr, y_idx = label_csr(Y[row:end], l_map)
            u_ptr, u_idx = unknown_csr(None if U is None else U[row:end], l_map, end - row)
            pred, score = self._run(*csr_row_slice(x_ptr, x_idx, x_val, slice(row, end)),
                                    y_ptr, y_idx, True, gp, gs, u_ptr, u_idx)
            preds.append(pred)
            scores.append(score)
            self._after_learning(end - row)
            row = end
        return arrivals.outputs(preds, scores, self._labels, self._named)

    def predict_scores_many(self, batch: Batch):
        """Predictions and scores of every row with the current model (no learning)."""
        n = len(batch)
        if not len(self._labels):
            return np.zeros((n, 0), dtype=bool), np.zeros((n, 0))
        if self._gen is not None:
            GP, GS = self._gen.predict_scores_many(batch)
            gp, gs = self._gen_arrays(GP, GS, n)
        else:
            gp, gs = self._gen_arrays(None, None, n)
        x_ptr, x_idx, x_val = known_feature_rows(batch, self._features)
        return self._run(x_ptr, x_idx, x_val, np.zeros(n + 1, dtype=np.int64),
                         np.zeros(0, np.int64), False, gp, gs)

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the kernels before the first record.

        A cold compile of one variant's kernels takes tens of seconds (numba caches them
        on disk afterwards): a worker calls this before it subscribes, benchmarks before
        timing. No state changes.
        """
        scratch = MixtureOfExperts(experts=self.experts, n_experts=1, hidden=2,
                                   generalist=self.generalist)
        scratch.learn_one({"a": 1.0}, {"u": True})
        scratch.predict_scores_one({"a": 1.0})
        if self._gen is not None:
            self._gen.warm_up()
