"""The generative server: a tiny language model behind an OpenAI-compatible API (`lesson serve llm`).

One file per job: `protocol` (parsing, bounds, error shape, text and stop strings, SSE; no
framework), `options`, `driver` (the engine's steps on a worker thread or on the loop),
`state` (admission, one generation), `metrics`, `tracing` (``--trace-ratio``), `errors` (the
handlers), and one router per file: `models`, `completions`, `health`, `debug`; `app` puts
them together.

Routes: ``GET /v1/models``, ``GET /v1/models/{model}``, ``POST /v1/completions``,
``POST /v1/chat/completions`` (streamed as server-sent events with ``"stream": true``),
``GET /health``, ``/v2/health/live``, ``/v2/health/ready``, ``/metrics`` (Prometheus),
``/debug/engine`` (the scheduler's counters), ``/debug/spans`` (with ``--debug-routes``: the
traced requests' spans, `tracing`). Errors: `lesson.servers.llm.errors`.

Where the engine steps (``--engine-loop``), measured with
``benchmarks/bench_llm_engine_loop.py``: 8 concurrent streams, closed loop, 48 requests of
64 tokens (``ignore_eos``) per round, the tiny transformer (numpy), the two servers
alternating for 5 rounds, medians of the rounds; client and servers on one shared 2-core
machine (load average 4-6, so single runs swing by 2x)::

    GIL switch 5 ms     ITL p50   ITL p99  TPOT mean  TTFT p50  tok/s
    run 1*  thread      4.30 ms  20.15 ms    5.47 ms  27.98 ms   1231
            loop        5.18 ms  16.16 ms    5.29 ms  19.85 ms   1447
    run 2   thread      5.36 ms  50.22 ms    7.23 ms  28.99 ms   1020
            loop        5.42 ms  46.61 ms    7.50 ms  19.82 ms   1017
    run 3   thread      3.34 ms  50.45 ms    5.85 ms  23.02 ms   1244
            loop        3.21 ms  14.81 ms    4.64 ms  15.70 ms   1643
    GIL switch 0.5 ms
    run 4   thread      3.10 ms  17.97 ms    4.74 ms  20.85 ms   1573
            loop        3.38 ms  16.53 ms    5.35 ms  17.45 ms   1404

On the loop, the tail inter-token latency was lower in every run (p99 15-47 vs 18-50 ms)
and so was the time to first token (16-20 vs 21-29 ms); the medians were a tie. A worker
thread shares the GIL with the loop: the engine's Python (scheduling, sampling) and the
loop's response writing take turns at the interpreter's switch interval (5 ms), so a token
can wait a whole interval to be written; a 0.5 ms interval (``--gil-switch-ms 0.5``) closes
most of the gap but not all. So the loop is the default; ``thread`` stays for models that
spend their step outside the GIL (larger numpy matrices). The n-gram stand-in (pure Python,
~0.1 ms a step) showed the same: ITL p99 9.8 ms on the loop vs 17.0 ms on a thread (*: run
1 and this one were measured before the loop driver's second yield, `driver.LoopDriver`).
"""

from __future__ import annotations

__all__ = ["create_llm_app"]


def create_llm_app(*args, **kwargs):
    """`lesson.servers.llm.app.create_llm_app`, imported lazily (FastAPI)."""
    from lesson.servers.llm.app import create_llm_app as create

    return create(*args, **kwargs)
