"""Soak: many requests at high concurrency against each real server, errors by kind and memory.

For each server -- REST and gRPC, each without and with dynamic batching -- the benchmark
starts `lesson serve` on a free 127.0.0.1 port, sends ``--requests`` requests (default 12,000)
at concurrency ``--concurrency`` (default 32) with the lesson's load generator, in
``--segments`` equal closed-loop runs one after another, and reads the server process's
``VmRSS`` and ``VmHWM`` from ``/proc/<pid>/status`` after warm-up, after each segment and at the
end. Reported: every error by kind (target: none), RSS at the start, middle and end, and the
growth from the middle to the end (target: under 10 %: the first half lets caches, pools and
the allocator reach their working size; a leak keeps growing after that).

    .venv/bin/python benchmarks/bench_soak.py [--requests 12000] [--concurrency 32] [--segments 6]

Bounded: at most 200,000 requests and 300 s per segment. Load goes to 127.0.0.1 only.

Measured (2026-12-03 08:52 UTC, 2-core VM, another job's benchmark running beside it; defaults):
0 errors on every server; RSS middle -> end: REST 71.8 -> 71.8 MB (+0.0 %), REST batched 72.8 ->
72.8 (+0.0 %), gRPC 72.7 -> 72.6 (-0.2 %), gRPC batched 72.5 -> 72.0 (-0.7 %); 2,000-2,900 req/s.
No leak to fix.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from lesson.loadtest.wire import make_payloads, run_over_wire
from lesson.servers.launch import running_server

SERVERS = {
    "rest": ("rest", {}),
    "rest batched": ("rest", {"max_batch_size": 32, "max_delay_ms": 1.0}),
    "grpc": ("grpc", {}),
    "grpc batched": ("grpc", {"max_batch_size": 32, "max_delay_ms": 1.0}),
}
MAX_REQUESTS = 200_000


def memory_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (kB) of a process, from ``/proc``."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def soak(name: str, kind: str, options: dict, args: argparse.Namespace) -> dict:
    with running_server(
        kind, registry="lesson.models.mlp_numpy:serving_registry", **options
    ) as server:
        payloads = make_payloads(10, 1, count=256)
        run_over_wire(
            server.url,
            payloads,
            concurrency=args.concurrency,
            rate=None,
            max_requests=500,
            max_duration=60,
            warmup=50,
        )
        samples = [memory_kb(server.pid)]
        errors: dict[str, int] = {}
        examples: dict[str, str] = {}
        sent = ok = 0
        throughput = []
        per_segment = args.requests // args.segments
        for _ in range(args.segments):
            result, _client = run_over_wire(
                server.url,
                payloads,
                concurrency=args.concurrency,
                rate=None,
                max_requests=per_segment,
                max_duration=300,
                warmup=0,
            )
            sent += result.requests
            ok += result.successes
            throughput.append(result.throughput)
            for kind_, n in result.errors.items():
                errors[kind_] = errors.get(kind_, 0) + n
            examples.update({k: v for k, v in result.error_examples.items() if k not in examples})
            samples.append(memory_kb(server.pid))
            if result.requests < per_segment:
                print(
                    f"  {name}: a segment sent only {result.requests} of {per_segment} "
                    f"(stopped by {result.stopped_by})",
                    file=sys.stderr,
                )
    middle = samples[len(samples) // 2]["VmRSS"]
    end = samples[-1]["VmRSS"]
    return {
        "server": name,
        "requests": sent,
        "ok": ok,
        "errors": errors,
        "examples": examples,
        "req_per_s": statistics.median(throughput),
        "rss_start_mb": samples[0]["VmRSS"] / 1024,
        "rss_mid_mb": middle / 1024,
        "rss_end_mb": end / 1024,
        "hwm_mb": samples[-1]["VmHWM"] / 1024,
        "growth": (end - middle) / middle,
        "trace_mb": [round(s["VmRSS"] / 1024, 1) for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=12_000, help=f"requests per server (1..{MAX_REQUESTS})"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (1..256)")
    parser.add_argument(
        "--segments", type=int, default=6, help="runs between memory readings (2..50)"
    )
    parser.add_argument(
        "--only", choices=sorted(SERVERS), action="append", help="servers to soak (repeat)"
    )
    args = parser.parse_args(argv)
    if not (
        1 <= args.requests <= MAX_REQUESTS
        and 1 <= args.concurrency <= 256
        and 2 <= args.segments <= 50
    ):
        parser.error("--requests 1..200000, --concurrency 1..256, --segments 2..50")
    rows = [soak(name, *SERVERS[name], args) for name in (args.only or SERVERS)]
    print(
        f"soak: {args.requests:,} requests per server at concurrency {args.concurrency}, "
        f"{args.segments} segments; RSS of the server process"
    )
    print(
        f"{'server':<13} | {'requests':>8} | {'errors':<16} | {'req/s':>6} | {'RSS start':>9} | "
        f"{'middle':>7} | {'end':>7} | {'peak':>7} | {'mid->end':>8}"
    )
    failed = False
    for r in rows:
        errs = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "none"
        verdict = "ok" if r["growth"] < 0.10 else "OVER 10 %"
        failed |= bool(r["errors"]) or r["growth"] >= 0.10
        print(
            f"{r['server']:<13} | {r['requests']:>8,} | {errs:<16} | {r['req_per_s']:>6,.0f} | "
            f"{r['rss_start_mb']:>6.1f} MB | {r['rss_mid_mb']:>7.1f} | {r['rss_end_mb']:>7.1f} | "
            f"{r['hwm_mb']:>7.1f} | {100 * r['growth']:>+6.1f} % {verdict}"
        )
    for r in rows:
        print(f"  {r['server']}: RSS after warm-up and each segment (MB): {r['trace_mb']}")
        for kind_, text in r["examples"].items():
            print(f"  {r['server']}: first {kind_}: {text}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
