"""The lesson demo printed by ``python -m lesson``: load-testing the REST adapter honestly.

Three parts, all in-process and standard-library only (so it also runs in the browser):

1. a sequential load test (``lesson.run_synthetic_load_test``) against the REST adapter, with
   percentiles;
2. a closed-loop run with several concurrent workers;
3. why the open loop matters: a simulated single-worker server that stalls once, measured
   closed-loop (the stall hides) and open-loop (the stall shows in p99).

Run it::

    python -m lesson.teaching.demo --requests 500 --concurrency 4
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from lesson.core.model import averaged_ensembled_model
from lesson.core.runtime import IN_BROWSER, clock_resolution, threads_available
from lesson.loadtest import LoadTestResult, run_load_test
from lesson.original_api import (
    describe_serving_landscape,
    fastapi_rest_adapter,
    run_synthetic_load_test,
)


def demo_payloads(n: int = 200, *, n_features: int = 3, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` reproducible V1 payloads, each one flat instance of ``n_features`` numbers in [0, 1)."""
    rng = random.Random(seed)
    return [{"instances": [round(rng.random(), 3) for _ in range(n_features)]} for _ in range(n)]


def stalling_endpoint(
    inner: Callable[[Any], Any],
    *,
    service_time: float = 0.002,
    stall_at: int = 100,
    stall_for: float = 0.2,
) -> Callable[[Any], Any]:
    """A SIMULATED server around ``inner``: one request at a time, each taking ``service_time``
    seconds, and call number ``stall_at`` stalls for ``stall_for`` seconds (a GC pause, a
    noisy neighbour). Requests that arrive meanwhile queue behind it, as on a real
    single-worker server.
    """
    lock = threading.Lock()
    calls = [0]

    def endpoint(payload: Any) -> Any:
        with lock:
            calls[0] += 1
            time.sleep(stall_for if calls[0] == stall_at else service_time)
            return inner(payload)

    return endpoint


def _three_fields_line(result: LoadTestResult) -> str:
    return (
        f"  LoadTestResult(avg_latency={result.avg_latency:.6f}, "
        f"throughput={result.throughput:.1f}, success_rate={result.success_rate:.2f})"
    )


def demo_report(
    *, requests: int = 500, concurrency: int = 4, seed: int = 7, stall_demo: bool = True
) -> str:
    """Run the demo and return its text report.

    Args:
        requests: requests per run (the sequential test sends each payload once).
        concurrency: workers for the closed-loop run (1 where threads cannot start).
        seed: seed for the synthetic payloads.
        stall_demo: include part 3 (about 2 s).
    """
    if not threads_available():
        concurrency = 1
    endpoint = fastapi_rest_adapter(averaged_ensembled_model)
    payloads = demo_payloads(requests, seed=seed)
    where = "browser (Pyodide)" if IN_BROWSER else "CPython"
    out = [
        "Serving Patterns Lab - load-testing the in-process REST adapter",
        f"runtime: {where}; clock resolution {clock_resolution() * 1e6:.3g} µs",
        f"example: {payloads[0]} -> {endpoint(payloads[0])}",
        "",
        f"1. The synthetic load test: {requests} requests, one after the other",
    ]
    sequential = run_synthetic_load_test(endpoint, payloads, warmups=1)
    out += [_three_fields_line(sequential), sequential.to_text(), ""]

    out.append(f"2. Closed loop: {concurrency} workers, each sends when its last answer arrives")
    closed = run_load_test(
        endpoint, payloads, concurrency=concurrency, max_requests=requests * 4, max_duration=5.0
    )
    out += [closed.to_text(), ""]

    if stall_demo:
        n, rate = 300, 250.0
        out.append(
            "3. Coordinated omission. A SIMULATED single-worker server (2 ms per request) stalls"
            " once for 200 ms."
        )
        calm = run_load_test(
            stalling_endpoint(endpoint), payloads, concurrency=1, max_requests=n, max_duration=10.0
        )
        opened = run_load_test(
            stalling_endpoint(endpoint),
            payloads,
            rate=rate,
            concurrency=16 if threads_available() else 1,
            max_requests=n,
            max_duration=10.0,
        )
        out += [
            "   closed loop (1 worker): the load pauses with the server, one slow sample:",
            calm.to_text(),
            f"   open loop ({rate:g} req/s): requests keep arriving during the stall and wait:",
            opened.to_text(),
            f"   -> p99 closed {calm.p99 * 1000:.1f} ms vs open {opened.p99 * 1000:.1f} ms: measure from the"
            " intended send time or the stall disappears.",
            "",
        ]

    out.append("The serving landscape (its latency words are claims, not measured here):")
    for name, entry in describe_serving_landscape().items():
        out.append(f"  {name:<10} latency {entry['latency']:<9} strength: {entry['strength']}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (standard library only): print the demo report."""
    parser = argparse.ArgumentParser(
        prog="python -m lesson", description="Run the Serving Patterns Lab demo."
    )
    parser.add_argument(
        "command", nargs="?", default="demo", choices=["demo"], help="only 'demo' without typer"
    )
    parser.add_argument("--requests", type=int, default=500, help="requests per run (1..100000)")
    parser.add_argument("--concurrency", type=int, default=4, help="closed-loop workers (1..256)")
    parser.add_argument("--seed", type=int, default=7, help="seed for the synthetic payloads")
    parser.add_argument(
        "--no-stall", action="store_true", help="skip the coordinated-omission part"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000:
        parser.error("--requests must be in 1..100000")
    if not 1 <= args.concurrency <= 256:
        parser.error("--concurrency must be in 1..256")
    print(
        demo_report(
            requests=args.requests,
            concurrency=args.concurrency,
            seed=args.seed,
            stall_demo=not args.no_stall,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
