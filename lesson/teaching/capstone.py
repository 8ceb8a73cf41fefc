"""The capstone, "Serve it for real": an SLO, a serving configuration, and the checker.

The learner gets an :class:`Slo` (p99 at a rate, a freshness bound, a ceiling in cores), picks
a pattern with the rubric (:meth:`Slo.workload`), writes a :class:`ServingConfig` (workers,
batching knobs, the shedding bound), runs a real server with it on 127.0.0.1, load-tests it
OPEN loop with Poisson arrivals (:mod:`lesson.loadtest`), and hands the run to
:func:`check_slo`. The checker trusts nothing but that run: it first rejects evidence that
cannot show the SLO (a run too short for its p99 to mean anything, a closed loop, evenly spaced
arrivals, a rate of successful requests not reached, errors, a target that is not this
machine's loopback, a configuration over the ceiling), then compares the measured p99 and
freshness with their bounds. Every check lists the measured figure beside its bound.

What it grants is a **load-test gate**: one run on this machine passed. That is not an SLO
being met: an SLO is judged over a real window of production traffic (e.g. 30 days) with an
error budget (:data:`SLO_WINDOW_NOTE`).

Standard library only (it imports in Pyodide); the browser's SIMULATED run is
:func:`lesson.teaching.capstone_sim.simulated_run`, judged by the same rules and labelled.

Example:
    >>> min_requests(99.0, 10)
    1000
    >>> min_requests(99.0, TAIL_SAMPLES)
    5000
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lesson.loadtest import LoadTestResult
from lesson.loadtest.arrivals import Arrivals
from lesson.teaching.rubric import PATTERNS, Workload

#: The p99 must have at least this many measured samples above it (nearest rank): 50 puts the
#: tail on 50 requests, so one or two slow ones cannot decide it; it needs 5,000 requests.
TAIL_SAMPLES = 50
#: The arrivals a gate run uses: Poisson (independent users). Evenly spaced arrivals barely
#: queue and flatter the p99; burstier ones (gamma, burstiness < 1) are accepted too.
GATE_ARRIVALS = Arrivals("poisson", 1.0, 0)
#: What an SLO over a real window needs, beyond a passed gate (the page and the verdict say it).
SLO_WINDOW_NOTE = (
    "A passed gate is one run on this machine. An SLO is judged over a real window of production "
    "traffic (e.g. the last 30 days): the share of good requests against a target (say 99.9 %), "
    "the error budget that leaves (0.1 % of the window's requests may be slow or fail), and alerts "
    "on how fast it burns; a release that passes the gate can still spend the budget."
)
#: A run must last at least this long: a pause (a collection, a noisy neighbour) must have room to show.
MIN_SECONDS = 2.0
#: The run's achieved rate may fall short of the SLO's rate by at most this fraction.
RATE_TOLERANCE = 0.05
#: Hosts that are this machine's loopback.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: The target named by a simulated run (no network at all).
SIMULATED_TARGET = "simulation"
#: Patterns this capstone serves and load-tests: request/response, a caller waits.
SERVED_PATTERNS = ("REST", "gRPC")
#: What the capstone's servers serve: the real MLP behind a SIMULATED accelerator (2 ms a call).
SERVER_REGISTRY = "lesson.models.mlp_numpy:serving_registry"
SERVER_MODEL = "diabetes-mlp-simulated-accelerator"


def min_requests(quantile: float = 99.0, tail: int = TAIL_SAMPLES) -> int:
    """The fewest requests whose nearest-rank ``quantile`` has at least ``tail`` samples above it."""
    if not 0 < quantile < 100 or isinstance(tail, bool) or not isinstance(tail, int) or tail < 1:
        raise ValueError(
            f"quantile must be in (0, 100) and tail a positive integer; got {quantile!r}, {tail!r}"
        )
    n = max(1, math.floor(tail / (1 - quantile / 100)) - 1)
    while n - max(1, math.ceil(quantile / 100 * n)) < tail:
        n += 1
    return n


@dataclass(frozen=True)
class Slo:
    """A service level objective: p99 <= ``p99_ms`` at ``rate_per_s``, within ``max_cores``.

    Args:
        p99_ms: the latency bound at p99 (milliseconds).
        rate_per_s: the rate at which it must hold (requests per second, sent open loop).
        freshness_s: how old a prediction may be when it is used (seconds); a prediction made
            on request is as old as its latency.
        max_cores: the cost ceiling: server processes (each uses at most one core).
        caller: who calls (the rubric's ``Workload.caller``).
    """

    p99_ms: float
    rate_per_s: float
    freshness_s: float
    max_cores: int
    caller: str = "browser"

    def __post_init__(self) -> None:
        for name in ("p99_ms", "rate_per_s", "freshness_s"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < math.inf
            ):
                raise ValueError(f"{name} must be a positive number; got {value!r}")
        if (
            isinstance(self.max_cores, bool)
            or not isinstance(self.max_cores, int)
            or not 1 <= self.max_cores <= 256
        ):
            raise ValueError(f"max_cores must be an integer in 1..256; got {self.max_cores!r}")
        self.workload()  # the rubric checks the caller

    def workload(self) -> Workload:
        """The SLO as the rubric's workload (``recommend_pattern(slo.workload())``)."""
        return Workload(
            caller=self.caller,
            p99_slo_ms=self.p99_ms,
            freshness_s=self.freshness_s,  # type: ignore[arg-type]
            requests_per_s=self.rate_per_s,
        )

    @property
    def min_requests(self) -> int:
        """Requests a run needs so its p99 has :data:`TAIL_SAMPLES` samples above it."""
        return min_requests(99.0, TAIL_SAMPLES)

    @property
    def min_seconds(self) -> float:
        """How long a run must last: :data:`MIN_SECONDS`, or long enough for the requests at this rate."""
        return max(MIN_SECONDS, self.min_requests / self.rate_per_s)

    def __str__(self) -> str:
        return (
            f"p99 <= {_num(self.p99_ms)} ms at {_num(self.rate_per_s)} req/s "
            "(open loop, Poisson arrivals), predictions "
            f"at most {_num(self.freshness_s)} s old, within {self.max_cores} "
            f"core{'s' if self.max_cores != 1 else ''}"
        )


#: The capstone's SLO: a clinic's triage app, above what one unbatched device can serve.
CAPSTONE_SLO = Slo(p99_ms=100.0, rate_per_s=600.0, freshness_s=1.0, max_cores=2)


@dataclass(frozen=True)
class ServingConfig:
    """How the learner serves the model: `lesson.servers.options.ServerOptions` knobs that matter here.

    Args:
        pattern: the rubric's pattern (only REST and gRPC can be load-tested here).
        workers: REST: server processes (one core each, at most); gRPC: threads in one process.
        max_batch_size, max_delay_ms: dynamic batching (None: one request a model call).
        max_in_flight: the shedding bound: more requests at once are refused (503).
    """

    pattern: str = "REST"
    workers: int = 1
    max_batch_size: int | None = None
    max_delay_ms: float | None = None
    max_in_flight: int = 64

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}; got {self.pattern!r}")
        for name, value, high in (
            ("workers", self.workers, 256),
            ("max_in_flight", self.max_in_flight, 100_000),
            ("max_batch_size", self.max_batch_size, 4096),
        ):
            if value is None and name == "max_batch_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ValueError(f"{name} must be an integer in 1..{high}; got {value!r}")
        if self.max_delay_ms is not None and (
            self.max_batch_size is None or not 0 <= self.max_delay_ms <= 10_000
        ):
            raise ValueError("max_delay_ms needs max_batch_size and must be in [0, 10000] ms")

    @property
    def cores(self) -> int:
        """Cores the server may use: one per REST process; gRPC's threads share one process."""
        return self.workers if self.pattern == "REST" else 1

    @property
    def server_kind(self) -> str:
        """``running_server``'s kind: "rest" or "grpc"."""
        return "grpc" if self.pattern == "gRPC" else "rest"

    def server_options(self) -> dict[str, Any]:
        """Keyword arguments for ``running_server(config.server_kind, **options)``."""
        options: dict[str, Any] = {
            "registry": SERVER_REGISTRY,
            "model": SERVER_MODEL,
            "offload": True,
            "max_in_flight": self.max_in_flight,
            "workers": self.workers,
        }
        if self.max_batch_size is not None:
            options.update(
                max_batch_size=self.max_batch_size, max_delay_ms=self.max_delay_ms or 0.0
            )
        return options


