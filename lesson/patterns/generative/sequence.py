"""One request's state inside the engine, the events it emits and its timeline.

A :class:`Sequence` holds the prompt and the tokens generated so far (``tokens``), how many of
them the model's cache already holds (``num_computed``), its KV blocks and its own random
generator. ``len(tokens) - num_computed`` is what the next step must compute: the prompt (or
the rest of it) while prefilling, one token while decoding, everything again after a
preemption. Standard library only.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from lesson.core.generative import KVCache
from lesson.patterns.generative.sampling import SamplingParams

__all__ = ["FinishReason", "RequestTimeline", "Sequence", "Status", "TokenEvent"]


class Status(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


class FinishReason:
    """Why a request ended (the OpenAI names): ``stop`` (end-of-sequence or a stop token),
    ``length`` (max_tokens or the context limit), ``abort`` (cancelled)."""

    STOP = "stop"
    LENGTH = "length"
    ABORT = "abort"


@dataclass(frozen=True)
class TokenEvent:
    """One generated token of one request, from one engine step.

    ``index`` counts the request's generated tokens from 0. ``finish_reason`` is None until the
    last event. When it is ``"stop"`` the token is the end-of-sequence or stop token that ended
    the request (not text). ``step_started``/``step_finished`` are the engine clock's readings
    around the step that produced it.
    """

    request_id: str
    token_id: int
    index: int
    finish_reason: str | None
    step_started: float
    step_finished: float


@dataclass
class RequestTimeline:
    """When things happened to one request, on the engine's clock (for the lesson's charts)."""

    request_id: str
    prompt_tokens: int
    queued_at: float
    admitted_at: float | None = None  # the start of the step that first admitted it (prefill)
    readmitted_at: list[float] = field(default_factory=list)  # after each preemption
    token_times: list[float] = field(default_factory=list)  # each token's step end
    finished_at: float | None = None
    finish_reason: str | None = None
    preemptions: int = 0
    prefix_hit_tokens: int = 0  # prompt positions taken from the prefix cache, not computed

    @property
    def time_to_first_token(self) -> float | None:
        return self.token_times[0] - self.queued_at if self.token_times else None


class Sequence:
    """A request in the engine (see the module docstring)."""

    def __init__(
        self,
        request_id: str,
        prompt: list[int],
        params: SamplingParams,
        order: int,
        timeline: RequestTimeline,
    ) -> None:
        self.request_id = request_id
        self.tokens: list[int] = list(prompt)
        self.num_prompt = len(prompt)
        self.params = params
        self.order = order  # arrival order (ties in the queue)
        self.rng = random.Random(params.seed) if params.seed is not None else random.Random()
        self.status = Status.WAITING
        self.cache: KVCache | None = None
        self.num_computed = 0
        self.block_ids: list[int] = []
        self.block_hashes: list[int] = []  # hashes of the full, computed blocks
        self.timeline = timeline

    @property
    def output(self) -> list[int]:
        """The generated tokens."""
        return self.tokens[self.num_prompt :]

    @property
    def num_output(self) -> int:
        return len(self.tokens) - self.num_prompt

    @property
    def to_compute(self) -> int:
        """Tokens the next forward pass must run for this sequence."""
        return len(self.tokens) - self.num_computed

    @property
    def max_positions(self) -> int:
        """The most positions its cache can ever need (the last sampled token is never run)."""
        return self.num_prompt + self.params.max_tokens - 1

    def __repr__(self) -> str:
        return (
            f"Sequence({self.request_id!r}, {self.status.value}, tokens={len(self.tokens)}, "
            f"computed={self.num_computed}, blocks={len(self.block_ids)})"
        )
