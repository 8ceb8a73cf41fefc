"""Streamed generation under load: per-request token timings and a run's summary (stdlib).

A generative server answers one request with a stream of tokens, so one latency is not
enough. The definitions are vLLM's serving benchmark's (``benchmarks/benchmark_serving.py``,
``vllm bench serve``), per request:

- **TTFT**, time to first token: from the send to the first token's arrival (the first chunk
  carrying generated text).
- **ITL**, inter-token latency: every gap between two successive token arrivals (a request
  with ``n`` tokens has ``n - 1`` gaps; each gap is one sample, so long answers weigh more).
- **TPOT**, time per output token: ``(E2EL - TTFT) / (output tokens - 1)``, the request's
  mean gap after the first token; undefined (left out) for a request with one token.
- **E2EL**, end-to-end latency: from the send to the last chunk.

Over a run (``duration``: the first send to the last completion):

- **request throughput**: completed requests / duration;
- **output token throughput**: output tokens of completed requests / duration;
- **goodput**: completed requests meeting EVERY service-level objective given (TTFT ≤ bound,
  TPOT ≤ bound, E2EL ≤ bound; vLLM's ``--goodput ttft:MS tpot:MS e2el:MS``) / duration;
- **percentiles** of TTFT, TPOT, ITL and E2EL: mean, median, p90, p99 (nearest rank, as
  :func:`lesson.core.stats.percentile`; vLLM interpolates, which differs only in small samples).

Where this harness differs from vLLM, on purpose: in the **open loop** (a rate and an arrival
process, :mod:`lesson.loadtest.arrivals`), TTFT and E2EL count from the request's *intended*
send time, not from when it actually left (coordinated omission, see
:mod:`lesson.loadtest.open_loop`); vLLM counts from the actual send. TPOT and ITL are gaps
and do not change. A request's output tokens are the server's ``usage.completion_tokens``
when it reports them, else the number of token chunks received (one token per chunk).

Nothing here sends a request: :class:`StreamTiming` is filled in by a client
(:mod:`lesson.loadtest.llm_wire` over HTTP) and :func:`summarize` does the maths, so the
tests check it on hand-made timestamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lesson.core.stats import percentile

__all__ = ["SLO", "StreamTiming", "StreamSummary", "Distribution", "summarize", "format_table"]


@dataclass(frozen=True)
class SLO:
    """Service-level objectives in seconds (None: not an objective)."""

    ttft: float | None = None
    tpot: float | None = None
    e2el: float | None = None

    def met(self, timing: StreamTiming) -> bool:
        """Whether a completed request meets every objective (a TPOT bound with one token: met)."""
        if not timing.ok:
            return False
        if self.ttft is not None and not (timing.ttft is not None and timing.ttft <= self.ttft):
            return False
        if self.tpot is not None and (tpot := timing.tpot) is not None and tpot > self.tpot:
            return False
        return not (self.e2el is not None and not timing.e2el <= self.e2el)


@dataclass
class StreamTiming:
    """One request: when it counts from and when each token arrived (``clock()`` seconds).

    ``origin``: the send (closed loop) or the intended send (open loop); ``token_times``: the
    arrival of each chunk carrying a token; ``end``: the last chunk (``[DONE]``).
    """

    origin: float
    token_times: list[float] = field(default_factory=list)
    end: float | None = None
    output_tokens: int | None = None  # the server's usage, if it said
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.end is not None and bool(self.token_times)

    @property
    def tokens(self) -> int:
        return self.output_tokens if self.output_tokens is not None else len(self.token_times)

    @property
    def ttft(self) -> float | None:
        return self.token_times[0] - self.origin if self.token_times else None

    @property
    def e2el(self) -> float:
        return (self.end if self.end is not None else math.nan) - self.origin

    @property
    def tpot(self) -> float | None:
        n, ttft = self.tokens, self.ttft
        if n < 2 or ttft is None or self.end is None:
            return None
        return (self.e2el - ttft) / (n - 1)

    @property
    def itl(self) -> list[float]:
        t = self.token_times
        return [b - a for a, b in zip(t, t[1:], strict=False)]


@dataclass(frozen=True)
class Distribution:
    """Mean, median, p90, p99, max of some seconds (NaN when there are none)."""

    count: int
    mean: float
    median: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: list[float]) -> Distribution:
        s = sorted(samples)
        if not s:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(s),
            sum(s) / len(s),
            percentile(s, 50),
            percentile(s, 90),
            percentile(s, 99),
            s[-1],
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "mean": self.mean,
            "median": self.median,
            "p90": self.p90,
            "p99": self.p99,
            "max": self.max,
        }


@dataclass(frozen=True)
class StreamSummary:
    """A run's figures (see the module docstring for each definition)."""

    mode: str  # "closed" or "open"
    completed: int
    failed: int
    duration: float
    output_tokens: int
    request_throughput: float
    output_throughput: float
    goodput: float | None  # None: no SLO given
    good: int
    slo: SLO
    ttft: Distribution
    tpot: Distribution
    itl: Distribution
    e2el: Distribution
    errors: dict[str, int]
    unsent: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "completed": self.completed,
            "failed": self.failed,
            "unsent": self.unsent,
            "duration_s": self.duration,
            "output_tokens": self.output_tokens,
            "request_throughput": self.request_throughput,
            "output_throughput": self.output_throughput,
            "goodput": self.goodput,
            "good": self.good,
            "slo": {"ttft": self.slo.ttft, "tpot": self.slo.tpot, "e2el": self.slo.e2el},
            "ttft": self.ttft.as_dict(),
            "tpot": self.tpot.as_dict(),
            "itl": self.itl.as_dict(),
            "e2el": self.e2el.as_dict(),
            "errors": dict(self.errors),
        }


