"""Constants and helpers shared by the server tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: the test models' module is importable by the server subprocesses through this
TEST_ENV = {"PYTHONPATH": str(HERE)}
SLEEPY = "lesson_test_models:sleepy_registry"
SLOW_START = "lesson_test_models:slow_start_registry"
MODEL = "averaged_ensemble"


def http(
    method: str,
    url: str,
    body: bytes | dict | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request (stdlib): (status, lower-cased headers, body) — errors included."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def error_of(body: bytes) -> str:
    """The protocol's error message; fails the test if the body is not `{"error": "..."}`."""
    payload = json.loads(body)
    assert isinstance(payload, dict) and isinstance(payload.get("error"), str), payload
    return payload["error"]


def wait_for(predicate, timeout: float = 10.0, every: float = 0.02) -> bool:
    """Poll ``predicate()`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def python_output(code: str, timeout: float = 60) -> str:
    """What ``python -c code`` prints in a fresh interpreter (fails the test if it fails)."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
    return True


def loadtest_json(url: str, concurrency: int, requests: int) -> dict[str, Any]:
    """Run the ``loadtest`` CLI (closed loop, 5 warm-up requests) against ``url``; its JSON report."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lesson.loadtest.cli",
            "--url",
            url,
            "--concurrency",
            str(concurrency),
            "--requests",
            str(requests),
            "--warmup",
            "5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
