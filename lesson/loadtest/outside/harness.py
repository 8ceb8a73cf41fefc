"""The lesson's own harness as an outside tool would run: ``lesson loadtest --json`` in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence

from lesson.loadtest.outside import ToolRun


def run_harness(
    url: str,
    concurrency: int,
    seconds: float,
    *,
    model: str | None = None,
    rate: float | None = None,
    protocol: str = "v1",
    warmup: int = 50,
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> ToolRun:
    """Closed loop at ``concurrency`` for ``seconds``, or open loop at ``rate`` req/s (at most
    ``concurrency`` in flight). ``details`` holds the share of late sends and the client-bound flag."""
    cmd = [
        sys.executable,
        "-m",
        "lesson.loadtest.cli",
        "--url",
        url,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(seconds),
        "--warmup",
        str(warmup),
        "--json",
        "--requests",
        str(int(rate * seconds) if rate else 1_000_000),
    ]
    cmd += ["--model", model] if model else []
    cmd += ["--rate", str(rate)] if rate else []
    cmd += ["--protocol", protocol] if url.startswith("http") else []
    done = subprocess.run(
        [*prefix, *cmd],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
        env=env,
        cwd=cwd,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"lesson loadtest failed (exit {done.returncode}): {done.stderr.strip()[-400:]}"
        )
    report = json.loads(done.stdout)
    requests = int(report["requests"])
    loop = f"open loop at {rate:g}/s" if rate else "closed loop"
    return ToolRun(
        "lesson loadtest",
        True,
        rps=report["throughput_rps"],
        p50_ms=report["p50_ms"],
        p99_ms=report["p99_ms"],
        requests=requests,
        errors=sum(report["errors"].values()),
        note=f"Python (asyncio), {loop}",
        details={
            "late": report.get("late_sends", 0) / max(requests, 1),
            "client_bound": bool(report.get("client_bound", False)),
        },
    )
