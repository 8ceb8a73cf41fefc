"""Open-loop arrival processes: when each request is due (standard library; runs in Pyodide).

- ``uniform``: evenly spaced, request ``i`` at ``i / rate`` — the gentlest load: it barely queues.
- ``poisson``: independent arrivals, exponential gaps of mean ``1 / rate`` (many users acting
  on their own); the coefficient of variation (CV) of the gaps is 1.
- ``gamma``: gaps ~ Gamma(shape=burstiness, scale=1 / (rate * burstiness)), as vLLM's serving
  benchmark draws them: the mean gap is still ``1 / rate``, the CV is ``1 / sqrt(burstiness)``;
  burstiness < 1 is burstier than Poisson, > 1 smoother (burstiness 1 *is* Poisson).

A seed fixes the schedule (the same seed, the same arrivals); ``seed=None`` draws a fresh one.
The first request is due at once; each later one a drawn gap after the previous one.

Example:
    >>> offsets = arrival_offsets(Arrivals("poisson", seed=1), rate=100.0, limit=3, horizon=10.0)
    >>> len(offsets), offsets[0]
    (3, 0.0)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ARRIVALS",
    "MIN_BURSTINESS",
    "MAX_BURSTINESS",
    "Arrivals",
    "check_arrivals",
    "arrival_offsets",
    "gap_cv",
]

#: The arrival processes a run may use.
ARRIVALS = ("uniform", "poisson", "gamma")
#: Burstiness (the gamma shape) bounds: below 0.01 almost every gap is ~0 (gap CV 10), above 100
#: the schedule is all but uniform (gap CV 0.1): use ``uniform`` then.
MIN_BURSTINESS = 0.01
MAX_BURSTINESS = 100.0


@dataclass(frozen=True)
class Arrivals:
    """How an open loop spaces its requests: the process, its burstiness and the seed."""

    process: str = "uniform"
    burstiness: float = 1.0
    seed: int | None = 0

    def __post_init__(self) -> None:
        check_arrivals(self.process, self.burstiness, self.seed)

    @property
    def random(self) -> bool:
        """Whether the gaps are drawn (poisson, gamma) rather than even."""
        return self.process != "uniform"

    @property
    def gap_cv(self) -> float:
        """The gaps' coefficient of variation this process aims at (0, 1, 1/sqrt(burstiness))."""
        return 0.0 if self.process == "uniform" else 1.0 / math.sqrt(self.burstiness)

    def describe(self) -> str:
        """``uniform``, ``Poisson (seed 0)`` or ``gamma, burstiness 0.5 (seed 0)``."""
        if self.process == "uniform":
            return "uniform"
        seed = "random seed" if self.seed is None else f"seed {self.seed}"
        name = "Poisson" if self.process == "poisson" else f"gamma, burstiness {self.burstiness:g}"
        return f"{name} ({seed})"

    def summary(self) -> dict[str, Any]:
        return {"arrivals": self.process, "burstiness": self.burstiness, "arrival_seed": self.seed}


def check_arrivals(process: Any, burstiness: Any, seed: Any) -> None:
    """A ValueError naming the bound unless the three make an arrival process."""
    if process not in ARRIVALS:
        raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}; got {process!r}")
    if (
        isinstance(burstiness, bool)
        or not isinstance(burstiness, (int, float))
        or not math.isfinite(burstiness)
        or burstiness <= 0
    ):
        raise ValueError(f"burstiness must be a number > 0 (the gamma shape); got {burstiness!r}")
    if not MIN_BURSTINESS <= burstiness <= MAX_BURSTINESS:
        raise ValueError(
            f"burstiness must be in {MIN_BURSTINESS:g}..{MAX_BURSTINESS:g} (gap CV "
            f"{1 / math.sqrt(MAX_BURSTINESS):g}..{1 / math.sqrt(MIN_BURSTINESS):g}); got {burstiness!r}"
        )
    if process != "gamma" and burstiness != 1:
        raise ValueError(
            f"burstiness applies to arrivals='gamma' only (poisson is gamma with burstiness 1); "
            f"got arrivals={process!r} with burstiness={burstiness!r}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an integer or None; got {seed!r}")


def arrival_offsets(arrivals: Arrivals, *, rate: float, limit: int, horizon: float) -> list[float]:
    """Seconds from the run's start at which each request is due: at most ``limit``, all before ``horizon``.

    Uniform: ``i / rate``. Poisson and gamma: the first at 0, then drawn gaps (``random.Random(seed)``).
    """
    if not rate > 0 or limit < 0 or not horizon > 0:
        raise ValueError(
            f"rate and horizon must be > 0 and limit >= 0; got {rate!r}, {horizon!r}, {limit!r}"
        )
    if arrivals.process == "uniform":
        fits = limit if math.isinf(horizon) else math.ceil(rate * horizon - 1e-9)
        return [i / rate for i in range(min(limit, fits))]
    rng = random.Random(arrivals.seed)
    shape = arrivals.burstiness
    scale = 1.0 / (rate * shape)
    offsets: list[float] = []
    t = 0.0
    while len(offsets) < limit and t < horizon:
        offsets.append(t)
        t += (
            rng.expovariate(rate)
            if arrivals.process == "poisson"
            else rng.gammavariate(shape, scale)
        )
    return offsets


def gap_cv(offsets: list[float]) -> float:
    """The coefficient of variation (standard deviation / mean) of the gaps between ``offsets``."""
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    if len(gaps) < 2:
        raise ValueError("gap_cv needs at least three arrivals")
    mean = sum(gaps) / len(gaps)
    var = sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1)
    return math.sqrt(var) / mean if mean > 0 else math.inf
