"""Ranking metrics (macro/micro AUC, LRAP, one-error) against a direct computation.

The reference is scikit-learn (``roc_auc_score``, ``label_ranking_average_precision_score``)
and plain numpy for one-error, on small random inputs whose scores lie on the 1/1024 grid
(so the quantised AUCs are exact) with many ties; cumulative and over the window, through
:class:`RankingMetrics` directly and through the prequential evaluator's two paths.
"""

import math

import numpy as np
import pytest
from river import base
from sklearn.metrics import label_ranking_average_precision_score, roc_auc_score

from stream.metrics import MultiLabelMetrics
from stream.prequential import PrequentialEvaluator
from stream.ranking_metrics import RANKING_NAMES, RankingMetrics, auc_from_histograms


# -- the direct computation --------------------------------------------------------------
def reference(Z, T, M):
    """macro/micro AUC, LRAP and one-error of scores ``Z``, truth ``T`` over the ranked
    entries ``M`` (all ``(n, L)``)."""
    aucs = []
    for j in range(Z.shape[1]):
        rows = M[:, j]
        y, s = T[rows, j], Z[rows, j]
        if y.any() and not y.all():
            aucs.append(roc_auc_score(y, s))
    pooled_t, pooled_s = T[M], Z[M]
    micro = (roc_auc_score(pooled_t, pooled_s)
             if pooled_t.any() and not pooled_t.all() else math.nan)
    lraps, errors = [], []
    for i in range(Z.shape[0]):
        m = M[i]
        t = T[i] & m
        if not m.any() or not t.any():
            continue
        lraps.append(label_ranking_average_precision_score(t[m][None, :], Z[i, m][None, :]))
        top = Z[i, m].max()
        at_top = m & (Z[i] == top)
        errors.append(1.0 - (at_top & T[i]).sum() / at_top.sum())
    return {"macro_auc": float(np.mean(aucs)) if aucs else math.nan, "micro_auc": micro,
            "lrap": float(np.mean(lraps)) if lraps else math.nan,
            "one_error": float(np.mean(errors)) if errors else math.nan}


def random_case(seed, n=120, L=5, levels=8, p_true=0.35, p_unranked=0.15):
    """Scores on the grid k/levels (many ties), truth, and a ranked mask; a few records
    rank nothing and a few have an empty truth."""
    rng = np.random.default_rng(seed)
    Z = rng.integers(0, levels + 1, size=(n, L)) / levels
    T = rng.random((n, L)) < p_true
    M = rng.random((n, L)) >= p_unranked
    M[rng.random(n) < 0.05] = False
    return Z, T, M


def feed(r, Z, T, M, sizes):
    S = np.where(M, Z, np.nan)
    a = 0
    for size in sizes:
        b = min(a + size, len(Z))
        rows, cols = np.nonzero(T[a:b])
        ptr = np.zeros(b - a + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=b - a), out=ptr[1:])
        r.update_many(S[a:b], ptr, cols)
        a = b
        if a >= len(Z):
            break


def assert_close(got: dict, want: dict, prefix=""):
    for name in RANKING_NAMES:
        g, w = got[prefix + name], want[name]
        if math.isnan(w):
            assert math.isnan(g), name
        else:
            assert g == pytest.approx(w, abs=1e-12), name


# -- RankingMetrics ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_cumulative_and_window_agree_with_scikit_learn(seed):
    Z, T, M = random_case(seed)
    w = 37
    r = RankingMetrics(window_size=w)
    feed(r, Z, T, M, [1, 7, 30, 2, 64, 100])
    assert_close(r.get(), reference(Z, T, M))
    assert_close(r.get_window(), reference(Z[-w:], T[-w:], M[-w:]), prefix="window_")


def test_figures_do_not_depend_on_how_records_are_batched():
    Z, T, M = random_case(11, n=300)
    one, many = RankingMetrics(window_size=50), RankingMetrics(window_size=50)
    feed(one, Z, T, M, [1] * 300)
    feed(many, Z, T, M, [3, 120, 1, 90, 86])
    assert one.get() == many.get()
    assert one.get_window() == many.get_window()


