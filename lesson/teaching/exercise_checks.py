"""The checks behind :func:`lesson.teaching.exercises.check`: each runs a learner's answer for real.

A check returns a one-line success message or raises :class:`ExerciseFailure` saying what the
answer got wrong. Where a check compares with the reference solution it loads it on demand
(:func:`reference`), so the solutions never sit in the namespace a learner opens. Standard
library only.
"""

from __future__ import annotations

import importlib
import math
import os
import random
import struct
import tempfile
from collections.abc import Callable
from itertools import count
from typing import Any

from lesson.core.schema import ValidationError
from lesson.teaching.rubric import Workload, recommend_pattern
from lesson.teaching.simulation import simulate_batching_server

SOLUTIONS_MODULE = "lesson.teaching._solutions"


def reference(name: str) -> Callable[..., Any]:
    """The reference solution ``name`` (imported only when a check or the site asks for it)."""
    return getattr(importlib.import_module(SOLUTIONS_MODULE), name)


class ExerciseFailure(AssertionError):
    """Raised by a checker with a message that says what the answer got wrong."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ExerciseFailure(message)


def _close(a: float, b: float, tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# --- checkers: each returns a success message or raises ExerciseFailure ----------------------


def check_percentile(fn: Callable[[list[float], float], float]) -> str:
    cases = [
        ([5.0], 50),
        ([3.0, 1.0, 2.0], 50),
        ([float(i) for i in range(1, 101)], 99),
        ([float(i) for i in range(1, 101)], 100),
        ([10.0, 20.0, 30.0, 40.0], 25),
        ([1.0] * 99 + [1000.0], 99),
        ([1.0] * 98 + [1000.0] * 2, 99),
        ([float(i) for i in range(1, 11)], 95),
    ]
    for samples, q in cases:
        given = list(samples)
        got = fn(given, q)
        want = reference("percentile")(samples, q)
        _expect(given == samples, "your function changed the list it was given; sort a copy")
        _expect(
            _close(float(got), want),
            f"percentile({samples[:6]}{'...' if len(samples) > 6 else ''}, {q}) returned {got!r}, expected {want!r}",
        )
    return "nearest-rank percentiles match on all 8 cases, including unsorted input and the tail"


SCENARIOS: dict[str, Workload] = {
    "fraud-check": Workload(caller="service", p99_slo_ms=50, requests_per_s=3000),
    "nightly-churn": Workload(caller="scheduler", freshness_s=86_400, cost_ceiling_per_million=5),
    "field-app": Workload(caller="device", p99_slo_ms=30, must_work_offline=True),
}


def check_pick_patterns(answer: dict[str, str]) -> str:
    _expect(
        isinstance(answer, dict),
        f"answer with a dict scenario -> pattern, got {type(answer).__name__}",
    )
    missing = sorted(set(SCENARIOS) - set(answer))
    _expect(not missing, f"no pattern given for: {', '.join(missing)}")
    for name, workload in SCENARIOS.items():
        want = recommend_pattern(workload)
        got = str(answer[name]).strip()
        _expect(
            got.lower() == want.pattern.lower(),
            f"{name}: you chose {got!r}; the rubric says {want.pattern} because {want.reasons[0]}",
        )
    return "all three scenarios match the rubric"


def _bad_threshold_rejected(fn: Callable[[Any], Any], value: Any) -> None:
    try:
        fn({"instances": [[0.1, 0.2]], "threshold": value})
    except ValidationError as err:
        locs = [list(e.get("loc", [])) for e in err.errors]
        _expect(
            any("threshold" in loc for loc in locs),
            f"threshold={value!r} raised ValidationError but its loc {locs} does not name 'threshold'",
        )
        return
    except Exception as err:  # the learner's code may raise anything
        raise ExerciseFailure(
            f"threshold={value!r} raised {type(err).__name__}, expected ValidationError"
        ) from None
    raise ExerciseFailure(f"threshold={value!r} was accepted; it must be rejected")


def check_validate_threshold(fn: Callable[[Any], Any]) -> str:
    rows, threshold = fn({"instances": [[0.1, 0.2]], "threshold": 0.7})
    _expect(
        rows == [[0.1, 0.2]] and _close(threshold, 0.7),
        f"valid request parsed as {(rows, threshold)!r}",
    )
    rows, threshold = fn({"instances": [0.3, 0.4]})
    _expect(
        _close(threshold, 0.5),
        f"a request without threshold should default to 0.5, got {threshold!r}",
    )
    for value in ("high", True, -0.1, 1.5, float("nan"), None):
        _bad_threshold_rejected(fn, value)
    try:
        fn({"threshold": 0.5})
    except ValidationError:
        pass
    else:
        raise ExerciseFailure(
            "a request without 'instances' was accepted: keep the original validation"
        )
    return (
        "threshold validated (type, range, NaN, bool, None) and the original instances checks kept"
    )


def check_status_for_error(fn: Callable[[str], tuple[int, str]]) -> str:
    allowed = {
        "unknown_model": ({404}, {"NOT_FOUND"}),
        "invalid_body": ({400, 422}, {"INVALID_ARGUMENT"}),
        "too_large": ({413}, {"RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"}),
        "overloaded": ({503, 429}, {"RESOURCE_EXHAUSTED", "UNAVAILABLE"}),
        "timeout": ({504, 408}, {"DEADLINE_EXCEEDED"}),
    }
    for kind, (http_ok, grpc_ok) in allowed.items():
        status, code = fn(kind)
        _expect(
            status in http_ok, f"{kind}: HTTP {status} is not right; think about who is at fault"
        )
        _expect(str(code).upper() in grpc_ok, f"{kind}: gRPC {code} is not right for this failure")
    return "every failure maps to a status a client can act on"


def check_fp32_raw(fn: Callable[[list[float]], bytes]) -> str:
    for values in ([0.5, -1.25, 3.0], [], [1e-3] * 7):
        got = fn(list(values))
        want = struct.pack(f"<{len(values)}f", *values)
        _expect(isinstance(got, (bytes, bytearray)), f"return bytes, got {type(got).__name__}")
        _expect(
            len(got) == len(want),
            f"{len(values)} FP32 values take {len(want)} bytes, you returned {len(got)}",
        )
        _expect(
            bytes(got) == want,
            f"bytes for {values} differ: check float32 ('f') and little-endian ('<')",
        )
    return "raw FP32 bytes are little-endian and exact"


def check_fp32_decode(fn: Callable[[bytes, list[int]], list[list[float]]]) -> str:
    raw = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    got = fn(raw, [2, 3])
    _expect(
        [list(map(float, r)) for r in got] == [[1, 2, 3], [4, 5, 6]],
        f"decoded {got!r}, expected [[1,2,3],[4,5,6]]",
    )
    got = fn(raw, [3, 2])
    _expect(
        [list(map(float, r)) for r in got] == [[1, 2], [3, 4], [5, 6]],
        f"shape [3, 2] decoded as {got!r}",
    )
    try:
        fn(raw[:-1], [2, 3])
    except ValueError:
        pass
    except Exception as err:
        raise ExerciseFailure(
            f"truncated bytes raised {type(err).__name__}; raise ValueError with a message"
        ) from None
    else:
        raise ExerciseFailure("23 bytes for shape [2, 3] were accepted: check the byte count first")
    return "decodes rows by shape and refuses a truncated payload"


def check_chunked(fn: Callable[[Any, int], Any]) -> str:
    _expect(
        [list(c) for c in fn(range(7), 3)] == [[0, 1, 2], [3, 4, 5], [6]],
        "chunks of range(7) by 3 are wrong",
    )
    _expect([list(c) for c in fn([], 4)] == [], "an empty input must give no chunks")
    reads = count()

    def endless():  # a stream far longer than memory; stops the check if read eagerly
        for n in reads:
            if n >= 100_000:
                raise ExerciseFailure(
                    "your function tried to read an endless stream to the end: read lazily"
                )
            yield n

    first = next(iter(fn(endless(), 2)))
    _expect(
        list(first) == [0, 1],
        "the first chunk of an endless stream must come out without reading it all",
    )
    _expect(next(reads) == 2, "your function read ahead of the first chunk: read lazily")
    return "lazy chunks: memory stays flat however long the file"


def check_atomic_write(fn: Callable[[str, Any], None]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scores.csv")
        fn(path, ["a,1", "b,2"])
        with open(path) as handle:
            _expect(
                handle.read().splitlines() == ["a,1", "b,2"],
                "the written file does not hold the lines",
            )

        def interrupted():
            yield "c,3"
            raise KeyboardInterrupt("power cut")

        try:
            fn(path, interrupted())
        except KeyboardInterrupt:
            pass
        with open(path) as handle:
            _expect(
                handle.read().splitlines() == ["a,1", "b,2"],
                "an interrupted write changed the existing file: write a temporary file, then rename",
            )
        leftovers = sorted(set(os.listdir(tmp)) - {"scores.csv"})
        _expect(not leftovers, f"an interrupted write left files behind: {leftovers}")
    return "a failed write leaves the old output whole and no debris"


def check_dedupe(fn: Callable[[list[dict[str, Any]], int], list[dict[str, Any]]]) -> str:
    events = [
        {"id": "e1", "v": 1},
        {"id": "e2", "v": 2},
        {"id": "e1", "v": 99},
        {"id": "e3", "v": 3},
        {"id": "e2", "v": 98},
    ]
    got = list(fn(list(events), 10))
    _expect(
        [e["id"] for e in got] == ["e1", "e2", "e3"],
        f"kept ids {[e['id'] for e in got]}, expected e1, e2, e3 in order",
    )
    _expect(
        [e["v"] for e in got] == [1, 2, 3],
        "keep the FIRST event of each id (a redelivery is a copy)",
    )
    window = [{"id": i} for i in ("e1", "e2", "e3", "e1", "e3")]
    got = [e["id"] for e in fn(list(window), 2)]
    _expect(
        got == ["e1", "e2", "e3", "e1"],
        f"with capacity 2, dedupe(e1 e2 e3 e1 e3) kept {got}; expected e1 e2 e3 e1: after e3 only e2 and e3 "
        "are remembered, so the old e1 comes through again (the price of bounded memory) and e3 does not",
    )
    many = fn(({"id": f"u{i}"} for i in range(50_000)), 100)
    _expect(
        len(list(many)) == 50_000, "every distinct id must be kept once (and any iterable accepted)"
    )
    return "each event scored once within the window, first delivery kept, order preserved, memory bounded"


def check_idempotent_sink(fn: Callable[[dict[str, Any], str, float], bool]) -> str:
    store: dict[str, Any] = {"results": {}, "out": []}
    # e1 is redelivered (a producer retry); then the consumer crashes after writing e3 and e4 but
    # before acknowledging them, so the broker hands both out again.
    deliveries = [
        ("e1", 0.5),
        ("e2", 0.25),
        ("e1", 0.5),
        ("e3", 1.0),
        ("e4", 2.0),
        ("e3", 1.0),
        ("e4", 2.0),
    ]
    returned = [fn(store, event_id, p) for event_id, p in deliveries]
    _expect(
        store["out"] == ["e1", "e2", "e3", "e4"],
        f"the output got {store['out']}; each event's result must be written exactly once, in delivery order",
    )
    _expect(
        store["results"] == {"e1": 0.5, "e2": 0.25, "e3": 1.0, "e4": 2.0},
        f"results are {store['results']}",
    )
    _expect(
        [bool(r) for r in returned] == [True, True, False, True, True, False, False],
        f"returned {returned}; return True when written, False for an id already written",
    )
    return "duplicates and a crash's redeliveries changed nothing: exactly-once effect on at-least-once delivery"


def check_freshness(fn: Callable[[list[dict[str, float]]], list[float]]) -> str:
    events = [{"event_time": 10.0, "scored_at": 10.25}, {"event_time": 11.0, "scored_at": 11.004}]
    got = fn(events)
    _expect(
        len(got) == 2 and _close(got[0], 250.0, 1e-6) and _close(got[1], 4.0, 1e-6),
        f"freshness {got!r}, expected [250.0, 4.0] ms (prediction time minus EVENT time)",
    )
    return "freshness counts from when the event happened, not when it was read"


def check_quantise(fn: Callable[[list[float]], tuple[float, list[int]]]) -> str:
    rng = random.Random(3)
    weights = [rng.uniform(-2, 2) for _ in range(200)] + [2.5, -2.5]
    scale, values = fn(list(weights))
    _expect(len(values) == len(weights), "one int8 value per weight")
    _expect(
        all(isinstance(v, int) and -127 <= v <= 127 for v in values),
        "values must be ints in [-127, 127]",
    )
    _expect(_close(scale, 2.5 / 127, 1e-9), f"scale {scale!r}: symmetric int8 uses max(|w|) / 127")
    worst = max(abs(w - scale * v) for w, v in zip(weights, values))
    _expect(
        worst <= scale / 2 + 1e-12,
        f"worst error {worst:.4g} exceeds half a step ({scale / 2:.4g}): round, don't truncate",
    )
    return f"int8 weights within half a step (worst error {worst:.3g})"


def check_dequantise(fn: Callable[[float, list[int]], list[float]]) -> str:
    got = fn(0.5, [-127, 0, 3])
    _expect(
        len(got) == 3 and all(_close(a, b) for a, b in zip(got, [-63.5, 0.0, 1.5])), f"got {got!r}"
    )
    return "int8 values map back to floats"


def check_open_loop(fn: Callable[..., list[float]]) -> str:
    intended = [0.0, 0.1, 0.2, 0.3]
    sent = [0.0, 0.5, 0.5, 0.5]  # the client stalled: three sends went out late
    done = [0.01, 0.51, 0.52, 0.53]
    got = fn(intended, sent, done)
    want = [0.01, 0.41, 0.32, 0.23]
    _expect(
        len(got) == 4 and all(_close(a, b, 1e-9) for a, b in zip(got, want)),
        f"got {got!r}; measuring from the ACTUAL send hides the stall (that is coordinated omission)",
    )
    return "latencies measured from the intended send time show the stall"


def check_pooled(fn: Callable[..., float]) -> str:
    fast = [0.010] * 99 + [0.020]
    slow = [0.100] * 50 + [0.500] * 50
    got = fn(fast, slow, 99)
    want = reference("pooled_percentile")(fast, slow, 99)
    _expect(
        _close(got, want),
        f"pooled p99 is {want}, you returned {got} (averaging percentiles gives the wrong tail)",
    )
    return "percentiles pooled from raw samples, never averaged"


def check_backoff(fn: Callable[..., float]) -> str:
    rng = random.Random(11)
    for attempt in range(8):
        ceiling = min(5.0, 0.1 * 2**attempt)
        draws = [fn(attempt, base_s=0.1, cap_s=5.0, rng=rng) for _ in range(300)]
        _expect(
            all(0 <= d <= ceiling + 1e-12 for d in draws),
            f"attempt {attempt}: delays must stay in [0, min(cap, base*2**attempt)] = [0, {ceiling:g}]",
        )
        _expect(
            len({round(d, 9) for d in draws}) > 50,
            f"attempt {attempt}: no jitter, so clients retry in lockstep",
        )
        _expect(
            sum(draws) / len(draws) > 0.3 * ceiling,
            f"attempt {attempt}: delays are too short on average",
        )
    return "exponential growth, capped, with full jitter"


def _contract_error_fields(contract: Any, body: dict[str, Any]) -> list[str] | None:
    """The fields a contract's error names for ``body`` (None: the body was accepted)."""
    try:
        contract.parse(body)
    except ValidationError as err:
        return [".".join(str(p) for p in e.get("loc", [])) for e in err.errors]
    return None


