"""gRPC ModelInfer side by side: the lesson's gRPC server vs KServe's and MLServer's, under h2load.

Every server gets the exact frame h2load sends (``loadgens.grpc_frame``: one FP64 row
``[1, 10]`` in ``raw_input_contents``; both peers decode it) as a real gRPC call before any load;
its answer must be the lesson's prediction within 1e-6, and the size of that OK answer is kept.

What a run counts as errors:

* h2load's own: non-2xx HTTP status, failed, errored and timed-out requests;
* answers without a full message: h2load's DATA bytes vs answers x the OK answer's size (5-byte
  gRPC prefix + message). A non-OK gRPC status is a trailers-only answer with no DATA, so this
  counts every non-OK answer while answers are the same size (the same frame, the same model).
  So h2load runs here without --warm-up-time (its warm-up's DATA would count, its answers not),
  like wrk on REST; every server is warmed by a 2 s run before the rounds;
* the lesson: non-OK codes on its metrics (``lesson_requests_total``, route ModelInfer);
* peers: after every run, ``PROBES`` real gRPC calls with the same frame, each must end OK
  with the lesson's answer (a failing probe counts as an error of that run).

Not counted: the VALUES of the answers under load (h2load does not decode them; only the check
before and the probes after do); an OK answer of a different size makes the byte check
inconclusive, which is printed and recorded (``bytes_check`` False), not guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from peers import loadgens as lg
from peers.report import RECORD, table, watched

PROBES = 5
GRPC_PEERS = ("kserve", "kserve-quiet", "mlserver", "mlserver-inline")


@dataclass
class Target:
    """One gRPC server under load."""

    name: str
    port: int
    pid: int
    not_ok: Callable[[], float] | None = None  # the lesson's metrics: non-OK answers so far
    size: int = 0  # DATA bytes of one OK answer
    notes: list[str] = field(default_factory=list)


def _call(port: int, message: bytes) -> bytes:
    """One unary ModelInfer with ``message`` (serialized); the serialized answer."""
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return channel.unary_unary(
            lg.GRPC_INFER, request_serializer=None, response_deserializer=None
        )(message, timeout=30)


def _value(answer: bytes) -> list[float]:
    from lesson.clients.grpc import response_to_dict
    from lesson.proto import inference_pb2 as pb

    got = response_to_dict(pb.ModelInferResponse.FromString(answer))["outputs"][0]["data"]
    return got[0] if got and isinstance(got[0], list) else got


def check(target: Target, frame: bytes, expected: float) -> None:
    """The exact frame as a real call: the lesson's prediction within 1e-6, or stop (as REST does)."""
    answer = _call(target.port, frame[5:])
    got = _value(answer)
    if len(got) != 1 or abs(got[0] - expected) > 1e-6:
        raise SystemExit(
            f"{target.name} gRPC: answered {got}, the lesson predicts {expected} (1e-6)"
        )
    target.size = len(answer) + 5
    print(
        f"  {target.name} gRPC (127.0.0.1:{target.port}): answers {got[0]:.9f} = the lesson's prediction"
        f" within 1e-6 ({target.size} bytes a message)"
    )


def probe(target: Target, frame: bytes, expected: float, n: int = PROBES) -> int:
    """``n`` real calls with the frame; how many did not end OK with the lesson's answer."""
    import grpc

    failed = 0
    for _ in range(n):
        try:
            got = _value(_call(target.port, frame[5:]))
            failed += len(got) != 1 or abs(got[0] - expected) > 1e-6
        except grpc.RpcError:
            failed += 1
    return failed


def run(target: Target, frame: bytes, connections: int, seconds: float, expected: float) -> dict:
    """One h2load run on ``target`` with every error count this module's docstring lists."""
    before = target.not_ok() if target.not_ok else 0.0
    res = watched(target.pid, lg.run_h2load, target.port, frame, connections, seconds, warm_up_s=0)
    want = res["answers"] * target.size
    res["bytes_check"] = res["data_bytes"] <= want
    res["short"] = -(-(want - res["data_bytes"]) // target.size) if res["bytes_check"] else 0
    if not res["bytes_check"]:
        target.notes.append(
            f"{res['data_bytes'] - want} DATA bytes more than {res['answers']} x {target.size}"
        )
    res["errors"] += res["short"]
    if target.not_ok:
        res["not_ok"] = int(target.not_ok() - before)
        res["errors"] += max(
            0, res["not_ok"] - res["short"]
        )  # a non-OK answer is also short: count it once
    else:
        res["probe_failures"] = probe(target, frame, expected)
        res["errors"] += res["probe_failures"]
    return res


def targets(up: dict, lesson: Target | None) -> list[Target]:
    """The lesson's gRPC server first, then every running peer whose gRPC answers; others NOT RUN."""
    out = [lesson] if lesson else []
    for name in GRPC_PEERS:
        if name not in up:
            continue
        s = up[name]
        if s.grpc_port is None:
            print(f"  {name} gRPC: NOT RUN: {s.grpc_note}")
            RECORD.setdefault("not_run", {})[f"{name} grpc"] = s.grpc_note
            continue
        out.append(Target(name, s.grpc_port, s.pid))
    return out


def tables(runs: dict[tuple[str, int], list[dict]], verdicts: Callable[..., None]) -> None:
    """One table per connection count, then ``verdicts(rows, "grpc", conns)``."""
    for conns in (8, 32):
        rows = [(name, r) for (name, c), r in runs.items() if c == conns]
        if not rows:
            continue
        table(rows, cpu=True, title=f"gRPC ModelInfer, {conns} connections")
        for name, r in rows:
            if not all(x["bytes_check"] for x in r):
                print(f"  {name}: byte check inconclusive (answers larger than the checked one)")
        verdicts(rows, "grpc", conns)
