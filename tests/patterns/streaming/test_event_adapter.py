"""The event-stream adapter: sync and async iterables, the error policy."""

from __future__ import annotations

import asyncio

import pytest

from lesson import averaged_ensembled_model, ensure_response_schema
from lesson.patterns.streaming.events import (
    EventStreamAdapter,
    StreamEventError,
    event_stream_adapter,
    is_error,
)

EVENTS = [
    {"id": "e1", "key": "user-1", "instances": [0.2, 0.4, 0.6]},
    {"id": 2, "instances": [[0.0], [1.0]]},
    {"instances": [1.0]},
]


def check_good(responses):
    assert [r["predictions"] for r in responses] == [[0.42], [0.1, 0.9], [0.9]]
    for r in responses:
        ensure_response_schema(r)
        assert r["metadata"]["transport"] == "streaming"
    assert [r["metadata"]["event_id"] for r in responses] == [
        "e1",
        2,
        2,
    ]  # no id: the sequence number
    assert [r["metadata"]["key"] for r in responses] == ["user-1", None, None]
    assert [r["metadata"]["sequence"] for r in responses] == [0, 1, 2]


def test_sync_stream():
    check_good(list(event_stream_adapter(averaged_ensembled_model)(EVENTS)))


def test_sync_stream_is_lazy():
    pulled = []

    def events():
        for e in EVENTS:
            pulled.append(e)
            yield e

    stream = event_stream_adapter(averaged_ensembled_model)(events())
    next(stream)
    assert len(pulled) == 1


def test_async_stream_over_sync_and_async_iterables():
    adapter = event_stream_adapter(averaged_ensembled_model)

    async def agen():
        for e in EVENTS:
            await asyncio.sleep(0)
            yield e

    async def collect(source):
        return [r async for r in adapter.astream(source)]

    check_good(asyncio.run(collect(agen())))
    check_good(asyncio.run(collect(EVENTS)))


BAD_EVENTS = [
    ({"id": "a"}, ["events", 1, "instances"], "missing"),
    ({"id": "b", "instances": []}, ["events", 1, "instances"], "too_short"),
    ({"id": "c", "instances": [True]}, ["events", 1, "instances", 0], "type_error"),
    ({"id": "d", "instances": [[1, 2], [1]]}, ["events", 1, "instances", 1], "ragged"),
    ({"id": "e", "instances": [float("inf")]}, ["events", 1, "instances", 0], "finite_number"),
    ({"id": "f", "instances": [0.0] * 1000}, ["events", 1, "instances"], "too_long"),
    ({"id": True, "instances": [1]}, ["events", 1, "id"], "type_error"),
    ({"id": "x" * 300, "instances": [1]}, ["events", 1, "id"], "too_long"),
    ({"key": [1], "instances": [1]}, ["events", 1, "key"], "type_error"),
    ("not an event", ["events", 1], "type_error"),
]


@pytest.mark.parametrize("bad, loc, kind", BAD_EVENTS)
def test_emit_policy_yields_an_error_record_and_goes_on(bad, loc, kind):
    good = {"id": "ok", "instances": [1.0]}
    records = list(event_stream_adapter(averaged_ensembled_model)([good, bad, good]))
    assert len(records) == 3
    assert not is_error(records[0]) and not is_error(records[2])
    assert records[2]["predictions"] == [0.9]
    error = records[1]
    assert is_error(error)
    assert error["error"]["errors"][0]["loc"] == loc
    assert error["error"]["errors"][0]["type"] == kind
    assert error["metadata"]["sequence"] == 1 and error["metadata"]["transport"] == "streaming"
    assert ".".join(map(str, loc)) in error["error"]["message"]


@pytest.mark.parametrize("bad, loc, kind", BAD_EVENTS)
def test_raise_policy_raises_a_located_error(bad, loc, kind):
    stream = event_stream_adapter(averaged_ensembled_model, on_error="raise")(
        [{"instances": [1.0]}, bad]
    )
    next(stream)
    with pytest.raises(StreamEventError) as info:
        next(stream)
    assert info.value.errors[0]["loc"] == loc
    assert info.value.sequence == 1


def test_error_record_keeps_a_valid_event_id_and_key():
    record = event_stream_adapter(averaged_ensembled_model).process({"id": "z", "key": "k"}, 5)
    assert record["metadata"] == {
        "transport": "streaming",
        "event_id": "z",
        "key": "k",
        "sequence": 5,
    }


def test_async_raise_policy():
    adapter = event_stream_adapter(averaged_ensembled_model, on_error="raise")

    async def run():
        return [r async for r in adapter.astream([{"instances": [1]}, {"instances": "x"}])]

    with pytest.raises(StreamEventError, match="events.1.instances"):
        asyncio.run(run())


def test_model_crash_is_not_swallowed():
    def boom(row):
        raise RuntimeError("model down")

    with pytest.raises(RuntimeError, match="model down"):
        list(event_stream_adapter(boom)([{"instances": [1]}]))


def test_bad_policy_and_default_model():
    with pytest.raises(ValueError, match="on_error"):
        EventStreamAdapter(on_error="ignore")
    assert (
        next(EventStreamAdapter()([{"instances": [1.0]}]))["metadata"]["model"]
        == "averaged_ensemble"
    )
