"""Where should the generative server step its engine: a worker thread or the event loop?

Starts `lesson serve llm` twice (``--engine-loop thread`` and ``loop``), then, alternating
between them for ``--rounds`` rounds, runs the stream harness with 8 concurrent streams
(closed loop, ``ignore_eos``, every answer ``--max-tokens`` long) and prints ITL, TPOT, TTFT
and output tokens/s for each::

    python benchmarks/bench_llm_engine_loop.py --impl ngram
    python benchmarks/bench_llm_engine_loop.py --impl numpy --max-tokens 96
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from lesson.loadtest.llm_wire import make_prompts, run_streams
from lesson.servers.launch import running_server


def stream_round(url: str, streams: int, requests: int, max_tokens: int, prompt_len: int = 24):
    """One closed-loop round of the stream harness (``ignore_eos``); fails on any error."""
    summary = asyncio.run(
        run_streams(
            url,
            prompts=make_prompts(16, prompt_len),
            max_tokens=max_tokens,
            concurrency=streams,
            max_requests=requests,
            max_duration=120,
            extra={"ignore_eos": True},
            warmup=2,
        )
    )
    assert summary.failed == 0, summary.errors
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", default="auto")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", default="", help="PYTHONPATH for the servers (test models)")
    parser.add_argument("--gil-switch-ms", type=float, default=None)
    args = parser.parse_args()
    env = {"PYTHONPATH": args.env} if args.env else None
    rows: dict[str, list] = {"thread": [], "loop": []}
    common = dict(impl=args.impl, max_num_seqs=8, env=env, gil_switch_ms=args.gil_switch_ms)
    with (
        running_server("llm", engine_loop="thread", **common) as a,
        running_server("llm", engine_loop="loop", **common) as b,
    ):
        for _ in range(args.rounds):
            for where, server in (("thread", a), ("loop", b)):
                rows[where].append(
                    stream_round(server.url, args.streams, args.requests, args.max_tokens)
                )
    print(
        f"impl={args.impl}, GIL switch {args.gil_switch_ms or 5} ms, {args.streams} streams, "
        f"{args.max_tokens} tokens each, {args.rounds} rounds (median of rounds)"
    )
    print(
        f"{'engine on':<10}{'ITL p50':>10}{'ITL p99':>10}{'TPOT mean':>11}{'TTFT p50':>10}{'tok/s':>9}"
    )
    for where, runs in rows.items():

        def med(f, runs=runs):
            return statistics.median(f(s) for s in runs)

        print(
            f"{where:<10}{med(lambda s: s.itl.median) * 1e3:>8.2f}ms{med(lambda s: s.itl.p99) * 1e3:>8.2f}ms"
            f"{med(lambda s: s.tpot.mean) * 1e3:>9.2f}ms{med(lambda s: s.ttft.median) * 1e3:>8.2f}ms"
            f"{med(lambda s: s.output_throughput):>9.0f}"
        )


if __name__ == "__main__":
    main()
