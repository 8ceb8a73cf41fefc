"""Dynamic batching: concurrent requests share calls; errors stay with their request."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lesson.core.schema import ValidationError
from lesson.models.accelerator import SimulatedAcceleratorModel
from lesson.models.mlp import load_default_mlp
from lesson.patterns.microbatching import (
    BatchedModel,
    BatcherClosedError,
    BatchOutputError,
    MicroBatcher,
    ThreadedMicroBatcher,
    check_batching_options,
)

ROW = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]


class Recorder:
    """A sync batch function that records each call's size and takes a little time."""

    def __init__(self, delay: float = 0.005, fail_on: float | None = None):
        self.calls: list[int] = []
        self.delay = delay
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, rows):
        with self.lock:
            self.calls.append(len(rows))
        time.sleep(self.delay)
        if self.fail_on is not None and any(r[0] == self.fail_on for r in rows):
            raise ValueError(f"cannot score {self.fail_on}")
        return [r[0] * 10 for r in rows]


@pytest.mark.parametrize("run_in_thread", [True, False])
def test_async_batcher_groups_concurrent_requests(run_in_thread):
    rec = Recorder()

    async def main():
        async with MicroBatcher(
            rec, max_batch_size=16, max_delay_ms=20, run_in_thread=run_in_thread
        ) as b:
            results = await asyncio.gather(*(b.predict([[i]]) for i in range(40)))
            return results, b.stats

    results, stats = asyncio.run(main())
    assert results == [[i * 10] for i in range(40)]  # each caller gets its own answer, in order
    assert sum(rec.calls) == 40
    assert len(rec.calls) <= 5 and max(rec.calls) == 16  # grouped, bounded by max_batch_size
    assert stats.batches == len(rec.calls) and stats.requests == 40


def test_async_batcher_isolates_errors():
    rec = Recorder(fail_on=7)

    async def main():
        async with MicroBatcher(rec, max_batch_size=32, max_delay_ms=20) as b:
            return await asyncio.gather(
                *(b.predict([[i]]) for i in range(12)), return_exceptions=True
            )

    results = asyncio.run(main())
    assert isinstance(results[7], ValueError) and "cannot score 7" in str(results[7])
    assert [r for i, r in enumerate(results) if i != 7] == [[i * 10] for i in range(12) if i != 7]


def test_async_batcher_validates_on_arrival_with_the_real_model():
    model = load_default_mlp()

    async def main():
        async with MicroBatcher.for_model(model, max_batch_size=8, max_delay_ms=5) as b:
            return await asyncio.gather(
                b.predict([ROW]),
                b.predict([ROW[:9]]),
                b.predict([ROW, ROW]),
                return_exceptions=True,
            ), b.stats

    (good, bad, pair), stats = asyncio.run(main())
    assert good == pytest.approx(model.predict([ROW]))
    assert pair == pytest.approx(model.predict([ROW, ROW]))
    assert isinstance(bad, ValidationError) and bad.field == "body.instances.0"
    assert stats.requests == 2 and stats.rows == 3  # the bad request never reached the model
    # (the first request found the batcher idle and ran alone; the pair queued meanwhile)
    assert sorted(stats.batch_rows.items()) == [(1, 1), (2, 1)]


def test_async_batcher_runs_a_lone_request_at_once_and_batches_what_queues_meanwhile():
    sim = SimulatedAcceleratorModel(load_default_mlp(), fixed_cost_s=0.02, per_row_s=0.0)

    async def main():
        async with MicroBatcher.for_model(sim, max_batch_size=64) as b:
            for _ in range(3):  # one client: each request runs in its own task, no queue hop
                await b.predict([ROW])
            assert b._queue.qsize() == 0 and b.stats.batches == 3
            first = asyncio.ensure_future(b.predict([ROW]))
            await asyncio.sleep(0.005)  # the first is on the device now
            rest = await asyncio.gather(*(b.predict([ROW]) for _ in range(20)))
            await first
            return rest, b.stats

    rest, stats = asyncio.run(main())
    assert all(r == pytest.approx(load_default_mlp().predict([ROW])) for r in rest)
    assert sim.calls == 5 and stats.batch_rows == {1: 4, 20: 1}, (
        stats
    )  # 3 alone, 1 alone, then 20 together


def test_wrong_output_count_is_an_error_not_a_silent_answer():
    async def main():
        async with MicroBatcher(lambda rows: [1.0], max_batch_size=4, max_delay_ms=10) as b:
            return await asyncio.gather(b.predict([[1], [2]]), return_exceptions=True)

    (res,) = asyncio.run(main())
    assert isinstance(res, BatchOutputError)


def test_large_request_runs_alone_and_zero_delay_does_not_wait():
    rec = Recorder(delay=0.0)

    async def main():
        async with MicroBatcher(rec, max_batch_size=4, max_delay_ms=0, run_in_thread=False) as b:
            big = await b.predict([[i] for i in range(10)])
            t0 = time.perf_counter()
            one = await b.predict([[3]])
            return big, one, time.perf_counter() - t0

    big, one, elapsed = asyncio.run(main())
    assert big == [i * 10 for i in range(10)] and one == [30]
    assert rec.calls == [10, 1]
    assert elapsed < 0.5


def test_async_accelerator_path():
    sim = SimulatedAcceleratorModel(load_default_mlp(), fixed_cost_s=0.002, per_row_s=20e-6)

    async def main():
        async with MicroBatcher.for_model(sim, max_batch_size=64) as b:
            return await asyncio.gather(*(b.predict([ROW]) for _ in range(32)))

    results = asyncio.run(main())
    assert len(results) == 32 and sim.rows == 32
    assert sim.calls < 8  # requests arriving while the device is busy share its next call


