"""The engine: requests in, one model call per step, tokens out.

``step()`` asks the scheduler for a plan (:mod:`~lesson.patterns.generative.scheduler`), runs
ONE ``model.forward`` over every scheduled sequence (prefills of newly admitted requests and
one decode token for each running one), samples a token for each sequence whose input is
complete, and retires the finished ones at once, freeing their KV blocks for the next step.
Each sampled token uses one number from its request's own generator, drawn here; a model that
samples a whole step itself (:class:`~lesson.core.generative.BatchSampling`, the numpy one)
gets the draws with the batch, any other is sampled row by row in Python
(:func:`~lesson.patterns.generative.sampling.pick`), the same rule.
It is synchronous and single-threaded; :class:`~lesson.patterns.generative.async_engine.AsyncEngine`
drives it from asyncio. Standard library only.

    >>> from lesson.models.ngram import NgramModel
    >>> model = NgramModel.train(["hello world"] * 3, order=3, max_seq_len=64)
    >>> engine = Engine(model, EngineConfig(block_size=4, num_blocks=16))
    >>> rid = engine.add_request(model.encode("hello"), SamplingParams(max_tokens=6, temperature=0))
    >>> events = engine.run()
    >>> model.decode([e.token_id for e in events]), events[-1].finish_reason
    (' world', 'length')
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass

from lesson.core.generative import LanguageModel, Pick
from lesson.patterns.generative.blocks import BlockAllocator, blocks_for
from lesson.patterns.generative.config import EngineConfig
from lesson.patterns.generative.errors import (
    ContextLengthError,
    DuplicateRequestError,
    InvalidPromptError,
)
from lesson.patterns.generative.sampling import SamplingParams, check_params, draw, pick
from lesson.patterns.generative.scheduler import Scheduler
from lesson.patterns.generative.sequence import (
    FinishReason,
    RequestTimeline,
    Sequence,
    TokenEvent,
)

__all__ = ["Engine", "EngineStats", "StepReport"]


@dataclass(frozen=True)
class EngineStats:
    """The engine's counters now."""

    running: int
    waiting: int
    blocks_used: int  # held by sequences or kept by the prefix cache
    blocks_total: int
    blocks_cached: int  # registered in the prefix cache
    preemptions: int
    prefix_hit_tokens: int  # prompt positions taken from the prefix cache instead of computed
    steps: int  # steps that ran the model
    tokens_generated: int
    finished: int
    aborted: int


@dataclass(frozen=True)
class StepReport:
    """What the last step did (for the lesson's charts and the tests)."""

    started: float
    finished: float
    num_seqs: int  # sequences in the model call
    num_tokens: int  # tokens computed: prefill chunks plus one per decoding sequence
    prefill_tokens: int
    decode_seqs: int
    admitted: tuple[str, ...]
    preempted: tuple[str, ...]
    finished_ids: tuple[str, ...]


