"""Exercises with automatic checks: run a learner's answer and say what failed and why.

Each notebook ends with exercises. A learner writes a function (or a value) and calls
``check("<id>", answer)``; the result prints as a short pass/fail note with a hint. It runs
the answer for real on the cases below, in local Jupyter and in JupyterLite alike (standard
library only). The checks are in :mod:`lesson.teaching.exercise_checks`; the reference solutions
live in :mod:`lesson.teaching._solutions`, loaded only when asked for (:func:`show_solution`).

Example:
    >>> from lesson.teaching.exercises import check
    >>> check("percentile", lambda samples, q: max(samples)).passed
    False
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lesson.teaching import capstone_sim
from lesson.teaching import exercise_checks as checks
from lesson.teaching.exercise_checks import BATCHING_TARGET, SCENARIOS, ExerciseFailure

__all__ = [
    "EXERCISES",
    "Exercise",
    "Feedback",
    "ExerciseFailure",
    "SCENARIOS",
    "BATCHING_TARGET",
    "check",
    "exercises_for",
    "show_solution",
]


@dataclass(frozen=True)
class Feedback:
    """The outcome of one check."""

    exercise: str
    passed: bool
    message: str
    hint: str = ""

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "NOT YET"
        text = f"[{mark}] {self.exercise}: {self.message}"
        return text if self.passed or not self.hint else f"{text}\n  hint: {self.hint}"

    def _repr_html_(self) -> str:
        colour = "#1b7f3b" if self.passed else "#b3261e"
        mark = "✔ passed" if self.passed else "✘ not yet"
        hint = (
            "" if self.passed or not self.hint else f"<br><em>Hint:</em> {html.escape(self.hint)}"
        )
        return (
            f'<div class="lesson-feedback" style="border-left:4px solid {colour};'
            f'padding:4px 10px"><strong style="color:{colour}">{mark}</strong> '
            f"<code>{html.escape(self.exercise)}</code>: {html.escape(self.message)}{hint}</div>"
        )


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it appears, what to do, how it is checked."""

    id: str
    notebook: str
    title: str
    task: str
    hint: str
    checker: Callable[[Any], str]
    #: the reference solution's name in :mod:`lesson.teaching._solutions` (loaded on demand)
    solution_name: str

    @property
    def solution(self) -> Callable[..., Any]:
        """The reference solution (try first: it is hidden for a reason)."""
        return checks.reference(self.solution_name)


