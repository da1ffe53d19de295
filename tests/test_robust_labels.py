"""The ``robust`` option (noisy labels) of br, iHOMER and the mixture, and iHOMER's
``tail_balance`` option: off changes nothing, picklable, batch path equals learn_one, and
on a real stream with 20 % missing positives robust learning scores better against the
clean truth (the margin is a fraction of what bench/imperfect_labels_learners.py
measured, not a tuned constant)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from river import datasets

from learners.ihomer import IHOMER
from learners.logistic import LogisticBinaryRelevance
from learners.moe import MixtureOfExperts
from learners.registry import make_learner
from stream.batch import to_batch
from stream.label_noise import LabelNoise, NoisyRecords
from stream.prequential import PrequentialEvaluator

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

def _moe_own_learners(**kw):
    model = MixtureOfExperts(seed=1, **kw)
    model._gen.neighbours, model._gen._nn = False, None  # as for iHOMER below
    return model


# `robust` acts on the learners' steps; iHOMER's nearest neighbours (on by default) have
# none and, where they serve, hide them: these tests pin the learners without them
MAKERS = {
    "br": lambda **kw: LogisticBinaryRelevance(**kw),
    "ihomer": lambda **kw: IHOMER(neighbours=False, **kw),
    "moe": _moe_own_learners,
}


@pytest.fixture(scope="module")
def yeast():
    return list(datasets.Yeast().take(300))


def _scores(model, xs):
    return np.array([[s for _, s in sorted(model.predict_scores_one(x)[1].items())]
                     for x in xs])


@pytest.mark.parametrize("name", list(MAKERS))
@pytest.mark.parametrize("off", [None, 0.0])
def test_off_is_bit_identical(name, off, yeast):
    plain, same = MAKERS[name](), MAKERS[name](robust=off)
    for x, y in yeast[:200]:
        plain.learn_one(x, y)
        same.learn_one(x, y)
    xs = [x for x, _ in yeast[200:]]
    assert np.array_equal(_scores(plain, xs), _scores(same, xs))


def test_tail_balance_off_is_bit_identical(yeast):
    plain, same = IHOMER(), IHOMER(tail_balance=0.0)
    for x, y in yeast[:200]:
        plain.learn_one(x, y)
        same.learn_one(x, y)
    xs = [x for x, _ in yeast[200:]]
    assert np.array_equal(_scores(plain, xs), _scores(same, xs))


@pytest.mark.parametrize("name", list(MAKERS))
def test_robust_changes_the_model_and_pickles(name, yeast):
    plain, rob = MAKERS[name](), MAKERS[name](robust=0.5)
    for x, y in yeast[:200]:
        plain.learn_one(x, y)
        rob.learn_one(x, y)
    xs = [x for x, _ in yeast[200:220]]
    assert not np.array_equal(_scores(plain, xs), _scores(rob, xs))
    back = pickle.loads(pickle.dumps(rob))
    assert back.robust == 0.5
    assert np.array_equal(_scores(back, xs), _scores(rob, xs))
    for x, y in yeast[200:230]:  # both keep learning the same way
        back.learn_one(x, y)
        rob.learn_one(x, y)
    assert np.array_equal(_scores(back, xs), _scores(rob, xs))


@pytest.mark.parametrize("bad", [-0.1, 1.5, "yes", True])
def test_robust_validated(bad):
    for make in MAKERS.values():
        with pytest.raises(ValueError, match="robust"):
            make(robust=bad)


def test_registry_passes_options():
    assert make_learner("ihomer", robust=0.5).robust == 0.5
    assert make_learner("moe", seed=1, robust=0.5)._gen.robust == 0.5
    with pytest.raises(ValueError, match="takes no options"):
        make_learner("lp", robust=0.5)


def test_br_batch_equals_learn_one(yeast):
    one, many = LogisticBinaryRelevance(robust=0.5), LogisticBinaryRelevance(robust=0.5)
    for x, y in yeast[:150]:
        one.learn_one(x, y)
    many.learn_many(to_batch(yeast[:150]))
    xs = [x for x, _ in yeast[150:]]
    np.testing.assert_allclose(_scores(one, xs), _scores(many, xs), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, kw", [("ihomer", {"robust": 0.5}),
                                      ("ihomer", {"tail_balance": 0.5}),
                                      ("moe", {"robust": 0.5})])  # tail_balance: iHOMER only
def test_batch_path_equals_learn_one(name, kw, yeast):
    one, many = MAKERS[name](**kw), MAKERS[name](**kw)
    ref = []
    for x, y in yeast[:150]:
        ref.append(one.predict_scores_one(x)[1])
        one.learn_one(x, y)
    _, S = many.predict_learn_many(to_batch(yeast[:150], sparse=True))
    xs = [x for x, _ in yeast[150:]]
    np.testing.assert_allclose(_scores(one, xs), _scores(many, xs), rtol=1e-9, atol=1e-12)


def _noisy_ex_f1(records, names, learner, **options):
    model = make_learner(learner, seed=1, **options)
    if learner == "ihomer":
        model = IHOMER(neighbours=False, **options)  # the learners' own steps (MAKERS)
    ev = PrequentialEvaluator(model, window_size=1000, label_names=names)
    noise = LabelNoise(missing=0.2, flip=0.05, seed=0)
    for x, y, z in NoisyRecords(records, noise, names):
        ev.process_one(x, y, z)
    return ev.summary()["example_f1"]


@pytest.mark.skipif(not (DATA / "enron" / "enron.arff").exists(), reason="no shared data")
@pytest.mark.parametrize("learner", ["br", "ihomer"])
def test_robust_helps_under_missing_positives(learner):
    """enron, file order, 20 % missing + 5 % flipped: the bench measured robust=0.5
    ahead by +0.0175 (br) and +0.0165 (iHOMER) ex-F1 on the whole stream; here, the first
    800 records, it must be ahead by at least a third of that. (iHOMER with its nearest
    neighbours, the default, scores 0.5495 plain and 0.5452 robust there: the neighbours
    take the noise better than either learner.)"""
    from stream.readers import open_stream

    reader = open_stream(DATA / "enron" / "enron.arff",
                         label_file=DATA / "enron" / "enron.xml")
    records, names = [], list(reader.label_names)
    for rec in reader:
        records.append(rec)
        if len(records) == 800:
            break
    plain = _noisy_ex_f1(records, names, learner)
    robust = _noisy_ex_f1(records, names, learner, robust=0.5)
    assert robust - plain > 0.0055, (plain, robust)


def test_worker_flag_builds_robust_models():
    import argparse

    from connectors.worker.config import WorkerConfig, add_worker_arguments

    parser = argparse.ArgumentParser()
    add_worker_arguments(parser)
    base = ["--bootstrap-servers", "127.0.0.1:9", "--topic", "t", "--learner", "br"]
    cfg = WorkerConfig.from_args(parser.parse_args(base + ["--robust", "0.25"]))
    assert cfg.learner_options == (("robust", 0.25),) and cfg.new_learner().robust == 0.25
    assert WorkerConfig.from_args(parser.parse_args(base)).new_learner().robust is None
    with pytest.raises(ValueError, match="takes no options"):
        WorkerConfig.from_args(parser.parse_args(base[:-1] + ["lp", "--robust", "0.5"]))
