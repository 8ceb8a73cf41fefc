"""Charts' text alternatives, theme and SVG labelling, from real load-test runs."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("ipywidgets")

from lesson.lab import in_process_targets
from lesson.widgets import LoadTestPanel
from lesson.widgets import panel as panel_module
from lesson.widgets.charts import (
    MAX_DESCRIBED,
    bar_chart,
    chart_bundle,
    comparison_chart,
    histogram_chart,
    label_svg,
    line_chart,
    percentile_chart,
)


@pytest.fixture(scope="module")
def runs():
    original = panel_module.display_chart
    panel_module.display_chart = lambda spec, **kw: None  # no kernel: the panel draws nothing
    try:
        panel = LoadTestPanel(in_process_targets())
        panel.run(requests=120, concurrency=2)
        panel.run(requests=120, concurrency=4, target="batch")
    finally:
        panel_module.display_chart = original
    return panel.runs


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms"


def test_percentile_chart_describes_each_run_with_its_figures(runs):
    text = percentile_chart(runs)["description"]
    for run in runs:
        expected = f"{run.label}: p50 {ms(run.result.p50)}, p99 {ms(run.result.p99)}, max {ms(run.result.max_latency)}"
        assert expected in text, text
    assert f"one line per run ({len(runs)})" in text


def test_histogram_describes_the_range_it_bins(runs):
    run = runs[-1]
    spec = histogram_chart(run)
    values = sorted(v["latency_ms"] for v in spec["data"]["values"])
    text = spec["description"]
    assert run.label in text and f"Histogram of {len(values)} latencies (up to p99)" in text
    low, high = re.search(r"from ([0-9.e+-]+) ms to ([0-9.e+-]+) ms", text).groups()
    assert float(low) == pytest.approx(values[0], rel=5e-3) and float(high) == pytest.approx(
        values[-1], rel=5e-3
    )


def test_comparison_is_stacked_transparent_and_described_once(runs):
    spec = comparison_chart(runs)
    top, bottom = spec["vconcat"]
    assert spec["background"] == "transparent" and spec["config"]["axis"]["labelFontSize"] >= 12
    assert "background" not in top and "config" not in top and "$schema" not in bottom
    assert spec["description"] == f"{top['description']} {bottom['description']}"


def test_bar_and_line_descriptions_list_the_rows_and_say_how_many_more():
    rows = [{"pattern": f"p{i}", "ms": i * 1.5} for i in range(MAX_DESCRIBED + 3)]
    text = bar_chart(rows, x="pattern", y="ms", title="Latency")["description"]
    assert (
        text.startswith("Latency: ms by pattern.")
        and "p1: 1.5" in text
        and text.endswith("and 3 more.")
    )
    lines = [{"t": t, "v": t * t, "s": s} for s in ("a", "b") for t in range(5)]
    text = line_chart(lines, x="t", y="v", color="s", title="Growth")["description"]
    assert "a: 5 points, 0 to 16 over t 0 to 4" in text and "b: 5 points" in text


def test_svg_carries_the_description_as_its_accessible_name(runs):
    pytest.importorskip("vl_convert")
    spec = comparison_chart(runs)
    svg = chart_bundle(spec)["image/svg+xml"]
    root = re.match(r"<svg[^>]*>", svg)[0]
    assert 'role="img"' in root and 'aria-label="' in root
    title = re.search(r"<title>(.*?)</title>", svg)[1]
    assert title == spec["description"].replace('"', "&quot;").replace("'", "&#x27;")
    body = svg.split("</title>", 1)[1]
    assert not body.startswith("<rect"), body[:120]  # no white background block (it is transparent)


def test_label_svg_escapes_and_replaces_a_previous_label():
    once = label_svg('<svg width="1" role="x"><g/></svg>', 'a "quoted" <b>')
    twice = label_svg(once, "second")
    assert once.startswith('<svg width="1" role="img" aria-label="a &quot;quoted&quot; &lt;b&gt;">')
    assert twice.count("role=") == 1 and 'aria-label="second"' in twice


def test_long_titles_wrap_so_every_chart_fits_a_phone():
    pytest.importorskip("vl_convert")
    from lesson.widgets.charts import to_svg

    title = "Per 50 requests: routed to the canary, and failed (measured) — the lines coincide: every request failed"
    lines = [
        {"request": i * 50, "count": (i * 7) % 50, "series": s}
        for s in ("routed to the canary (v2)", "failed")
        for i in range(20)
    ]
    bars = [
        {"stage": f"stage {i}", "percent": i * 10.0, "share of": k}
        for i in range(4)
        for k in ("configured", "measured")
    ]
    for spec in (
        line_chart(lines, x="request", y="count", color="series", title=title),
        bar_chart(bars, x="stage", y="percent", color="share of", title=title),
    ):
        assert isinstance(spec["title"], list) and " ".join(spec["title"]) == title
        assert spec["description"].startswith(title)
        width = float(re.search(r'<svg[^>]*width="([0-9.]+)"', to_svg(spec))[1])
        assert width <= 420, width


def _luminance(rgb: tuple[int, ...]) -> float:
    lin = [
        c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb
    ]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_series_colours_read_on_white_and_inverted_on_the_dark_page(runs):
    from lesson.widgets.charts import CATEGORY_COLOURS

    spec = comparison_chart(runs)
    assert spec["config"]["range"]["category"] == list(CATEGORY_COLOURS)
    slate = (0x1E, 0x21, 0x29)  # --md-default-bg-color of Material's slate scheme
    for colour in CATEGORY_COLOURS:
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        inverted = tuple(255 - c for c in rgb)  # site.css: filter: invert(1) hue-rotate(180deg)
        assert _contrast(rgb, (255, 255, 255)) >= 3, colour
        assert _contrast(inverted, slate) >= 3, colour


def _nones(node, path="spec"):
    """Every path in ``node`` whose value is None (JupyterLite's renderer dropped them)."""
    if node is None:
        return [path]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _nones(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _nones(v, f"{path}[{i}]")]
    return []


def _trace_rows(label):
    spans = [("client", 0, 60), ("server", 5, 70), ("queued", 5, 30), ("prefill", 30, 36)]
    spans.append(("decode", 36, 59))
    return [
        {"request": f"{label} · {n}", "phase": n, "start_ms": a, "end_ms": b} for n, a, b in spans
    ]


def test_timeline_rows_keep_their_order_and_no_value_is_null():
    from lesson.widgets.charts import timeline_chart

    rows = _trace_rows("slowest") + _trace_rows("median")  # alphabetically, median would lead
    markers = [{"request": r["request"], "at_ms": 36.0} for r in rows[:5]]
    for spec in (timeline_chart(rows, title="t"), timeline_chart(rows, markers=markers)):
        assert _nones(spec) == []
        ys = (
            [spec["encoding"]["y"]]
            if "encoding" in spec
            else [p["encoding"]["y"] for p in spec["layer"]]
        )
        for y in ys:
            assert y["sort"] == [r["request"] for r in rows] and y["title"] == ""
    bars = bar_chart([{"k": "b", "v": 1}, {"k": "a", "v": 2}], x="k", y="v")
    assert _nones(bars) == [] and bars["encoding"]["y"]["sort"] == ["b", "a"]


def test_a_phase_has_one_colour_in_every_timeline():
    from lesson.widgets.charts import PHASE_COLOURS, timeline_chart

    def colours(spec):
        part = spec["layer"][0] if "layer" in spec else spec
        scale = part["encoding"]["color"]["scale"]
        return dict(zip(scale["domain"], scale["range"], strict=True))

    engine = [
        {"request": "req-0", "phase": p, "start_ms": i, "end_ms": i + 1}
        for i, p in enumerate(("queued", "prefill", "decode"))
    ]
    first, trace = colours(timeline_chart(engine)), colours(timeline_chart(_trace_rows("x")))
    for phase in ("queued", "prefill", "decode"):
        assert first[phase] == trace[phase] == PHASE_COLOURS[phase]
    assert len(set(trace.values())) == len(trace)  # five phases, five colours


def test_timeline_markers_and_a_shared_x_domain():
    from lesson.widgets.charts import MARKER, timeline_chart

    rows = _trace_rows("slowest")
    markers = [{"request": r["request"], "at_ms": 36.0} for r in rows]
    spec = timeline_chart(rows, markers=markers, x_domain=(0, 500))
    bars, ticks = spec["layer"]
    assert ticks["mark"]["type"] == "tick" and {v["phase"] for v in ticks["data"]["values"]} == {
        MARKER
    }
    assert bars["encoding"]["x"]["scale"]["domain"] == [0.0, 500.0]
    assert ticks["encoding"]["x"]["scale"]["domain"] == [0.0, 500.0]
    assert MARKER in bars["encoding"]["color"]["scale"]["domain"]
    assert f"{MARKER.capitalize()} marked: slowest at 36" in spec["description"]
