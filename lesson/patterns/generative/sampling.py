"""Choosing the next token: sampling parameters, a stable softmax, temperature and top-p.

Temperature 0 is greedy (the highest logit; the lowest id on a tie). Otherwise the logits are
divided by the temperature, turned into probabilities with a softmax that subtracts the
maximum first (so ``exp`` never overflows), cut to the smallest set of most likely tokens whose
probabilities add up to ``top_p`` (nucleus sampling), and one token is drawn with the
request's own ``random.Random``: the same seed gives the same tokens. The softmax is the
core's (:func:`lesson.core.generative.softmax`). :func:`pick` is the rule for one draw
(:func:`draw`); the numpy model follows it for a whole step at once
(``lesson.models.sampling_numpy``), from the same draws. Standard library only.

    >>> softmax([1.0, 1.0])
    [0.5, 0.5]
    >>> sample([0.1, 3.0, 0.2], SamplingParams(max_tokens=1, temperature=0.0), None)
    1
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from lesson.core.generative import softmax
from lesson.patterns.generative.errors import InvalidSamplingParamsError

__all__ = ["SamplingParams", "check_params", "draw", "pick", "sample", "softmax", "top_p_filter"]


@dataclass(frozen=True)
class SamplingParams:
    """How one request is sampled and when it stops.

    ``max_tokens``: tokens to generate at most; ``temperature`` (0 = greedy); ``top_p`` in
    (0, 1]; ``seed`` for a reproducible draw (None: a fresh random seed); ``stop_token_ids``
    end the request like the end-of-sequence token; ``ignore_eos`` keeps going past it.
    """

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False


def check_params(params: SamplingParams, vocab_size: int | None = None) -> None:
    """Raise :class:`InvalidSamplingParamsError` if a parameter is out of range."""

    def bad(message: str) -> InvalidSamplingParamsError:
        return InvalidSamplingParamsError(message)

    if not isinstance(params, SamplingParams):
        raise bad(f"params must be SamplingParams, got {type(params).__name__}")
    if isinstance(params.max_tokens, bool) or not isinstance(params.max_tokens, int):
        raise bad(f"max_tokens must be an integer, got {params.max_tokens!r}")
    if params.max_tokens < 1:
        raise bad(f"max_tokens must be at least 1, got {params.max_tokens}")
    temperature = params.temperature
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise bad(f"temperature must be a number, got {temperature!r}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise bad(f"temperature must be a finite number >= 0, got {temperature}")
    top_p = params.top_p
    if isinstance(top_p, bool) or not isinstance(top_p, int | float):
        raise bad(f"top_p must be a number, got {top_p!r}")
    if not 0 < top_p <= 1:
        raise bad(f"top_p must be in (0, 1], got {top_p}")
    if params.seed is not None and (
        isinstance(params.seed, bool) or not isinstance(params.seed, int)
    ):
        raise bad(f"seed must be an integer or None, got {params.seed!r}")
    if not isinstance(params.stop_token_ids, tuple | list | frozenset | set):
        raise bad(f"stop_token_ids must be a sequence of token ids, got {params.stop_token_ids!r}")
    for token in params.stop_token_ids:
        if isinstance(token, bool) or not isinstance(token, int):
            raise bad(f"stop_token_ids must be integers, got {token!r}")
        if vocab_size is not None and not 0 <= token < vocab_size:
            raise bad(f"stop token id {token} outside the vocabulary 0..{vocab_size - 1}")


def top_p_filter(probs: list[float], top_p: float) -> list[tuple[int, float]]:
    """The smallest set of most likely (token, probability) whose probabilities reach ``top_p``."""
    # most likely first, the lowest id first on a tie: a stable sort on the probability alone
    # (reverse=True keeps equal keys in their original order), about 2x faster than sorting
    # (-p, id) tuples, and the same order, so the same seed still draws the same tokens
    ranked = [
        (token, probs[token])
        for token in sorted(range(len(probs)), key=probs.__getitem__, reverse=True)
    ]
    if top_p >= 1.0:
        return ranked
    kept, total = [], 0.0
    for token, p in ranked:
        kept.append((token, p))
        total += p
        if total >= top_p:
            break
    return kept


def pick(logits: list[float], temperature: float, top_p: float, draw: float) -> int:
    """The next token id for one draw in [0, 1): greedy at temperature 0 (``draw`` unused).

    The walk is fixed (models that sample themselves, :class:`lesson.core.generative.BatchSampling`,
    follow it): most likely first, subtract each probability from ``draw`` times the nucleus's
    total, the token where it goes below 0.
    """
    if temperature == 0:
        return max(range(len(logits)), key=logits.__getitem__)
    candidates = top_p_filter(softmax(logits, temperature), top_p)
    total = sum([p for _, p in candidates])
    point = draw * total
    for token, p in candidates:
        point -= p
        if point < 0:
            return token
    return candidates[-1][0]


def draw(params: SamplingParams, rng: random.Random | None) -> float:
    """The request's random number for its next token (none is drawn when greedy)."""
    return 0.0 if params.temperature == 0 else (rng or random).random()


def sample(logits: list[float], params: SamplingParams, rng: random.Random | None) -> int:
    """The next token id: greedy at temperature 0, else drawn with ``rng``."""
    return pick(logits, params.temperature, params.top_p, draw(params, rng))
