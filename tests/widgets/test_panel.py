"""The load-test panel: real runs through the real harness, bounds, errors, charts."""

from __future__ import annotations

import asyncio
import math
import re
import time

import pytest

pytest.importorskip("ipywidgets")

from lesson.core.stats import format_ms
from lesson.lab import batching_target, in_process_targets
from lesson.widgets import LoadTestPanel, PanelLimits, Target
from lesson.widgets import panel as panel_module
from lesson.widgets.charts import to_svg


@pytest.fixture(autouse=True)
def charts_shown(monkeypatch):
    """Record the charts ``report()`` displays (outside a kernel ``display`` would print them)."""
    shown = []
    monkeypatch.setattr(panel_module, "display_chart", lambda spec, **kw: shown.append(spec))
    return shown


def panel_chart(panel) -> dict:
    """The Vega-Lite spec the panel's chart ``Output`` widget holds (its only output)."""
    from lesson.widgets.charts import VEGA_LITE_MIME

    (output,) = panel.chart_output.outputs
    assert output["output_type"] == "display_data"
    return output["data"][VEGA_LITE_MIME]


def make_panel(**kwargs):
    return LoadTestPanel(in_process_targets(), **kwargs)


def numbers_in_row(html: str, row: int) -> list[str]:
    body = html.split("<tbody>")[1]
    cells = re.findall(r"<td>(.*?)</td>", body.split("</tr>")[row])
    return cells


def test_panel_is_a_vbox_with_the_lesson_class():
    panel = make_panel()
    assert "lesson-panel" in panel.widget._dom_classes
    assert type(panel.widget).__name__ == "VBox"
    assert set(panel.targets) == {"in-process", "rest", "grpc", "batch", "streaming", "edge"}


def test_click_run_fills_the_table_with_real_percentiles(charts_shown):
    panel = make_panel(target="rest")
    panel.requests_input.value = 250
    panel.concurrency_input.value = 3
    panel.instances_input.value = 2
    panel.run_button.click()  # no event loop here: runs now, with the thread harness

    assert panel.last_error is None
    assert len(panel.runs) == 1
    result = panel.runs[0].result
    assert result.requests == 250 and result.successes == 250 and not result.errors
    assert result.mode == "closed" and result.concurrency == 3
    for name in ("p50", "p90", "p95", "p99", "max_latency"):
        assert math.isfinite(getattr(result, name)) and getattr(result, name) > 0
    assert result.p50 <= result.p90 <= result.p99 <= result.max_latency

    html = panel.results_html.value
    assert '<table class="lesson-results"><caption>' in html
    headers = re.findall(r"<th>(.*?)</th>", html)
    assert headers[5:] == ["p50", "p90", "p95", "p99", "max", "req/s", "errors"]
    assert "milliseconds" in html
    cells = numbers_in_row(html, 0)
    assert cells[3] == "2"  # instances per request
    assert cells[5] == format_ms(result.p50, unit=False)  # the p50 column is this run's p50 ...
    assert float(cells[5]) == pytest.approx(result.p50 * 1000, rel=0.02, abs=0.0005)  # ... in ms
    assert panel.progress.value == panel.progress.max == 250
    assert panel_chart(panel)["vconcat"][0]["data"]["values"]
    assert panel.progress_label.value.startswith("done: 250 requests")
    assert not panel.run_button.disabled


def test_open_loop_rate_control_runs_an_open_loop():
    panel = make_panel(target="edge")
    record = panel.run(rate=500, requests=100)
    assert record.result.mode == "open"
    assert record.result.target_rate == 500
    # 100 requests at 500/s take about 0.2 s of schedule
    assert 0.15 <= record.result.wall_time < 5.0
    assert "open @ 500/s" in panel.results_html.value


def test_previous_runs_are_kept_for_comparison_and_bounded():
    panel = make_panel(limits=PanelLimits(keep_runs=3))
    for requests in (20, 30, 40, 50):
        panel.run(requests=requests)
    assert [r.result.requests for r in panel.runs] == [30, 40, 50]
    assert panel.results_html.value.count("<tr>") == 1 + 3
    panel.clear_button.click()
    assert panel.runs == []


