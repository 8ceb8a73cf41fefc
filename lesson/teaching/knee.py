"""Notebook 06's knee and arrivals sections: table rows and sentences computed from the runs.

Standard library only (it runs in the browser). Every sentence is built from the results it is
given, so it says what the run showed, whichever way it went.

Example:
    >>> kept_up(offered=500.0, goodput=480.0), kept_up(offered=500.0, goodput=400.0)
    (True, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lesson.loadtest import LoadTestResult
from lesson.loadtest.arrivals import arrival_offsets, gap_cv

#: A run kept up with its offered rate if it answered at least this share of it successfully.
#: A drawn schedule's count varies by a few percent, and draining the queue after the last
#: arrival lengthens the wall time: below 90 % the server fell behind for real.
KEEP_UP = 0.9
#: p99 ratios within this factor of 1 are "about the same".
SAME = 1.2
#: A run that sent more than this share of its requests late did not keep its schedule: the
#: machine or the load generator fell behind, and its figures measure that too.
LATE_SHARE = 0.1


def _late_share(late_sends: int, requests: int) -> float:
    return late_sends / requests if requests else 0.0


def kept_up(offered: float, goodput: float) -> bool:
    """Whether ``goodput`` successful req/s kept up with ``offered`` req/s (within :data:`KEEP_UP`)."""
    return goodput >= KEEP_UP * offered


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def knee_row(result: LoadTestResult, share: float, capacity: float) -> dict[str, Any]:
    """One row of the knee table: offered and successful rates, p50/p99, late sends, errors."""
    offered = result.target_rate or 0.0
    return {
        "offered req/s": round(offered),
        "share of capacity": f"{share:.0%}",
        "successful req/s": round(result.goodput),
        "kept up": "yes" if kept_up(offered, result.goodput) else "NO",
        "p50 ms": _ms(result.p50),
        "p99 ms": _ms(result.p99),
        "late sends": result.late_sends,
        "requests": result.requests,
        "errors": result.error_count,
    }


def disturbances(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """What in a knee run says it was disturbed: p99 falling as load rose, a lower rate not kept up
    while a higher one was, or a point that kept up yet sent many requests late (sorted by offered rate)."""
    ordered = sorted(rows, key=lambda r: r["offered req/s"])
    found = []
    for lower, higher in zip(ordered, ordered[1:]):
        if lower["p99 ms"] > SAME * higher["p99 ms"]:
            found.append(
                f"p99 fell from {lower['p99 ms']} ms at {lower['share of capacity']} to {higher['p99 ms']} ms "
                f"at {higher['share of capacity']}"
            )
    for i, row in enumerate(ordered):
        if row["kept up"] == "NO" and any(r["kept up"] == "yes" for r in ordered[i + 1 :]):
            found.append(f"{row['share of capacity']} did not keep up while a higher rate did")
            break
    # past capacity sends fall behind by design (the in-flight cap is reached): late only counts where it kept up
    late = [
        r
        for r in ordered
        if r["kept up"] == "yes" and _late_share(r["late sends"], r.get("requests", 0)) > LATE_SHARE
    ]
    if late:
        found.append(
            "requests were sent late at " + ", ".join(r["share of capacity"] for r in late)
        )
    return found


def knee_sentence(rows: Sequence[Mapping[str, Any]], capacity: float) -> str:
    """A bold heading and how p99 grew from the lowest to the highest offered rate, and whether the
    highest was past capacity; a disturbed run (see :func:`disturbances`) is named as such."""
    if len(rows) < 2:
        raise ValueError("knee_sentence needs at least two rows")
    ordered = sorted(rows, key=lambda r: r["offered req/s"])
    low, high = ordered[0], ordered[-1]
    growth = high["p99 ms"] / low["p99 ms"] if low["p99 ms"] > 0 else float("inf")
    doubled = next((r for r in ordered if r["p99 ms"] > 2 * low["p99 ms"]), None)
    disturbed = disturbances(rows)
    heading = (
        "**This run is not a clean curve.** "
        if disturbed
        else "**Queues grow near capacity.** "
        if doubled
        else "**The knee did not show on this run.** "
    )
    text = heading + (
        f"With Poisson arrivals, p99 went from {low['p99 ms']} ms at {low['share of capacity']} of the measured "
        f"capacity ({capacity:,.0f} successful req/s) to {high['p99 ms']} ms at {high['share of capacity']} "
        f"({growth:.1f}x). "
    )
    text += (
        f"It first more than doubled at {doubled['share of capacity']}. "
        if doubled
        else "It never doubled on this run. "
    )
    if disturbed:
        text += (
            "On this run "
            + "; ".join(disturbed)
            + ": the machine or the load generator (in the browser, its "
            "coarse timers) disturbed it, so read its shape with care and compare the simulation below. "
        )
    if _late_share(low["late sends"], low.get("requests", 0)) > LATE_SHARE:
        text += (
            f"Even the lowest point sent {low['late sends']} of its {low['requests']} requests late: the machine "
            "was busy (or the load generator fell behind), so these figures include that; rerun on a quieter "
            "machine for a clean curve. "
        )
    if high["kept up"] == "yes":
        text += (
            f"The highest point was NOT past capacity: it offered {high['offered req/s']} req/s and "
            f"{high['successful req/s']} were answered successfully per second, so the capacity measured "
            "first was low for this run; raise the top share to see the server fall behind."
        )
    else:
        text += (
            f"The highest point was past capacity: it offered {high['offered req/s']} req/s and only "
            f"{high['successful req/s']} were answered successfully per second; the rest queued, were sent "
            f"late ({high['late sends']} late sends) or not at all. Plan capacity so the busiest minute stays "
            "left of the knee."
        )
    return text


def arrivals_row(name: str, result: LoadTestResult) -> dict[str, Any]:
    """One row of the arrivals table: the schedule's gap CV, offered and successful rates, p50/p99/max."""
    process = result.arrivals
    rate = result.target_rate or 0.0
    cv: Any = "n/a"
    if process is not None and rate > 0 and result.requests + result.unsent >= 3:
        offsets = arrival_offsets(
            process, rate=rate, limit=result.requests + result.unsent, horizon=float("inf")
        )
        cv = round(gap_cv(offsets), 2)
    return {
        "arrivals": name,
        "gap CV (schedule)": cv,
        "offered req/s": round(rate),
        "successful req/s": round(result.goodput),
        "p50 ms": _ms(result.p50),
        "p99 ms": _ms(result.p99),
        "max ms": _ms(result.max_latency),
        "late sends": result.late_sends,
    }


