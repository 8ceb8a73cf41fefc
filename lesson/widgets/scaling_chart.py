"""The autoscaling chart: replicas, requests in flight and p99 over time, stacked on one x axis.

    spec = autoscaling_chart(record["series"], simulated=[asdict(r) for r in rows])
    display_chart(spec)

Rows are one per second (`lesson.teaching.autoscaling` for the recorded run,
`lesson.teaching.autoscaling_sim` for the simulation); each source is one colour, so the
recorded run and the simulation of the same policy can be read side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lesson.widgets.charts import _finish, _num

__all__ = ["autoscaling_chart"]

PANELS = (
    ("replicas", "replicas serving"),
    ("in_flight", "requests in flight"),
    ("p99_ms", "p99 (ms, log)"),
)


def autoscaling_chart(
    recorded: Sequence[dict[str, Any]],
    *,
    simulated: Sequence[dict[str, Any]] | None = None,
    title: str = "Autoscaling under a step load",
    recorded_label: str = "recorded run (Ray Serve)",
    simulated_label: str = "simulation (virtual clock)",
) -> dict[str, Any]:
    """Three panels over seconds: replicas, requests in flight, p99 (log scale)."""
    values = [{**row, "source": recorded_label} for row in recorded]
    values += [{**row, "source": simulated_label} for row in simulated or []]
    rates = [
        {"t": r["t"], "rate": r["rate"]}
        for r in recorded
        if isinstance(r.get("rate"), (int, float))
    ]
    panels = []
    for field, label in PANELS:
        y: dict[str, Any] = {"field": field, "type": "quantitative", "title": label}
        if field == "p99_ms":
            y["scale"] = {"type": "log"}
        panels.append(
            {
                "width": 340,
                "height": 90,
                "mark": {"type": "line", "interpolate": "step-after", "point": False},
                "transform": [{"filter": f"isValid(datum.{field})"}],
                "encoding": {
                    "x": {"field": "t", "type": "quantitative", "title": "seconds into the run"},
                    "y": y,
                    "color": {
                        "field": "source",
                        "type": "nominal",
                        "title": "",  # not None: JupyterLite drops a null (lesson.widgets.charts)
                        "legend": {"orient": "bottom", "direction": "vertical"},
                    },
                    "tooltip": [{"field": k} for k in ("source", "t", field, "rate")],
                },
            }
        )
    described = []
    for label, rows in ((recorded_label, recorded), (simulated_label, simulated or [])):
        if rows:
            reps = [r["replicas"] for r in rows if r.get("replicas") is not None]
            p99 = [r["p99_ms"] for r in rows if r.get("p99_ms") is not None]
            described.append(
                f"{label}: {len(rows)} s, replicas {_num(min(reps))} to {_num(max(reps))}, "
                f"in flight up to {_num(max(r['in_flight'] for r in rows))}, "
                f"p99 {_num(min(p99))} to {_num(max(p99))} ms"
            )
    steps = ", ".join(
        f"{_num(r['rate'])} req/s from {r['t']} s"
        for i, r in enumerate(rates)
        if i == 0 or r["rate"] != rates[i - 1]["rate"]
    )
    description = f"{title}: load {steps}. " + "; ".join(described) + "."
    return _finish(
        {
            "title": title,
            "data": {"values": values},
            "vconcat": panels,
            "spacing": 8,
            "resolve": {"scale": {"x": "shared"}},  # one time axis for the three panels
        },
        description,
    )