@dataclass(frozen=True)
class MeasuredRun:
    """The evidence: a load-test result, where it was sent, and the configuration it ran.

    ``target`` is the URL the load went to (``http://127.0.0.1:PORT``), or
    :data:`SIMULATED_TARGET` with ``simulated=True`` for the browser's simulation.
    """

    result: LoadTestResult
    target: str
    config: ServingConfig
    simulated: bool = False


@dataclass(frozen=True)
class Check:
    """One rule: passed or not, the measured figure against its bound, and why."""

    name: str
    passed: bool
    measured: str
    bound: str
    message: str

    def failure_text(self) -> str:
        """What failed, with the measured figure and its bound: ``"too few requests (300 requests, needs >= 5,000)"``.

        The check's name says what it verifies (``"enough requests"``), which reads as the
        opposite in a list of failures; this says what went wrong.
        """
        return f"{FAILED_AS.get(self.name, self.name + ' failed')} ({self.measured}, needs {self.bound})"


#: Each check's name, said as its failure.
FAILED_AS = {
    "target": "not an allowed target",
    "cost": "too many cores",
    "pattern": "not a served pattern",
    "open loop": "not an open loop at the SLO's rate",
    "Poisson arrivals": "arrivals not Poisson",
    "enough requests": "too few requests",
    "long enough": "too short",
    "achieved rate": "rate not reached",
    "no errors": "errors",
    "p99": "p99 over the bound",
    "freshness": "predictions too old",
}


