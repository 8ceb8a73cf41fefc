"""The recorded Ray Serve autoscaling run: load it, read its figures, say them in sentences.

The run is too slow for a site build or a test (a Ray cluster, a minute and a half of load), so
``benchmarks/record_ray_autoscaling.py`` ran it once and wrote a record (``data/
ray_autoscaling.json``: the date, the command, the machine, the settings and one row per
second). Everything the Scaling page and notebook 07 say about it is computed here from that
record, never typed into prose. Standard library only: the browser shows the same record.

    >>> from lesson.teaching.autoscaling import load_record, summarize
    >>> summary = summarize(load_record())
    >>> summary.max_replicas <= summary.settings["max_replicas"]
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = [
    "RecordError",
    "ScalingSummary",
    "load_record",
    "load_replicas_record",
    "replicas_rows",
    "replicas_sentences",
    "sentences",
    "simulate_record",
    "simulation_sentence",
    "summarize",
]

RECORD = "ray_autoscaling.json"
_SERIES_KEYS = {
    "t",
    "rate",
    "replicas",
    "starting",
    "intended",
    "ok",
    "errors",
    "in_flight",
    "p99_ms",
}


class RecordError(ValueError):
    """The record is missing a field or holds a value that cannot be right."""


def load_record(text: str | None = None) -> dict[str, Any]:
    """The record (from ``text``, else the packaged file), checked (`RecordError` if not)."""
    if text is None:
        text = resources.files("lesson.teaching").joinpath("data", RECORD).read_text()
    record = json.loads(text)
    check_record(record)
    return record


def check_record(record: Any) -> None:
    """Raise `RecordError` unless the record has every field, in order, with sane values."""
    if not isinstance(record, dict):
        raise RecordError(f"a record is a JSON object, got {type(record).__name__}")
    for key in ("date", "command", "machine", "settings", "series", "cold_start_s"):
        if key not in record:
            raise RecordError(f"the record has no {key!r}")
    series = record["series"]
    if not isinstance(series, list) or len(series) < 10:
        raise RecordError("the series needs one row per second, at least 10")
    for i, row in enumerate(series):
        missing = _SERIES_KEYS - set(row)
        if missing:
            raise RecordError(f"series row {i} lacks {sorted(missing)}")
        if row["t"] != i:
            raise RecordError(f"series row {i} has t={row['t']}: one row per second, in order")
        top = record["settings"]["max_replicas"]
        if row["replicas"] is not None and not 0 <= row["replicas"] <= top:
            raise RecordError(f"series row {i}: {row['replicas']} replicas, outside 0..{top}")
    if not record["cold_start_s"] > 0:
        raise RecordError(f"cold_start_s must be > 0, got {record['cold_start_s']}")


@dataclass(frozen=True)
class ScalingSummary:
    """The figures of one recorded run (seconds, milliseconds)."""

    date: str
    command: str
    settings: dict[str, Any]
    high_rate: float
    low_rate: float
    high_starts_s: int
    high_ends_s: int
    first_upscale_s: int | None  # seconds after the high step began: more replicas serving
    decided_s: int | None  # seconds after the high step began: a replica starting (decided)
    decided_at_s: float | None  # the same from the 0.25 s samples
    serving_at_s: float | None  # the new replica serving, from the 0.25 s samples
    max_replicas: int
    p99_before_ms: float  # the low step before the high one: p99's median
    p99_peak_ms: float  # the high step's worst second
    p99_settled_ms: float  # the high step's last 5 s
    in_flight_peak: int
    zero_at_s: float | None  # seconds after the load stopped: no replica left
    cold_start_s: float
    warm_request_s: float
    requests: int
    errors: int

    def upscale_text(self) -> str:
        """The upscale delay as measured: from the 0.25 s samples when the record has them."""
        if self.serving_at_s is not None:
            return f"{self.serving_at_s:g} s"
        return f"{self.first_upscale_s} s"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def summarize(record: dict[str, Any]) -> ScalingSummary:
    """The run's figures, computed from its rows."""
    series = record["series"]
    steps = record["settings"]["steps"]
    rates = [s["rate"] for s in steps]
    high = max(rates)
    starts = [sum(s["seconds"] for s in steps[:i]) for i in range(len(steps))]
    high_index = rates.index(high)
    high_start = int(starts[high_index])
    high_end = int(high_start + steps[high_index]["seconds"])
    load_end = int(starts[-1]) if rates[-1] == 0 else len(series)
    before = [r["replicas"] for r in series[:high_start] if r["replicas"] is not None]
    base = max(before) if before else 1
    up = next((r["t"] for r in series[high_start:high_end] if (r["replicas"] or 0) > base), None)
    decided = next((r["t"] for r in series[high_start:high_end] if (r["starting"] or 0) > 0), None)
    samples = record.get("samples") or []  # (seconds, running, starting) every 0.25 s
    decided_at = next((t for t, _, st in samples if t >= high_start and st > 0), None)
    up_at = next((t for t, run, _ in samples if t >= high_start and run > base), None)
    p99 = lambda rows: [r["p99_ms"] for r in rows if r["p99_ms"] is not None]
    zero: float | None = next((r["t"] for r in series[load_end:] if r["replicas"] == 0), None)
    if zero is None and record.get("scaled_to_zero_at_s") is not None:  # after the series ended
        zero = record["scaled_to_zero_at_s"]
    return ScalingSummary(
        date=record["date"],
        command=record["command"],
        settings=record["settings"],
        high_rate=high,
        low_rate=rates[0],
        high_starts_s=high_start,
        high_ends_s=high_end,
        first_upscale_s=None if up is None else up - high_start,
        decided_s=None if decided is None else decided - high_start,
        decided_at_s=None if decided_at is None else round(decided_at - high_start, 1),
        serving_at_s=None if up_at is None else round(up_at - high_start, 1),
        max_replicas=max(r["replicas"] or 0 for r in series),
        p99_before_ms=_median(p99(series[:high_start]) or [float("nan")]),
        p99_peak_ms=max(p99(series[high_start:high_end]) or [float("nan")]),
        p99_settled_ms=_median(p99(series[high_end - 5 : high_end]) or [float("nan")]),
        in_flight_peak=max(r["in_flight"] for r in series),
        zero_at_s=None if zero is None else round(zero - load_end, 1),
        cold_start_s=record["cold_start_s"],
        warm_request_s=record["warm_request_s"],
        requests=record["requests"],
        errors=record["errors"],
    )


