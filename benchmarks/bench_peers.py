"""Measure the lesson against the tools and servers a practitioner would pick instead (issue 14).

Run on demand (not a test); prints medians [min-max] of the clean runs and the verdicts:

    .venv/bin/python benchmarks/bench_peers.py                   # all sections, 3 runs of 10 s
    .venv/bin/python benchmarks/bench_peers.py --quick           # 1 run of 3 s: a smoke test
    .venv/bin/python benchmarks/bench_peers.py --only peers --runs 5

Sections:
  loadgen  the same lesson REST server (V1 route, diabetes-mlp, one held-out row) under wrk, locust
           (FastHttpUser, 8 users) and `lesson loadtest` (8 connections): harness/wrk throughput
           within 15 %, p50 within 20 %. Open loop at --rate req/s: harness p99 within 30 % of
           locust paced with constant_throughput (no wrk2 in Debian). gRPC: h2load vs the harness.
  perf     Triton's perf_analyzer (tritonclient[all]==2.33.0's binary, its own venv; see
           peers/perf.py for what it needs here) vs the harness on the lesson's REST and gRPC servers,
           unchanged (they answer the model configuration it reads): concurrency 1 and 8, and a
           constant --rate.
  peers    MLServer, KServe and a minimal FastAPI floor serving the same MLP (weights read from the
           lesson's artifact JSON, same forward pass), same payload, at 8 and 32 connections;
           ratios lesson/peer. REST under wrk: V1 (instances) and V2 (JSON tensors) separately.
           gRPC under h2load (-m 1): the lesson's gRPC server vs KServe's and MLServer's V2 gRPC
           (the floor has none), the same ModelInfer frame (one FP64 row in raw_input_contents,
           which both peers decode), in the same rounds as REST. Errors on gRPC (h2load cannot read
           trailers): HTTP/transport failures, answers without a full message (DATA bytes), the
           lesson's non-OK codes on its metrics, and for peers 5 real calls after every run that
           must end OK with the right answer; values under load are not checked (see
           peers/grpc_peers.py). Before any load, `ss -ltnp` must show every socket on 127.0.0.1.

Method (as bench_servers.py): servers pinned to core 0, load generators to core 1 (taskset);
every server is warmed first and runs alternate between the things compared; a run where OTHER
processes used more than 0.15 of a core is contaminated (medians are of the clean runs when there
are any). Every server's answer to the exact bytes sent is checked against the lesson's
prediction (within 1e-6) before any load. The harness sends random rows of the right width (its
own payloads); the other tools send the held-out row.

Peers' venvs are installed once under .cache/bench-venvs/<name> (pinned: mlserver==1.7.1,
kserve==0.21.0, tritonclient[all]==2.33.0) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import loadgens as lg
from peers.procs import ROOT, Unavailable, free_port, pinned
from peers.report import RECORD, compare, med, save, table, watched
from peers.servers import PINS as PEER_PINS

PY = sys.executable
REGISTRY = "lesson.models.mlp_numpy:serving_registry"
PATHS = {"v1": "/v1/models/{}:predict", "v2": "/v2/models/{}/infer"}


class Case:
    """The model, the row, the lesson's prediction for it, and the bodies sent."""

    def __init__(self) -> None:
        from lesson.core.artifacts import load_artifact
        from lesson.models.mlp_numpy import serving_registry

        registry = serving_registry()
        self.model = registry.default_name
        self.row = [float(v) for v in load_artifact(self.model).json("heldout.json")["rows"][0]]
        self.expected = registry.get().predict([self.row])[0]
        width = len(self.row)
        self.bodies = {
            "v1": json.dumps({"instances": [self.row]}).encode(),
            "v2": json.dumps(
                {
                    "inputs": [
                        {
                            "name": "input",
                            "shape": [1, width],
                            "datatype": "FP64",
                            "data": [self.row],
                        }
                    ]
                }
            ).encode(),
        }

    def path(self, protocol: str) -> str:
        return PATHS[protocol].format(self.model)

    def check(self, url: str, protocol: str, who: str) -> None:
        """POST the exact body the load generator sends; stop unless the answer is the lesson's."""
        request = urllib.request.Request(
            url + self.path(protocol),
            data=self.bodies[protocol],
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            answer = json.loads(resp.read())
        got = answer["predictions"] if protocol == "v1" else answer["outputs"][0]["data"]
        got = got[0] if got and isinstance(got[0], list) else got  # a [1, 1] tensor may come nested
        if len(got) != 1 or abs(got[0] - self.expected) > 1e-6:
            raise SystemExit(
                f"{who} {protocol}: answered {got}, the lesson predicts {self.expected} (1e-6)"
            )
        print(f"  {who} {protocol}: answers {got[0]:.9f} = the lesson's prediction within 1e-6")

    def check_grpc(self, port: int, who: str) -> None:
        import grpc

        from lesson.clients.grpc import response_to_dict
        from lesson.proto import inference_pb2 as pb

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(
                lg.GRPC_INFER,
                request_serializer=None,
                response_deserializer=pb.ModelInferResponse.FromString,
            )
            got = response_to_dict(call(lg.grpc_frame(self.row, self.model)[5:], timeout=30))[
                "outputs"
            ][0]["data"]
        if len(got) != 1 or abs(got[0] - self.expected) > 1e-6:
            raise SystemExit(f"{who} gRPC: answered {got}, the lesson predicts {self.expected}")
        print(f"  {who} gRPC: answers {got[0]:.9f} = the lesson's prediction within 1e-6")


def grpc_not_ok(metrics_port: int) -> float:
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        .read()
        .decode()
    )
    return sum(
        float(v)
        for code, v in re.findall(
            r'lesson_requests_total\{code="([A-Z_]+)",[^}]*route="ModelInfer"[^}]*\} ([0-9.e+]+)',
            text,
        )
        if code != "OK"
    )


