"""An outside load generator (locust, headless) against the real REST server: no failures, and
the server's own Prometheus counter saw every request locust says it sent."""

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

from lesson.servers.launch import running_server

pytestmark = pytest.mark.server
# Never import locust here: importing it monkey-patches the whole process for gevent (threads
# become greenlets), and every later grpcio test in this pytest process then hangs. Locust runs
# in its own process below; this only checks that it is installed.
if importlib.util.find_spec("locust") is None:
    pytest.skip("locust is not installed (the test extra installs it)", allow_module_level=True)
LOCUSTFILE = Path(__file__).resolve().parents[2] / "benchmarks" / "locustfile.py"
REGISTRY = "lesson.models.mlp_numpy:serving_registry"
ROUTE = "/v1/models/{name}:predict"


def served(url: str) -> float:
    """Successful V1 predictions the server counted (``lesson_requests_total``, code 200)."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    pattern = r"^lesson_requests_total\{(.*)\} ([0-9.e+]+)$"  # the route label itself holds braces
    return sum(float(v) for labels, v in re.findall(pattern, text, re.MULTILINE)
               if 'code="200"' in labels and f'route="{ROUTE}"' in labels)


def test_locust_headless_against_the_rest_server(tmp_path):
    locust = Path(sys.executable).with_name("locust")
    with running_server("rest", registry=REGISTRY) as server:
        before = served(server.url)
        env = dict(os.environ, LOCUST_PATH="/v1/models/diabetes-mlp:predict")
        env.pop("LOCUST_RATE_PER_USER", None)
        done = subprocess.run(
            [str(locust), "-f", str(LOCUSTFILE), "--headless", "-u", "4", "-r", "4", "-t", "3s",
             "--host", server.url, "--csv", str(tmp_path / "run"), "--only-summary", "--stop-timeout", "5"],
            capture_output=True, text=True, timeout=90, env=env, cwd=tmp_path, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        after = served(server.url)
    rows = {row["Name"]: row for row in csv.DictReader((tmp_path / "run_stats.csv").open())}
    total = rows["Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    assert failures == 0, (tmp_path / "run_failures.csv").read_text()
    assert requests > 0
    assert after - before >= requests, (after - before, requests)
