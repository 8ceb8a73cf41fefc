"""The simulated accelerator for a language model: the same tokens, a step cost of real time."""

from __future__ import annotations

import time

import pytest

from lesson.models.accelerator_lm import SimulatedAcceleratorLM
from lesson.models.lm_numpy import load_tiny_lm_numpy
from lesson.models.ngram import pydoc_ngram
from lesson.patterns.generative import Engine, EngineConfig, SamplingParams


def _tokens(model) -> dict[str, list[int]]:
    engine = Engine(model, EngineConfig(max_num_seqs=4, num_blocks=64))
    for i, text in enumerate(("The ", "A list ", "Return ", "If the ")):
        params = SamplingParams(max_tokens=12, temperature=0.8, seed=i, ignore_eos=True)
        engine.add_request(model.encode(text), params)
    out: dict[str, list[int]] = {}
    for event in engine.run():
        out.setdefault(event.request_id, []).append(event.token_id)
    return out


@pytest.mark.parametrize("make", [pydoc_ngram, load_tiny_lm_numpy], ids=["ngram", "numpy"])
def test_the_engine_makes_the_inner_models_tokens(make):
    inner = make()
    sim = SimulatedAcceleratorLM(inner, fixed_cost_s=0.0005, per_token_s=0.0)
    assert list(_tokens(sim).values()) == list(_tokens(make()).values())
    # the numpy model samples a whole step itself; the wrapper offers that only when it can
    assert hasattr(sim, "forward_sample") == hasattr(inner, "forward_sample")
    assert sim.steps > 0 and sim.tokens >= sim.steps
    assert sim.name == f"{inner.name}-simulated-accelerator"


def test_a_step_holds_the_device_for_its_cost():
    sim = SimulatedAcceleratorLM(pydoc_ngram(), fixed_cost_s=0.01, per_token_s=0.001)
    assert sim.step_cost_s(8) == pytest.approx(0.018)
    caches = [sim.new_cache() for _ in range(8)]
    prompt = sim.encode("The")
    started = time.perf_counter()
    sim.forward([(prompt, cache) for cache in caches])  # 8 prefills of 3 tokens: 24 tokens
    assert time.perf_counter() - started >= sim.step_cost_s(24)
    assert (sim.steps, sim.tokens) == (1, 24)


def test_bad_input_raises_before_any_device_time():
    sim = SimulatedAcceleratorLM(pydoc_ngram(), fixed_cost_s=0.01)
    with pytest.raises(ValueError):
        sim.forward([([10**6], sim.new_cache())])
    assert sim.steps == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [({"fixed_cost_s": 2}, "fixed_cost_s"), ({"per_token_s": -1}, "per_token_s")],
)
def test_bounds(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimulatedAcceleratorLM(pydoc_ngram(), **kwargs)


def test_the_llm_server_serves_it_by_name():
    from lesson.servers.llm.options import LLMOptions
    from lesson.servers.llm.state import load_model

    model = load_model(LLMOptions(impl="accelerator").impl)
    assert isinstance(model, SimulatedAcceleratorLM)
    assert model.name == "tiny-lm-simulated-accelerator" and model.simulated