def check_compatible_contract(contract: Any) -> str:
    from lesson.teaching.evolution import CONTRACT_V2, RequestContract

    _expect(
        isinstance(contract, RequestContract),
        f"return a lesson.teaching.evolution.RequestContract, got {type(contract).__name__}",
    )
    breaking = [str(c) for c in contract.changes_from(CONTRACT_V2) if c.breaking]
    _expect(not breaking, f"old (v2) clients would break: {'; '.join(breaking)}")
    row = [59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0]
    for label, body in (
        ("a v1 body (instances only)", {"instances": [row]}),
        ("a v2 body with request_id", {"instances": [row], "request_id": "r-1"}),
    ):
        errors = _contract_error_fields(contract, body)
        _expect(errors is None, f"{label} was refused ({errors}): old clients must keep working")
    new_body = {"instances": [row], "request_id": "r-1", "client": "mobile-app"}
    errors = _contract_error_fields(contract, new_body)
    _expect(
        errors is None,
        f"a new client's body with client='mobile-app' was refused ({errors}): "
        "'client' must be an optional string",
    )
    parsed = contract.parse(new_body)
    _expect(
        parsed.fields.get("client") == "mobile-app",
        f"a new client's 'client' field was not kept: fields {parsed.fields!r}",
    )
    for value, why in ((5, "a number"), ("x" * 33, "33 characters"), (None, "null")):
        errors = _contract_error_fields(contract, {"instances": [row], "client": value})
        _expect(errors is not None, f"client={value!r} ({why}) was accepted; it must be refused")
        _expect(
            "body.client" in errors,
            f"client={value!r} was refused but the error names {errors}, not body.client",
        )
    errors = _contract_error_fields(contract, {"instances": [row], "clinet": "typo"})
    _expect(
        errors is not None and "body.clinet" in errors,
        "a misspelt field ('clinet') was accepted silently: keep rejecting unknown fields",
    )
    return "v1 and v2 bodies still pass, 'client' is optional and bounded, typos are still refused"


