"""ArffReader.iter_batches (the replay's fast path) against the record path.

Every batch must equal ``to_batch(records, sparse=True)`` of the records the reader yields
one by one (same arrays, dtypes, names, ``named_at``), a malformed file must fail with the
record path's error (file, line, reason), and a replay through the batches must print the
same metrics and drift events as through the records.
"""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from stream.batch import to_batch
from stream.errors import MalformedRecordError
from stream.readers import open_stream
from stream.readers.arff import ArffReader

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"benchmark data not found at {DATA}")

# the dev files whose every block the compiled parser takes (dense, then sparse)
FAST_FILES = ["emotions/emotions.arff", "yeast/yeast.arff", "scene/Scene-meka.arff.gz",
              "scene/scene-train.arff", "flags/flags.arff", "birds/birds.arff",
              "genbase/genbase.arff", "enron/enron.arff", "enron/Enron-meka.arff",
              "medical/medical.arff", "bibtex/bibtex.arff"]


def assert_same_batch(a, b):
    assert a.X.shape == b.X.shape
    assert type(a.X) is type(b.X)
    for name in ("indptr", "indices", "data"):
        x, y = getattr(a.X, name), getattr(b.X, name)
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y), name
    assert np.array_equal(a.X.data.view(np.int64), b.X.data.view(np.int64))  # bit for bit
    assert a.Y.dtype == b.Y.dtype and np.array_equal(a.Y, b.Y)
    assert list(a.feature_names) == list(b.feature_names)
    assert list(a.label_names) == list(b.label_names)
    assert (a.unknown is None) == (b.unknown is None)
    if a.unknown is not None:
        assert np.array_equal(a.unknown, b.unknown)
    assert a.named_at.dtype == b.named_at.dtype and np.array_equal(a.named_at, b.named_at)


def record_batches(reader, sizes):
    records = list(reader)
    out, at = [], 0
    for k in sizes:
        if at >= len(records):
            break
        out.append(to_batch(records[at:at + k], sparse=True))
        at += k
    return out


def check_equal(reader, sizes):
    """Batches of both paths equal; the pass counts too. Returns the fast batches."""
    fast = list(reader.iter_batches(iter(sizes)))
    counts = (reader.n_read, reader.n_bad, [str(e) for e in reader.bad], reader.line)
    slow = record_batches(reader, sizes)
    assert (reader.n_read, reader.n_bad, [str(e) for e in reader.bad], reader.line) == counts
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        assert_same_batch(a, b)
    return fast


