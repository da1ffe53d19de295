"""Ahead-of-time kernels (stream/kernels/jit.py, aot.py): the argument keys mirror numba's
types, a build serves exactly the types it was built for (anything else goes to numba, a
changed source disables it), and the package's build gives every learner the results of
numba's just-in-time kernels, bit for bit."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import typeof

from stream.kernels import aot, aot_lookup, jit

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))


def _values():
    a = np.arange(12.0).reshape(3, 4)
    ro = np.zeros(5)
    ro.flags.writeable = False
    return [np.zeros(5), np.zeros(5, np.int32), np.zeros((1, 5)), a, a.T, a[:, ::2],
            a[::2], np.zeros((0, 3)), ro, np.zeros(3, np.bool_), np.zeros(4, np.float32),
            np.zeros((2, 2, 2), np.int64)[:, 0], 3, 2.5, True, np.int32(3), np.float32(1),
            np.bool_(False), np.uint8(7), None, (1, 2.0), (np.zeros(2), 3)]


@pytest.mark.parametrize("value", _values(), ids=lambda v: type(v).__name__)
def test_the_argument_key_is_numbas_type(value):
    spec = aot_lookup.spec_of_type(typeof(value))
    assert spec is not None
    assert aot_lookup.key_of_spec(spec) == jit.arg_key(value)
    # and the spec comes back as the very numba type
    assert aot_lookup.type_of_spec(spec) == typeof(value)


def test_different_types_get_different_keys():
    keys = [jit.arg_key(v) for v in _values()]
    specs = [json.dumps(aot_lookup.spec_of_type(typeof(v))) for v in _values()]
    assert len(set(keys)) == len(set(specs))


PROBE = '''
import numpy as np
from stream.kernels.jit import njit


@njit(cache=False, inline="always")
def _twice(x):
    return 2.0 * x


@njit(cache=False, nogil=True)
def scaled_sum(a, k):
    s = 0.0
    for v in a:
        s += _twice(v)
    out = np.empty(2)
    out[0] = s * k
    out[1] = len(a)
    return out, s


@njit(cache=False, error_model="numpy")
def ratio(a, b):
    return a / b
'''

CHECK = '''
import sys
import numpy as np
import aot_probe as p
from stream.kernels import aot_lookup as aot

out, s = p.scaled_sum(np.arange(4.0), 3)
print("aot", out.tolist(), s, p.ratio(1.0, 0.0), "numba" in sys.modules)
print("served", p.scaled_sum._last is not None)
out, s = p.scaled_sum(np.arange(4, dtype=np.int64), 3)   # a type the build does not hold
print("jit", out.tolist(), s, "numba" in sys.modules)
print(aot.status())
'''


def test_a_build_serves_its_types_and_hands_the_rest_to_numba(tmp_path):
    (tmp_path / "aot_probe.py").write_text(PROBE)
    sigs = [{"kernel": "aot_probe:scaled_sum",
             "args": [["array", "<f8", 1, "C", False, True], ["scalar", "<i8"]]},
            {"kernel": "aot_probe:ratio", "args": [["scalar", "<f8"], ["scalar", "<f8"]]}]
    (tmp_path / "sigs.json").write_text(json.dumps(sigs))
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    build = subprocess.run(
        [sys.executable, "-c", "from stream.kernels import aot; "
         f"aot.build({str(tmp_path / 'out')!r}, {str(tmp_path / 'sigs.json')!r}, "
         "verbose=False)"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert {e["kernel"] for e in manifest["exports"]} == {"aot_probe:scaled_sum",
                                                          "aot_probe:ratio"}
    assert any(k.endswith("aot_probe.py") for k in manifest["sources"])

    def check():
        run = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                             cwd=tmp_path,
                             env=dict(env, LABELSTREAM_AOT_DIR=str(tmp_path / "out")))
        assert run.returncode == 0, run.stderr
        return run.stdout.splitlines()

    lines = check()
    # compiled code, numba never imported; 1/0 is inf under error_model="numpy"
    assert lines[0] == "aot [36.0, 4.0] 12.0 inf False"
    assert lines[1] == "served True"
    assert lines[2] == "jit [36.0, 4.0] 12.0 True"  # int64 array: numba, same numbers
    assert lines[3] == "AOT kernels: 2 kernels, 2 signatures"

    # a source that changed after the build turns it off: numba compiles the new code
    (tmp_path / "aot_probe.py").write_text(PROBE.replace("2.0 * x", "3.0 * x"))
    lines = check()
    assert lines[0] == "aot [54.0, 4.0] 18.0 inf True"
    assert lines[1] == "served False"
    assert "changed since the AOT build" in lines[3]


def _fresh_package_build(tmp_path_factory):
    """The package's AOT build (pip install made it), or one made now when it is stale."""
    aot.reset()
    if not aot.status().startswith("AOT kernels: none"):
        return None
    out = tmp_path_factory.mktemp("aot")
    aot.build(out, verbose=False)
    return out


@pytest.fixture(scope="module")
def package_build(tmp_path_factory):
    out = _fresh_package_build(tmp_path_factory)
    saved = os.environ.get("LABELSTREAM_AOT_DIR")
    if out is not None:
        os.environ["LABELSTREAM_AOT_DIR"] = str(out)
        aot.reset()
    assert not aot.status().startswith("AOT kernels: none"), aot.status()
    yield
    if out is not None:
        if saved is None:
            del os.environ["LABELSTREAM_AOT_DIR"]
        else:
            os.environ["LABELSTREAM_AOT_DIR"] = saved
    aot.reset()


def _replay(path, learner, limit):
    from learners.registry import make_learner
    from stream.prequential import evaluate
    from stream.readers import open_stream

    records = [r for _, r in zip(range(limit), open_stream(path))]
    result = evaluate(records, make_learner(learner))
    summary = {k: v for k, v in result.summary.items()
               if k not in ("seconds", "instances_per_second")}
    events = [{k: v for k, v in e.items() if k != "timestamp"} for e in result.events]
    return summary, result.history, events


@pytest.mark.parametrize("learner", ["ihomer", "br", "moe", "mlht"])
@pytest.mark.parametrize("stream,limit", [("yeast/yeast.arff", 900),
                                          ("medical/medical.arff", 500)])
def test_aot_kernels_give_numbas_results(package_build, monkeypatch, learner, stream, limit):
    path = DATA / stream
    for k in jit._KERNELS:
        k._last = None
    with_aot = _replay(path, learner, limit)
    used = [k for k in jit._KERNELS if k._last is not None]
    assert used, "no kernel was served by the AOT build"
    for k in jit._KERNELS:
        monkeypatch.setattr(k, "_aot", {})  # numba for every call
    with_numba = _replay(path, learner, limit)
    assert with_aot[0]["instances"] == limit
    assert with_aot == with_numba
