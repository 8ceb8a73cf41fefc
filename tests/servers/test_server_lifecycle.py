"""Starting, readiness, draining and stopping, for real: no orphan processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from server_support import MODEL, SLEEPY, SLOW_START, TEST_ENV, error_of, http, pid_alive

from lesson.clients import GrpcClient, ServerUnavailableError
from lesson.servers.launch import running_server, start_server, stop_process

pytestmark = pytest.mark.server


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_launcher_stops_the_server_even_when_the_body_raises(kind):
    with running_server(kind) as server:
        pid = server.pid
        assert pid_alive(pid) and server.url.endswith(f":{server.port}")
    assert _wait_gone(pid)
    with pytest.raises(KeyError), running_server(kind) as server:
        pid = server.pid
        raise KeyError("boom")
    assert _wait_gone(pid)
    assert server.process.returncode == 0  # SIGTERM drained it: a clean exit


def test_launcher_reports_a_server_that_cannot_start():
    with pytest.raises(RuntimeError, match="no_such_module"):
        with running_server("rest", registry="no_such_module:registry", ready_timeout=20):
            pass
    with (
        pytest.raises(TypeError, match="unknown server option"),
        running_server("rest", not_an_option=1),
    ):
        pass


def test_server_dies_with_a_killed_parent():
    script = textwrap.dedent("""
        import os, signal
        from lesson.servers.launch import start_server
        server = start_server("grpc")
        print(server.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)   # no cleanup code runs
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.strip().splitlines()[-1])
    assert _wait_gone(pid), "the server outlived its parent"


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_ready_is_not_live_until_warm_up_ends(kind):
    started = time.monotonic()
    with running_server(kind, registry=SLOW_START, env=TEST_ENV, wait_for="live") as server:
        if kind == "rest":
            status, _, body = http("GET", server.url + "/v2/health/ready")
            assert status == 503 and "warming up" in json.loads(body)["error"]
            assert http("GET", server.url + "/v2/health/live")[0] == 200
            status, _, body = http(
                "POST", server.url + "/v1/models/slow_start:predict", {"instances": [1.0]}
            )
            assert status == 503 and "not ready" in error_of(body)
            ready = lambda: http("GET", server.url + "/v2/health/ready")[0] == 200
        else:
            client = GrpcClient(server.url, model="slow_start")
            assert client.live() and not client.ready()
            with pytest.raises(ServerUnavailableError, match="not ready"):
                client.predict({"instances": [1.0]})
            ready = client.ready
        while not ready():
            assert time.monotonic() - started < 30
            time.sleep(0.05)
        assert time.monotonic() - started >= 1.5  # the 2 s cold start was waited for


def _slow_call(kind: str, url: str, results: list) -> None:
    try:
        if kind == "rest":
            status, _, body = http(
                "POST", url + "/v1/models/sleepy:predict", {"instances": [[2.0, 0.0]]}
            )
            results.append((status, json.loads(body)))
        else:
            results.append(
                (200, GrpcClient(url, model="sleepy").predict({"instances": [[2.0, 0.0]]}))
            )
    except Exception as exc:  # recorded, asserted below
        results.append((None, repr(exc)))


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_sigterm_drains_in_flight_refuses_new_and_exits_0(kind):
    server = start_server(kind, registry=SLEEPY, env=TEST_ENV, offload=True, drain_grace_s=1.0)
    try:
        results: list = []
        worker = threading.Thread(target=_slow_call, args=(kind, server.url, results))
        worker.start()
        time.sleep(0.7)  # the slow request is in flight
        os.kill(server.pid, signal.SIGTERM)
        time.sleep(0.2)
        if kind == "rest":
            status, _, body = http("GET", server.url + "/v2/health/ready")
            assert status == 503 and json.loads(body)["error"] == "draining"
            status, _, body = http(
                "POST", server.url + f"/v1/models/{MODEL}:predict", {"instances": [0.5]}
            )
            assert status == 503 and "draining" in error_of(body)
        else:
            client = GrpcClient(server.url, model=MODEL)
            assert client.ready() is False
            with pytest.raises(ServerUnavailableError, match="draining"):
                client.predict({"instances": [0.5]})
        worker.join(15)
        assert results and results[0][0] == 200, results  # the in-flight request finished
        assert results[0][1]["predictions"] == [1.0]  # mean of [2.0, 0.0]
        assert server.process.wait(20) == 0
        assert not pid_alive(server.pid)
    finally:
        stop_process(server.process)


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_cli_serve_exits_0_on_sigint(kind):
    server = start_server(kind)
    try:
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(20) == 0
        assert "stopped" in server.log()
    finally:
        stop_process(server.process)


