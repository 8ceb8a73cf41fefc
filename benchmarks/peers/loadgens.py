"""The load generators, each run on the client core: wrk, h2load, locust and `lesson loadtest`.

wrk, locust and the harness are the package's runners (``lesson.loadtest.outside``, which
notebook 06 uses too) with a ``taskset`` prefix; h2load (gRPC over HTTP/2) is the benchmark's
own. Every runner returns ``{"rps", "p50", "p99", "errors"}`` (latencies in ms) and is bounded
by its duration plus a fixed slack (subprocess timeouts).
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import tempfile
from pathlib import Path

from lesson.core.stats import percentile
from peers.procs import CLIENT_CORE, ROOT

GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"
PIN = ("taskset", "-c", CLIENT_CORE)


def _figures(run) -> dict:
    """A package ToolRun as the benchmark's figures dict."""
    return {
        "rps": run.rps,
        "p50": run.p50_ms,
        "p99": run.p99_ms,
        "errors": run.errors,
        **run.details,
    }


def run_wrk(url: str, path: str, body: bytes, connections: int, seconds: float) -> dict:
    """wrk, one thread, POSTing ``body`` (JSON): closed loop, one request in flight per connection."""
    from lesson.loadtest.outside.wrk import run_wrk as wrk

    return _figures(wrk(url, path, body, connections, seconds, prefix=PIN))


def grpc_frame(row: list[float], model: str) -> bytes:
    """The gRPC message h2load POSTs: 1 flag byte, 4-byte big-endian length, ModelInferRequest."""
    from lesson.clients.grpc import build_infer_request

    message = build_infer_request([row], model).SerializeToString()
    return b"\x00" + struct.pack(">I", len(message)) + message


def run_h2load(
    port: int, frame: bytes, connections: int, seconds: float, warm_up_s: float = 0.5
) -> dict:
    """h2load (HTTP/2, gRPC headers), one thread, ``-m 1``: percentiles from its per-request log.

    h2load cannot read gRPC trailers (grpc-status): ``errors`` counts only HTTP and transport
    failures. ``answers`` and ``data_bytes`` (DATA frame bytes received) let the caller check that
    every answer carried a full message (a gRPC error is trailers-only: no DATA); h2load counts
    the DATA of its warm-up (``warm_up_s``) but not its answers, so that check needs
    ``warm_up_s=0``. The lesson's non-OK answers are counted on its metrics.
    """
    with (
        tempfile.NamedTemporaryFile("wb", suffix=".bin", delete=False) as body,
        tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log,
    ):
        body.write(frame)
    cmd = [
        "taskset",
        "-c",
        CLIENT_CORE,
        "h2load",
        "-t1",
        "-c",
        str(connections),
        "-m",
        "1",
        "-D",
        str(max(1, round(seconds))),
        *(["--warm-up-time", f"{warm_up_s * 1000:.0f}ms"] if warm_up_s else []),
        "-d",
        body.name,
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "--log-file",
        log.name,
        f"http://127.0.0.1:{port}{GRPC_INFER}",
    ]
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 60, check=True
        ).stdout
        latencies = sorted(
            int(line.split("\t")[2]) / 1000.0
            for line in Path(log.name).read_text().splitlines()
            if line.strip()
        )
    finally:
        os.unlink(body.name)
        os.unlink(log.name)
    done = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
    non_2xx = sum(
        int(n)
        for n in re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out).groups()
    )
    return {
        "rps": float(re.search(r"finished in [0-9.]+\w*, ([0-9.]+) req/s", out).group(1)),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "errors": non_2xx + sum(int(n) for n in done.groups()[1:]),
        "answers": int(done.group(1)),
        "data_bytes": int(re.search(r"\((\d+)\) data", out).group(1)),
    }


def run_locust(
    url: str,
    path: str,
    body: bytes,
    users: int,
    seconds: float,
    rate_per_user: float | None = None,
    skip_s: float = 1.0,
) -> dict:
    """locust headless (FastHttpUser, the package's locustfile), one process on the client core."""
    from lesson.loadtest.outside.locust_run import run_locust as locust

    return _figures(
        locust(
            url, path, body, users, seconds, rate_per_user=rate_per_user, skip_s=skip_s, prefix=PIN
        )
    )


def run_harness(
    url: str,
    concurrency: int,
    seconds: float,
    model: str,
    rate: float | None = None,
    protocol: str = "v1",
) -> dict:
    """`lesson loadtest --json` (closed loop at ``concurrency``, or open loop at ``rate`` req/s);
    ``protocol`` v1 or v2 (JSON tensors) for REST."""
    from lesson.loadtest.outside.harness import run_harness as harness

    return _figures(
        harness(
            url,
            concurrency,
            seconds,
            model=model,
            rate=rate,
            protocol=protocol,
            prefix=PIN,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            cwd=str(ROOT),
        )
    )
