"""Generative serving: an LLM engine with continuous batching, paged KV memory and a prefix cache.

A language model answers one token at a time, and every token of every request needs the keys
and values of all the positions before it (the KV cache). The engine serves many requests on
one model by running them together, one model call per step:

- ``engine.py`` -- :class:`Engine`: ``add_request`` / ``step`` / ``abort`` / ``stats``; one
  ``model.forward`` per step over prefills and decodes, sampling, finishing.
- ``scheduler.py`` -- iteration-level (continuous) or static batching: who runs this step,
  within ``max_num_seqs`` and the token budget; preemption when KV blocks run out.
- ``blocks.py`` -- the KV memory in fixed-size blocks (paged) and the prefix cache (block
  hashes chained over the prompt, reference counts, LRU eviction).
- ``sampling.py`` -- :class:`SamplingParams`, stable softmax, temperature, top-p, seeds.
- ``sequence.py`` -- one request's state, its :class:`TokenEvent` s and :class:`RequestTimeline`.
- ``config.py`` -- :class:`EngineConfig`, the knobs.
- ``errors.py`` -- :class:`GenerationError` (a ``ValueError``) and its subclasses: requests
  the engine refuses, which a server answers with 4xx.
- ``async_engine.py`` -- :class:`AsyncEngine`: one asyncio task steps the engine; each request
  streams its tokens and is aborted if its consumer goes away.

The model is anything implementing :class:`lesson.core.generative.LanguageModel` (the tiny
transformer, or :class:`lesson.models.ngram.NgramModel` as a fast stand-in). Standard library
only: it runs in the browser too, on asyncio, without threads.
"""

from lesson.patterns.generative.async_engine import (
    AsyncEngine,
    EngineStoppedError,
    GenerationStream,
)
from lesson.patterns.generative.config import EngineConfig
from lesson.patterns.generative.engine import Engine, EngineStats, StepReport
from lesson.patterns.generative.errors import (
    ContextLengthError,
    DuplicateRequestError,
    GenerationError,
    InvalidPromptError,
    InvalidSamplingParamsError,
)
from lesson.patterns.generative.sampling import SamplingParams
from lesson.patterns.generative.sequence import FinishReason, RequestTimeline, TokenEvent

__all__ = [
    "AsyncEngine",
    "ContextLengthError",
    "DuplicateRequestError",
    "Engine",
    "EngineConfig",
    "EngineStats",
    "EngineStoppedError",
    "FinishReason",
    "GenerationError",
    "GenerationStream",
    "InvalidPromptError",
    "InvalidSamplingParamsError",
    "RequestTimeline",
    "SamplingParams",
    "StepReport",
    "TokenEvent",
]