def _artifact_cases() -> tuple[dict[str, Any], dict[str, bytes]]:
    from lesson.core.artifacts import load_artifact

    artifact = load_artifact("diabetes-mlp")
    manifest = {"files": {k: dict(v) for k, v in artifact.manifest["files"].items()}}
    return manifest, dict(artifact.files)


def check_tampered_files(fn: Callable[[dict[str, Any], dict[str, bytes]], list[str]]) -> str:
    manifest, files = _artifact_cases()
    names = sorted(manifest["files"])
    got = fn(manifest, dict(files))
    _expect(list(got) == [], f"the untouched artifact was flagged: {got!r}")
    victim = "weights.json" if "weights.json" in files else names[0]
    data = bytearray(files[victim])
    middle = len(data) // 2
    data[middle] = ord("7") if data[middle] != ord("7") else ord("8")  # same size, one byte changed
    got = sorted(fn(manifest, {**files, victim: bytes(data)}))
    _expect(
        got == [victim],
        f"one changed byte in {victim} (same size) gave {got!r}: compare sha256, not just sizes",
    )
    got = sorted(fn(manifest, {**files, victim: files[victim][:-10]}))
    _expect(got == [victim], f"a truncated {victim} gave {got!r}, expected [{victim!r}]")
    missing = {k: v for k, v in files.items() if k != names[-1]}
    got = sorted(fn(manifest, missing))
    _expect(
        got == [names[-1]],
        f"with {names[-1]} missing you returned {got!r}: a missing file is not intact",
    )
    got = sorted(fn(manifest, {**files, "notes.txt": b"extra"}))
    _expect(got == [], f"a file the manifest does not list should be ignored, you returned {got!r}")
    return f"altered, truncated and missing files all caught across the {len(names)} files of diabetes-mlp"


