"""Dynamic batching: throughput and p50/p99 with and without it, for two kinds of model.

- ``tiny``: the real diabetes MLP (numpy). A call costs a few microseconds, so there is no
  fixed cost for batching to share; expect batching NOT to help (the queue hop costs more).
- ``accel``: the same MLP behind a SIMULATED accelerator (2 ms per call + 20 µs per row, one
  call at a time; ``lesson.accelerator``). Here batching shares the fixed cost.

Closed loop at several concurrencies, and open loop on a ladder of rates (the sustainable
rate is the highest one served at >= 95% of its target with p99 under ``--p99-limit-ms``;
the ladder stops after two failures in a row).
Every figure is the median of ``--repeats`` runs. By default the service runs in-process and
the load comes from threads; ``--server rest|grpc`` runs a real server subprocess on
127.0.0.1 instead (its ``--max-batch-size/--max-delay-ms`` flags).

    .venv/bin/python benchmarks/bench_batching.py --quick
    .venv/bin/python benchmarks/bench_batching.py --server grpc --models accel
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lesson.accelerator import SimulatedAcceleratorModel  # noqa: E402
from lesson.batching import BatchedModel  # noqa: E402
from lesson.harness import run_load_test  # noqa: E402
from lesson.mlp_numpy import load_default_numpy_mlp  # noqa: E402
from lesson.models import ModelRegistry  # noqa: E402
from lesson.service import PredictionService  # noqa: E402

ROW = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]
PAYLOAD = {"instances": [ROW]}
MODEL_NAMES = {"tiny": "diabetes-mlp", "accel": "diabetes-mlp-simulated-accelerator"}


def model_for(kind: str):
    mlp = load_default_numpy_mlp()
    return mlp if kind == "tiny" else SimulatedAcceleratorModel(mlp)


@contextlib.contextmanager
def endpoint_for(kind: str, batched: bool, args):
    """Yield ``endpoint(payload) -> response`` for the model, batched or not."""
    if args.server == "inprocess":
        model = model_for(kind)
        served = BatchedModel(model, args.max_batch_size, args.max_delay_ms) if batched else model
        service = PredictionService(ModelRegistry([served]))
        try:
            yield lambda payload: service.predict(payload, transport="in-process")
        finally:
            if batched:
                served.close()
        return
    from lesson.servers.launch import running_server

    options = dict(registry="lesson.mlp_numpy:serving_registry", max_in_flight=1024)
    if batched:
        options.update(max_batch_size=args.max_batch_size, max_delay_ms=args.max_delay_ms)
    if args.server == "grpc":
        options["workers"] = 128
    else:
        options["offload"] = True
    with running_server(args.server, model=MODEL_NAMES[kind], **options) as handle:
        local = threading.local()

        def endpoint(payload):
            client = getattr(local, "client", None)
            if client is None:
                if args.server == "grpc":
                    from lesson.clients.grpc import GrpcClient

                    client = GrpcClient(f"127.0.0.1:{handle.port}")
                else:
                    from lesson.clients.rest import RestClient

                    client = RestClient(handle.url)
                local.client = client
            return client.predict(payload, model=MODEL_NAMES[kind])

        yield endpoint


def median_run(endpoint, args, **kw) -> dict:
    runs = [run_load_test(endpoint, PAYLOAD, max_requests=args.requests, max_duration=args.seconds,
                          warmup=20, **kw) for _ in range(args.repeats)]
    return {
        "throughput": statistics.median(r.throughput for r in runs),
        "p50_ms": statistics.median(r.p50 for r in runs) * 1e3,
        "p99_ms": statistics.median(r.p99 for r in runs) * 1e3,
        "errors": sum(sum(r.errors.values()) for r in runs),
    }


def closed_loop(args) -> dict:
    results = {}
    for kind in args.models:
        for batched in (False, True):
            with endpoint_for(kind, batched, args) as endpoint:
                for c in args.concurrency:
                    r = median_run(endpoint, args, concurrency=c)
                    results[(kind, batched, c)] = r
                    print(f"  closed  {kind:5} {'batched' if batched else 'single ':7} c={c:<3} "
                          f"{r['throughput']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
                          f"  errors {r['errors']}", flush=True)
    return results


def open_loop(args) -> dict:
    results = {}
    for kind in args.models:
        for batched in (False, True):
            best, failures = 0.0, 0
            with endpoint_for(kind, batched, args) as endpoint:
                for rate in args.rates[kind]:
                    r = median_run(endpoint, args, concurrency=max(args.concurrency), rate=rate)
                    ok = r["throughput"] >= 0.95 * rate and r["p99_ms"] <= args.p99_limit_ms and not r["errors"]
                    print(f"  open    {kind:5} {'batched' if batched else 'single ':7} rate={rate:<6} "
                          f"{r['throughput']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
                          f"  {'ok' if ok else 'NOT sustained'}", flush=True)
                    if ok:
                        best, failures = rate, 0
                    else:
                        failures += 1  # one noisy run does not end the ladder; two in a row do
                        if failures == 2:
                            break
            results[(kind, batched)] = best
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("inprocess", "rest", "grpc"), default="inprocess")
    parser.add_argument("--models", default="tiny,accel")
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--max-delay-ms", type=float, default=0.0)
    parser.add_argument("--requests", type=int, default=3000, help="per run")
    parser.add_argument("--seconds", type=float, default=4.0, help="per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--p99-limit-ms", type=float, default=100.0)
    parser.add_argument("--no-open-loop", action="store_true")
    parser.add_argument("--no-closed-loop", action="store_true")
    parser.add_argument("--quick", action="store_true", help="1 repeat, fewer requests")
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.quick:
        args.repeats, args.requests, args.seconds = 1, 1500, 2.0
    args.rates = {"tiny": [500, 1000, 2000, 4000, 8000, 16000], "accel": [100, 200, 400, 800, 1600, 3200, 6400]}
    print(f"batching benchmark ({args.server}; max_batch_size={args.max_batch_size}, "
          f"max_delay_ms={args.max_delay_ms}; medians of {args.repeats})")
    closed = {} if args.no_closed_loop else closed_loop(args)
    opened = {} if args.no_open_loop else open_loop(args)
    print("\nsummary (batched vs single)")
    for kind in args.models:
        for c in args.concurrency if closed else ():
            s, b = closed[(kind, False, c)], closed[(kind, True, c)]
            print(f"  {kind:5} c={c:<3} throughput x{b['throughput'] / s['throughput']:.2f}  "
                  f"p50 x{b['p50_ms'] / s['p50_ms']:.2f}  p99 x{b['p99_ms'] / s['p99_ms']:.2f}")
        if opened:
            s, b = opened[(kind, False)], opened[(kind, True)]
            print(f"  {kind:5} open loop: sustainable {s:.0f} -> {b:.0f} req/s"
                  + (f" (x{b / s:.1f})" if s else ""))
    if closed and "accel" in args.models and 64 in args.concurrency and 1 in args.concurrency:
        s64, b64 = closed[("accel", False, 64)], closed[("accel", True, 64)]
        s1, b1 = closed[("accel", False, 1)], closed[("accel", True, 1)]
        print("\ntargets on the fixed-cost model:")
        print(f"  c=64 throughput >= 5x: x{b64['throughput'] / s64['throughput']:.1f}; p99 no worse: "
              f"{b64['p99_ms']:.1f} vs {s64['p99_ms']:.1f} ms")
        print(f"  c=1 p50 at most 10% worse: {b1['p50_ms']:.2f} vs {s1['p50_ms']:.2f} ms "
              f"({(b1['p50_ms'] / s1['p50_ms'] - 1) * 100:+.0f}%)")
        if opened and opened[("accel", False)]:
            print(f"  open loop >= 3x sustainable rate: x{opened[('accel', True)] / opened[('accel', False)]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