EXERCISES: dict[str, Exercise] = {
    e.id: e
    for e in [
        Exercise(
            "pick_patterns",
            "00-overview",
            "Choose a pattern for three scenarios",
            "Return a dict mapping each name in lesson.teaching.exercises.SCENARIOS to a pattern.",
            "Read each Workload's caller and freshness first; the rubric's rules are ordered.",
            checks.check_pick_patterns,
            "pick_patterns",
        ),
        Exercise(
            "percentile",
            "00-overview",
            "Compute a nearest-rank percentile",
            "Write percentile(samples, q) returning the smallest sample with at least q% of samples <= it.",
            "Sort a copy; the rank is ceil(q/100 * n), counted from 1.",
            checks.check_percentile,
            "percentile",
        ),
        Exercise(
            "validate_threshold",
            "01-rest",
            "Add validation for a new field",
            "Write parse(payload) -> (rows, threshold): instances as before, plus an optional number "
            "'threshold' in [0, 1] (default 0.5); reject bad values with lesson.core.schema.ValidationError.",
            "Call lesson.core.schema.parse_v1_request first; bool is a subclass of int in Python.",
            checks.check_validate_threshold,
            "validate_threshold",
        ),
        Exercise(
            "status_for_error",
            "01-rest",
            "Map failures to status codes",
            "Write status_for(kind) -> (http_status, grpc_code) for unknown_model, invalid_body, "
            "too_large, overloaded, timeout.",
            "4xx means the client must change the request; 5xx means retry later (maybe elsewhere).",
            checks.check_status_for_error,
            "status_for_error",
        ),
        Exercise(
            "compatible_contract",
            "01-rest",
            "Evolve a contract without breaking old clients",
            "Return a lesson.teaching.evolution.RequestContract version '3' that keeps every v2 body valid and "
            "adds an optional string field 'client' of at most 32 characters.",
            "Start from CONTRACT_V2's fields; a new field must not be required; check yourself with "
            "contract.changes_from(CONTRACT_V2).",
            checks.check_compatible_contract,
            "compatible_contract",
        ),
        Exercise(
            "fp32_raw",
            "02-grpc",
            "Encode a tensor as raw bytes",
            "Write encode(values) -> bytes in little-endian float32, as raw_input_contents carries it.",
            "struct.pack with '<' and 'f'.",
            checks.check_fp32_raw,
            "fp32_raw",
        ),
        Exercise(
            "fp32_decode",
            "02-grpc",
            "Decode raw output bytes",
            "Write decode(raw, shape) -> rows for a 2-D shape; refuse a wrong byte count with ValueError.",
            "A float32 is 4 bytes: check len(raw) == rows*cols*4 before unpacking.",
            checks.check_fp32_decode,
            "fp32_decode",
        ),
        Exercise(
            "chunked",
            "03-batch",
            "Read in chunks",
            "Write chunked(items, size) yielding lists of up to size items, lazily.",
            "itertools.islice on one shared iterator.",
            checks.check_chunked,
            "chunked",
        ),
        Exercise(
            "atomic_write",
            "03-batch",
            "Write output atomically",
            "Write atomic_write(path, lines) so an interruption leaves the old file whole.",
            "tempfile.mkstemp in the same folder, then os.replace; clean up on any exception.",
            checks.check_atomic_write,
            "atomic_write",
        ),
        Exercise(
            "dedupe_events",
            "04-streaming",
            "Score each event once",
            "Write dedupe(events, capacity) keeping the first event of each id, in order, remembering at most "
            "capacity ids (a stream never ends: memory must not grow with it).",
            "An OrderedDict of recent ids; past capacity, drop the oldest (popitem(last=False)).",
            checks.check_dedupe,
            "dedupe_events",
        ),
        Exercise(
            "idempotent_sink",
            "04-streaming",
            "Make the sink idempotent",
            "Write sink(store, event_id, prediction) -> bool: set store['results'][event_id] and append the id "
            "to store['out'] the first time an id arrives; change nothing (return False) when it arrives again.",
            "The result is the 'seen' mark: check store['results'] before writing anything.",
            checks.check_idempotent_sink,
            "idempotent_sink",
        ),
        Exercise(
            "freshness",
            "04-streaming",
            "Measure freshness",
            "Write freshness_ms(events) -> the ms between event_time and scored_at for each event, in order.",
            "Both times are in seconds.",
            checks.check_freshness,
            "freshness_ms",
        ),
        Exercise(
            "quantise_int8",
            "05-edge",
            "Quantise weights to int8",
            "Write quantise(weights) -> (scale, ints) with symmetric per-tensor int8.",
            "scale = max(|w|)/127; q = round(w/scale), clipped to [-127, 127].",
            checks.check_quantise,
            "quantise_int8",
        ),
        Exercise(
            "dequantise_int8",
            "05-edge",
            "Dequantise",
            "Write dequantise(scale, ints) -> floats.",
            "Multiply.",
            checks.check_dequantise,
            "dequantise_int8",
        ),
        Exercise(
            "tampered_files",
            "05-edge",
            "Detect a tampered artifact",
            "Write tampered_files(manifest, files) -> sorted names of the files the manifest lists that "
            "are missing, of the wrong size or whose sha256 differs (files: name -> bytes).",
            "hashlib.sha256(data).hexdigest(); a changed byte keeps the size, so sizes alone are not enough.",
            checks.check_tampered_files,
            "tampered_files",
        ),
        Exercise(
            "open_loop_latencies",
            "06-load-testing",
            "Measure latency without coordinated omission",
            "Write latencies(intended, sent, done) for an open-loop test.",
            "Which start time would a user who arrived on schedule experience?",
            checks.check_open_loop,
            "open_loop_latencies",
        ),
        Exercise(
            "pooled_percentile",
            "06-load-testing",
            "Combine two runs",
            "Write pooled(run_a, run_b, q) -> the q-th percentile of both runs together.",
            "Percentiles cannot be averaged; pool the raw samples.",
            checks.check_pooled,
            "pooled_percentile",
        ),
        Exercise(
            "backoff",
            "07-resilience",
            "Retry with backoff and jitter",
            "Write delay(attempt, *, base_s, cap_s, rng) -> seconds to wait before retry number attempt.",
            "Full jitter: rng.uniform(0, min(cap_s, base_s * 2**attempt)).",
            checks.check_backoff,
            "backoff_delay",
        ),
        Exercise(
            "batching_knobs",
            "07-resilience",
            "Pick batching knobs for a p99 target",
            "Give (max_batch_size, max_delay_ms) so the simulated accelerator serves 1500 req/s with "
            "p99 <= 15 ms.",
            "One call costs 2 ms + 0.02 ms per row: without batching it serves under 500 req/s.",
            checks.check_batching,
            "batching_knobs",
        ),
        Exercise(
            "canary_arm",
            "08-rollout",
            "Pick a canary's users",
            "Write arm(user, share) -> 'candidate' or 'stable': about share of all users on the candidate, the "
            "same arm for a user on every call and in every process, and widening the share only moves users "
            "onto the candidate.",
            "One number per user from hashlib.sha256(user.encode()); its bucket (mod 10,000) below share * 10,000 "
            "is the candidate. Python's hash() of a str changes from process to process.",
            checks.check_canary_arm,
            "canary_arm",
        ),
        Exercise(
            "canary_verdict",
            "08-rollout",
            "Wait, widen or roll back",
            "Write verdict(stable, candidate, *, max_error_rate, max_slowdown, min_requests) -> 'wait', 'widen' "
            "or 'rollback', each arm a dict with requests, errors and p99_ms: wait until the candidate has "
            "min_requests answers; roll back if its error rate exceeds the stable arm's by more than "
            "max_error_rate, or its p99 is more than max_slowdown times the stable arm's; otherwise widen.",
            "Compare error rates, not counts: the arms get different numbers of requests. An arm with no "
            "requests has an error rate of 0.",
            checks.check_canary_verdict,
            "canary_verdict",
        ),
        *(Exercise(notebook="09-capstone", **spec) for spec in capstone_sim.EXERCISES),
    ]
}


