"""The load-test panel's settings: bounded, checked, and turned into the harness's arguments.

Separate from the widgets so the bounds can be read (and tested) without a display: every
value is a whole number inside :class:`PanelLimits`, every knob inside its own range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lesson.core.schema import ensure_response_schema
from lesson.loadtest.arrivals import Arrivals
from lesson.widgets.targets import Target


@dataclass(frozen=True)
class PanelLimits:
    """Upper bounds of the panel's controls (the harness has wider ones of its own)."""

    max_requests: int = 5000
    max_concurrency: int = 64
    max_rate: int = 5000
    max_instances: int = 256
    max_duration: float = 20.0
    keep_runs: int = 8


def check_range(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ValueError(f"{name} must be a whole number between {low} and {high}, got {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def read_settings(
    targets: Mapping[str, Target],
    limits: PanelLimits,
    controls: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> dict[str, Any]:
    """One run's settings: the controls' values, replaced by ``overrides``, each bound-checked.

    Args:
        targets: the panel's targets by key.
        limits: the panel's bounds.
        controls: what the controls show: ``target``, ``requests``, ``concurrency``, ``rate``,
            ``instances`` and ``knobs`` (the shown target's knob values by name).
        overrides: values given in code (``panel.run(requests=...)``), ``knobs`` a dict; in
            code only, the open loop's ``arrivals``, ``burstiness`` and ``seed`` (default uniform).

    Raises:
        ValueError: an unknown target, setting or knob, or a value outside its bound.
    """
    overrides = dict(overrides)
    target_key = overrides.pop("target", controls["target"])
    if target_key not in targets:
        raise ValueError(f"unknown target {target_key!r}; known: {', '.join(targets)}")
    target = targets[target_key]
    knob_overrides = overrides.pop("knobs", {}) or {}
    values = {
        name: overrides.pop(name, controls[name])
        for name in ("requests", "concurrency", "rate", "instances")
    }
    arrivals = Arrivals(
        overrides.pop("arrivals", "uniform"),
        overrides.pop("burstiness", 1.0),
        overrides.pop("seed", 0),
    )
    if overrides:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(overrides))}")
    settings = {
        "target": target_key,
        "requests": check_range("requests", values["requests"], 1, limits.max_requests),
        "concurrency": check_range("concurrency", values["concurrency"], 1, limits.max_concurrency),
        "rate": check_range("rate", values["rate"], 0, limits.max_rate),
        "instances": check_range("instances", values["instances"], 1, limits.max_instances),
        "knobs": {},
        "arrivals": arrivals,
    }
    shown_knobs = controls.get("knobs") or {}
    for knob in target.knobs:
        current = shown_knobs.get(knob.name, knob.default)
        settings["knobs"][knob.name] = knob.check(knob_overrides.get(knob.name, current))
    unknown = set(knob_overrides) - {k.name for k in target.knobs}
    if unknown:
        raise ValueError(f"target {target_key!r} has no knob(s) {', '.join(sorted(unknown))}")
    return settings


def harness_kwargs(
    settings: Mapping[str, Any],
    limits: PanelLimits,
    progress: Callable[[int, int, float], None] | None,
) -> dict[str, Any]:
    """The load tester's keyword arguments for these settings (every response's schema and row count checked)."""
    instances = settings["instances"]

    def check(response: Any) -> None:
        ensure_response_schema(response)
        got = len(response["predictions"])
        if got != instances:
            raise AssertionError(f"expected {instances} predictions, got {got}")

    return {
        "concurrency": settings["concurrency"],
        "rate": settings["rate"] or None,
        "max_requests": settings["requests"],
        "max_duration": limits.max_duration,
        "warmup": min(5, settings["requests"]),
        "check": check,
        "progress": progress,
        **_arrival_kwargs(settings.get("arrivals"), settings["rate"]),
    }


def _arrival_kwargs(arrivals: Arrivals | None, rate: int) -> dict[str, Any]:
    """The harness's arrival arguments: none for uniform (its default); a ValueError without a rate."""
    if arrivals is None or not arrivals.random:
        return {}
    if not rate:
        raise ValueError(f"arrivals={arrivals.process!r} needs a rate (an open loop)")
    return {"arrivals": arrivals.process, "burstiness": arrivals.burstiness, "seed": arrivals.seed}
