"""Every exercise checker accepts its reference solution and rejects typical wrong answers."""

from __future__ import annotations

import math
import os
import random
import struct
from itertools import islice
from types import SimpleNamespace

import pytest

from lesson.teaching.exercises import (
    EXERCISES,
    MODULES,
    Exercise,
    Feedback,
    check,
    exercises_for,
    show_solution,
)

#: the reference solutions by function name (each sits beside its exercise's record)
ref = SimpleNamespace(**{e.solution.__name__: e.solution for e in EXERCISES.values()})

NOTEBOOKS = [
    "00-overview",
    "01-rest",
    "02-grpc",
    "03-batch",
    "04-streaming",
    "05-edge",
    "06-load-testing",
    "07-resilience",
    "08-rollout",
    "09-capstone",
    "10-generative",
]


def _solution_answer(exercise_id: str):
    solution = EXERCISES[exercise_id].solution
    # Value exercises take the solution's return value; function exercises take the function.
    return (
        solution()
        if exercise_id
        in {"pick_patterns", "batching_knobs", "compatible_contract", "capstone_config"}
        else solution
    )


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_reference_solution_passes(exercise_id):
    feedback = check(exercise_id, _solution_answer(exercise_id))
    assert feedback.passed, str(feedback)
    assert "✔" in feedback._repr_html_()


def test_every_notebook_has_two_to_four_exercises():
    for notebook in NOTEBOOKS:
        assert 2 <= len(exercises_for(notebook)) <= 4, notebook


def _truncating_percentile(samples, q):
    ordered = sorted(samples)
    return ordered[int(q / 100 * (len(ordered) - 1))]


def _sorting_in_place(samples, q):
    samples.sort()
    return ref.percentile(samples, q)


def _stateful_no_jitter(attempt, *, base_s, cap_s, rng):
    return min(cap_s, base_s * 2**attempt)


def _uncapped(attempt, *, base_s, cap_s, rng):
    return rng.uniform(0, base_s * 2**attempt)


def _eager_chunks(items, size):
    items = list(items) if not isinstance(items, list) else items
    return [items[i : i + size] for i in range(0, len(items), size)]


def _lazy_but_reads_ahead(items, size):
    it = iter(items)
    pending = list(islice(it, size + 1))
    while pending:
        yield pending[:size]
        pending = pending[size:] + list(islice(it, size))


def _direct_write(path, lines):
    with open(path, "w") as handle:
        for line in lines:
            handle.write(line + "\n")


def _truncating_quantise(weights):
    scale = max(abs(w) for w in weights) / 127
    return scale, [int(w / scale) for w in weights]


def _asymmetric_scale(weights):
    scale = (max(weights) - min(weights)) / 255
    return scale, [max(-127, min(127, round(w / scale))) for w in weights]


def _from_actual_send(intended, sent, done):
    return [d - s for s, d in zip(sent, done)]


def _averaged_percentiles(a, b, q):
    return (ref.percentile(a, q) + ref.percentile(b, q)) / 2


def _big_endian(values):
    return struct.pack(f">{len(values)}f", *values)


def _float64(values):
    return struct.pack(f"<{len(values)}d", *values)


def _no_length_check(raw, shape):
    rows, cols = shape
    flat = struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4])
    return [list(flat[r * cols : (r + 1) * cols]) for r in range(rows)]


def _keeps_last(events, capacity):
    return list({e["id"]: e for e in events}.values())


def _unbounded_dedupe(events, capacity):
    seen, kept = set(), []
    for e in events:
        if e["id"] not in seen:
            seen.add(e["id"])
            kept.append(e)
    return kept


def _appends_every_delivery(store, event_id, prediction):
    store["results"][event_id] = prediction
    store["out"].append(event_id)
    return True


def _ignores_threshold(payload):
    from lesson.core.schema import parse_v1_request

    return parse_v1_request(payload).rows, payload.get("threshold", 0.5)


