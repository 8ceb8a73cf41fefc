"""Exercises with automatic checks: run a learner's answer and say what failed and why.

Each notebook ends with exercises. A learner writes a function (or a value) and calls
``check("<id>", answer)``; the result prints as a short pass/fail note with a hint. It runs
the answer for real, in local Jupyter and in JupyterLite alike (standard library only).

One module per notebook holds its exercises (:mod:`.overview` for 00, :mod:`.rest`,
:mod:`.grpc`, :mod:`.batch`, :mod:`.streaming`, :mod:`.edge`, :mod:`.load_testing`,
:mod:`.resilience`, :mod:`.rollout`, :mod:`.capstone`, :mod:`.generative`): each exercise is one
:class:`Exercise` record built with keyword fields, its checker and its reference solution
just above it. This module collects them (:data:`EXERCISES`) and runs the checks
(:func:`check`); :func:`show_solution` gives a reference solution's source.

Example:
    >>> from lesson.teaching.exercises import check
    >>> check("percentile", lambda samples, q: max(samples)).passed
    False
"""

from __future__ import annotations

import html
import inspect
from dataclasses import dataclass
from typing import Any

from lesson.teaching.exercises import (
    batch,
    capstone,
    edge,
    generative,
    grpc,
    load_testing,
    overview,
    resilience,
    rest,
    rollout,
    streaming,
)
from lesson.teaching.exercises._record import Exercise, ExerciseFailure
from lesson.teaching.exercises.overview import SCENARIOS
from lesson.teaching.exercises.resilience import BATCHING_TARGET

__all__ = [
    "EXERCISES",
    "Exercise",
    "Feedback",
    "ExerciseFailure",
    "SCENARIOS",
    "BATCHING_TARGET",
    "check",
    "exercises_for",
    "show_solution",
]


@dataclass(frozen=True)
class Feedback:
    """The outcome of one check."""

    exercise: str
    passed: bool
    message: str
    hint: str = ""

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "NOT YET"
        text = f"[{mark}] {self.exercise}: {self.message}"
        return text if self.passed or not self.hint else f"{text}\n  hint: {self.hint}"

    def _repr_html_(self) -> str:
        colour = "#1b7f3b" if self.passed else "#b3261e"
        mark = "✔ passed" if self.passed else "✘ not yet"
        hint = (
            "" if self.passed or not self.hint else f"<br><em>Hint:</em> {html.escape(self.hint)}"
        )
        return (
            f'<div class="lesson-feedback" style="border-left:4px solid {colour};'
            f'padding:4px 10px"><strong style="color:{colour}">{mark}</strong> '
            f"<code>{html.escape(self.exercise)}</code>: {html.escape(self.message)}{hint}</div>"
        )


#: The notebooks' exercise modules, in the notebooks' order.
MODULES = (
    overview,
    rest,
    grpc,
    batch,
    streaming,
    edge,
    load_testing,
    resilience,
    rollout,
    capstone,
    generative,
)

#: Every exercise by id, in the notebooks' order.
EXERCISES: dict[str, Exercise] = {e.id: e for module in MODULES for e in module.EXERCISES}


def check(exercise_id: str, answer: Any) -> Feedback:
    """Check a learner's answer to one exercise and explain the result.

    Args:
        exercise_id: the exercise's id (see :data:`EXERCISES`).
        answer: the function or value the exercise asks for.

    Returns:
        A :class:`Feedback` (shown as a coloured note in a notebook).
    """
    exercise = EXERCISES.get(exercise_id)
    if exercise is None:
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {', '.join(EXERCISES)}")
    try:
        message = exercise.checker(answer)
    except ExerciseFailure as failure:
        return Feedback(exercise_id, False, str(failure), exercise.hint)
    except NotImplementedError:
        return Feedback(
            exercise_id,
            False,
            "not attempted yet (the answer raises NotImplementedError)",
            exercise.hint,
        )
    except Exception as err:  # report the learner's own error, do not crash
        return Feedback(
            exercise_id, False, f"your answer raised {type(err).__name__}: {err}", exercise.hint
        )
    return Feedback(exercise_id, True, message)


def exercises_for(notebook: str) -> list[Exercise]:
    """The exercises of one notebook (e.g. ``"01-rest"``), in order."""
    return [e for e in EXERCISES.values() if e.notebook == notebook]


def show_solution(exercise_id: str) -> str:
    """Return the reference solution's source (try first: it is hidden for a reason)."""
    return inspect.getsource(EXERCISES[exercise_id].solution)
