"""A VIRTUAL-CLOCK simulation of Ray Serve's default autoscaling policy (standard library only).

It runs in the browser, where no Ray cluster can: no sockets, no processes, and no real time
passes (a simulated minute takes milliseconds). The policy is the one Ray Serve 2.60 applies
by default (``ray.serve.autoscaling_policy``), re-written here in a few lines:

1. every control tick, the requests in flight (queued + running), averaged over the
   ``look_back_s`` window, give the wanted replicas: ``ceil(in_flight / target_ongoing)``,
   clamped to ``min_replicas..max_replicas``;
2. a wish to go UP is acted on only once it has lasted ``upscale_delay_s``; DOWN only after
   ``downscale_delay_s`` (from 1 to 0 as well); a change of direction starts the clock again;
3. from ZERO replicas, any request scales up at once (no delay), and that request waits for a
   replica to start: the cold start.

The served side is a simple queue: requests arrive evenly at each step's rate, wait in one FIFO
queue, and each running replica serves one at a time for ``call_s`` (the SIMULATED accelerator's
lock); a new replica serves ``start_s`` after the decision. What it leaves out (and the real run
in `lesson.teaching.autoscaling` has): the proxy's own cost, metrics arriving late and noisy, a
shared machine.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Policy", "SimRow", "policy_from_settings", "simulate"]


@dataclass
class Policy:
    """Ray Serve's default policy, with its delays (seconds) and bounds.

    Call `decide` once per control tick with the time and the averaged requests in flight.
    """

    min_replicas: int = 1
    max_replicas: int = 3
    target_ongoing: float = 2.0
    upscale_delay_s: float = 30.0
    downscale_delay_s: float = 600.0
    _wish_since: float | None = field(default=None, repr=False)
    _wish_up: bool | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError(
                f"need 0 <= min_replicas <= max_replicas and max_replicas >= 1, "
                f"got {self.min_replicas}..{self.max_replicas}"
            )
        if self.target_ongoing <= 0:
            raise ValueError(f"target_ongoing must be > 0, got {self.target_ongoing}")
        if self.upscale_delay_s < 0 or self.downscale_delay_s < 0:
            raise ValueError("the delays must be >= 0 s")

    def wanted(self, in_flight: float) -> int:
        """Replicas the load asks for, within the bounds (no delay applied)."""
        want = math.ceil(in_flight / self.target_ongoing - 1e-9) if in_flight > 0 else 0
        return max(self.min_replicas, min(self.max_replicas, want))

    def decide(self, now: float, in_flight: float, current: int) -> int:
        """The target number of replicas at ``now`` (seconds), given the averaged load."""
        want = self.wanted(in_flight)
        if current == 0 and in_flight > 0:  # scale from zero at once: a request is waiting
            self._wish_since = self._wish_up = None
            return max(1, want)
        if want == current:
            self._wish_since = self._wish_up = None
            return current
        up = want > current
        if self._wish_up is not up:
            self._wish_since, self._wish_up = now, up
        delay = self.upscale_delay_s if up else self.downscale_delay_s
        assert self._wish_since is not None
        if now - self._wish_since + 1e-9 >= delay:
            self._wish_since = self._wish_up = None
            return want
        return current


@dataclass(frozen=True)
class SimRow:
    """One simulated second: the load, the replicas serving at its end, requests in flight at
    its end, and the p99 latency (ms) of the requests that arrived in it (None if none)."""

    t: int
    rate: float
    replicas: int
    in_flight: int
    p99_ms: float | None


def simulate(
    policy: Policy,
    steps: list[tuple[float, float]],
    *,
    call_s: float = 0.04,
    start_s: float = 2.0,
    look_back_s: float = 2.0,
    tick_s: float = 0.01,
    initial_replicas: int = 1,
) -> list[SimRow]:
    """Run the step load (``[(seconds, rate), ...]``) against the policy on a virtual clock."""
    if not 0 < tick_s <= 0.1 or not 0 < call_s <= 10 or start_s < 0 or look_back_s <= 0:
        raise ValueError("need 0 < tick_s <= 0.1, 0 < call_s <= 10, start_s >= 0, look_back_s > 0")
    total = sum(s for s, _ in steps)
    if not 0 < total <= 3600 or any(r < 0 or s <= 0 for s, r in steps):
        raise ValueError("steps are (seconds > 0, rate >= 0) pairs lasting at most an hour")
    arrivals: deque[float] = deque()
    began = 0.0
    for seconds, rate in steps:
        arrivals.extend(began + i / rate for i in range(int(seconds * rate)) if rate)
        began += seconds
    queue: deque[float] = deque()  # arrival times of the waiting requests
    busy_until: list[float] = [0.0] * initial_replicas  # one entry per serving replica
    starting: list[float] = []  # times new replicas begin to serve
    window: deque[tuple[float, int]] = deque()
    latencies: dict[int, list[float]] = {}
    seconds: list[tuple[int, int, int]] = []
    for tick in range(int(round(total / tick_s))):
        now = tick * tick_s
        while arrivals and arrivals[0] <= now:
            queue.append(arrivals.popleft())
        busy_until += [now for s in starting if s <= now]
        starting = [s for s in starting if s > now]
        for i, free_at in enumerate(busy_until):  # each free replica takes the next request
            if free_at <= now and queue:
                arrived = queue.popleft()
                busy_until[i] = now + call_s
                latencies.setdefault(int(arrived), []).append(now + call_s - arrived)
        in_flight = len(queue) + sum(1 for b in busy_until if b > now)
        window.append((now, in_flight))
        while window[0][0] < now - look_back_s:
            window.popleft()
        average = sum(n for _, n in window) / len(window)
        current = len(busy_until) + len(starting)
        target = policy.decide(now, in_flight if current == 0 else average, current)
        if target > current:
            starting += [now + start_s] * (target - current)
        elif target < current:  # stop idle replicas first, then the starting ones
            for _ in range(current - target):
                if starting:
                    starting.pop()
                else:
                    idle = min(range(len(busy_until)), key=lambda j: busy_until[j])
                    busy_until.pop(idle)
        if (tick + 1) % round(1 / tick_s) == 0:  # the second's end: replicas, in flight
            seconds.append((int(now), len(busy_until), in_flight))
    rows = []
    for second, replicas, in_flight in seconds:  # p99 once every request has been served
        mine = sorted(latencies.get(second, []))
        p99 = round(mine[max(0, math.ceil(0.99 * len(mine)) - 1)] * 1e3, 1) if mine else None
        rate = next((r for (s, r), b in _starts(steps) if b <= second < b + s), 0.0)
        rows.append(SimRow(second, rate, replicas, in_flight, p99))
    return rows


def _starts(steps: list[tuple[float, float]]) -> list[tuple[tuple[float, float], float]]:
    out, began = [], 0.0
    for step in steps:
        out.append((step, began))
        began += step[0]
    return out


def policy_from_settings(settings: dict) -> Policy:
    """The policy a recorded run used (its ``settings``: `lesson.teaching.autoscaling`)."""
    return Policy(
        min_replicas=settings["min_replicas"],
        max_replicas=settings["max_replicas"],
        target_ongoing=settings["target_ongoing"],
        upscale_delay_s=settings["upscale_delay_s"],
        downscale_delay_s=settings["downscale_delay_s"],
    )
