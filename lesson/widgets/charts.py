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
import html
import re
from collections.abc import Sequence
from typing import Any

from lesson.widgets.runs import RunRecord

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


#: Font sizes for charts that are scaled down to a phone's width and still read (Vega's
#: defaults are 10-11 px for labels); the background is transparent, so the page's light or
#: dark theme shows through (JupyterLab's dark theme recolours the text; the site's CSS does
#: it for the static SVG).
#: Series colours with at least 3:1 contrast against white and, inverted as the site's dark
#: scheme shows them, against its dark background (#1e2129): mid luminance, no yellow.
CATEGORY_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#d95f02",
    "#1b9e77",
    "#d62728",
    "#9467bd",
    "#e7298a",
    "#a6761d",
    "#7f7f7f",
    "#17a2b8",
    "#7a7a00",
)
CHART_CONFIG: dict[str, Any] = {
    "range": {"category": list(CATEGORY_COLOURS)},
    "axis": {"labelFontSize": 12, "titleFontSize": 13},
    "legend": {"labelFontSize": 12, "titleFontSize": 13},
    "title": {"fontSize": 15, "subtitleFontSize": 12},
    "header": {"labelFontSize": 12, "titleFontSize": 13},
}
#: How many rows a chart's text alternative lists before it says how many more there are.
MAX_DESCRIBED = 12


def _ms(value: float) -> str:
    return f"{value:.3g} ms"


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


#: Longest line of a chart title (characters at the title's font size within a 320-340 px plot).
TITLE_LINE = 44


def _title_text(title: Any) -> str:
    if isinstance(title, dict):  # {"text": ..., "subtitle": ...}
        return ", ".join(_title_text(title[k]) for k in ("text", "subtitle") if title.get(k))
    if isinstance(title, (list, tuple)):  # lines
        return " ".join(map(str, title))
    return str(title or "")


