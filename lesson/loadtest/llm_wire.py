"""`lesson loadtest-llm`: streamed generation load against an OpenAI-compatible server (aiohttp).

    lesson loadtest-llm --url http://127.0.0.1:8000 --concurrency 8 --requests 64
    lesson loadtest-llm --url http://127.0.0.1:8000 --rate 4 --duration 20 --arrivals poisson \\
        --ttft-slo-ms 500 --tpot-slo-ms 50

Each request is ``POST /v1/completions`` (or ``/v1/chat/completions`` with ``--chat``) with
``"stream": true`` and ``stream_options.include_usage``; every chunk carrying a token is
timestamped as it arrives, and :mod:`lesson.loadtest.streams` (standard library) turns the
timestamps into TTFT, ITL, TPOT, E2EL, throughputs and goodput (the definitions are there).

- **closed loop** (no ``--rate``): ``concurrency`` workers, each sending its next request when
  the previous one has finished; latency counts from the send.
- **open loop** (``--rate``): request ``i`` is due at its scheduled time
  (:func:`lesson.loadtest.arrivals.arrival_offsets`: uniform, Poisson or gamma), sent then if
  fewer than ``concurrency`` are in flight, else as soon as one finishes; TTFT and E2EL count
  from the intended time (:mod:`lesson.loadtest.open_loop`). No send from ``duration`` on;
  requests still streaming a grace period later (:func:`lesson.loadtest.settings.grace`)
  are cut off and count as failed (``unfinished``).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from lesson.loadtest.arrivals import Arrivals, arrival_offsets
from lesson.loadtest.open_loop import sleep_until_async
from lesson.loadtest.settings import clock, grace
from lesson.loadtest.streams import SLO, StreamSummary, StreamTiming, format_table, summarize

__all__ = ["make_prompts", "run_streams", "stream_once", "loadtest_llm"]

_WORDS = (
    "the",
    "model",
    "serves",
    "each",
    "request",
    "as",
    "a",
    "stream",
    "of",
    "tokens",
    "and",
    "scheduler",
    "batches",
    "many",
    "sequences",
    "into",
    "one",
    "step",
    "so",
    "that",
    "cache",
    "keys",
    "values",
    "is",
    "shared",
    "between",
    "them",
)


def make_prompts(count: int, length: int, seed: int = 0) -> list[str]:
    """``count`` prompts of about ``length`` characters (words drawn with ``seed``)."""
    if not 1 <= length <= 100_000:
        raise ValueError("the prompt length must be in 1..100000")
    rng = random.Random(seed)
    prompts = []
    for _ in range(count):
        words: list[str] = []
        while len(" ".join(words)) < length:
            words.append(rng.choice(_WORDS))
        prompts.append(" ".join(words)[:length])
    return prompts


async def stream_once(
    session: Any,
    url: str,
    body: dict[str, Any],
    timing: StreamTiming,
    chat: bool = False,
    headers: dict[str, str] | None = None,
) -> StreamTiming:
    """Send one streamed request and timestamp its token chunks into ``timing`` (``headers``:
    extra ones, e.g. a trace's ``traceparent``)."""
    path = "/v1/chat/completions" if chat else "/v1/completions"
    try:
        async with session.post(url.rstrip("/") + path, json=body, headers=headers) as resp:
            if resp.status != 200:
                text = await resp.text()
                try:
                    message = json.loads(text)["error"]["message"]
                except (ValueError, KeyError, TypeError):
                    message = text[:200]
                timing.error = f"HTTP {resp.status}: {message}"
                timing.end = clock()
                return timing
            async for raw in resp.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    timing.end = clock()
                    break
                now = clock()
                payload = json.loads(data)
                choices = payload.get("choices") or []
                if choices and choices[0].get("finish_reason") is None:
                    timing.token_times.append(now)
                usage = payload.get("usage")
                if usage:
                    timing.output_tokens = usage.get("completion_tokens")
            else:
                timing.error = "stream ended without [DONE]"
    except asyncio.CancelledError:
        timing.error = "unfinished: cut off at the run's hard stop"
        raise
    except Exception as exc:  # a failed request is a result, not a crash of the run
        timing.error = f"{type(exc).__name__}: {exc}"
    return timing


def _body(
    prompt: str, max_tokens: int, chat: bool, seed: int, extra: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "seed": seed,
        **extra,
    }
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    return body


async def run_streams(
    url: str,
    *,
    prompts: list[str],
    max_tokens: int = 64,
    concurrency: int | None = None,
    rate: float | None = None,
    arrivals: Arrivals | None = None,
    max_requests: int = 64,
    max_duration: float = 30.0,
    slo: SLO | None = None,
    chat: bool = False,
    extra: dict[str, Any] | None = None,
    warmup: int = 1,
) -> StreamSummary:
    """Run a closed (no ``rate``) or open (``rate`` requests/s) loop of streamed requests.

    Args:
        url: the server, ``http://host:port``.
        prompts: used in turn (request ``i`` sends ``prompts[i % len(prompts)]``).
        max_tokens: per request; ``extra`` adds fields to every body (``{"ignore_eos": True}``).
        concurrency: closed loop: workers (default 8); open loop: most in flight (default 64).
        rate, arrivals: open loop: requests per second and their arrival process.
        max_requests, max_duration: the run's bounds.
        slo: objectives for goodput.
        warmup: requests sent (and not measured) before the run.
    """
    import aiohttp

    if not prompts:
        raise ValueError("no prompts")
    if not 1 <= max_requests <= 1_000_000 or not 0 < max_duration <= 86_400:
        raise ValueError("max_requests must be in 1..1000000 and max_duration in (0, 86400]")
    if rate is not None and not rate > 0:
        raise ValueError("rate must be > 0")
    extra = extra or {}
    conc = concurrency or (8 if rate is None else 64)
    if not 1 <= conc <= 4096:
        raise ValueError("concurrency must be in 1..4096")
    timeout = aiohttp.ClientTimeout(total=None, sock_read=max_duration + 60)
    connector = aiohttp.TCPConnector(limit=conc + 1)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        def body(i: int) -> dict[str, Any]:
            return _body(prompts[i % len(prompts)], max_tokens, chat, i, extra)

        for i in range(warmup):
            await stream_once(session, url, body(i), StreamTiming(clock()), chat)
        timings: list[StreamTiming] = []
        start = clock()
        deadline = start + max_duration
        hard_stop = deadline + grace(max_duration)
        unsent = 0
        if rate is None:
            counter = iter(range(max_requests))

            async def worker() -> None:
                for i in counter:
                    if clock() >= deadline:
                        return
                    t = StreamTiming(clock())
                    timings.append(t)
                    await stream_once(session, url, body(i), t, chat)

            workers = [asyncio.ensure_future(worker()) for _ in range(conc)]
            done, pending = await asyncio.wait(workers, timeout=max(hard_stop - clock(), 0))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            mode = "closed"
        else:
            arrivals = arrivals or Arrivals()
            if arrivals.random:
                offsets = arrival_offsets(
                    arrivals, rate=rate, limit=max_requests, horizon=max_duration
                )
            else:
                offsets = [i / rate for i in range(max_requests) if i / rate < max_duration]
            slots = asyncio.Semaphore(conc)
            tasks: set[asyncio.Task[Any]] = set()

            async def send(i: int, t: StreamTiming) -> None:
                try:
                    await stream_once(session, url, body(i), t, chat)
                finally:
                    slots.release()

            sent = 0
            for i, offset in enumerate(offsets):
                intended = start + offset
                await sleep_until_async(intended, idle=lambda: not tasks)
                await slots.acquire()
                if clock() >= deadline:
                    slots.release()
                    break
                t = StreamTiming(intended)  # latency from the intended send time
                timings.append(t)
                task = asyncio.ensure_future(send(i, t))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            unsent = len(offsets) - sent
            if tasks:
                _, pending = await asyncio.wait(set(tasks), timeout=max(hard_stop - clock(), 0))
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            mode = "open"
        for t in timings:
            if t.end is None and t.error is None:
                t.error = "unfinished: cut off at the run's hard stop"
        ends = [t.end for t in timings if t.end is not None and t.ok]
        return summarize(
            timings,
            start=start,
            end=max(ends) if ends else clock(),
            slo=slo,
            mode=mode,
            unsent=unsent,
        )


def loadtest_llm(
    url: str = "http://127.0.0.1:8000",
    concurrency: int | None = None,
    requests: int = 64,
    rate: float | None = None,
    duration: float = 30.0,
    arrivals: str = "uniform",
    burstiness: float = 1.0,
    seed: int = 0,
    input_len: int = 64,
    max_tokens: int = 64,
    ignore_eos: bool = True,
    temperature: float = 1.0,
    chat: bool = False,
    ttft_slo_ms: float | None = None,
    tpot_slo_ms: float | None = None,
    e2el_slo_ms: float | None = None,
    warmup: int = 1,
    json_output: bool = False,
) -> None:
    """Load-test a generative server with streamed requests: TTFT, ITL, TPOT, E2EL, goodput.

    Closed loop by default (--concurrency workers); --rate makes it an open loop (latency from
    the intended send time). --ignore-eos (default) makes every answer --max-tokens long.
    """
    slo = None
    if any(v is not None for v in (ttft_slo_ms, tpot_slo_ms, e2el_slo_ms)):
        slo = SLO(
            ttft=ttft_slo_ms / 1000 if ttft_slo_ms is not None else None,
            tpot=tpot_slo_ms / 1000 if tpot_slo_ms is not None else None,
            e2el=e2el_slo_ms / 1000 if e2el_slo_ms is not None else None,
        )
    summary = asyncio.run(
        run_streams(
            url,
            prompts=make_prompts(max(requests, 1), input_len, seed),
            max_tokens=max_tokens,
            concurrency=concurrency,
            rate=rate,
            arrivals=Arrivals(arrivals, burstiness, seed),
            max_requests=requests,
            max_duration=duration,
            slo=slo,
            chat=chat,
            extra={"ignore_eos": ignore_eos, "temperature": temperature},
            warmup=warmup,
        )
    )
    print(json.dumps(summary.as_dict(), indent=2) if json_output else format_table(summary))