def check(exercise_id: str, answer: Any) -> Feedback:
    """Check a learner's answer to one exercise and explain the result.

    Args:
        exercise_id: the exercise's id (see :data:`EXERCISES`).
        answer: the function or value the exercise asks for.

    Returns:
        A :class:`Feedback` (shown as a coloured note in a notebook).
    """
    exercise = EXERCISES.get(exercise_id)
    if exercise is None:
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {', '.join(EXERCISES)}")
    try:
        message = exercise.checker(answer)
    except ExerciseFailure as failure:
        return Feedback(exercise_id, False, str(failure), exercise.hint)
    except NotImplementedError:
        return Feedback(
            exercise_id,
            False,
            "not attempted yet (the answer raises NotImplementedError)",
            exercise.hint,
        )
    except Exception as err:  # report the learner's own error, do not crash
        return Feedback(
            exercise_id, False, f"your answer raised {type(err).__name__}: {err}", exercise.hint
        )
    return Feedback(exercise_id, True, message)


def exercises_for(notebook: str) -> list[Exercise]:
    """The exercises of one notebook (e.g. ``"01-rest"``), in order."""
    return [e for e in EXERCISES.values() if e.notebook == notebook]


def show_solution(exercise_id: str) -> str:
    """Return the reference solution's source (try first: it is hidden for a reason)."""
    return inspect.getsource(EXERCISES[exercise_id].solution)
