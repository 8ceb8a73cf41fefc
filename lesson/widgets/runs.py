"""One load-test run as the notebooks show it: what was asked, and what was measured.

A :class:`RunRecord` pairs the panel's settings with the harness's
:class:`lesson.loadtest.LoadTestResult`. Lists of records feed the comparison table
(:func:`results_table_html`) and the charts (:mod:`lesson.widgets.charts`)::

    record = RunRecord(label="run 1", target="REST", settings={...}, result=result)
    HTML(results_table_html([record]))

Standard library only, so it works in JupyterLite as well as in local Jupyter.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lesson.core.stats import format_ms

#: (column label, LoadTestResult attribute) in the order tables and charts show them.
PERCENTILE_FIELDS: tuple[tuple[str, str], ...] = (
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("max", "max_latency"),
)


@dataclass
class RunRecord:
    """A finished run: its label, target, settings and measured result.

    Attributes:
        label: short name shown in tables and chart legends, e.g. ``"#2 gRPC c=8"``.
        target: the target's display name (pattern and transport).
        settings: what the learner chose (requests, concurrency, rate, instances, knobs).
        result: the harness's ``LoadTestResult``.
    """

    label: str
    target: str
    settings: dict[str, Any] = field(default_factory=dict)
    result: Any = None

    def percentiles_ms(self) -> dict[str, float]:
        """p50/p90/p95/p99/max of this run in milliseconds."""
        return {
            name: float(getattr(self.result, attr)) * 1000.0 for name, attr in PERCENTILE_FIELDS
        }


def _errors_cell(errors: dict[str, int]) -> str:
    """``kind: count`` per line; long kinds may wrap between words (``Overloaded<wbr>Error``)."""
    if not errors:
        return "0"
    return "<br>".join(
        f"{_breakable(html.escape(str(kind)))}: {count}" for kind, count in sorted(errors.items())
    )


def _breakable(text: str) -> str:
    """Allow a line break between the words of CamelCase and snake_case names (``Overloaded<wbr>
    Error``, ``max_<wbr>batch_<wbr>size=32``), so a narrow column wraps them there."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=_)(?=[^_])", "<wbr>", text)


def _mode_cell(result: Any) -> str:
    mode = getattr(result, "mode", "")
    if mode == "open":
        return f"open @ {getattr(result, 'target_rate', 0) or 0:g}/s"
    if mode == "closed":
        return f"closed × {getattr(result, 'concurrency', 1)}"
    return html.escape(str(mode))


def results_table_html(runs: Sequence[RunRecord], *, caption: str | None = None) -> str:
    """An HTML ``<table class="lesson-results">``, one row per run, latencies in ms.

    Columns: run, target, load (closed loop × workers or open loop @ rate), instances per
    request, requests (successes/sent), p50, p90, p95, p99, max (milliseconds, said in the
    caption), req/s (throughput), errors by kind.

    Args:
        runs: the runs to show, oldest first.
        caption: optional caption above the table.
    """
    head_cells = ["run", "target", "load", "inst/req", "requests"]
    head_cells += [name for name, _ in PERCENTILE_FIELDS]
    head_cells += ["req/s", "errors"]
    rows = []
    for run in runs:
        res = run.result
        resolution = getattr(res, "clock_resolution", None)
        if resolution is not None and resolution < 1e-5:
            resolution = None  # CPython's clock is fine enough; do not clutter the table
        cells = [
            _breakable(html.escape(run.label)),
            _breakable(html.escape(run.target)),
            _mode_cell(res),
            str(run.settings.get("instances", "")),
            f"{res.successes}/{res.requests}",
        ]
        cells += [
            format_ms(float(getattr(res, attr)), unit=False, resolution=resolution)
            for _, attr in PERCENTILE_FIELDS
        ]
        cells += [f"{res.throughput:,.0f}", _errors_cell(dict(res.errors))]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    caption = (
        caption or "Latency percentiles in milliseconds; req/s = completed requests per second"
    )
    cap = f"<caption>{html.escape(caption)}</caption>"
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head_cells) + "</tr>"
    return (
        f'<table class="lesson-results">{cap}<thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


class Table:
    """An HTML table (``class="lesson-table"``) that also prints as aligned text."""

    def __init__(
        self,
        rows: Sequence[dict[str, Any]],
        columns: Sequence[str] | None = None,
        caption: str = "",
    ):
        self.rows = [dict(r) for r in rows]
        self.columns = (
            list(columns) if columns else list(dict.fromkeys(k for r in self.rows for k in r))
        )
        self.caption = caption

    def _repr_html_(self) -> str:
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(_cell(r.get(c, '')))}</td>" for c in self.columns)
            + "</tr>"
            for r in self.rows
        )
        return f'<table class="lesson-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        cells = [[str(c) for c in self.columns]] + [
            [_cell(r.get(c, "")) for c in self.columns] for r in self.rows
        ]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return (f"{self.caption}\n" if self.caption else "") + "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, caption: str = ""
) -> Table:
    """Rows of dicts as a table that renders in Jupyter (HTML) and in a terminal (text)."""
    return Table(rows, columns, caption)
