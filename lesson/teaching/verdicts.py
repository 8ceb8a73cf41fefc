"""Sentences that compare measured figures, computed from the figures (so they cannot contradict them).

A notebook's "What to notice" must say what its own run showed. These helpers take the
numbers and return the words, and they know the clock: in the browser ``time.perf_counter()``
ticks in 100 µs steps, so a latency at or below one tick is not a measurement of the call,
and a ratio of two figures a tick or two apart is a ratio of the clock's rounding::

    >>> from lesson.teaching.verdicts import latency_text, ratio_text
    >>> latency_text(0.0001, tick_s=0.0001)
    "below the clock's 0.1 ms resolution"
    >>> ratio_text(0.002, 0.001, tick_s=1e-7)
    '2.0x'

Standard library only (it runs in the browser).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

#: A ratio is formed only when both figures exceed this many clock ticks: a reading of n ticks
#: stands for anything from n-1 to n+1 ticks, so below this the ratio is mostly rounding.
RATIO_MIN_TICKS = 2


def _check(value_s: float, name: str) -> float:
    if (
        isinstance(value_s, bool)
        or not isinstance(value_s, (int, float))
        or math.isnan(value_s)
        or value_s < 0
    ):
        raise ValueError(f"{name} must be a non-negative number of seconds, got {value_s!r}")
    return float(value_s)


def resolved(value_s: float, tick_s: float) -> bool:
    """Whether a latency is above the clock's resolution (more than one tick)."""
    return _check(value_s, "value_s") > _check(tick_s, "tick_s")


def below_resolution_text(tick_s: float) -> str:
    """``"below the clock's 0.1 ms resolution"`` for a 100 µs tick."""
    return f"below the clock's {_check(tick_s, 'tick_s') * 1000:.2g} ms resolution"


def digits_for(tick_s: float, *, most: int = 3) -> int:
    """Decimals of a figure in ms that the clock can back: 1 for a 0.1 ms tick, ``most`` for a fine clock."""
    tick_ms = _check(tick_s, "tick_s") * 1000
    if tick_ms == 0:
        return most
    return max(0, min(most, math.ceil(-math.log10(tick_ms) - 1e-9)))


def latency_text(value_s: float, *, tick_s: float, digits: int | None = None) -> str:
    """``"1.650 ms"`` (digits to the clock's resolution unless given: ``"1.6 ms"`` on a 0.1 ms
    clock), or the clock's resolution when the figure is at or below one tick."""
    if not resolved(value_s, tick_s):
        return below_resolution_text(tick_s)
    digits = digits_for(tick_s) if digits is None else digits
    return f"{value_s * 1000:.{digits}f} ms"


def latency_range_text(
    values_s: Sequence[float], *, tick_s: float, digits: int | None = None
) -> str:
    """The range of several latencies: ``"0.016–0.037 ms"``, one figure when they print alike,
    or the clock's resolution for those at or below one tick."""
    if not values_s:
        raise ValueError("values_s must not be empty")
    digits = digits_for(tick_s) if digits is None else digits
    low, high = min(values_s), max(values_s)
    if not resolved(high, tick_s):
        return below_resolution_text(tick_s) + " (all of them)"
    if not resolved(low, tick_s):
        return f"from {below_resolution_text(tick_s)} to {latency_text(high, tick_s=tick_s, digits=digits)}"
    low_text, high_text = f"{low * 1000:.{digits}f}", f"{high * 1000:.{digits}f}"
    return f"{low_text} ms" if low_text == high_text else f"{low_text}–{high_text} ms"


def ratio(a_s: float, b_s: float, *, tick_s: float) -> float | None:
    """``a / b``, or None when either figure is within :data:`RATIO_MIN_TICKS` ticks of zero."""
    a, b, tick = _check(a_s, "a_s"), _check(b_s, "b_s"), _check(tick_s, "tick_s")
    if a <= RATIO_MIN_TICKS * tick or b <= RATIO_MIN_TICKS * tick or b == 0:
        return None
    return a / b


def ratio_text(a_s: float, b_s: float, *, tick_s: float, digits: int = 1) -> str:
    """``"2.0x"``, or why no ratio is formed (the clock cannot resolve one of the figures)."""
    value = ratio(a_s, b_s, tick_s=tick_s)
    if value is None:
        return f"no ratio: a figure is within {RATIO_MIN_TICKS} ticks of the clock's {tick_s * 1000:.2g} ms resolution"
    return f"{value:.{digits}f}x"


def compare_text(
    name_a: str, a_s: float, name_b: str, b_s: float, *, tick_s: float, what: str = "p50"
) -> str:
    """One clause comparing two latencies: which was higher, both figures and the ratio.

    ``"gRPC's p50 (1.650 ms) was above REST's (0.825 ms), 2.0x"``; when the clock cannot tell
    them apart it says so instead of ranking them.
    """
    a_text, b_text = latency_text(a_s, tick_s=tick_s), latency_text(b_s, tick_s=tick_s)
    if not resolved(a_s, tick_s) and not resolved(b_s, tick_s):
        both = below_resolution_text(tick_s)
        return f"{name_a}'s and {name_b}'s {what} were both {both}: this clock cannot rank them"
    if a_s == b_s:
        return f"{name_a}'s {what} ({a_text}) equalled {name_b}'s"
    side = "above" if a_s > b_s else "below"
    value = ratio(a_s, b_s, tick_s=tick_s)
    times = f", {value:.1f}x" if value is not None else ""
    return f"{name_a}'s {what} ({a_text}) was {side} {name_b}'s ({b_text}){times}"


