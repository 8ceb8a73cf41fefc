"""The exercises of notebook 10-generative: a stream's timings and the KV memory a request needs.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lesson.loadtest.streams import StreamTiming
from lesson.patterns.generative.blocks import blocks_for
from lesson.teaching.exercises._record import Exercise, ExerciseFailure, expect, near

NOTEBOOK = "10-generative"


# ---- stream_metrics ----------------------------------------------------------------------------


def stream_metrics(origin: float, token_times: list[float], end: float) -> dict[str, Any]:
    """TTFT, TPOT, ITL and E2EL of one streamed request (vLLM's definitions)."""
    ttft = token_times[0] - origin
    e2el = end - origin
    n = len(token_times)
    return {
        "ttft": ttft,
        "tpot": (e2el - ttft) / (n - 1) if n > 1 else None,
        "itl": [b - a for a, b in zip(token_times, token_times[1:])],
        "e2el": e2el,
    }


#: (origin, token arrival times, end of stream): even gaps, a stall, one token, a late start
_STREAMS = (
    (0.0, [0.2, 0.25, 0.30, 0.35], 0.35),
    (10.0, [10.5, 10.52, 10.9, 10.92, 10.94], 11.0),
    (1.0, [1.3], 1.31),
    (5.0, [7.0, 7.1, 7.3], 7.3),
)


def _same(name: str, got: Any, want: Any, case: int) -> None:
    if want is None:
        expect(
            got is None, f"stream {case}: {name} should be None (one token has no gap), got {got!r}"
        )
        return
    expect(
        isinstance(got, (int, float)) and not isinstance(got, bool) and math.isfinite(got),
        f"stream {case}: {name} should be a number of seconds, got {got!r}",
    )
    expect(near(got, want, 1e-9), f"stream {case}: {name} = {got!r}, expected {want!r}")


def check_stream_metrics(fn: Callable[..., dict[str, Any]]) -> str:
    for case, (origin, times, end) in enumerate(_STREAMS):
        got = fn(origin, list(times), end)
        expect(isinstance(got, dict), f"return a dict, got {type(got).__name__}")
        missing = {"ttft", "tpot", "itl", "e2el"} - set(got)
        expect(not missing, f"the dict lacks {', '.join(sorted(missing))}")
        ref = StreamTiming(origin, list(times), end)
        _same("ttft", got["ttft"], ref.ttft, case)
        _same("e2el", got["e2el"], ref.e2el, case)
        if (
            ref.tpot is not None
            and got["tpot"] is not None
            and near(got["tpot"], ref.e2el / len(times), 1e-9)
        ):
            raise ExerciseFailure(
                f"stream {case}: tpot = e2el / tokens counts the wait for the first token; "
                "TPOT excludes it: (e2el - ttft) / (tokens - 1)"
            )
        _same("tpot", got["tpot"], ref.tpot, case)
        itl = list(got["itl"])
        expect(
            len(itl) == len(ref.itl),
            f"stream {case}: {len(times)} tokens have {len(ref.itl)} gaps, your itl has {len(itl)}",
        )
        for i, (a, b) in enumerate(zip(itl, ref.itl)):
            expect(near(a, b, 1e-9), f"stream {case}: itl[{i}] = {a!r}, expected {b!r}")
    return "TTFT, TPOT, ITL and E2EL agree with lesson.loadtest.streams on four streams"


STREAM_METRICS = Exercise(
    id="stream_metrics",
    notebook=NOTEBOOK,
    title="Time a stream: TTFT, TPOT, ITL, E2EL",
    task=(
        "Write metrics(origin, token_times, end) -> {'ttft', 'tpot', 'itl', 'e2el'} for one "
        "streamed request: seconds, itl a list of gaps, tpot None for a single token."
    ),
    hint=(
        "TTFT counts from the send to the first token; TPOT is the mean gap after it: "
        "(E2EL - TTFT) / (tokens - 1); ITL is every gap between successive tokens."
    ),
    checker=check_stream_metrics,
    solution=stream_metrics,
)


# ---- kv_blocks ---------------------------------------------------------------------------------


def kv_blocks(prompt_tokens: int, max_tokens: int, block_size: int) -> int:
    """KV blocks a request holds at most: its prompt and all but its last generated token."""
    positions = prompt_tokens + max_tokens - 1
    return -(-positions // block_size)


def check_kv_blocks(fn: Callable[[int, int, int], int]) -> str:
    cases = [(17, 16, 16), (16, 1, 16), (1, 1, 16), (100, 29, 16), (33, 8, 4), (5, 60, 8)]
    for prompt, max_tokens, size in cases:
        want = blocks_for(prompt + max_tokens - 1, size)
        got = fn(prompt, max_tokens, size)
        if got == blocks_for(prompt + max_tokens, size) and got != want:
            raise ExerciseFailure(
                f"kv_blocks({prompt}, {max_tokens}, {size}) = {got}: the last token is sampled "
                "and returned, never fed back, so its key and value are never stored"
            )
        if got == (prompt + max_tokens - 1) // size and got != want:
            raise ExerciseFailure(
                f"kv_blocks({prompt}, {max_tokens}, {size}) = {got}: a part-filled block is "
                "still a whole block (round up)"
            )
        expect(got == want, f"kv_blocks({prompt}, {max_tokens}, {size}) = {got!r}, expected {want}")
    return "the block counts match the engine's own check (lesson.patterns.generative.blocks)"


KV_BLOCKS = Exercise(
    id="kv_blocks",
    notebook=NOTEBOOK,
    title="How many KV blocks does a request need?",
    task=(
        "Write kv_blocks(prompt_tokens, max_tokens, block_size) -> the most KV blocks one "
        "request holds while it is generated."
    ),
    hint=(
        "Every position fed to the model stores a key and a value: the prompt and each "
        "generated token except the last. Blocks are whole: round up."
    ),
    checker=check_kv_blocks,
    solution=kv_blocks,
)

EXERCISES = (STREAM_METRICS, KV_BLOCKS)