def _num(value: float) -> str:
    """A bound or rate as a reader wants it: ``5,000``, ``600``, ``8.33``, ``0.5``."""
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.3g}"


@dataclass(frozen=True)
class SloVerdict:
    """Every check of one run; the run passes the load-test gate only if all pass (not an SLO met)."""

    slo: Slo
    checks: tuple[Check, ...]
    simulated: bool = False

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def headline(self) -> str:
        label = "SIMULATED (virtual clock, no server ran): " if self.simulated else ""
        if self.passed:
            return (
                f"{label}Passed the load-test gate for {self.slo}: all {len(self.checks)} checks passed "
                "(one run, not an SLO over a production window)."
            )
        return (
            f"{label}Did NOT pass the load-test gate: {len(self.failures)} of {len(self.checks)} checks failed "
            f"({', '.join(c.name for c in self.failures)})."
        )

    def __str__(self) -> str:
        lines = [self.headline()]
        lines += [
            f"  [{'pass' if c.passed else 'FAIL'}] {c.name}: {c.measured} (bound {c.bound}) - {c.message}"
            for c in self.checks
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#1b7f3b" if self.passed else "#b3261e"
        rows = "".join(
            f"<tr><td>{'✔' if c.passed else '✘'}</td><td>{html.escape(c.name)}</td><td>{html.escape(c.measured)}</td>"
            f"<td>{html.escape(c.bound)}</td><td>{html.escape(c.message)}</td></tr>"
            for c in self.checks
        )
        return (
            f'<div class="lesson-verdict" style="border-left:4px solid {colour};padding:4px 10px">'
            f'<strong style="color:{colour}">{html.escape(self.headline())}</strong>'
            f'<table class="lesson-table"><thead><tr><th></th><th>check</th><th>measured</th><th>bound</th>'
            f"<th>verdict</th></tr></thead><tbody>{rows}</tbody></table></div>"
        )


Rule = Callable[[Slo, MeasuredRun], Check]


def _target(slo: Slo, run: MeasuredRun) -> Check:
    if run.simulated or run.target == SIMULATED_TARGET:
        ok = run.simulated and run.target == SIMULATED_TARGET
        return Check(
            "target",
            ok,
            run.target,
            SIMULATED_TARGET,
            "a simulation on a virtual clock: nothing was sent"
            if ok
            else "a simulated run must name the target 'simulation', and only a simulated run may",
        )
    host = urlsplit(run.target if "//" in run.target else "//" + run.target).hostname or ""
    ok = host in LOOPBACK_HOSTS
    return Check(
        "target",
        ok,
        host or run.target,
        "loopback (127.0.0.1)",
        "the server ran on this machine"
        if ok
        else f"the load went to {host or run.target!r}, not this machine's loopback: measure the server you "
        "started here, and never load-test a host that is not yours",
    )


def _cost(slo: Slo, run: MeasuredRun) -> Check:
    cores = run.config.cores
    ok = cores <= slo.max_cores
    what = (
        f"{run.config.workers} {run.config.pattern} worker process{'es' if cores != 1 else ''}"
        if run.config.pattern == "REST"
        else f"one {run.config.pattern} process"
    )
    return Check(
        "cost",
        ok,
        f"{cores} core{'s' if cores != 1 else ''} ({what})",
        f"<= {slo.max_cores}",
        "within the ceiling"
        if ok
        else f"the configuration uses {cores} cores, over the ceiling of {slo.max_cores}: lower workers, "
        "and get the rest from batching",
    )


def _pattern(slo: Slo, run: MeasuredRun) -> Check:
    pattern = run.config.pattern
    ok = pattern in SERVED_PATTERNS
    why = {
        "batch": "batch scores on a schedule (hours), so its predictions break a "
        f"{_num(slo.freshness_s)} s freshness bound",
        "streaming": "no caller waits on a stream, so a p99-at-a-rate SLO cannot be measured on it here",
        "edge": "an edge model runs on the caller's device: there is no server to load-test",
    }
    return Check(
        "pattern",
        ok,
        pattern,
        " or ".join(SERVED_PATTERNS),
        "a caller waits on each request" if ok else why.get(pattern, "not a served pattern"),
    )


def _open_loop(slo: Slo, run: MeasuredRun) -> Check:
    r = run.result
    asked = r.target_rate or 0.0
    if r.mode != "open":
        return Check(
            "open loop",
            False,
            f"{r.mode} loop ({r.concurrency} workers)" if r.mode == "closed" else r.mode,
            f"open at {_num(slo.rate_per_s)} req/s",
            "a closed loop was run, but the SLO asks for an open loop: a closed loop slows down with the "
            "server and hides its stalls (coordinated omission); run with rate="
            f"{_num(slo.rate_per_s)}",
        )
    ok = asked >= slo.rate_per_s * (1 - 1e-9)
    return Check(
        "open loop",
        ok,
        f"open at {_num(asked)} req/s",
        f"open at >= {_num(slo.rate_per_s)} req/s",
        "sent on a schedule of its own at the SLO's rate, whatever the server did"
        if ok
        else f"the run asked for {_num(asked)} req/s, below the SLO's {_num(slo.rate_per_s)} req/s",
    )


def gate_arrivals_ok(arrivals: Arrivals | None) -> bool:
    """Whether a run's arrivals are as bursty as Poisson or more (poisson; gamma with burstiness <= 1)."""
    return arrivals is not None and (
        arrivals.process == "poisson"
        or (arrivals.process == "gamma" and arrivals.burstiness <= 1.0)
    )


def _arrivals(slo: Slo, run: MeasuredRun) -> Check:
    got = run.result.arrivals
    ok = gate_arrivals_ok(got)
    measured = "none (not an open loop)" if got is None else got.describe()
    return Check(
        "Poisson arrivals",
        ok,
        measured,
        "Poisson (or burstier)",
        "requests arrived independently, as many users' do"
        if ok
        else 'evenly spaced arrivals barely queue, so they flatter the p99: run with arrivals="poisson" '
        "(independent users; a burst makes a queue, as in production)",
    )


def _enough_requests(slo: Slo, run: MeasuredRun) -> Check:
    n, need = run.result.requests, slo.min_requests
    ok = n >= need
    return Check(
        "enough requests",
        ok,
        f"{n:,} requests",
        f">= {need:,}",
        f"its p99 has {n - max(1, math.ceil(99 / 100.0 * n))} samples above it"
        if ok
        else f"too short: {n:,} requests, but a p99 needs at least {need:,} so that at least {TAIL_SAMPLES} "
        "measured requests lie above it; with fewer, one or two slow requests decide it",
    )


def _long_enough(slo: Slo, run: MeasuredRun) -> Check:
    wall, need = run.result.wall_time, slo.min_seconds
    ok = wall >= need * (1 - RATE_TOLERANCE)
    return Check(
        "long enough",
        ok,
        f"{wall:.2f} s",
        f">= {_num(need)} s",
        "long enough for a pause to show"
        if ok
        else f"too short: the run lasted {wall:.2f} s, under {_num(need)} s; a pause (a collection, a noisy "
        "neighbour) needs room to show",
    )


def _achieved_rate(slo: Slo, run: MeasuredRun) -> Check:
    r = run.result
    floor = slo.rate_per_s * (1 - RATE_TOLERANCE)
    ok = r.goodput >= floor
    behind = (
        f"; the load generator sent {r.late_sends} requests late and {r.unsent} never"
        if r.late_sends or r.unsent
        else ""
    )
    failed = (
        f"; it completed {r.throughput:,.1f} req/s counting its {r.error_count} errors, but a refusal is "
        "not an answer"
        if r.error_count
        else ""
    )
    return Check(
        "achieved rate",
        ok,
        f"{r.goodput:,.1f} successful req/s",
        f">= {floor:,.1f} req/s",
        f"kept up with the SLO's {_num(slo.rate_per_s)} req/s in successful answers"
        if ok
        else f"the run answered {r.goodput:,.1f} requests a second successfully, below the SLO's "
        f"{_num(slo.rate_per_s)} req/s less {RATE_TOLERANCE:.0%}: the server could not keep up{failed}{behind}",
    )


def _no_errors(slo: Slo, run: MeasuredRun) -> Check:
    r = run.result
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items()))
    example = next(iter(sorted(r.error_examples.items())), None)
    return Check(
        "no errors",
        r.error_count == 0,
        f"{r.error_count} errors" + (f" ({kinds})" if kinds else ""),
        "0",
        "every request was answered correctly"
        if r.error_count == 0
        else f"{r.error_count} of {r.requests} requests failed: an SLO counts every request users sent, and fast "
        "refusals flatter the latency"
        + (f" (e.g. {example[0]}: {example[1][:80]})" if example else ""),
    )


