"""Where ``lesson broker start`` records the broker it started, so ``lesson stream`` finds it.

A small JSON file (``{"url", "pid", "dir"}``) under ``$LESSON_STATE_DIR`` (default
``~/.cache/lesson``). Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "broker.json"


class NoBrokerError(RuntimeError):
    """No ``--url`` was given and ``lesson broker start`` has not started a broker."""


def state_path() -> Path:
    """The state file's path (``$LESSON_STATE_DIR/broker.json``, default ``~/.cache/lesson``)."""
    root = os.environ.get("LESSON_STATE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "lesson"
    )
    return Path(root) / STATE_FILE


def read_state() -> dict[str, Any] | None:
    """The recorded broker, or None if there is none (or its process is gone)."""
    try:
        state = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return None
    pid = state.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return None
    return state


def write_state(url: str, pid: int, directory: str) -> Path:
    """Record a started broker."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url, "pid": pid, "dir": directory}) + "\n")
    return path


def clear_state() -> None:
    """Forget the recorded broker."""
    try:
        state_path().unlink()
    except FileNotFoundError:
        pass


def default_url(url: str | None = None) -> str:
    """``url`` if given, else the broker ``lesson broker start`` started.

    Raises:
        NoBrokerError: neither exists; the message says what to run.
    """
    if url:
        return url
    state = read_state()
    if state is None:
        raise NoBrokerError(
            "no broker address: pass --url redis://127.0.0.1:PORT, or start one with "
            "`lesson broker start`"
        )
    return str(state["url"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
