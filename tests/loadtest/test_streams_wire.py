"""The stream harness against the real generative server (closed and open loop, the CLI)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from lesson.loadtest.arrivals import Arrivals
from lesson.loadtest.llm_wire import make_prompts, run_streams
from lesson.loadtest.streams import SLO
from lesson.servers.launch import running_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server():
    with running_server("llm", impl="ngram", max_num_seqs=4, max_waiting=16) as handle:
        yield handle


def test_closed_loop(server):
    s = asyncio.run(
        run_streams(
            server.url,
            prompts=make_prompts(4, 16),
            max_tokens=12,
            concurrency=4,
            max_requests=12,
            extra={"ignore_eos": True},
            slo=SLO(ttft=10.0, tpot=10.0),
        )
    )
    assert s.mode == "closed" and s.completed == 12 and s.failed == 0
    assert s.output_tokens == 12 * 12  # from the usage chunks
    assert s.ttft.count == 12 and s.tpot.count == 12 and s.itl.count == 12 * 11
    assert 0 < s.ttft.median <= s.e2el.median
    assert s.goodput == pytest.approx(s.request_throughput)  # generous SLOs: all good
    assert s.output_throughput == pytest.approx(s.output_tokens / s.duration)


def test_open_loop_from_intended_times_and_a_tight_slo(server):
    s = asyncio.run(
        run_streams(
            server.url,
            prompts=make_prompts(4, 16, seed=1),
            max_tokens=8,
            rate=40.0,
            arrivals=Arrivals("poisson", seed=3),
            max_requests=10,
            max_duration=5.0,
            extra={"ignore_eos": True},
            slo=SLO(ttft=1e-6),  # nobody gets a token in a microsecond
            chat=True,
        )
    )
    assert s.mode == "open" and s.completed + s.unsent == 10 and s.failed == 0
    assert s.good == 0 and s.goodput == 0.0
    assert s.tpot.count == s.completed


def test_refused_requests_are_failures_not_crashes(server):
    s = asyncio.run(
        run_streams(
            server.url,
            prompts=["x"],
            max_tokens=4,
            max_requests=2,
            extra={"temperature": -1},
            warmup=0,
        )
    )
    assert s.completed == 0 and s.failed == 2 and s.errors == {"HTTP 400": 2}


def test_the_command_prints_a_table_and_json(server):
    cmd = [
        sys.executable,
        "-m",
        "lesson",
        "loadtest-llm",
        "--url",
        server.url,
        "--requests",
        "4",
        "--max-tokens",
        "6",
        "--concurrency",
        "2",
        "--tpot-slo-ms",
        "1000",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (
        "output token throughput" in out.stdout and "goodput" in out.stdout and "TTFT" in out.stdout
    )
    out = subprocess.run([*cmd, "--json-output"], capture_output=True, text=True, timeout=120)
    report = json.loads(out.stdout)
    assert report["completed"] == 4 and report["output_tokens"] == 24