def _p99(slo: Slo, run: MeasuredRun) -> Check:
    p99_ms = run.result.p99 * 1000.0
    ok = not math.isnan(p99_ms) and p99_ms <= slo.p99_ms
    return Check(
        "p99",
        ok,
        f"{p99_ms:.2f} ms",
        f"<= {_num(slo.p99_ms)} ms",
        "within the objective"
        if ok
        else f"p99 {p99_ms:.2f} ms is over the SLO's {_num(slo.p99_ms)} ms",
    )


def _freshness(slo: Slo, run: MeasuredRun) -> Check:
    age = run.result.p99
    ok = not math.isnan(age) and age <= slo.freshness_s
    return Check(
        "freshness",
        ok,
        f"{age:.3f} s at p99",
        f"<= {_num(slo.freshness_s)} s",
        "a prediction made on request is as old as its latency"
        if ok
        else f"99 % of predictions must be at most {_num(slo.freshness_s)} s old; they were up to {age:.3f} s",
    )


#: The rules in the order they are applied: first whether the evidence can show the SLO, then the SLO.
RULES: tuple[Rule, ...] = (
    _target,
    _cost,
    _pattern,
    _open_loop,
    _arrivals,
    _enough_requests,
    _long_enough,
    _achieved_rate,
    _no_errors,
    _p99,
    _freshness,
)


