"""The open-loop step load: its schedule, its per-second rows, and a real run on loopback."""

from __future__ import annotations

import asyncio

import pytest

from lesson.loadtest.step_load import RequestRecord, Step, per_second, run_step_load, step_offsets
from lesson.servers.launch import free_port

BODY = {"instances": [[0.2, 0.4, 0.6]]}


def test_offsets_are_evenly_spaced_within_each_step_and_bounded():
    offsets = step_offsets([Step(1, 4.0), Step(1, 0.0), Step(1, 2.0)], max_requests=100)
    assert offsets == [0.0, 0.25, 0.5, 0.75, 2.0, 2.5]
    assert len(step_offsets([Step(10, 100.0)], max_requests=7)) == 7


def test_bad_steps_are_refused():
    with pytest.raises(ValueError, match="lasts"):
        Step(0, 1.0)
    with pytest.raises(ValueError, match="rate"):
        Step(1, -1.0)


def test_per_second_counts_in_flight_and_the_p99_of_each_second():
    records = [
        RequestRecord(0.1, 0.2, None),
        RequestRecord(0.5, 2.5, None),  # in flight at the end of seconds 0 and 1
        RequestRecord(1.2, None, "unfinished"),
        RequestRecord(1.4, 1.5, "http_503"),
    ]
    rows = per_second(records, 3)
    assert [r["intended"] for r in rows] == [2, 2, 0]
    assert [r["ok"] for r in rows] == [2, 0, 0] and [r["errors"] for r in rows] == [0, 2, 0]
    assert [r["in_flight"] for r in rows] == [1, 2, 1]
    assert rows[0]["p99_ms"] == 2000.0 and rows[1]["p99_ms"] is None


@pytest.mark.server
def test_a_real_step_load_against_the_lesson_server():
    from lesson.servers.launch import running_server

    with running_server("rest", registry="lesson.core.model:default_registry") as server:
        url = f"{server.url}/v1/models/averaged_ensemble:predict"
        records = asyncio.run(run_step_load(url, BODY, [Step(1, 20.0), Step(1, 0.0)], grace_s=5))
    assert len(records) == 20 and all(r.error is None for r in records)
    rows = per_second(records, 2)
    assert rows[0]["ok"] == 20 and rows[1]["intended"] == 0 and rows[1]["in_flight"] == 0


def test_errors_are_counted_by_kind_not_raised():
    url = f"http://127.0.0.1:{free_port()}/v1/models/m:predict"  # nothing listens there
    records = asyncio.run(run_step_load(url, BODY, [Step(0.5, 10.0)], timeout=2, grace_s=3))
    assert len(records) == 5 and all(r.error and r.ended is not None for r in records)