BATCHING_TARGET = {"rate_per_s": 1500.0, "p99_ms": 15.0}


def check_batching(answer: tuple[int, float]) -> str:
    size, delay = answer
    result = simulate_batching_server(
        rate_per_s=BATCHING_TARGET["rate_per_s"],
        max_batch_size=int(size),
        max_delay_ms=float(delay),
        requests=6000,
    )
    _expect(
        not result.saturated,
        f"with max_batch_size={size} the server saturates (utilisation "
        f"{result.utilisation:.0%}): the queue grows without bound",
    )
    _expect(
        result.p99_ms <= BATCHING_TARGET["p99_ms"],
        f"simulated p99 {result.p99_ms:.1f} ms misses the {BATCHING_TARGET['p99_ms']:g} ms target",
    )
    return (
        f"simulated p99 {result.p99_ms:.1f} ms at {BATCHING_TARGET['rate_per_s']:g} req/s, "
        f"mean batch {result.mean_batch_size:.1f} (a simulation, not a measurement)"
    )


# --- 08-rollout -------------------------------------------------------------------------------


def _user_ids(n: int, seed: int) -> list[str]:
    """Opaque user ids (not "user-1", "user-2": an answer must not lean on their shape)."""
    rng = random.Random(seed)
    return [f"{rng.getrandbits(64):016x}" for _ in range(n)]


