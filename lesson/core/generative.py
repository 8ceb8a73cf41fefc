"""The generative-model protocol: what the serving engine codes against, and sampling.

A language model here maps token ids to next-token logits, one sequence at a time or many at
once. Each sequence owns a :class:`KVCache` (its keys and values, per layer), so the engine
can schedule at the level of single iterations: prefill a new prompt (many tokens) and decode
running sequences (one token each) in the same call to :meth:`LanguageModel.forward`.
Standard library only (it runs in Pyodide); the models live in :mod:`lesson.models.lm`
(pure Python) and :mod:`lesson.models.lm_numpy` (numpy, batched decode).

    >>> from lesson.core.generative import sample_token
    >>> sample_token([0.1, 2.0, 0.3])                 # temperature 0: greedy
    1
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class KVCache(Protocol):
    """One sequence's keys and values, per layer."""

    def __len__(self) -> int:
        """Positions held."""
        ...

    def copy_prefix(self, n: int) -> KVCache:
        """A new cache holding the first ``n`` positions (prefix caching)."""
        ...


@runtime_checkable
class LanguageModel(Protocol):
    """A decoder-only language model over token ids, served one iteration at a time."""

    name: str
    version: str
    vocab_size: int
    eos_id: int
    max_seq_len: int

    def new_cache(self) -> KVCache:
        """An empty cache for a new sequence."""
        ...

    def forward(self, batch: list[tuple[list[int], KVCache]]) -> list[list[float]]:
        """For each ``(new_tokens, cache)``: run ``new_tokens`` at positions ``len(cache)``..,
        append their keys/values to ``cache``, return the logits (``vocab_size`` floats) after
        the LAST new token. Prefill = many new tokens; decode = one."""
        ...

    def encode(self, text: str) -> list[int]:
        """Text to token ids (UTF-8 bytes)."""
        ...

    def decode(self, ids: list[int]) -> str:
        """Token ids to text (``errors="replace"``); end-of-text ids are dropped."""
        ...


#: One sequence to sample in a step: (its row in the batch, temperature, top_p, draw), where
#: ``draw`` is the request's own uniform random number in [0, 1) (unused when greedy).
Pick = tuple[int, float, float, float]


@runtime_checkable
class BatchSampling(Protocol):
    """A model that also samples, a whole step at once (optional; the numpy model does).

    The serving engine calls :meth:`forward_sample` instead of ``forward`` when the model has
    it, so the logits never leave the model's arrays. The rule is the engine's
    (:func:`lesson.patterns.generative.sampling.pick`): greedy at temperature 0, else a
    softmax at the temperature, the nucleus of ``top_p``, and the token where ``draw`` falls.
    """

    def forward_sample(
        self, batch: list[tuple[list[int], KVCache]], picks: list[Pick]
    ) -> list[int]:
        """``forward(batch)``, then one token id per pick, in the order of ``picks``."""
        ...


def softmax(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    """Probabilities from logits at ``temperature`` (> 0), computed stably."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 for softmax, got {temperature}")
    top = max(logits)
    exp = math.exp
    if temperature == 1:  # x / 1.0 == x exactly: the same numbers, one division fewer each
        exps = [exp(x - top) for x in logits]
    else:
        exps = [exp((x - top) / temperature) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


def sample_token(
    logits: Sequence[float],
    temperature: float = 0.0,
    rng: random.Random | None = None,
    top_k: int | None = None,
) -> int:
    """Pick the next token id from ``logits``.

    Args:
        logits: one score per vocabulary entry.
        temperature: 0 picks the most likely token (greedy, ties to the lowest id); above 0
            samples from ``softmax(logits / temperature)``.
        rng: the random source for sampling (seed it for repeatable text).
        top_k: if given, sample only among the ``top_k`` most likely tokens.

    Returns:
        The chosen token id.
    """
    if not logits:
        raise ValueError("no logits to sample from")
    if temperature <= 0:
        return max(range(len(logits)), key=lambda i: (logits[i], -i))
    ids = list(range(len(logits)))
    if top_k is not None and 0 < top_k < len(ids):
        ids = sorted(ids, key=lambda i: (-logits[i], i))[:top_k]
    probs = softmax([logits[i] for i in ids], temperature)
    rng = rng if rng is not None else random.Random()
    u = rng.random()
    acc = 0.0
    for i, p in zip(ids, probs):
        acc += p
        if u < acc:
            return i
    return ids[-1]


def generate(
    model: LanguageModel,
    prompt: str,
    max_new_tokens: int = 64,
    *,
    temperature: float = 0.0,
    seed: int | None = None,
    top_k: int | None = None,
    stop_at_eos: bool = True,
) -> str:
    """Continue ``prompt`` with ``model``, one sequence, using its KV cache.

    Greedy when ``temperature`` is 0; otherwise seeded sampling (the same ``seed`` gives the
    same text). Stops at end-of-text, after ``max_new_tokens``, or at the model's context.

    Returns:
        The generated continuation (without the prompt).
    """
    rng = random.Random(seed)
    ids = model.encode(prompt)
    if not ids:
        ids = [model.eos_id]  # start a fresh document
    room = model.max_seq_len - len(ids)
    if room <= 0:
        raise ValueError(
            f"the prompt is {len(ids)} tokens; the model's context is {model.max_seq_len}"
        )
    cache = model.new_cache()
    out: list[int] = []
    new = ids
    for _ in range(min(max_new_tokens, room)):
        (logits,) = model.forward([(new, cache)])
        token = sample_token(logits, temperature, rng, top_k)
        if token == model.eos_id and stop_at_eos:
            break
        out.append(token)
        new = [token]
    return model.decode(out)
