"""Latency charts as Vega-Lite v5 specifications (plain dicts), displayed without matplotlib.

JupyterLab and JupyterLite render the ``application/vnd.vegalite.v5+json`` output natively.
For static pages (the executed notebooks on the site) :func:`chart_bundle` adds an SVG of
the same spec when ``vl-convert-python`` is importable (CPython only; it is not needed in
the browser)::

    spec = comparison_chart(runs)      # runs: list[RunRecord]
    display_chart(spec)

Nothing here draws by hand: the specs describe the data, Vega-Lite draws.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Sequence

from lesson.widgets.runs import RunRecord

__all__ = [
    "VEGA_LITE_MIME",
    "VEGA_LITE_SCHEMA",
    "percentile_chart",
    "histogram_chart",
    "comparison_chart",
    "bar_chart",
    "line_chart",
    "chart_bundle",
    "display_chart",
    "to_svg",
]

VEGA_LITE_MIME = "application/vnd.vegalite.v5+json"
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

#: Percentile points drawn on the curve: (label, LoadTestResult attribute).
CURVE_POINTS: tuple[tuple[str, str], ...] = (
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("p99.9", "p999"),
    ("max", "max_latency"),
)

#: Most latency samples embedded in a histogram (evenly spaced ranks of the sorted samples).
MAX_HISTOGRAM_SAMPLES = 1500


def percentile_chart(runs: Sequence[RunRecord], *, title: str = "Latency by percentile") -> dict[str, Any]:
    """A line per run through its p50, p90, p95, p99, p99.9 and max latency (ms).

    Args:
        runs: the runs to compare; each becomes one coloured line.
        title: chart title.

    Returns:
        A Vega-Lite v5 spec with the values inline under ``data.values``.
    """
    values = []
    for run in runs:
        floor = max(float(getattr(run.result, "clock_resolution", 0.0) or 0.0), 1e-6)
        for order, (name, attr) in enumerate(CURVE_POINTS):
            seconds = float(getattr(run.result, attr))
            values.append(
                {
                    "run": run.label,
                    "percentile": name,
                    "order": order,
                    # a log axis cannot show 0: a value under the clock's resolution is drawn at it
                    "latency_ms": round(max(seconds, floor) * 1000.0, 4),
                }
            )
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": title,
        "width": 320,
        "height": 220,
        "data": {"values": values},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {
                "field": "percentile",
                "type": "ordinal",
                "sort": [name for name, _ in CURVE_POINTS],
                "title": "percentile",
                "axis": {"labelAngle": 0},
            },
            "y": {
                "field": "latency_ms",
                "type": "quantitative",
                "title": "latency (ms, log scale)",
                "scale": {"type": "log"},
            },
            # the legend under the plot, one run per line, labels whole: beside the plot, long
            # run labels were cut off and squeezed the chart next to it
            "color": {"field": "run", "type": "nominal", "title": "run",
                      "legend": {"orient": "bottom", "direction": "vertical", "labelLimit": 480}},
            "tooltip": [
                {"field": "run", "type": "nominal"},
                {"field": "percentile", "type": "ordinal"},
                {"field": "latency_ms", "type": "quantitative", "title": "ms", "format": ".3f"},
            ],
        },
    }


def _sample_sorted(latencies: Sequence[float], limit: int) -> list[float]:
    ordered = sorted(latencies)
    if len(ordered) <= limit:
        return ordered
    step = (len(ordered) - 1) / (limit - 1)
    return [ordered[round(i * step)] for i in range(limit)]


def histogram_chart(run: RunRecord, *, title: str | None = None, up_to_p99: bool = True) -> dict[str, Any]:
    """The distribution of one run's latencies (ms) as a histogram.

    By default only latencies up to the run's p99 are binned, so one slow outlier does not
    squash the body into a single bar; the tail is on the percentile chart. Runs with more
    than :data:`MAX_HISTOGRAM_SAMPLES` samples are thinned to evenly spaced ranks of the
    sorted samples, which keeps the shape.
    """
    latencies = list(getattr(run.result, "latencies", []) or [])
    cut = float(getattr(run.result, "p99", float("nan")))
    if up_to_p99 and cut == cut:  # not NaN
        latencies = [x for x in latencies if x <= cut]
    sample = _sample_sorted(latencies, MAX_HISTOGRAM_SAMPLES) if latencies else []
    shown = f"{len(sample)} of {len(latencies)}" if len(sample) < len(latencies) else f"{len(sample)}"
    scope = "up to p99" if up_to_p99 else "all"
    return {
        "$schema": VEGA_LITE_SCHEMA,
        # the run's label as a subtitle, cut to the plot's width: a long label made the title
        # wider than the plot and the pair of charts too wide for the page
        "title": title or {"text": f"Distribution {scope} ({shown} requests)", "subtitle": run.label,
                           "limit": 320},
        "width": 320,
        "height": 220,
        "data": {"values": [{"latency_ms": round(x * 1000.0, 4)} for x in sample]},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "latency_ms", "type": "quantitative", "bin": {"maxbins": 40}, "title": "latency (ms)"},
            "y": {"aggregate": "count", "type": "quantitative", "title": "requests"},
        },
    }


def comparison_chart(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """Percentile curves of every run beside the latest run's histogram (one spec)."""
    if not runs:
        raise ValueError("comparison_chart needs at least one run")
    left = percentile_chart(runs)
    right = histogram_chart(runs[-1])
    for part in (left, right):
        part.pop("$schema")
    return {"$schema": VEGA_LITE_SCHEMA, "hconcat": [left, right], "resolve": {"scale": {"color": "independent"}}}