def check_canary_arm(fn: Callable[[str, float], str]) -> str:
    names = getattr(getattr(fn, "__code__", None), "co_names", ())
    _expect(
        "hash" not in names,
        "hash() of a str changes from process to process (PYTHONHASHSEED): two "
        "replicas, or one after a restart, would put a user on different arms; use hashlib",
    )
    users = _user_ids(20_000, 8)
    for share, everyone in ((0.0, "stable"), (1.0, "candidate")):
        arms = {fn(u, share) for u in users[:2000]}
        _expect(
            arms == {everyone},
            f"with share={share:g} every user should be {everyone!r}, got {sorted(map(str, arms))}",
        )
    chosen: dict[float, set[str]] = {}
    for share in (0.05, 0.1, 0.3):
        arms = [fn(u, share) for u in users]
        odd = sorted({str(a) for a in arms} - {"stable", "candidate"})
        _expect(not odd, f"an arm is 'stable' or 'candidate', got {odd[:3]}")
        measured = arms.count("candidate") / len(users)
        _expect(
            abs(measured - share) <= 0.015,
            f"with share={share:g}, {measured:.1%} of {len(users):,} users were on the candidate",
        )
        _expect(
            [fn(u, share) for u in users[:500]] == arms[:500],
            "a user got a different arm on a second call: derive it from the user id, not at random",
        )
        chosen[share] = {u for u, a in zip(users, arms) if a == "candidate"}
    _expect(
        chosen[0.05] <= chosen[0.1] <= chosen[0.3],
        "widening the share moved users from the candidate back to stable: give each user one bucket "
        "and compare it with the share",
    )
    return "the same arm for a user every time, the configured share within 1.5 points, widening only adds users"


