"""locust, headless, one process (``FastHttpUser``, the package's ``locustfile.py``): its figures.

Latencies are every successful request's response time at full precision (the CSV rounds
them to whole milliseconds under 100 ms, too coarse here), leaving out the first ``skip_s``
seconds while the users start; requests per second over the rest. Failures come from
locust's own summary (a non-2xx answer is a failure).

Never import ``locust`` in this process: importing it monkey-patches the interpreter for
gevent. It runs as its own process only.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lesson.core.stats import percentile
from lesson.loadtest.outside import LOCUSTFILE, ToolRun


def locust_command() -> str | None:
    """The ``locust`` executable beside this interpreter, else on PATH, else None."""
    beside = Path(sys.executable).with_name("locust")
    return str(beside) if beside.exists() else shutil.which("locust")


def summarise(samples: list[list[float]], failures: int, skip_s: float) -> ToolRun:
    """``samples`` are ``[end_time_s, ms]`` per successful request, in order."""
    start = samples[0][0] + skip_s if samples else 0.0
    kept = [(t, ms) for t, ms in samples if t >= start]
    latencies = sorted(ms for _, ms in kept)
    span = kept[-1][0] - kept[0][0] if len(kept) > 1 else 0.0
    return ToolRun(
        "locust",
        True,
        rps=(len(kept) - 1) / span if span else float("nan"),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        requests=len(kept),
        errors=failures,
        note="Python (gevent), FastHttpUser",
    )


def run_locust(
    url: str,
    path: str,
    body: bytes,
    users: int,
    seconds: float,
    *,
    rate_per_user: float | None = None,
    skip_s: float = 1.0,
    prefix: Sequence[str] = (),
) -> ToolRun:
    """``users`` users, each one request in flight (or paced at ``rate_per_user`` req/s), for
    ``seconds`` after ``skip_s`` of start-up."""
    locust = locust_command()
    if locust is None:
        raise RuntimeError("locust is not installed (pip install locust)")
    work = Path(tempfile.mkdtemp(prefix="locust-"))
    env = dict(
        os.environ,
        LOCUST_PATH=path,
        LOCUST_BODY=body.decode(),
        LOCUST_LATENCY_FILE=str(work / "lat.json"),
    )
    env.pop("LOCUST_RATE_PER_USER", None)
    if rate_per_user:
        env["LOCUST_RATE_PER_USER"] = str(rate_per_user)
    cmd = [
        *prefix,
        locust,
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{max(2, round(seconds + skip_s))}s",
        "--host",
        url,
        "--csv",
        str(work / "out"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "5",
    ]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=seconds + skip_s + 60,
            env=env,
            cwd=work,
            check=False,
        )
        if (
            done.returncode not in (0, 1) or not (work / "lat.json").exists()
        ):  # 1: some requests failed
            raise RuntimeError(
                f"locust failed (exit {done.returncode}): {done.stderr.strip()[-400:]}"
            )
        samples = json.loads((work / "lat.json").read_text())
        rows = {row["Name"]: row for row in csv.DictReader((work / "out_stats.csv").open())}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failures = int(rows["Aggregated"]["Failure Count"]) if "Aggregated" in rows else 0
    return summarise(samples, failures, skip_s)