def bar_chart(
    rows: Sequence[dict[str, Any]],
    *,
    x: str,
    y: str,
    color: str | None = None,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
    log: bool = False,
) -> dict[str, Any]:
    """Grouped bars from plain rows, e.g. p50 and p99 per serving pattern.

    Args:
        rows: dicts with at least the ``x`` and ``y`` fields (and ``color`` if given).
        x: the category field (nominal, drawn on the y axis so long names stay readable).
        y: the quantitative field.
        color: optional field that splits each category into coloured bars.
        log: use a logarithmic scale for the value axis.
    """
    encoding: dict[str, Any] = {
        "y": {"field": x, "type": "nominal", "title": x_title or x, "sort": None},
        "x": {
            "field": y,
            "type": "quantitative",
            "title": y_title or y,
            **({"scale": {"type": "log"}} if log else {}),
        },
        "tooltip": [{"field": k} for k in (x, color, y) if k],
    }
    if color:
        encoding["color"] = {"field": color, "type": "nominal", "title": color}
        encoding["yOffset"] = {"field": color, "type": "nominal"}
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": title,
        "width": 420,
        "data": {"values": list(rows)},
        "mark": {"type": "bar"},
        "encoding": encoding,
    }


def line_chart(
    rows: Sequence[dict[str, Any]],
    *,
    x: str,
    y: str,
    color: str | None = None,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
) -> dict[str, Any]:
    """Lines over a quantitative ``x`` (e.g. seconds into a run), one per ``color`` value.

    Args:
        rows: dicts with the ``x`` and ``y`` fields (and ``color`` if given).
        x: the quantitative field along the bottom.
        y: the value drawn.
        color: optional field that splits the rows into lines.
    """
    encoding: dict[str, Any] = {
        "x": {"field": x, "type": "quantitative", "title": x_title or x},
        "y": {"field": y, "type": "quantitative", "title": y_title or y},
        "tooltip": [{"field": k} for k in (x, color, y) if k],
    }
    if color:
        encoding["color"] = {"field": color, "type": "nominal", "title": color, "legend": {"orient": "bottom"}}
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": title,
        "width": 480,
        "height": 220,
        "data": {"values": list(rows)},
        "mark": {"type": "line", "point": False},
        "encoding": encoding,
    }


_svg_worker: concurrent.futures.ThreadPoolExecutor | None = None


def to_svg(spec: dict[str, Any]) -> str | None:
    """The spec rendered to SVG by ``vl-convert-python``, or None where it is unavailable.

    Conversions run on one dedicated worker thread: called on the kernel's event-loop thread
    (a cell with top-level ``await``), the converter held the cell open until the client's
    timeout, so it is never run there.
    """
    global _svg_worker
    try:
        import vl_convert  # type: ignore[import-not-found]
    except ImportError:  # the browser, or the notebook extra not installed
        return None
    try:
        if _svg_worker is None:
            _svg_worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vl-convert")
        return _svg_worker.submit(vl_convert.vegalite_to_svg, spec).result(timeout=60)
    except Exception:  # noqa: BLE001 - a fallback image must never break the notebook
        return None


def _text_summary(spec: dict[str, Any]) -> str:
    parts = spec.get("hconcat") or [spec]
    titles = []
    for part in parts:
        title = part.get("title", "chart")
        if isinstance(title, dict):  # {"text": ..., "subtitle": ...}
            title = ", ".join(str(title[k]) for k in ("text", "subtitle") if title.get(k))
        titles.append(str(title))
    return "Vega-Lite chart: " + "; ".join(titles)


def chart_bundle(spec: dict[str, Any], *, svg: bool = True) -> dict[str, Any]:
    """The MIME bundle for a spec: Vega-Lite, an SVG fallback when available, and text."""
    bundle: dict[str, Any] = {VEGA_LITE_MIME: spec, "text/plain": _text_summary(spec)}
    if svg:
        image = to_svg(spec)
        if image is not None:
            bundle["image/svg+xml"] = image
    return bundle


def display_chart(spec: dict[str, Any], *, svg: bool = True) -> None:
    """Display a spec in the current output (cell or ``Output`` widget)."""
    from IPython.display import display

    display(chart_bundle(spec, svg=svg), raw=True)