class Engine:
    """Continuous (or static) batching over a :class:`~lesson.core.generative.LanguageModel`."""

    def __init__(
        self,
        model: LanguageModel,
        config: EngineConfig | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.model = model
        self._model_samples = getattr(model, "forward_sample", None)
        self.config = config or EngineConfig()
        self.clock = clock
        self.allocator = BlockAllocator(
            self.config.num_blocks,
            self.config.block_size,
            prefix_caching=self.config.prefix_caching,
        )
        self.scheduler = Scheduler(self.config, self.allocator, model.new_cache)
        self._live: dict[str, Sequence] = {}
        self._done: OrderedDict[str, RequestTimeline] = OrderedDict()
        self._ids = itertools.count()
        self._order = itertools.count()
        self.steps = 0
        self.tokens_generated = 0
        self.finished = 0
        self.aborted = 0
        self.last_step: StepReport | None = None

    # -- requests -------------------------------------------------------------------------

    def validate(self, prompt_ids: Seq[int], params: SamplingParams) -> None:
        """Raise a :class:`~lesson.patterns.generative.errors.GenerationError` if the request
        can never be served; adds nothing."""
        model = self.model
        if not isinstance(prompt_ids, list | tuple) or not prompt_ids:
            raise InvalidPromptError("the prompt must be a non-empty list of token ids")
        for token in prompt_ids:
            if isinstance(token, bool) or not isinstance(token, int):
                raise InvalidPromptError(f"prompt token ids must be integers, got {token!r}")
            if not 0 <= token < model.vocab_size:
                raise InvalidPromptError(
                    f"prompt token id {token} outside the vocabulary 0..{model.vocab_size - 1}"
                )
        limit = model.max_seq_len
        if len(prompt_ids) > limit - 1:
            raise ContextLengthError(
                f"the prompt has {len(prompt_ids)} tokens; the model's context is {limit} "
                f"tokens, so a prompt may have at most {limit - 1}"
            )
        check_params(params, model.vocab_size)
        if len(prompt_ids) + params.max_tokens > limit:
            raise ContextLengthError(
                f"prompt ({len(prompt_ids)} tokens) + max_tokens ({params.max_tokens}) exceeds "
                f"the model's context of {limit} tokens; ask for at most "
                f"{limit - len(prompt_ids)} tokens"
            )
        blocks = blocks_for(len(prompt_ids) + params.max_tokens - 1, self.config.block_size)
        if blocks > self.config.num_blocks:
            raise ContextLengthError(
                f"prompt + max_tokens needs {blocks} KV blocks of {self.config.block_size} "
                f"positions; the engine has {self.config.num_blocks}"
            )

    def add_request(
        self,
        prompt_ids: Seq[int],
        params: SamplingParams,
        request_id: str | None = None,
    ) -> str:
        """Queue a request; returns its id (``request_id`` or a new one)."""
        self.validate(prompt_ids, params)
        if request_id is None:
            request_id = f"req-{next(self._ids)}"
            while request_id in self._live:
                request_id = f"req-{next(self._ids)}"
        elif request_id in self._live:
            raise DuplicateRequestError(f"request {request_id!r} is already queued or running")
        timeline = RequestTimeline(request_id, len(prompt_ids), queued_at=self.clock())
        seq = Sequence(request_id, list(prompt_ids), params, next(self._order), timeline)
        self._live[request_id] = seq
        self._done.pop(request_id, None)
        self.scheduler.add(seq)
        return request_id

    def abort(self, request_id: str) -> bool:
        """Drop a waiting or running request now and free its blocks; False if unknown/finished."""
        seq = self._live.get(request_id)
        if seq is None:
            return False
        self._retire(seq, FinishReason.ABORT, self.clock())
        self.aborted += 1
        return True

    def is_live(self, request_id: str) -> bool:
        """Whether a request is queued or running."""
        return request_id in self._live

    def has_work(self) -> bool:
        return bool(self.scheduler.waiting or self.scheduler.running)

    # -- one step -------------------------------------------------------------------------

    def step(self) -> list[TokenEvent]:
        """Schedule, run one model call over the whole batch, sample, retire finished ones."""
        started = self.clock()
        plan = self.scheduler.schedule()
        for seq in plan.admitted:
            if seq.timeline.admitted_at is None:
                seq.timeline.admitted_at = started
            else:
                seq.timeline.readmitted_at.append(started)
        if not plan.scheduled:
            return []
        decode_seqs = 0
        batch = []
        picks: list[Pick] = []
        sampling: list[Sequence] = []
        for i, (seq, n) in enumerate(plan.scheduled):
            start = seq.num_computed
            batch.append((seq.tokens[start : start + n], seq.cache))
            if start + n == len(seq.tokens):  # its input is complete: it samples a token
                if n == 1 and seq.num_output:
                    decode_seqs += 1
                params = seq.params
                picks.append((i, params.temperature, params.top_p, draw(params, seq.rng)))
                sampling.append(seq)
        tokens = self._forward_sample(batch, picks)
        for seq, n in plan.scheduled:
            seq.num_computed += n
            self._register_full_blocks(seq)
        sampled = list(zip(sampling, tokens, strict=True))
        for seq, token in sampled:
            seq.tokens.append(token)
        finished = self.clock()
        events = []
        done = []
        for seq, token in sampled:
            seq.timeline.token_times.append(finished)
            reason = self._finish_reason(seq, token)
            events.append(
                TokenEvent(seq.request_id, token, seq.num_output - 1, reason, started, finished)
            )
            if reason is not None:
                self._retire(seq, reason, finished)
                done.append(seq.request_id)
        self.steps += 1
        self.tokens_generated += len(sampled)
        self.last_step = StepReport(
            started=started,
            finished=finished,
            num_seqs=len(plan.scheduled),
            num_tokens=plan.num_tokens,
            prefill_tokens=plan.num_tokens - decode_seqs,
            decode_seqs=decode_seqs,
            admitted=tuple(s.request_id for s in plan.admitted),
            preempted=tuple(s.request_id for s in plan.preempted),
            finished_ids=tuple(done),
        )
        return events

    def run(self, max_steps: int | None = None) -> list[TokenEvent]:
        """Step until no work is left (or ``max_steps``); every event, in order."""
        events: list[TokenEvent] = []
        for _ in itertools.count() if max_steps is None else range(max_steps):
            if not self.has_work():
                break
            events.extend(self.step())
        return events

    def _forward_sample(self, batch: list, picks: list[Pick]) -> list[int]:
        """One model call, then a token per pick: the model's own batched sampler if it has
        one (:class:`~lesson.core.generative.BatchSampling`), else :func:`sampling.pick` per row."""
        if self._model_samples is not None:
            return self._model_samples(batch, picks)
        logits = self.model.forward(batch)
        if len(logits) != len(batch):
            raise RuntimeError(f"the model returned {len(logits)} rows for {len(batch)} sequences")
        return [pick(logits[i], t, top_p, u) for i, t, top_p, u in picks]

    def _register_full_blocks(self, seq: Sequence) -> None:
        if not self.config.prefix_caching:
            return
        size = self.config.block_size
        while len(seq.block_hashes) < seq.num_computed // size:
            i = len(seq.block_hashes)
            parent = seq.block_hashes[-1] if seq.block_hashes else None
            chunk = tuple(seq.tokens[i * size : (i + 1) * size])
            seq.block_hashes.append(
                self.allocator.register(seq.block_ids[i], parent, chunk, seq.cache)
            )

    def _finish_reason(self, seq: Sequence, token: int) -> str | None:
        params = seq.params
        if token == self.model.eos_id and not params.ignore_eos:
            return FinishReason.STOP
        if token in params.stop_token_ids:
            return FinishReason.STOP
        if seq.num_output >= params.max_tokens or len(seq.tokens) >= self.model.max_seq_len:
            return FinishReason.LENGTH
        return None

    def _retire(self, seq: Sequence, reason: str, now: float) -> None:
        self.scheduler.remove(seq)
        del self._live[seq.request_id]
        seq.timeline.finished_at = now
        seq.timeline.finish_reason = reason
        if reason != FinishReason.ABORT:
            self.finished += 1
        if self.config.keep_finished:
            self._done[seq.request_id] = seq.timeline
            while len(self._done) > self.config.keep_finished:
                self._done.popitem(last=False)

    # -- looking in -----------------------------------------------------------------------

    def stats(self) -> EngineStats:
        return EngineStats(
            running=len(self.scheduler.running),
            waiting=len(self.scheduler.waiting),
            blocks_used=self.allocator.blocks_used,
            blocks_total=self.allocator.num_blocks,
            blocks_cached=self.allocator.cached_blocks,
            preemptions=self.scheduler.preemptions,
            prefix_hit_tokens=self.scheduler.prefix_hit_tokens,
            steps=self.steps,
            tokens_generated=self.tokens_generated,
            finished=self.finished,
            aborted=self.aborted,
        )

    def timeline(self, request_id: str) -> RequestTimeline:
        """A live or recently finished request's timeline (KeyError if unknown)."""
        seq = self._live.get(request_id)
        if seq is not None:
            return seq.timeline
        return self._done[request_id]

    def output(self, request_id: str) -> list[int]:
        """A live request's tokens generated so far."""
        return self._live[request_id].output
