"""The stream consumer scores over a real gRPC ModelStreamInfer stream, same results as in-process."""

from __future__ import annotations

import asyncio

import pytest

from lesson.clients.errors import InferenceError
from lesson.clients.stream_model import GrpcStreamModel
from lesson.models.mlp import load_default_mlp
from lesson.patterns.streaming.consumer import Event, StreamConsumer
from lesson.servers.launch import running_server

ROW = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]


def make_events(n: int, keys: int) -> list[Event]:
    """n events over `keys` keys; every 10th event is a redelivery of the one before it."""
    events = []
    for i in range(n):
        if i % 10 == 9:
            events.append(events[-1])
        else:
            events.append(Event(f"e{i}", f"k{i % keys}", [*ROW[:2], 20 + i % 20, *ROW[3:]], 0.0))
    return events


pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def grpc_mlp_server():
    with running_server("grpc", registry="lesson.models.mlp_numpy:serving_registry") as server:
        yield server


def test_consumer_over_the_wire_matches_in_process(grpc_mlp_server):
    events = make_events(300, keys=12)
    local = []
    local_report = asyncio.run(StreamConsumer(load_default_mlp()).run(events, local.append))

    async def over_grpc():
        results = []
        async with GrpcStreamModel(grpc_mlp_server.url, "diabetes-mlp") as model:
            report = await StreamConsumer(model).run(events, results.append)
        return report, results, model.version

    remote_report, remote, version = asyncio.run(over_grpc())
    assert version == "1"
    assert (
        remote_report.scored == local_report.scored
        and remote_report.duplicates == local_report.duplicates
    )
    by_id = {r.event_id: r.prediction for r in local}
    assert local_report.duplicates == 30
    assert len(remote) == len(local) == 270
    for r in remote:
        assert r.error is None
        assert r.prediction == pytest.approx(by_id[r.event_id], abs=1e-6)
    # order per key is kept over the wire too
    for key in {r.key for r in remote}:
        assert [r.event_id for r in remote if r.key == key] == [
            r.event_id for r in local if r.key == key
        ]


def test_unknown_model_on_the_stream_is_a_typed_error(grpc_mlp_server):
    async def go():
        async with GrpcStreamModel(grpc_mlp_server.url, "no-such-model") as model:
            return await model.predict_async([[0.0] * 10])

    with pytest.raises(InferenceError, match="no-such-model"):
        asyncio.run(go())


def test_model_must_be_opened_first():
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(GrpcStreamModel("grpc://127.0.0.1:1", "m").predict_async([[1.0]]))