def sentences(s: ScalingSummary) -> list[str]:
    """What the run shows, in the lesson's words, every number from the summary."""
    cfg = s.settings
    out = [
        f"Recorded {s.date} with `{s.command}` on a {cfg['num_cpus']}-CPU Ray cluster "
        f"(shared machine). The load: "
        + ", then ".join(f"{st['rate']:g} req/s for {st['seconds']:g} s" for st in cfg["steps"])
        + f", open loop; the model's call waits {cfg['call_s'] * 1e3:g} ms, one at a time per "
        f"replica (at most {1 / cfg['call_s']:g} a second each). Autoscaling "
        f"{cfg['min_replicas']}..{cfg['max_replicas']} replicas, target "
        f"{cfg['target_ongoing']:g} request(s) in flight per replica, up to "
        f"{cfg['max_ongoing_requests']} at once each; SHORT delays for the run: upscale "
        f"{cfg['upscale_delay_s']:g} s, downscale {cfg['downscale_delay_s']:g} s, look-back "
        f"{cfg['look_back_period_s']:g} s (Ray's defaults: 30 s, 600 s and 30 s).",
    ]
    if s.first_upscale_s is None:
        out.append(f"The load stepped from {s.low_rate:g} to {s.high_rate:g} req/s and no "
                   "replica was added during the high step.")  # fmt: skip
    else:
        out.append(
            f"The load stepped from {s.low_rate:g} to {s.high_rate:g} req/s at "
            f"{s.high_starts_s} s; a new replica served {s.upscale_text()} later: "
            + (
                f"the autoscaler had decided after {s.decided_at_s:g} s (its "
                f"{cfg['upscale_delay_s']:g} s upscale delay counts from when the load, averaged "
                f"over {cfg['look_back_period_s']:g} s, first asked for more), and the replica "
                "then took "
                f"{s.serving_at_s - s.decided_at_s:.1f} s to start. "
                if s.decided_at_s is not None
                and s.serving_at_s is not None
                and s.decided_at_s <= s.serving_at_s
                else "the upscale delay, the metrics' look-back and the replica's start. "
            )
            + f"Meanwhile requests queued: up to {s.in_flight_peak} in flight, p99 up to "
            f"{s.p99_peak_ms:,.0f} ms against {s.p99_before_ms:,.0f} ms before the step; "
            + (
                f"with {s.max_replicas} replicas p99 came back to {s.p99_settled_ms:,.0f} ms "
                "by the high step's end."
                if s.p99_settled_ms <= 3 * s.p99_before_ms
                else f"at the high step's end p99 was still {s.p99_settled_ms:,.0f} ms: "
                f"{s.max_replicas} replicas had not drained the queue."
            )
        )
    if s.zero_at_s is not None:
        out.append(
            f"With no load, the deployment was down to zero replicas {s.zero_at_s:g} s after "
            f"the load stopped; the next request paid the cold start: {s.cold_start_s:.2f} s, "
            f"against {s.warm_request_s * 1e3:.0f} ms for the warm one after it."
        )
    out.append(f"{s.requests:,} requests in all, {s.errors} failed.")
    return out


REPLICAS_RECORD = "ray_replicas.json"


def load_replicas_record(text: str | None = None) -> dict[str, Any]:
    """The replicas benchmark's record (``benchmarks/bench_ray_serve.py --record``), checked."""
    if text is None:
        text = resources.files("lesson.teaching").joinpath("data", REPLICAS_RECORD).read_text()
    record = json.loads(text)
    for key in ("date", "command", "machine", "settings", "rounds", "summary"):
        if key not in record:
            raise RecordError(f"the replicas record has no {key!r}")
    if not record["rounds"]:
        raise RecordError("the replicas record has no rounds")
    return record


