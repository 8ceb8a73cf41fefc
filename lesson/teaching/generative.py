"""Notebook 10's measurements of the generative engine: timelines, batching modes, KV pressure.

Everything here runs the real :class:`~lesson.patterns.generative.Engine` in-process (standard
library only, so the browser runs it too) and returns plain rows and figures for the notebook's
tables and charts. Two clocks:

- the **measured** clock (``time.perf_counter``): what the model really costs here;
- a **virtual** clock (:class:`StepCostClock`): each step costs ``fixed_ms`` plus ``per_token_ms``
  per token it computes, the shape of an accelerator's step, where a step over many sequences
  costs little more than a step over one. It is a model, labelled as such wherever it is used;
  the browser's 100 µs clock cannot time a step of the n-gram stand-in anyway.

    >>> from lesson.models.ngram import pydoc_ngram
    >>> run = run_requests(pydoc_ngram(), [("The ", 4), ("A ", 2)], virtual=True)
    >>> run.stats.finished, run.stats.steps
    (2, 4)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lesson.loadtest.streams import SLO, StreamSummary, StreamTiming, summarize
from lesson.patterns.generative import (
    Engine,
    EngineConfig,
    EngineStats,
    RequestTimeline,
    SamplingParams,
)

__all__ = [
    "StepCostClock",
    "EngineRun",
    "run_requests",
    "timeline_rows",
    "timing_of",
    "mixed_requests",
    "longest_gap",
    "stand_in_model",
]


class StepCostClock:
    """A virtual clock that advances only when the model computes: ``fixed_ms + per_token_ms``
    per token of each step (wraps the model's ``forward``)."""

    def __init__(self, fixed_ms: float = 5.0, per_token_ms: float = 0.05) -> None:
        self.now = 0.0
        self.fixed_s = fixed_ms / 1000
        self.per_token_s = per_token_ms / 1000

    def __call__(self) -> float:
        return self.now

    def wrap(self, model: Any) -> Any:
        clock = self

        class _Timed:
            def __init__(self) -> None:
                self.inner = model

            def __getattr__(self, name: str) -> Any:
                return getattr(model, name)

            def forward(self, batch: list) -> list:
                clock.now += clock.fixed_s + clock.per_token_s * sum(len(t) for t, _ in batch)
                return model.forward(batch)

        return _Timed()


@dataclass
class EngineRun:
    """What :func:`run_requests` did: the engine, its request ids in order, its step reports."""

    engine: Engine
    ids: list[str]
    steps: list[Any]  # StepReport per step
    stats: EngineStats
    clock: str  # "measured" or "virtual"
    wall_s: float

    def timelines(self) -> list[RequestTimeline]:
        return [self.engine.timeline(i) for i in self.ids]

    def summary(self, slo: SLO | None = None) -> StreamSummary:
        """TTFT, TPOT, ITL, E2EL and goodput (:func:`lesson.loadtest.streams.summarize`)."""
        timings = [timing_of(t) for t in self.timelines()]
        start = min(t.origin for t in timings)
        return summarize(timings, start=start, slo=slo)

    @property
    def prefill_tokens(self) -> int:
        return sum(s.prefill_tokens for s in self.steps)


def timing_of(timeline: RequestTimeline) -> StreamTiming:
    """A finished request's timeline as the stream harness's :class:`StreamTiming`."""
    return StreamTiming(
        origin=timeline.queued_at,
        token_times=list(timeline.token_times),
        end=timeline.finished_at,
    )


def run_requests(
    model: Any,
    requests: Sequence[tuple[str, int]],
    config: EngineConfig | None = None,
    *,
    virtual: bool = False,
    cost: StepCostClock | None = None,
    max_steps: int = 5000,
    seed: int = 0,
) -> EngineRun:
    """Queue every ``(prompt, max_tokens)`` at once and step the engine until all are done.

    Answers are sampled (temperature 0.8, seeded) and ignore the end-of-text token, so each
    request generates exactly its ``max_tokens``. ``virtual``: time on a :class:`StepCostClock`
    (``cost``) instead of ``time.perf_counter``. ``max_steps`` bounds the run.
    """
    clock: Callable[[], float] = time.perf_counter
    if virtual:
        cost = cost or StepCostClock()
        model, clock = cost.wrap(model), cost
    engine = Engine(model, config or EngineConfig(), clock=clock)
    ids = [
        engine.add_request(
            model.encode(prompt),
            SamplingParams(max_tokens=n, temperature=0.8, seed=seed + i, ignore_eos=True),
        )
        for i, (prompt, n) in enumerate(requests)
    ]
    reports = []
    started = time.perf_counter()
    for _ in range(max_steps):
        if not engine.has_work():
            break
        engine.step()
        if engine.last_step is not None and (not reports or reports[-1] is not engine.last_step):
            reports.append(engine.last_step)
    return EngineRun(
        engine,
        ids,
        reports,
        engine.stats(),
        "virtual" if virtual else "measured",
        time.perf_counter() - started,
    )


def timeline_rows(timelines: Sequence[RequestTimeline], *, origin: float) -> list[dict[str, Any]]:
    """Gantt rows (ms from ``origin``): ``queued`` until admitted, ``prefill`` until the first
    token, then one ``decode`` bar per later token (its step); preempted requests show again."""
    rows: list[dict[str, Any]] = []
    for t in timelines:

        def bar(phase: str, a: float, b: float, rid: str = t.request_id) -> None:
            rows.append(
                {
                    "request": rid,
                    "phase": phase,
                    "start_ms": round((a - origin) * 1000, 3),
                    "end_ms": round((b - origin) * 1000, 3),
                }
            )

        if t.admitted_at is None or not t.token_times:
            continue
        bar("queued", t.queued_at, t.admitted_at)
        bar("prefill", t.admitted_at, t.token_times[0])
        for a, b in zip(t.token_times, t.token_times[1:], strict=False):
            bar("decode", a, b)
    return rows


def stand_in_model() -> tuple[Any, str]:
    """The fast n-gram stand-in and what it was trained on.

    :func:`lesson.models.ngram.pydoc_ngram` (Python's help topics) where ``pydoc_data`` exists;
    Pyodide leaves that module out, so in the browser the same trigram model is trained on the
    docstrings of Python's built-ins instead.
    """
    from lesson.models.ngram import NgramModel, pydoc_ngram

    try:
        return pydoc_ngram(), "Python's help topics (pydoc_data)"
    except ImportError:
        import builtins

        docs = sorted(
            doc
            for name in dir(builtins)
            if isinstance(doc := getattr(getattr(builtins, name), "__doc__", None), str)
        )
        model = NgramModel.train(docs, order=3, max_seq_len=512, name="builtins-ngram")
        return model, "the docstrings of Python's built-ins (pydoc_data is not in Pyodide)"


def mixed_requests(count: int = 8, *, short: int = 4, long: int = 48) -> list[tuple[str, int]]:
    """``count`` requests with mixed answer lengths: every fourth one long, the rest short."""
    prompts = ("The if statement ", "A list ", "Exceptions are ", "The for loop ")
    return [(prompts[i % len(prompts)], long if i % 4 == 0 else short) for i in range(count)]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def longest_gap(timelines: Sequence[RequestTimeline]) -> str:
    """Which decode gap of which request was the longest, and whose prefill shared its step
    (a step's tokens all carry the step's end time, so a prefill that ended at the gap's end
    ran in the same model call); with the mean gap with and without a prefill in the step."""
    firsts = {t.request_id: t.token_times[0] for t in timelines if t.token_times}
    gaps = []  # (gap s, request, 1-based gap number, prefills in that step)
    for t in timelines:
        times = t.token_times
        for k, (a, b) in enumerate(zip(times, times[1:], strict=False)):
            shared = [rid for rid, first in firsts.items() if rid != t.request_id and first == b]
            gaps.append((b - a, t.request_id, k + 1, shared))
    if not gaps:
        return "No request decoded more than one token: there is no gap to compare."
    gap, rid, number, shared = max(gaps, key=lambda g: g[0])
    total = sum(1 for g in gaps if g[1] == rid)
    ms = lambda s: f"{s * 1000:.0f} ms"
    mean = lambda xs: sum(xs) / len(xs)
    head = f"The longest decode gap was {rid}'s {_ordinal(number)} of {total} ({ms(gap)})"
    if shared:
        one = len(shared) == 1
        who = f"{shared[0]}'s prefill" if one else f"the prefills of {', '.join(shared)}"
        their = "its" if one else "their"
        head += f": {who} ran in the same step, one model call for {their} prompt and {rid}'s next token"
    else:
        head += ": no other request's prefill ran in that step"
    with_prefill = [g[0] for g in gaps if g[3]]
    without = [g[0] for g in gaps if not g[3]]
    if with_prefill and without:
        head += (
            f". Over every request, a gap whose step also ran a prefill took {ms(mean(with_prefill))} "
            f"on average ({len(with_prefill)} gaps), one without {ms(mean(without))} ({len(without)})"
        )
    return head + "."
