"""Poisson and bursty arrivals against the real REST server on 127.0.0.1, and `lesson loadtest`'s flags."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from lesson.clients import AsyncRestClient
from lesson.loadtest import run_load_test_async
from lesson.loadtest.arrivals import Arrivals, arrival_offsets
from lesson.loadtest.open_loop import clock
from lesson.loadtest.wire import make_payloads, run_over_wire

RATE, SECONDS, SEED = 300.0, 2.0, 9


def test_a_poisson_run_on_the_real_server_counts_latency_from_the_intended_send(rest_server):
    """Each latency, read back, starts at its drawn arrival time, never at the (later) actual send."""
    spans: list[
        tuple[float, float]
    ] = []  # (actual send, answer) in completion order, as the harness records

    async def main():
        async with AsyncRestClient(rest_server.url, engine="http1", limit=16) as client:

            async def endpoint(payload):
                sent = clock()
                response = await client.predict(payload)
                spans.append((sent, clock()))
                return response

            return await run_load_test_async(
                endpoint,
                make_payloads(4, 1, count=8),
                rate=RATE,
                concurrency=16,
                max_requests=10_000,
                max_duration=SECONDS,
                warmup=5,
                check=None,
                arrivals="poisson",
                seed=SEED,
            )

    result = asyncio.run(main())
    schedule = arrival_offsets(
        Arrivals("poisson", seed=SEED), rate=RATE, limit=10_000, horizon=SECONDS
    )
    assert result.mode == "open" and result.arrivals == Arrivals("poisson", 1.0, SEED)
    # every drawn arrival was sent, or counted unsent (due in the last instant but sent after the deadline)
    assert result.requests + result.unsent == len(schedule) and result.unsent <= 0.02 * len(
        schedule
    )
    assert result.successes == result.requests, result.to_text()
    measured = spans[5:]  # after the 5 warm-up calls
    assert len(measured) == len(result.latencies)
    intended = [done - latency for (_, done), latency in zip(measured, result.latencies)]
    # never later than the actual send (a few µs between our clock reads and the harness's), so a
    # late send's wait is inside its latency
    assert all(i <= sent + 1e-3 for i, (sent, _) in zip(intended, measured))
    # and they are the drawn schedule: aligned on the first arrival, each within 0.5 ms of its slot
    intended.sort()
    misses = [abs((i - intended[0]) - offset) for i, offset in zip(intended, schedule)]
    assert sum(m <= 5e-4 for m in misses) >= 0.99 * len(misses), max(misses)


def test_run_over_wire_passes_the_arrival_process(rest_server):
    result, _ = run_over_wire(
        rest_server.url,
        make_payloads(4, 1, count=8),
        concurrency=16,
        rate=200.0,
        max_requests=400,
        max_duration=1.0,
        warmup=5,
        arrivals="gamma",
        burstiness=0.5,
        seed=3,
    )
    want = arrival_offsets(Arrivals("gamma", 0.5, 3), rate=200.0, limit=400, horizon=1.0)
    assert result.arrivals == Arrivals("gamma", 0.5, 3) and result.requests + result.unsent == len(
        want
    )
    assert result.successes == result.requests
    with pytest.raises(ValueError, match="needs a rate"):
        run_over_wire(
            rest_server.url,
            make_payloads(4, 1),
            concurrency=1,
            rate=None,
            max_requests=10,
            max_duration=1.0,
            warmup=0,
            arrivals="poisson",
        )


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lesson", "loadtest", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_runs_poisson_arrivals(rest_server):
    out = _cli(
        "--url",
        rest_server.url,
        "--rate",
        "200",
        "--duration",
        "1",
        "--arrivals",
        "poisson",
        "--seed",
        "4",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert (
        report["arrivals"] == "poisson" and report["arrival_seed"] == 4 and report["mode"] == "open"
    )
    want = arrival_offsets(Arrivals("poisson", seed=4), rate=200.0, limit=200, horizon=1.0)
    assert (
        report["requests"] + report["unsent"] == len(want)
        and report["successes"] == report["requests"]
    )
    text = _cli(
        "--url",
        rest_server.url,
        "--rate",
        "200",
        "--duration",
        "1",
        "--arrivals",
        "gamma",
        "--burstiness",
        "0.5",
    )
    assert text.returncode == 0 and "gamma, burstiness 0.5 (seed 0) arrivals" in text.stdout, (
        text.stderr
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--rate", "100", "--arrivals", "zipf"],
            "arrivals must be one of uniform, poisson, gamma",
        ),
        (
            ["--rate", "100", "--arrivals", "gamma", "--burstiness", "0"],
            "burstiness must be a number > 0",
        ),
        (
            ["--rate", "100", "--arrivals", "gamma", "--burstiness", "1e9"],
            "burstiness must be in 0.01..100",
        ),
        (
            ["--rate", "100", "--arrivals", "poisson", "--burstiness", "0.5"],
            "burstiness applies to arrivals='gamma'",
        ),
        (["--arrivals", "poisson"], "needs a rate"),
    ],
)
def test_bad_arrival_flags_exit_2_with_a_message(args, message):
    out = _cli("--url", "http://127.0.0.1:9", *args)  # refused before anything is sent
    assert out.returncode == 2 and message in out.stderr and "invalid load test" in out.stderr, (
        out.stderr
    )
