"""Check the stream harness against an outside LLM benchmark: NVIDIA's aiperf on `lesson serve llm`.

aiperf (``aiperf==0.13.0``, its own venv ``.cache/bench-venvs/aiperf``, installed once; a
byte-level tokenizer made locally, offline: see :mod:`lesson.loadtest.outside.aiperf`) and
``lesson loadtest-llm`` run back to back on ONE server, the same closed-loop load (concurrency,
prompt length, exactly ``--max-tokens`` output tokens with ``ignore_eos``, request count),
alternating for ``--rounds`` rounds; prints each round, the medians and the ratios
aiperf / lesson for TTFT (mean and median), inter-token latency (aiperf's per-request ITL is
the lesson's TPOT; compared with both) and output tokens/s::

    python benchmarks/bench_outside_llm.py                       # the tiny transformer (numpy)
    python benchmarks/bench_outside_llm.py --impl ngram --rounds 3
    python benchmarks/bench_outside_llm.py --impl llm_test_models:slow_lm --model slow-lm \\
        --env tests/servers                                      # the test's 5 ms-per-step model

Method (as bench_peers.py): the server pinned to core 0, both tools to core 1 (taskset); a round
where OTHER processes used more than 0.15 of a core is marked contaminated, and the medians are
of the clean rounds when there are any. The tiny model's context is 128 tokens, so the prompt
and the answer together stay under it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers.procs import CpuWatch

from lesson.loadtest.outside import aiperf
from lesson.servers.launch import running_server


def pin(pid: int, cpu: int) -> None:
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except OSError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="numpy")
    parser.add_argument("--model", default="tiny-lm", help="the served name")
    parser.add_argument("--env", default="", help="PYTHONPATH for the server (test models)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--input-tokens", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    t0 = time.monotonic()
    venv = aiperf.ensure_venv()
    print(f"aiperf venv ready in {time.monotonic() - t0:.1f} s: {venv}")
    env = {"PYTHONPATH": str(Path(args.env).resolve())} if args.env else None
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(
            "llm", impl=args.impl, model=args.model, env=env, max_num_seqs=args.concurrency
        ) as server,
    ):
        pin(server.pid, 0)
        work = Path(tmp)
        tokenizer_env = aiperf.make_tokenizer(venv, work / "tokenizer")
        load = dict(
            concurrency=args.concurrency,
            input_tokens=args.input_tokens,
            output_tokens=args.max_tokens,
            requests=args.requests,
            warmup=args.concurrency,
            core="1",
        )
        rounds = []
        for i in range(args.rounds):
            with CpuWatch(server.pid) as watch_a:
                a = aiperf.run_aiperf(
                    server.url,
                    venv=venv,
                    tokenizer_env=tokenizer_env,
                    workdir=work,
                    model=args.model,
                    seed=i,
                    **load,
                )
            with CpuWatch(server.pid) as watch_b:
                b = aiperf.run_lesson_llm(server.url, seed=i, **load)
            dirty = watch_a.contaminated or watch_b.contaminated
            rounds.append({"aiperf": a.as_dict(), "lesson": b.as_dict(), "contaminated": dirty})
            print(
                f"round {i + 1}{' (contaminated)' if dirty else ''}: "
                f"aiperf TTFT {a.ttft_mean_ms:.2f}/{a.ttft_median_ms:.2f} ms (mean/p50) "
                f"ITL {a.itl_mean_ms:.3f} ms {a.output_tps:.0f} tok/s | lesson TTFT "
                f"{b.ttft_mean_ms:.2f}/{b.ttft_median_ms:.2f} ms ITL {b.itl_mean_ms:.3f} ms "
                f"TPOT {b.tpot_mean_ms:.3f} ms {b.output_tps:.0f} tok/s | client CPU s "
                f"(wall s): aiperf {a.cpu_s:.1f} ({a.seconds:.1f}), lesson {b.cpu_s:.1f} "
                f"({b.seconds:.1f})",
                flush=True,
            )
    clean = [r for r in rounds if not r["contaminated"]] or rounds

    def med(tool: str, key: str) -> float:
        return statistics.median(r[tool][key] for r in clean)

    ratios = {
        "TTFT mean": med("aiperf", "ttft_mean_ms") / med("lesson", "ttft_mean_ms"),
        "TTFT p50": med("aiperf", "ttft_median_ms") / med("lesson", "ttft_median_ms"),
        "ITL (vs lesson ITL)": med("aiperf", "itl_mean_ms") / med("lesson", "itl_mean_ms"),
        "ITL (vs lesson TPOT)": med("aiperf", "itl_mean_ms") / med("lesson", "tpot_mean_ms"),
        "output tokens/s": med("aiperf", "output_tps") / med("lesson", "output_tps"),
    }
    n_clean = sum(not r["contaminated"] for r in rounds)
    which = f"{n_clean} clean round(s)" if n_clean else "ALL rounds (every one contaminated)"
    print(f"\nmedians of {which} of {len(rounds)}; aiperf / lesson:")
    for name, ratio in ratios.items():
        verdict = "ok" if abs(ratio - 1) <= 0.15 else "OUTSIDE 15 %"
        print(f"  {name:<22} {ratio:6.3f}  {verdict}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": None}, "rounds": rounds,
                                         "ratios": ratios}, indent=2, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
