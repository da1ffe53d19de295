"""Fuzzed files: over a thousand malformed ARFF, LIBSVM, JSONL and CSV files, made by a
seeded mutator from the dev files (tests/file_fuzz.py). Every one either reads, or stops
with a clear error naming the file (and the line, for a record), or -- with ``skip_bad`` --
has its bad records skipped; never another exception, never a hang."""

from __future__ import annotations

import signal
from collections import Counter

import pytest
from file_fuzz import corpus
from test_worker_helpers import DATA

from stream.errors import MalformedRecordError, StreamError
from stream.readers import open_stream

pytestmark = pytest.mark.skipif(not (DATA / "emotions" / "emotions.arff").is_file(),
                                reason=f"shared data not found in {DATA}")

PER_FILE_SECONDS = 10
#: The errors about a whole file, which have no one line to name.
WHOLE_FILE = ("no @data line", "has no header row", "is empty", "which is not an attribute of")


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    return corpus(DATA, tmp_path_factory.mktemp("fuzzed"))


def _read(path, fmt, options, skip_bad):
    reader = open_stream(path, format=fmt, skip_bad=skip_bad, **options)
    n = sum(1 for _ in reader)
    return n, getattr(reader, "n_bad", 0)


@pytest.mark.parametrize("skip_bad", [False, True], ids=["strict", "skip-bad"])
def test_every_fuzzed_file_reads_or_gives_a_clear_error(fuzzed, skip_bad):
    assert len(fuzzed) >= 1000
    outcomes, problems = Counter(), []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for path, fmt, options, kind in fuzzed:
            signal.alarm(PER_FILE_SECONDS)
            try:
                n, n_bad = _read(path, fmt, options, skip_bad)
                outcomes["read, bad records skipped" if n_bad else "read"] += 1
            except _Hang:
                problems.append((path.name, f"no answer within {PER_FILE_SECONDS} s"))
            except MalformedRecordError as err:
                outcomes["malformed record"] += 1
                text = str(err)
                if path.name not in text or err.position is None:
                    problems.append((path.name, f"error does not name file and line: {text}"))
            except StreamError as err:
                outcomes["file error"] += 1
                text = str(err)
                whole_file = any(p in text for p in WHOLE_FILE)
                if path.name not in text or not (whole_file or ", line " in text):
                    problems.append((path.name, f"error does not name file and line: {text}"))
            except Exception as err:  # noqa: BLE001 - the failure this test looks for
                problems.append((path.name, kind, f"{type(err).__name__}: {err}"[:300]))
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert not problems, f"{len(problems)} of {len(fuzzed)}: {problems[:15]}"
    # the corpus really is malformed: most strict reads must fail
    if not skip_bad:
        assert outcomes["malformed record"] + outcomes["file error"] > len(fuzzed) // 2, outcomes
    else:
        assert outcomes["read, bad records skipped"] > len(fuzzed) // 4, outcomes
