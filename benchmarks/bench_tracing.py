"""What tracing costs: the REST server with tracing off, sampled at 10 % and at 100 %.

Two measurements, each alternating between the variants round by round:

1. In one process, raw ASGI calls of the V1 route (no socket): the median CPU microseconds a
   request of each app (`time.process_time`), and the throughput that implies, as a ratio to off.
2. Over the wire: one `lesson serve rest` per variant on 127.0.0.1, `lesson loadtest` (closed
   loop, 8 connections, the lean HTTP/1.1 client, which sends no ``traceparent``: the server
   samples) against each in turn; the median requests/s and its ratio to off.

    .venv/bin/python benchmarks/bench_tracing.py [--rounds 7] [--calls 2000] [--requests 3000]

The target (issue 27): sampled at 10 %, throughput >= 0.9x off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from asgi_calls import cpu_per_request

from lesson.servers.launch import running_server
from lesson.servers.rest.app import create_app

BODY = json.dumps({"instances": [[0.02] * 10]}).encode()
PATH = "/v1/models/diabetes-mlp:predict"
VARIANTS = {"off": None, "10 %": 0.1, "100 %": 1.0}


async def in_process(rounds: int, calls: int) -> dict[str, float]:
    apps = {name: create_app(trace_ratio=ratio) for name, ratio in VARIANTS.items()}
    for app in apps.values():
        app.state.backend.warm_up()

    def empty(app) -> None:  # the buffer is bounded; empty it anyway
        if app.state.backend.tracing is not None:
            app.state.backend.tracing.take()

    return await cpu_per_request(apps, PATH, BODY, rounds=rounds, calls=calls, after_round=empty)


def loadtest(url: str, requests: int) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "lesson.loadtest.cli", "--url", url, "--concurrency", "8"]
        + ["--requests", str(requests), "--warmup", "20", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)["throughput_rps"]


def over_the_wire(rounds: int, requests: int) -> dict[str, float]:
    rps: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with (
        running_server("rest") as off,
        running_server("rest", trace_ratio=0.1) as tenth,
        running_server("rest", trace_ratio=1.0) as every,
    ):
        urls = {"off": off.url, "10 %": tenth.url, "100 %": every.url}
        for _ in range(rounds):
            for name, url in urls.items():
                rps[name].append(loadtest(url, requests))
    return {name: statistics.median(values) for name, values in rps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    cpu = asyncio.run(in_process(args.rounds, args.calls))
    print(f"in process, raw ASGI calls (median of {args.rounds} x {args.calls}):")
    for name, value in cpu.items():
        print(
            f"  tracing {name:>5}: {value:6.1f} µs CPU a request, throughput {cpu['off'] / value:.3f}x off"
        )
    rps = over_the_wire(args.rounds, args.requests)
    print(
        f"over the wire, lesson loadtest, 8 connections (median of {args.rounds} x {args.requests}):"
    )
    for name, value in rps.items():
        print(f"  tracing {name:>5}: {value:7.0f} requests/s, {value / rps['off']:.3f}x off")


if __name__ == "__main__":
    main()