def check_slo(slo: Slo, run: MeasuredRun) -> SloVerdict:
    """Judge one run against the SLO by every rule in :data:`RULES`.

    Raises:
        TypeError: ``slo`` or ``run`` is not what the checker reads.
    """
    if not isinstance(slo, Slo):
        raise TypeError(f"slo must be a Slo, got {type(slo).__name__}")
    if (
        not isinstance(run, MeasuredRun)
        or not isinstance(run.result, LoadTestResult)
        or not isinstance(run.config, ServingConfig)
    ):
        raise TypeError(
            "run must be a MeasuredRun(result=LoadTestResult, target=url, config=ServingConfig)"
        )
    return SloVerdict(slo, tuple(rule(slo, run) for rule in RULES), simulated=run.simulated)


def rules_table() -> list[dict[str, str]]:
    """The rules as rows, from the constants above (the docs page renders it)."""
    return [
        {
            "check": "target",
            "rule": f"the load went to {' / '.join(LOOPBACK_HOSTS)} (in the browser: the labelled "
            "simulation)",
        },
        {
            "check": "cost",
            "rule": "cores used (one per REST worker process; gRPC: one process) <= the ceiling",
        },
        {
            "check": "pattern",
            "rule": f"{' or '.join(SERVED_PATTERNS)}: a caller waits on each request",
        },
        {"check": "open loop", "rule": "the run was open loop, at a rate >= the SLO's"},
        {
            "check": "Poisson arrivals",
            "rule": "arrivals drawn as Poisson (exponential gaps), or burstier (gamma, "
            "burstiness <= 1): evenly spaced arrivals barely queue",
        },
        {
            "check": "enough requests",
            "rule": f">= {min_requests(99.0, TAIL_SAMPLES)} requests, so that >= "
            f"{TAIL_SAMPLES} measured requests lie above the p99 (nearest rank)",
        },
        {
            "check": "long enough",
            "rule": f">= max({_num(MIN_SECONDS)} s, those requests at the SLO's rate), less "
            f"{RATE_TOLERANCE:.0%}",
        },
        {
            "check": "achieved rate",
            "rule": f"SUCCESSFUL requests per second >= the SLO's rate less "
            f"{RATE_TOLERANCE:.0%}: a refusal is not an answer, so a run with errors "
            "cannot keep up on them",
        },
        {
            "check": "no errors",
            "rule": "0 errors of any kind (refusals and unfinished requests included)",
        },
        {"check": "p99", "rule": "measured p99 <= the SLO's bound"},
        {
            "check": "freshness",
            "rule": "p99 latency <= the freshness bound (a prediction made on request is as "
            "old as its latency)",
        },
    ]