def test_controls_are_bounded():
    limits = PanelLimits()
    panel = make_panel(limits=limits)
    panel.requests_input.value = 10**9
    panel.concurrency_input.value = 10**6
    panel.rate_input.value = 10**9
    panel.instances_input.value = 10**6
    assert panel.requests_input.value == limits.max_requests
    assert panel.concurrency_input.value == limits.max_concurrency
    assert panel.rate_input.value == limits.max_rate
    assert panel.instances_input.value == limits.max_instances
    panel.requests_input.value = -5
    assert panel.requests_input.value == 1


@pytest.mark.parametrize(
    "override, field",
    [
        ({"requests": 10**7}, "requests"),
        ({"requests": 0}, "requests"),
        ({"concurrency": 1000}, "concurrency"),
        ({"rate": -1}, "rate"),
        ({"instances": 10_000}, "instances"),
        ({"requests": 2.5}, "requests"),
        ({"requests": True}, "requests"),
        ({"target": "nope"}, "target"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_overrides_outside_the_bounds_are_refused_with_the_field_named(override, field):
    panel = make_panel()
    with pytest.raises(ValueError, match=field):
        panel.run(**override)
    assert panel.runs == [] and not panel.running


def test_every_run_stops_at_max_duration():
    def slow(payload):
        time.sleep(0.02)
        return {"predictions": [0.0] * len(payload["instances"]), "metadata": {}}

    target = Target(key="slow", label="slow", pattern="REST", endpoint=slow)
    panel = LoadTestPanel(
        [target], limits=PanelLimits(max_duration=0.5), requests=5000, concurrency=1
    )
    start = time.perf_counter()
    record = panel.run()
    assert time.perf_counter() - start < 5.0
    assert record.result.requests < 5000
    assert record.result.stopped_by == "max_duration"
    assert "stopped at the 0.5 s bound" in panel.progress_label.value


def test_errors_are_counted_by_kind_in_the_table():
    calls = {"n": 0}

    def flaky(payload):
        calls["n"] += 1
        if calls["n"] % 4 == 0:
            raise ConnectionResetError("peer went away")
        if calls["n"] % 4 == 1:
            return {"predictions": [], "metadata": {}}  # wrong length: fails the panel's check
        return {"predictions": [0.5] * len(payload["instances"]), "metadata": {}}

    panel = LoadTestPanel(
        [Target(key="flaky", label="flaky", pattern="REST", endpoint=flaky)], requests=100
    )
    record = panel.run()
    errors = record.result.errors
    assert errors.get("ConnectionResetError", 0) > 10
    assert errors.get("schema", 0) > 10
    shown = panel.results_html.value
    # the kind may wrap between its words in a narrow column, and nowhere else
    assert f"Connection<wbr>Reset<wbr>Error: {errors['ConnectionResetError']}" in shown
    assert f"schema: {errors['schema']}" in shown
    assert panel.progress.bar_style == "warning"


def test_a_failing_run_is_shown_and_the_panel_recovers():
    def broken_factory():
        raise RuntimeError("cannot build this endpoint")

    target = Target(key="broken", label="broken", pattern="REST", make_endpoint=broken_factory)
    panel = LoadTestPanel([target] + in_process_targets())
    panel.run_button.click()
    assert isinstance(panel.last_error, RuntimeError)
    assert panel.progress_label.value == "failed: RuntimeError"
    (logged,) = panel.log.outputs  # in the panel's log, whichever message the click came with
    assert (
        logged["name"] == "stderr"
        and "Run failed: RuntimeError: cannot build this endpoint" in logged["text"]
    )
    assert not panel.running and not panel.run_button.disabled
    panel.target_select.value = "rest"
    panel.run_button.click()
    assert panel.last_error is None and len(panel.runs) == 1


def test_click_inside_a_running_event_loop_schedules_the_run_and_updates_progress():
    panel = make_panel(target="rest", requests=3000, concurrency=2)
    seen = []
    original = panel._set_progress

    def spy(completed, total, elapsed):
        seen.append(completed)
        original(completed, total, elapsed)

    panel._set_progress = spy

    async def main():
        panel.run_button.click()  # what a click in Jupyter does: the kernel's loop is running
        assert panel._task is not None and not panel._task.done()
        assert panel.run_button.disabled  # no second run while one is going
        await panel._task

    asyncio.run(main())
    assert panel.last_error is None and len(panel.runs) == 1
    assert seen and seen[-1] == 3000  # progress reached the end through the loop


def test_each_run_replaces_the_chart_with_one_that_names_it():
    """The chart is the Output widget's state, set after each run (a click's run ends after the
    click's message was answered: output sent with ``display`` then had nowhere to go)."""
    panel = make_panel(target="in-process", requests=60)

    async def click_and_wait():
        panel.run_button.click()
        await panel._task

    for _ in range(2):
        asyncio.run(click_and_wait())
    labels = [run.label for run in panel.runs]
    spec = panel_chart(panel)
    curves, histogram = spec["vconcat"]
    assert {v["run"] for v in curves["data"]["values"]} == set(labels)
    assert histogram["title"]["subtitle"] == labels[-1]
    assert len(histogram["data"]["values"]) == 60
    assert panel.chart_output.outputs[0]["metadata"]["application/vnd.vegalite.v5+json"] == {
        "embed_options": {"renderer": "svg"}
    }
    panel.clear_button.click()
    assert panel.chart_output.outputs == ()


def test_browser_path_uses_the_asyncio_harness(monkeypatch):
    monkeypatch.setattr(panel_module, "IN_BROWSER", True)
    used = {}
    real = panel_module.loadtest.run_load_test_async

    async def spy(*args, **kwargs):
        used["async"] = True
        return await real(*args, **kwargs)

    monkeypatch.setattr(panel_module.loadtest, "run_load_test_async", spy)
    monkeypatch.setattr(
        panel_module.loadtest,
        "run_load_test",
        lambda *a, **k: pytest.fail("threads in the browser"),
    )
    panel = make_panel(target="rest", requests=200, concurrency=4)
    with pytest.raises(RuntimeError, match="run_async"):
        panel.run()
    record = asyncio.run(panel.run_async())
    assert used == {"async": True}
    assert record.result.requests == 200 and not record.result.errors


def test_batching_knobs_appear_for_targets_that_have_them_and_reach_the_endpoint():
    target = batching_target()
    panel = LoadTestPanel(in_process_targets() + [target], target="rest")
    assert panel.knob_inputs == {}
    panel.target_select.value = "batching"
    assert set(panel.knob_inputs) == {"max_batch_size", "max_delay_ms"}
    panel.knob_inputs["max_batch_size"].value = 10**6
    assert panel.knob_inputs["max_batch_size"].value == 128  # bounded too
    with pytest.raises(ValueError, match="max_batch_size"):
        panel.settings(knobs={"max_batch_size": 0})

    device = target.extra["device"]
    unbatched = panel.run(
        requests=120, concurrency=16, knobs={"max_batch_size": 1, "max_delay_ms": 0}
    )
    calls_unbatched = device.calls
    batched = panel.run(
        requests=120, concurrency=16, knobs={"max_batch_size": 16, "max_delay_ms": 2}
    )
    calls_batched = device.calls - calls_unbatched
    assert not unbatched.result.errors and not batched.result.errors
    assert calls_unbatched >= 120  # one device call per request (plus warm-up)
    assert calls_batched < 60  # requests shared device calls
    assert batched.result.throughput > 1.5 * unbatched.result.throughput
    assert "max_batch_size=16" in panel.results_html.value.replace("<wbr>", "")
    assert "max_<wbr>batch_<wbr>size=16" in panel.results_html.value  # wraps between the words


def test_chart_spec_carries_the_runs_data_and_renders_offline():
    from lesson.widgets.charts import VEGA_LITE_SCHEMA, comparison_chart

    panel = make_panel(target="grpc")
    panel.run(requests=150)
    panel.run(requests=150, target="batch")
    spec = comparison_chart(panel.runs)
    assert spec["$schema"] == VEGA_LITE_SCHEMA
    curve, histogram = spec["vconcat"]
    values = curve["data"]["values"]
    assert len(values) == 6 * 2
    first = [v for v in values if v["run"] == panel.runs[0].label]
    assert [v["percentile"] for v in first] == ["p50", "p90", "p95", "p99", "p99.9", "max"]
    assert first[0]["latency_ms"] == pytest.approx(
        panel.runs[0].result.p50 * 1000, rel=1e-3, abs=1e-3
    )
    assert first[-1]["latency_ms"] == pytest.approx(
        panel.runs[0].result.max_latency * 1000, rel=1e-3, abs=1e-3
    )
    hist_values = histogram["data"]["values"]
    assert 140 <= len(hist_values) <= 150  # up to p99 of the latest run
    assert max(v["latency_ms"] for v in hist_values) <= panel.runs[1].result.p99 * 1000 + 1e-3

    pytest.importorskip("vl_convert")
    real_svg = to_svg(spec)  # the real converter (imported before the fixture patched the module)
    assert real_svg is not None and real_svg.startswith("<svg")
    assert panel.runs[0].label in real_svg and "Latency by percentile" in real_svg


def test_long_run_labels_stay_whole_in_the_legend_and_keep_the_charts_page_wide():
    from lesson.widgets.charts import chart_bundle, comparison_chart

    pytest.importorskip("vl_convert")
    panel = make_panel()
    long_label = "#9 batching c=32 max_batch_size=32 max_delay_ms=2 and a long note"
    panel.run(requests=60)
    panel.runs[-1].label = long_label
    spec = comparison_chart(panel.runs)
    svg = to_svg(spec)
    assert long_label in svg  # the legend shows the label whole, under the plot
    width = float(re.search(r'<svg[^>]*width="([0-9.]+)"', svg)[1])
    assert width <= 800, width  # the two charts side by side still fit a page
    summary = chart_bundle(spec, svg=False)["text/plain"]
    assert re.fullmatch(
        r"Vega-Lite chart: Latency by percentile; Distribution up to p99 \(\d+ requests\), "
        + re.escape(long_label),
        summary,
    ), summary


def test_report_displays_table_and_chart(monkeypatch, charts_shown):
    shown = []
    monkeypatch.setattr(panel_module, "display", lambda obj, **kw: shown.append(obj))
    panel = make_panel()
    panel.run(requests=50)
    charts_shown.clear()
    panel.report()
    html = shown[0].data
    assert '<table class="lesson-results">' in html and "<th>p50</th>" in html
    assert len(charts_shown) == 1 and len(charts_shown[0]["vconcat"]) == 2


def test_chart_bundle_has_vega_lite_text_and_an_svg_fallback():
    from lesson.widgets.charts import VEGA_LITE_MIME, chart_bundle, percentile_chart

    panel = make_panel()
    panel.run(requests=50)
    spec = percentile_chart(panel.runs)
    bundle = chart_bundle(spec)
    assert bundle[VEGA_LITE_MIME] is spec
    assert bundle["text/plain"] == "Vega-Lite chart: Latency by percentile"
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        assert "image/svg+xml" not in bundle
    else:
        assert bundle["image/svg+xml"].startswith("<svg")


def test_svg_fallback_also_renders_from_inside_a_running_event_loop():
    """In a cell with top-level await the chart is drawn from a coroutine (see charts.to_svg)."""
    pytest.importorskip("vl_convert")
    from lesson.widgets.charts import percentile_chart

    panel = make_panel()
    panel.run(requests=30)
    spec = percentile_chart(panel.runs)

    async def draw():
        return to_svg(spec)

    start = time.perf_counter()
    svg = asyncio.run(draw())
    assert svg is not None and svg.startswith("<svg")
    assert time.perf_counter() - start < 30