def test_threaded_batcher_groups_and_isolates():
    rec = Recorder(delay=0.01, fail_on=5)
    with (
        ThreadedMicroBatcher(rec, max_batch_size=8, max_delay_ms=20) as b,
        ThreadPoolExecutor(24) as pool,
    ):
        futures = [pool.submit(b.predict, [[i]]) for i in range(24)]
        outcomes = []
        for f in futures:
            try:
                outcomes.append(f.result(10))
            except ValueError as exc:
                outcomes.append(exc)
    assert isinstance(outcomes[5], ValueError)
    assert [o for i, o in enumerate(outcomes) if i != 5] == [[i * 10] for i in range(24) if i != 5]
    assert max(rec.calls) > 1 and max(rec.calls) <= 8


def test_threaded_close_fails_waiting_requests_and_refuses_new_ones():
    b = ThreadedMicroBatcher(Recorder(delay=0.0), max_batch_size=4)
    assert b.predict([[1]]) == [10]
    b.close()
    with pytest.raises(BatcherClosedError):
        b.predict([[1]])


def test_batched_model_is_a_model_and_batches_accelerator_calls():
    sim = SimulatedAcceleratorModel(load_default_mlp())
    model = BatchedModel(sim, max_batch_size=64, max_delay_ms=1)
    try:
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda _: model.predict([ROW]), range(128)))
        assert all(r == pytest.approx(load_default_mlp().predict([ROW])) for r in results)
        assert sim.calls <= 64  # far fewer than 128 device calls
        assert model.stats.requests == 128
        assert model.metadata().platform == "simulated-accelerator"
        with pytest.raises(ValidationError):
            model.predict([ROW[:3]])
    finally:
        model.close()


def test_batched_model_predict_async_shares_device_calls_on_one_event_loop():
    sim = SimulatedAcceleratorModel(load_default_mlp())
    model = BatchedModel(sim, max_batch_size=64, max_delay_ms=0)
    expected = load_default_mlp().predict([ROW])

    async def main():
        results = await asyncio.gather(*(model.predict_async([ROW]) for _ in range(128)))
        bad = await asyncio.gather(
            model.predict_async([ROW[:3]]), model.predict_async([ROW]), return_exceptions=True
        )
        assert await model.predict_async([]) == []
        await model.aclose()
        return results, bad

    results, bad = asyncio.run(main())
    assert all(r == pytest.approx(expected) for r in results)
    assert sim.calls <= 8  # 128 requests in at most a few device calls (64 rows each)
    assert (
        model.async_batcher.stats.requests == 129 and model.async_batcher.stats.max_batch_rows == 64
    )
    assert isinstance(bad[0], ValidationError) and bad[1] == pytest.approx(
        expected
    )  # the bad one fails alone


def test_batched_model_predict_async_runs_a_sync_model_inline_or_in_a_thread():
    for run_in_thread in (False, True):
        inner = Recorder(delay=0.0)
        inner.name, inner.version, inner.predict = "recorder", "1", inner
        model = BatchedModel(inner, max_batch_size=8, run_in_thread=run_in_thread)

        async def main():
            out = await asyncio.gather(*(model.predict_async([[i]]) for i in range(16)))
            await model.aclose()
            return out

        assert asyncio.run(main()) == [[10 * i] for i in range(16)]
        assert max(inner.calls) == 8 and sum(inner.calls) == 16, inner.calls
        assert model.async_batcher.run_in_thread is run_in_thread


@pytest.mark.parametrize("size, delay", [(0, 0), (65537, 0), (True, 0), (8, -1), (8, 5000)])
def test_option_bounds(size, delay):
    with pytest.raises(ValueError, match="max_batch_size|max_delay_ms"):
        check_batching_options(size, delay)


def test_async_batcher_never_overlaps_model_calls():
    state = {"active": 0, "most": 0, "calls": 0}

    async def device(rows):
        state["active"] += 1
        state["most"] = max(state["most"], state["active"])
        state["calls"] += 1
        await asyncio.sleep(0.002)
        state["active"] -= 1
        return [r[0] for r in rows]

    async def main():
        async with MicroBatcher(device, max_batch_size=8) as b:

            async def client(k):
                out = []
                for i in range(10):
                    out.append(await b.predict([[k * 100 + i]]))
                    await asyncio.sleep(0.0005 * (k % 3))
                return out

            return await asyncio.gather(*(client(k) for k in range(12)))

    results = asyncio.run(main())
    assert results == [[[k * 100 + i] for i in range(10)] for k in range(12)]
    assert state["most"] == 1 and state["calls"] < 120  # one call at a time, and shared


def test_async_batcher_drops_a_cancelled_request_from_the_batch():
    """A caller that gives up before its batch runs costs the model nothing."""
    seen: list[list[float]] = []

    async def predict_batch(rows):
        seen.extend(r[0] for r in rows)
        await asyncio.sleep(0.001)
        return [r[0] * 10 for r in rows]

    async def main():
        async with MicroBatcher(predict_batch, max_batch_size=16, max_delay_ms=50) as b:
            first = asyncio.ensure_future(b.predict([[1]]))  # runs at once: the batcher is idle
            await asyncio.sleep(0)
            tasks = [asyncio.ensure_future(b.predict([[i]])) for i in (2, 3, 4)]
            await asyncio.sleep(0)
            tasks[1].cancel()  # 3 gives up while it waits for the next batch
            results = await asyncio.gather(first, *tasks, return_exceptions=True)
            return results

    results = asyncio.run(main())
    assert results[0] == [10] and results[1] == [20] and results[3] == [40]
    assert isinstance(results[2], asyncio.CancelledError)
    assert 3 not in seen and sorted(seen) == [1, 2, 4]