def spread_text(p50s_s: Mapping[str, float], *, tick_s: float) -> str:
    """The spread between the fastest and the slowest of several p50s, in words computed from them."""
    if len(p50s_s) < 2:
        raise ValueError("spread_text needs at least two figures")
    fastest = min(p50s_s, key=p50s_s.__getitem__)
    slowest = max(p50s_s, key=p50s_s.__getitem__)
    low, high = p50s_s[fastest], p50s_s[slowest]
    if not resolved(high, tick_s):
        return f"every p50 was {below_resolution_text(tick_s)}, so this clock cannot say how far apart they were"
    value = ratio(high, low, tick_s=tick_s)
    if value is None:
        return (
            f"the slowest p50 ({slowest}) was {latency_text(high, tick_s=tick_s)} and the fastest ({fastest}) "
            f"{latency_text(low, tick_s=tick_s)}, too close to the clock's resolution for a ratio"
        )
    return (
        f"the slowest p50 ({slowest}, {latency_text(high, tick_s=tick_s)}) was {value:.0f}x the fastest "
        f"({fastest}, {latency_text(low, tick_s=tick_s)})"
    )


#: The landscape's latency words, from the lowest claim to the highest.
LATENCY_CLAIM_ORDER = ("ultra-low", "low", "medium", "high")


def claims_against_measured(
    claims: Mapping[str, str], p50s_s: Mapping[str, float], *, tick_s: float, margin: float = 0.25
) -> list[str]:
    """Each pair of patterns whose claimed latency order the measured p50s contradict, as a clause.

    ``claims`` maps a pattern to a word of :data:`LATENCY_CLAIM_ORDER`; a pair is contradicted
    when pattern A is claimed lower than B but its p50 is more than ``margin`` above B's (runs
    on a shared machine differ by that much) and above the clock's resolution. Compare only
    patterns measured the same way (all over a real server, or all in-process). An empty list:
    no measured pair contradicts a claim.
    """
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    unknown = {word for word in claims.values() if word not in LATENCY_CLAIM_ORDER}
    if unknown:
        raise ValueError(f"unknown latency words {sorted(unknown)}; known: {LATENCY_CLAIM_ORDER}")
    rank = {word: i for i, word in enumerate(LATENCY_CLAIM_ORDER)}
    names = [name for name in claims if name in p50s_s]
    found = []
    for a in names:
        for b in names:
            if (
                rank[claims[a]] < rank[claims[b]]
                and p50s_s[a] > p50s_s[b] * (1 + margin)
                and resolved(p50s_s[a], tick_s)
            ):
                found.append(
                    f"{a} (claimed {claims[a]}) measured {latency_text(p50s_s[a], tick_s=tick_s)} at p50, "
                    f"above {b} (claimed {claims[b]}) at {latency_text(p50s_s[b], tick_s=tick_s)}"
                )
    return found


def tool_agreement_text(
    tool: str,
    reference: str,
    *,
    rps: float,
    reference_rps: float,
    p50_ms: float,
    reference_p50_ms: float,
    tolerance: float = 0.10,
) -> str:
    """What one load tool's figures say beside a reference tool's on the same server, in one run.

    In a closed loop at a fixed number of connections, throughput is about connections divided
    by latency, so a tool that costs more CPU per request, on a machine where it shares the
    cores with the server, should show *fewer* requests per second *and* a *higher* latency.
    The sentence says which of that happened, and what the other outcomes mean.
    """
    for name, value in (
        ("rps", rps),
        ("reference_rps", reference_rps),
        ("p50_ms", p50_ms),
        ("reference_p50_ms", reference_p50_ms),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not value > 0
            or math.isinf(value)
        ):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    rps_x, p50_x = rps / reference_rps, p50_ms / reference_p50_ms
    figures = f"{tool} measured {rps_x:.2f}x {reference}'s throughput and {p50_x:.2f}x its p50"
    if abs(rps_x - 1) <= tolerance and abs(p50_x - 1) <= tolerance:
        return (
            f"{figures}: within {tolerance:.0%} on both, so on this run the server, not the client, set the pace "
            "and the two tools' own costs did not show."
        )
    if rps_x < 1 and p50_x > 1:
        return (
            f"{figures}: fewer requests per second and a higher latency, what a costlier client sharing the "
            "CPU with the server would show (it takes CPU from the server, and its own time is in the latency)."
        )
    if rps_x > 1 and p50_x < 1:
        return (
            f"{figures}: more requests per second and a lower latency. A costlier client cannot make the server "
            "faster, so this is not the client's cost: the tools ran one after another on a shared machine, "
            "and the server's speed changed between runs by more than the clients differ. Rerun it, or take "
            "medians of several runs with server and load on separate cores, before ranking the tools."
        )
    return (
        f"{figures}: throughput and latency did not move in opposite directions, as they would in a closed loop "
        "(throughput about connections / latency) if only speed differed. The tools measure differently (where "
        "the clock starts and stops, which requests are left out): compare each tool with its own earlier runs."
    )
