"""The exercises of notebook 04-streaming (streaming): duplicates, an idempotent sink and freshness.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lesson.teaching.exercises._record import Exercise, expect, near

NOTEBOOK = "04-streaming"

# ---- dedupe_events -----------------------------------------------------------------------------


def dedupe_events(events: Iterable[dict[str, Any]], capacity: int) -> list[dict[str, Any]]:
    """Keep the first event of each ``id``, in arrival order, remembering at most ``capacity`` ids."""
    from collections import OrderedDict

    seen: OrderedDict[Any, None] = OrderedDict()
    kept = []
    for event in events:
        if event["id"] in seen:
            continue
        seen[event["id"]] = None
        if len(seen) > capacity:
            seen.popitem(last=False)  # forget the oldest: memory stays bounded
        kept.append(event)
    return kept


def check_dedupe(fn: Callable[[list[dict[str, Any]], int], list[dict[str, Any]]]) -> str:
    events = [
        {"id": "e1", "v": 1},
        {"id": "e2", "v": 2},
        {"id": "e1", "v": 99},
        {"id": "e3", "v": 3},
        {"id": "e2", "v": 98},
    ]
    got = list(fn(list(events), 10))
    expect(
        [e["id"] for e in got] == ["e1", "e2", "e3"],
        f"kept ids {[e['id'] for e in got]}, expected e1, e2, e3 in order",
    )
    expect(
        [e["v"] for e in got] == [1, 2, 3],
        "keep the FIRST event of each id (a redelivery is a copy)",
    )
    window = [{"id": i} for i in ("e1", "e2", "e3", "e1", "e3")]
    got = [e["id"] for e in fn(list(window), 2)]
    expect(
        got == ["e1", "e2", "e3", "e1"],
        f"with capacity 2, dedupe(e1 e2 e3 e1 e3) kept {got}; expected e1 e2 e3 e1: after e3 only e2 and e3 "
        "are remembered, so the old e1 comes through again (the price of bounded memory) and e3 does not",
    )
    many = fn(({"id": f"u{i}"} for i in range(50_000)), 100)
    expect(
        len(list(many)) == 50_000, "every distinct id must be kept once (and any iterable accepted)"
    )
    return "each event scored once within the window, first delivery kept, order preserved, memory bounded"


DEDUPE_EVENTS = Exercise(
    id="dedupe_events",
    notebook=NOTEBOOK,
    title="Score each event once",
    task=(
        "Write dedupe(events, capacity) keeping the first event of each id, in order, "
        "remembering at most capacity ids (a stream never ends: memory must not grow "
        "with it)."
    ),
    hint="An OrderedDict of recent ids; past capacity, drop the oldest (popitem(last=False)).",
    checker=check_dedupe,
    solution=dedupe_events,
)


# ---- idempotent_sink ---------------------------------------------------------------------------


def idempotent_sink(store: dict[str, Any], event_id: str, prediction: float) -> bool:
    """Write an event's result once: the result itself is the "seen" mark."""
    if event_id in store["results"]:
        return False
    store["results"][event_id] = prediction
    store["out"].append(event_id)
    return True


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
    expect(
        store["out"] == ["e1", "e2", "e3", "e4"],
        f"the output got {store['out']}; each event's result must be written exactly once, in delivery order",
    )
    expect(
        store["results"] == {"e1": 0.5, "e2": 0.25, "e3": 1.0, "e4": 2.0},
        f"results are {store['results']}",
    )
    expect(
        [bool(r) for r in returned] == [True, True, False, True, True, False, False],
        f"returned {returned}; return True when written, False for an id already written",
    )
    return "duplicates and a crash's redeliveries changed nothing: exactly-once effect on at-least-once delivery"


IDEMPOTENT_SINK = Exercise(
    id="idempotent_sink",
    notebook=NOTEBOOK,
    title="Make the sink idempotent",
    task=(
        "Write sink(store, event_id, prediction) -> bool: set store['results'][event_id] "
        "and append the id to store['out'] the first time an id arrives; change nothing "
        "(return False) when it arrives again."
    ),
    hint="The result is the 'seen' mark: check store['results'] before writing anything.",
    checker=check_idempotent_sink,
    solution=idempotent_sink,
)


# ---- freshness ---------------------------------------------------------------------------------


def freshness_ms(events: Iterable[dict[str, float]]) -> list[float]:
    """Freshness of each scored event: prediction time minus event time, in ms."""
    return [(e["scored_at"] - e["event_time"]) * 1000.0 for e in events]


def check_freshness(fn: Callable[[list[dict[str, float]]], list[float]]) -> str:
    events = [{"event_time": 10.0, "scored_at": 10.25}, {"event_time": 11.0, "scored_at": 11.004}]
    got = fn(events)
    expect(
        len(got) == 2 and near(got[0], 250.0, 1e-6) and near(got[1], 4.0, 1e-6),
        f"freshness {got!r}, expected [250.0, 4.0] ms (prediction time minus EVENT time)",
    )
    return "freshness counts from when the event happened, not when it was read"


FRESHNESS = Exercise(
    id="freshness",
    notebook=NOTEBOOK,
    title="Measure freshness",
    task=(
        "Write freshness_ms(events) -> the ms between event_time and scored_at for each "
        "event, in order."
    ),
    hint="Both times are in seconds.",
    checker=check_freshness,
    solution=freshness_ms,
)


EXERCISES: tuple[Exercise, ...] = (
    DEDUPE_EVENTS,
    IDEMPOTENT_SINK,
    FRESHNESS,
)
