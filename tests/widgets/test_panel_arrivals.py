"""The panel passes the open loop's arrival process (given in code) to the harness."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("ipywidgets")

from lesson.lab import in_process_targets
from lesson.loadtest.arrivals import Arrivals
from lesson.widgets import LoadTestPanel, PanelLimits
from lesson.widgets import panel as panel_module


@pytest.fixture(autouse=True)
def no_charts(monkeypatch):
    monkeypatch.setattr(panel_module, "display_chart", lambda spec, **kw: None)


def test_a_poisson_run_from_code_records_its_arrivals():
    panel = LoadTestPanel(
        in_process_targets(), target="rest", limits=PanelLimits(max_requests=6000)
    )
    record = panel.run(rate=400, requests=300, arrivals="poisson", seed=5)
    assert record.result.arrivals == Arrivals("poisson", 1.0, 5) and record.result.mode == "open"
    bursty = asyncio.run(panel.run_async(rate=400, requests=300, arrivals="gamma", burstiness=0.5))
    assert bursty.result.arrivals == Arrivals("gamma", 0.5, 0)
    assert (
        panel.run(rate=400, requests=50).result.arrivals == Arrivals()
    )  # the default stays uniform
    labels = [run.label for run in panel.runs]  # the chart's legend tells the runs apart
    assert labels[0].endswith("400/s Poisson") and labels[1].endswith("400/s gamma b=0.5")
    assert labels[2].endswith("400/s"), labels


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(rate=100, arrivals="zipf"), "arrivals must be one of"),
        (dict(rate=100, arrivals="gamma", burstiness=0), "burstiness must be a number > 0"),
        (dict(rate=0, arrivals="poisson"), "needs a rate"),
    ],
)
def test_bad_arrivals_are_refused_naming_the_bound(overrides, message):
    panel = LoadTestPanel(in_process_targets(), target="rest")
    with pytest.raises(ValueError, match=message):
        panel.run(requests=20, **overrides)
