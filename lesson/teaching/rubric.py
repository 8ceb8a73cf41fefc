"""Choose a serving pattern from a workload's numbers: the lesson's selection rubric.

The rubric is a short list of ordered rules. Each rule looks at one property of the workload
(who calls, how fresh predictions must be, the latency objective, what happens when the
network is down, the cost ceiling) and either decides or passes to the next rule. It is a
teaching aid: it states its reasons so a learner can disagree with a specific one.

Example:
    >>> from lesson.teaching.rubric import Workload, recommend_pattern
    >>> rec = recommend_pattern(Workload(caller="service", p99_slo_ms=50, requests_per_s=2000))
    >>> rec.pattern
    'gRPC'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Caller = Literal["browser", "service", "scheduler", "event-stream", "device"]
CALLERS: tuple[str, ...] = ("browser", "service", "scheduler", "event-stream", "device")
PATTERNS: tuple[str, ...] = ("REST", "gRPC", "batch", "streaming", "edge", "generative")


@dataclass(frozen=True)
class Workload:
    """What a learner knows about the traffic a model must serve.

    Args:
        caller: who asks for predictions — a browser or third-party client, another service,
            a scheduler (nightly/hourly jobs), an event stream, or the user's own device.
        p99_slo_ms: the latency objective for one prediction at p99, or None if nobody waits.
        freshness_s: how old a prediction may be when it is used (seconds). 0 = computed
            on request.
        requests_per_s: expected peak rate of prediction requests (or events).
        must_work_offline: predictions are needed when the network is down (or data may
            not leave the device, for privacy).
        cost_ceiling_per_million: the most you can spend per million predictions (any
            currency), or None when cost is not the binding constraint.
        generates_text: the answer is text a model writes one token at a time (a language
            model), read by someone as it arrives; ``p99_slo_ms`` is then the objective for
            the first token.
    """

    caller: Caller
    p99_slo_ms: float | None = None
    freshness_s: float = 0.0
    requests_per_s: float = 10.0
    must_work_offline: bool = False
    cost_ceiling_per_million: float | None = None
    generates_text: bool = False

    def __post_init__(self) -> None:
        if self.caller not in CALLERS:
            raise ValueError(f"caller must be one of {', '.join(CALLERS)}; got {self.caller!r}")
        for name in ("p99_slo_ms", "cost_ceiling_per_million"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number or None; got {value!r}")
        if not self.freshness_s >= 0:
            raise ValueError(f"freshness_s must be >= 0 seconds; got {self.freshness_s!r}")
        if not self.requests_per_s > 0:
            raise ValueError(f"requests_per_s must be > 0; got {self.requests_per_s!r}")


@dataclass(frozen=True)
class Recommendation:
    """The rubric's answer: a pattern, the rule that chose it, and what else to consider."""

    pattern: str
    reasons: list[str]
    alternatives: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.pattern}: " + "; ".join(self.reasons)
        if self.alternatives:
            text += f" (also consider: {', '.join(self.alternatives)})"
        return text


#: The rubric as a table, in the order the rules are applied (the docs render this).
RUBRIC: list[dict[str, str]] = [
    {
        "rule": "Predictions needed with no network, or data must stay on the device",
        "pattern": "edge",
        "why": "Only a model that runs where the data is keeps working offline; quantise it to fit.",
    },
    {
        "rule": "Nobody waits: predictions can be hours old (freshness >= 1 h) or a scheduler calls",
        "pattern": "batch",
        "why": "Score everything in bulk on a schedule; cheapest per prediction, no idle servers.",
    },
    {
        "rule": "Events arrive on a stream and results feed another system within seconds",
        "pattern": "streaming",
        "why": "A consumer scores each event as it arrives; freshness in seconds, "
        "bursts absorbed by the log (lag grows).",
    },
    {
        "rule": "Someone waits for text a model writes token by token (a language model)",
        "pattern": "generative",
        "why": "Stream each token as it is made and schedule per step (continuous batching); "
        "hold time to first token and time per output token, not one latency.",
    },
    {
        "rule": "Another service calls at a high rate or needs a typed contract / streaming",
        "pattern": "gRPC",
        "why": "Typed protobuf contract, HTTP/2 multiplexing and bidirectional streams between services.",
    },
    {
        "rule": "Anything else that a person or a third party calls and waits for",
        "pattern": "REST",
        "why": "Every client speaks HTTP+JSON; easiest to debug, cache, secure and document.",
    },
]

_HOUR_S = 3600.0


def recommend_pattern(workload: Workload) -> Recommendation:
    """Apply the rubric's rules in order and return the first pattern that fits.

    Args:
        workload: the traffic's properties (see :class:`Workload`).

    Returns:
        A :class:`Recommendation` naming the pattern, the reasons, and alternatives.
    """
    w = workload
    if w.must_work_offline or w.caller == "device":
        reasons = ["predictions must be available without a network (or data must stay local)"]
        if w.p99_slo_ms is not None and w.p99_slo_ms < 20:
            reasons.append(f"a p99 of {w.p99_slo_ms:g} ms leaves no room for a network round trip")
        return Recommendation("edge", reasons, ["batch (precompute and ship results)"])
    if w.caller == "scheduler" or (w.p99_slo_ms is None and w.freshness_s >= _HOUR_S):
        reasons = [
            f"predictions may be {w.freshness_s / _HOUR_S:g} h old, so nobody waits on a request"
            if w.freshness_s >= _HOUR_S
            else "a scheduler calls; nobody waits on a request"
        ]
        if w.cost_ceiling_per_million is not None:
            reasons.append("bulk scoring has the lowest cost per prediction")
        return Recommendation("batch", reasons, ["streaming (if freshness tightens to minutes)"])
    if w.caller == "event-stream":
        reasons = ["predictions are triggered by events, not by a waiting caller"]
        if w.freshness_s and w.freshness_s < _HOUR_S:
            reasons.append(f"results must be fresh within {w.freshness_s:g} s")
        return Recommendation(
            "streaming", reasons, ["batch (if minutes-to-hours freshness is enough)"]
        )
    if w.generates_text:
        reasons = ["the answer is written token by token, so stream it as it is made"]
        if w.p99_slo_ms is not None:
            reasons.append(
                f"hold the first token's p99 to {w.p99_slo_ms:g} ms and measure time per output "
                "token beside it"
            )
        return Recommendation(
            "generative", reasons, ["batch (if nobody reads the answer as it is written)"]
        )
    if w.caller == "service":
        reasons = ["the caller is another service, so a typed contract (protobuf) pays off"]
        if w.requests_per_s >= 1000:
            reasons.append(f"{w.requests_per_s:g} req/s favours long-lived HTTP/2 channels")
        if w.p99_slo_ms is not None:
            reasons.append(
                f"measure p99 against the {w.p99_slo_ms:g} ms objective before choosing on speed"
            )
        return Recommendation("gRPC", reasons, ["REST (if callers need plain HTTP/JSON)"])
    reasons = ["a browser or third-party client calls and waits; HTTP+JSON works everywhere"]
    if w.p99_slo_ms is not None:
        reasons.append(f"load-test p99 against the {w.p99_slo_ms:g} ms objective")
    return Recommendation("REST", reasons, ["gRPC (for internal service-to-service calls)"])
