"""What every generative route runs with: the model, the engine's driver, bounds, metrics.

`LLMState` (``app.state.llm``) builds the engine from `LLMOptions`, admits requests
(:meth:`LLMState.admit`: draining → 503, more than ``max_num_seqs + max_waiting`` in flight →
429) and runs one generation (:meth:`LLMState.generate`: stop strings checked on the decoded
text, the sequence aborted — its KV blocks freed — when the client goes away).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from lesson.servers.llm.driver import LoopDriver, Sequence, ThreadDriver, make_driver
from lesson.servers.llm.metrics import LLMMetrics
from lesson.servers.llm.options import LLMOptions
from lesson.servers.llm.protocol import APIError, Bounds, CompletionRequest, TextStream

__all__ = ["LLMState", "Piece", "load_model", "state_of"]


def load_model(impl: str) -> Any:
    """The byte-level language model: the tiny transformer (numpy or pure Python, or numpy on a
    simulated accelerator's step cost: ``accelerator``), or the n-gram stand-in (``ngram``;
    ``auto`` falls back to it when the transformer's artifact is not there), or what the
    function ``impl = "package.module:function"`` returns."""
    if ":" in impl:
        import importlib

        module, _, attr = impl.partition(":")
        return getattr(importlib.import_module(module), attr)()
    if impl in ("numpy", "auto"):
        from lesson.core.artifacts import ArtifactNotFoundError
        from lesson.models.lm_numpy import load_tiny_lm_numpy

        try:
            return load_tiny_lm_numpy()
        except ArtifactNotFoundError:
            if impl == "numpy":
                raise
    if impl == "accelerator":
        from lesson.models.accelerator_lm import SimulatedAcceleratorLM
        from lesson.models.lm_numpy import load_tiny_lm_numpy

        return SimulatedAcceleratorLM(load_tiny_lm_numpy())
    if impl == "python":
        from lesson.models.lm import load_tiny_lm

        return load_tiny_lm()
    from lesson.models.ngram import pydoc_ngram

    return pydoc_ngram()


@dataclass
class Piece:
    """What one token adds to a response: its text, and the finish reason on the last one."""

    text: str
    finish_reason: str | None
    tokens: int  # completion tokens so far (the usage)
    is_token: bool = True  # False: the closing piece (held-back text, the finish reason)


class LLMState:
    """The generative server's state (one per app)."""

    def __init__(self, options: LLMOptions, model: Any | None = None) -> None:
        from lesson.patterns.generative import Engine, EngineConfig

        self.options = options
        self.model = model if model is not None else load_model(options.impl)
        self.name = options.model or str(getattr(self.model, "name", "tiny-lm"))
        context = int(getattr(self.model, "max_seq_len", 1 << 30))
        self.context = context
        self.bounds = Bounds(
            max_prompt_tokens=min(options.max_prompt_tokens, context - 1),
            max_tokens=min(options.max_tokens, context - 1),
            max_body_bytes=options.max_body_bytes,
        )
        self.engine = Engine(
            self.model,
            EngineConfig(
                max_num_seqs=options.max_num_seqs,
                block_size=options.block_size,
                num_blocks=options.num_blocks,
                max_tokens_per_step=options.max_tokens_per_step,
                scheduling=options.scheduling,
                prefix_caching=options.prefix_caching,
            ),
        )
        self.driver: ThreadDriver | LoopDriver = make_driver(self.engine, options.engine_loop)
        self.in_flight = 0
        self.limit = options.max_num_seqs + options.max_waiting
        self.draining = False
        self.ready = False
        self.created = int(time.time())
        self.metrics = LLMMetrics(lambda: self.driver.stats, lambda: self.in_flight)
        #: `lesson.servers.llm.tracing.GenerationTracer` when traced (``trace_ratio`` set)
        self.tracer: Any = None
        if options.trace_ratio is not None:
            from lesson.servers.llm.tracing import GenerationTracer

            self.tracer = GenerationTracer(options.trace_ratio)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self.options.gil_switch_ms is not None:
            import sys

            sys.setswitchinterval(self.options.gil_switch_ms / 1000)
        await self.driver.start()
        if self.options.warmup:
            from lesson.patterns.generative import SamplingParams

            seq = await self.driver.add([104, 105], SamplingParams(max_tokens=2, temperature=0.0))
            while (await seq.events.get()).finish_reason is None:
                pass
        self.ready = True

    async def stop(self) -> None:
        self.draining = True
        self.ready = False
        await self.driver.stop()

    def start_draining(self) -> None:
        self.draining = True
        self.ready = False

    @property
    def live(self) -> bool:
        return True

    # ------------------------------------------------------------------ one request
    def check_model(self, model: str | None) -> None:
        if model is not None and model != self.name:
            raise APIError(
                404,
                f"the model {model!r} does not exist; this server serves {self.name!r}",
                param="model",
                code="model_not_found",
            )

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold a slot for one request (503 while draining or warming, 429 when full)."""
        if self.draining or not self.ready:
            raise APIError(
                503,
                "the server is draining" if self.draining else "the server is warming up",
                type="service_unavailable",
                code="service_unavailable",
            )
        if self.in_flight >= self.limit:
            self.metrics.errors.labels("rate_limit_exceeded").inc()
            raise APIError(
                429,
                f"{self.in_flight} sequences in flight (the bound is {self.limit}: "
                f"{self.options.max_num_seqs} running + {self.options.max_waiting} waiting); retry later",
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def submit(self, req: CompletionRequest) -> Sequence:
        """Add the request to the engine; the engine's GenerationError surfaces as a 400 here."""
        from lesson.patterns.generative import SamplingParams

        if len(req.prompt_ids) + req.max_tokens > self.context:
            raise APIError(
                400,
                f"this model's context is {self.context} tokens; the prompt ({len(req.prompt_ids)}) "
                f"plus max_tokens ({req.max_tokens}) is over it",
                param="max_tokens",
                code="context_length_exceeded",
            )
        params = SamplingParams(
            max_tokens=req.max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            seed=req.seed,
            ignore_eos=req.ignore_eos,
        )
        self.metrics.prompt_tokens.inc(len(req.prompt_ids))
        return await self.driver.add(req.prompt_ids, params)

    async def generate(
        self, req: CompletionRequest, seq: Sequence, arrived: float
    ) -> AsyncIterator[Piece]:
        """The sequence's pieces, one per token, then a closing piece with the finish reason.

        If the consumer stops early (a disconnect cancels it), the sequence is aborted.
        """
        text = TextStream(req.stop)
        tokens, last, finish = 0, None, None
        ended: str | None = None  # the finish reason handed out; None: cut short
        try:
            while True:
                event = await seq.events.get()
                if isinstance(event, BaseException):
                    raise event
                now = time.perf_counter()
                if last is None:
                    self.metrics.ttft.observe(now - arrived)
                else:
                    self.metrics.itl.observe(now - last)
                last = now
                tokens += 1
                self.metrics.generation_tokens.inc()
                finish = event.finish_reason
                if finish == "stop" or finish == "abort":
                    seq.finished = True
                    break  # the end-of-sequence (or a stop token): not text
                delta = text.push(event.token_id)
                if text.stopped:  # a stop string: the rest is not generated
                    self.driver.abort(seq)
                    finish = "stop"
                    yield Piece(delta, None, tokens, is_token=True)
                    break
                if finish is not None:
                    seq.finished = True
                    yield Piece(delta, None, tokens)
                    break
                yield Piece(delta, None, tokens)
            finish = "length" if finish == "length" else "stop"
            self.metrics.requests.labels(finish).inc()
            self.metrics.e2e.observe(time.perf_counter() - arrived)
            ended = finish
            yield Piece(text.flush(), finish, tokens, is_token=False)
        finally:
            if not seq.finished:  # the client went away (or the route failed): free its blocks
                self.driver.abort(seq)
                self.metrics.requests.labels("abort").inc()
            if self.tracer is not None:  # the phase spans, under the request's (if sampled)
                self.tracer.record(seq.timeline, len(req.prompt_ids), ended, tokens)


def state_of(request: Request) -> LLMState:
    return request.app.state.llm


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) anything over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(
            413, f"the body is {declared} bytes, over the bound of {limit}", code="body_too_large"
        )
    chunks, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise APIError(
                413, f"the body is over the bound of {limit} bytes", code="body_too_large"
            )
        chunks.append(part)
    return b"".join(chunks)
