"""Ray Serve vs the lesson's uvicorn server: replicas (1 vs 2) and the proxy's overhead.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ray_serve.py [--runs 3] [--duration 5]
        [--concurrency 8] [--rate 40] [--json out.json]

One Ray cluster (``num_cpus=2``, loopback, 0.5 CPU per replica) serving the lesson's REST app
(`lesson.servers.ray_serve`), redeployed for each shape, and one ``lesson serve rest`` (uvicorn,
one process). The load is the lesson's harness (`lesson.loadtest.wire.run_over_wire`, the
lean HTTP/1.1 client) from this process. Each round measures, in this order:

* **replicas**: a closed loop of ``--concurrency`` connections for ``--duration`` s against 1,
  then 2 replicas, on two SIMULATED accelerators (each call *waits*, one call at a time per
  replica, so a second replica can double the capacity even on two cores): the registry's
  (``diabetes-mlp-simulated-accelerator``, 2 ms a call) and a slow one
  (``diabetes-mlp-slow-accelerator``, 40 ms a call, `lesson.servers.ray_serve.models`); and on
  the CPU-bound MLP (``diabetes-mlp``: numpy on the CPU, bounded by the cores the proxy, the
  replicas and the load generator share);
* **overhead**: the MLP on ONE replica behind Ray's proxy against the uvicorn server, at the
  same closed-loop load (throughput ratio) and at the same open-loop rate ``--rate`` (p50
  delta: what the proxy adds to a request when neither is saturated).

Medians over ``--runs`` rounds; the machine is shared with other developers' jobs, so pair each
ratio with its baseline in the same round and read the spread. Results: ``benchmarks/README.md``
(Ray Serve).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lesson.loadtest.wire import make_payloads, run_over_wire
from lesson.servers.launch import running_server
from lesson.servers.ray_serve import RayServe, RayServeOptions
from lesson.servers.ray_serve.models import SCALING_MODEL

SIM = "diabetes-mlp-simulated-accelerator"
MLP = "diabetes-mlp"
SLOW = SCALING_MODEL
SLOW_SERVER = {"registry": "lesson.servers.ray_serve.models:scaling_registry"}


def measure(url: str, model: str, *, concurrency: int, rate: float | None, duration: float):
    result, _ = run_over_wire(
        url,
        make_payloads(10, 1, 64),
        concurrency=concurrency,
        rate=rate,
        max_requests=100_000,
        max_duration=duration,
        warmup=10,
        model=model,
    )
    return {
        "req_s": round(result.goodput, 1),
        "p50_ms": round(result.p50 * 1e3, 2),
        "p99_ms": round(result.p99 * 1e3, 2),
        "errors": result.error_count,
    }


def machine_cpu(since: tuple[float, float]) -> float:
    """Cores used by the whole machine since `since` (busy, wall), from /proc/stat."""
    busy, wall = _busy()
    return (busy - since[0]) / max(wall - since[1], 1e-9)


def _busy() -> tuple[float, float]:
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), time.monotonic()


def one_round(ray: RayServe, rest_url: str, args: argparse.Namespace) -> dict:
    out: dict = {}
    load = dict(concurrency=args.concurrency, rate=None, duration=args.duration)
    for replicas in (1, 2):
        ray.deploy(RayServeOptions(replicas=replicas))
        ray.wait_for_replicas(replicas, timeout_s=60)
        for model in (SIM, MLP):
            out[f"ray_{replicas}_{model}"] = measure(ray.url, model, **load)
        ray.deploy(RayServeOptions(replicas=replicas, server=SLOW_SERVER))
        ray.wait_for_replicas(replicas, timeout_s=60)
        out[f"ray_{replicas}_{SLOW}"] = measure(ray.url, SLOW, **load)
    ray.deploy(RayServeOptions(replicas=1))
    ray.wait_for_replicas(1, timeout_s=60)
    out["ray_1_closed"] = measure(ray.url, MLP, **load)
    out["uvicorn_closed"] = measure(rest_url, MLP, **load)
    paced = dict(concurrency=64, rate=args.rate, duration=args.duration)
    out["ray_1_open"] = measure(ray.url, MLP, **paced)
    out["uvicorn_open"] = measure(rest_url, MLP, **paced)
    return out


def summarize(rounds: list[dict]) -> dict:
    def med(key: str, field: str) -> float:
        return statistics.median(r[key][field] for r in rounds)

    def ratio(a: str, b: str, field: str = "req_s") -> float:
        return statistics.median(r[a][field] / r[b][field] for r in rounds)

    summary = {}
    for model in (SLOW, SIM, MLP):
        summary[model] = {
            "req_s_1": med(f"ray_1_{model}", "req_s"),
            "req_s_2": med(f"ray_2_{model}", "req_s"),
            "ratio_2_over_1": round(ratio(f"ray_2_{model}", f"ray_1_{model}"), 2),
            "p99_ms_1": med(f"ray_1_{model}", "p99_ms"),
            "p99_ms_2": med(f"ray_2_{model}", "p99_ms"),
        }
    summary["overhead"] = {
        "ray_req_s": med("ray_1_closed", "req_s"),
        "uvicorn_req_s": med("uvicorn_closed", "req_s"),
        "throughput_ratio": round(ratio("ray_1_closed", "uvicorn_closed"), 3),
        "ray_p50_ms_at_rate": med("ray_1_open", "p50_ms"),
        "uvicorn_p50_ms_at_rate": med("uvicorn_open", "p50_ms"),
        "p50_delta_ms": round(
            statistics.median(
                r["ray_1_open"]["p50_ms"] - r["uvicorn_open"]["p50_ms"] for r in rounds
            ),
            2,
        ),
    }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--json", type=Path, help="write the rounds and the summary here")
    parser.add_argument(
        "--record",
        type=Path,
        help="write the record the Scaling page quotes (lesson/teaching/data/ray_replicas.json)",
    )
    args = parser.parse_args()
    if not 1 <= args.runs <= 20 or not 1 <= args.duration <= 60:
        parser.error("--runs must be in 1..20 and --duration in 1..60 s")
    rounds = []
    with running_server("rest") as rest, RayServe(RayServeOptions(replicas=1)) as ray:
        print(f"ray cluster ready in {ray.started_s:.1f} s", flush=True)
        for i in range(args.runs):
            since = _busy()
            rounds.append(one_round(ray, rest.url, args))
            # the whole machine's busy cores during the round, this benchmark included
            rounds[-1]["machine_cores_busy"] = round(machine_cpu(since), 2)
            print(f"round {i + 1}: {json.dumps(rounds[-1])}", flush=True)
    summary = summarize(rounds)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=2))
    if args.record:
        record = {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "PYTHONPATH=. .venv/bin/python benchmarks/bench_ray_serve.py "
            f"--runs {args.runs} --record {args.record.name}",
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(terse=True),
                "ray": __import__("ray").__version__,
                "note": "shared with other developers' jobs during the run",
            },
            "settings": {
                "runs": args.runs,
                "duration_s": args.duration,
                "concurrency": args.concurrency,
                "rate": args.rate,
                "num_cpus": 2,
                "replica_cpus": RayServeOptions().replica_cpus,
            },
            "rounds": rounds,
            "summary": summary,
        }
        args.record.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
