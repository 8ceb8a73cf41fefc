"""A run's settings: its arguments checked against their bounds, the payload source, the clock.

:func:`validate` turns the arguments of a run into :class:`Settings` (a ValueError names the
bound that was broken); :func:`payload_source` cycles the payloads; :func:`grace` is how long
requests still in flight may run past ``max_duration``. The clock and the late-send threshold
every measurement uses are defined here, below everything that measures.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lesson.loadtest.arrivals import Arrivals

__all__ = [
    "clock",
    "LATE_SEND_THRESHOLD",
    "Endpoint",
    "Check",
    "Progress",
    "PayloadSource",
    "MAX_CONCURRENCY",
    "MAX_REQUESTS",
    "MAX_DURATION",
    "MAX_RATE",
    "MAX_WARMUP",
    "Settings",
    "check_int",
    "check_real",
    "check_endpoint",
    "validate",
    "payload_source",
    "grace",
]

#: The clock every measurement uses (bound at import, so a patched ``perf_counter`` applies).
clock = time.perf_counter

#: A send more than this many seconds after its scheduled time is a late send.
LATE_SEND_THRESHOLD = 0.001

Endpoint = Callable[[Any], Any]
Check = Callable[[Any], None]
Progress = Callable[[int, int, float], None]
#: ``source(i)`` is the payload of request ``i`` (the payloads, cycled)
PayloadSource = Callable[[int], Any]

MAX_CONCURRENCY = 256
MAX_REQUESTS = 1_000_000
MAX_DURATION = 600.0
MAX_RATE = 100_000.0
MAX_WARMUP = 10_000


@dataclass(frozen=True)
class Settings:
    """A run's validated bounds (``rate=None``: closed loop)."""

    concurrency: int
    rate: float | None
    max_requests: int
    max_duration: float
    warmup: int
    arrivals: Arrivals = Arrivals()

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    @property
    def scheduled(self) -> int:
        """Requests the run may send: ``max_requests``, and in the open loop what fits the duration."""
        if self.rate is None:
            return self.max_requests
        return min(self.max_requests, math.ceil(self.rate * self.max_duration - 1e-9))


def check_int(name: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is an int (not a bool) in ``low..high``, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high:_}, got {value!r}")
    return value


def check_real(name: str, value: Any, high: float) -> float:
    """``value`` as a float if it is a finite number in ``0 < value <= high``, else a ValueError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 < value <= high
    ):
        raise ValueError(f"{name} must be a number with 0 < {name} <= {high:g}, got {value!r}")
    return float(value)


def check_endpoint(endpoint: Any) -> None:
    """A ValueError unless ``endpoint`` is callable."""
    if not callable(endpoint):
        raise ValueError(f"endpoint must be callable, got {type(endpoint).__name__}")


def validate(
    endpoint: Any,
    concurrency: Any,
    rate: Any,
    max_requests: Any,
    max_duration: Any,
    warmup: Any,
    check: Any,
    progress: Any,
    arrivals: Any = "uniform",
    burstiness: Any = 1.0,
    seed: Any = 0,
) -> Settings:
    """Check every argument of a run against its bound; the ValueError names the argument."""
    check_endpoint(endpoint)
    concurrency = check_int("concurrency", concurrency, 1, MAX_CONCURRENCY)
    max_requests = check_int("max_requests", max_requests, 1, MAX_REQUESTS)
    max_duration = check_real("max_duration", max_duration, MAX_DURATION)
    warmup = check_int("warmup", warmup, 0, MAX_WARMUP)
    if rate is not None:
        rate = check_real("rate", rate, MAX_RATE)
    process = Arrivals(arrivals, burstiness, seed)  # ValueError naming the bound
    if rate is None and process.random:
        raise ValueError(
            f"arrivals={arrivals!r} needs a rate (an open loop): a closed loop sends each request "
            "when the previous one is answered"
        )
    if check is not None and not callable(check):
        raise ValueError(f"check must be callable or None, got {type(check).__name__}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable or None, got {type(progress).__name__}")
    return Settings(concurrency, rate, max_requests, max_duration, warmup, process)


def payload_source(payloads: Any, limit: int) -> PayloadSource:
    """One payload or a sequence (an iterable: its first ``limit``), cycled by request index."""
    if isinstance(payloads, (dict, str, bytes)):
        items: Sequence[Any] = [payloads]
    elif isinstance(payloads, Sequence):
        items = payloads
    elif isinstance(payloads, Iterable):
        items = list(itertools.islice(payloads, limit))
    else:
        raise ValueError(
            f"payloads must be a payload or a sequence of payloads, got {type(payloads).__name__}"
        )
    if len(items) == 0:
        raise ValueError("payloads must not be empty")
    n = len(items)
    return lambda i: items[i % n]


def grace(max_duration: float) -> float:
    """How long in-flight requests may run past ``max_duration`` before they are abandoned."""
    return min(10.0, max(1.0, 0.25 * max_duration))
