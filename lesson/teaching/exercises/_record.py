"""What every exercise module builds on: the :class:`Exercise` record and the checkers' helpers.

A checker takes the learner's answer, runs it for real and returns a one-line success message,
or raises :class:`ExerciseFailure` saying what the answer got wrong. Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Exercise", "ExerciseFailure", "expect", "near"]


class ExerciseFailure(AssertionError):
    """Raised by a checker with a message that says what the answer got wrong."""


@dataclass(frozen=True, kw_only=True)
class Exercise:
    """One exercise: where it appears, what to do, how it is checked, and its reference answer.

    Attributes:
        id: what a notebook passes to ``check("<id>", answer)``.
        notebook: the notebook's stem, e.g. ``"01-rest"``.
        title: a short heading (the site's exercise section uses it).
        task: what to write or give, in one or two sentences.
        hint: shown with every failed check.
        checker: ``answer -> success message``; raises :class:`ExerciseFailure` otherwise.
        solution: the reference solution: the function a function exercise asks for, or a
            function returning the value a value exercise asks for (``pick_patterns``).
    """

    id: str
    notebook: str
    title: str
    task: str
    hint: str
    checker: Callable[[Any], str]
    solution: Callable[..., Any]


def expect(condition: bool, message: str) -> None:
    """Fail the check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseFailure(message)


def near(a: float, b: float, tol: float = 1e-9) -> bool:
    """``a`` and ``b`` equal within ``tol`` (relative and absolute)."""
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
