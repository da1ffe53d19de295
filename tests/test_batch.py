"""stream.batch.to_batch: dense and CSR forms of mixed record layouts."""

import random

import numpy as np
import pytest

from stream.batch import iter_batches, to_batch
from stream.types import FeatureIndex, LabelIndex


def mixed_records(n=300, seed=0):
    """Runs of records with one feature layout (a dense file), records with their own
    keys (a sparse file), reordered keys, empty feature dicts and new labels."""
    rng = random.Random(seed)
    names = [f"f{i}" for i in range(12)]
    out = []
    while len(out) < n:
        kind = rng.choice(["run", "sparse", "reordered", "empty"])
        if kind == "run":
            keys = names[: rng.randint(1, 12)]
            for _ in range(rng.randint(2, 9)):
                out.append(({k: rng.gauss(0, 1) for k in keys},
                            {f"l{rng.randint(0, 6)}": True, "l0": rng.random() < 0.3}))
        elif kind == "sparse":
            keys = rng.sample(names + [f"new{len(out)}"], rng.randint(1, 5))
            out.append(({k: rng.gauss(0, 1) for k in keys}, {f"l{rng.randint(0, 9)}": True}))
        elif kind == "reordered":
            keys = rng.sample(names, 6)
            for _ in range(3):
                out.append(({k: rng.gauss(0, 1) for k in keys}, {}))
        else:
            out.append(({}, {"l1": True}))
    return out[:n]


def reference(records, features, labels):
    """The obvious construction, cell by cell."""
    for x, y in records:
        for name in x:
            features.add(name)
        labels.observe(y)
    X = np.full((len(records), len(features)), np.nan)
    Y = np.zeros((len(records), len(labels)), dtype=bool)
    for i, (x, y) in enumerate(records):
        for name, v in x.items():
            X[i, features.get(name)] = v
        for name, v in y.items():
            Y[i, labels.get(name)] = v
    return X, Y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_and_csr_forms_equal_the_cell_by_cell_construction(seed):
    records = mixed_records(seed=seed)
    X_ref, Y_ref = reference(records, FeatureIndex(), LabelIndex())
    dense = to_batch(records)
    csr = to_batch(records, sparse=True)
    np.testing.assert_array_equal(dense.X, X_ref)
    np.testing.assert_array_equal(dense.Y, Y_ref)
    np.testing.assert_array_equal(csr.Y, Y_ref)
    assert list(dense.feature_names) == list(csr.feature_names)
    # CSR holds exactly the present features, in each record's own key order
    for i, (x, _) in enumerate(records):
        a, b = csr.X.indptr[i], csr.X.indptr[i + 1]
        assert [csr.feature_names[j] for j in csr.X.indices[a:b]] == list(x)
        assert csr.X.data[a:b].tolist() == list(x.values())


def test_batches_share_their_indexes_across_calls():
    records = mixed_records(200, seed=4)
    X_ref, Y_ref = reference(records, FeatureIndex(), LabelIndex())
    parts = list(iter_batches(records, 37, sparse=True))
    d, L = X_ref.shape[1], Y_ref.shape[1]
    X = np.vstack([np.pad(p.X.toarray(), ((0, 0), (0, d - p.X.shape[1]))) for p in parts])
    Y = np.vstack([np.pad(p.Y, ((0, 0), (0, L - p.Y.shape[1]))) for p in parts])
    present = ~np.isnan(X_ref)
    np.testing.assert_array_equal(X[present], X_ref[present])
    np.testing.assert_array_equal(Y, Y_ref)