def test_window_while_it_fills_and_after_a_batch_larger_than_it():
    Z, T, M = random_case(3, n=90)
    r = RankingMetrics(window_size=40)
    feed(r, Z[:25], T[:25], M[:25], [25])
    assert_close(r.get_window(), reference(Z[:25], T[:25], M[:25]), prefix="window_")
    feed(r, Z[25:], T[25:], M[25:], [65])  # 65 > 40: some records pass straight through
    assert_close(r.get_window(), reference(Z[-40:], T[-40:], M[-40:]), prefix="window_")
    # the window's histograms hold exactly its records
    assert r._wpos.sum() + r._wneg.sum() == M[-40:].sum()
    assert sum(c[0].shape[0] - c[1] for c in r._win_rows) == 40


def test_memory_stays_bounded_on_a_long_stream():
    r = RankingMetrics(window_size=20)
    rng = np.random.default_rng(0)
    for _ in range(200):
        S = rng.integers(0, 5, size=(16, 4)) / 4
        r.update_many(S, np.arange(17), rng.integers(0, 4, 16))
    assert sum(c[0].shape[0] for c in r._win_rows) <= 20 + 16
    assert r._pos.shape == (4, 1025) and r._pos.sum() + r._neg.sum() == 200 * 16 * 4


def test_ties_within_a_bin_count_one_half_and_off_grid_scores_are_rounded():
    r = RankingMetrics(window_size=0)
    # one positive at 0.5, negatives at 0.5002 (same bin: a tie) and 0.5006 (next bin up)
    S = np.array([[0.5], [0.5002], [0.5006]])
    r.update_many(S, np.array([0, 1, 1, 1]), np.array([0]))
    assert r.get()["macro_auc"] == pytest.approx(0.25)  # (1/2 + 0) / 2
    # scores outside [0, 1] are clipped for the AUC
    r = RankingMetrics(window_size=0)
    r.update_many(np.array([[3.0], [-1.0]]), np.array([0, 1, 1]), np.array([0]))
    assert r.get()["micro_auc"] == 1.0


def test_empty_truth_counts_as_negatives_for_auc_but_not_for_lrap_or_one_error():
    r = RankingMetrics(window_size=0)
    S = np.array([[0.9, 0.1], [0.8, 0.3]])
    r.update_many(S, np.array([0, 1, 1]), np.array([0]))  # record 2 has no true label
    got = r.get()
    assert got["lrap"] == 1.0 and got["one_error"] == 0.0
    assert got["micro_auc"] == pytest.approx(1.0)  # 0.9 above 0.1, 0.8 and 0.3
    assert math.isnan(got["macro_auc"]) is False and got["macro_auc"] == 1.0  # label 0 only


def test_nothing_ranked_gives_nan_everywhere():
    r = RankingMetrics(window_size=5)
    r.update_many(np.full((3, 2), np.nan), np.array([0, 1, 2, 2]), np.array([0, 1]))
    for value in list(r.get().values()) + list(r.get_window().values()):
        assert math.isnan(value)


def test_one_error_with_ties_at_the_top_is_the_fraction_not_true():
    r = RankingMetrics(window_size=0)
    r.update_many(np.array([[0.5, 0.5, 0.5, 0.1]]), np.array([0, 1]), np.array([1]))
    assert r.get()["one_error"] == pytest.approx(2 / 3)
    assert r.get()["lrap"] == pytest.approx(1 / 3)  # pessimistic rank 3, 1 true at or above


def test_auc_from_histograms_matches_scikit_learn():
    rng = np.random.default_rng(5)
    y = rng.random(200) < 0.4
    b = rng.integers(0, 6, 200)
    pos = np.bincount(b[y], minlength=6)[None, :]
    neg = np.bincount(b[~y], minlength=6)[None, :]
    macro, micro = auc_from_histograms(pos, neg)
    assert macro == pytest.approx(roc_auc_score(y, b)) and micro == pytest.approx(macro)


def test_metrics_pickle_keeps_the_ranking_state():
    import pickle

    Z, T, M = random_case(2, n=60)
    m = MultiLabelMetrics(window_size=25)
    for i in range(60):
        m.update(np.flatnonzero(T[i]), [], 5, scores=np.where(M[i], Z[i], np.nan))
    back = pickle.loads(pickle.dumps(m))
    assert back.get() == m.get() and back.get_window() == m.get_window()
    assert_close(m.get(), reference(Z, T, M))


