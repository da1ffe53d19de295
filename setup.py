"""Build hook: compile the numba kernels ahead of time while installing.

``pip install`` (editable or not) runs ``python -m stream.kernels.aot build`` after the usual
build step, so the first ``labelstream`` run loads compiled kernels instead of compiling
them (see stream/kernels/aot.py). The metadata lives in pyproject.toml. When the compile
cannot run (no C compiler, an unusual platform), the install goes on without it and the
kernels compile on first use as before; set ``LABELSTREAM_NO_AOT=1`` to skip it.
"""

import os
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class build_py_with_kernels(build_py):  # noqa: N801 - setuptools' command naming
    def run(self):
        super().run()
        if os.environ.get("LABELSTREAM_NO_AOT") == "1":
            return
        if getattr(self, "editable_mode", False):
            out = ROOT / "stream" / "kernels" / "_aot"
        else:
            out = Path(self.build_lib) / "stream" / "kernels" / "_aot"
        env = dict(os.environ, PYTHONPATH=str(ROOT), LABELSTREAM_AOT="0")
        cmd = [sys.executable, "-m", "stream.kernels.aot", "build", "--out", str(out)]
        print("labelstream: compiling the kernels ahead of time (about a minute) ...",
              file=sys.stderr)
        try:
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, timeout=1800)
        except (OSError, subprocess.SubprocessError) as err:
            print(f"labelstream: the ahead-of-time compile failed ({err}); the kernels will "
                  "compile on first use instead", file=sys.stderr)


setup(cmdclass={"build_py": build_py_with_kernels})