def _accepts_bool(payload):
    from lesson.core.schema import ValidationError, parse_v1_request

    rows = parse_v1_request(payload).rows
    t = payload.get("threshold", 0.5)
    if not isinstance(t, (int, float)) or not 0 <= t <= 1 or math.isnan(t):
        raise ValidationError([{"loc": ["body", "threshold"], "msg": "bad", "type": "value_error"}])
    return rows, float(t)


def _contract(*fields, unknown="reject"):
    from lesson.teaching.evolution import RequestContract

    return RequestContract("3", tuple(fields), unknown)


def _wrong_contracts():
    from lesson.teaching.evolution import Field

    request_id = Field("request_id", "string", max_length=64, echo=True)
    return {
        "required": _contract(
            Field("request_id", "string", required=True, max_length=64), Field("client")
        ),
        "client required": _contract(
            request_id, Field("client", "string", required=True, max_length=32)
        ),
        "dropped request_id": _contract(Field("client", "string", max_length=32)),
        "client a number": _contract(request_id, Field("client", "number")),
        "unbounded client": _contract(request_id, Field("client", "string")),
        "tolerant reader": _contract(
            request_id, Field("client", "string", max_length=32), unknown="ignore"
        ),
    }


def _sizes_only(manifest, files):
    return sorted(
        n for n, e in manifest["files"].items() if n in files and len(files[n]) != e["bytes"]
    )


def _skips_missing(manifest, files):
    import hashlib

    return sorted(
        n
        for n, e in manifest["files"].items()
        if n in files and hashlib.sha256(files[n]).hexdigest() != e["sha256"]
    )


def _flags_extras(manifest, files):
    return sorted(set(ref.tampered_files(manifest, files)) | (set(files) - set(manifest["files"])))


def _python_hash_arm(user, share):
    return "candidate" if hash(user) % 10_000 < share * 10_000 else "stable"


def _random_arm(user, share):
    return "candidate" if random.random() < share else "stable"


def _reshuffling_arm(user, share):  # a new bucket for every share: widening moves users back
    import hashlib

    bucket = int(hashlib.sha256(f"{share}:{user}".encode()).hexdigest(), 16) % 10_000
    return "candidate" if bucket < share * 10_000 else "stable"


def _counts_not_rates(stable, candidate, *, max_error_rate, max_slowdown, min_requests):
    if candidate["requests"] < min_requests:
        return "wait"
    if candidate["errors"] - stable["errors"] > max_error_rate * candidate["requests"]:
        return "rollback"
    return "rollback" if candidate["p99_ms"] > max_slowdown * stable["p99_ms"] else "widen"


def _errors_only(stable, candidate, *, max_error_rate, max_slowdown, min_requests):
    if candidate["requests"] < min_requests:
        return "wait"
    rate = candidate["errors"] / candidate["requests"]
    return (
        "rollback"
        if rate - stable["errors"] / max(1, stable["requests"]) > max_error_rate
        else "widen"
    )


def _tpot_over_all_tokens(origin, token_times, end):
    ttft, e2el = token_times[0] - origin, end - origin
    gaps = [b - a for a, b in zip(token_times, token_times[1:])]
    return {"ttft": ttft, "tpot": e2el / len(token_times), "itl": gaps, "e2el": e2el}


def _ttft_from_first_gap(origin, token_times, end):
    answer = ref.stream_metrics(origin, token_times, end)
    return {**answer, "ttft": token_times[0]}  # the clock reading, not the time since the send


def _itl_includes_ttft(origin, token_times, end):
    answer = ref.stream_metrics(origin, token_times, end)
    return {**answer, "itl": [b - a for a, b in zip([origin, *token_times], token_times)]}