# -- through the prequential evaluator ---------------------------------------------------
class TableScorer(base.MultiLabelClassifier):
    """Scores from a table by record (feature ``i`` = row + 1); a label is known once it
    has been learned positive; NaN in the table: no score for that label."""

    def __init__(self, table, names):
        self.table = table
        self.names = names
        self.labels_ = []

    def _row(self, x):
        return self.table[int(x["i"]) - 1]

    def learn_one(self, x, y):
        for name in self.names:
            if y.get(name) and name not in self.labels_:
                self.labels_.append(name)

    def predict_scores_one(self, x):
        row = self._row(x)
        scores = {}
        for name in self.labels_:
            v = row[self.names.index(name)]
            if v == v:
                scores[name] = float(v)
        return {k: v >= 0.5 for k, v in scores.items()}, scores

    def predict_one(self, x):
        return self.predict_scores_one(x)[0]

    def predict_learn_many(self, batch):
        col = list(batch.feature_names).index("i")
        rows = np.asarray(batch.X[:, col].toarray()).ravel().astype(int) - 1
        S_rows = []
        for r, i in enumerate(rows):
            known = list(self.labels_)
            S_rows.append([self.table[i][self.names.index(k)] for k in known])
            y = {name: bool(batch.Y[r, j]) for j, name in enumerate(batch.label_names)}
            self.learn_one({"i": i + 1.0}, y)
        S = np.full((len(rows), len(self.labels_)), np.nan)
        for r, vals in enumerate(S_rows):
            S[r, :len(vals)] = vals
        return np.nan_to_num(S) >= 0.5, S


def evaluator_case(seed, n=150, L=4):
    rng = np.random.default_rng(seed)
    names = [f"l{j}" for j in range(L)]
    table = rng.integers(0, 5, size=(n, L)) / 4
    table[rng.random((n, L)) < 0.1] = np.nan  # the learner leaves some labels unscored
    T = rng.random((n, L)) < 0.4
    T[:, L - 1] &= np.arange(n) >= 40  # the last label first appears late
    records = [({"i": float(i + 1)}, {names[j]: bool(T[i, j]) for j in range(L)})
               for i in range(n)]
    return names, table, T, records


def expected_rows(table, T, declared):
    """The evaluator's convention: each record ranks the labels known at that record
    (declared, else positive in the truth so far, this record included); a known label
    without a score scores 0."""
    Z = np.nan_to_num(table)
    learned = np.zeros(T.shape[1], dtype=bool)  # known to the learner
    M = np.zeros_like(T)
    seen = np.zeros(T.shape[1], dtype=bool)
    for i in range(len(T)):
        seen |= T[i]
        M[i] = True if declared else seen
        Z[i, ~learned] = 0.0
        learned |= T[i]
    return Z, M


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_process_one_and_process_many_agree_with_the_direct_computation(seed, declared):
    names, table, T, records = evaluator_case(seed)
    w = 45
    kw = dict(window_size=w, label_names=names if declared else None)
    one = PrequentialEvaluator(TableScorer(table, names), **kw)
    for x, y in records:
        one.process_one(x, y)
    many = PrequentialEvaluator(TableScorer(table, names), **kw)
    for a, b in ((0, 1), (1, 17), (17, 90), (90, 150)):
        many.process_many(records[a:b])
    s_one, s_many = one.snapshot(), many.snapshot()
    for key in s_one:
        assert s_one[key] == s_many[key] or (math.isnan(s_one[key])
                                             and math.isnan(s_many[key])), key
    order = [names.index(k) for k in one.labels.keys]  # evaluator columns
    Z, M = expected_rows(table, T, declared)
    Z, T, M = Z[:, order], T[:, order], M[:, order]
    assert_close(s_one, reference(Z, T, M))
    assert_close(s_one, reference(Z[-w:], T[-w:], M[-w:]), prefix="window_")


def test_a_learner_without_scores_gives_nan_ranking_metrics():
    class NoScores(base.MultiLabelClassifier):
        def learn_one(self, x, y):
            pass

        def predict_one(self, x):
            return {"a": True}

    ev = PrequentialEvaluator(NoScores(), window_size=10)
    for i in range(20):
        ev.process_one({"i": float(i)}, {"a": i % 2 == 0, "b": i % 3 == 0})
    row = ev.snapshot()
    for name in RANKING_NAMES:
        assert math.isnan(row[name]) and math.isnan(row["window_" + name])
    assert not math.isnan(row["example_f1"])
