"""The lesson's REST app on Ray Serve: one real cluster on 127.0.0.1 for the whole module.

Same answers and errors as the uvicorn server, the harness, tritonclient and wrk unchanged, two
replicas that both serve, a replica killed under load and replaced, autoscaling up, down to zero
and back (a cold start), every socket on loopback and no process left behind. Bounded: each
wait has a timeout, each load a request count and a duration.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time

import pytest

pytest.importorskip("ray.serve")
from server_support import error_of, http

from lesson.servers.ray_serve import (
    REPLICA_HEADER,
    RayServe,
    RayServeOptions,
    ray_descendants,
)

pytestmark = [
    pytest.mark.server,
    pytest.mark.slow,
    # Ray 2.60 warns that metrics_interval_s is deprecated, yet still pushes on it
    pytest.mark.filterwarnings("ignore:The `metrics_interval_s` field:DeprecationWarning"),
]

SIM = "diabetes-mlp-simulated-accelerator"
ROW = [0.03, -0.04, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02]
V1_BODY = {"instances": [ROW, [0.0] * 10]}
V2_BODY = {
    "inputs": [{"name": "input__0", "shape": [2, 10], "datatype": "FP64", "data": ROW + [0.0] * 10}]
}
#: the autoscaling run's short delays (Ray's defaults are 30 s up, 600 s down)
FAST = dict(
    upscale_delay_s=1.0, downscale_delay_s=2.0, look_back_period_s=1.0, metrics_interval_s=0.5
)


@pytest.fixture(scope="module")
def cluster():
    ray_serve = RayServe(RayServeOptions(replicas=2), num_cpus=2, metrics_push_s=0.5)
    ray_serve.start()
    ray_serve.pids = set(ray_descendants())  # noted while running, checked after the stop
    try:
        yield ray_serve
    finally:
        ray_serve.stop()


def test_v1_and_v2_answers_equal_the_uvicorn_servers(cluster, default_rest):
    for path, body in (
        ("/v1/models/diabetes-mlp:predict", V1_BODY),
        (f"/v1/models/{SIM}:predict", V1_BODY),
        ("/v2/models/diabetes-mlp/infer", V2_BODY),
    ):
        ray_status, headers, ray_body = http("POST", cluster.url + path, body)
        rest_status, _, rest_body = http("POST", default_rest.url + path, body)
        assert ray_status == rest_status == 200, (path, ray_body)
        assert headers[REPLICA_HEADER].startswith("SERVE_REPLICA::lesson#lesson#")
        ray_json, rest_json = json.loads(ray_body), json.loads(rest_body)
        if "v1" in path:
            assert ray_json["predictions"] == rest_json["predictions"]
        else:
            assert ray_json["outputs"] == rest_json["outputs"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/models/diabetes-mlp:predict", {"instances": [["a"] * 10]}),  # 422
        ("/v1/models/diabetes-mlp:predict", {"instances": [[0.1] * 3]}),  # wrong width
        ("/v1/models/nope:predict", V1_BODY),  # 404
        (
            "/v2/models/diabetes-mlp/infer",
            {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1.0]}]},
        ),
        ("/v1/models/diabetes-mlp:predict", {"instances": [[0.1] * 10] * 2000}),  # over the bounds
    ],
)
def test_bad_input_gets_the_same_error_as_the_uvicorn_server(cluster, default_rest, path, body):
    ray_status, _, ray_body = http("POST", cluster.url + path, body)
    rest_status, _, rest_body = http("POST", default_rest.url + path, body)
    assert 400 <= ray_status < 500
    assert (ray_status, error_of(ray_body)) == (rest_status, error_of(rest_body))


def test_both_replicas_serve(cluster):
    cluster.wait_for_replicas(2, timeout_s=30)
    seen: list[str] = []

    def send(n: int) -> None:
        for _ in range(n):
            status, headers, _ = http("POST", cluster.url + f"/v1/models/{SIM}:predict", V1_BODY)
            assert status == 200
            seen.append(headers[REPLICA_HEADER])

    threads = [threading.Thread(target=send, args=(15,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(seen) == 60
    assert set(seen) == set(cluster.replica_ids()) and len(set(seen)) == 2
    assert min(seen.count(r) for r in set(seen)) >= 10  # the proxy spreads the load


def test_the_harness_tritonclient_and_wrk_work_unchanged(cluster, tmp_path):
    from lesson.loadtest.wire import make_payloads, run_over_wire

    result, _ = run_over_wire(
        cluster.url, make_payloads(10, 1, 16), concurrency=4, rate=None, max_requests=200,
        max_duration=15, warmup=5, model=SIM,
    )  # fmt: skip
    assert result.successes == 200 and not result.errors

    tritonhttp = pytest.importorskip("tritonclient.http")
    import numpy as np

    client = tritonhttp.InferenceServerClient(cluster.url.removeprefix("http://"))
    try:
        assert client.is_server_ready() and client.is_model_ready("diabetes-mlp")
        tensor = tritonhttp.InferInput("input__0", [2, 10], "FP64")
        tensor.set_data_from_numpy(np.array([ROW, [0.0] * 10]))  # the binary tensor extension
        got = client.infer("diabetes-mlp", [tensor]).as_numpy("disease_progression").tolist()
    finally:
        client.close()
    _, _, body = http("POST", cluster.url + "/v1/models/diabetes-mlp:predict", V1_BODY)
    assert got == json.loads(body)["predictions"]

    if shutil.which("wrk") is None:
        return
    script = tmp_path / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(V1_BODY))}\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c4", "-d2s", "-s", str(script), cluster.url + f"/v1/models/{SIM}:predict"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Non-2xx" not in out.stdout and "Requests/sec" in out.stdout, out.stdout


def test_every_socket_of_the_cluster_is_on_loopback(cluster):
    psutil = pytest.importorskip("psutil")
    listening = []
    for pid in ray_descendants():
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.Error:
            continue
        listening += [c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 5  # the GCS, the raylet, the proxy, the replicas...
    assert set(listening) <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening


def test_a_replica_killed_under_load_is_replaced_and_nothing_hangs(cluster):
    from lesson.loadtest.wire import make_payloads, run_over_wire

    cluster.wait_for_replicas(2, timeout_s=30)
    victim = cluster.replica_ids()[0]
    killer = threading.Timer(1.5, cluster.kill_replica, args=(victim,))
    killer.start()
    result, _ = run_over_wire(
        cluster.url, make_payloads(10, 1, 16), concurrency=16, rate=40.0, max_requests=200,
        max_duration=5, warmup=0, model=SIM,
    )  # fmt: skip
    killer.join()
    print(f"kill under load: {result.successes}/{result.requests} answered, errors {result.errors}")
    # every request answered or counted as an error of its kind (Ray's proxy retries a request
    # the dead replica had not started: the kinds are often none at all)
    assert result.successes + result.error_count == result.requests >= 100
    assert "unfinished" not in result.errors, result.errors  # nothing hung
    assert result.successes >= 0.8 * result.requests, result.errors  # the other replica served
    began = time.monotonic()
    while time.monotonic() - began < 30:  # Serve replaces the dead replica
        ids = cluster.replica_ids()
        if victim not in ids and len(ids) == 2 and cluster.running_replicas() == 2:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no replacement in 30 s: {cluster.replica_states()}")
    status, _, _ = http("POST", cluster.url + f"/v1/models/{SIM}:predict", V1_BODY)
    assert status == 200


def test_a_full_proxy_queue_sheds_with_503(cluster):
    from lesson.servers.ray_serve.models import SCALING_MODEL

    slow = {"registry": "lesson.servers.ray_serve.models:scaling_registry"}  # 40 ms a call
    cluster.deploy(RayServeOptions(replicas=1, max_ongoing_requests=1, max_queued_requests=1,
                                   server=slow))  # fmt: skip
    cluster.wait_for_replicas(1, timeout_s=30)
    statuses: list[int] = []

    def send() -> None:
        for _ in range(3):
            status, _, _ = http(
                "POST", cluster.url + f"/v1/models/{SCALING_MODEL}:predict", V1_BODY, timeout=30
            )
            statuses.append(status)

    senders = [threading.Thread(target=send) for _ in range(8)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(timeout=60)
    assert len(statuses) == 24 and set(statuses) == {200, 503}, statuses


def test_autoscaling_goes_up_under_load_down_to_zero_and_cold_starts(cluster):
    cluster.deploy(RayServeOptions(min_replicas=0, max_replicas=2, target_ongoing=1, **FAST))
    cluster.wait_for_replicas(0, timeout_s=30)  # min_replicas 0 and no traffic: none
    stop = threading.Event()
    answered: list[int] = []

    def send() -> None:  # a closed loop, until two replicas run or 40 s have passed
        while not stop.is_set():
            status, _, _ = http("POST", cluster.url + f"/v1/models/{SIM}:predict", V1_BODY)
            answered.append(status)

    senders = [threading.Thread(target=send) for _ in range(8)]
    for t in senders:  # 8 in flight against a target of 1 per replica: it wants max_replicas
        t.start()
    try:
        reached = cluster.wait_for_replicas(2, timeout_s=40)  # a cold start, then one more
    finally:
        stop.set()
        for t in senders:
            t.join(timeout=15)
    assert reached >= FAST["upscale_delay_s"] - 0.5  # not before the upscale delay
    assert answered and set(answered) == {200}
    time.sleep(1.0)
    assert cluster.running_replicas() <= 2  # never above max_replicas
    cluster.wait_for_replicas(0, timeout_s=30)  # idle: down to zero
    started = time.perf_counter()
    status, _, _ = http("POST", cluster.url + f"/v1/models/{SIM}:predict", V1_BODY, timeout=60)
    cold = time.perf_counter() - started
    assert status == 200 and cluster.running_replicas() == 1
    warm_started = time.perf_counter()
    http("POST", cluster.url + f"/v1/models/{SIM}:predict", V1_BODY)
    assert cold > 5 * (time.perf_counter() - warm_started)  # the first request paid a start


def test_stop_leaves_no_ray_process(cluster):
    assert cluster.pids, "the cluster's processes were not found while it ran"
    cluster.stop()
    began = time.monotonic()
    while time.monotonic() - began < 20 and ray_descendants():
        time.sleep(0.2)
    assert not ray_descendants()
    assert not _alive(cluster.pids)  # none of the processes seen while it ran is alive


def _alive(pids: set[int]) -> set[int]:
    from server_support import pid_alive

    return {p for p in pids if pid_alive(p)}
