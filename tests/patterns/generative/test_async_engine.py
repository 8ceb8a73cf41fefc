"""AsyncEngine: streaming on asyncio, early errors, and aborts when the consumer goes away."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc

import pytest
from generative_support import greedy, prompt, run_alone, small_model

from lesson.patterns.generative import (
    AsyncEngine,
    ContextLengthError,
    Engine,
    EngineConfig,
    EngineStoppedError,
    SamplingParams,
)


def make(**config):
    config = {"block_size": 4, "num_blocks": 64, "prefix_caching": False, **config}
    return AsyncEngine(Engine(small_model(), EngineConfig(**config)))


def test_concurrent_streams_get_their_own_tokens():
    async def main():
        aengine = make()

        async def consume(text, params):
            return [e.token_id async for e in aengine.generate(prompt(text), params)]

        params = [greedy(8, ignore_eos=True), SamplingParams(6, seed=5, ignore_eos=True)]
        got = await asyncio.gather(consume("abc", params[0]), consume("xyz", params[1]))
        steps = aengine.stats().steps
        await aengine.aclose()
        return got, steps, params

    (a, b), steps, params = asyncio.run(main())
    assert a == run_alone(prompt("abc"), params[0])
    assert b == run_alone(prompt("xyz"), params[1])
    assert steps == 8  # batched together: not 8 + 6


def test_tokens_arrive_one_step_at_a_time():
    async def main():
        aengine = make()
        seen = []
        async for event in aengine.generate(prompt("ab"), greedy(4, ignore_eos=True)):
            seen.append((event.index, aengine.stats().steps, event.finish_reason))
        await aengine.aclose()
        return seen

    assert asyncio.run(main()) == [(0, 1, None), (1, 2, None), (2, 3, None), (3, 4, "length")]


def test_invalid_requests_raise_before_anything_streams():
    async def main():
        aengine = make()
        with pytest.raises(ContextLengthError):
            aengine.generate([1] * 64, greedy(1))
        assert not aengine.engine.has_work()
        await aengine.aclose()

    asyncio.run(main())


def test_breaking_out_of_the_stream_aborts_and_frees_blocks():
    async def main():
        aengine = make()
        async for event in aengine.generate(prompt("hello"), greedy(40, ignore_eos=True)):
            if event.index == 2:
                break
        gc.collect()
        for _ in range(3):
            await asyncio.sleep(0)
        stats = aengine.stats()
        await aengine.aclose()
        return stats

    stats = asyncio.run(main())
    assert stats.aborted == 1 and stats.running == 0 and stats.blocks_used == 0
    assert stats.tokens_generated < 10


def test_a_cancelled_consumer_aborts_its_request():
    async def main():
        aengine = make()
        started = asyncio.Event()

        async def consume():
            async with aengine.generate(prompt("hi"), greedy(50, ignore_eos=True)) as stream:
                async for event in stream:
                    if event.index == 1:
                        started.set()

        other = aengine.generate(prompt("yo"), greedy(10, ignore_eos=True))
        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        tokens = [e.token_id async for e in other]  # the other request is unaffected
        stats = aengine.stats()
        await aengine.aclose()
        return stats, tokens

    stats, tokens = asyncio.run(main())
    assert tokens == run_alone(prompt("yo"), greedy(10, ignore_eos=True))
    assert stats.aborted == 1 and stats.finished == 1 and stats.blocks_used == 0


def test_explicit_abort_and_close():
    async def main():
        aengine = make()
        stream = aengine.generate(prompt("a"), greedy(30, ignore_eos=True), request_id="a")
        first = await stream.__anext__()
        aengine.abort("a")
        rest = [e async for e in stream]
        waiting = aengine.generate(prompt("b"), greedy(30, ignore_eos=True))
        await waiting.__anext__()
        await aengine.aclose()
        with pytest.raises(EngineStoppedError):
            await waiting.__anext__()
        with pytest.raises(EngineStoppedError):
            aengine.generate(prompt("c"), greedy(3))
        return first, rest, aengine.stats()

    first, rest, stats = asyncio.run(main())
    assert first.index == 0 and rest == []
    assert stats.running == stats.waiting == 0 and stats.blocks_used == 0


def test_steps_can_run_in_an_executor_thread():
    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            engine = Engine(small_model(), EngineConfig(block_size=4, num_blocks=64))
            aengine = AsyncEngine(engine, executor=pool)
            streams = [aengine.generate(prompt(t), greedy(6, ignore_eos=True)) for t in "abc"]
            got = [[e.token_id async for e in s] for s in streams]
            await aengine.aclose()
            return got

    got = asyncio.run(main())
    assert got == [run_alone(prompt(t), greedy(6, ignore_eos=True)) for t in "abc"]


def test_a_failing_model_fails_the_streams_not_the_engine():
    class Broken:
        def __init__(self, model):
            self.__dict__.update(
                {
                    k: getattr(model, k)
                    for k in ("name", "version", "vocab_size", "eos_id", "max_seq_len")
                }
            )
            self.model = model
            self.fail = True

        def new_cache(self):
            return self.model.new_cache()

        def forward(self, batch):
            if self.fail:
                self.fail = False
                raise RuntimeError("boom")
            return self.model.forward(batch)

    async def main():
        model = Broken(small_model())
        aengine = AsyncEngine(Engine(model, EngineConfig(block_size=4, num_blocks=64)))
        with pytest.raises(EngineStoppedError, match="boom"):
            async for _ in aengine.generate(prompt("a"), greedy(3)):
                pass
        after = [
            e.token_id async for e in aengine.generate(prompt("a"), greedy(3, ignore_eos=True))
        ]
        stats = aengine.stats()
        await aengine.aclose()
        return after, stats

    after, stats = asyncio.run(main())
    assert len(after) == 3 and stats.blocks_used == stats.blocks_cached


def test_abort_wakes_a_waiting_consumer_and_the_id_can_be_reused():
    async def main():
        aengine = make(max_num_seqs=1)
        blocker = aengine.generate(prompt("x"), greedy(20, ignore_eos=True))
        queued = aengine.generate(prompt("q"), greedy(5, ignore_eos=True), request_id="q")

        async def read_all(stream):
            return [e async for e in stream]

        reader = asyncio.create_task(read_all(queued))
        await blocker.__anext__()
        aengine.abort("q")  # still waiting in the engine's queue
        assert await reader == []
        again = aengine.generate(prompt("q"), greedy(2, ignore_eos=True), request_id="q")
        tokens = [e.token_id async for e in again]
        await blocker.aclose()
        await asyncio.sleep(0)
        stats = aengine.stats()
        await aengine.aclose()
        return tokens, stats

    tokens, stats = asyncio.run(main())
    assert tokens == run_alone(prompt("q"), greedy(2, ignore_eos=True))
    assert (stats.aborted, stats.finished) == (1, 2)  # "again" waited for the blocker to end
    assert stats.blocks_used == 0 and stats.running == stats.waiting == 0
