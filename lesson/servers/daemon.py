"""A local daemon the project starts and stops itself (the broker's ``redis-server``, the
observing lesson's ``prometheus``): a free loopback port, a process in its own session that
dies with its parent unless detached, readiness polled within a bound, SIGTERM then SIGKILL,
and every attached daemon stopped when this interpreter exits.

Standard library only; `lesson.servers.broker` and `lesson.servers.observe` say what to run.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = [
    "die_with_parent",
    "free_port",
    "is_running",
    "spawn",
    "stop_process",
    "stop_status_commands",
    "tail",
    "track",
    "untrack",
    "wait_ready",
]

_LIVE: dict[int, Callable[[], None]] = {}  # pid -> stop it (attached daemons of this process)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def spawn(
    cmd: Sequence[str], *, detached: bool, output: IO[bytes] | int = subprocess.DEVNULL
) -> subprocess.Popen:
    """Start ``cmd`` in a session of its own; unless ``detached`` it dies with this process."""
    return subprocess.Popen(
        list(cmd),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=None if detached else die_with_parent,
    )


def wait_ready(
    ready: Callable[[], bool], process: subprocess.Popen, timeout: float, poll_s: float = 0.02
) -> bool:
    """Poll ``ready()`` until it is true (True), the process exits or ``timeout`` s pass (False)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True


def is_running(pid: int, process: subprocess.Popen | None = None) -> bool:
    """Whether the daemon still runs (a zombie does not)."""
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_process(pid: int, process: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL; forget it (`untrack`)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_running(pid, process) and time.monotonic() < deadline:
        time.sleep(0.02)
    if is_running(pid, process):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if process is not None:
            process.wait(5)
    untrack(pid)


def tail(path: str, lines: int = 5) -> str:
    """The last ``lines`` of a log file, on one line ("" if unreadable)."""
    try:
        with open(path, errors="replace") as f:
            return " | ".join(line.strip() for line in f.readlines()[-lines:])
    except OSError:
        return ""


def track(pid: int, stop: Callable[[], None]) -> None:
    """Stop this daemon with ``stop()`` when the interpreter exits (unless untracked first)."""
    _LIVE[pid] = stop


def untrack(pid: int) -> None:
    _LIVE.pop(pid, None)


@atexit.register
def _stop_all() -> None:
    for stop in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            stop()


def stop_status_commands(app: Any, module: str, what: str) -> None:
    """Add ``stop`` and ``status`` to a typer ``app``: ``module``'s ``stop_command`` and
    ``status_command`` (imported when run), for the daemon called ``what``."""
    import typer

    def stop() -> None:
        raise typer.Exit(importlib.import_module(module).stop_command())

    def status() -> None:
        raise typer.Exit(importlib.import_module(module).status_command())

    stop.__doc__ = f"Stop the {what} `start` started."
    status.__doc__ = f"Say whether the {what} runs and answers."
    app.command("stop")(stop)
    app.command("status")(status)
