"""A byte-level n-gram language model: a fast, genuine stand-in for the tiny transformer.

Counts every run of ``order`` bytes in a text (by default Python's own help topics,
``pydoc_data.topics``, which ship with the standard library), then predicts the next byte by
interpolating the counts of the longest contexts seen (order-1 bytes back, fewer, none) with a
little uniform mass, so no token has probability zero. Its logits are log-probabilities.

It implements :class:`lesson.core.generative.LanguageModel` exactly as the transformer does:
token ids are the 256 byte values plus an end-of-sequence id (256); each sequence has its own
:class:`NgramCache` holding every position it has seen (for a count model the "keys and
values" of a position are its token), and ``forward`` takes a batch of (new tokens, cache)
pairs: a prefill of many tokens or a decode of one. So the serving engine
(:mod:`lesson.patterns.generative`) runs on it unchanged, in the browser too. Standard library
only.

    >>> model = NgramModel.train(["abcabcabc"], order=3)
    >>> cache = model.new_cache()
    >>> logits = model.forward([(model.encode("ab"), cache)])[0]
    >>> model.decode([max(range(model.vocab_size), key=logits.__getitem__)]), len(cache)
    ('c', 2)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

__all__ = ["NgramCache", "NgramModel", "pydoc_ngram"]

EOS_ID = 256
VOCAB_SIZE = 257
# interpolation weights, longest context first; the rest of the mass is spread uniformly
_WEIGHTS = (0.6, 0.25, 0.1, 0.04, 0.01)
_UNIFORM = 0.01


class NgramCache:
    """One sequence's history: the tokens at positions 0..len-1 (append-only)."""

    __slots__ = ("tokens",)

    def __init__(self, tokens: Iterable[int] = ()) -> None:
        self.tokens: list[int] = list(tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def copy_prefix(self, n: int) -> NgramCache:
        """A new cache holding the first ``n`` positions."""
        if not 0 <= n <= len(self.tokens):
            raise ValueError(f"copy_prefix({n}) of a cache holding {len(self.tokens)} positions")
        return NgramCache(self.tokens[:n])

    def __repr__(self) -> str:
        return f"NgramCache(len={len(self.tokens)})"


class NgramModel:
    """Interpolated byte n-gram counts; see the module docstring. Build with :meth:`train`."""

    vocab_size = VOCAB_SIZE
    eos_id = EOS_ID

    def __init__(
        self,
        counts: list[dict[tuple[int, ...], dict[int, int]]],
        *,
        name: str = "ngram",
        version: str = "1",
        max_seq_len: int = 512,
    ) -> None:
        if not 1 <= len(counts) <= len(_WEIGHTS):
            raise ValueError(f"order must be between 1 and {len(_WEIGHTS)}, got {len(counts)}")
        if max_seq_len < 2:
            raise ValueError(f"max_seq_len must be at least 2, got {max_seq_len}")
        self.name = name
        self.version = version
        self.max_seq_len = max_seq_len
        self.order = len(counts)
        # counts[k][context of k tokens][next token] = how often
        self._counts = counts
        self._totals = [{ctx: sum(nxt.values()) for ctx, nxt in table.items()} for table in counts]
        self._rows: dict[tuple[int, ...], list[float]] = {}

    @classmethod
    def train(
        cls, texts: Iterable[str], *, order: int = 3, max_seq_len: int = 512, name: str = "ngram"
    ) -> NgramModel:
        """Count the n-grams of ``texts`` (each one ends with the end-of-sequence token)."""
        if not 1 <= order <= len(_WEIGHTS):
            raise ValueError(f"order must be between 1 and {len(_WEIGHTS)}, got {order}")
        counts: list[dict[tuple[int, ...], dict[int, int]]] = [{} for _ in range(order)]
        for text in texts:
            ids = list(text.encode("utf-8")) + [EOS_ID]
            for i, token in enumerate(ids):
                for k in range(min(order - 1, i) + 1):
                    row = counts[k].setdefault(tuple(ids[i - k : i]), {})
                    row[token] = row.get(token, 0) + 1
        return cls(counts, name=name, version=f"order{order}", max_seq_len=max_seq_len)

    # -- the LanguageModel protocol -------------------------------------------------------

    def new_cache(self) -> NgramCache:
        return NgramCache()

    def forward(self, batch: list[tuple[list[int], NgramCache]]) -> list[list[float]]:
        """For each (new_tokens, cache): append new_tokens to cache, return the logits
        (log-probabilities) of the token after the last one."""
        out = []
        for new_tokens, cache in batch:
            if not new_tokens:
                raise ValueError("forward needs at least one new token per sequence")
            if len(cache) + len(new_tokens) > self.max_seq_len:
                raise ValueError(
                    f"{len(cache)} cached + {len(new_tokens)} new positions exceed the "
                    f"context of {self.max_seq_len}"
                )
            for token in new_tokens:
                if not 0 <= token < VOCAB_SIZE:
                    raise ValueError(f"token id {token} outside the vocabulary 0..{VOCAB_SIZE - 1}")
            cache.tokens.extend(new_tokens)
            context = tuple(cache.tokens[len(cache.tokens) - (self.order - 1) :])
            out.append(list(self._logits(context)))
        return out

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")

    # -- the counts -----------------------------------------------------------------------

    def _logits(self, context: tuple[int, ...]) -> list[float]:
        row = self._rows.get(context)
        if row is None:
            probs = [0.0] * VOCAB_SIZE
            mass = 0.0
            for k in range(len(context), -1, -1):
                ctx = context[len(context) - k :]
                total = self._totals[k].get(ctx) if k < self.order else None
                if not total:
                    continue
                weight = _WEIGHTS[len(context) - k]
                mass += weight
                for token, count in self._counts[k][ctx].items():
                    probs[token] += weight * count / total
            uniform = _UNIFORM / VOCAB_SIZE
            scale = (1.0 - _UNIFORM) / mass if mass else 0.0
            row = [math.log(p * scale + uniform) for p in probs]
            self._rows[context] = row
        return row

    def __repr__(self) -> str:
        return f"NgramModel(order={self.order}, max_seq_len={self.max_seq_len})"


@functools.lru_cache(maxsize=4)
def pydoc_ngram(order: int = 3, max_seq_len: int = 512) -> NgramModel:
    """An n-gram model of Python's help topics (``pydoc_data.topics``, in the standard library)."""
    from pydoc_data.topics import topics

    return NgramModel.train(
        (topics[key] for key in sorted(topics)), order=order, max_seq_len=max_seq_len
    )
