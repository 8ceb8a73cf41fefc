"""Shared pieces: a real small language model and a wrapper that records every model call."""

from __future__ import annotations

from lesson.models.ngram import pydoc_ngram
from lesson.patterns.generative import Engine, EngineConfig, SamplingParams

MAX_SEQ_LEN = 64


def small_model():
    """A byte trigram model of Python's help topics, with a short context (real, and fast)."""
    return pydoc_ngram(order=3, max_seq_len=MAX_SEQ_LEN)


class RecordingModel:
    """Passes calls to a real model and records each batch: (new tokens, cached positions)."""

    def __init__(self, model):
        self.inner = model
        self.name, self.version = model.name, model.version
        self.vocab_size, self.eos_id, self.max_seq_len = (
            model.vocab_size,
            model.eos_id,
            model.max_seq_len,
        )
        self.calls: list[list[tuple[int, int]]] = []

    def new_cache(self):
        return self.inner.new_cache()

    def forward(self, batch):
        self.calls.append([(len(tokens), len(cache)) for tokens, cache in batch])
        assert len({id(cache) for _, cache in batch}) == len(batch), "a cache twice in one call"
        return self.inner.forward(batch)

    def encode(self, text):
        return self.inner.encode(text)

    def decode(self, ids):
        return self.inner.decode(ids)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def prompt(text: str) -> list[int]:
    return small_model().encode(text)


def run_alone(prompt_ids, params, **config):
    """The tokens a request gets with an engine to itself and memory to spare."""
    engine = Engine(small_model(), EngineConfig(num_blocks=256, block_size=4, **config))
    rid = engine.add_request(prompt_ids, params)
    return [e.token_id for e in engine.run() if e.request_id == rid]


def greedy(max_tokens, **kw):
    return SamplingParams(max_tokens=max_tokens, temperature=0.0, **kw)
