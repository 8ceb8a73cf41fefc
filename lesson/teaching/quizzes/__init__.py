"""Self-check quizzes, one per notebook: questions as data, graded by a pure function.

Standard library only (it runs in Pyodide). In a notebook, the widget shows the quiz and
grades each click (``lesson.widgets.quiz``); without ipywidgets, answer from code:

    >>> from lesson.teaching.quizzes import quiz_for
    >>> quiz = quiz_for("06-load-testing")
    >>> quiz.answer(3, "b").correct        # question 3, option b)
    False

Every question has exactly one correct option, and every option says why it is right or
wrong. Content: ``serving`` (notebooks 00-04) and ``operations`` (05-09), ``generative`` (10).
"""

from __future__ import annotations

from lesson.teaching.quizzes import generative, operations, serving
from lesson.teaching.quizzes.model import (
    Feedback,
    Option,
    Question,
    Quiz,
    QuizError,
    UnknownQuizError,
    grade,
    letter,
)

__all__ = [
    "QUIZZES",
    "quiz_for",
    "Quiz",
    "Question",
    "Option",
    "Feedback",
    "grade",
    "letter",
    "QuizError",
    "UnknownQuizError",
]

#: The quizzes by notebook stem ("00-overview" ... "10-generative").
QUIZZES: dict[str, Quiz] = {
    q.notebook: q for q in (*serving.QUIZZES, *operations.QUIZZES, *generative.QUIZZES)
}


def quiz_for(notebook: str) -> Quiz:
    """The quiz of ``notebook`` (its stem, e.g. ``"02-grpc"``; a ``.ipynb`` suffix is ignored).

    Raises:
        UnknownQuizError: no quiz for that notebook (the message lists those that have one).
    """
    if not isinstance(notebook, str):
        raise UnknownQuizError(f"name a notebook by its stem, e.g. '00-overview', not {notebook!r}")
    stem = notebook.removesuffix(".ipynb")
    if stem not in QUIZZES:
        raise UnknownQuizError(f"no quiz for {notebook!r}; quizzes exist for: {', '.join(QUIZZES)}")
    return QUIZZES[stem]