WRONG_ANSWERS = [
    ("stream_metrics", _tpot_over_all_tokens, "excludes it"),
    ("stream_metrics", _ttft_from_first_gap, "ttft"),
    ("stream_metrics", _itl_includes_ttft, "gaps"),
    ("stream_metrics", lambda origin, times, end: [0.1, 0.01], "return a dict"),
    ("kv_blocks", lambda p, m, size: -(-(p + m) // size), "never fed back"),
    ("kv_blocks", lambda p, m, size: (p + m - 1) // size, "round up"),
    ("canary_arm", _python_hash_arm, "hashlib"),
    ("canary_arm", _random_arm, "second call"),
    ("canary_arm", _reshuffling_arm, "widening"),
    ("canary_arm", lambda user, share: "canary" if share else "stable", "should be 'candidate'"),
    ("canary_verdict", _counts_not_rates, "expected"),
    ("canary_verdict", _errors_only, "1.5x"),
    ("canary_verdict", lambda stable, candidate, **budget: "widen", "too early"),
    ("percentile", _truncating_percentile, "expected"),
    ("percentile", _sorting_in_place, "changed the list"),
    (
        "pick_patterns",
        {
            "fraud-check": "REST",
            "nightly-churn": "batch",
            "field-app": "edge",
            "help-chat": "generative",
        },
        "fraud-check",
    ),
    (
        "pick_patterns",
        {"fraud-check": "gRPC", "nightly-churn": "batch", "field-app": "edge", "help-chat": "REST"},
        "help-chat",
    ),
    ("pick_patterns", {"fraud-check": "gRPC"}, "no pattern given"),
    ("validate_threshold", _ignores_threshold, "accepted"),
    ("validate_threshold", _accepts_bool, "True"),
    ("status_for_error", lambda kind: (500, "INTERNAL"), "HTTP 500"),
    ("fp32_raw", _big_endian, "little-endian"),
    ("fp32_raw", _float64, "bytes"),
    ("fp32_decode", _no_length_check, "accepted"),
    ("chunked", _eager_chunks, "endless"),
    ("chunked", _lazy_but_reads_ahead, "read ahead"),
    ("atomic_write", _direct_write, "interrupted write"),
    ("dedupe_events", _keeps_last, "FIRST"),
    ("dedupe_events", _unbounded_dedupe, "bounded memory"),
    ("idempotent_sink", _appends_every_delivery, "exactly once"),
    ("freshness", lambda events: [0.0 for _ in events], "EVENT time"),
    ("quantise_int8", _truncating_quantise, "round"),
    ("quantise_int8", _asymmetric_scale, "scale"),
    ("dequantise_int8", lambda scale, values: [float(v) for v in values], "got"),
    ("open_loop_latencies", _from_actual_send, "coordinated omission"),
    ("pooled_percentile", _averaged_percentiles, "averaging"),
    ("backoff", _stateful_no_jitter, "jitter"),
    ("backoff", _uncapped, "min(cap"),
    ("batching_knobs", (1, 0.0), "saturates"),
    ("batching_knobs", (64, 40.0), "misses"),
    ("compatible_contract", "required", "made required"),
    ("compatible_contract", "client required", "added (required)"),
    ("compatible_contract", "dropped request_id", "removed"),
    ("compatible_contract", "client a number", "optional string"),
    ("compatible_contract", "unbounded client", "33 characters"),
    ("compatible_contract", "tolerant reader", "clinet"),
    ("compatible_contract", None, "RequestContract"),
    ("tampered_files", _sizes_only, "sha256"),
    ("tampered_files", _skips_missing, "missing"),
    ("tampered_files", _flags_extras, "ignored"),
    ("tampered_files", lambda manifest, files: [], "same size"),
]


@pytest.mark.parametrize(
    "exercise_id,answer,needle",
    WRONG_ANSWERS,
    ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(WRONG_ANSWERS)],
)
def test_typical_wrong_answer_is_rejected_with_specific_feedback(exercise_id, answer, needle):
    if exercise_id == "compatible_contract" and isinstance(answer, str):
        answer = _wrong_contracts()[answer]
    feedback = check(exercise_id, answer)
    assert not feedback.passed
    assert needle in feedback.message, feedback.message
    assert feedback.hint  # every failure comes with a hint
    assert "hint:" in str(feedback)


def test_a_crashing_answer_is_reported_not_raised():
    def broken(samples, q):
        raise ZeroDivisionError("oops")

    feedback = check("percentile", broken)
    assert isinstance(feedback, Feedback) and not feedback.passed
    assert "ZeroDivisionError: oops" in feedback.message


def test_not_attempted_answer_says_so():
    def stub(samples, q):
        raise NotImplementedError

    assert "not attempted" in check("percentile", stub).message


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="percentile"):
        check("no-such-exercise", None)


def test_show_solution_returns_the_reference_source():
    source = show_solution("backoff")
    assert "def backoff_delay" in source and "uniform" in source


def test_atomic_write_reference_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.txt"

    def lines():
        yield "one"
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        ref.atomic_write(str(target), lines())
    assert not target.exists() and os.listdir(tmp_path) == []


def test_backoff_reference_is_bounded_and_jittered():
    rng = random.Random(0)
    draws = [ref.backoff_delay(10, base_s=0.1, cap_s=2.0, rng=rng) for _ in range(1000)]
    assert max(draws) <= 2.0 and min(draws) >= 0 and len(set(draws)) > 900


def test_contract_reference_is_backward_compatible_and_v3_breaking_is_not():
    from lesson.teaching.evolution import CONTRACT_V1, CONTRACT_V2, CONTRACT_V3_BREAKING

    assert ref.compatible_contract().is_backward_compatible_with(CONTRACT_V2)
    assert CONTRACT_V2.is_backward_compatible_with(CONTRACT_V1)
    assert not CONTRACT_V3_BREAKING.is_backward_compatible_with(CONTRACT_V2)


def test_one_module_per_notebook_holds_its_records_checkers_and_solutions():
    """Each exercise is a keyword-built record whose checker and solution live in its module."""
    assert [m.NOTEBOOK for m in MODULES] == NOTEBOOKS
    for module in MODULES:
        for exercise in module.EXERCISES:
            assert exercise.notebook == module.NOTEBOOK, exercise.id
            assert exercise.checker.__module__ == module.__name__, exercise.id
            assert exercise.solution.__module__ == module.__name__, exercise.id
    assert len(EXERCISES) == sum(len(m.EXERCISES) for m in MODULES)  # ids are unique
    first = next(iter(EXERCISES.values()))
    with pytest.raises(TypeError):
        Exercise(
            first.id,
            first.notebook,
            first.title,
            first.task,
            first.hint,
            first.checker,
            first.solution,
        )


def test_the_solutions_stay_out_of_the_learners_namespace():
    """What a notebook imports from the exercises names no reference solution."""
    import lesson.teaching.exercises as ex

    solution_names = {e.solution.__name__ for e in EXERCISES.values()}
    assert not solution_names & set(vars(ex)), solution_names & set(vars(ex))
    assert not [n for n in ex.__all__ if "solution" in n.lower() and n != "show_solution"]


def _task_names() -> set[str]:
    import re

    return {m.group(1) for e in EXERCISES.values() if (m := re.match(r"Write (\w+)\(", e.task))}


def test_the_function_the_task_names_is_the_one_the_notebook_defines_and_checks():
    """04 once asked for ``freshness(events)`` while its cell defined and checked ``freshness_ms``."""
    import re
    from pathlib import Path

    sources = {
        p.stem: p.read_text()
        for p in (Path(__file__).parents[2] / "notebooks" / "src").glob("*.py")
    }
    named = 0
    for exercise in EXERCISES.values():
        asked = re.match(r"Write (\w+)\(", exercise.task)
        if asked is None:
            continue
        source = sources[exercise.notebook]
        checked = re.search(rf'check\("{exercise.id}",\s*(\w+)\)', source)
        assert checked is not None, f"{exercise.notebook} does not check {exercise.id!r}"
        name = asked.group(1)
        assert checked.group(1) == name, (exercise.id, name, checked.group(1))
        assert re.search(rf"^def {name}\(", source, re.M), (
            f"{exercise.notebook} does not define {name}()"
        )
        asked_in_text = re.findall(r"Write `(\w+)\(", source)
        assert not set(asked_in_text) - {e for e in _task_names()}, asked_in_text
        named += 1
    assert named >= 15
