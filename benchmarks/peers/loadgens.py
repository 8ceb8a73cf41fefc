"""The load generators, each run on the client core: wrk, h2load, locust and `lesson loadtest`.

Every runner returns ``{"rps", "p50", "p99", "errors"}`` (latencies in ms) and is bounded by
its duration plus a fixed slack (subprocess timeouts).
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from peers.procs import CLIENT_CORE, ROOT

GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.match(r"([0-9.]+)(us|ms|s)", text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))]


def run_wrk(url: str, path: str, body: bytes, connections: int, seconds: float) -> dict:
    """wrk, one thread, POSTing ``body`` (JSON): closed loop, one request in flight per connection."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n'
                     'wrk.headers["Content-Type"] = "application/json"\n')
    try:
        out = subprocess.run(["taskset", "-c", CLIENT_CORE, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                              "--timeout", "30s", "--latency", "-s", script.name, url + path],
                             capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(script.name)
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),
            "p50": _ms(pct["50"]), "p99": _ms(pct["99"]), "errors": errors}


def grpc_frame(row: list[float], model: str) -> bytes:
    """The gRPC message h2load POSTs: 1 flag byte, 4-byte big-endian length, ModelInferRequest."""
    from lesson.clients.grpc import build_infer_request

    message = build_infer_request([row], model).SerializeToString()
    return b"\x00" + struct.pack(">I", len(message)) + message


def run_h2load(port: int, frame: bytes, connections: int, seconds: float) -> dict:
    """h2load (HTTP/2, gRPC headers), one thread, ``-m 1``: percentiles from its per-request log.

    h2load cannot read gRPC trailers: the caller counts non-OK answers on the server's metrics.
    """
    with tempfile.NamedTemporaryFile("wb", suffix=".bin", delete=False) as body, \
            tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
        body.write(frame)
    cmd = ["taskset", "-c", CLIENT_CORE, "h2load", "-t1", "-c", str(connections), "-m", "1",
           "-D", str(max(1, round(seconds))), "--warm-up-time", "500ms", "-d", body.name,
           "-H", "content-type: application/grpc", "-H", "te: trailers", "--log-file", log.name,
           f"http://127.0.0.1:{port}{GRPC_INFER}"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        latencies = sorted(int(line.split("\t")[2]) / 1000.0 for line in Path(log.name).read_text().splitlines() if line.strip())
    finally:
        os.unlink(body.name)
        os.unlink(log.name)
    done = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
    non_2xx = sum(int(n) for n in re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out).groups())
    return {"rps": float(re.search(r"finished in [0-9.]+\w*, ([0-9.]+) req/s", out).group(1)),
            "p50": percentile(latencies, 0.50), "p99": percentile(latencies, 0.99),
            "errors": non_2xx + sum(int(n) for n in done.groups()[1:])}


def run_locust(url: str, path: str, body: bytes, users: int, seconds: float,
               rate_per_user: float | None = None, skip_s: float = 1.0) -> dict:
    """locust headless (FastHttpUser, ``benchmarks/locustfile.py``), one process on the client core.

    Latencies are every request's response time at full precision (not the CSV's rounded ones),
    leaving out the first ``skip_s`` seconds (the users' ramp-up); requests/s over the rest.
    """
    work = Path(tempfile.mkdtemp(prefix="locust-"))
    env = dict(os.environ, LOCUST_PATH=path, LOCUST_BODY=body.decode(), LOCUST_LATENCY_FILE=str(work / "lat.json"))
    if rate_per_user:
        env["LOCUST_RATE_PER_USER"] = str(rate_per_user)
    else:
        env.pop("LOCUST_RATE_PER_USER", None)
    locust = str(Path(sys.executable).with_name("locust"))
    cmd = ["taskset", "-c", CLIENT_CORE, locust, "-f", str(ROOT / "benchmarks" / "locustfile.py"), "--headless",
           "-u", str(users), "-r", str(users), "-t", f"{max(2, round(seconds + skip_s))}s", "--host", url,
           "--csv", str(work / "out"), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "5"]
    try:
        subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, env=env, cwd=work, check=True)
        samples = json.loads((work / "lat.json").read_text())
        stats = (work / "out_stats.csv").read_text().splitlines()
    finally:
        for f in work.iterdir():
            f.unlink()
        work.rmdir()
    start = samples[0][0] + skip_s if samples else 0.0
    kept = [(t, ms) for t, ms in samples if t >= start]
    latencies = sorted(ms for _, ms in kept)
    span = kept[-1][0] - kept[0][0] if len(kept) > 1 else float("nan")
    failures = int(stats[-1].split(",")[3]) if len(stats) > 1 else -1
    return {"rps": (len(kept) - 1) / span if span else float("nan"), "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99), "errors": failures}


def run_harness(url: str, concurrency: int, seconds: float, model: str, rate: float | None = None,
                protocol: str = "v1") -> dict:
    """`lesson loadtest --json` (closed loop at ``concurrency``, or open loop at ``rate`` req/s);
    ``protocol`` v1 or v2 (JSON tensors) for REST."""
    cmd = [sys.executable, "-m", "lesson.loadtest.cli", "--url", url, "--concurrency", str(concurrency),
           "--duration", str(seconds), "--warmup", "50", "--model", model, "--json",
           "--requests", str(int(rate * seconds) if rate else 1_000_000)]
    cmd += ["--rate", str(rate)] if rate else []
    cmd += ["--protocol", protocol] if url.startswith("http") else []
    out = subprocess.run(["taskset", "-c", CLIENT_CORE, *cmd], capture_output=True, text=True, timeout=seconds + 60,
                         check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=str(ROOT)).stdout
    report = json.loads(out)
    return {"rps": report["throughput_rps"], "p50": report["p50_ms"], "p99": report["p99_ms"],
            "errors": sum(report["errors"].values()), "late": report.get("late_sends", 0) / max(report["requests"], 1),
            "client_bound": report.get("client_bound", False)}
