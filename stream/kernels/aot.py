"""The ahead-of-time (AOT) build of the kernels, and its lookup at run time.

``pip install`` (``setup.py``'s build step) runs ``python -m stream.kernels.aot build``: it
compiles every kernel for the argument types listed in ``aot_signatures.json`` into one
extension module with numba's AOT compiler (``numba.pycc``, for this machine's CPU), next to
a manifest naming each export, its argument types and the SHA-256 of every kernel source.
At run time :func:`table_for` gives a kernel its ``{argument keys: compiled function}`` table
when the extension imports and every source still has the hash it was built from; otherwise
the table is empty and the kernel runs through numba as before (a changed source, another
Python, no C compiler at install: slower start, same results).

The signature list is recorded, not written by hand: run any workload with
``LABELSTREAM_RECORD_KERNELS=path`` and the kernels append the types they were called with
(``python -m stream.kernels.aot record`` replays the dev streams with every learner).

Command line::

    python -m stream.kernels.aot build [--out DIR]   # compile (about a minute on 2 cores)
    python -m stream.kernels.aot status              # what the current build covers
    python -m stream.kernels.aot record              # re-record aot_signatures.json
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from stream.kernels import aot_lookup
from stream.kernels.aot_lookup import DEFAULT_OUT, EXTENSION, MANIFEST, ROOT, status

__all__ = ["build", "record", "reset", "status"]

SIGNATURES = Path(__file__).resolve().parent / "aot_signatures.json"


# --- sources and their hashes ---------------------------------------------------------------

def _source_hashes(modules) -> dict:
    out = {}
    for name in sorted(modules):
        path = Path(sys.modules[name].__file__).resolve()
        out[_relative(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _kernel_modules() -> set:
    from stream.kernels.jit import _KERNELS

    return {k.__module__ for k in _KERNELS}


def _resolve(name: str):
    from stream.kernels.jit import _kernel_by_name

    return _kernel_by_name(*name.split(":"))


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:  # a kernel module outside the package (the tests' probe)
        return str(path)


# --- the build ------------------------------------------------------------------------------

def build(out=DEFAULT_OUT, signatures=SIGNATURES, verbose: bool = True) -> Path:
    """Compile the listed kernels into ``out/labelstream_kernels*.so`` plus its manifest."""
    import time

    import numba.pycc.compiler as pycc_compiler
    from numba.pycc import CC

    t0 = time.perf_counter()
    entries = json.loads(Path(signatures).read_text())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    class _ReleaseGil(pycc_compiler.Flags):
        # the exports release the GIL as the kernels' nogil=True dispatchers do (a worker's
        # Kafka heartbeat thread keeps running while a kernel does)
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.release_gil = True

    pycc_compiler.Flags = _ReleaseGil
    cc = CC(EXTENSION)
    cc.output_dir = str(out)
    cc.target_cpu = "host"
    cc.verbose = False
    exports = []
    for i, entry in enumerate(entries):
        kernel = _resolve(entry["kernel"])
        arg_types = tuple(aot_lookup.type_of_spec(s) for s in entry["args"])
        dispatcher = kernel.dispatcher
        dispatcher.compile(arg_types)
        ret = dispatcher.overloads[arg_types].signature.return_type
        export = f"k{i}_{kernel.__name__}"
        params = ", ".join(f"a{j}" for j in range(len(arg_types)))
        ns = {"kernel": dispatcher}
        exec(f"def {export}({params}):\n    return kernel({params})\n", ns)
        cc.export(export, ret(*arg_types))(ns[export])
        exports.append({"kernel": entry["kernel"], "export": export, "args": entry["args"]})
        if verbose:
            print(f"\r[aot] typed {i + 1}/{len(entries)} signatures", end="", file=sys.stderr)
    if verbose:
        print(f"\n[aot] compiling {len(exports)} exports ...", file=sys.stderr)
    for old in out.glob(f"{EXTENSION}*"):
        old.unlink()
    cc.compile()
    so = next(out.glob(f"{EXTENSION}*"))
    manifest = {"extension": so.name, "python": sys.implementation.cache_tag,
                "sources": _source_hashes(_kernel_modules()), "exports": exports}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    if verbose:
        print(f"[aot] {so} ({so.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return so


def reset() -> None:
    """Forget the loaded build: the next kernel call looks it up again (after a rebuild, or
    with another ``LABELSTREAM_AOT_DIR``)."""
    from stream.kernels.jit import _KERNELS

    aot_lookup.forget()
    for k in _KERNELS:
        k._aot = None
        k._last = None


# --- recording ------------------------------------------------------------------------------

def record(path=SIGNATURES) -> None:
    """Replay the dev streams with each learner, recording the kernels' argument types."""
    import subprocess

    data = Path(os.environ.get("LABELSTREAM_DATA", ROOT.parent / "shared" / "data"))
    env = dict(os.environ, LABELSTREAM_RECORD_KERNELS=str(path), LABELSTREAM_AOT="0")
    files = [data / f for f in ("scene/scene-train.arff", "medical/medical.arff",
                                "enron/enron.arff", "flags/flags.arff")]
    sources = [[]] + [[str(f)] for f in files if f.exists()]
    runs = [[learner, *src] for learner in ("ihomer", "br", "moe", "moe-task", "mlht", "knn")
            for src in sources]
    # the paths options switch on: delayed and noisy labels, active queries, no neighbours
    runs += [["ihomer", "--label-delay", "50"], ["ihomer", "--label-noise", "missing=0.3"],
             ["ihomer", "--label-budget", "0.3"], ["ihomer", "--no-neighbours"],
             ["ihomer", "--shuffle", "1", *sources[-1]]]
    # the block parsers' warm-ups call them as the readers do (LIBSVM has no dev file), and
    # the worker's message parser as the worker does
    subprocess.run([sys.executable, "-c", "from stream.readers._fastparse import warm_up; "
                    "warm_up(); warm_up(sparse=True); warm_up(libsvm=True); "
                    "from connectors.kafka.message_kernels import warm_up; warm_up()"],
                   env=env, check=True, cwd=ROOT)
    for learner, *rest in runs:
        cmd = [sys.executable, "-m", "connectors.cli", "replay", "--learner", learner,
               "--limit", "800", "--json", *rest]
        print("[aot] record:", " ".join(cmd[3:]), file=sys.stderr)
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m stream.kernels.aot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="compile the kernels ahead of time")
    b.add_argument("--out", default=str(DEFAULT_OUT))
    sub.add_parser("status", help="what the current build covers")
    sub.add_parser("record", help="re-record aot_signatures.json from replays")
    args = p.parse_args(argv)
    if args.cmd == "build":
        build(args.out)
    elif args.cmd == "record":
        record()
    print(status())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
