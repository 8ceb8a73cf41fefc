"""The generative model protocol: what a serving engine needs from a language model.

A :class:`LanguageModel` turns token ids into next-token logits, one batch of sequences per
call. Each sequence carries its own :class:`KVCache` (the keys and values of every position it
has seen, per layer), so a call only computes the NEW tokens: many at once for a prompt
(prefill), one per step afterwards (decode). Standard library only: this is a contract, the
models live in :mod:`lesson.models`, the engine in :mod:`lesson.patterns.generative`.

A cache is append-only: ``forward`` adds positions at the end and nothing changes the ones
already held, so the first ``n`` positions of a cache stay valid for as long as it lives (the
engine's prefix cache relies on it and copies them out with ``copy_prefix``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["KVCache", "LanguageModel"]


@runtime_checkable
class KVCache(Protocol):
    """One sequence's keys/values, per layer."""

    def __len__(self) -> int:
        """Positions held."""
        ...

    def copy_prefix(self, n: int) -> KVCache:
        """A new cache holding the first ``n`` positions."""
        ...


@runtime_checkable
class LanguageModel(Protocol):
    """A next-token model with a per-sequence cache (see the module docstring)."""

    name: str
    version: str
    vocab_size: int
    eos_id: int
    max_seq_len: int

    def new_cache(self) -> KVCache:
        """An empty cache for a new sequence."""
        ...

    def forward(self, batch: list[tuple[list[int], KVCache]]) -> list[list[float]]:
        """For each (new_tokens, cache): run new_tokens at positions len(cache).., append their
        keys/values to cache, return the logits after the LAST new token (prefill = many, decode = one)."""
        ...

    def encode(self, text: str) -> list[int]:
        """Text to token ids."""
        ...

    def decode(self, ids: list[int]) -> str:
        """Token ids to text."""
        ...
