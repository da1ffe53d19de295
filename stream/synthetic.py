"""A seeded synthetic multi-label stream with label dependencies and scheduled drift.

:class:`MultiLabelGenerator` is the ground truth of the project's drift and clustering
tests. It follows the "labels conditional on features" family of MOA's multi-label
generators (Read, Pfahringer and Holmes, 2012): each record draws features ``x`` and then
sets every label from a noisy linear function of ``x``. Labels come in groups ("clusters")
that share one direction in feature space, so labels of a group co-occur and labels of
different groups are independent. :class:`Drift` schedules changes of the feature
distribution, of the feature-to-label mapping, or of which labels co-occur, at known
positions and with known shapes.

The model
---------
Let ``u ~ N(0, I_D)`` be a latent vector and ``eps ~ N(0, I_L)`` label noise, both fresh
for every record. A *concept* is a tuple ``(m, T, V, b)``:

* features: ``x = m + T u`` (at the start ``m = 0`` and ``T = I``, so ``x ~ N(0, I)``);
* labels: ``y_l = [a_l . x + b_l + noise * eps_l > 0]`` with ``a_l = V_l T^-1``,
  where ``V_l`` is a unit vector. Labels of one group share the same ``V_l``; the
  directions of different groups are orthonormal. ``a_l . m = 0`` always holds, so the
  score ``a_l . x = V_l . u`` is ``N(0, 1)`` under every concept.

Hence ``P(y_l = 1 | x) = Phi((a_l . x + b_l) / noise)``, a probit model that a linear
learner can fit, and the prevalence of label ``l`` is ``Phi(b_l / sqrt(1 + noise^2))``.
The biases ``b`` are drawn once so that the prevalences of the initial labels sum to
``cardinality``, and no drift ever changes them: **every drift target keeps each
label's prevalence exactly** (see :class:`Drift`).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from stream.types import Features, Labels

__all__ = ["Drift", "MultiLabelGenerator"]

DRIFT_KINDS = ("sudden", "gradual", "incremental", "recurring")
DRIFT_TARGETS = ("p_y_given_x", "p_x", "correlation")

_BLOCK_SIZE = 2048  # records drawn per vectorised block; fixed so streams never depend on it
_PX_SHIFT = 1.5  # standard deviation of the latent mean shift of a p_x drift
_PX_SCALE = 2.5  # a p_x drift rescales latent axes by factors in [1/_PX_SCALE, _PX_SCALE]
_PREVALENCE_SPREAD = 0.35  # log-normal spread of the label prevalences around the mean
_MIN_PREVALENCE, _MAX_PREVALENCE = 0.01, 0.95


@dataclass(frozen=True)
class Drift:
    """One scheduled concept change of a :class:`MultiLabelGenerator`.

    Parameters
    ----------
    position
        Index (0-based) of the first record drawn (wholly or partly) from the new concept.
    kind
        Shape of the change in time, with ``lambda(t)`` the weight of the new concept at
        record ``t``:

        * ``"sudden"``: ``lambda = 1`` from ``position`` on. ``width`` must be 0.
        * ``"gradual"``: record ``t`` comes *entirely* from the new concept with
          probability ``lambda(t) = (t - position + 1) / width`` over the ``width``
          records ``position .. position + width - 1``, otherwise entirely from the old
          one (a mixture of two concepts). ``width >= 1``.
        * ``"incremental"``: over the same ``width`` records, every record comes from one
          concept whose parameters are interpolated with weight ``lambda(t)``: the means
          and the linear map of the features (``p_x``), or each label's direction,
          normalised linear interpolation (``p_y_given_x``, ``correlation``).
          ``width >= 1``.
        * ``"recurring"``: the new concept takes over at ``position`` and the concept
          active before it returns at ``position + duration``. Both switches are sudden
          if ``width == 0`` and gradual (as above) over ``width`` records otherwise.
    target
        What changes (every target keeps each label's prevalence exactly):

        * ``"p_y_given_x"``: real drift. The affected label groups get fresh feature
          directions, orthogonal to the old ones where there is room, so ``P(y | x)``
          changes while ``P(x)``, the label prevalences and the co-occurrence structure
          stay the same. With ``labels``, only those labels move: the affected part of
          each group moves to one new direction together, so it splits off the group.
        * ``"p_x"``: virtual drift. Feature means move and variances change, but only in
          the subspace that no label depends on, so the true mapping ``P(y | x)`` and
          the joint distribution of ``y`` stay exactly the same. Needs fewer label
          directions than ``n_features``; ``labels`` must be ``None``.
        * ``"correlation"``: the affected labels are dealt round-robin into the existing
          groups, so labels that co-occurred are split up and labels from different
          groups join: pairwise Jaccard similarities change markedly while every label's
          prevalence stays the same. A moved label now follows its new group's
          direction, so its ``P(y_l | x)`` changes too. Needs at least two groups.
    width
        Length in records of a gradual or incremental change (0 for sudden).
    duration
        ``recurring`` only: records from ``position`` until the old concept returns; at
        least ``max(width, 1)``.
    labels
        Label names the change is restricted to (``None``: all labels, including labels
        that appear later).

    Examples
    --------
    >>> Drift(5000, kind="gradual", width=1000)  # doctest: +NORMALIZE_WHITESPACE
    Drift(position=5000, kind='gradual', target='p_y_given_x', width=1000,
          duration=None, labels=None)
    """

    position: int
    kind: str = "sudden"
    target: str = "p_y_given_x"
    width: int = 0
    duration: int | None = None
    labels: Sequence[str] | None = None

    def __post_init__(self):
        if isinstance(self.position, bool) or not isinstance(self.position, (int, np.integer)):
            raise TypeError(f"position must be an int, got {self.position!r}")
        if self.position < 0:
            raise ValueError(f"position must be >= 0, got {self.position}")
        if self.kind not in DRIFT_KINDS:
            raise ValueError(f"kind must be one of {DRIFT_KINDS}, got {self.kind!r}")
        if self.target not in DRIFT_TARGETS:
            raise ValueError(f"target must be one of {DRIFT_TARGETS}, got {self.target!r}")
        if self.width < 0:
            raise ValueError(f"width must be >= 0, got {self.width}")
        if self.kind == "sudden" and self.width != 0:
            raise ValueError("a sudden drift has width 0; use kind='gradual' or 'incremental'")
        if self.kind in ("gradual", "incremental") and self.width < 1:
            raise ValueError(f"a {self.kind} drift needs width >= 1")
        if self.kind == "recurring":
            if self.duration is None or self.duration < max(self.width, 1):
                raise ValueError("a recurring drift needs duration >= max(width, 1)")
        elif self.duration is not None:
            raise ValueError("duration applies to recurring drifts only")
        if self.labels is not None:
            if isinstance(self.labels, str):
                raise TypeError("labels must be a sequence of label names, not one string")
            labels = tuple(self.labels)
            if not labels:
                raise ValueError("labels must name at least one label (or be None)")
            object.__setattr__(self, "labels", labels)
            if self.target == "p_x":
                raise ValueError("a p_x drift changes features only; labels must be None")


@dataclass
class _Concept:
    """Parameters of one concept (see the module docstring)."""

    m: np.ndarray  # (D,) feature mean
    T: np.ndarray  # (D, D) x = m + T u
    dirs: np.ndarray  # (n_dirs, D) unit directions in latent space (some may be unused)
    dir_of: np.ndarray  # (L,) index into dirs for every label

    @property
    def V(self) -> np.ndarray:
        return self.dirs[self.dir_of]

    def A(self) -> np.ndarray:
        """The label directions in feature space, ``V T^-1`` (L, D)."""
        return np.linalg.solve(self.T.T, self.V.T).T


@dataclass(frozen=True)
class _Piece:
    """A stretch of the timeline: one stable concept, or a transition between two."""

    start: int
    end: float  # exclusive; math.inf for the last piece
    old: int
    new: int  # == old for a stable piece
    mode: str  # "stable", "gradual" or "incremental"
    target: str | None = None


class MultiLabelGenerator:
    """Seeded multi-label stream with correlated label groups and scheduled drift.

    Iterating yields records ``(x, y)``: ``x`` maps ``"x0" .. "x{D-1}"`` to floats and
    ``y`` maps every label that exists at that point (``"l0" .. "l{L-1}"`` and labels
    added by ``new_labels_at``) to ``True`` or ``False``. See the module docstring for
    the model and :class:`Drift` for the drift semantics.

    The stream is a pure function of ``seed``: two generators with equal arguments yield
    identical streams, and every iteration restarts from record 0. Concept parameters and
    per-record randomness come from separate seeded streams, so records before the first
    drift are the same as those of the same generator without drifts.

    Parameters
    ----------
    n_features
        Number of features ``D``.
    n_labels
        Number of labels present from the start.
    cardinality
        Expected number of positive labels per record among the initial labels
        (``0 < cardinality < n_labels``). Per-label prevalences spread around
        ``cardinality / n_labels`` and are clipped to ``[0.01, 0.95]``.
    n_clusters
        Number of label groups (``None``: ``ceil(n_labels / 3)``). The initial labels are
        dealt into groups of near-equal size; ``n_clusters <= min(n_labels, n_features)``.
    noise
        Standard deviation of the label noise, relative to the unit-variance signal.
        ``0`` makes labels deterministic functions of ``x``; larger values make them
        harder to learn and lower the co-occurrence within a group.
    seed
        Seed of everything random. ``None`` draws a fresh seed once, at construction, so
        the generator is still re-iterable.
    drifts
        The scheduled :class:`Drift` changes. They are applied in order of position, each
        to the concept active just before it, and must not overlap: a change that spans
        records (``width``, or a recurring drift until its return) must end before the
        next one starts.
    n_records
        Length of the stream (``None``: endless).
    new_labels_at
        ``{position: count}``: ``count`` new labels start at record ``position``. They
        are named after the existing ones in order of position, join random existing
        groups, have prevalences like the initial labels (adding to the cardinality), and
        are absent from ``y`` before ``position``.

    Attributes
    ----------
    features : list of str
        The feature names.
    labels : list of str
        Every label name, including those that appear later.
    drift_positions : list of int
        Sorted first records of every concept change, including the return of every
        recurring drift.
    n_concepts : int
        Number of distinct concepts; ids are ``0 .. n_concepts - 1``, ``0`` at the start
        and ``i + 1`` for the concept introduced by the ``i``-th drift in order of
        position (a recurring drift's return reuses the old id).

    Examples
    --------
    >>> from stream.synthetic import Drift, MultiLabelGenerator
    >>> gen = MultiLabelGenerator(n_features=6, n_labels=4, n_clusters=2, seed=1,
    ...                           drifts=[Drift(500, target="correlation")])
    >>> x, y = next(iter(gen))
    >>> list(x)
    ['x0', 'x1', 'x2', 'x3', 'x4', 'x5']
    >>> list(y)
    ['l0', 'l1', 'l2', 'l3']
    >>> gen.drift_positions, gen.concept_at(499), gen.concept_at(500)
    ([500], 0, 1)
    >>> len(gen.label_groups(0)), gen.label_groups(0) != gen.label_groups(500)
    (2, True)
    >>> records = list(gen.take(1000))
    >>> 1.5 < sum(sum(y.values()) for _, y in records) / 1000 < 2.5
    True
    """

    def __init__(
        self,
        n_features: int = 20,
        n_labels: int = 8,
        cardinality: float = 2.0,
        n_clusters: int | None = None,
        noise: float = 0.3,
        seed: int | None = None,
        drifts: Sequence[Drift] = (),
        n_records: int | None = None,
        new_labels_at: Mapping[int, int] | None = None,
    ):
        self.n_features = n_features
        self.n_labels = n_labels
        self.cardinality = cardinality
        self.n_clusters = n_clusters
        self.noise = noise
        self.seed = seed
        self.drifts = drifts
        self.n_records = n_records
        self.new_labels_at = new_labels_at

        if n_features < 1 or n_labels < 1:
            raise ValueError("n_features and n_labels must be >= 1")
        if not 0 < cardinality < n_labels:
            raise ValueError(f"cardinality must be in (0, n_labels), got {cardinality}")
        k = math.ceil(n_labels / 3) if n_clusters is None else n_clusters
        if not 1 <= k <= min(n_labels, n_features):
            raise ValueError(
                f"n_clusters must be in [1, min(n_labels, n_features)], got {n_clusters}"
            )
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        if n_records is not None and n_records < 0:
            raise ValueError(f"n_records must be >= 0, got {n_records}")
        self._n_groups = k
        self._seed = np.random.SeedSequence().entropy if seed is None else seed
        params_seq, self._stream_seq = np.random.SeedSequence(self._seed).spawn(2)
        rng = np.random.default_rng(params_seq)

        # Labels and when they appear (non-decreasing).
        appear = [0] * n_labels
        for pos, count in sorted((new_labels_at or {}).items()):
            if pos < 0 or count < 1:
                raise ValueError(
                    f"new_labels_at needs positions >= 0 and counts >= 1, got {pos}: {count}"
                )
            appear += [int(pos)] * int(count)
        self._appear = np.asarray(appear, dtype=np.int64)
        n_all = len(appear)
        self.features = [f"x{j}" for j in range(n_features)]
        self.labels = [f"l{i}" for i in range(n_all)]
        self._label_pos = {name: i for i, name in enumerate(self.labels)}

        # Concept 0: orthonormal group directions, labels dealt into groups.
        dirs = _orthonormal_rows(rng.standard_normal((k, n_features)))
        dir_of = np.empty(n_all, dtype=np.int64)
        dir_of[rng.permutation(n_labels)] = np.arange(n_labels) % k
        dir_of[n_labels:] = rng.integers(0, k, n_all - n_labels)
        concept0 = _Concept(np.zeros(n_features), np.eye(n_features), dirs, dir_of)

        # Prevalences and biases, fixed for the whole stream.
        spread = rng.lognormal(0.0, _PREVALENCE_SPREAD, n_all)
        prev = spread * (cardinality / n_labels)
        for _ in range(50):  # rescale the initial labels to the cardinality, within bounds
            prev[:n_labels] = np.clip(
                prev[:n_labels] * cardinality / prev[:n_labels].sum(),
                _MIN_PREVALENCE,
                _MAX_PREVALENCE,
            )
        prev = np.clip(prev, _MIN_PREVALENCE, _MAX_PREVALENCE)
        self._prevalence = prev
        inv = NormalDist().inv_cdf
        self._b = math.sqrt(1.0 + noise**2) * np.array([inv(p) for p in prev])

        self._concepts = [concept0]
        self._build_timeline(rng, drifts)

    # ------------------------------------------------------------------ schedule

    def _build_timeline(self, rng: np.random.Generator, drifts: Sequence[Drift]) -> None:
        changes = []  # (start, width, old, new, mode, target)
        current = 0
        for drift in drifts:
            if not isinstance(drift, Drift):
                raise TypeError(f"drifts must be Drift instances, got {drift!r}")
        for drift in sorted(drifts, key=lambda d: d.position):
            affected = self._affected(drift)
            new = len(self._concepts)
            self._concepts.append(self._derive(rng, self._concepts[current], drift, affected))
            mode = {"sudden": "gradual", "recurring": "gradual"}.get(drift.kind, drift.kind)
            changes.append((drift.position, drift.width, current, new, mode, drift.target))
            if drift.kind == "recurring":
                changes.append(
                    (drift.position + drift.duration, drift.width, new, current, mode, drift.target)
                )
            else:
                current = new
        # Consecutive changes must not overlap (sudden ones at least one record apart).
        for (s0, w0, *_), (s1, *_) in itertools.pairwise(changes):
            if s1 < s0 + max(w0, 1):
                raise ValueError(
                    f"drifts overlap: a change starts at record {s1}, "
                    f"before the previous one (from record {s0}) is complete"
                )
        pieces, cursor, active = [], 0, 0
        for start, width, old, new, mode, target in changes:
            if start > cursor:
                pieces.append(_Piece(cursor, start, active, active, "stable"))
            if width > 0:
                pieces.append(_Piece(start, start + width, old, new, mode, target))
            cursor, active = start + width, new
        pieces.append(_Piece(cursor, math.inf, active, active, "stable"))
        self._pieces = pieces
        self._piece_starts = [p.start for p in pieces]
        self.drift_positions = sorted(c[0] for c in changes)
        self.n_concepts = len(self._concepts)

    def _affected(self, drift: Drift) -> np.ndarray:
        if drift.labels is None:
            return np.arange(len(self.labels))
        unknown = [name for name in drift.labels if name not in self._label_pos]
        if unknown:
            raise ValueError(f"drift names unknown labels {unknown}; known: {self.labels}")
        return np.array(sorted({self._label_pos[name] for name in drift.labels}), dtype=np.int64)

    def _derive(self, rng, base: _Concept, drift: Drift, affected: np.ndarray) -> _Concept:
        D = self.n_features
        used = np.unique(base.dir_of)
        if drift.target == "p_x":
            basis = _orthonormal_rows(base.dirs[used])  # the latent subspace labels depend on
            if len(basis) >= D:
                raise ValueError(
                    "a p_x drift needs fewer label directions than n_features "
                    f"({len(basis)} >= {D}); lower n_clusters or raise n_features"
                )
            P = basis.T @ basis
            Q = np.eye(D) - P
            scale = np.exp(rng.uniform(-math.log(_PX_SCALE), math.log(_PX_SCALE), D))
            R = P + Q @ np.diag(scale) @ Q
            shift = Q @ (rng.standard_normal(D) * _PX_SHIFT)
            return _Concept(base.m + base.T @ shift, base.T @ R, base.dirs, base.dir_of)

        if drift.target == "p_y_given_x":
            old_dirs = np.unique(base.dir_of[affected])
            unaffected = np.setdiff1d(np.arange(len(base.dir_of)), affected)
            kept = np.unique(base.dir_of[unaffected])
            must = [base.dirs[kept]]
            z = np.linalg.solve(base.T, base.m)  # latent image of the mean, kept orthogonal
            if np.linalg.norm(z) > 1e-9:
                must.append(z[None, :])
            must = np.concatenate(must)
            wider = np.concatenate([must, base.dirs[old_dirs]])  # also avoid the old ones
            if len(_orthonormal_rows(wider)) + len(old_dirs) <= D:
                must = wider
            elif len(_orthonormal_rows(must)) + len(old_dirs) > D:
                raise ValueError(
                    "no room for new label directions in a p_y_given_x drift: "
                    "raise n_features or lower n_clusters"
                )
            fresh = _orthonormal_rows(_project_out(rng.standard_normal((len(old_dirs), D)), must))
            dirs = np.concatenate([base.dirs, fresh])
            dir_of = base.dir_of.copy()
            for i, d in enumerate(old_dirs):
                moving = affected[base.dir_of[affected] == d]
                dir_of[moving] = len(base.dirs) + i
            return _Concept(base.m, base.T, dirs, dir_of)

        # correlation: deal the affected labels round-robin into existing groups.
        targets = np.unique(base.dir_of[affected])
        if len(targets) < 2:
            targets = used
        if len(targets) < 2:
            raise ValueError("a correlation drift needs at least two label groups")
        order = []
        for d in rng.permutation(np.unique(base.dir_of[affected])):
            members = affected[base.dir_of[affected] == d]
            order.extend(rng.permutation(members).tolist())
        targets = rng.permutation(targets)
        dir_of = base.dir_of.copy()
        dir_of[np.asarray(order, dtype=np.int64)] = targets[np.arange(len(order)) % len(targets)]
        return _Concept(base.m, base.T, base.dirs, dir_of)

    def _piece_at(self, t: int) -> _Piece:
        if t < 0:
            raise ValueError(f"record index must be >= 0, got {t}")
        return self._pieces[bisect.bisect_right(self._piece_starts, t) - 1]

    # ------------------------------------------------------------ introspection

    def concept_weights(self, t: int) -> dict[int, float]:
        """Weights of the concepts behind record ``t``, ``{concept id: weight}``.

        ``{id: 1.0}`` outside transitions. Inside a gradual (or recurring with ``width``)
        change, the weight of the new concept is the probability that record ``t`` is
        drawn from it; inside an incremental change it is the interpolation weight of the
        parameters.
        """
        piece = self._piece_at(t)
        if piece.mode == "stable":
            return {piece.old: 1.0}
        lam = (t - piece.start + 1) / (piece.end - piece.start)
        return {piece.old: 1.0 - lam, piece.new: lam}

    def concept_at(self, t: int) -> int:
        """Id of the dominant concept at record ``t``.

        Inside a transition this is the new concept once its weight (see
        :meth:`concept_weights`) reaches 0.5, and the old one before.
        """
        weights = self.concept_weights(t)
        best = max(weights.values())
        return next(c for c, w in reversed(list(weights.items())) if w == best)

    def labels_at(self, t: int) -> list[str]:
        """Names of the labels that exist (appear in ``y``) at record ``t``."""
        return self.labels[: int(np.searchsorted(self._appear, t, side="right"))]

    def label_groups(self, t: int) -> list[set[str]]:
        """The true label groups of the dominant concept at record ``t``.

        Groups are sets of the label names existing at ``t`` that share a feature
        direction (so co-occur); they are listed in order of their smallest label index.
        """
        concept = self._concepts[self.concept_at(t)]
        n_live = len(self.labels_at(t))
        groups: dict[int, set[str]] = {}
        for i in range(n_live):
            groups.setdefault(int(concept.dir_of[i]), set()).add(self.labels[i])
        return list(groups.values())

    @property
    def prevalence(self) -> dict[str, float]:
        """True probability of each label being positive (the same under every concept)."""
        return dict(zip(self.labels, self._prevalence.tolist()))

    def label_probabilities(self, X: np.ndarray, concept: int = 0) -> np.ndarray:
        """True ``P(y_l = 1 | x)`` under one concept.

        Parameters
        ----------
        X
            Features, shape ``(n, n_features)``, columns in the order of ``features``.
        concept
            Concept id (see :meth:`concept_at`).

        Returns
        -------
        numpy.ndarray
            Shape ``(n, len(labels))``; with ``noise == 0`` it is 0 or 1.
        """
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        score = X @ self._concepts[concept].A().T + self._b
        if self.noise == 0:
            return (score > 0).astype(np.float64)
        from scipy.special import ndtr

        return ndtr(score / self.noise)

    # ------------------------------------------------------------ generation

    def _block(self, t0: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n, D = _BLOCK_SIZE, self.n_features
        u = rng.standard_normal((n, D))
        eps = rng.standard_normal((n, len(self.labels)))
        r = rng.random(n)
        X = np.empty((n, D))
        S = np.empty((n, len(self.labels)))
        i = bisect.bisect_right(self._piece_starts, t0) - 1
        t1 = t0 + n
        while i < len(self._pieces) and self._pieces[i].start < t1:
            piece = self._pieces[i]
            lo, hi = max(piece.start, t0), int(min(piece.end, t1))
            sl = slice(lo - t0, hi - t0)
            ua = u[sl]
            a = self._concepts[piece.old]
            Xa, Sa = a.m + ua @ a.T.T, ua @ a.V.T
            if piece.mode == "stable":
                X[sl], S[sl] = Xa, Sa
            else:
                b = self._concepts[piece.new]
                Xb, Sb = b.m + ua @ b.T.T, ua @ b.V.T
                lam = (np.arange(lo, hi) - piece.start + 1) / (piece.end - piece.start)
                lam = lam[:, None]
                if piece.mode == "gradual":
                    take_new = (r[sl] < lam[:, 0])[:, None]
                    X[sl] = np.where(take_new, Xb, Xa)
                    S[sl] = np.where(take_new, Sb, Sa)
                elif piece.target == "p_x":  # labels depend on V u only: unchanged
                    X[sl] = (1.0 - lam) * Xa + lam * Xb
                    S[sl] = Sa
                else:  # normalised interpolation of each label's direction
                    cos = np.einsum("ld,ld->l", a.V, b.V)
                    norm = np.sqrt((1.0 - lam) ** 2 + lam**2 + 2.0 * lam * (1.0 - lam) * cos)
                    X[sl] = Xa
                    S[sl] = ((1.0 - lam) * Sa + lam * Sb) / np.maximum(norm, 1e-12)
            i += 1
        Y = S + self._b + self.noise * eps > 0
        return X, Y

    def _blocks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(self._stream_seq)
        for t0 in itertools.count(0, _BLOCK_SIZE):
            if self.n_records is not None and t0 >= self.n_records:
                return
            X, Y = self._block(t0, rng)
            if self.n_records is not None and t0 + _BLOCK_SIZE > self.n_records:
                X, Y = X[: self.n_records - t0], Y[: self.n_records - t0]
            yield t0, X, Y

    def arrays(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` records (at most ``n_records``) as arrays, for vectorised use.

        Returns
        -------
        X : numpy.ndarray
            ``(n, n_features)`` floats, columns in the order of ``features``.
        Y : numpy.ndarray
            ``(n, len(labels))`` booleans, columns in the order of ``labels``; a label
            that does not exist yet at a record is ``False`` there.
        """
        Xs, Ys, have = [], [], 0
        if n > 0:
            for t0, X, Y in self._blocks():
                Xs.append(X[: n - t0])
                Ys.append(Y[: n - t0])
                have = t0 + len(Xs[-1])
                if have >= n:
                    break
        if not Xs:
            return np.empty((0, self.n_features)), np.empty((0, len(self.labels)), dtype=bool)
        X, Y = np.concatenate(Xs), np.concatenate(Ys)
        Y &= np.arange(len(X))[:, None] >= self._appear[None, :]
        return X, Y

    def __iter__(self) -> Iterator[tuple[Features, Labels]]:
        features = self.features
        label_sets = [tuple(self.labels[:k]) for k in range(len(self.labels) + 1)]
        appear = self._appear
        for t0, X, Y in self._blocks():
            n = len(X)
            n_live = np.searchsorted(appear, np.arange(t0, t0 + n), side="right")
            xs, ys = X.tolist(), Y.tolist()
            if n_live[0] == n_live[-1]:
                names = label_sets[n_live[0]]
                for xrow, yrow in zip(xs, ys):
                    yield dict(zip(features, xrow)), dict(zip(names, yrow))
            else:
                for xrow, yrow, k in zip(xs, ys, n_live.tolist()):
                    yield dict(zip(features, xrow)), dict(zip(label_sets[k], yrow))

    def take(self, n: int) -> Iterator[tuple[Features, Labels]]:
        """Iterate over the first ``n`` records."""
        return itertools.islice(iter(self), n)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_features={self.n_features}, n_labels={self.n_labels}, "
            f"cardinality={self.cardinality}, n_clusters={self.n_clusters}, noise={self.noise}, "
            f"seed={self.seed}, drifts={list(self.drifts)!r}, n_records={self.n_records}, "
            f"new_labels_at={self.new_labels_at})"
        )


def _orthonormal_rows(M: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Gram-Schmidt on the rows of ``M``: an orthonormal basis of their span, in order.

    Deterministic (no sign ambiguity): row ``i`` of the result is the normalised part of
    row ``i`` of ``M`` orthogonal to the earlier rows; rows inside that span are dropped.
    """
    basis: list[np.ndarray] = []
    for row in np.atleast_2d(M):
        v = row.astype(np.float64).copy()
        for _ in range(2):  # twice is enough for numerical orthogonality
            for q in basis:
                v -= (q @ v) * q
        norm = np.linalg.norm(v)
        if norm > tol * max(1.0, np.linalg.norm(row)):
            basis.append(v / norm)
    return np.array(basis).reshape(len(basis), M.shape[-1])


def _project_out(G: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Rows of ``G`` minus their projection on the span of the rows of ``M``."""
    if len(M) == 0:
        return G
    basis = _orthonormal_rows(M)
    return G - (G @ basis.T) @ basis