def nan_free(value):
    """NaN -> None, recursively (NaN != NaN)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: nan_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_free(v) for v in value]
    return value


def first_error(call):
    with pytest.raises(MalformedRecordError) as info:
        call()
    return str(info.value)


@pytest.fixture
def spy_record_path(monkeypatch):
    """Line numbers of the blocks the batches read record by record."""
    calls = []
    original = ArffReader._parse_lines

    def spy(self, lines, first):
        calls.append(first)
        return original(self, lines, first)

    monkeypatch.setattr(ArffReader, "_parse_lines", spy)
    return calls


@needs_data
@pytest.mark.parametrize("name", FAST_FILES)
def test_dev_files_batches_equal_to_batch_of_the_records(name, spy_record_path):
    reader = open_stream(DATA / name)
    list(reader.iter_batches(100))
    assert spy_record_path == [], "the compiled parser should take every block"
    check_equal(reader, [100] * 100)
    check_equal(reader, [1, 7, 256, 3, 64] * 40)
    assert reader.n_read == len(list(reader))


def test_a_file_the_parser_does_not_take_gives_the_record_paths_batches(tmp_path):
    # sparse, with a nominal feature whose absent value is 1.0 ({YES,NO}): record path
    path = tmp_path / "defaults.arff"
    path.write_text("@relation 'd: -C 1'\n@attribute a {0,1}\n@attribute f {YES,NO}\n"
                    "@attribute x numeric\n@data\n{0 1,2 0.5}\n{1 NO}\n{}\n")
    reader = ArffReader(path)
    assert reader._fast_plan() is None
    check_equal(reader, [2, 2])


def test_nominal_values_are_read_by_their_declared_spelling(tmp_path, spy_record_path):
    header = ("@relation 'n: -C 1'\n@attribute a {0,1}\n@attribute f {YES,NO}\n"
              "@attribute c {red,green,'dark blue',é}\n@attribute x numeric\n@data\n")
    rows = [f"{i % 2},{('YES', 'NO')[i % 3 == 0]},{('red', 'green', 'é')[i % 3]},{i}"
            for i in range(200)]
    reader = write(tmp_path, rows, header)
    list(reader.iter_batches(100))
    assert spy_record_path == []
    check_equal(reader, [100] * 2)
    rows[50] = "1,YES,'dark blue',3"  # quoted: the record path
    rows[150] = "1,YES,blue,3"  # not declared: the record path's error
    reader = write(tmp_path, rows, header, name="n2.arff")
    expected = first_error(lambda: list(reader))
    assert "line 157" in expected and "blue" in expected
    assert first_error(lambda: list(reader.iter_batches(100))) == expected
    reader = ArffReader(reader.path, skip_bad=True)
    check_equal(reader, [100] * 2)


def write(tmp_path, rows, header=None, name="t.arff"):
    header = header or ("@relation 't: -C 2'\n@attribute a {0,1}\n@attribute b {0,1}\n"
                        "@attribute x numeric\n@attribute y numeric\n@attribute k {1,2,3}\n"
                        "@data\n")
    path = tmp_path / name
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return ArffReader(path)


GOOD = [f"{i % 2},{(i // 2) % 2},{i * 0.37 - 3:.6g},{1e-3 * i:.3e},{1 + i % 3}"
        for i in range(250)]

MALFORMED = {
    "bad number": "1,0,0.5,abc,2",
    "wrong field count": "1,0,0.5,2",
    "too many fields": "1,0,0.5,2,3,4",
    "truncated line": "1,0,0.",
    "NaN": "1,0,NaN,1,2",
    "infinite": "1,0,1e400,1,2",
    "label not 0/1": "2,0,0.5,1,2",
    "undeclared nominal": "1,0,0.5,1,4",
    "unbalanced braces": "1,0,{0.5,1,2",
    "unterminated quote": "1,0,'0.5,1,2",
}


@pytest.mark.parametrize("problem", sorted(MALFORMED))
@pytest.mark.parametrize("at", [0, 150, 249])
def test_malformed_files_give_the_record_paths_error_and_line(tmp_path, problem, at):
    rows = list(GOOD)
    rows[at] = MALFORMED[problem]
    reader = write(tmp_path, rows)
    expected = first_error(lambda: list(reader))
    assert f"line {8 + at}" in expected
    got = first_error(lambda: list(reader.iter_batches(100)))
    assert got == expected
    assert reader.n_read <= at  # nothing past the bad line was read


@pytest.mark.parametrize("problem", sorted(MALFORMED))
def test_skip_bad_keeps_the_counts_of_the_record_path(tmp_path, problem):
    rows = list(GOOD)
    for at in (5, 99, 100, 101, 180):
        rows[at] = MALFORMED[problem]
    header = None
    path = write(tmp_path, rows, header).path
    reader = ArffReader(path, skip_bad=True)
    fast = check_equal(reader, [100] * 5)
    assert reader.n_bad == 5 and [len(b) for b in fast] == [100, 100, 45]


def test_rows_the_parser_leaves_to_the_record_path_are_read_the_same(tmp_path,
                                                                     spy_record_path):
    rows = list(GOOD)
    rows[3] = "1,0,'0.5',1,'3'"  # quoted values
    rows[120] = "1,0,'0.5',1,'3'"
    rows[121] = "  1 , 0 ,\t0.5 , 1 , 3  "  # blanks (the parser takes these)
    rows[122] = "% a comment"
    rows[123] = ""
    rows[124] = "1,0,1_000,1,2"  # Python's float() takes underscores
    rows[200] = "{0 1, 2 0.5}"  # a sparse row in a dense file
    reader = write(tmp_path, rows)
    list(reader.iter_batches(100))
    # record by record: the first block, the second, and the two rows topping it up to
    # 100 records (it has a comment and a blank line); the rest by the compiled parser
    assert spy_record_path == [8, 108, 208]
    check_equal(reader, [100] * 3)


def test_missing_values_leave_the_feature_out_as_on_the_record_path(tmp_path,
                                                                    spy_record_path):
    rows = list(GOOD)
    rows[0] = "1,0,?,?,2"  # the first record lacks x and y: they come after k
    rows[1] = "?,0,?,1e-3,?"  # a missing label is False, a missing nominal left out
    for i in range(100, 200):
        rows[i] = f"0,1,?,{i},{1 + i % 3}"  # x never present in this batch
    rows[230] = " ? , ? , ? , ? , ? "
    reader = write(tmp_path, rows)
    list(reader.iter_batches(100))
    assert spy_record_path == []
    fast = check_equal(reader, [100] * 3)
    assert list(fast[0].feature_names) == ["k", "y", "x"]
    assert list(fast[1].feature_names) == ["y", "k"]
    check_equal(reader, [1, 2, 3, 250])


def test_numbers_are_the_values_float_gives_bit_for_bit(tmp_path):
    rng = random.Random(5)
    tokens = ["0", "-0", "+0.0", "5.", ".5", "-.5e-3", "1E5", "1e+22", "1e23", "1e-22",
              "1e-23", "123456789012345678", "0.12345678901234567890123", "9007199254740993",
              "4.9e-324", "1e-400", "1.7976931348623157e308", "000123.4500", "7e0001"]
    for _ in range(400):
        v = rng.uniform(-1e6, 1e6) * 10.0 ** rng.randint(-30, 30)
        tokens.append(rng.choice([repr(v), f"{v:.3g}", f"{v:.17g}", f"{v:.6f}", f"{v:e}",
                                  str(int(v) if abs(v) < 1e18 else 7)]))
    rows = [f"1,0,{t},{tokens[-1 - i]},1" for i, t in enumerate(tokens)]
    reader = write(tmp_path, rows)
    fast = check_equal(reader, [64] * 20)
    # every row stores x, y and k in order (toarray() would turn -0.0 into 0.0)
    values = np.concatenate([b.X.data.reshape(-1, 3)[:, 0] for b in fast])
    assert np.array_equal(values.view(np.int64),
                          np.array([float(t) for t in tokens]).view(np.int64))


def test_random_mutations_match_the_record_path(tmp_path):
    """Seeded edits of a dense file: either both paths give equal batches or the same
    first error."""
    rng = random.Random(11)
    junk = ["", "?", "'", "{", "}", " ", "\t", "e", "-", "+", ".", "1", "0", "x", "nan", ",",
            "%", "1e", "2", "é", "\\", '"']
    for trial in range(60):
        rows = list(GOOD[:40])
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(rows))
            j = rng.randrange(len(rows[i]) + 1)
            rows[i] = rows[i][:j] + rng.choice(junk) + rows[i][j + rng.randint(0, 2):]
        for skip_bad in (False, True):
            path = write(tmp_path, rows, name=f"m{trial}.arff").path
            reader = ArffReader(path, skip_bad=skip_bad)
            try:
                list(reader)
            except MalformedRecordError as err:
                with pytest.raises(MalformedRecordError) as info:
                    list(reader.iter_batches(16))
                assert str(info.value) == str(err)
            else:
                check_equal(reader, [16] * 5)


def test_blocks_straddle_comments_and_blank_lines(tmp_path):
    rows = []
    for i, row in enumerate(GOOD):
        rows.append(row)
        if i % 7 == 0:
            rows += ["", "% note é"]
    reader = write(tmp_path, rows)
    fast = check_equal(reader, [100] * 3)
    assert [len(b) for b in fast] == [100, 100, 50]


def test_batch_sizes_are_checked(tmp_path):
    reader = write(tmp_path, GOOD)
    with pytest.raises(ValueError, match="batch sizes"):
        list(reader.iter_batches(0))


# -- sparse rows -------------------------------------------------------------------------

SPARSE_HEADER = ("@relation 's: -C -2'\n@attribute x numeric\n@attribute k {1,2,3}\n"
                 "@attribute z numeric\n@attribute w numeric\n@attribute a {0,1}\n"
                 "@attribute b {1,0}\n@data\n")  # b: absent means True (its first value)

rng0 = random.Random(3)
SPARSE_GOOD = []
for i in range(250):
    entries = [(j, v) for j, v in ((0, f"{rng0.uniform(-5, 5):.4g}"), (1, str(1 + i % 3)),
                                   (2, "0"), (3, f"{i}e-2"), (4, str(i % 2)), (5, "0"))
               if rng0.random() < 0.5]
    rng0.shuffle(entries)  # any order: the batch keeps each row's order
    SPARSE_GOOD.append("{" + ",".join(f"{j} {v}" for j, v in entries) + "}")

SPARSE_MALFORMED = {
    "bad number": "{0 abc}",
    "index out of range": "{9 1}",
    "index not an integer": "{x 1}",
    "no closing brace": "{0 1, 2 3",
    "empty entry": "{0 1,,2 3}",
    "label not 0/1": "{4 2}",
    "NaN": "{0 nan}",
    "instance weight": "{0 1}, {2}",
}


def write_sparse(tmp_path, rows, name="s.arff", skip_bad=False):
    path = tmp_path / name
    path.write_text(SPARSE_HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return ArffReader(path, skip_bad=skip_bad)


def test_sparse_rows_give_the_batches_of_the_records(tmp_path, spy_record_path):
    reader = write_sparse(tmp_path, SPARSE_GOOD)
    assert reader.sparse
    list(reader.iter_batches(64))
    assert spy_record_path == []
    fast = check_equal(reader, [64] * 5)
    assert fast[0].X.nnz and 0.0 in fast[0].X.data  # explicit zeros are kept
    assert fast[0].Y[:, 1].any()  # b absent: True


@pytest.mark.parametrize("problem", sorted(SPARSE_MALFORMED))
@pytest.mark.parametrize("at", [0, 130])
def test_malformed_sparse_rows_give_the_record_paths_error(tmp_path, problem, at):
    rows = list(SPARSE_GOOD)
    rows[at] = SPARSE_MALFORMED[problem]
    reader = write_sparse(tmp_path, rows)
    expected = first_error(lambda: list(reader))
    assert f"line {9 + at}" in expected
    assert first_error(lambda: list(reader.iter_batches(100))) == expected
    reader = write_sparse(tmp_path, rows, name="skip.arff", skip_bad=True)
    check_equal(reader, [100] * 3)
    assert reader.n_bad == 1


def test_sparse_rows_the_parser_leaves_to_the_record_path(tmp_path):
    rows = list(SPARSE_GOOD)
    rows[3] = "{0 1, 0 2}"  # named twice: the later value wins
    rows[70] = "{004 1}"  # a non-canonical index
    rows[140] = "{ }"
    rows[141] = "{0 '1.5'}"
    rows[200] = "1.5,2,0,0,1,0"  # a dense row in a sparse file
    reader = write_sparse(tmp_path, rows)
    check_equal(reader, [64] * 5)


def test_random_sparse_mutations_match_the_record_path(tmp_path):
    rng = random.Random(13)
    junk = ["", "?", "'", "{", "}", " ", "\t", "e", "-", ".", "1", "0", "9", ",", "x", "%"]
    for trial in range(60):
        rows = list(SPARSE_GOOD[:40])
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(rows))
            j = rng.randrange(len(rows[i]) + 1)
            rows[i] = rows[i][:j] + rng.choice(junk) + rows[i][j + rng.randint(0, 2):]
        for skip_bad in (False, True):
            reader = write_sparse(tmp_path, rows, name=f"m{trial}.arff", skip_bad=skip_bad)
            try:
                list(reader)
            except MalformedRecordError as err:
                with pytest.raises(MalformedRecordError) as info:
                    list(reader.iter_batches(16))
                assert str(info.value) == str(err)
            else:
                check_equal(reader, [16] * 5)


# -- LIBSVM / XMC ------------------------------------------------------------------------

def libsvm_rows(n, seed=7, n_features=60, n_labels=12):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        labels = rng.sample(range(n_labels), rng.randint(0, 3))
        feats = rng.sample(range(n_features), rng.randint(1, 8))
        pairs = " ".join(f"{j}:{rng.choice(['1', '0', f'{rng.uniform(-3, 3):.5g}'])}"
                         for j in feats)
        head = ",".join(map(str, labels)) if labels else ""
        rows.append(f"{head} {pairs}".rstrip() if head else " " + pairs)
    return rows


def write_libsvm(tmp_path, rows, header=True, name="x.txt", skip_bad=False):
    from stream.readers import LibSVMReader

    path = tmp_path / name
    text = (f"{len(rows)} 60 12\n" if header else "") + "".join(r + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return LibSVMReader(path, skip_bad=skip_bad)


LIBSVM_MALFORMED = {
    "bad number": "1 3:abc",
    "feature out of range": "1 61:1",
    "label out of range": "13 3:1",
    "no colon": "1 3",
    "empty label": "1,,2 3:1",
    "NaN": "1 3:nan",
    "two colons": "1 3:1:2",
}


@pytest.mark.parametrize("header", [True, False])
def test_libsvm_batches_equal_to_batch_of_the_records(tmp_path, spy_record_path, header):
    rows = libsvm_rows(300)
    rows[10] = "# a comment line"
    rows[11] = "3 4:1 # a comment after a record"
    rows[12] = ""
    reader = write_libsvm(tmp_path, rows, header=header)
    list(reader.iter_batches(100))
    assert spy_record_path == []
    fast = check_equal(reader, [100] * 4)
    assert [len(b) for b in fast] == [100, 100, 98]
    check_equal(reader, [1, 5, 64, 300])


@pytest.mark.parametrize("problem", sorted(LIBSVM_MALFORMED))
def test_malformed_libsvm_lines_give_the_record_paths_error(tmp_path, problem):
    rows = libsvm_rows(200)
    rows[150] = LIBSVM_MALFORMED[problem]
    reader = write_libsvm(tmp_path, rows)
    expected = first_error(lambda: list(reader))
    assert "line 152" in expected
    assert first_error(lambda: list(reader.iter_batches(64))) == expected
    reader = write_libsvm(tmp_path, rows, name="skip.txt", skip_bad=True)
    check_equal(reader, [64] * 4)
    assert reader.n_bad == 1


def test_libsvm_lines_the_parser_leaves_to_the_record_path(tmp_path):
    rows = libsvm_rows(200)
    rows[5] = "1 3:1 3:2"  # named twice: the last value wins
    rows[70] = "1 003:1"  # read as f3
    rows[71] = "007 3:1"  # the label id as written
    rows[130] = "1 qid:4 3:1_0"  # qid is ignored; float() takes underscores
    reader = write_libsvm(tmp_path, rows, header=False)
    check_equal(reader, [64] * 4)


def test_random_libsvm_mutations_match_the_record_path(tmp_path):
    rng = random.Random(17)
    junk = ["", " ", "\t", ",", ":", "1", "0", "9", "-", ".", "e", "x", "#", "q", "1:2"]
    for trial in range(60):
        rows = libsvm_rows(40, seed=trial)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(rows))
            j = rng.randrange(len(rows[i]) + 1)
            rows[i] = rows[i][:j] + rng.choice(junk) + rows[i][j + rng.randint(0, 2):]
        for skip_bad in (False, True):
            reader = write_libsvm(tmp_path, rows, header=trial % 2 == 0,
                                  name=f"m{trial}.txt", skip_bad=skip_bad)
            try:
                list(reader)
            except MalformedRecordError as err:
                with pytest.raises(MalformedRecordError) as info:
                    list(reader.iter_batches(16))
                assert str(info.value) == str(err)
            else:
                check_equal(reader, [16] * 5)


@pytest.mark.parametrize("learner", ["br", "ihomer"])
def test_libsvm_replay_through_batches_equals_the_record_path(tmp_path, monkeypatch, learner):
    from stream.readers import LibSVMReader

    path = write_libsvm(tmp_path, libsvm_rows(700)).path
    argv = [path, "--learner", learner, "--json", "--quiet"]
    calls = []
    with monkeypatch.context() as m:
        original = LibSVMReader._parse_lines
        m.setattr(LibSVMReader, "_parse_lines",
                  lambda self, lines, first: calls.append(first) or original(self, lines, first))
        fast = replay(argv)
    assert calls == []  # the batches came from the compiled parser
    with monkeypatch.context() as m:
        m.setattr(LibSVMReader, "iter_batches", None)
        slow = replay(argv)
    assert fast == slow and fast["instances"] == 700


# -- through the prequential loop and the replay ------------------------------------------

DROP = ("seconds", "instances_per_second")


def replay(argv, *, record_path=False, monkeypatch=None):
    from connectors.cli import _replay_config, _run_replay, build_parser

    out = io.StringIO()
    cfg = _replay_config(build_parser().parse_args(["replay", *argv]))
    if record_path:
        with monkeypatch.context() as m:
            m.setattr(ArffReader, "iter_batches", None)  # evaluate() takes the records
            _run_replay(cfg, out)
    else:
        _run_replay(cfg, out)
    summary = json.loads(out.getvalue())
    for key in DROP:
        summary.pop(key)
    for event in summary["events"]:
        event.pop("timestamp", None)
    return summary


@needs_data
@pytest.mark.parametrize("learner", ["br", "ihomer"])
@pytest.mark.parametrize("name, extra", [
    ("scene/Scene-meka.arff.gz", []),
    ("yeast/yeast.arff", ["--limit", "1250", "--report-every", "50"]),
    ("flags/flags.arff", ["--skip-bad"]),
    ("enron/enron.arff", []),
    ("genbase/genbase.arff", ["--limit", "300"]),
])
def test_replay_json_through_batches_equals_the_record_path(monkeypatch, spy_record_path,
                                                             learner, name, extra):
    argv = [str(DATA / name), "--learner", learner, "--json", "--quiet", *extra]
    fast = replay(argv)
    assert spy_record_path == []  # the batches came from the compiled parser
    slow = replay(argv, record_path=True, monkeypatch=monkeypatch)
    assert fast == slow
    if "--limit" in extra:
        assert fast["instances"] == int(extra[extra.index("--limit") + 1])


def test_evaluate_takes_the_reader_batches_and_keeps_history_and_limit(tmp_path, monkeypatch):
    from learners.registry import make_learner
    from stream.prequential import evaluate

    reader = write(tmp_path, GOOD)
    used = []
    original = ArffReader.iter_batches

    def spy(self, size):
        used.append(True)
        return original(self, size)

    monkeypatch.setattr(ArffReader, "iter_batches", spy)
    for limit in (None, 0, 1, 99, 100, 101, 249):
        fast = evaluate(reader, make_learner("br"), limit=limit, report_every=40,
                        batch_size=64, label_names=reader.label_names)
        slow = evaluate(iter(reader), make_learner("br"), limit=limit, report_every=40,
                        batch_size=64, label_names=reader.label_names)
        for res in (fast, slow):
            for key in DROP:
                res.summary.pop(key)
        assert nan_free(fast.summary) == nan_free(slow.summary)
        assert nan_free(fast.history) == nan_free(slow.history)
    assert len(used) == 7


def test_a_bad_record_just_past_the_limit_fails_as_on_the_record_path(tmp_path):
    from learners.registry import make_learner
    from stream.prequential import evaluate

    rows = list(GOOD)
    rows[100] = MALFORMED["bad number"]
    reader = write(tmp_path, rows)
    for limit in (100, 99):
        def run(records, limit=limit):
            return evaluate(records, make_learner("br"), limit=limit, report_every=0)

        if limit == 100:
            expected = first_error(lambda: run(iter(reader)))
            assert first_error(lambda: run(reader)) == expected
        else:
            assert run(reader).summary["instances"] == 99
