"""Where a server's CPU goes under load: py-spy (its own venv) sampling while wrk drives it.

Prints, per server, the share of samples whose stack passes through each package (inclusive:
``json``, ``pydantic``, ``logging``, ...) and the functions most often on top of the stack
(self time). Sampling (``--nonblocking``, 200 Hz) perturbs the run a little: these shares
explain the tables, they are not measurements of throughput.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from peers.procs import ensure_venv
from peers.report import RECORD

PINS = ["py-spy==0.4.3"]
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _package(path: str) -> str:
    """A frame's package: the directory under site-packages, ``lesson.<sub>``, or the stdlib module."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lesson/" in path:
        return "lesson." + path.split("/lesson/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/benchmarks/peers/" in path:
        return "peer model (" + Path(path).stem + ")"
    stdlib = re.search(r"/lib/python3\.\d+/([^/]+)", path)
    return ("stdlib " + stdlib.group(1).removesuffix(".py")) if stdlib else Path(path).name


def record(
    pid: int, seconds: float, load: Callable[..., object], *args: object
) -> tuple[int, Counter, Counter]:
    """Run ``load(*args)`` while py-spy samples ``pid`` (and its subprocesses); returns
    (samples, inclusive share counter by package, self counter by function)."""
    venv = ensure_venv("pyspy", PINS)
    out = Path(tempfile.mkstemp(suffix=".txt")[1])
    worker = threading.Thread(target=load, args=args)
    spy = subprocess.Popen(
        [
            str(venv / "bin" / "py-spy"),
            "record",
            "--nonblocking",
            "--subprocesses",
            "--full-filenames",
            "-r",
            "200",
            "-d",
            str(max(1, int(seconds))),
            "-f",
            "raw",
            "-o",
            str(out),
            "-p",
            str(pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker.start()
    try:
        _, err = spy.communicate(timeout=seconds + 60)
    finally:
        worker.join(seconds + 60)
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.strip()[-300:]}")
    total, inclusive, leaf = 0, Counter(), Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [m for m in (_FRAME.match(f) for f in stack.split(";")) if m]
        if not frames:
            continue
        total += n
        for package in {_package(m["file"]) for m in frames}:
            inclusive[package] += n
        top = frames[-1]
        leaf[f"{top['func']} ({_package(top['file'])})"] += n
    out.unlink()
    return total, inclusive, leaf


_ENTRY = ("<frozen runpy>", "typer", "click", "<string>", "stdlib runpy")


def show(
    name: str, total: int, inclusive: Counter, leaf: Counter, seconds: float, top: int = 8
) -> None:
    """Print the packages the samples' stacks pass through and the functions on top of them."""
    if not total:
        print(f"  {name}: no samples")
        return
    shares = ", ".join(
        f"{p} {100 * n / total:.0f}%"
        for p, n in inclusive.most_common(top + 8)
        if n / total >= 0.03 and not p.startswith(_ENTRY)
    )
    tops = ", ".join(f"{f} {100 * n / total:.1f}%" for f, n in leaf.most_common(top))
    print(f"  {name}: {total} samples in {seconds:g} s at 200 Hz (idle threads are not sampled)")
    print(f"    stacks through: {shares}")
    print("    on top (self): " + tops)
    RECORD.setdefault("profile", []).append(
        {"server": name, "samples": total, "stacks_through": shares, "on_top": tops}
    )
