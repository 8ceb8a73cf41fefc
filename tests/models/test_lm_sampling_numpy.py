"""The numpy sampler picks the tokens the engine's pure-Python sampler picks, from the same draws.

The numpy model samples a whole step at once (``forward_sample``); the engine uses it when a
model has it and :func:`lesson.patterns.generative.sampling.pick` per row otherwise (the pure
Python model, the browser). Same seed, same text on each path, and the same text on both.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from lesson.core.generative import BatchSampling
from lesson.models.lm_numpy import load_tiny_lm_numpy
from lesson.models.sampling_numpy import sample_rows
from lesson.patterns.generative import Engine, EngineConfig, SamplingParams
from lesson.patterns.generative.sampling import pick


@pytest.fixture(scope="module")
def np_model():
    return load_tiny_lm_numpy()


def test_sample_rows_agrees_with_pick_on_random_logits_and_draws():
    gen, rng = np.random.default_rng(1), random.Random(2)
    for _ in range(100):
        logits = gen.standard_normal((8, 257)) * rng.choice([0.5, 3.0, 10.0])
        temps = [rng.choice([0.0, 0.3, 1.0, 1.7]) for _ in range(8)]
        top_ps = [rng.choice([1.0, 0.99, 0.9, 0.5, 1e-9]) for _ in range(8)]
        for _ in range(8):
            draws = [rng.choice([rng.random(), 0.0]) for _ in range(8)]
            rows = logits.tolist()
            expected = [pick(r, t, p, u) for r, t, p, u in zip(rows, temps, top_ps, draws)]
            assert sample_rows(logits, temps, top_ps, draws) == expected


def test_greedy_rows_take_the_first_maximum():
    logits = np.array([[0.0, 5.0, 5.0, 1.0], [2.0, 2.0, 0.0, 0.0]])
    assert sample_rows(logits, [0.0, 0.0], [1.0, 1.0], [0.9, 0.1]) == [1, 0]


class _NoBatchSampling:
    """The numpy model without ``forward_sample``: the engine samples each row in Python."""

    def __init__(self, model) -> None:
        self._model = model

    def __getattr__(self, name):
        if name == "forward_sample":
            raise AttributeError(name)
        return getattr(self._model, name)


def _texts(model, seeds: range) -> list[list[int]]:
    engine = Engine(model, EngineConfig(max_num_seqs=8, num_blocks=64))
    ids = []
    for seed in seeds:
        params = SamplingParams(
            max_tokens=24,
            temperature=(0.0, 0.7, 1.0, 1.3)[seed % 4],
            top_p=(1.0, 0.9)[seed % 2],
            seed=seed,
            ignore_eos=True,
        )
        ids.append(engine.add_request(model.encode("The "), params))
    tokens: dict[str, list[int]] = {}
    for event in engine.run():
        tokens.setdefault(event.request_id, []).append(event.token_id)
    return [tokens[i] for i in ids]


def test_the_engine_gives_the_same_tokens_with_either_sampler(np_model):
    assert isinstance(np_model, BatchSampling)
    assert not isinstance(_NoBatchSampling(np_model), BatchSampling)
    numpy_path = _texts(np_model, range(16))
    assert numpy_path == _texts(np_model, range(16))  # same seeds, same tokens
    assert numpy_path == _texts(_NoBatchSampling(np_model), range(16))
