"""Start-up imports on demand: the command line answers ``--help`` without numba, river,
numpy or kafka-python, and a package's names load only the module asked for (issue 21;
the times themselves are measured by ``bench/startup.py``, not here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numba", "river", "numpy", "scipy", "sklearn", "kafka")


def _modules_after(code: str) -> set[str]:
    probe = (f"import sys\n{code}\n"
             "import json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["replay", "--help"], ["worker", "--help"],
                                  ["produce", "--help"], ["replay", "--learner", "nope"]])
def test_help_and_argument_errors_import_nothing_heavy(argv):
    loaded = _modules_after(
        "import contextlib, io\n"
        "from connectors.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), "
        "contextlib.redirect_stderr(io.StringIO()):\n"
        f"    try: main({argv!r})\n"
        "    except SystemExit: pass\n")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_learner_loads_its_own_module_only():
    probe = ("import json, sys\n"
             "from learners import LogisticBinaryRelevance\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('learners.'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "learners.logistic" in loaded
    assert not loaded & {"learners.ihomer", "learners.moe", "learners.ml_tree",
                         "learners.knn"}, sorted(loaded)


def test_package_names_still_resolve_and_list():
    import connectors.alerts
    import connectors.kafka
    import connectors.worker
    import learners
    import stream

    for package in (connectors.alerts, connectors.kafka, connectors.worker, learners, stream):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
            assert name in dir(package)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        learners.nope  # noqa: B018