def replicas_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per model: requests/s and p99 with 1 and 2 replicas, and the ratio."""
    labels = {
        "diabetes-mlp-slow-accelerator": "SIMULATED accelerator, 40 ms a call (waits)",
        "diabetes-mlp-simulated-accelerator": "SIMULATED accelerator, 2 ms a call (waits)",
        "diabetes-mlp": "MLP on the CPU (numpy)",
    }
    rows = []
    for model, figures in record["summary"].items():
        if model == "overhead":
            continue
        rows.append(
            {
                "model": labels.get(model, model),
                "1 replica req/s": figures["req_s_1"],
                "2 replicas req/s": figures["req_s_2"],
                "2 / 1": figures["ratio_2_over_1"],
                "p99 ms (1 → 2)": f"{figures['p99_ms_1']:.0f} → {figures['p99_ms_2']:.0f}",
            }
        )
    return rows


def replicas_sentences(record: dict[str, Any]) -> list[str]:
    """The replicas and proxy-overhead figures in words, every number from the record."""
    s, cfg, over = record["summary"], record["settings"], record["summary"]["overhead"]
    out = [
        f"Recorded {record['date']} with `{record['command']}` (medians of {cfg['runs']} rounds "
        f"of {cfg['duration_s']:g} s, {cfg['concurrency']} connections in a closed loop; a "
        f"{cfg['num_cpus']}-CPU Ray cluster, {cfg['replica_cpus']:g} CPU reserved per replica; "
        "the machine was shared with other jobs)."
    ]
    slow = s.get("diabetes-mlp-slow-accelerator")
    if slow:
        out.append(
            f"When each call WAITS 40 ms (the simulated accelerator), a second replica took "
            f"throughput from {slow['req_s_1']:g} to {slow['req_s_2']:g} requests a second "
            f"({slow['ratio_2_over_1']:g}x): the replicas were the bound."
        )
    fast = s.get("diabetes-mlp-simulated-accelerator")
    if fast:
        out.append(
            f"The registry's 2 ms accelerator went from {fast['req_s_1']:g} to "
            f"{fast['req_s_2']:g} req/s ({fast['ratio_2_over_1']:g}x), far below the 500 calls a "
            "second its device allows: the bound was elsewhere in the replica (Ray's work per "
            "request in its process), and a second replica process added about as much again."
        )
    mlp = s["diabetes-mlp"]
    out.append(
        f"On the CPU-bound MLP the second replica gave {mlp['ratio_2_over_1']:g}x "
        f"({mlp['req_s_1']:g} → {mlp['req_s_2']:g} req/s): the two cores are shared by Ray's "
        "proxy, the replicas and the load generator."
    )
    out.append(
        f"Ray's proxy against the lesson's uvicorn server, one replica, same load: "
        f"{over['ray_req_s']:g} against {over['uvicorn_req_s']:g} req/s "
        f"({over['throughput_ratio']:.3g}x); at {cfg['rate']:g} req/s (neither saturated) p50 "
        f"{over['ray_p50_ms_at_rate']:g} ms against {over['uvicorn_p50_ms_at_rate']:g} ms, "
        f"{over['p50_delta_ms']:+g} ms a request for Ray's proxy and replica machinery."
    )
    return out


def simulate_record(record: dict[str, Any]) -> list[Any]:
    """The recorded run's policy and step load on the virtual clock
    (`lesson.teaching.autoscaling_sim`), a new replica serving as long after the decision as
    it took in the recorded run (2 s when the record cannot say)."""
    from lesson.teaching.autoscaling_sim import policy_from_settings, simulate

    s, cfg = summarize(record), record["settings"]
    measured = s.decided_at_s is not None and s.serving_at_s is not None
    return simulate(
        policy_from_settings(cfg),
        [(step["seconds"], step["rate"]) for step in cfg["steps"]],
        call_s=cfg["call_s"],
        look_back_s=cfg["look_back_period_s"],
        start_s=s.serving_at_s - s.decided_at_s if measured else 2.0,  # type: ignore[operator]
        initial_replicas=cfg.get("initial_replicas") or 1,
    )


def simulation_sentence(record: dict[str, Any], simulated: list[Any]) -> str:
    """What the simulation did beside the recorded run, its numbers from both."""
    s = summarize(record)
    up = next((r.t for r in simulated if r.t >= s.high_starts_s and r.replicas > 1), None)
    if up is None:
        return "The simulation (virtual clock, same policy and steps) added no replica."
    peak = max(r.p99_ms or 0 for r in simulated)
    drained = next((r.t for r in simulated if r.t > up and r.in_flight <= 1 and r.rate > 0), None)
    return (
        f"The simulation (virtual clock, same policy and steps, a replica serving as long after "
        f"the decision as in the recorded run) added replicas {up - s.high_starts_s} s after the "
        f"step, its p99 peaking at {peak:,.0f} ms"
        + (f", and had drained its queue by {drained} s" if drained is not None else "")
        + ". What it leaves out (Ray's own work per request, metrics that arrive late, a shared "
        "machine, a starting replica taking CPU from the others) is the gap to the recorded run."
    )