def check_canary_verdict(fn: Callable[..., str]) -> str:
    def arm(requests: int, errors: int, p99_ms: float) -> dict[str, float]:
        return {"requests": requests, "errors": errors, "p99_ms": p99_ms}

    budget = {"max_error_rate": 0.02, "max_slowdown": 1.5, "min_requests": 100}
    stable = arm(1000, 5, 20.0)  # 0.5 % errors, p99 20 ms
    cases = [
        (
            stable,
            arm(50, 40, 90.0),
            "wait",
            "50 answers is under min_requests=100: too early to judge",
        ),
        (stable, arm(0, 0, 0.0), "wait", "no answers yet"),
        (stable, arm(200, 1, 21.0), "widen", "0.5 % errors and p99 21 ms: as good as stable"),
        (stable, arm(200, 6, 21.0), "rollback", "3 % errors is 2.5 points over stable's 0.5 %"),
        (
            arm(1000, 50, 20.0),
            arm(200, 12, 21.0),
            "widen",
            "6 % errors, but stable fails 5 % too: 1 point over stable is within the 2-point budget",
        ),
        (stable, arm(200, 1, 31.0), "rollback", "p99 31 ms is more than 1.5x stable's 20 ms"),
        (
            stable,
            arm(200, 1, 30.0),
            "widen",
            "p99 30 ms is exactly 1.5x stable's: within the bound",
        ),
        (
            stable,
            arm(100, 5, 20.0),
            "rollback",
            "exactly min_requests answers: judge them (5 % errors)",
        ),
        (
            arm(0, 0, 20.0),
            arm(150, 1, 20.0),
            "widen",
            "a stable arm with no requests yet counts as 0 % errors",
        ),
    ]
    for stable_arm, candidate_arm, want, why in cases:
        copies = dict(stable_arm), dict(candidate_arm)
        got = fn(copies[0], copies[1], **budget)
        _expect(
            got == want,
            f"stable {stable_arm}, candidate {candidate_arm}: expected {want!r} ({why}), got {got!r}",
        )
        _expect(copies == (stable_arm, candidate_arm), "the verdict changed the arms it was given")
    return "waits for enough answers, rolls back on errors over stable's or a slower p99, widens otherwise"