def _title_lines(text: str, limit: int = TITLE_LINE) -> str | list[str]:
    """A long title as lines of at most ``limit`` characters (Vega-Lite draws a list as lines):
    one long line made the chart wider than a phone's screen."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= limit:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines if len(lines) > 1 else text


def _finish(spec: dict[str, Any], description: str) -> dict[str, Any]:
    """Top-level keys every chart shares: schema, transparent background, fonts, text alternative."""
    title = spec.get("title")
    if isinstance(title, str):
        spec = {**spec, "title": _title_lines(title)}
    elif isinstance(title, dict) and isinstance(title.get("text"), str):
        spec = {**spec, "title": {**title, "text": _title_lines(title["text"])}}
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "description": description,
        "background": "transparent",
        "config": CHART_CONFIG,
        **spec,
    }


def _listed(items: list[str]) -> str:
    shown = items[:MAX_DESCRIBED]
    more = len(items) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def percentile_chart(
    runs: Sequence[RunRecord], *, title: str = "Latency by percentile"
) -> dict[str, Any]:
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
    described = [
        f"{run.label}: p50 {_ms(run.result.p50 * 1000)}, p99 {_ms(run.result.p99 * 1000)}, "
        f"max {_ms(run.result.max_latency * 1000)}"
        for run in runs
    ]
    description = (
        f"{title}: latency (ms, log scale) at p50, p90, p95, p99, p99.9 and max, "
        f"one line per run ({len(runs)}). " + _listed(described) + "."
    )
    return _finish(
        {
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
                "color": {
                    "field": "run",
                    "type": "nominal",
                    "title": "run",
                    "legend": {"orient": "bottom", "direction": "vertical", "labelLimit": 480},
                },
                "tooltip": [
                    {"field": "run", "type": "nominal"},
                    {"field": "percentile", "type": "ordinal"},
                    {"field": "latency_ms", "type": "quantitative", "title": "ms", "format": ".3f"},
                ],
            },
        },
        description,
    )


def _sample_sorted(latencies: Sequence[float], limit: int) -> list[float]:
    ordered = sorted(latencies)
    if len(ordered) <= limit:
        return ordered
    step = (len(ordered) - 1) / (limit - 1)
    return [ordered[round(i * step)] for i in range(limit)]


def histogram_chart(
    run: RunRecord, *, title: str | None = None, up_to_p99: bool = True
) -> dict[str, Any]:
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
    shown = (
        f"{len(sample)} of {len(latencies)}" if len(sample) < len(latencies) else f"{len(sample)}"
    )
    scope = "up to p99" if up_to_p99 else "all"
    if sample:
        middle = sample[len(sample) // 2]
        spread = (
            f"from {_ms(sample[0] * 1000)} to {_ms(sample[-1] * 1000)}, median {_ms(middle * 1000)}"
        )
    else:
        spread = "no latencies recorded"
    description = f"Histogram of {shown} latencies ({scope}) of run {run.label}: {spread}."
    return _finish(
        {
            # the run's label as a subtitle, cut to the plot's width: a long label made the title
            # wider than the plot and the pair of charts too wide for the page
            "title": title
            or {
                "text": f"Distribution {scope} ({shown} requests)",
                "subtitle": run.label,
                "limit": 320,
            },
            "width": 320,
            "height": 220,
            "data": {"values": [{"latency_ms": round(x * 1000.0, 4)} for x in sample]},
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {
                    "field": "latency_ms",
                    "type": "quantitative",
                    "bin": {"maxbins": 40},
                    "title": "latency (ms)",
                },
                "y": {"aggregate": "count", "type": "quantitative", "title": "requests"},
            },
        },
        description,
    )


def comparison_chart(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """Percentile curves of every run above the latest run's histogram (one spec).

    Stacked, not side by side: one chart's width fits a phone's screen with its text
    readable, where two side by side were scaled to half size.
    """
    if not runs:
        raise ValueError("comparison_chart needs at least one run")
    top = percentile_chart(runs)
    bottom = histogram_chart(runs[-1])
    for part in (top, bottom):
        for key in ("$schema", "background", "config"):
            part.pop(key)
    return _finish(
        {"vconcat": [top, bottom], "resolve": {"scale": {"color": "independent"}}},
        f"{top['description']} {bottom['description']}",
    )


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
        "y": {
            "field": x,
            "type": "nominal",
            "title": x_title or x,
            "sort": list(dict.fromkeys(row[x] for row in rows)),  # as given, not alphabetical
        },
        "x": {
            "field": y,
            "type": "quantitative",
            "title": y_title or y,
            **({"scale": {"type": "log"}} if log else {}),
        },
        "tooltip": [{"field": k} for k in (x, color, y) if k],
    }
    if color:  # the legend under the bars, so the chart stays as narrow as a phone
        encoding["color"] = {
            "field": color,
            "type": "nominal",
            "title": color,
            "legend": {"orient": "bottom", "direction": "vertical", "labelLimit": 320},
        }
        encoding["yOffset"] = {"field": color, "type": "nominal"}
    bars = [f"{row[x]}{f' ({row[color]})' if color else ''}: {_num(row[y])}" for row in rows]
    description = (
        f"{_title_text(title) or 'Bar chart'}: {y_title or y} by {x_title or x}"
        f"{' (log scale)' if log else ''}. " + _listed(bars) + "."
    )
    return _finish(
        {
            "title": title,
            "width": 300,
            "data": {"values": list(rows)},
            "mark": {"type": "bar"},
            "encoding": encoding,
        },
        description,
    )


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
        encoding["color"] = {
            "field": color,
            "type": "nominal",
            "title": color,
            "legend": {"orient": "bottom", "direction": "vertical", "labelLimit": 320},
        }
    series: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        series.setdefault(row[color] if color else y_title or y, []).append(row)
    lines = []
    for name, points in series.items():
        ys = [p[y] for p in points if isinstance(p[y], (int, float))]
        xs = [p[x] for p in points if isinstance(p[x], (int, float))]
        span = f"{_num(min(ys))} to {_num(max(ys))}" if ys else "no values"
        over = f" over {x_title or x} {_num(min(xs))} to {_num(max(xs))}" if xs else ""
        lines.append(f"{name}: {len(points)} points, {span}{over}")
    description = (
        f"{_title_text(title) or 'Line chart'}: {y_title or y} against {x_title or x}. "
        + _listed(lines)
        + "."
    )
    return _finish(
        {
            "title": title,
            "width": 340,
            "height": 220,
            "data": {"values": list(rows)},
            "mark": {"type": "line", "point": False},
            "encoding": encoding,
        },
        description,
    )


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
            _svg_worker = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="vl-convert"
            )
        return _svg_worker.submit(vl_convert.vegalite_to_svg, spec).result(timeout=60)
    except Exception:  # a fallback image must never break the notebook
        return None


def _text_summary(spec: dict[str, Any]) -> str:
    parts = spec.get("hconcat") or spec.get("vconcat") or [spec]
    titles = [_title_text(part.get("title", "chart")) or "chart" for part in parts]
    return "Vega-Lite chart: " + "; ".join(titles)


_SVG_ROOT = re.compile(r"<svg\b([^>]*)>(?:<title>.*?</title>)?", re.S)


def label_svg(svg: str, text: str) -> str:
    """The SVG with ``text`` as its accessible name: ``role="img"``, ``aria-label`` and a
    ``<title>`` on the root element (the site copies it into the ``alt`` of the ``<img>``
    a static page shows the SVG in: docs/assets/a11y.js)."""
    match = _SVG_ROOT.search(svg)
    if match is None or not text:
        return svg
    quoted = html.escape(text, quote=True)
    attrs = re.sub(r'\s(role|aria-label)="[^"]*"', "", match.group(1))
    root = f'<svg{attrs} role="img" aria-label="{quoted}"><title>{quoted}</title>'
    return svg[: match.start()] + root + svg[match.end() :]


def chart_bundle(spec: dict[str, Any], *, svg: bool = True) -> dict[str, Any]:
    """The MIME bundle for a spec: Vega-Lite, an SVG fallback when available, and text.

    The SVG carries the spec's ``description`` (what the chart shows, with its key figures)
    as its accessible name.
    """
    bundle: dict[str, Any] = {VEGA_LITE_MIME: spec, "text/plain": _text_summary(spec)}
    if svg:
        image = to_svg(spec)
        if image is not None:
            bundle["image/svg+xml"] = label_svg(
                image, str(spec.get("description") or _text_summary(spec))
            )
    return bundle


def display_chart(spec: dict[str, Any], *, svg: bool = True) -> None:
    """Display a spec in the current output (cell or ``Output`` widget)."""
    from IPython.display import display

    display(chart_bundle(spec, svg=svg), raw=True)


#: One colour per phase, the same in every timeline and waterfall (notebooks 07 and 10): a
#: phase keeps its colour from chart to chart. Waiting is blue, computing orange (prefill, the
#: model call) and green (decode), the outer spans neutral; all from :data:`CATEGORY_COLOURS`
#: (contrast on white and on the dark page), blue/orange/green told apart with colour-blindness.
PHASE_COLOURS: dict[str, str] = {
    "client": "#7f7f7f",
    "request": "#7f7f7f",
    "server": "#9467bd",
    "infer": "#a6761d",
    "queued": "#1f77b4",
    "queue": "#1f77b4",
    "prefill": "#d95f02",
    "model": "#d95f02",
    "decode": "#1b9e77",
}
#: The phase name of a timeline's markers (a request's first token) and its colour.
MARKER = "first token"
MARKER_COLOUR = "#e7298a"


def phase_scale(phases: Sequence[str]) -> dict[str, Any]:
    """A colour scale with an explicit domain and range: each phase gets its
    :data:`PHASE_COLOURS` entry; a phase not listed there, an unused category colour."""
    fixed = {**PHASE_COLOURS, MARKER: MARKER_COLOUR}
    spare = iter(c for c in CATEGORY_COLOURS if c not in fixed.values())
    return {
        "domain": list(phases),
        "range": [fixed.get(p) or next(spare, "#7f7f7f") for p in phases],
    }


def timeline_chart(
    rows: Sequence[dict[str, Any]],
    *,
    title: str | dict[str, Any] = "",
    x_title: str = "ms",
    x_domain: tuple[float, float] | None = None,
    markers: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Horizontal bars from ``start_ms`` to ``end_ms`` per ``request``, coloured by ``phase``
    (a Gantt chart of requests' queueing, prefill and decode steps).

    Rows are drawn top to bottom in the order they come (an explicit sort list: a ``null`` sort
    was dropped on JupyterLite's path, and the rows came out alphabetically), each phase in its
    :data:`PHASE_COLOURS` colour. ``x_domain``: fix the x axis, so that two charts' bars compare
    by length. ``markers``: ``{"request": row, "at_ms": x}``, a tick on that row (a request's
    first token), in the legend as ``first token``.
    """
    phases = list(dict.fromkeys(str(r["phase"]) for r in rows))
    requests = list(dict.fromkeys(str(r["request"]) for r in rows))
    per_request = []
    for rid in requests[:MAX_DESCRIBED]:
        mine = [r for r in rows if r["request"] == rid]
        counts = ", ".join(f"{sum(1 for r in mine if r['phase'] == p)} {p}" for p in phases)
        per_request.append(
            f"{rid}: {_num(min(r['start_ms'] for r in mine))} to "
            f"{_num(max(r['end_ms'] for r in mine))} {x_title} ({counts})"
        )
    marked = list(
        dict.fromkeys(
            f"{m['request'].split(' · ')[0]} at {_num(m['at_ms'])} {x_title}" for m in markers
        )
    )
    description = (
        f"{_title_text(title) or 'Timeline'}: one row per request, bars per phase "
        f"({', '.join(phases)}). "
        + _listed(per_request)
        + (f". {MARKER.capitalize()} marked: " + _listed(marked) if marked else "")
        + "."
    )
    x_scale: dict[str, Any] = (
        {"scale": {"domain": [float(x) for x in x_domain], "nice": True}} if x_domain else {}
    )
    domain = phases + ([MARKER] if markers else [])
    colour = {
        "field": "phase",
        "type": "nominal",
        "title": "phase",
        "scale": phase_scale(domain),
        "legend": {"orient": "bottom", "direction": "horizontal"},
    }
    y = {"field": "request", "type": "nominal", "sort": requests, "title": ""}
    bars = {
        "data": {"values": list(rows)},
        "mark": {"type": "bar", "stroke": "white", "strokeWidth": 0.5},
        "encoding": {
            "y": y,
            "x": {
                "field": "start_ms",
                "type": "quantitative",
                "title": x_title,
                "axis": {"labelFlush": False},  # flush, the last label ran into the one before
                **x_scale,
            },
            "x2": {"field": "end_ms"},
            "color": colour,
            "tooltip": [{"field": k} for k in ("request", "phase", "start_ms", "end_ms")],
        },
    }
    body: dict[str, Any] = bars
    if markers:
        ticks = {
            "data": {"values": [{**m, "phase": MARKER} for m in markers]},
            "mark": {"type": "tick", "thickness": 3, "opacity": 1},
            "encoding": {
                "y": y,
                "x": {"field": "at_ms", "type": "quantitative", "title": x_title, **x_scale},
                "color": colour,
                "tooltip": [{"field": k} for k in ("request", "phase", "at_ms")],
            },
        }
        body = {"layer": [bars, ticks]}
    return _finish({"title": title, "width": 340, **body}, description)