def arrivals_verdict(by_name: Mapping[str, LoadTestResult], rate: float, capacity: float) -> str:
    """Compare the p99s of one uniform, one Poisson and one gamma run at the same mean rate.

    Raises:
        ValueError: one of the three processes is missing.
    """
    found: dict[str, tuple[str, LoadTestResult]] = {}
    for name, result in by_name.items():
        if result.arrivals is not None:
            found[result.arrivals.process] = (name, result)
    missing = [p for p in ("uniform", "poisson", "gamma") if p not in found]
    if missing:
        raise ValueError(
            f"arrivals_verdict needs a uniform, a poisson and a gamma run; missing {', '.join(missing)}"
        )
    u, p, g = (max(found[k][1].p99, 1e-9) for k in ("uniform", "poisson", "gamma"))
    even = found["uniform"][1]
    text = (
        f"At the same mean rate ({rate:,.0f} req/s, {rate / capacity:.0%} of the measured capacity), p99 was "
        f"{u * 1000:.2f} ms with evenly spaced arrivals, {p * 1000:.2f} ms with Poisson arrivals "
        f"({p / u:.1f}x) and {g * 1000:.2f} ms with bursty ones ({g / u:.1f}x). "
    )
    raised = [
        (name, ratio) for name, ratio in (("Poisson", p / u), ("bursty", g / u)) if ratio > SAME
    ]
    lowered = [name for name, value in (("Poisson", p), ("bursty", g)) if u > SAME * value]
    if lowered:
        text += (
            f"On this run evenly spaced arrivals had a higher p99 than {' and '.join(lowered)} ones, which "
            "queueing does not predict for the same mean rate: the run was disturbed (a busy machine, or in the "
            "browser coarse timers); rerun it, and compare the simulation below. "
        )
    elif len(raised) == 2 and g > SAME * p:
        text += (
            "The burstier the arrivals, the longer the queues behind them: a test with evenly spaced arrivals "
            "flatters the tail users will see. "
        )
    elif raised:
        names = " and ".join(name for name, _ in raised)
        text += f"{names.capitalize()} arrivals raised p99 above the evenly spaced run's"
        if len(raised) == 1:
            other, ratio = ("bursty", g / u) if raised[0][0] == "Poisson" else ("Poisson", p / u)
            text += f" ({other} ones did not on this run: {ratio:.1f}x)"
        text += ": a test with evenly spaced arrivals flatters the tail users will see. "
    else:
        text += (
            f"On this run neither Poisson nor bursty arrivals raised p99 by more than {SAME - 1:.0%} over evenly "
            "spaced ones. "
        )
    if _late_share(even.late_sends, even.requests) > LATE_SHARE:
        text += (
            f"The evenly spaced run itself sent {even.late_sends} of its {even.requests} requests late: the "
            "machine or the load generator could not keep the schedule, so these figures include that; rerun "
            "on a quieter machine."
        )
    elif not raised and not lowered:
        text += "At this load the queues stayed short whatever the arrivals; raise the rate to see them differ."
    return text.strip()
