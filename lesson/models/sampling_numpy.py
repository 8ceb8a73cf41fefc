"""Sampling a whole step's tokens in numpy: the engine's rule, one array operation per stage.

:func:`sample_rows` picks one token per row of logits exactly as the engine's pure-Python
:func:`lesson.patterns.generative.sampling.pick` does, with the same random draws (each
request's own ``random.Random`` gives one number per token, drawn by the engine): greedy rows
take the first maximum; the others a softmax at their temperature (maximum subtracted, summed
left to right), a stable ranking (most likely first, lowest id on a tie), the nucleus of
``top_p`` (summed left to right) and the walk that subtracts each probability from
``draw * total`` until it goes below 0. Every stage is the same IEEE arithmetic in the same
order (on CPython 3.11; 3.12's ``sum()`` compensates its rounding) except one: numpy's ``exp``
differs from ``math.exp`` in the last bit for ~5 % of values on this AVX-512 machine, so the
two samplers can disagree only when a draw falls within ~1e-16 of the boundary between two
tokens: none in 102,400 random draws (2026-12-07); a contrived draw of 1 - 2**-53 found one.
Each path gives the same tokens for the same seed, and the engine's tests check the two agree.

    >>> import numpy as np
    >>> sample_rows(np.array([[0.1, 3.0, 0.2], [0.0, 0.0, 9.0]]), [0.0, 1.0], [1.0, 1.0], [0.0, 0.5])
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["sample_rows"]


def sample_rows(
    logits: np.ndarray,
    temperature: Sequence[float],
    top_p: Sequence[float],
    draws: Sequence[float],
) -> list[int]:
    """One token id per row of ``logits`` (rows, vocabulary); see the module docstring."""
    hot = [i for i, t in enumerate(temperature) if t > 0]
    if not hot:
        return logits.argmax(axis=1).tolist()
    if len(hot) == len(temperature):
        return _sample_hot(logits, temperature, top_p, draws).tolist()
    tokens = logits.argmax(axis=1)
    tokens[hot] = _sample_hot(
        logits[hot],
        [temperature[i] for i in hot],
        [top_p[i] for i in hot],
        [draws[i] for i in hot],
    )
    return tokens.tolist()


def _sample_hot(
    x: np.ndarray, temperature: Sequence[float], top_p: Sequence[float], draws: Sequence[float]
) -> np.ndarray:
    rows, vocab = x.shape
    z = x - x.max(axis=1, keepdims=True)
    if any(t != 1 for t in temperature):  # x / 1.0 == x: skipped, as the pure-Python softmax does
        z /= np.asarray(temperature, dtype=np.float64)[:, None]
    e = np.exp(z)
    probs = e / np.cumsum(e, axis=1)[:, -1:]  # cumsum: added left to right, like sum()
    order = np.argsort(-probs, axis=1, kind="stable")
    base = np.arange(0, rows * vocab, vocab)
    ranked = probs.take(order + base[:, None])
    running = np.cumsum(ranked, axis=1)
    # the nucleus: up to the first rank whose running total reaches top_p (all if none does)
    kept = np.full(rows, vocab)
    for i, p in enumerate(top_p):
        if p < 1.0:
            reached = np.flatnonzero(running[i] >= p)
            if reached.size:
                kept[i] = reached[0] + 1
    walk = np.empty((rows, vocab + 1))
    walk[:, 0] = np.asarray(draws, dtype=np.float64) * running.take(base + kept - 1)
    walk[:, 1:] = ranked
    below = np.subtract.accumulate(walk, axis=1)[:, 1:] < 0  # point -= p, left to right
    at = below.argmax(axis=1)  # the first rank below 0 (0 if none: checked next)
    missed = ~below.take(base + at) | (at >= kept)
    at[missed] = kept[missed] - 1
    return order.take(base + at)