def summarize(
    timings: list[StreamTiming],
    *,
    start: float,
    end: float | None = None,
    slo: SLO | None = None,
    mode: str = "closed",
    unsent: int = 0,
) -> StreamSummary:
    """The run's figures from its requests' timings.

    Args:
        timings: every request sent (failed ones too: they count in ``failed``).
        start: the run's start (the first send, or the schedule's start in the open loop).
        end: the run's end (default: the last completion).
        slo: the objectives goodput counts against (None: goodput is None).
        mode: "closed" or "open" (reported only; the origins already say where latency counts from).
        unsent: open loop: scheduled requests never sent (the run's time bound came first).
    """
    done = [t for t in timings if t.ok]
    failed = [t for t in timings if not t.ok]
    if end is None:
        ends = [t.end for t in timings if t.end is not None]
        end = max(ends) if ends else start
    duration = max(end - start, 1e-9)
    tokens = sum(t.tokens for t in done)
    errors: dict[str, int] = {}
    for t in failed:
        kind = (t.error or "no tokens").split(":")[0]
        errors[kind] = errors.get(kind, 0) + 1
    good = sum(1 for t in done if slo is not None and slo.met(t))
    return StreamSummary(
        mode=mode,
        completed=len(done),
        failed=len(failed),
        duration=duration,
        output_tokens=tokens,
        request_throughput=len(done) / duration,
        output_throughput=tokens / duration,
        goodput=(good / duration) if slo is not None else None,
        good=good,
        slo=slo or SLO(),
        ttft=Distribution.of([t.ttft for t in done if t.ttft is not None]),
        tpot=Distribution.of([p for t in done if (p := t.tpot) is not None]),
        itl=Distribution.of([g for t in done for g in t.itl]),
        e2el=Distribution.of([t.e2el for t in done]),
        errors=errors,
        unsent=unsent,
    )


def _ms(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x * 1000:.2f}"


def format_table(summary: StreamSummary) -> str:
    """A plain-text report, vLLM's benchmark table in spirit."""
    s = summary
    lines = [
        f"{'mode':<34}{s.mode}",
        f"{'completed / failed / unsent':<34}{s.completed} / {s.failed} / {s.unsent}",
        f"{'duration (s)':<34}{s.duration:.2f}",
        f"{'output tokens':<34}{s.output_tokens}",
        f"{'request throughput (req/s)':<34}{s.request_throughput:.2f}",
        f"{'output token throughput (tok/s)':<34}{s.output_throughput:.1f}",
    ]
    if s.goodput is not None:
        bounds = ", ".join(
            f"{name} <= {value * 1000:g} ms"
            for name, value in (("TTFT", s.slo.ttft), ("TPOT", s.slo.tpot), ("E2EL", s.slo.e2el))
            if value is not None
        )
        lines.append(f"{'goodput (req/s)':<34}{s.goodput:.2f}  ({s.good} met {bounds})")
    lines.append(f"{'(ms)':<10}{'mean':>10}{'median':>10}{'p90':>10}{'p99':>10}{'max':>10}")
    for name, d in (("TTFT", s.ttft), ("TPOT", s.tpot), ("ITL", s.itl), ("E2EL", s.e2el)):
        lines.append(
            f"{name:<10}"
            + "".join(f"{_ms(v):>10}" for v in (d.mean, d.median, d.p90, d.p99, d.max))
        )
    for kind, count in sorted(s.errors.items()):
        lines.append(f"error {kind}: {count}")
    return "\n".join(lines)