def test_rest_with_several_worker_processes():
    with running_server("rest", workers=2) as server:
        _wait_all_ready(server.url)
        answers = {
            json.loads(
                http("POST", server.url + f"/v1/models/{MODEL}:predict", {"instances": [1.0, 2.0]})[
                    2
                ]
            )["predictions"][0]
            for _ in range(20)
        }
        assert answers == {1.3}
        pid = server.pid
    assert _wait_gone(pid)


def test_rest_workers_drain_with_the_same_grace_as_one_process():
    """`--workers 2`: SIGTERM makes every worker not-ready (503) for the grace, then all exit 0."""
    server = start_server("rest", workers=2, drain_grace_s=1.5)
    try:
        worker_pids = _children(server.pid)
        assert len([p for p in worker_pids if "spawn_main" in _cmdline(p)]) == 2, [
            _cmdline(p) for p in worker_pids
        ]
        _wait_all_ready(server.url)
        for _ in range(6):
            assert (
                http("POST", server.url + f"/v1/models/{MODEL}:predict", {"instances": [1.0, 2.0]})[
                    0
                ]
                == 200
            )
        os.kill(server.pid, signal.SIGTERM)
        time.sleep(0.4)
        # several new connections: whichever worker answers, it is draining
        for _ in range(8):
            status, _, body = http("GET", server.url + "/v2/health/ready")
            assert status == 503 and json.loads(body)["error"] == "draining"
            status, _, body = http(
                "POST", server.url + f"/v1/models/{MODEL}:predict", {"instances": [0.5]}
            )
            assert status == 503 and "draining" in error_of(body)
        assert server.process.wait(20) == 0
        assert all(_wait_gone(pid) for pid in worker_pids)
        assert "draining: not ready" in server.log()  # (workers share the log: lines may overwrite)
    finally:
        stop_process(server.process)


def test_rest_workers_drain_under_load_without_resets_or_other_5xx():
    """SIGTERM to a 2-worker server while 8 clients keep sending, each as a load balancer would
    treat it: it goes on sending until it has seen 503 (draining) for 0.5 s of the 1.5 s grace,
    then stops (the grace exists for that). Answers go from 200 to 503; no connection is reset,
    no 5xx but 503 is sent, every request gets an answer. Bounded: at most 20 s of load."""
    import urllib.error
    from http.client import BadStatusLine, RemoteDisconnected

    server = start_server("rest", workers=2, drain_grace_s=1.5)
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def client() -> None:
        deadline, draining_since = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            if draining_since is not None and time.monotonic() - draining_since > 0.5:
                return  # the balancer has taken this server out
            try:
                status = str(
                    http(
                        "POST",
                        server.url + f"/v1/models/{MODEL}:predict",
                        {"instances": [1.0, 2.0]},
                        timeout=10,
                    )[0]
                )
            except urllib.error.URLError as exc:
                status = f"error:{type(exc.reason).__name__}"
            except (ConnectionResetError, RemoteDisconnected, BadStatusLine) as exc:
                status = f"reset:{type(exc).__name__}"
            if status == "503" and draining_since is None:
                draining_since = time.monotonic()
            with lock:
                outcomes[status] = outcomes.get(status, 0) + 1

    try:
        _wait_all_ready(server.url)
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        os.kill(server.pid, signal.SIGTERM)
        for t in threads:
            t.join(25)
        assert server.process.wait(20) == 0
    finally:
        stop_process(server.process)
    assert not [k for k in outcomes if not k.isdigit()], outcomes  # resets, refused or other errors
    assert not [k for k in outcomes if k.startswith("5") and k != "503"], outcomes
    assert outcomes.get("200", 0) > 0 and outcomes.get("503", 0) > 0, outcomes


def _wait_all_ready(url: str, for_s: float = 2.0, seconds: float = 60.0) -> None:
    """The launcher saw one worker ready; wait until new connections keep finding ready ones for
    ``for_s`` seconds (a count of probes in a row was not enough on a loaded machine: they all
    reached the warm worker before the other one had started accepting, then a request reached
    the other one while it still warmed up, and got 503)."""
    deadline = time.monotonic() + seconds
    since = None
    while since is None or time.monotonic() - since < for_s:
        assert time.monotonic() < deadline, "the workers did not all become ready"
        if http("GET", url + "/v2/health/ready")[0] == 200:
            since = since or time.monotonic()
        else:
            since = None
            time.sleep(0.1)


def _children(pid: int) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            kids = []
        if len([k for k in kids if "spawn_main" in _cmdline(k)]) >= 2:
            return kids
        time.sleep(0.1)
    return kids


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_cli_refuses_an_unknown_model_in_one_line():
    out = subprocess.run(
        [sys.executable, "-m", "lesson", "serve", "rest", "--port", "0", "--model", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "model 'nope' not found" in out.stderr and "Traceback" not in out.stderr
