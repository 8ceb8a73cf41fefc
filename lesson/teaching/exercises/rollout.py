"""The exercises of notebook 08-rollout (rollout): a canary's users and its verdict.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from lesson.teaching.exercises._record import Exercise, expect

NOTEBOOK = "08-rollout"


def _user_ids(n: int, seed: int) -> list[str]:
    """Opaque user ids (not "user-1", "user-2": an answer must not lean on their shape)."""
    rng = random.Random(seed)
    return [f"{rng.getrandbits(64):016x}" for _ in range(n)]


# ---- canary_arm --------------------------------------------------------------------------------


def canary_arm(user: str, share: float) -> str:
    """The user's arm: a sha256 bucket per user (the same in every process) below the share's line."""
    bucket = int.from_bytes(hashlib.sha256(user.encode()).digest()[:8], "big") % 10_000
    return "candidate" if bucket < share * 10_000 else "stable"


def check_canary_arm(fn: Callable[[str, float], str]) -> str:
    names = getattr(getattr(fn, "__code__", None), "co_names", ())
    expect(
        "hash" not in names,
        "hash() of a str changes from process to process (PYTHONHASHSEED): two "
        "replicas, or one after a restart, would put a user on different arms; use hashlib",
    )
    users = _user_ids(20_000, 8)
    for share, everyone in ((0.0, "stable"), (1.0, "candidate")):
        arms = {fn(u, share) for u in users[:2000]}
        expect(
            arms == {everyone},
            f"with share={share:g} every user should be {everyone!r}, got {sorted(map(str, arms))}",
        )
    chosen: dict[float, set[str]] = {}
    for share in (0.05, 0.1, 0.3):
        arms = [fn(u, share) for u in users]
        odd = sorted({str(a) for a in arms} - {"stable", "candidate"})
        expect(not odd, f"an arm is 'stable' or 'candidate', got {odd[:3]}")
        measured = arms.count("candidate") / len(users)
        expect(
            abs(measured - share) <= 0.015,
            f"with share={share:g}, {measured:.1%} of {len(users):,} users were on the candidate",
        )
        expect(
            [fn(u, share) for u in users[:500]] == arms[:500],
            "a user got a different arm on a second call: derive it from the user id, not at random",
        )
        chosen[share] = {u for u, a in zip(users, arms) if a == "candidate"}
    expect(
        chosen[0.05] <= chosen[0.1] <= chosen[0.3],
        "widening the share moved users from the candidate back to stable: give each user one bucket "
        "and compare it with the share",
    )
    return "the same arm for a user every time, the configured share within 1.5 points, widening only adds users"


CANARY_ARM = Exercise(
    id="canary_arm",
    notebook=NOTEBOOK,
    title="Pick a canary's users",
    task=(
        "Write arm(user, share) -> 'candidate' or 'stable': about share of all users on "
        "the candidate, the same arm for a user on every call and in every process, and "
        "widening the share only moves users onto the candidate."
    ),
    hint=(
        "One number per user from hashlib.sha256(user.encode()); its bucket (mod 10,000) "
        "below share * 10,000 is the candidate. Python's hash() of a str changes from "
        "process to process."
    ),
    checker=check_canary_arm,
    solution=canary_arm,
)


# ---- canary_verdict ----------------------------------------------------------------------------


def canary_verdict(
    stable: dict[str, float],
    candidate: dict[str, float],
    *,
    max_error_rate: float,
    max_slowdown: float,
    min_requests: int,
) -> str:
    """``"wait"`` before ``min_requests`` answers; ``"rollback"`` on errors or latency over budget; else ``"widen"``."""
    if candidate["requests"] < min_requests:
        return "wait"

    def error_rate(arm: dict[str, float]) -> float:
        return arm["errors"] / arm["requests"] if arm["requests"] else 0.0

    if (
        error_rate(candidate) - error_rate(stable) > max_error_rate
        or candidate["p99_ms"] > max_slowdown * stable["p99_ms"]
    ):
        return "rollback"
    return "widen"


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
        expect(
            got == want,
            f"stable {stable_arm}, candidate {candidate_arm}: expected {want!r} ({why}), got {got!r}",
        )
        expect(copies == (stable_arm, candidate_arm), "the verdict changed the arms it was given")
    return "waits for enough answers, rolls back on errors over stable's or a slower p99, widens otherwise"


CANARY_VERDICT = Exercise(
    id="canary_verdict",
    notebook=NOTEBOOK,
    title="Wait, widen or roll back",
    task=(
        "Write verdict(stable, candidate, *, max_error_rate, max_slowdown, min_requests) "
        "-> 'wait', 'widen' or 'rollback', each arm a dict with requests, errors and "
        "p99_ms: wait until the candidate has min_requests answers; roll back if its "
        "error rate exceeds the stable arm's by more than max_error_rate, or its p99 is "
        "more than max_slowdown times the stable arm's; otherwise widen."
    ),
    hint=(
        "Compare error rates, not counts: the arms get different numbers of requests. An "
        "arm with no requests has an error rate of 0."
    ),
    checker=check_canary_verdict,
    solution=canary_verdict,
)


EXERCISES: tuple[Exercise, ...] = (
    CANARY_ARM,
    CANARY_VERDICT,
)
