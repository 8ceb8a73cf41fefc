"""`lesson serve llm` runs OpenBLAS on one thread unless told otherwise (faster prefills here)."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str, env_extra: dict[str, str]) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


CODE = (
    "import os\n"
    "from lesson.servers.cli import one_blas_thread\n"
    "print(one_blas_thread(), os.environ['OPENBLAS_NUM_THREADS'])\n"
)


def test_one_thread_by_default_before_numpy_loads():
    assert _run(CODE, {}) == "True 1"


def test_the_callers_choice_is_kept():
    assert _run(CODE, {"OPENBLAS_NUM_THREADS": "2"}) == "True 2"


def test_it_says_when_numpy_came_first():
    assert _run("import numpy\n" + CODE, {}) == "False 1"
