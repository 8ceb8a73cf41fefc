"""Notebook widgets: the load-test panel (ipywidgets) and latency charts (Vega-Lite specs).

``lesson.widgets.charts``, ``runs``, ``settings`` and ``targets`` use the standard library only;
``lesson.widgets.panel`` needs ipywidgets and is imported on first use of its names::

    from lesson.widgets import LoadTestPanel, Target

``lesson.widgets.quiz`` (the self-check quiz: ``show_quiz``, ``QuizWidget``) is imported the
same way; it falls back to text without ipywidgets.
"""

from __future__ import annotations

from typing import Any

from lesson.widgets.runs import RunRecord, results_table_html, table
from lesson.widgets.settings import PanelLimits
from lesson.widgets.targets import Knob, Target, make_payloads

__all__ = [
    "Knob",
    "Target",
    "make_payloads",
    "RunRecord",
    "results_table_html",
    "table",
    "LoadTestPanel",
    "PanelLimits",
    "QuizWidget",
    "show_quiz",
]


def __getattr__(name: str) -> Any:
    if name == "LoadTestPanel":
        from lesson.widgets import panel

        return getattr(panel, name)
    if name in ("QuizWidget", "show_quiz"):
        from lesson.widgets import quiz

        return getattr(quiz, name)
    raise AttributeError(f"module 'lesson.widgets' has no attribute {name!r}")
