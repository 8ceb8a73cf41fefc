"""Language models for the generative server's tests (imported by the server subprocess)."""

from __future__ import annotations

import time

from lesson.models.ngram import pydoc_ngram


class SlowLM:
    """The n-gram stand-in, each forward call made to take at least 5 ms (a slow model)."""

    def __init__(self, delay: float = 0.005) -> None:
        self.inner = pydoc_ngram()
        self.delay = delay
        for name in ("name", "version", "vocab_size", "eos_id", "max_seq_len"):
            setattr(self, name, getattr(self.inner, name))
        self.name = "slow-lm"

    def new_cache(self):
        return self.inner.new_cache()

    def forward(self, batch):
        time.sleep(self.delay)
        return self.inner.forward(batch)

    def encode(self, text):
        return self.inner.encode(text)

    def decode(self, ids):
        return self.inner.decode(ids)


def slow_lm() -> SlowLM:
    return SlowLM()
