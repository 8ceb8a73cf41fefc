"""A language model that SIMULATES an accelerator's step cost, for continuous batching.

Not real hardware. On a GPU, one decode step of a small batch costs about the same as a step of
one sequence: the step is bound by reading the weights, not by arithmetic, so a step has a large
fixed cost and a small cost per token. That is the cost shape continuous batching exploits: a
slot freed early is filled at once, for almost nothing. On this CPU the tiny transformer's step
cost grows with the batch, so the same scheduler buys far less (``benchmarks/bench_generative.py``
measures both).

This wrapper keeps the real model's tokens and adds the simulated shape: each ``forward`` (one
engine step) first computes with the wrapped model, then holds a simulated device for
``fixed_cost_s + per_token_s * tokens`` (the step's new tokens: one per decoding sequence, a
prompt's length per prefill), one step at a time. The wait is ``time.sleep``, so the CPU stays
free, as it would while a device computes.

    >>> from lesson.models.accelerator_lm import SimulatedAcceleratorLM
    >>> from lesson.models.ngram import pydoc_ngram
    >>> lm = SimulatedAcceleratorLM(pydoc_ngram())
    >>> lm.step_cost_s(8)      # a decode step of 8 sequences: 4 ms + 8 x 20 µs
    0.00416
"""

from __future__ import annotations

import threading
from typing import Any

from lesson.core.generative import KVCache, LanguageModel, Pick
from lesson.models.accelerator import hold_device

__all__ = ["SimulatedAcceleratorLM", "DEFAULT_STEP_COST_S", "DEFAULT_PER_TOKEN_S"]

DEFAULT_STEP_COST_S = 0.004
DEFAULT_PER_TOKEN_S = 20e-6


class SimulatedAcceleratorLM:
    """SIMULATED accelerator: each step costs ``fixed_cost_s + per_token_s * new tokens``.

    Args:
        inner: the real language model that computes the logits (and samples, when it can).
        fixed_cost_s: simulated fixed cost of one step, seconds (0 .. 1).
        per_token_s: simulated cost per new token in the step, seconds (0 .. 0.01).
        name: served name (default ``<inner>-simulated-accelerator``).

    Attributes:
        steps: ``forward`` calls so far; tokens: new tokens run so far.
    """

    simulated = True

    def __init__(
        self,
        inner: LanguageModel,
        *,
        fixed_cost_s: float = DEFAULT_STEP_COST_S,
        per_token_s: float = DEFAULT_PER_TOKEN_S,
        name: str | None = None,
    ) -> None:
        if not 0 <= fixed_cost_s <= 1:
            raise ValueError(f"fixed_cost_s must be in 0..1 s, got {fixed_cost_s}")
        if not 0 <= per_token_s <= 0.01:
            raise ValueError(f"per_token_s must be in 0..0.01 s, got {per_token_s}")
        self.inner = inner
        self.fixed_cost_s = fixed_cost_s
        self.per_token_s = per_token_s
        self.name = name or f"{inner.name}-simulated-accelerator"
        self.version = inner.version
        self.vocab_size = inner.vocab_size
        self.eos_id = inner.eos_id
        self.max_seq_len = inner.max_seq_len
        self.steps = 0
        self.tokens = 0
        self._lock = threading.Lock()
        if callable(getattr(inner, "forward_sample", None)):
            # only a model that samples itself offers it (the engine looks for the attribute)
            self.forward_sample = self._forward_sample

    def step_cost_s(self, n_tokens: int) -> float:
        """Simulated device time of one step that runs ``n_tokens`` new tokens."""
        return round(self.fixed_cost_s + self.per_token_s * n_tokens, 9)

    def new_cache(self) -> KVCache:
        return self.inner.new_cache()

    def forward(self, batch: list[tuple[list[int], KVCache]]) -> list[list[float]]:
        """The wrapped model's logits, then the step's simulated device time (blocks)."""
        out = self.inner.forward(batch)  # bad input raises here and costs no device time
        self._hold(batch)
        return out

    def _forward_sample(
        self, batch: list[tuple[list[int], KVCache]], picks: list[Pick]
    ) -> list[int]:
        out = self.inner.forward_sample(batch, picks)  # type: ignore[attr-defined]
        self._hold(batch)
        return out

    def _hold(self, batch: list[tuple[list[int], Any]]) -> None:
        n_tokens = sum(len(tokens) for tokens, _ in batch)
        with self._lock:
            hold_device(self.step_cost_s(n_tokens))
            self.steps += 1
            self.tokens += n_tokens

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.inner.decode(ids)

    def __repr__(self) -> str:
        return (
            f"SimulatedAcceleratorLM({self.inner.name!r}, fixed_cost_s={self.fixed_cost_s}, "
            f"per_token_s={self.per_token_s})"
        )
