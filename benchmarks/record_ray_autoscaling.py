"""Record Ray Serve autoscaling under a step load, scale to zero and the cold start that follows.

    PYTHONPATH=. .venv/bin/python benchmarks/record_ray_autoscaling.py \
        [--out lesson/teaching/data/ray_autoscaling.json]

One Ray cluster on this machine (``num_cpus=2``, loopback) serves the lesson's REST app with the
MLP behind a SIMULATED accelerator whose call waits 40 ms, one call at a time per replica
(`lesson.servers.ray_serve.models`): one replica answers at most ~25 requests a second. The
deployment autoscales between 0 and 3 replicas towards 0.5 requests in flight per replica
(one replica serves one call at a time: a target above 1 would let a queue build before it
asks for more), each replica taking up to 32 requests at once (with Ray's default, 5, the rest wait in the
proxy: in a run recorded that way, 3 replicas served about 12 requests a second), with
SHORT delays so the run fits in a minute and a half (Ray's defaults: 30 s up, 600 s down, a 30 s
look-back, a 10 s metrics push): upscale 3 s, downscale 5 s, look-back 2 s, metrics pushed every 0.5 s.

The open-loop step load (`lesson.loadtest.step_load`): 8 req/s for 10 s, 40 req/s for 20 s, 8
req/s for 15 s, then nothing for 20 s (the deployment scales to zero); then one request that
pays the cold start, and a second, warm one. Replicas are sampled from Serve's status every
0.25 s. The record (JSON: date, command, machine, settings, one row per second, the events) is
what the Scaling page and notebook 07 draw and quote: `lesson.teaching.autoscaling` reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shlex
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lesson.loadtest.step_load import Step, per_second, run_step_load
from lesson.servers.ray_serve import RayServe, RayServeOptions
from lesson.servers.ray_serve.models import SCALING_CALL_S, SCALING_MODEL

STEPS = [Step(10, 8.0), Step(20, 40.0), Step(15, 8.0), Step(20, 0.0)]
OPTIONS = dict(
    min_replicas=0,
    max_replicas=3,
    initial_replicas=1,
    target_ongoing=0.5,
    max_ongoing_requests=32,
    upscale_delay_s=3.0,
    downscale_delay_s=5.0,
    look_back_period_s=2.0,
    metrics_interval_s=0.5,
    server={"registry": "lesson.servers.ray_serve.models:scaling_registry"},
)
METRICS_PUSH_S = 0.5
BODY = {"instances": [[0.03, -0.04, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02]]}


def sample_replicas(ray: RayServe, began: float, stop: threading.Event, out: list) -> None:
    while not stop.wait(0.25):
        states = ray.replica_states()
        out.append(
            (time.perf_counter() - began, states.get("RUNNING", 0), states.get("STARTING", 0))
        )


def timed_request(url: str) -> tuple[float, int]:
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(BODY).encode(), headers={"Content-Type": "application/json"}
    )
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
        return time.perf_counter() - began, response.status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "lesson/teaching/data/ray_autoscaling.json"
    )
    args = parser.parse_args()
    options = RayServeOptions(**OPTIONS)
    url_path = f"/v1/models/{SCALING_MODEL}:predict"
    samples: list = []
    with RayServe(options, num_cpus=2, metrics_push_s=METRICS_PUSH_S) as ray:
        ray.wait_for_replicas(1, timeout_s=60)
        stop = threading.Event()
        began = time.perf_counter()
        sampler = threading.Thread(target=sample_replicas, args=(ray, began, stop, samples))
        sampler.start()
        try:
            records = asyncio.run(
                run_step_load(ray.url + url_path, BODY, STEPS, max_in_flight=256, timeout=60)
            )
            zero_wait = ray.wait_for_replicas(0, timeout_s=60)
            zero_at = time.perf_counter() - began
            cold_s, cold_status = timed_request(ray.url + url_path)
            warm_s, _ = timed_request(ray.url + url_path)
            total = sum(s.seconds for s in STEPS)  # keep sampling to the series' end
            time.sleep(max(0.0, began + total + 0.5 - time.perf_counter()))
        finally:
            stop.set()
            sampler.join()
        started_s = ray.started_s
    seconds = int(sum(s.seconds for s in STEPS))
    rows = per_second(records, seconds)
    rates = [s.rate for s in STEPS for _ in range(int(s.seconds))]
    for row in rows:
        mine = [s for s in samples if row["t"] <= s[0] < row["t"] + 1]
        row["rate"] = rates[row["t"]]
        row["replicas"] = mine[-1][1] if mine else None
        row["starting"] = max(s[2] for s in mine) if mine else None  # any start in it
    record = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "PYTHONPATH=. .venv/bin/python benchmarks/record_ray_autoscaling.py",
        "argv": shlex.join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
            "python": platform.python_version(),
            "ray": __import__("ray").__version__,
            "note": "shared with other developers' jobs during the run",
            "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        },
        "settings": {
            **{k: v for k, v in options.to_dict().items() if k != "server"},
            "metrics_push_s": METRICS_PUSH_S,
            "num_cpus": 2,
            "model": SCALING_MODEL,
            "call_s": SCALING_CALL_S,
            "steps": [{"seconds": s.seconds, "rate": s.rate} for s in STEPS],
        },
        "cluster_ready_s": round(started_s or 0.0, 1),
        "series": rows,
        "samples": [[round(t, 2), r, s] for t, r, s in samples],
        "requests": len(records),
        "errors": sum(r["errors"] for r in rows),
        "scaled_to_zero_at_s": round(zero_at, 1),
        "zero_wait_after_load_s": round(zero_wait, 1),
        "cold_start_at_s": round(zero_at, 1),  # the request was sent once zero replicas ran
        "cold_start_s": round(cold_s, 3),
        "cold_start_status": cold_status,
        "warm_request_s": round(warm_s, 4),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k not in ("series", "samples")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
