"""Cold start: the first `labelstream replay` right after `pip install -e .`, in a new venv.

What a new user meets: a fresh virtual environment, a copy of this tree with no
``__pycache__`` and an empty numba cache (``NUMBA_CACHE_DIR`` pointed at a new directory),
then ``pip install -e .`` -- which compiles the kernels ahead of time (setup.py,
stream/kernels/aot.py) -- and the first replays, each a whole process, wall clock:

* ``labelstream replay --json`` (the embedded Yeast stream, iHOMER), then ``--learner moe``;
* the same two with ``LABELSTREAM_AOT=0`` and an emptied numba cache: what the first run
  cost before the ahead-of-time build (numba compiles every kernel the run uses);
* the install's own time, with the compile and (``--no-aot-install``, a second venv)
  without it.

    python bench/cold_start.py               # about 4 minutes on 2 cores
    python bench/cold_start.py --json

The dependencies come from pip's cache or ``PIP_FIND_LINKS`` like any install; the venv
is made with ``--system-site-packages`` off, so nothing is shared with this interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        src = ROOT / rel
        if src.is_file() and "__pycache__" not in rel and "/_aot/" not in rel:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _timed(cmd, env, cwd) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{done.stderr[-3000:]}")
    return wall, done


def _install(work: Path, name: str, aot: bool) -> tuple[Path, Path, float]:
    venv = work / f"venv-{name}"
    tree = work / f"tree-{name}"
    tree.mkdir()
    _copy_tree(tree)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    env = dict(os.environ, NUMBA_CACHE_DIR=str(work / f"numba-{name}"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not aot:
        env["LABELSTREAM_NO_AOT"] = "1"
    # the dependencies first (untimed: downloads are not the subject), then our install
    deps = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import tomllib,sys; d=tomllib.load(open(sys.argv[1],'rb'));"
                           "print('\\n'.join(d['project']['dependencies']))",
                           str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                          check=True).stdout.split("\n")
    subprocess.run([*pip, *[d for d in deps if d], "setuptools>=68", "wheel"], env=env,
                   check=True)
    wall, _ = _timed([*pip, "-e", str(tree)], env, tree)
    return venv, tree, wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-aot-install", action="store_true",
                   help="also time an install without the ahead-of-time compile")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ls-cold-") as tmp:
        work = Path(tmp)
        venv, tree, install = _install(work, "aot", aot=True)
        rows.append(("pip install -e . (kernels compiled ahead of time)", install))
        exe = str(venv / "bin" / "labelstream")
        base = dict(os.environ, NUMBA_CACHE_DIR=str(work / "numba-first"))
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        run_dir = work / "run"
        run_dir.mkdir()
        results = {}
        for learner in ("ihomer", "moe"):
            wall, done = _timed([exe, "replay", "--learner", learner, "--json"], base, run_dir)
            results[learner] = json.loads(done.stdout)["example_f1"]
            rows.append((f"first `labelstream replay --learner {learner}` (AOT kernels)", wall))
        jit_env = dict(base, LABELSTREAM_AOT="0", NUMBA_CACHE_DIR=str(work / "numba-jit"))
        for pycache in tree.rglob("__pycache__"):  # numba's cache beside the sources too
            shutil.rmtree(pycache)
        for learner in ("ihomer", "moe"):
            wall, done = _timed([exe, "replay", "--learner", learner, "--json"], jit_env,
                                run_dir)
            same = json.loads(done.stdout)["example_f1"] == results[learner]
            rows.append((f"`--learner {learner}` with LABELSTREAM_AOT=0, numba's cache empty "
                         f"before the first of the two (numba compiles; same ex-F1: {same})",
                         wall))
        if args.no_aot_install:
            _, _, plain = _install(work, "plain", aot=False)
            rows.append(("pip install -e . with LABELSTREAM_NO_AOT=1", plain))
    if args.json:
        print(json.dumps({"rows": [{"run": r, "seconds": s} for r, s in rows]}))
    else:
        print("| run | seconds (wall) |\n|---|---|")
        for r, s in rows:
            print(f"| {r} | {s:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