def lesson_grpc():
    port, mport = free_port(), free_port()
    cmd = [
        PY,
        "-m",
        "lesson.servers.cli",
        "serve",
        "grpc",
        "--port",
        str(port),
        "--registry",
        REGISTRY,
        "--metrics-port",
        str(mport),
    ]
    return (
        port,
        mport,
        pinned(cmd, port, what="lesson-grpc", env=dict(os.environ, PYTHONPATH=str(ROOT))),
    )


# ---------------------------------------------------------------- 1. load generators
def section_loadgen(args, case: Case) -> None:
    from peers.servers import server

    print(f"\n== 1. Load generators on the same lesson REST server (V1 {case.path('v1')}) ==")
    d, url_path, body = args.duration, case.path("v1"), case.bodies["v1"]
    with server("lesson") as s:
        case.check(s.url, "v1", "lesson")
        lg.run_wrk(s.url, url_path, body, 8, 2)
        lg.run_harness(s.url, 8, 1, case.model)
        lg.run_locust(s.url, url_path, body, 8, 1)
        closed: dict[str, list] = {"wrk": [], "locust": [], "harness": []}
        opened: dict[str, list] = {"locust": [], "harness": []}
        for r in range(args.runs):
            print(
                f"  round {r + 1}/{args.runs}: wrk, locust, harness at 8 connections; then {args.rate:g} req/s"
                " paced locust and open-loop harness",
                flush=True,
            )
            closed["wrk"].append(watched(s.pid, lg.run_wrk, s.url, url_path, body, 8, d))
            closed["locust"].append(watched(s.pid, lg.run_locust, s.url, url_path, body, 8, d))
            closed["harness"].append(watched(s.pid, lg.run_harness, s.url, 8, d, case.model))
            opened["locust"].append(
                watched(
                    s.pid, lg.run_locust, s.url, url_path, body, 8, d, rate_per_user=args.rate / 8
                )
            )
            opened["harness"].append(
                watched(s.pid, lg.run_harness, s.url, 64, d, case.model, rate=args.rate)
            )
    table(
        [
            ("wrk (C, 1 thread)", closed["wrk"]),
            ("locust (FastHttpUser, 8)", closed["locust"]),
            ("lesson loadtest", closed["harness"]),
        ],
        title="REST, closed loop, 8 connections",
    )
    compare("harness", closed["harness"], closed["wrk"], "wrk")
    compare("locust", closed["locust"], closed["wrk"], "wrk")
    late = med(opened["harness"], "late") * 100
    table(
        [("locust, paced", opened["locust"]), ("lesson loadtest --rate", opened["harness"])],
        title=f"REST, {args.rate:g} req/s (locust: 8 users x constant_throughput({args.rate / 8:g}), each waiting for"
        f" its answer; harness: open loop, at most 64 in flight, latency from each intended send;"
        f" late > 1 ms: {late:.2f} %)",
    )
    compare("harness", opened["harness"], opened["locust"], "locust", closed=False)

    print(
        "\n   gRPC server (ModelInfer, one FP64 row in raw_input_contents): h2load vs the harness, 8 connections"
    )
    port, mport, ctx = lesson_grpc()
    frame = lg.grpc_frame(case.row, case.model)
    runs: dict[str, list] = {"h2load": [], "harness": []}
    with ctx as proc:
        case.check_grpc(port, "lesson")
        lg.run_h2load(port, frame, 8, 2)
        lg.run_harness(f"grpc://127.0.0.1:{port}", 8, 1, case.model)
        for r in range(args.runs):
            print(f"  round {r + 1}/{args.runs}: h2load, harness", flush=True)
            before = grpc_not_ok(mport)
            runs["h2load"].append(watched(proc.pid, lg.run_h2load, port, frame, 8, d))
            runs["h2load"][-1]["errors"] += int(grpc_not_ok(mport) - before)
            runs["harness"].append(
                watched(proc.pid, lg.run_harness, f"grpc://127.0.0.1:{port}", 8, d, case.model)
            )
    table(
        [
            ("h2load (C, HTTP/2, -m 1)", runs["h2load"]),
            ("lesson loadtest grpc://", runs["harness"]),
        ],
        title="gRPC, closed loop, 8 connections",
    )
    compare("harness", runs["harness"], runs["h2load"], "h2load")


