"""Active learning under a label budget (``stream.active``) and the prequential loop that
learns only the records it asks for."""

from __future__ import annotations

import math

import pytest
from river import datasets

from learners.ihomer import IHOMER
from learners.logistic import LogisticBinaryRelevance
from stream.active import STRATEGIES, LabelQuery
from stream.prequential import PrequentialEvaluator, evaluate


@pytest.fixture(scope="module")
def yeast():
    return list(datasets.Yeast().take(600))


@pytest.mark.parametrize("strategy", ["random", "uncertainty"])
@pytest.mark.parametrize("budget", [0.05, 0.1, 0.3, 1.0])
def test_budget_never_exceeded_at_any_point_even_in_bursts(strategy, budget):
    q = LabelQuery(budget, strategy, seed=1)
    # bursts: long runs of maximally uncertain records between confident ones
    for i in range(3000):
        burst = (i // 200) % 2 == 0
        scores = {"a": 0.5, "b": 0.5} if burst else {"a": 0.01, "b": 0.99}
        q.decide({}, scores)
        assert q.spent <= budget * q.seen + 1e-9
    # and the budget is used, not hoarded: within a bucket (and the few tokens a full
    # bucket drops) of the allowance
    assert q.spent >= 0.97 * budget * q.seen - q.capacity - 1


def test_a_burst_spends_only_what_the_bucket_holds():
    q = LabelQuery(0.1, "uncertainty", burst=50, seed=0)
    for _ in range(1000):  # confident records: the bucket fills
        q.decide({}, {"a": 0.0})
    spent = q.spent
    asked = [q.decide({}, {"a": 0.5}) for _ in range(20)]  # then a burst of uncertain ones
    assert sum(asked) <= q.capacity + 0.1 * 20 and q.spent - spent == sum(asked)
    assert q.capacity == 5.0


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.1, "0.1", True])
def test_bad_budget_is_refused(bad):
    with pytest.raises(ValueError, match=r"label budget .* \(0, 1\]"):
        LabelQuery(bad)


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown query strategy 'smart'.*random"):
        LabelQuery(0.1, "smart")
    assert STRATEGIES == ("random", "uncertainty", "cluster-disagreement")


def test_only_queried_records_are_learned_and_every_record_is_scored(yeast):
    q = LabelQuery(0.2, "uncertainty", seed=0)
    res = evaluate(yeast, LogisticBinaryRelevance(), query=q, report_every=0)
    s = res.summary
    assert s["instances"] == 600
    assert 0 < s["labels_spent"] <= 0.2 * 600 and s["labels_spent"] == q.spent
    assert s["queried_share"] == pytest.approx(q.spent / 600)
    assert s["example_f1_per_label_spent"] == pytest.approx(s["example_f1"] / q.spent)
    # learning fewer records scores lower than learning every one
    full = evaluate(yeast, LogisticBinaryRelevance(), report_every=0).summary
    assert s["example_f1"] < full["example_f1"]


def test_a_full_budget_learns_everything_like_no_query(yeast):
    ev = PrequentialEvaluator(LogisticBinaryRelevance(), query=LabelQuery(1.0, "random"))
    ref = PrequentialEvaluator(LogisticBinaryRelevance())
    for x, y in yeast[:300]:
        ev.process_one(x, y)
        ref.process_one(x, y)
    assert ev.n_learned == ref.n_learned == 300
    a, b = ev.summary(), ref.summary()
    assert a["example_f1"] == b["example_f1"] and a["labels_spent"] == 300


def test_cluster_disagreement_asks_ihomer_and_refuses_learners_without_experts(yeast):
    q = LabelQuery(0.2, "cluster-disagreement", seed=0)
    s = evaluate(yeast[:300], IHOMER(), query=q, report_every=0).summary
    assert 0 < s["labels_spent"] <= 60
    with pytest.raises(ValueError, match="needs a learner with experts.*uncertainty"):
        evaluate(yeast[:50], LogisticBinaryRelevance(),
                 query=LabelQuery(0.2, "cluster-disagreement"), report_every=0)


def test_process_many_refuses_a_query(yeast):
    ev = PrequentialEvaluator(IHOMER(), query=LabelQuery(0.5))
    with pytest.raises(ValueError, match="no label query"):
        ev.process_many(yeast[:10])
    assert math.isnan(LabelQuery(0.5).stats()["queried_share"])
