"""Sampling: a stable softmax, greedy, temperature, top-p, seeds, and the parameter checks."""

from __future__ import annotations

import math
import random

import pytest

from lesson.patterns.generative import InvalidSamplingParamsError, SamplingParams
from lesson.patterns.generative.sampling import check_params, sample, softmax, top_p_filter


def test_softmax_is_stable_for_huge_logits():
    probs = softmax([1000.0, 1000.0, -1000.0])
    assert probs[:2] == [0.5, 0.5] and probs[2] == 0.0
    assert math.isclose(sum(softmax([3.0, 1.0, -2.0], temperature=0.5)), 1.0)


def test_temperature_sharpens_and_flattens():
    logits = [2.0, 1.0, 0.0]
    assert softmax(logits, 0.1)[0] > softmax(logits, 1.0)[0] > softmax(logits, 10.0)[0]


def test_greedy_takes_the_highest_logit_lowest_id_on_ties():
    params = SamplingParams(max_tokens=1, temperature=0)
    assert sample([0.0, 5.0, 5.0, 1.0], params, None) == 1


def test_top_p_keeps_the_smallest_nucleus():
    assert [t for t, _ in top_p_filter([0.1, 0.6, 0.3], 0.7)] == [1, 2]
    assert [t for t, _ in top_p_filter([0.1, 0.6, 0.3], 0.5)] == [1]
    # a tiny top_p is greedy whatever the draw
    params = SamplingParams(max_tokens=1, temperature=1.0, top_p=1e-9)
    assert {sample([0.0, 2.0, 1.0], params, random.Random(s)) for s in range(50)} == {1}


def test_the_same_seed_draws_the_same_tokens():
    logits = [0.0] * 50
    params = SamplingParams(max_tokens=1, temperature=1.0, seed=7)
    a = [sample(logits, params, r) for r in [random.Random(7)] for _ in range(30)]
    b = [sample(logits, params, r) for r in [random.Random(7)] for _ in range(30)]
    c = [sample(logits, params, r) for r in [random.Random(8)] for _ in range(30)]
    assert a == b and a != c


def test_sampling_follows_the_probabilities():
    rng = random.Random(0)
    params = SamplingParams(max_tokens=1, temperature=1.0)
    logits = [math.log(0.8), math.log(0.2)]
    draws = [sample(logits, params, rng) for _ in range(4000)]
    assert 0.75 < draws.count(0) / len(draws) < 0.85


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"max_tokens": 0}, "max_tokens must be at least 1"),
        ({"max_tokens": 2.5}, "max_tokens must be an integer"),
        ({"max_tokens": 1, "temperature": -0.1}, "temperature"),
        ({"max_tokens": 1, "temperature": float("nan")}, "temperature"),
        ({"max_tokens": 1, "top_p": 0}, "top_p must be in (0, 1]"),
        ({"max_tokens": 1, "top_p": 1.5}, "top_p"),
        ({"max_tokens": 1, "seed": "x"}, "seed"),
        ({"max_tokens": 1, "stop_token_ids": (999,)}, "outside the vocabulary"),
    ],
)
def test_bad_parameters_raise_the_typed_error(kwargs, words):
    with pytest.raises(InvalidSamplingParamsError, match=None) as info:
        check_params(SamplingParams(**kwargs), vocab_size=257)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def _top_p_filter_before(probs, top_p):
    """The first implementation: sorted (-p, id) tuples."""
    ranked = sorted(enumerate(probs), key=lambda item: (-item[1], item[0]))
    if top_p >= 1.0:
        return ranked
    kept, total = [], 0.0
    for token, p in ranked:
        kept.append((token, p))
        total += p
        if total >= top_p:
            break
    return kept


def test_top_p_filter_ranks_as_before_so_seeds_draw_the_same_tokens():
    """Most likely first, the lowest id on a tie, exactly as the first implementation ranked
    (ties included), so a seed draws the same tokens as before the faster sort."""
    rng = random.Random(3)
    for _ in range(300):
        probs = [rng.choice([0.0, 0.125, 0.25, rng.random()]) for _ in range(rng.randint(1, 40))]
        for top_p in (1.0, 0.9, 0.5, rng.random()):
            assert top_p_filter(probs, top_p) == _top_p_filter_before(probs, top_p)
