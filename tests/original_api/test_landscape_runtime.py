"""describe_serving_landscape (original values) and the runtime probes."""

from __future__ import annotations

import time

from lesson import describe_serving_landscape
from lesson.core import runtime

ORIGINAL = {
    "REST": {"latency": "medium", "strength": "ubiquitous clients"},
    "gRPC": {"latency": "low", "strength": "typed contracts"},
    "batch": {"latency": "high", "strength": "cost efficiency"},
    "streaming": {"latency": "low", "strength": "event-driven"},
    "edge": {"latency": "ultra-low", "strength": "offline ready"},
}


def test_landscape_keeps_the_original_entries():
    landscape = describe_serving_landscape()
    assert list(landscape)[: len(ORIGINAL)] == list(ORIGINAL)  # in order; generative follows
    assert list(landscape)[len(ORIGINAL) :] == ["generative"]
    for name, entry in ORIGINAL.items():
        assert {k: landscape[name][k] for k in entry} == entry
        assert landscape[name]["use_when"]


def test_landscape_points_at_real_api():
    import lesson

    for entry in describe_serving_landscape().values():
        assert callable(getattr(lesson, entry["lesson_api"]))


def test_landscape_is_a_fresh_copy():
    first = describe_serving_landscape()
    first["REST"]["latency"] = "changed"
    assert describe_serving_landscape()["REST"]["latency"] == "medium"


def test_runtime_facts():
    assert runtime.IN_BROWSER is False
    assert runtime.threads_available() is True
    resolution = runtime.clock_resolution()
    assert 0 < resolution < 1e-3
    assert runtime.clock_resolution() == resolution  # cached
    assert runtime.clock_resolution(refresh=True) >= time.get_clock_info("perf_counter").resolution


def test_coarse_clock_is_detected(monkeypatch):
    """A clock that ticks in 100 µs steps (the browser's) is reported as such."""
    state = {"t": 0.0, "calls": 0}

    def coarse():
        state["calls"] += 1
        if state["calls"] % 50 == 0:
            state["t"] += 1e-4
        return state["t"]

    monkeypatch.setattr(runtime.time, "perf_counter", coarse)
    assert abs(runtime.clock_resolution(refresh=True) - 1e-4) < 1e-9
    monkeypatch.undo()
    runtime.clock_resolution(refresh=True)
