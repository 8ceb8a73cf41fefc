"""Check your load tester: the lesson's harness beside wrk and locust, on the same server.

Outside tools are the reference a learner can trust without reading our code: wrk (C, one
thread, closed loop) and locust (Python, ``FastHttpUser``, headless). Each runs in its own
process, one after the other, against the same REST server on loopback, for the same number
of seconds and connections; :func:`compare_load_tools` returns one :class:`ToolRun` per tool,
with the tool's own figures (its requests per second, p50 and p99 as it measured them).

A tool that is not installed is reported (``available=False`` with the reason), never
faked. CPython only: the tools are subprocesses, which the browser does not have.
"""

from __future__ import annotations

import shutil
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ToolRun",
    "compare_load_tools",
    "check_loopback",
    "MAX_SECONDS",
    "MAX_CONNECTIONS",
    "TOOLS",
]

MAX_SECONDS = 30.0
MAX_CONNECTIONS = 64
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True)
class ToolRun:
    """One load generator's run: its own figures (latencies in ms) or why it did not run."""

    tool: str
    available: bool
    rps: float = float("nan")
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    requests: int = 0
    errors: int = 0
    note: str = ""
    details: dict[str, Any] = field(
        default_factory=dict
    )  # tool-specific figures (e.g. the harness's late sends)

    def row(self) -> dict[str, Any]:
        """A table row: figures rounded for reading, or the reason it did not run."""
        if not self.available:
            return {
                "tool": self.tool,
                "req/s": "not run",
                "p50 ms": "",
                "p99 ms": "",
                "requests": "",
                "errors": "",
                "note": self.note,
            }
        return {
            "tool": self.tool,
            "req/s": round(self.rps),
            "p50 ms": round(self.p50_ms, 2),
            "p99 ms": round(self.p99_ms, 2),
            "requests": self.requests,
            "errors": self.errors,
            "note": self.note,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_loopback(url: str) -> str:
    """``url`` without a trailing slash; raises ValueError unless it is http:// on 127.0.0.1 or localhost."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        raise ValueError(
            f"load only ever goes to a local server: expected http://127.0.0.1:PORT, got {url!r}"
        )
    return url.rstrip("/")


def _check_bounds(connections: int, seconds: float) -> None:
    if (
        isinstance(connections, bool)
        or not isinstance(connections, int)
        or not 1 <= connections <= MAX_CONNECTIONS
    ):
        raise ValueError(
            f"connections must be an integer in 1..{MAX_CONNECTIONS}, got {connections!r}"
        )
    if not 1.0 <= float(seconds) <= MAX_SECONDS:
        raise ValueError(f"seconds must be in 1..{MAX_SECONDS:g}, got {seconds!r}")


def _wrk(
    url: str, path: str, body: bytes, connections: int, seconds: float, model: str | None
) -> ToolRun:
    from lesson.loadtest.outside.wrk import run_wrk

    if shutil.which("wrk") is None:
        return ToolRun("wrk", False, note="wrk is not installed (Debian: apt-get install wrk)")
    return run_wrk(url, path, body, connections, seconds)


def _locust(
    url: str, path: str, body: bytes, connections: int, seconds: float, model: str | None
) -> ToolRun:
    from lesson.loadtest.outside.locust_run import locust_command, run_locust

    if locust_command() is None:
        return ToolRun("locust", False, note="locust is not installed (pip install locust)")
    return run_locust(url, path, body, connections, seconds)


def _harness(
    url: str, path: str, body: bytes, connections: int, seconds: float, model: str | None
) -> ToolRun:
    from lesson.loadtest.outside.harness import run_harness

    return run_harness(url, connections, seconds, model=model)


TOOLS: dict[str, Callable[..., ToolRun]] = {
    "wrk": _wrk,
    "locust": _locust,
    "lesson loadtest": _harness,
}


def compare_load_tools(
    url: str,
    *,
    path: str,
    body: bytes,
    model: str | None = None,
    connections: int = 8,
    seconds: float = 3.0,
    tools: Sequence[str] = tuple(TOOLS),
    progress: Callable[[str], None] | None = None,
) -> list[ToolRun]:
    """Run each of ``tools`` against ``url + path`` in turn, closed loop at ``connections``.

    wrk and locust POST ``body`` (JSON) on every request; the harness sends its own payloads of
    the model's width to the same V1 route. Bounded: 1..30 s and 1..64 connections per tool.
    """
    url = check_loopback(url)
    _check_bounds(connections, seconds)
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise ValueError(f"unknown tool(s) {unknown}; choose from {list(TOOLS)}")
    if sys.platform == "emscripten":
        raise RuntimeError(
            "outside load tools need subprocesses and sockets: run this in a local Jupyter"
        )
    runs = []
    for tool in tools:
        if progress:
            progress(f"{tool}: {connections} connections for {seconds:g} s")
        runs.append(TOOLS[tool](url, path, body, connections, seconds, model))
    return runs
