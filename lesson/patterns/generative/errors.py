"""The engine's typed errors: a request the engine refuses (a server answers them with 4xx)."""

from __future__ import annotations

__all__ = [
    "ContextLengthError",
    "DuplicateRequestError",
    "GenerationError",
    "InvalidPromptError",
    "InvalidSamplingParamsError",
]


class GenerationError(ValueError):
    """A generation request the engine cannot accept; the message says why."""


class InvalidSamplingParamsError(GenerationError):
    """A sampling parameter is out of range (max_tokens, temperature, top_p, seed, stop ids)."""


class ContextLengthError(GenerationError):
    """The prompt, or the prompt plus max_tokens, does not fit the model's context or the KV memory."""


class DuplicateRequestError(GenerationError):
    """A request with this id is already queued or running."""


class InvalidPromptError(GenerationError):
    """The prompt is empty or holds a token id outside the model's vocabulary."""
