"""The engine drivers in-process: the real engine and the n-gram stand-in, no HTTP."""

from __future__ import annotations

import asyncio

import pytest
from llm_test_models import SlowLM

from lesson.models.ngram import pydoc_ngram
from lesson.patterns.generative import Engine, EngineConfig, GenerationError, SamplingParams
from lesson.servers.llm.driver import make_driver


def alone(prompt, params):
    engine = Engine(pydoc_ngram(), EngineConfig())
    rid = engine.add_request(prompt, params)
    out = []
    while engine.has_work():
        out += [e.token_id for e in engine.step() if e.request_id == rid]
    return out


@pytest.mark.parametrize("where", ["loop", "thread"])
def test_driven_sequences_get_the_tokens_they_would_get_alone(where):
    params = [
        SamplingParams(max_tokens=12, temperature=1.0, seed=i, ignore_eos=True) for i in range(4)
    ]
    prompts = [list(f"prompt {i}".encode()) for i in range(4)]

    async def main():
        driver = make_driver(Engine(pydoc_ngram(), EngineConfig(max_num_seqs=2)), where)
        await driver.start()
        try:

            async def one(prompt, p):
                seq = await driver.add(prompt, p)
                tokens = []
                while True:
                    event = await seq.events.get()
                    tokens.append(event.token_id)
                    if event.finish_reason is not None:
                        return tokens

            return await asyncio.gather(
                *(one(pr, p) for pr, p in zip(prompts, params, strict=True))
            )
        finally:
            await driver.stop()

    got = asyncio.run(main())
    assert got == [alone(pr, p) for pr, p in zip(prompts, params, strict=True)]


@pytest.mark.parametrize("where", ["loop", "thread"])
def test_bad_params_raise_on_add_and_abort_frees_blocks(where):
    async def main():
        # 5 ms a step: the abort lands long before 400 tokens (the bare n-gram model, on a
        # thread, once finished all 400 before the abort was applied)
        engine = Engine(SlowLM(), EngineConfig(prefix_caching=False))
        driver = make_driver(engine, where)
        await driver.start()
        try:
            with pytest.raises(GenerationError):
                await driver.add([104], SamplingParams(max_tokens=4, top_p=0.0))
            seq = await driver.add([104, 105], SamplingParams(max_tokens=400, ignore_eos=True))
            await seq.events.get()
            driver.abort(seq)
            for _ in range(200):
                await asyncio.sleep(0.01)
                stats = engine.stats()
                if stats.running == 0 and stats.blocks_used == 0:
                    return stats
            raise AssertionError(engine.stats())
        finally:
            await driver.stop()

    stats = asyncio.run(main())
    assert stats.aborted == 1
