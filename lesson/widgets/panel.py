"""The load-test panel: pick a target, set the load, press Run, read honest percentiles.

An ipywidgets ``VBox`` (CSS class ``lesson-panel``) around the core harness::

    panel = LoadTestPanel(lab.targets, target="rest")
    panel                              # shows the controls
    record = await panel.run_async()   # a run from code, same as pressing Run
    panel.report()                     # table + chart as ordinary cell output

Every control is bounded (:class:`PanelLimits`) and every run also stops at
``max_duration`` seconds, so no click can start an unbounded run. In the browser (no
threads) a click schedules the asyncio harness on the running event loop; in CPython the
thread harness runs in an executor while the progress bar updates from the event loop.
Errors raised by callbacks are shown in the panel's ``Output`` log, never swallowed.

The chart and the log are written by assigning the ``Output`` widgets' ``outputs`` (a
state sync), never with ``with output:``/``display``: a click's run finishes after the
click's message was answered, and output sent then is routed by a message that is over
(seen in JupyterLite: the table showed a new run, the chart the previous one). A state
sync does not depend on which message is current.
"""

from __future__ import annotations

import asyncio
import functools
import traceback
from collections.abc import Sequence
from typing import Any

import ipywidgets as W
from IPython.display import HTML, display

from lesson import loadtest
from lesson.core.runtime import IN_BROWSER
from lesson.widgets.charts import VEGA_LITE_MIME, chart_bundle, comparison_chart, display_chart
from lesson.widgets.runs import RunRecord, results_table_html
from lesson.widgets.settings import PanelLimits, harness_kwargs, read_settings
from lesson.widgets.targets import Target, is_async_callable, make_payloads

#: What an empty panel says; on a static page its buttons cannot run (no kernel there).
NO_RUNS_YET = (
    "<i>No runs yet: press Run. (On the site's static page the buttons do nothing: open "
    "the notebook in JupyterLite, or run it in Jupyter.)</i>"
)


def chart_output(spec: dict[str, Any]) -> dict[str, Any]:
    """A ``display_data`` output of a Vega-Lite spec for an ``Output`` widget's ``outputs``.

    Drawn as SVG (``embed_options``), so the chart's text (run labels) is in the page.
    """
    return {
        "output_type": "display_data",
        "data": chart_bundle(spec),
        "metadata": {VEGA_LITE_MIME: {"embed_options": {"renderer": "svg"}}},
    }