# ---------------------------------------------------------------- 2. perf_analyzer
def section_perf(args, case: Case) -> None:
    from peers.perf import perf_analyzer, perf_levels, run_perf

    print("\n== 2. Triton's perf_analyzer vs the harness on the lesson's servers ==")
    try:
        binary, env = perf_analyzer()
    except Unavailable as exc:
        print(f"  perf_analyzer: NOT RUN: {exc}")
        RECORD.setdefault("not_run", {})["perf_analyzer"] = str(exc)
        return
    print(
        f"  perf_analyzer: {binary.relative_to(ROOT)} runs "
        f"(LD_LIBRARY_PATH={env['LD_LIBRARY_PATH'].replace(str(ROOT) + '/', '')});"
        " it reads the model configuration the servers answer (GET /v2/models/<m>/config, ModelConfig)"
    )
    for kind in ("rest", "grpc"):
        if kind == "rest":
            port = free_port()
            ctx = pinned(
                [
                    PY,
                    "-m",
                    "lesson.servers.cli",
                    "serve",
                    "rest",
                    "--port",
                    str(port),
                    "--registry",
                    REGISTRY,
                ],
                f"http://127.0.0.1:{port}/v2/health/ready",
                what="lesson-rest",
                env=dict(os.environ, PYTHONPATH=str(ROOT)),
            )
            url = f"http://127.0.0.1:{port}"
        else:
            port, _, ctx = lesson_grpc()
            url = f"grpc://127.0.0.1:{port}"
        proto, target = ("http" if kind == "rest" else "grpc"), f"127.0.0.1:{port}"
        hp = "v2"  # the harness on REST: V2 with binary tensors (its client's default), as perf_analyzer sends
        runs: dict[str, list] = {k: [] for k in ("pa1", "pa8", "h1", "h8", "pa-rate", "h-rate")}
        with ctx as proc:
            if kind == "rest":
                case.check(url, "v1", "lesson")
            else:
                case.check_grpc(port, "lesson")
            run_perf(
                binary, env, proto, target, case.model, case.row, concurrency="8:8", window_ms=1000
            )
            for r in range(args.runs):
                print(
                    f"  {kind} round {r + 1}/{args.runs}: perf_analyzer -i {proto} --concurrency-range 1:8:7,"
                    f" harness 1 and 8, both at {args.rate:g} req/s",
                    flush=True,
                )
                res = watched(
                    proc.pid,
                    perf_levels,
                    binary,
                    env,
                    proto,
                    target,
                    case.model,
                    case.row,
                    concurrency="1:8:7",
                )
                for level, key in ((1.0, "pa1"), (8.0, "pa8")):
                    runs[key].append(
                        dict(
                            res["levels"][level],
                            contaminated=res["contaminated"],
                            other=res["other"],
                        )
                    )
                runs["h1"].append(
                    watched(
                        proc.pid, lg.run_harness, url, 1, args.duration, case.model, protocol=hp
                    )
                )
                runs["h8"].append(
                    watched(
                        proc.pid, lg.run_harness, url, 8, args.duration, case.model, protocol=hp
                    )
                )
                res = watched(
                    proc.pid,
                    perf_levels,
                    binary,
                    env,
                    proto,
                    target,
                    case.model,
                    case.row,
                    rate=args.rate,
                )
                runs["pa-rate"].append(
                    dict(
                        next(iter(res["levels"].values())),
                        contaminated=res["contaminated"],
                        other=res["other"],
                    )
                )
                runs["h-rate"].append(
                    watched(
                        proc.pid,
                        lg.run_harness,
                        url,
                        64,
                        args.duration,
                        case.model,
                        rate=args.rate,
                        protocol=hp,
                    )
                )
            if not args.quick:
                print(
                    f"  {kind}: one perf_analyzer sweep --concurrency-range 1:8 (single run, for the curve)",
                    flush=True,
                )
                sweep = run_perf(
                    binary,
                    env,
                    proto,
                    target,
                    case.model,
                    case.row,
                    concurrency="1:8",
                    window_ms=2000,
                )
        table(
            [
                ("perf_analyzer c=1", runs["pa1"]),
                ("lesson loadtest c=1", runs["h1"]),
                ("perf_analyzer c=8", runs["pa8"]),
                ("lesson loadtest c=8", runs["h8"]),
                (f"perf_analyzer {args.rate:g}/s", runs["pa-rate"]),
                (f"lesson loadtest {args.rate:g}/s", runs["h-rate"]),
            ],
            title=f"{kind.upper()} ({'V2 binary tensors' if kind == 'rest' else 'ModelInfer'} from both:"
            f" perf_analyzer and the harness{' (its V2 client sends binary tensors)' if kind == 'rest' else ''})",
        )
        where = "REST" if kind == "rest" else "gRPC"
        compare(f"harness on {where}, c=8", runs["h8"], runs["pa8"], "perf_analyzer")
        compare(f"harness on {where}, c=1", runs["h1"], runs["pa1"], "perf_analyzer")
        compare(
            f"harness on {where}, {args.rate:g}/s",
            runs["h-rate"],
            runs["pa-rate"],
            "perf_analyzer",
            closed=False,
        )
        if not args.quick:
            print(
                "  sweep: "
                + "; ".join(
                    f"c={int(c)} {v['rps']:,.0f}/s p50 {v['p50']:.2f} p99 {v['p99']:.2f} ms"
                    for c, v in sorted(sweep.items())
                )
            )


