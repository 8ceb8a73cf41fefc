"""Outside load generators (locust headless, wrk) against the real REST server: no failures, and
the server's own Prometheus counter saw every request they say they sent."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from lesson.loadtest.outside import LOCUSTFILE, ToolRun, check_loopback, compare_load_tools
from lesson.servers.launch import running_server

pytestmark = pytest.mark.server
# Never import locust here: importing it monkey-patches the whole process for gevent (threads
# become greenlets), and every later grpcio test in this pytest process then hangs. Locust runs
# in its own process below; this only checks that it is installed.
if importlib.util.find_spec("locust") is None:
    pytest.skip("locust is not installed (the test extra installs it)", allow_module_level=True)
REGISTRY = "lesson.models.mlp_numpy:serving_registry"
ROUTE = "/v1/models/{name}:predict"


def served(url: str) -> float:
    """Successful V1 predictions the server counted (``lesson_requests_total``, code 200)."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    pattern = r"^lesson_requests_total\{(.*)\} ([0-9.e+]+)$"  # the route label itself holds braces
    return sum(
        float(v)
        for labels, v in re.findall(pattern, text, re.MULTILINE)
        if 'code="200"' in labels and f'route="{ROUTE}"' in labels
    )


def test_locust_headless_against_the_rest_server(tmp_path):
    locust = Path(sys.executable).with_name("locust")
    with running_server("rest", registry=REGISTRY) as server:
        before = served(server.url)
        env = dict(os.environ, LOCUST_PATH="/v1/models/diabetes-mlp:predict")
        env.pop("LOCUST_RATE_PER_USER", None)
        done = subprocess.run(
            [
                str(locust),
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "-u",
                "4",
                "-r",
                "4",
                "-t",
                "3s",
                "--host",
                server.url,
                "--csv",
                str(tmp_path / "run"),
                "--only-summary",
                "--stop-timeout",
                "5",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        after = served(server.url)
    rows = {row["Name"]: row for row in csv.DictReader((tmp_path / "run_stats.csv").open())}
    total = rows["Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    assert failures == 0, (tmp_path / "run_failures.csv").read_text()
    assert requests > 0
    assert after - before >= requests, (after - before, requests)


BODY = b'{"instances": [[54.0, 2.0, 36.1, 115.0, 163.0, 98.4, 43.0, 4.0, 4.6821, 101.0]]}'


def test_check_your_load_tester_runs_each_tool_and_the_server_counts_their_requests():
    """What notebook 06 runs: each tool in turn, its own figures, all requests seen by the server."""
    with running_server("rest", registry=REGISTRY) as server:
        before = served(server.url)
        runs = compare_load_tools(
            server.url,
            path=ROUTE.format(name="diabetes-mlp"),
            body=BODY,
            model="diabetes-mlp",
            connections=4,
            seconds=1,
        )
        after = served(server.url)
    assert [r.tool for r in runs] == ["wrk", "locust", "lesson loadtest"]
    ran = [r for r in runs if r.available]
    assert any(r.tool == "lesson loadtest" for r in ran)
    for run in ran:
        assert run.errors == 0 and run.requests > 0, run
        assert 0 < run.p50_ms <= run.p99_ms and run.rps > 0, run
    for run in runs:
        if not run.available:
            assert "not installed" in run.note and run.row()["req/s"] == "not run"
    # the harness's warm-up requests are counted by the server too, so at least, not exactly
    assert after - before >= sum(r.requests for r in ran)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1:8000", "http://example.com:80", "https://127.0.0.1:8000", "http://127.0.0.1"],
)
def test_outside_tools_only_ever_load_a_local_server(url):
    with pytest.raises(ValueError, match="local server"):
        check_loopback(url)
    with pytest.raises(ValueError, match="local server"):
        compare_load_tools(url, path="/", body=b"{}")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"connections": 0}, "connections"),
        ({"connections": 65}, "connections"),
        ({"seconds": 0.5}, "seconds"),
        ({"seconds": 31}, "seconds"),
        ({"tools": ["ab"]}, "unknown tool"),
    ],
)
def test_outside_tool_runs_are_bounded(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare_load_tools("http://127.0.0.1:9", path="/", body=b"{}", **kwargs)


def test_a_run_that_did_not_happen_reads_as_such():
    row = ToolRun("wrk", False, note="wrk is not installed").row()
    assert row["req/s"] == "not run" and row["note"] == "wrk is not installed"
