"""Benchmark the real servers: against minimal baselines, against each other, and the harness against wrk.

Run on demand (not a test); prints medians with [min-max] over the runs:

    .venv/bin/python benchmarks/bench_servers.py                 # everything, 3 runs of 10 s
    .venv/bin/python benchmarks/bench_servers.py --quick         # 1 run of 3 s, to try it out
    .venv/bin/python benchmarks/bench_servers.py --only rest --runs 5

Method: the server runs pinned to one core (`taskset -c 0`), the load generator to the other
(`taskset -c 1`); each server is warmed up first; runs alternate between the two things
compared so drift hits both. The CPU used by OTHER processes during each run is measured
(total busy time minus the server's and the load generator's); a run where others used more
than 15% of a core is marked `contaminated` — on a shared machine, quote the clean runs.

Sections (targets from issue 4):
  rest     lesson REST V1 route vs a minimal FastAPI endpoint under wrk, 8 and 64 connections:
           >= 0.85x requests/s, p50 <= 1.2x.
  grpc     lesson gRPC vs a minimal grpcio servicer under the same client: >= 0.8x.
  compare  gRPC vs REST at concurrency 1, 8, 32 with the lesson's clients (report, no target).
  harness  the lesson's harness vs wrk on the REST server: at 8 connections throughput within
           15%, p50 within 20%, p99 within 30%; at 1 connection p50 at most 100 us above wrk's
           (median of per-run differences, each harness run paired with the wrk run before it);
           open loop at half capacity: at most 1% of sends late by more than 1 ms.
  harness1 / openloop   just the 1-connection comparison / just the open loop (not in the default set).
  clients  the harness's REST client, the lean HTTP/1.1 client vs aiohttp, wrk beside both, at
           8 connections, round by round (not in the default set).
  baseline  with --baseline-root DIR: the 1-connection p50 gap and open-loop late sends of the load
           generator in DIR vs the current one, interleaved round by round on one server.

Compare load generators: `--client-root /path/to/copy` runs `lesson loadtest` from another copy
of the project (e.g. the code before a change) against the same server code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SERVER_CORE, CLIENT_CORE = "0", "1"
BODY = json.dumps({"instances": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]})
CONTAMINATION_CORES = 0.15


# ---------------------------------------------------------------- the baselines (run as subprocesses)
def minimal_rest(port: int) -> None:
    """A minimal FastAPI endpoint: validates {"instances": [floats]} and returns a fixed answer."""
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel

    class Request(BaseModel):
        instances: list[float]

    app = FastAPI()

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request) -> dict:
        return {"predictions": [0.5], "metadata": {}}

    @app.get("/v2/health/ready")
    async def ready() -> dict:
        return {"ready": True}

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def minimal_grpc(port: int) -> None:
    """A minimal grpcio servicer: ModelInfer returns a fixed answer (thread pool like the lesson's)."""
    from concurrent import futures

    import grpc

    from lesson.core.v2 import encode_raw
    from lesson.proto import inference_pb2 as pb
    from lesson.proto import inference_pb2_grpc as pb_grpc

    fixed = pb.ModelInferResponse(model_name="averaged_ensemble", model_version="1")
    fixed.outputs.add(name="output__0", datatype="FP64", shape=[1])
    fixed.raw_output_contents.append(encode_raw("FP64", [0.5]))

    class Minimal(pb_grpc.GRPCInferenceServiceServicer):
        def ModelInfer(self, request, context):
            return fixed

        def ServerReady(self, request, context):
            return pb.ServerReadyResponse(ready=True)

        def RepositoryIndex(self, request, context):
            return pb.RepositoryIndexResponse(
                models=[
                    pb.RepositoryIndexResponse.ModelIndex(name="averaged_ensemble", version="1")
                ]
            )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Minimal(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


# ---------------------------------------------------------------- processes
def free_port() -> int:
    from lesson.servers.launch import free_port as free

    return free()


def _ready(kind: str, port: int) -> bool:
    from lesson.servers.launch import _is_ready

    return _is_ready(kind, "127.0.0.1", port)


@contextmanager
def pinned_process(
    cmd: list[str], kind: str, port: int, *, what: str, start_timeout_s: float = 60.0
) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` on the server core until a ``kind`` server answers on ``port``; always stop it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CORE, *cmd],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + start_timeout_s
        while not _ready(kind, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def pinned_server(name: str) -> Iterator[dict[str, Any]]:
    """Start one of: lesson-rest, minimal-rest, lesson-grpc, minimal-grpc on the server core."""
    port = free_port()
    kind = "rest" if name.endswith("rest") else "grpc"
    if name.startswith("lesson"):
        cmd = [PY, "-m", "lesson.servers.cli", "serve", kind, "--port", str(port)]
    else:
        cmd = [PY, __file__, "--serve-baseline", name, "--port", str(port)]
    with pinned_process(cmd, kind, port, what=name) as proc:
        scheme = "http" if kind == "rest" else "grpc"
        yield {"name": name, "url": f"{scheme}://127.0.0.1:{port}", "pid": proc.pid}


class CpuWatch:
    """CPU used by everything else on the machine while a run happens (in cores)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def _busy(self) -> float:
        fields = [float(v) for v in open("/proc/stat").readline().split()[1:]]
        idle = fields[3] + fields[4]
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def _server(self) -> float:
        try:
            with open(f"/proc/{self.server_pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            return (float(parts[11]) + float(parts[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return 0.0

    def __enter__(self) -> CpuWatch:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.t0, self.busy0, self.server0 = time.monotonic(), self._busy(), self._server()
        self.children0 = usage.ru_utime + usage.ru_stime
        return self

    def __exit__(self, *exc: Any) -> None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.monotonic() - self.t0
        children = usage.ru_utime + usage.ru_stime - self.children0
        ours = (self._server() - self.server0) + children
        self.other_cores = max(0.0, (self._busy() - self.busy0 - ours) / wall) if wall > 0 else 0.0
        self.contaminated = self.other_cores > CONTAMINATION_CORES


# ---------------------------------------------------------------- load generators
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.match(r"([0-9.]+)(us|ms|s)", text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, connections: int, duration: float) -> dict[str, float]:
    """wrk (C, one thread on the client core) POSTing the V1 body; requests/s and p50/p99 in ms."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    script.close()
    try:
        out = subprocess.run(
            [
                "taskset",
                "-c",
                CLIENT_CORE,
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--latency",
                "-s",
                script.name,
                url + "/v1/models/averaged_ensemble:predict",
            ],
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"rps": rps, "p50": _ms(pct["50"]), "p99": _ms(pct["99"]), "errors": errors}


def run_harness(
    url: str,
    concurrency: int,
    duration: float,
    rate: float | None = None,
    root: Path = ROOT,
    engine: str | None = None,
) -> dict[str, float]:
    """`lesson loadtest --json` on the client core (lean HTTP/1.1 client on uvloop for REST, grpcio threads for gRPC).

    ``engine``: the REST client, ``http1`` or ``aiohttp`` (None: the command's default); not a
    command-line option, so a named engine runs the same code through ``run_loadtest``.
    """
    if engine is None:
        cmd = [
            PY,
            "-m",
            "lesson.loadtest.cli",
            "--url",
            url,
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration),
            "--warmup",
            "50",
            "--model",
            "averaged_ensemble",
            "--json",
        ]
        cmd += ["--rate", str(rate)] if rate else ["--requests", "1000000"]
    else:
        call = (
            f"run_loadtest(url={url!r}, concurrency={concurrency}, requests=1_000_000, rate={rate!r},"
            f" duration={duration!r}, model='averaged_ensemble', protocol='v1', features=None,"
            f" batch=1, warmup=50, json_output=True, engine={engine!r})"
        )
        cmd = [
            PY,
            "-c",
            f"import sys; from lesson.loadtest.wire import run_loadtest; sys.exit({call})",
        ]
    out = subprocess.run(
        ["taskset", "-c", CLIENT_CORE, *cmd],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(root)),
        cwd=str(root),
    ).stdout
    report = json.loads(out)
    return {
        "rps": report["throughput_rps"],
        "p50": report["p50_ms"],
        "p99": report["p99_ms"],
        "late": report["late_sends"] / max(report["requests"], 1),
        "client_bound": report["client_bound"],
        "client_cpu": report["client_cpu_percent"],
        "unsent": report["unsent"],
        "errors": sum(report["errors"].values()),
    }


# ---------------------------------------------------------------- measuring and reporting
def measure(
    server_name: str, load: Callable[[str], dict[str, float]], runs: int, warm: Callable[[str], Any]
) -> list[dict]:
    results = []
    with pinned_server(server_name) as server:
        warm(server["url"])
        for _ in range(runs):
            with CpuWatch(server["pid"]) as watch:
                figures = load(server["url"])
            results.append(
                dict(figures, other_cores=watch.other_cores, contaminated=watch.contaminated)
            )
    return results


def summary(results: list[dict], key: str) -> tuple[float, float, float]:
    clean = [r for r in results if not r["contaminated"]] or results
    values = [r[key] for r in clean]
    return statistics.median(values), min(values), max(values)


def fmt(results: list[dict], key: str, unit: str = "") -> str:
    med, lo, hi = summary(results, key)
    return f"{med:,.2f}{unit} [{lo:,.2f}-{hi:,.2f}]"


def note(results: list[dict]) -> str:
    dirty = sum(r["contaminated"] for r in results)
    return (
        ""
        if not dirty
        else f"  ({dirty}/{len(results)} runs contaminated:"
        f" others used up to {max(r['other_cores'] for r in results):.2f} cores)"
    )


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def section_rest(args) -> None:
    print(
        "\n== REST: lesson V1 route vs minimal FastAPI endpoint, wrk (server core 0, wrk core 1) =="
    )
    warm = lambda url: run_wrk(url, 8, 1)
    for conns in (8, 64):
        load = lambda url, c=conns: run_wrk(url, c, args.duration)
        minimal = measure("minimal-rest", load, args.runs, warm)
        lesson = measure("lesson-rest", load, args.runs, warm)
        ratio = summary(lesson, "rps")[0] / summary(minimal, "rps")[0]
        p50_ratio = summary(lesson, "p50")[0] / summary(minimal, "p50")[0]
        print(
            f"{conns:>3} connections  minimal {fmt(minimal, 'rps')} req/s "
            f" p50 {fmt(minimal, 'p50', ' ms')}{note(minimal)}"
        )
        print(
            f"{'':>16} lesson  {fmt(lesson, 'rps')} req/s  p50 {fmt(lesson, 'p50', ' ms')}{note(lesson)}"
        )
        print(
            f"{'':>16} ratio {ratio:.2f}x throughput, {p50_ratio:.2f}x p50"
            f" -> {verdict(ratio >= 0.85 and p50_ratio <= 1.2)}"
        )


def section_grpc(args) -> None:
    print(
        "\n== gRPC: lesson servicer vs minimal grpcio servicer, same client (lesson loadtest, 8 workers) =="
    )
    load = lambda url: run_harness(url, 8, args.duration)
    warm = lambda url: run_harness(url, 8, 1)
    minimal = measure("minimal-grpc", load, args.runs, warm)
    lesson = measure("lesson-grpc", load, args.runs, warm)
    ratio = summary(lesson, "rps")[0] / summary(minimal, "rps")[0]
    print(f"minimal {fmt(minimal, 'rps')} req/s  p50 {fmt(minimal, 'p50', ' ms')}{note(minimal)}")
    print(f"lesson  {fmt(lesson, 'rps')} req/s  p50 {fmt(lesson, 'p50', ' ms')}{note(lesson)}")
    bound = any(r["client_bound"] for r in minimal + lesson)
    print(
        f"ratio {ratio:.2f}x -> {verdict(ratio >= 0.8)}"
        + ("  (client-bound runs: the client limits both)" if bound else "")
    )


def section_compare(args) -> None:
    print("\n== gRPC vs REST (V1), the lesson's clients at 1, 8, 32 ==")
    warm = lambda url: run_harness(url, 8, 1)
    for conc in (1, 8, 32):
        load = lambda url, c=conc: run_harness(url, c, args.duration)
        rest = measure("lesson-rest", load, args.runs, warm)
        grpc_ = measure("lesson-grpc", load, args.runs, warm)
        ratio = summary(grpc_, "rps")[0] / summary(rest, "rps")[0]
        print(
            f"c={conc:<3} REST {fmt(rest, 'rps')} req/s p50 {fmt(rest, 'p50', ' ms')}"
            f" p99 {fmt(rest, 'p99', ' ms')}{note(rest)}"
        )
        print(
            f"      gRPC {fmt(grpc_, 'rps')} req/s p50 {fmt(grpc_, 'p50', ' ms')}"
            f" p99 {fmt(grpc_, 'p99', ' ms')}{note(grpc_)}"
        )
        print(f"      gRPC/REST throughput {ratio:.2f}x")


def _paired(server: dict, conns: int, args) -> tuple[dict, dict]:
    """One wrk run then one harness run at ``conns`` connections, each with its CPU watch."""
    with CpuWatch(server["pid"]) as w1:
        wrk = run_wrk(server["url"], conns, args.duration)
    with CpuWatch(server["pid"]) as w2:
        harness = run_harness(server["url"], conns, args.duration, root=args.client_root)
    return (
        dict(wrk, other_cores=w1.other_cores, contaminated=w1.contaminated),
        dict(harness, other_cores=w2.other_cores, contaminated=w2.contaminated),
    )


def harness_vs_wrk(args, conns: int) -> float:
    """Print the harness vs wrk at ``conns`` connections; returns wrk's median requests/s."""
    with pinned_server("lesson-rest") as server:
        run_wrk(server["url"], 8, 1)  # warm the server
        run_harness(server["url"], conns, 1, root=args.client_root)  # and the client's imports
        runs = [_paired(server, conns, args) for _ in range(args.runs)]
    wrks, harnesses = [w for w, _ in runs], [h for _, h in runs]
    print(
        f"{conns} connection(s)  wrk     {fmt(wrks, 'rps')} req/s p50 {fmt(wrks, 'p50', ' ms')}"
        f" p99 {fmt(wrks, 'p99', ' ms')}{note(wrks)}"
    )
    print(
        f"{'':>16} harness {fmt(harnesses, 'rps')} req/s p50 {fmt(harnesses, 'p50', ' ms')}"
        f" p99 {fmt(harnesses, 'p99', ' ms')}"
        f" client CPU {fmt(harnesses, 'client_cpu', ' %')}{note(harnesses)}"
    )
    # per-run pairing: each harness run is compared with the wrk run just before it
    clean = [(w, h) for w, h in runs if not (w["contaminated"] or h["contaminated"])] or runs
    tag = (
        "clean pairs"
        if len(clean) < len(runs)
        or not any(w["contaminated"] or h["contaminated"] for w, h in runs)
        else "ALL pairs contaminated"
    )
    w = {k: summary(wrks, k)[0] for k in ("rps", "p50", "p99")}
    h = {k: summary(harnesses, k)[0] for k in ("rps", "p50", "p99")}
    if conns == 1:
        deltas = [(hh["p50"] - ww["p50"]) * 1000 for ww, hh in clean]
        every = [(hh["p50"] - ww["p50"]) * 1000 for ww, hh in runs]
        extra_us = statistics.median(deltas)
        print(
            f"{'':>16} p50 above wrk: {extra_us:+.0f} us [{min(deltas):+.0f}..{max(deltas):+.0f}]"
            f" over {len(clean)} {tag}"
            f" (all {len(runs)} pairs: {statistics.median(every):+.0f} us [{min(every):+.0f}..{max(every):+.0f}])"
            f" -> {verdict(extra_us <= 100)} (target <= +100 us)"
        )
    else:
        ok = (
            abs(h["rps"] / w["rps"] - 1) <= 0.15
            and abs(h["p50"] / w["p50"] - 1) <= 0.2
            and abs(h["p99"] / w["p99"] - 1) <= 0.3
        )
        print(
            f"{'':>16} throughput {h['rps'] / w['rps']:.2f}x, p50 {h['p50'] / w['p50']:.2f}x,"
            f" p99 {h['p99'] / w['p99']:.2f}x"
            f" -> {verdict(ok)} (targets: within 15 %, 20 %, 30 %)"
        )
    return w["rps"]


def open_loop(args, capacity: float | None = None) -> None:
    """Open loop at half the server's 1-connection capacity: the share of sends late by > 1 ms."""
    with pinned_server("lesson-rest") as server:
        run_wrk(server["url"], 8, 1)
        if capacity is None:
            capacity = statistics.median(run_wrk(server["url"], 1, 3)["rps"] for _ in range(3))
        rate = max(10.0, round(capacity / 2))
        opens = []
        for _ in range(args.runs):
            with CpuWatch(server["pid"]) as watch:
                figures = run_harness(
                    server["url"], 64, args.duration, rate=rate, root=args.client_root
                )
            opens.append(
                dict(
                    figures,
                    late=100 * figures["late"],
                    other_cores=watch.other_cores,
                    contaminated=watch.contaminated,
                )
            )
    late = summary(opens, "late")[0]
    every = [r["late"] for r in opens]
    print(
        f"open loop at {rate:,.0f} req/s (half of the 1-connection capacity {capacity:,.0f} req/s), 64 in flight:"
    )
    print(
        f"{'':>16} late sends (> 1 ms) {fmt(opens, 'late', ' %')} of sends; unsent {fmt(opens, 'unsent')};"
        f" achieved {fmt(opens, 'rps')} req/s; p50 {fmt(opens, 'p50', ' ms')} p99 {fmt(opens, 'p99', ' ms')};"
        f" client CPU {fmt(opens, 'client_cpu', ' %')}{note(opens)}"
    )
    print(
        f"{'':>16} all {len(opens)} runs: late {statistics.median(every):.2f} % [{min(every):.2f}-{max(every):.2f}]"
        f" -> {verdict(late <= 1.0)} (target <= 1 % late)"
    )


def _watched(server: dict, fn: Callable[[], dict]) -> dict:
    with CpuWatch(server["pid"]) as watch:
        figures = fn()
    return dict(figures, other_cores=watch.other_cores, contaminated=watch.contaminated)


def section_baseline(args) -> None:
    """Before/after on one server, interleaved so machine noise hits both load generators alike."""
    if args.baseline_root is None:
        raise SystemExit(
            "--only baseline needs --baseline-root DIR (a copy of the project before the change)"
        )
    roots = {"baseline": args.baseline_root, "current": args.client_root}
    print(
        f"\n== Load generator before/after, interleaved: baseline {args.baseline_root} vs current {args.client_root} =="
    )
    with pinned_server("lesson-rest") as server:
        url = server["url"]
        run_wrk(url, 8, 1)
        for root in roots.values():
            run_harness(url, 1, 1, root=root)
        capacity = statistics.median(run_wrk(url, 1, 3)["rps"] for _ in range(3))
        rate = max(10.0, round(capacity / 2))
        rounds = []
        for _ in range(args.runs):
            row = {"wrk": _watched(server, lambda: run_wrk(url, 1, args.duration))}
            for name, root in roots.items():
                row[name] = _watched(
                    server, lambda r=root: run_harness(url, 1, args.duration, root=r)
                )
                row[name + "-open"] = _watched(
                    server, lambda r=root: run_harness(url, 64, args.duration, rate=rate, root=r)
                )
            rounds.append(row)
    for name in roots:
        pairs = [(r["wrk"], r[name]) for r in rounds]
        clean = [(w, h) for w, h in pairs if not (w["contaminated"] or h["contaminated"])]
        every = [(h["p50"] - w["p50"]) * 1000 for w, h in pairs]
        good = [(h["p50"] - w["p50"]) * 1000 for w, h in clean]
        opens = [r[name + "-open"] for r in rounds]
        late_all = [100 * o["late"] for o in opens]
        late_clean = [100 * o["late"] for o in opens if not o["contaminated"]]
        span = lambda v: (
            f"{statistics.median(v):+.0f} us [{min(v):+.0f}..{max(v):+.0f}]" if v else "n/a"
        )
        pct = lambda v: f"{statistics.median(v):.2f} % [{min(v):.2f}-{max(v):.2f}]" if v else "n/a"
        print(
            f"{name:>9}: 1-connection p50 above wrk: clean {span(good)} ({len(good)} pairs), all {span(every)};"
            f" client CPU {statistics.median(r[name]['client_cpu'] for r in rounds):.0f} %"
        )
        print(
            f"{'':>11}open loop at {rate:,.0f} req/s, late > 1 ms: clean {pct(late_clean)} ({len(late_clean)} runs),"
            f" all {pct(late_all)}; p99 {statistics.median(o['p99'] for o in opens):.2f} ms;"
            f" client CPU {statistics.median(o['client_cpu'] for o in opens):.0f} %"
        )
    print(
        f"{'':>11}wrk 1-connection p50 {statistics.median(r['wrk']['p50'] for r in rounds) * 1000:.0f} us;"
        f" others' CPU per run median {statistics.median(r['wrk']['other_cores'] for r in rounds):.2f} cores"
    )


def section_harness(args) -> None:
    print(
        f"\n== The harness vs wrk on the lesson's REST server (load generator from {args.client_root}) =="
    )
    harness_vs_wrk(args, 8)
    capacity = harness_vs_wrk(args, 1)
    open_loop(args, capacity)


def section_clients(args) -> None:
    """The harness's REST client: the lean HTTP/1.1 client vs aiohttp, each next to wrk.

    Each round runs wrk, then the harness with the lean client, then with aiohttp, at 8
    connections on one server; medians over every round, and each client's throughput as a
    ratio to the wrk run of its own round (the median of the rounds' ratios).
    """
    print(
        "\n== The harness's REST client at 8 connections: lean HTTP/1.1 (http1) vs aiohttp, "
        "wrk beside both =="
    )
    engines = ("http1", "aiohttp")
    rounds: list[dict[str, dict]] = []
    with pinned_server("lesson-rest") as server:
        url = server["url"]
        run_wrk(url, 8, 1)  # warm the server
        for engine in engines:  # and each client's imports
            run_harness(url, 8, 1, engine=engine)
        for _ in range(args.runs):
            row = {"wrk": _watched(server, lambda: run_wrk(url, 8, args.duration))}
            for engine in engines:
                row[engine] = _watched(
                    server, lambda e=engine: run_harness(url, 8, args.duration, engine=e)
                )
            rounds.append(row)

    # every round counts, contaminated or not: a round's three runs are compared with each
    # other (back to back on one server), so drift and noise hit all three alike
    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    wrks = [r["wrk"] for r in rounds]
    print(
        f"{'wrk':>9}: median {med(wrks, 'rps'):,.0f} req/s p50 {med(wrks, 'p50'):.2f} ms"
        f"{note(wrks)}"
    )
    for engine in engines:
        runs = [r[engine] for r in rounds]
        ratios = [r[engine]["rps"] / r["wrk"]["rps"] for r in rounds]
        ratio = statistics.median(ratios)
        print(
            f"{engine:>9}: median {med(runs, 'rps'):,.0f} req/s p50 {med(runs, 'p50'):.2f} ms"
            f" client CPU {med(runs, 'client_cpu'):.1f} %{note(runs)}"
        )
        print(
            f"{'':>11}throughput {ratio:.2f}x wrk's, the median of the rounds'"
            f" ({', '.join(f'{x:.2f}' for x in ratios)})"
            f" -> {verdict(abs(ratio - 1) <= 0.15)} (target: within 15 %)"
        )


def section_harness1(args) -> None:
    print(f"\n== The harness vs wrk at 1 connection (load generator from {args.client_root}) ==")
    harness_vs_wrk(args, 1)


def section_openloop(args) -> None:
    print(f"\n== Open-loop send precision (load generator from {args.client_root}) ==")
    open_loop(args)


SECTIONS = {
    "rest": section_rest,
    "grpc": section_grpc,
    "compare": section_compare,
    "harness": section_harness,
    "harness1": section_harness1,
    "clients": section_clients,
    "openloop": section_openloop,
    "baseline": section_baseline,
}
DEFAULT_SECTIONS = ["rest", "grpc", "compare", "harness"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=sorted(SECTIONS), action="append", help="run only these sections"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument(
        "--quick", action="store_true", help="1 run of 3 s: a smoke test, not a measurement"
    )
    parser.add_argument(
        "--client-root",
        type=Path,
        default=ROOT,
        help="a copy of the project whose `lesson` runs the load generator (compare before/after)",
    )
    parser.add_argument(
        "--baseline-root",
        type=Path,
        default=None,
        help="with --only baseline: the copy of the project to compare the current load generator with",
    )
    parser.add_argument(
        "--serve-baseline", choices=["minimal-rest", "minimal-grpc"], help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        (minimal_rest if args.serve_baseline == "minimal-rest" else minimal_grpc)(args.port)
        return 0
    sys.stdout.reconfigure(line_buffering=True)  # results appear as they come, even in a file
    if args.quick:
        args.runs, args.duration = 1, 3.0
    if not 1 <= args.runs <= 20 or not 1 <= args.duration <= 120:
        parser.error("--runs must be in 1..20 and --duration in 1..120 s")
    for tool in ("taskset", "wrk"):
        if shutil.which(tool) is None:
            parser.error(
                f"{tool} is not installed (apt-get install {'util-linux' if tool == 'taskset' else 'wrk'})"
            )
    if (os.cpu_count() or 1) < 2:
        print("WARNING: one CPU: server and load generator share it; figures are not comparable")
    print(
        f"bench_servers: {args.runs} run(s) of {args.duration:g} s; medians [min-max] of clean runs; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    for name in args.only or DEFAULT_SECTIONS:
        SECTIONS[name](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