# ---------------------------------------------------------------- 3. peers
def section_peers(args, case: Case) -> None:
    from contextlib import ExitStack

    from peers import grpc_peers as gp
    from peers.report import peer_verdicts
    from peers.servers import loopback_only, servers

    names = args.peers or [
        "lesson",
        "floor",
        "kserve",
        "kserve-quiet",
        "mlserver",
        "mlserver-inline",
    ]
    print(
        f"\n== 3. Peers serving the same MLP, same payload: REST under wrk, gRPC under h2load, 8 and 32"
        f" connections ({', '.join(names)}) =="
    )
    frame = lg.grpc_frame(case.row, case.model)
    with servers(names) as up, ExitStack() as stack:
        lesson = None
        if "lesson" in up:
            port, mport, ctx = lesson_grpc()
            proc = stack.enter_context(ctx)
            lesson = gp.Target("lesson", port, proc.pid, not_ok=lambda: grpc_not_ok(mport))
        exposed = loopback_only([s.pid for s in up.values()] + ([lesson.pid] if lesson else []))
        if exposed:
            raise SystemExit(
                "a server listens beyond loopback (ss -ltnp):\n  " + "\n  ".join(exposed)
            )
        print("  ss -ltnp: every socket these servers listen on is on 127.0.0.1")
        combos = [(s, p) for s in up.values() for p in s.protocols]
        for s, p in combos:
            case.check(s.url, p, s.name)
            lg.run_wrk(s.url, case.path(p), case.bodies[p], 8, 2)  # warm up
        grpc = gp.targets(up, lesson)
        for t in grpc:
            gp.check(t, frame, case.expected)
            lg.run_h2load(t.port, frame, 8, 2)  # warm up
        runs: dict[tuple[str, str, int], list] = {}
        grpc_runs: dict[tuple[str, int], list] = {}
        for r in range(args.runs):
            print(
                f"  round {r + 1}/{args.runs}: {len(combos)} REST server/protocol pairs and {len(grpc)} gRPC"
                " servers x (8, 32) connections",
                flush=True,
            )
            for s, p in combos:
                for conns in (8, 32):
                    runs.setdefault((s.name, p, conns), []).append(
                        watched(
                            s.pid,
                            lg.run_wrk,
                            s.url,
                            case.path(p),
                            case.bodies[p],
                            conns,
                            args.duration,
                        )
                    )
            for t in grpc:
                for conns in (8, 32):
                    grpc_runs.setdefault((t.name, conns), []).append(
                        gp.run(t, frame, conns, args.duration, case.expected)
                    )
    for p in ("v1", "v2"):
        for conns in (8, 32):
            rows = [(name, runs[(name, q, c)]) for (name, q, c) in runs if q == p and c == conns]
            if rows:
                table(rows, cpu=True, title=f"{p.upper()} {case.path(p)}, {conns} connections")
                peer_verdicts(rows, p, conns)
    gp.tables(grpc_runs, peer_verdicts)


