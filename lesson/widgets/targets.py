"""What a load-test panel can aim at: a named endpoint, its payload shape and its knobs.

A :class:`Target` wraps one way of calling the model (an in-process adapter, a REST or gRPC
client, a micro-batcher) as ``endpoint(payload: dict) -> dict`` in the V1 response shape.
Targets with knobs (e.g. a micro-batcher's ``max_batch_size``) build a fresh endpoint per
run from the knob values through ``make_endpoint``. :func:`make_payloads` builds the
requests. Standard library only.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Endpoint = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Knob:
    """A bounded integer setting a target exposes (shown as a slider).

    Attributes:
        name: keyword passed to ``Target.make_endpoint``.
        label: what the slider says.
        minimum / maximum / default: the bounds and start value (inclusive).
        help: one sentence shown under the slider.
    """

    name: str
    label: str
    minimum: int
    maximum: int
    default: int
    help: str = ""

    def __post_init__(self) -> None:
        if not self.minimum <= self.default <= self.maximum:
            raise ValueError(
                f"knob {self.name}: default {self.default} outside [{self.minimum}, {self.maximum}]"
            )

    def check(self, value: int) -> int:
        """Return ``value`` as an int, or raise ``ValueError`` naming the bound it breaks."""
        value = int(value)
        if not self.minimum <= value <= self.maximum:
            raise ValueError(
                f"{self.name} must be between {self.minimum} and {self.maximum}, got {value}"
            )
        return value


@dataclass
class Target:
    """One thing to load-test.

    Attributes:
        key: short id used in code, e.g. ``"rest"``.
        label: what the dropdown shows, e.g. ``"REST · HTTP/JSON (server at http://...)"``.
        pattern: the serving pattern (``REST``, ``gRPC``, ``batch``, ``streaming``, ``edge``,
            ``in-process``).
        transport: how requests travel (``in-process`` or a URL).
        endpoint: ``payload -> response`` (sync or async); used when the target has no knobs.
        make_endpoint: ``(**knobs) -> endpoint`` for targets with knobs.
        knobs: the target's bounded settings.
        n_features: row width of the generated payloads.
        sample_rows: realistic rows to build payloads from (default: uniform random values).
        asynchronous: the endpoint is ``async`` (then the panel always uses the asyncio
            harness); worked out from ``endpoint`` when not given.
        description: one sentence for learners.

    An endpoint built by ``make_endpoint`` may have a ``close()`` or ``async aclose()``
    method (e.g. a batcher); the panel calls it after the run.
    """

    key: str
    label: str
    pattern: str
    transport: str = "in-process"
    endpoint: Endpoint | None = None
    make_endpoint: Callable[..., Endpoint] | None = None
    knobs: tuple[Knob, ...] = ()
    n_features: int = 4
    description: str = ""
    asynchronous: bool | None = None
    sample_rows: list[list[float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.endpoint is None and self.make_endpoint is None:
            raise ValueError(f"target {self.key!r} needs an endpoint or make_endpoint")
        if self.asynchronous is None:
            self.asynchronous = self.endpoint is not None and is_async_callable(self.endpoint)

    def build(self, **knob_values: int) -> Endpoint:
        """The endpoint for one run, built with the given knob values (checked against bounds)."""
        if self.make_endpoint is None:
            return self.endpoint  # type: ignore[return-value]
        values = {}
        for knob in self.knobs:
            values[knob.name] = knob.check(knob_values.get(knob.name, knob.default))
        return self.make_endpoint(**values)


def is_async_callable(fn: Any) -> bool:
    """True for an ``async def`` function or an object whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(fn) or (
        callable(fn) and inspect.iscoroutinefunction(fn.__call__)
    )


def make_payloads(
    instances: int,
    n_features: int,
    *,
    count: int = 16,
    seed: int = 0,
    sample_rows: list[list[float]] | None = None,
) -> list[dict[str, Any]]:
    """``count`` distinct V1 requests, each with ``instances`` rows of ``n_features`` floats.

    Rows are drawn (seeded, so runs repeat) from ``sample_rows`` when given, else uniform in
    [0, 1) rounded to 4 places. Rows are always a list of rows (``{"instances": [[...]]}``).
    """
    if instances < 1 or n_features < 1 or count < 1:
        raise ValueError("instances, n_features and count must be at least 1")
    rng = random.Random(seed)
    if sample_rows:
        return [
            {"instances": [list(rng.choice(sample_rows)) for _ in range(instances)]}
            for _ in range(count)
        ]
    return [
        {
            "instances": [
                [round(rng.random(), 4) for _ in range(n_features)] for _ in range(instances)
            ]
        }
        for _ in range(count)
    ]
