"""`lesson loadtest`: the core harness over the wire, with a progress bar and an honest report.

    lesson loadtest --url http://127.0.0.1:8000 --concurrency 8 --requests 5000
    lesson loadtest --url grpc://127.0.0.1:8001 --rate 500 --duration 5 --json

REST load comes from the lean HTTP/1.1 keep-alive client of :mod:`lesson.clients.http1` on
uvloop (aiohttp used twice its CPU and fell outside 15 % of wrk's throughput at 8 connections
in three measured runs of five, 0.82x over all rounds: the figures are in that module's
docstring; httpx reached 1-3% of wrk's rate); :func:`run_over_wire` with ``engine="aiohttp"``
runs the same load on aiohttp.
Request bodies are JSON-encoded once, before the run. gRPC load comes from the sync grpcio
client on threads. The report includes the client's own CPU use: a load generator that used
most of a core was probably the bottleneck, and the run is flagged `client_bound` (in the open
loop only if it also fell behind its schedule: its scheduler yields busily before each send).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from lesson.loadtest import LoadTestResult, run_load_test, run_load_test_async
from lesson.loadtest.arrivals import Arrivals

#: a run whose client used at least this share of one core is flagged as client-bound
CLIENT_BOUND_CPU = 0.85


def make_payloads(
    features: int, batch: int, count: int = 64, seed: int = 0
) -> list[dict[str, Any]]:
    """`count` V1 payloads of `batch` rows x `features` numbers in [0, 1), reproducible."""
    if not 1 <= features <= 4096 or not 1 <= batch <= 4096:
        raise ValueError("features and batch must be in 1..4096")
    rng = random.Random(seed)
    return [
        {"instances": [[round(rng.random(), 6) for _ in range(features)] for _ in range(batch)]}
        for _ in range(count)
    ]


DEFAULT_FEATURES = 8


def model_width(url: str, model: str | None = None) -> int | None:
    """The number of features the server's model expects (from its V2 metadata), or None.

    ``None`` when the model takes any width (shape ``[-1, -1]``) or the server cannot say.
    """
    from lesson.clients import InferenceError, client_for

    try:
        client = client_for(url)
    except ValueError:
        return None
    try:
        shape = client.model_metadata(model)["inputs"][0]["shape"]
    except (InferenceError, OSError, LookupError, TypeError, ValueError):
        return None
    finally:
        client.close()
    width = shape[-1] if shape else -1
    return int(width) if isinstance(width, int) and width > 0 else None


def _progress_bar(
    total: int, quiet: bool
) -> tuple[Callable[[int, int, float], None], Callable[[], None]]:
    if quiet:
        return (lambda done, total_, elapsed: None), (lambda: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("load test"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("requests", total=total)
    progress.start()

    def update(done: int, total_: int, elapsed: float) -> None:
        progress.update(task, completed=done, total=total_)

    return update, progress.stop


def _client_bound(result: LoadTestResult, cpu_share: float) -> bool:
    """Did the load generator limit the run?

    Closed loop: it used most of a core. Open loop: the scheduler deliberately yields (busy)
    for the last ~1.5 ms before each send, so CPU alone says little; the client limited the
    run if it also failed to keep its schedule (more than 1 % of sends late, or unsent).
    """
    if cpu_share < CLIENT_BOUND_CPU:
        return False
    if result.mode != "open":
        return True
    sends = max(result.requests, 1)
    return result.late_sends > 0.01 * sends or result.unsent > 0


def run_over_wire(
    url: str,
    payloads: list[dict[str, Any]],
    *,
    concurrency: int,
    rate: float | None,
    max_requests: int,
    max_duration: float,
    warmup: int,
    model: str | None = None,
    protocol: str = "v1",
    progress: Callable[[int, int, float], None] | None = None,
    arrivals: str = "uniform",
    burstiness: float = 1.0,
    seed: int | None = 0,
    engine: str | None = None,
) -> tuple[LoadTestResult, dict[str, Any]]:
    """Run the harness against a server; returns the result and the client's resource use.

    ``arrivals``, ``burstiness``, ``seed``: the open loop's arrival process (see
    :mod:`lesson.loadtest.arrivals`); a ValueError before anything is sent if they are wrong.
    ``engine``: the REST client (``http1`` or ``aiohttp``; default ``http1`` for ``http://``).
    """
    from lesson.clients import client_for

    _check_arrivals(arrivals, burstiness, seed, rate)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    kwargs = dict(
        concurrency=concurrency,
        rate=rate,
        max_requests=max_requests,
        max_duration=max_duration,
        warmup=warmup,
        progress=progress,
        arrivals=arrivals,
        burstiness=burstiness,
        seed=seed,
    )
    if url.startswith("grpc://"):
        client = client_for(url, model=model)
        try:
            result = run_load_test(client.predict, payloads, **kwargs)
        finally:
            client.close()
        generator = "grpcio sync client, threads"
    else:
        import uvloop

        if engine is None:
            engine = "http1" if url.startswith("http://") else "aiohttp"
        # encode each body once: the run measures the server and the wire, not json.dumps
        bodies = [json.dumps(p).encode() for p in payloads] if protocol == "v1" else payloads

        async def main() -> LoadTestResult:
            async with client_for(
                url,
                asynchronous=True,
                model=model,
                protocol=protocol,
                limit=max(concurrency, 1),
                engine=engine,
            ) as client:
                if model is None:
                    await client.default_model()  # asked once, before the clock starts
                prepared = bodies
                if (
                    protocol == "v2" and engine == "http1"
                ):  # V2 too: each request encoded once, up front
                    prepared = [await client.prepare_v2(p) for p in payloads]
                return await run_load_test_async(client.predict, prepared, **kwargs)

        result = uvloop.run(main())
        generator = (
            f"{'lean HTTP/1.1 client' if engine == 'http1' else 'aiohttp'} on uvloop, asyncio tasks"
        )
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    share = cpu / wall if wall > 0 else 0.0
    client = {
        "generator": generator,
        "client_cpu_seconds": round(cpu, 3),
        "client_cpu_percent": round(100.0 * share, 1),
        "client_bound": _client_bound(result, share),
    }
    return result, client


def _check_arrivals(arrivals: Any, burstiness: Any, seed: Any, rate: Any) -> None:
    """A ValueError naming the bound unless the arrival process is valid for this rate."""
    if Arrivals(arrivals, burstiness, seed).random and rate is None:
        raise ValueError(
            f"arrivals={arrivals!r} needs a rate (an open loop): a closed loop sends each request "
            "when the previous one is answered"
        )


def run_loadtest(
    *,
    url: str,
    concurrency: int | None,
    requests: int,
    rate: float | None,
    duration: float,
    model: str | None,
    protocol: str,
    features: int | None,
    batch: int,
    warmup: int,
    json_output: bool,
    seed: int = 0,
    arrivals: str = "uniform",
    burstiness: float = 1.0,
    engine: str | None = None,
) -> int:
    """The `lesson loadtest` command. Returns the exit status (0 unless nothing succeeded; 2: bad arguments).

    ``features=None``: as many as the model expects (asked from the server), else 8. ``seed``
    fixes both the generated payloads and the drawn arrivals.
    """
    if not url.startswith(("http://", "https://", "grpc://")):
        print(f"--url must start with http:// or grpc://, got {url!r}", file=sys.stderr)
        return 2
    try:
        _check_arrivals(arrivals, burstiness, seed, rate)
    except ValueError as exc:
        print(f"invalid load test: {exc}", file=sys.stderr)
        return 2
    if concurrency is None:
        concurrency = 64 if rate is not None else 8
    max_requests = min(1_000_000, math.ceil(rate * duration)) if rate is not None else requests
    if features is None:
        features = model_width(url, model) or DEFAULT_FEATURES
    try:
        payloads = make_payloads(features, batch, seed=seed)
        update, stop = _progress_bar(max_requests, quiet=not sys.stderr.isatty())
        try:
            result, client = run_over_wire(
                url,
                payloads,
                concurrency=concurrency,
                rate=rate,
                max_requests=max_requests,
                max_duration=duration,
                warmup=warmup,
                model=model,
                protocol=protocol,
                progress=update,
                arrivals=arrivals,
                burstiness=burstiness,
                seed=seed,
                engine=engine,
            )
        finally:
            stop()
    except ValueError as exc:
        print(f"invalid load test: {exc}", file=sys.stderr)
        return 2
    report = {
        "url": url,
        "protocol": "grpc" if url.startswith("grpc://") else protocol,
        "features": features,
        "batch": batch,
        **result.summary(),
        **client,
    }
    if json_output:
        print(json.dumps(report, indent=2))
    else:
        print(f"load test of {url} ({report['protocol']}, {batch} x {features} per request)")
        print(result.to_text())
        print(f"  client      {client['generator']}: {client['client_cpu_percent']} % of one core")
        if result.mode == "open":
            print(
                "              (open loop: the client's CPU includes the scheduler yielding in the last "
                "~1.5 ms before each send so that sends leave on time)"
            )
        if client["client_bound"]:
            print(
                "  WARNING     client-bound: the load generator used most of a core, so these figures "
                "measure the client as much as the server"
            )
    return 0 if result.successes > 0 else 1
