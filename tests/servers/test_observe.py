"""A real Prometheus (Debian's 2.42) scraping the real servers on loopback: targets up, the
PromQL p99 against the server's exact one, the burn-rate alert pending -> firing -> resolved,
and nothing left running after a stop. One Prometheus for the module."""

from __future__ import annotations

import json
import os

import pytest
from server_support import http, pid_alive

from lesson.servers.observe import (
    SLO_ALERT,
    PrometheusUnavailableError,
    prometheus_config,
    slo_rules,
    start_prometheus,
    stop_prometheus,
)
from lesson.servers.promql import PrometheusQueryError, error_ratio, request_rate
from lesson.servers.rest.debug import Fault
from lesson.teaching.observe import compare_p99, fire_alert


@pytest.fixture(scope="module")
def observed():
    """The lab's servers (REST with its debug routes, gRPC with its metrics port) and the lab's
    Prometheus (`Lab.start_prometheus`); closing the lab stops all three."""
    from lesson.lab import setup

    lab = setup(quiet=True)
    try:
        prom = lab.start_prometheus()
        assert lab.start_prometheus() is prom  # one per lab
        prom.api.wait_until_up(timeout=40)  # a loaded machine can miss a 1 s scrape
        yield lab.servers["rest"], lab.servers["grpc"], prom
    finally:
        lab.close()
    assert not pid_alive(prom.pid) and not os.path.exists(prom.directory)


# the alert first: the p99 run's burst of good requests would dilute the 1-minute window
def test_the_burn_rate_alert_fires_during_a_fault_and_resolves_after(observed):
    rest, _, prom = observed
    run = fire_alert(rest.url, prom.url, error_ratio=0.5, fault_seconds=8.0, timeout_s=25.0)
    states = [s for _, s in run.states]
    assert states[0] == "inactive", run.states
    pending, firing, resolved = run.first("pending"), run.first("firing"), run.resolved_after()
    assert pending is not None and firing is not None, run.states
    assert pending < firing, run.states  # `for: 2s`: pending first
    assert resolved is not None and resolved > run.fault_seconds, run.states
    assert prom.api.alert_state(SLO_ALERT) == "inactive"


def test_prometheus_scrapes_both_servers(observed):
    rest, _, prom = observed
    targets = prom.api.wait_until_up()
    assert len(targets) == 2 and {t["health"] for t in targets} == {"up"}
    gauges = prom.api.query("lesson_requests_in_flight")
    assert {g["metric"]["transport"] for g in gauges} == {"rest", "grpc"}
    assert prom.api.value(request_rate("rest")) > 0  # the alert test's load, within 30 s
    assert 0 <= prom.api.value(error_ratio("rest", "5m")) < 1


def test_the_promql_p99_is_within_one_bucket_of_the_exact_one(observed):
    rest, _, prom = observed
    comparison = compare_p99(rest.url, prom.url, concurrency=8, requests=1500)
    print(comparison.sentence())
    assert comparison.requests == 1500  # the server timed exactly the harness's requests
    # the dashboard's window covers the run, and says what else it held
    assert comparison.window_requests is not None and comparison.window_others is not None
    if comparison.promql_rate_p99 is not None:  # None: the series began in the window
        assert f"its window held {comparison.window_requests}" in comparison.sentence()
    assert comparison.bucket_gap <= 1, comparison
    # Prometheus's buckets held exactly the requests the server timed: the same estimate
    assert comparison.promql_p99 == pytest.approx(comparison.estimate_from_timings, rel=1e-9)
    # every request's server time lies inside its client time, so the order statistics too
    assert comparison.harness_p99 >= comparison.server_p99, comparison


def test_bad_promql_and_bad_settings_are_typed_errors(observed):
    _, _, prom = observed
    with pytest.raises(PrometheusQueryError, match="parse error"):
        prom.api.query("sum(")
    with pytest.raises(ValueError, match="host:port"):
        prometheus_config(["8000"])
    with pytest.raises(ValueError, match="objective"):
        slo_rules(objective=1.5)


def test_the_fault_route_is_bounded(observed):
    rest, _, _ = observed
    status, _, body = http("POST", rest.url + "/debug/fault", {"error_ratio": 2, "seconds": 5})
    assert status == 400 and "error_ratio" in json.loads(body)["error"]
    status, _, _ = http("POST", rest.url + "/debug/fault", {"error_ratio": 0.5, "seconds": 9999})
    assert status == 400
    fault = Fault(0.25, 60)
    failures = 0
    for _ in range(100):
        try:
            fault.check()
        except RuntimeError:
            failures += 1
    assert failures == 25  # spread evenly, exactly the ratio


def test_stopping_leaves_no_process_and_no_folder():
    handle = start_prometheus(["127.0.0.1:9"])  # nothing listens there: the target is down
    assert pid_alive(handle.pid) and os.path.isdir(handle.directory)
    stop_prometheus(handle)
    assert not pid_alive(handle.pid)
    assert not os.path.exists(handle.directory)


def test_a_missing_binary_is_a_typed_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PrometheusUnavailableError, match="apt-get install -y prometheus"):
        start_prometheus(["127.0.0.1:9"])


def test_the_cli_starts_and_stops_it(tmp_path, monkeypatch, capsys):
    from lesson.cli import main

    monkeypatch.setenv("LESSON_STATE_DIR", str(tmp_path))

    def run(*args: str) -> tuple[int, str]:
        code = main(["observe", *args])
        return code, capsys.readouterr().out

    code, out = run("start", "--target", "127.0.0.1:9")
    assert code == 0, out
    pid = json.loads((tmp_path / "prometheus.json").read_text())["pid"]
    try:
        assert out.strip().startswith("http://127.0.0.1:") and pid_alive(pid)
        assert run("start", "--target", "127.0.0.1:9")[0] == 1  # one at a time
        code, out = run("status")
        assert code == 0 and "http://127.0.0.1:9/metrics" in out
    finally:
        code, out = run("stop")
    assert code == 0 and "stopped" in out
    assert not pid_alive(pid)
    assert not (tmp_path / "prometheus.json").exists()
    assert run("stop")[0] == 0  # nothing to stop is not an error