class LoadTestPanel:
    """A bounded load-test control panel over :mod:`lesson.loadtest`.

    Args:
        targets: the targets to offer (a sequence, or a mapping of key -> Target).
        target: key of the target selected at first.
        requests / concurrency / rate / instances: start values (rate 0 = closed loop).
        limits: bounds of the controls.
        title: heading shown on the panel.
    """

    def __init__(
        self,
        targets: Sequence[Target] | dict[str, Target],
        *,
        target: str | None = None,
        requests: int = 200,
        concurrency: int = 4,
        rate: int = 0,
        instances: int = 1,
        limits: PanelLimits = PanelLimits(),
        title: str = "Load test",
    ) -> None:
        items = list(targets.values()) if isinstance(targets, dict) else list(targets)
        if not items:
            raise ValueError("a load-test panel needs at least one target")
        self.targets: dict[str, Target] = {t.key: t for t in items}
        if target is not None and target not in self.targets:
            raise ValueError(f"unknown target {target!r}; known: {', '.join(self.targets)}")
        self.limits = limits
        self.runs: list[RunRecord] = []
        self.last_error: BaseException | None = None
        self.running = False
        self._run_count = 0
        self._task: asyncio.Future | None = None

        wide = {"description_width": "initial"}
        self.target_select = W.Dropdown(
            options=[(t.label, t.key) for t in items],
            value=target or items[0].key,
            description="Target",
            layout=W.Layout(width="100%"),
            style=wide,
        )
        self.requests_input = W.BoundedIntText(
            value=requests,
            min=1,
            max=limits.max_requests,
            step=50,
            description=f"Requests (1–{limits.max_requests})",
            style=wide,
        )
        self.concurrency_input = W.IntSlider(
            value=concurrency,
            min=1,
            max=limits.max_concurrency,
            description="Concurrency (workers)",
            style=wide,
            continuous_update=False,
        )
        self.rate_input = W.BoundedIntText(
            value=rate,
            min=0,
            max=limits.max_rate,
            step=50,
            # short enough that the box keeps room to type in a narrow column (the docs site's)
            description=f"Rate, req/s (0 = closed, ≤{limits.max_rate})",
            style=wide,
            tooltip="Open-loop rate: requests sent per second on a fixed schedule; 0 runs a closed loop",
        )
        self.instances_input = W.IntSlider(
            value=instances,
            min=1,
            max=limits.max_instances,
            description="Instances per request",
            style=wide,
            continuous_update=False,
        )
        self.knobs_box = W.VBox()
        self.knob_inputs: dict[str, W.IntSlider] = {}
        # buttons as wide as their text (a narrow row squeezed them to "…"); rows wrap on a phone
        self.run_button = W.Button(
            description="Run",
            button_style="primary",
            icon="play",
            layout=W.Layout(width="auto", min_width="max-content"),
        )
        self.clear_button = W.Button(
            description="Clear history",
            icon="trash",
            layout=W.Layout(width="auto", min_width="max-content"),
        )
        self.progress = W.IntProgress(
            value=0,
            min=0,
            max=requests,
            description="Progress",
            layout=W.Layout(flex="1 1 14em", min_width="0"),
        )
        self.progress_label = W.HTML(value="idle", layout=W.Layout(flex="1 1 12em"))
        self.log = W.Output()
        # a wide results table scrolls inside the panel instead of hiding its p50/p99 columns
        self.results_html = W.HTML(
            value=NO_RUNS_YET, layout=W.Layout(max_width="100%", overflow="auto")
        )
        self.chart_output = W.Output(layout=W.Layout(max_width="100%", overflow="auto"))
        self._apply_controls(
            self.requests_input, self.concurrency_input, self.rate_input, self.instances_input
        )

        note = W.HTML(
            f"<b>{title}</b> — each run stops after the requests you ask for or "
            f"{limits.max_duration:g} s, whichever comes first. "
            "Rate 0 runs a closed loop (each worker waits for its answer); a rate above 0 "
            "sends on a fixed schedule and measures latency from each request's intended send time."
        )
        self.widget = W.VBox(
            [
                note,
                self.target_select,
                W.HBox(
                    [self.requests_input, self.concurrency_input],
                    layout=W.Layout(flex_flow="row wrap"),
                ),
                W.HBox(
                    [self.rate_input, self.instances_input], layout=W.Layout(flex_flow="row wrap")
                ),
                self.knobs_box,
                W.HBox(
                    [self.run_button, self.clear_button, self.progress, self.progress_label],
                    layout=W.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.log,
                self.results_html,
                self.chart_output,
            ]
        )
        self.widget.add_class("lesson-panel")

        self.target_select.observe(self._on_target_change, names="value")
        self.run_button.on_click(self._on_run_clicked)
        self.clear_button.on_click(self._on_clear_clicked)
        self._build_knobs()

    @staticmethod
    def _apply_controls(*controls: W.Widget) -> None:
        for control in controls:  # two per row where there is room, one per row on a phone
            control.layout = W.Layout(flex="1 1 20em", min_width="0", width="auto")

    # ---- display -------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        display(self.widget)

    # ---- settings ------------------------------------------------------------------------
    @property
    def target(self) -> Target:
        """The selected target."""
        return self.targets[self.target_select.value]

    def _build_knobs(self) -> None:
        self.knob_inputs = {}
        children = []
        for knob in self.target.knobs:
            slider = W.IntSlider(
                value=knob.default,
                min=knob.minimum,
                max=knob.maximum,
                description=knob.label,
                style={"description_width": "initial"},
                continuous_update=False,
                layout=W.Layout(flex="1 1 20em", min_width="0", width="auto"),
            )
            self.knob_inputs[knob.name] = slider
            children.append(
                W.HBox(
                    [slider, W.HTML(f"<small>{knob.help}</small>")],
                    layout=W.Layout(flex_flow="row wrap"),
                )
            )
        self.knobs_box.children = children

    def _on_target_change(self, change: dict[str, Any]) -> None:
        try:
            self._build_knobs()
        except Exception as exc:  # shown to the learner in the panel
            self._show_error(exc)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The run's settings from the controls, with ``overrides``; every value bound-checked.

        Raises:
            ValueError: a value outside its bound, naming the setting and the bound.
        """
        target_key = overrides.get("target", self.target_select.value)
        shown = target_key == self.target_select.value
        controls = {
            "target": self.target_select.value,
            "requests": self.requests_input.value,
            "concurrency": self.concurrency_input.value,
            "rate": self.rate_input.value,
            "instances": self.instances_input.value,
            "knobs": {name: box.value for name, box in self.knob_inputs.items()} if shown else {},
        }
        return read_settings(self.targets, self.limits, controls, overrides)

    def _label(self, settings: dict[str, Any]) -> str:
        load = f"{settings['rate']}/s" if settings["rate"] else f"c={settings['concurrency']}"
        arrivals = settings.get(
            "arrivals"
        )  # drawn arrivals are named: runs at one rate must be told apart
        if settings["rate"] and arrivals is not None and arrivals.random:
            load += (
                " Poisson" if arrivals.process == "poisson" else f" gamma b={arrivals.burstiness:g}"
            )
        knobs = "".join(f" {k}={v}" for k, v in settings["knobs"].items())
        return f"#{self._run_count} {settings['target']} {load}{knobs}"

    # ---- running -------------------------------------------------------------------------
    def _start(self, settings: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
        if self.running:
            raise RuntimeError("a run is already in progress; wait for it to finish")
        target = self.targets[settings["target"]]
        payloads = make_payloads(
            settings["instances"],
            target.n_features,
            count=16,
            seed=self._run_count,
            sample_rows=target.sample_rows,
        )
        endpoint = target.build(**settings["knobs"])
        self.running = True
        self.run_button.disabled = True
        self.progress.max = settings["requests"]
        self.progress.value = 0
        self.progress.bar_style = ""
        self.progress_label.value = f"running {settings['requests']} requests…"
        return endpoint, payloads

    def _set_progress(self, completed: int, total: int, elapsed: float) -> None:
        self.progress.max = max(int(total), 1)
        self.progress.value = min(int(completed), self.progress.max)
        self.progress_label.value = f"{completed}/{total} · {elapsed:.1f} s"

    def _finish(self, settings: dict[str, Any], endpoint: Any, result: Any) -> RunRecord:
        self._run_count += 1
        target = self.targets[settings["target"]]
        record = RunRecord(
            label=self._label(settings), target=target.label, settings=settings, result=result
        )
        self.runs.append(record)
        del self.runs[: -self.limits.keep_runs]
        self.progress.value = self.progress.max
        self.progress.bar_style = "success" if not result.errors else "warning"
        stopped = (
            ""
            if result.requests >= settings["requests"]
            else (f" (stopped at the {self.limits.max_duration:g} s bound)")
        )
        self.progress_label.value = (
            f"done: {result.requests} requests in {result.wall_time:.2f} s{stopped}"
        )
        self._render()
        return record

    def _cleanup(self, settings: dict[str, Any], endpoint: Any) -> None:
        self.running = False
        self.run_button.disabled = False
        if self.targets[settings["target"]].make_endpoint is None:
            return  # a shared endpoint: not ours to close
        close = getattr(endpoint, "close", None)
        if callable(close):
            close()

    async def _acleanup(self, settings: dict[str, Any], endpoint: Any) -> None:
        aclose = getattr(endpoint, "aclose", None)
        if callable(aclose) and self.targets[settings["target"]].make_endpoint is not None:
            try:
                await aclose()
            finally:
                self._cleanup(settings, endpoint)
        else:
            self._cleanup(settings, endpoint)

    def _render(self) -> None:
        self.results_html.value = results_table_html(self.runs)
        self.chart_output.outputs = (chart_output(comparison_chart(self.runs)),)

    def run(self, **overrides: Any) -> RunRecord:
        """Run one load test now, blocking (CPython only).

        Sync targets use the thread harness; async targets (e.g. the micro-batcher) run the
        asyncio harness in a fresh event loop.

        Args:
            overrides: ``requests``, ``concurrency``, ``rate``, ``instances``, ``target``,
                ``knobs`` (a dict) instead of the controls' values.
        """
        if IN_BROWSER:
            raise RuntimeError("threads do not exist in the browser: use `await panel.run_async()`")
        settings = self.settings(**dict(overrides))
        if self.targets[settings["target"]].asynchronous:
            return asyncio.run(self.run_async(**overrides))
        endpoint, payloads = self._start(settings)
        try:
            result = loadtest.run_load_test(
                endpoint, payloads, **harness_kwargs(settings, self.limits, self._set_progress)
            )
            return self._finish(settings, endpoint, result)
        finally:
            self._cleanup(settings, endpoint)

    async def run_async(self, **overrides: Any) -> RunRecord:
        """Run one load test without blocking the event loop (the browser and CPython alike).

        In the browser, or for an async target, the asyncio harness runs on this loop. In
        CPython a sync target runs under the thread harness in an executor, with progress
        handed back to the loop thread-safely, so the bar moves while the cell awaits.
        """
        settings = self.settings(**overrides)
        target = self.targets[settings["target"]]
        endpoint, payloads = self._start(settings)
        try:
            if IN_BROWSER or target.asynchronous or is_async_callable(endpoint):
                kwargs = harness_kwargs(settings, self.limits, self._set_progress)
                result = await loadtest.run_load_test_async(endpoint, payloads, **kwargs)
            else:
                loop = asyncio.get_running_loop()

                def progress(completed: int, total: int, elapsed: float) -> None:
                    loop.call_soon_threadsafe(self._set_progress, completed, total, elapsed)

                kwargs = harness_kwargs(settings, self.limits, progress)
                call = functools.partial(loadtest.run_load_test, endpoint, payloads, **kwargs)
                result = await loop.run_in_executor(None, call)
            return self._finish(settings, endpoint, result)
        finally:
            await self._acleanup(settings, endpoint)

    # ---- callbacks -----------------------------------------------------------------------
    def _show_error(self, exc: BaseException) -> None:
        self.last_error = exc
        self.progress.bar_style = "danger"
        self.progress_label.value = f"failed: {type(exc).__name__}"
        lines = traceback.format_exception(exc, limit=-3)
        self.log.outputs = (
            *self.log.outputs,
            {
                "output_type": "stream",
                "name": "stderr",
                "text": f"Run failed: {type(exc).__name__}: {exc}\n" + "".join(lines),
            },
        )

    def _on_task_done(self, task: asyncio.Future) -> None:
        if not self.running:
            self.run_button.disabled = False
        if task.cancelled():
            self.progress_label.value = "cancelled"
            return
        exc = task.exception()
        if exc is not None:
            self._show_error(exc)

    def _on_run_clicked(self, _button: Any = None) -> None:
        """Start a run: scheduled on the running event loop if there is one, else run now."""
        if self.running or (self._task is not None and not self._task.done()):
            return  # one run at a time: the button is disabled meanwhile, this is a stray click
        self.log.outputs = ()
        self.last_error = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None and IN_BROWSER:
            loop = asyncio.get_event_loop()  # Pyodide's WebLoop is always there
        if loop is not None:
            self.run_button.disabled = True
            self.progress_label.value = "starting…"
            self._task = asyncio.ensure_future(self.run_async(), loop=loop)
            self._task.add_done_callback(self._on_task_done)
            return
        try:
            self.run()
        except Exception as exc:  # shown to the learner in the panel
            self._show_error(exc)

    def _on_clear_clicked(self, _button: Any = None) -> None:
        self.runs.clear()
        self.results_html.value = NO_RUNS_YET
        self.chart_output.outputs = ()
        self.progress.value = 0
        self.progress_label.value = "idle"

    # ---- reports -------------------------------------------------------------------------
    def report(self, *, last: int | None = None, chart: bool = True) -> None:
        """Display the runs' table (and chart) as ordinary cell output (shown on static pages)."""
        runs = self.runs[-last:] if last else self.runs
        if not runs:
            display(HTML("<i>No runs yet.</i>"))
            return
        display(HTML(results_table_html(runs)))
        if chart:
            display_chart(comparison_chart(runs))