def section_profile(args, case: Case) -> None:
    from peers.servers import servers
    from peers.spy import record, show

    pairs = [
        ("lesson", "v1"),
        ("floor", "v1"),
        ("kserve-quiet", "v1"),
        ("lesson", "v2"),
        ("kserve-quiet", "v2"),
        ("mlserver", "v2"),
        ("mlserver-inline", "v2"),
    ]
    print(
        f"\n== 4. Where the server's CPU goes: py-spy for {args.duration - 1:g} s under wrk at 8 connections =="
    )
    with servers(sorted({name for name, _ in pairs})) as up:
        for name, p in pairs:
            if name in up:
                s = up[name]
                lg.run_wrk(s.url, case.path(p), case.bodies[p], 8, 2)
                show(
                    f"{name} {p}",
                    *record(
                        s.pid,
                        args.duration - 1,
                        lg.run_wrk,
                        s.url,
                        case.path(p),
                        case.bodies[p],
                        8,
                        args.duration,
                    ),
                    seconds=args.duration - 1,
                )


SECTIONS = {
    "loadgen": section_loadgen,
    "perf": section_perf,
    "peers": section_peers,
    "profile": section_profile,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=sorted(SECTIONS), action="append", help="run only these sections"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument(
        "--rate", type=float, default=500.0, help="open-loop requests/s (default 500)"
    )
    parser.add_argument("--peers", nargs="+", help="servers for the peers section (default: all)")
    parser.add_argument(
        "--quick", action="store_true", help="1 run of 3 s: a smoke test, not a measurement"
    )
    parser.add_argument(
        "--record",
        metavar="JSON",
        help="also write every table and verdict there (the site's"
        " Scaling and Load-testing pages read benchmarks/results/bench_peers.json)",
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    if args.quick:
        args.runs, args.duration = 1, 3.0
    if not 1 <= args.runs <= 20 or not 1 <= args.duration <= 120 or not 10 <= args.rate <= 5000:
        parser.error("--runs must be in 1..20, --duration in 1..120 s, --rate in 10..5000")
    for tool, package in (("taskset", "util-linux"), ("wrk", "wrk"), ("h2load", "nghttp2-client")):
        if shutil.which(tool) is None:
            parser.error(
                f"{tool} is not installed (scripts/install-system-deps.sh, or apt-get install -y {package})"
            )
    if shutil.which("locust", path=str(Path(PY).parent)) is None:
        parser.error("locust is not installed in this venv (pip install -e '.[test]')")
    case = Case()
    started = time.monotonic()
    print(
        f"bench_peers: {args.runs} run(s) of {args.duration:g} s; medians [min-max] of clean runs; model {case.model},"
        f" row {case.row}, the lesson predicts {case.expected:.9f}; python {sys.version.split()[0]},"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    RECORD["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(
            ["python", "benchmarks/bench_peers.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "runs": args.runs,
        "duration_s": args.duration,
        "rate": args.rate,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average": os.getloadavg()[0],
        "model": case.model,
        "versions": {"mlserver": PEER_PINS["mlserver"][0], "kserve": PEER_PINS["kserve"][0]},
    }
    for name in args.only or list(SECTIONS):
        RECORD["section"] = name
        SECTIONS[name](args, case)
    print(
        f"\nbench_peers: done in {(time.monotonic() - started) / 60:.1f} min; load average {os.getloadavg()[0]:.2f}"
    )
    if args.record:
        RECORD["meta"]["minutes"] = round((time.monotonic() - started) / 60, 1)
        save(Path(args.record), args.only or list(SECTIONS))
        print(
            f"bench_peers: recorded in {args.record} (sections {', '.join(args.only or SECTIONS)}; others kept)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
