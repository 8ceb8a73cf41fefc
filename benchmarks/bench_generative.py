"""Generative serving, measured: continuous vs static batching, engine overhead, prefix caching, KV memory.

Run on demand (not a test); prints one table per section, with the date, the command, the CPU
other processes used meanwhile and a verdict per target::

    python benchmarks/bench_generative.py --quick          # a short run of every section (~1 min)
    python benchmarks/bench_generative.py                  # the full run (~6 min)
    python benchmarks/bench_generative.py --only batching --rates 24,32 --duration 30 --rounds 3

Sections (the model is the tiny transformer in numpy, ``load_tiny_lm_numpy``: 4 layers,
d_model 64, a context of 128 byte tokens):

- ``batching`` -- ``lesson serve llm`` started twice, ``--scheduling continuous`` and
  ``--scheduling static`` (max_num_seqs 8), alternately, round by round, under the same open
  loop over HTTP: Poisson arrivals (seeded) at each of ``--rates``, short prompts, ``max_tokens`` drawn
  (seeded) from {8, 32, 96} with ``ignore_eos`` so every answer's length is known. Goodput is
  the completed requests meeting BOTH objectives (TTFT <= ``--ttft-slo-ms``, TPOT <=
  ``--tpot-slo-ms``) per second. Target: continuous >= 2x static's goodput; p99 TTFT printed.
  ``--impl accelerator`` serves the same model on a SIMULATED accelerator's step cost
  (:mod:`lesson.models.accelerator_lm`: 4 ms a step + 20 µs a token, a wait), the cost shape
  of a GPU's decode, where a step of 8 sequences costs about what a step of one does.
- ``overhead`` -- in-process, no server: decode tokens/s with B sequences all decoding, (a) the
  raw batched ``model.forward`` (one token each, no scheduler, no sampling) and (b) the
  :class:`~lesson.patterns.generative.Engine` with ``max_num_seqs = B`` (scheduler, KV block
  accounting, sampling, events), interleaved repeat by repeat. Target: engine >= 0.7x raw,
  greedy (temperature 0) and temperature 1 (the default). The raw pass is timed two ways:
  ``model.forward`` (the protocol's call, logits as Python lists) and ``model.forward_array``
  (logits left in numpy, as the engine's ``forward_sample`` gets them), the stricter baseline.
- ``prefix`` -- in-process engine, one request at a time: a 96-token shared system prompt plus
  a distinct 8-token suffix, ``max_tokens`` 8; TTFT (the engine's timeline: queued to first
  token) with ``prefix_caching`` on vs off, and the ratio. No target.
- ``kv`` -- in-process engine, ``max_num_seqs`` 16, a burst of requests (prompt ~24 tokens,
  ``max_tokens`` from {8, 32, 96}) on a sweep of ``num_blocks`` (block size 16): sequences in
  flight (mean and max per step), preemptions, tokens/s. No target.

Other processes' CPU: the machine's busy time (``/proc/stat``) minus this process's, its
children's and the servers'; a run where others used more than 0.25 cores is marked ``*``
(contaminated). ``--blas-threads N`` runs everything (this process and the servers) with
``OPENBLAS_NUM_THREADS=N`` (default: as shipped, unset: OpenBLAS starts a thread per core).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import resource
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from lesson.loadtest.arrivals import Arrivals, arrival_offsets
from lesson.loadtest.llm_wire import make_prompts, stream_once
from lesson.loadtest.open_loop import sleep_until_async
from lesson.loadtest.settings import clock, grace
from lesson.loadtest.streams import SLO, StreamSummary, StreamTiming, summarize

CONTAMINATION_CORES = 0.25
LENGTHS = (8, 32, 96)
TARGETS = {
    "goodput": 2.0,  # continuous / static goodput under the SLO, same arrivals
    "overhead": 0.7,  # engine decode tokens/s / raw batched forward tokens/s, same B
}


# ---------------------------------------------------------------- CPU of everyone else
class CpuWatch:
    """CPU (in cores) used by other processes while a run happens: the machine's busy time
    minus this process's, its children's and the given server processes'."""

    def __init__(self, pids: list[int] | None = None) -> None:
        self.pids = pids or []

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def _ours(self) -> float:
        total = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            total += usage.ru_utime + usage.ru_stime
        return total + self._servers()

    def _servers(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    parts = f.read().rsplit(")", 1)[1].split()
                total += (float(parts[11]) + float(parts[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                pass
        return total

    def __enter__(self) -> CpuWatch:
        self.t0, self.busy0, self.ours0 = time.monotonic(), self._busy(), self._ours()
        self.servers0 = self._servers()
        return self

    def __exit__(self, *exc: Any) -> None:
        wall = time.monotonic() - self.t0
        self.ours = self._ours() - self.ours0
        self.servers = self._servers() - self.servers0
        others = self._busy() - self.busy0 - self.ours
        self.other_cores = max(0.0, others / wall) if wall > 0 else 0.0
        self.our_cores = self.ours / wall if wall > 0 else 0.0
        self.contaminated = self.other_cores > CONTAMINATION_CORES

    def mark(self) -> str:
        return f"{self.other_cores:.2f}{'*' if self.contaminated else ''}"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_model() -> Any:
    from lesson.models.lm_numpy import load_tiny_lm_numpy

    return load_tiny_lm_numpy()


# ---------------------------------------------------------------- batching (over HTTP)
async def open_loop(
    url: str,
    *,
    prompts: list[str],
    lengths: list[int],
    rate: float,
    duration: float,
    seed: int,
    slo: SLO,
    concurrency: int = 256,
) -> StreamSummary:
    """Poisson arrivals at ``rate``; request ``i`` asks for ``lengths[i]`` tokens, ignore_eos.

    TTFT counts from the intended send time (as :mod:`lesson.loadtest.llm_wire`)."""
    import aiohttp

    offsets = arrival_offsets(
        Arrivals("poisson", 1.0, seed), rate=rate, limit=len(lengths), horizon=duration
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_read=duration + 60)
    connector = aiohttp.TCPConnector(limit=concurrency + 1)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        def body(i: int) -> dict[str, Any]:
            return {
                "prompt": prompts[i % len(prompts)],
                "max_tokens": lengths[i],
                "stream": True,
                "stream_options": {"include_usage": True},
                "seed": i,
                "temperature": 1.0,
                "ignore_eos": True,
            }

        await stream_once(session, url, body(0), StreamTiming(clock()))  # warm-up
        timings: list[StreamTiming] = []
        tasks: set[asyncio.Task[Any]] = set()
        start = clock()
        deadline = start + duration
        for i, offset in enumerate(offsets):
            intended = start + offset
            await sleep_until_async(intended, idle=lambda: not tasks)
            if clock() >= deadline:
                break
            t = StreamTiming(intended)
            timings.append(t)
            task = asyncio.ensure_future(stream_once(session, url, body(i), t))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            hard_stop = deadline + grace(duration) + 30
            _, pending = await asyncio.wait(set(tasks), timeout=max(hard_stop - clock(), 0))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for t in timings:
            if t.end is None and t.error is None:
                t.error = "unfinished: cut off at the run's hard stop"
        ends = [t.end for t in timings if t.end is not None and t.ok]
        return summarize(
            timings, start=start, end=max(ends) if ends else clock(), slo=slo, mode="open"
        )


def section_batching(args: argparse.Namespace) -> dict[str, Any]:
    from lesson.servers.launch import running_server

    slo = SLO(ttft=args.ttft_slo_ms / 1000, tpot=args.tpot_slo_ms / 1000)
    # the accelerator's step is a wait: its engine steps on a worker thread, so responses are
    # written while the simulated device works, as a host does while a GPU computes
    loop = "thread" if args.impl == "accelerator" else "loop"
    common = dict(
        impl=args.impl, engine_loop=loop, max_num_seqs=8, max_waiting=2048, num_blocks=256
    )
    prompts = make_prompts(64, 16, args.seed)
    rows: dict[tuple[float, str], list[tuple[StreamSummary, CpuWatch]]] = {}
    with (
        running_server("llm", scheduling="continuous", **common) as cont,
        running_server("llm", scheduling="static", **common) as stat,
    ):
        for rate in args.rates:
            n = max(1, int(rate * args.duration * 1.5))
            rng = random.Random(args.seed)
            lengths = [rng.choice(LENGTHS) for _ in range(n)]
            for r in range(args.rounds):
                for name, server in (("continuous", cont), ("static", stat)):
                    with CpuWatch([cont.pid, stat.pid]) as watch:
                        s = asyncio.run(
                            open_loop(
                                server.url,
                                prompts=prompts,
                                lengths=lengths,
                                rate=rate,
                                duration=args.duration,
                                seed=args.seed,
                                slo=slo,
                            )
                        )
                    rows.setdefault((rate, name), []).append((s, watch))
                    print(
                        f"  {rate:g} req/s round {r + 1} {name:<10} completed {s.completed} "
                        f"failed {s.failed} goodput {s.goodput:.2f} req/s, TTFT p99 "
                        f"{s.ttft.p99 * 1e3:.0f} ms, others {watch.mark()} cores",
                        flush=True,
                    )
    print()
    print(
        f"Continuous vs static batching over HTTP: `lesson serve llm --impl {args.impl} "
        f"--engine-loop {loop} --max-num-seqs 8 --scheduling continuous|static`, open loop, Poisson arrivals (seed "
        f"{args.seed}) for {args.duration:g} s a run, prompts 16 chars, max_tokens from "
        f"{LENGTHS} (ignore_eos, T=1), SLO: TTFT <= {args.ttft_slo_ms:g} ms and TPOT <= "
        f"{args.tpot_slo_ms:g} ms; medians of {args.rounds} round(s); TTFT from the intended send; "
        f"CPU/tok: CPU of the servers, the load generator and this script per output token "
        f"(server: the servers' share)"
    )
    print(
        f"{'rate':>5} {'scheduling':<11}{'goodput':>8}{'good/done':>11}{'tok/s':>7}"
        f"{'TTFT p50':>10}{'TTFT p99':>10}{'TPOT p50':>10}{'TPOT p99':>10}{'CPU/tok':>9}{'server':>8}  others"
    )
    out: dict[str, Any] = {}
    for (rate, name), runs in rows.items():
        ss = [s for s, _ in runs]
        fig = {
            "goodput": med([s.goodput or 0.0 for s in ss]),
            "good": med([s.good for s in ss]),
            "completed": med([s.completed for s in ss]),
            "failed": sum(s.failed for s in ss),
            "tps": med([s.output_throughput for s in ss]),
            "ttft50": med([s.ttft.median for s in ss]),
            "ttft99": med([s.ttft.p99 for s in ss]),
            "tpot50": med([s.tpot.median for s in ss]),
            "tpot99": med([s.tpot.p99 for s in ss]),
            "others": ", ".join(w.mark() for _, w in runs),
            # CPU of both servers, the load generator and this process, per output token
            "us_per_token": med([w.ours / max(s.output_tokens, 1) * 1e6 for s, w in runs]),
            "server_us_per_token": med(
                [w.servers / max(s.output_tokens, 1) * 1e6 for s, w in runs]
            ),
        }
        out[f"{rate:g} {name}"] = fig
        print(
            f"{rate:>5g} {name:<11}{fig['goodput']:>8.2f}{fig['good']:>6.0f}/{fig['completed']:<4.0f}"
            f"{fig['tps']:>7.0f}{fig['ttft50'] * 1e3:>8.0f}ms{fig['ttft99'] * 1e3:>8.0f}ms"
            f"{fig['tpot50'] * 1e3:>8.1f}ms{fig['tpot99'] * 1e3:>8.1f}ms"
            f"{fig['us_per_token']:>7.0f}us{fig['server_us_per_token']:>6.0f}us  {fig['others']}"
        )
        if fig["failed"]:
            errors: dict[str, int] = {}
            for s in ss:
                for k, v in s.errors.items():
                    errors[k] = errors.get(k, 0) + v
            print(f"{'':>17}failed: {errors}")
    for rate in args.rates:
        pairs = list(zip(rows[(rate, "continuous")], rows[(rate, "static")], strict=True))
        ratios = [a.goodput / b.goodput if b.goodput else float("inf") for (a, _), (b, _) in pairs]
        ratio = med(ratios)
        # pooled: every round's good requests over every round's time, per policy; one busy
        # minute on the shared machine moves a round's ratio 10x, the pooled one much less
        pooled = [
            sum(s.good for s, _ in rows[(rate, name)])
            / max(sum(s.duration for s, _ in rows[(rate, name)]), 1e-9)
            for name in ("continuous", "static")
        ]
        pooled_ratio = pooled[0] / pooled[1] if pooled[1] else float("inf")
        ttft = med([b.ttft.p99 / a.ttft.p99 for (a, _), (b, _) in pairs])
        out[f"{rate:g} ratio"] = ratio
        out[f"{rate:g} pooled ratio"] = pooled_ratio
        print(
            f"{rate:g} req/s: goodput continuous / static {ratio:.2f}x (rounds: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}; pooled over the rounds {pooled[0]:.2f} / "
            f"{pooled[1]:.2f} = {pooled_ratio:.2f}x) -> target >= {TARGETS['goodput']:g}x: "
            f"{verdict(ratio >= TARGETS['goodput'])}; TTFT p99 static / continuous {ttft:.2f}x"
        )
    return out


# ---------------------------------------------------------------- engine overhead
def _decoding_engine(model: Any, batch: int, temperature: float) -> Any:
    from lesson.patterns.generative import Engine, EngineConfig, SamplingParams

    engine = Engine(
        model, EngineConfig(max_num_seqs=batch, max_tokens_per_step=512, num_blocks=256)
    )
    prompts = make_prompts(batch, 20, seed=1)
    for i, prompt in enumerate(prompts):
        engine.add_request(
            model.encode(prompt),
            SamplingParams(max_tokens=100, temperature=temperature, ignore_eos=True, seed=i),
        )
    while engine.scheduler.waiting or any(s.to_compute > 1 for s in engine.scheduler.running):
        engine.step()  # prefills
    engine.step()
    return engine


def section_overhead(args: argparse.Namespace) -> dict[str, Any]:
    model = load_model()
    steps = args.steps
    out: dict[str, Any] = {}
    print(
        f"Engine overhead (in-process): decode tokens/s, B sequences all decoding, {steps} steps "
        f"a repeat (positions ~21..{21 + steps}), raw batched forward vs the Engine, "
        f"{args.repeats} interleaved repeats, medians of the paired ratios. raw = model.forward "
        f"(the protocol's call: logits as lists of floats); raw arr = model.forward_array "
        f"(the same pass, logits left in one numpy array: what the engine's forward_sample uses)"
    )
    print(
        f"{'B':>4}{'raw tok/s':>11}{'raw arr':>9}{'engine T=0':>12}{'ratio':>7}{'/arr':>6}"
        f"{'engine T=1':>12}{'ratio':>7}{'/arr':>6}{'raw ms/step':>13}  others"
    )
    for batch in args.batches:
        raw, arr, greedy, sampled, marks = [], [], [], [], []
        for repeat in range(args.repeats):
            with CpuWatch() as watch:
                raws = [(model.forward, raw), (model.forward_array, arr)]
                for call, into in raws if repeat % 2 else raws[::-1]:  # alternate who goes first
                    caches = [model.new_cache() for _ in range(batch)]
                    model.forward(
                        [(model.encode(p), c) for p, c in zip(make_prompts(batch, 20, 1), caches)]
                    )
                    call([([32], c) for c in caches])
                    t0 = time.perf_counter()
                    for _ in range(steps):
                        call([([32], c) for c in caches])
                    into.append(batch * steps / (time.perf_counter() - t0))
                for temperature, into in ((0.0, greedy), (1.0, sampled)):
                    engine = _decoding_engine(model, batch, temperature)
                    t0 = time.perf_counter()
                    tokens = 0
                    for _ in range(steps):
                        tokens += len(engine.step())
                    into.append(tokens / (time.perf_counter() - t0))
            marks.append(watch.mark())

        def ratio(xs: list[float], ys: list[float]) -> float:
            return med([x / y for x, y in zip(xs, ys, strict=True)])

        r0, r1 = ratio(greedy, raw), ratio(sampled, raw)
        a0, a1 = ratio(greedy, arr), ratio(sampled, arr)
        out[batch] = {"raw": med(raw), "raw_array": med(arr), "greedy": med(greedy)}
        out[batch].update(sampled=med(sampled), ratio_greedy=r0, ratio_sampled=r1)
        out[batch].update(ratio_greedy_array=a0, ratio_sampled_array=a1)
        print(
            f"{batch:>4}{med(raw):>11.0f}{med(arr):>9.0f}{med(greedy):>12.0f}{r0:>6.2f}x"
            f"{a0:>5.2f}x{med(sampled):>12.0f}{r1:>6.2f}x{a1:>5.2f}x"
            f"{batch / med(raw) * 1e3:>13.2f}  {', '.join(marks)}"
        )
        target = TARGETS["overhead"]
        print(
            f"     B={batch}: engine / raw, greedy {r0:.2f}x ({verdict(r0 >= target)}), temperature "
            f"1 {r1:.2f}x ({verdict(r1 >= target)}); against raw arr {a0:.2f}x "
            f"({verdict(a0 >= target)}), {a1:.2f}x ({verdict(a1 >= target)}); target >= {target:g}x"
        )
    return out


# ---------------------------------------------------------------- prefix caching
def section_prefix(args: argparse.Namespace) -> dict[str, Any]:
    from lesson.patterns.generative import Engine, EngineConfig, SamplingParams

    model = load_model()
    shared = model.encode(make_prompts(1, 96, seed=7)[0])
    suffixes = [model.encode(f" q{i:05d}?") for i in range(args.prefix_requests)]  # 8 bytes
    out: dict[str, Any] = {}
    figures: dict[bool, list[float]] = {True: [], False: []}
    hits: dict[bool, int] = {}
    marks = []
    # interleaved: a round of `on`, then a round of `off`, each a fresh engine
    for _ in range(args.repeats):
        for caching in (True, False):
            engine = Engine(model, EngineConfig(max_num_seqs=8, prefix_caching=caching))
            with CpuWatch() as watch:
                for i, suffix in enumerate(suffixes):
                    rid = engine.add_request(
                        shared + suffix, SamplingParams(max_tokens=8, temperature=0.0, seed=i)
                    )
                    engine.run()
                    ttft = engine.timeline(rid).time_to_first_token
                    if i:  # the first request fills the cache in both
                        figures[caching].append(ttft)
            hits[caching] = engine.stats().prefix_hit_tokens
            marks.append(watch.mark())
    on, off = med(figures[True]), med(figures[False])
    p90 = {c: statistics.quantiles(v, n=10)[-1] for c, v in figures.items() if len(v) > 1}
    out.update(on=on, off=off, ratio=off / on)
    print(
        f"Prefix caching (in-process engine, one request at a time): a {len(shared)}-token shared "
        f"prompt + an 8-token suffix, max_tokens 8, greedy; {args.prefix_requests} requests x "
        f"{args.repeats} repeats each way (the first of each repeat not counted); TTFT = queued "
        f"to first token"
    )
    print(f"{'prefix cache':<14}{'TTFT p50':>10}{'TTFT p90':>10}{'hit tokens':>12}")
    for caching in (True, False):
        print(
            f"{'on' if caching else 'off':<14}{med(figures[caching]) * 1e3:>8.2f}ms"
            f"{p90.get(caching, float('nan')) * 1e3:>8.2f}ms{hits[caching]:>12}"
        )
    print(f"TTFT off / on: {off / on:.2f}x (no target); others {', '.join(marks)} cores")
    return out


# ---------------------------------------------------------------- KV memory
def section_kv(args: argparse.Namespace) -> dict[str, Any]:
    from lesson.patterns.generative import Engine, EngineConfig, SamplingParams

    model = load_model()
    rng = random.Random(args.seed)
    lengths = [rng.choice(LENGTHS) for _ in range(args.kv_requests)]
    prompts = [model.encode(p) for p in make_prompts(args.kv_requests, 24, args.seed)]
    out: dict[str, Any] = {}
    print(
        f"KV memory (in-process engine, max_num_seqs 16, block size 16, prefix caching off): "
        f"{args.kv_requests} requests at once, prompts 24 tokens, max_tokens from {LENGTHS} "
        f"(ignore_eos, T=1, seeded); {sum(lengths)} tokens to generate"
    )
    print(
        f"{'num_blocks':>10}{'positions':>11}{'in flight mean':>16}{'max':>5}{'preemptions':>13}"
        f"{'steps':>7}{'tok/s':>8}{'wall s':>8}{'others':>8}"
    )
    for num_blocks in args.blocks:
        engine = Engine(
            model,
            EngineConfig(
                max_num_seqs=16, num_blocks=num_blocks, block_size=16, prefix_caching=False
            ),
        )
        for i, (prompt, n) in enumerate(zip(prompts, lengths, strict=True)):
            engine.add_request(
                prompt, SamplingParams(max_tokens=n, temperature=1.0, ignore_eos=True, seed=i)
            )
        in_flight: list[int] = []
        tokens = 0
        with CpuWatch() as watch:
            t0 = time.perf_counter()
            while engine.has_work():
                tokens += len(engine.step())
                if engine.last_step is not None:
                    in_flight.append(engine.last_step.num_seqs)
            wall = time.perf_counter() - t0
        stats = engine.stats()
        fig = {
            "mean": statistics.fmean(in_flight),
            "max": max(in_flight),
            "preemptions": stats.preemptions,
            "steps": stats.steps,
            "tps": tokens / wall,
            "wall": wall,
        }
        out[num_blocks] = fig
        print(
            f"{num_blocks:>10}{num_blocks * 16:>11}{fig['mean']:>16.1f}{fig['max']:>5}"
            f"{fig['preemptions']:>13}{fig['steps']:>7}{fig['tps']:>8.0f}{wall:>8.2f}"
            f"{watch.mark():>8}"
        )
    return out


# ---------------------------------------------------------------- main
SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "batching": section_batching,
    "overhead": section_overhead,
    "prefix": section_prefix,
    "kv": section_kv,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run of every section")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--impl",
        choices=("numpy", "accelerator"),
        default="numpy",
        help="batching: the server's model: the tiny transformer on this CPU (numpy), or the same "
        "on a SIMULATED accelerator's step cost (lesson.models.accelerator_lm)",
    )
    parser.add_argument("--rates", default=None, help="batching: requests/s, e.g. 16,32")
    parser.add_argument("--duration", type=float, default=None, help="batching: seconds a run")
    parser.add_argument("--rounds", type=int, default=None, help="batching: rounds")
    parser.add_argument("--ttft-slo-ms", type=float, default=100.0)
    parser.add_argument("--tpot-slo-ms", type=float, default=25.0)
    parser.add_argument("--batches", default=None, help="overhead: batch sizes B, e.g. 8,16")
    parser.add_argument("--steps", type=int, default=None, help="overhead: steps a repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--prefix-requests", type=int, default=None)
    parser.add_argument("--kv-requests", type=int, default=None)
    parser.add_argument("--blocks", default=None, help="kv: num_blocks to sweep, e.g. 8,16,64")
    parser.add_argument("--blas-threads", type=int, default=None)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        # the simulated accelerator's steps take ~4 ms, so it carries fewer requests a second
        "rates": ("12,24" if quick else "8,16,24")
        if args.impl == "accelerator"
        else ("24,32" if quick else "16,24,32"),
        "duration": 8.0 if quick else 20.0,
        "rounds": 1 if quick else 2,
        "batches": "8" if quick else "8,16",
        "steps": 40 if quick else 80,
        "repeats": 3 if quick else 7,
        "prefix_requests": 10 if quick else 30,
        "kv_requests": 16 if quick else 32,
        "blocks": "8,16,32" if quick else "8,12,16,24,32,64,128",
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.rates = [float(r) for r in str(args.rates).split(",")]
    args.batches = [int(b) for b in str(args.batches).split(",")]
    args.blocks = [int(b) for b in str(args.blocks).split(",")]
    if args.steps > 100:
        parser.error("--steps must be at most 100 (the model's context is 128 tokens)")
    if not all(0 < rate * args.duration <= 2000 for rate in args.rates):
        parser.error("each --rates x --duration must be in (0, 2000] requests")
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    for s in args.sections:
        if s not in SECTIONS:
            parser.error(f"unknown section {s!r}; choose from {', '.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    threads = None if args.blas_threads is None else str(args.blas_threads)
    if threads is not None and os.environ.get("OPENBLAS_NUM_THREADS") != threads:
        # OpenBLAS reads it once, when numpy loads: start again with it set
        os.environ["OPENBLAS_NUM_THREADS"] = threads
        os.execv(sys.executable, [sys.executable, *sys.argv])
    command = shlex.join(["python", "benchmarks/bench_generative.py", *(argv or sys.argv[1:])])
    load = os.getloadavg()
    print(
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  {command}\n"
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f}; 'others' = cores used by other "
        f"processes during a run ('*': more than {CONTAMINATION_CORES:g}, contaminated); "
        f"OPENBLAS_NUM_THREADS {os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
        f"--blas-threads {args.blas_threads}"
    )
    for name in args.sections:
        print(f"\n== {name} ==", flush=True)
        SECTIONS[name](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
