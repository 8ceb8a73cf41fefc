"""What tracing costs the generative server: `lesson serve llm` with tracing off, sampled at
10 % and at 100 %, the stream harness against each in turn, round by round.

Closed loop, ``--streams`` concurrent streams of ``--max-tokens`` tokens (``ignore_eos``); the
harness sends no ``traceparent``, so each server samples at the door. Prints each variant's
median output tokens/s over the rounds and its ratio to off, the server process's CPU per
output token (``/proc``: the steadier figure on a shared machine) and TTFT p50 / ITL p99::

    .venv/bin/python benchmarks/bench_tracing_llm.py [--impl numpy] [--rounds 5]

A traced request costs one SERVER span and three phase spans made once, when it ends
(`lesson.servers.llm.tracing`), not one per token. The target (issue 27): 10 % >= 0.9x off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_llm_engine_loop import stream_round

from lesson.servers.launch import running_server

VARIANTS = {"off": None, "10 %": 0.1, "100 %": 1.0}


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spans_cost(tokens: int, calls: int = 3000) -> float:
    """CPU µs the spans of one traced request cost in process: the server span (as the
    middleware opens it) and `GenerationTracer.record` over a timeline of ``tokens`` tokens."""
    from lesson.patterns.generative.sequence import RequestTimeline
    from lesson.servers.llm.tracing import GenerationTracer

    tracer = GenerationTracer(1.0)
    now = time.perf_counter()
    timeline = RequestTimeline("r", 48, queued_at=now - 0.2, admitted_at=now - 0.15)
    timeline.token_times = [now - 0.1 + i * 0.003 for i in range(tokens)]
    t0 = time.process_time()
    for i in range(calls):
        with tracer.tracer.start_as_current_span("POST /v1/completions"):
            tracer.record(timeline, 48, "length", tokens)
        if i % 1000 == 999:
            tracer.tracing.take()
    return (time.process_time() - t0) / calls * 1e6


def span_per_token_cost(tokens: int, calls: int = 1000) -> float:
    """CPU µs of the alternative not taken: one span per generated token (the decode steps)."""
    from opentelemetry import trace

    from lesson.servers.llm.tracing import GenerationTracer

    tracer = GenerationTracer(1.0)
    start = time.time_ns()
    t0 = time.process_time()
    for i in range(calls):
        with tracer.tracer.start_as_current_span("POST /v1/completions") as server:
            parent = trace.set_span_in_context(server)
            for k in range(tokens):
                step = tracer.tracer.start_span("llm.decode.step", parent, start_time=start + k)
                step.end(end_time=start + k + 1)
        if i % 100 == 99:
            tracer.tracing.take()
    return (time.process_time() - t0) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="numpy")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    spans_us = statistics.median(spans_cost(args.max_tokens) for _ in range(5))
    per_token_us = statistics.median(span_per_token_cost(args.max_tokens) for _ in range(5))
    runs: dict[str, list] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}  # µs a token, per round
    common = dict(impl=args.impl, max_num_seqs=8)
    with (
        running_server("llm", **common) as off,
        running_server("llm", trace_ratio=0.1, **common) as tenth,
        running_server("llm", trace_ratio=1.0, **common) as every,
    ):
        servers = {"off": off, "10 %": tenth, "100 %": every}
        for _ in range(args.rounds):
            for name, server in servers.items():
                before = cpu_seconds(server.pid)
                summary = stream_round(server.url, args.streams, args.requests, args.max_tokens, 48)
                runs[name].append(summary)
                used = cpu_seconds(server.pid) - before
                cpu[name].append(used / summary.output_tokens * 1e6)
    print(
        f"impl={args.impl}, {args.streams} streams, {args.requests} requests of "
        f"{args.max_tokens} tokens, median of {args.rounds} rounds (alternated):"
    )
    tok = {name: statistics.median(s.output_throughput for s in rs) for name, rs in runs.items()}
    per_token = {name: statistics.median(values) for name, values in cpu.items()}
    request_us = per_token["off"] * args.max_tokens
    print(
        f"in process: a traced request's spans cost {spans_us:.1f} µs CPU (median of 5 x 3000), "
        f"{spans_us / request_us:.2%} of an untraced request's server CPU here "
        f"({request_us / 1000:.1f} ms for {args.max_tokens} tokens); at 10 %: "
        f"{0.1 * spans_us / request_us:.3%}; a span per token instead: {per_token_us:.0f} µs "
        f"({per_token_us / request_us:.2%})"
    )
    for name, rs in runs.items():
        ttft = statistics.median(s.ttft.median for s in rs) * 1000
        itl = statistics.median(s.itl.p99 for s in rs) * 1000
        print(
            f"  tracing {name:>5}: {tok[name]:7.0f} tokens/s, {tok[name] / tok['off']:.3f}x off "
            f"(per round: {', '.join(f'{s.output_throughput:.0f}' for s in rs)}); "
            f"server CPU {per_token[name]:.0f} µs a token ({per_token[name] / per_token['off']:.3f}x); "
            f"TTFT p50 {ttft:.1f} ms, ITL p99 {itl:.1f} ms"
        )


if __name__ == "__main__":
    main()
