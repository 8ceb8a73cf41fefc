"""The self-check quiz widget: click an option, read at once why it is right or wrong.

An ipywidgets ``VBox`` (CSS class ``lesson-quiz``) over any quiz shaped like
:class:`lesson.teaching.quizzes.Quiz` (this layer may not import ``teaching``, so the shape is
a Protocol; grading is the question's own pure ``grade``)::

    from lesson.teaching.quizzes import quiz_for
    from lesson.widgets.quiz import show_quiz

    show_quiz(quiz_for("06-load-testing"))

Pure Python and ipywidgets only (no threads, no sockets), so it runs in JupyterLite as in
local Jupyter. The prompts and options are HTML widgets, so a static page rendered from the
saved widget state shows the questions; its ``text/plain`` form is the quiz as text. Without
ipywidgets, :func:`show_quiz` returns a text version that says how to answer from code.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any, Protocol

try:
    import ipywidgets as W
except ImportError:  # the text fallback below still works
    W = None  # type: ignore[assignment]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_RIGHT, _WRONG = "#1b7f3b", "#b3261e"


class OptionLike(Protocol):
    text: str


class FeedbackLike(Protocol):
    choice: int
    correct: bool
    explanation: str
    answer: int
    answer_text: str


class QuestionLike(Protocol):
    id: str
    prompt: str
    options: Sequence[OptionLike]

    def grade(self, choice: int | str) -> FeedbackLike: ...


class QuizLike(Protocol):
    notebook: str
    title: str
    questions: Sequence[QuestionLike]

    def to_text(self) -> str: ...


_CODE = re.compile(r"`([^`]+)`")
#: ``*word*`` as in Markdown: the asterisks hug the text and touch no letter or other asterisk
#: outside it (so ``2 * 3 * 4`` is left alone)
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")


def inline(text: str) -> str:
    """Escape ``text`` for HTML; show ```code``` spans as ``<code>``, ``*emphasis*`` as ``<em>``."""
    parts = _CODE.split(text)  # odd indices: the inside of a code span
    return "".join(
        f"<code>{html.escape(part)}</code>"
        if i % 2
        else _EMPHASIS.sub(r"<em>\1</em>", html.escape(part))
        for i, part in enumerate(parts)
    )


def feedback_html(feedback: FeedbackLike) -> str:
    """The feedback box for one choice: the verdict, why, and the right answer when it was wrong."""
    colour = _RIGHT if feedback.correct else _WRONG
    verdict = "✔ Right" if feedback.correct else "✘ Not this one"
    head = f"<strong style='color:{colour}'>{verdict} ({_LETTERS[feedback.choice]})</strong>"
    body = f"{head} — {inline(feedback.explanation)}"
    if not feedback.correct:
        body += (
            f"<br>The answer: <strong>{_LETTERS[feedback.answer]})</strong> "
            f"{inline(feedback.answer_text)} (click it to read why)."
        )
    return (
        f"<div class='lesson-quiz-feedback' data-correct='{str(feedback.correct).lower()}' "
        f"style='border-left:4px solid {colour};padding:4px 10px;margin:2px 0 8px'>{body}</div>"
    )


class QuizWidget:
    """One quiz as a widget; every click is graded by the question's ``grade``.

    Attributes:
        widget: the ``VBox`` to display (class ``lesson-quiz``).
        buttons: per question, one button per option (labelled a, b, c ...).
        feedback: per question, the ``HTML`` widget that shows the last verdict.
        first_try: question index -> whether its first answer was right.
    """

    def __init__(self, quiz: QuizLike) -> None:
        if W is None:
            raise ImportError(
                "the quiz widget needs ipywidgets; use show_quiz() for the text version"
            )
        if not getattr(quiz, "questions", None):
            raise ValueError("a quiz widget needs a quiz with at least one question")
        self.quiz = quiz
        self.first_try: dict[int, bool] = {}
        self.buttons: list[list[Any]] = []
        self.feedback: list[Any] = []
        blocks: list[Any] = [
            W.HTML(
                f"<h3 style='margin:0.2em 0'>{inline(quiz.title)}</h3>"
                "<p style='margin:0 0 0.4em'>Click an option: each one says why it is "
                "right or wrong.</p>"
            )
        ]
        for qi, question in enumerate(quiz.questions):
            blocks.append(self._question_box(qi, question))
        self.score = W.HTML()
        blocks.append(self.score)
        self._show_score()
        self.widget = W.VBox(blocks, layout=W.Layout(width="100%"))
        self.widget.add_class("lesson-quiz")

    def _question_box(self, qi: int, question: QuestionLike) -> Any:
        prompt = W.HTML(
            f"<p style='margin:0.6em 0 0.2em'><strong>{qi + 1}.</strong> {inline(question.prompt)}</p>",
            layout=W.Layout(width="100%"),
        )
        buttons, rows = [], []
        for oi, option in enumerate(question.options):
            button = W.Button(
                description=_LETTERS[oi],
                tooltip=option.text,
                layout=W.Layout(width="2.8em", min_width="2.8em"),
            )
            button.on_click(lambda _b, qi=qi, oi=oi: self.choose(qi + 1, oi))
            buttons.append(button)
            text = W.HTML(
                f"<span>{inline(option.text)}</span>",
                layout=W.Layout(width="auto", flex="1 1 auto"),
            )
            rows.append(W.HBox([button, text], layout=W.Layout(align_items="center", width="100%")))
        feedback = W.HTML("", layout=W.Layout(width="100%"))
        self.buttons.append(buttons)
        self.feedback.append(feedback)
        box = W.VBox([prompt, *rows, feedback], layout=W.Layout(width="100%"))
        box.add_class("lesson-quiz-question")
        return box

    def choose(self, number: int, choice: int | str) -> FeedbackLike:
        """Answer question ``number`` (from 1) with an option's index or letter, as a click does."""
        if (
            isinstance(number, bool)
            or not isinstance(number, int)
            or not 1 <= number <= len(self.buttons)
        ):
            raise ValueError(f"this quiz has questions 1..{len(self.buttons)}, not {number!r}")
        qi = number - 1
        feedback = self.quiz.questions[qi].grade(choice)
        self.first_try.setdefault(qi, feedback.correct)
        # every option tried keeps its colour: green for the right one, red for a wrong one
        self.buttons[qi][feedback.choice].button_style = "success" if feedback.correct else "danger"
        self.feedback[qi].value = feedback_html(feedback)
        self._show_score()
        return feedback

    def _show_score(self) -> None:
        total, answered = len(self.buttons), len(self.first_try)
        right = sum(self.first_try.values())
        text = f"Answered {answered} of {total}"
        if answered:
            text += f" · right at the first try: {right} of {answered}"
        self.score.value = (
            f"<p class='lesson-quiz-score' style='margin:0.6em 0 0'><em>{text}.</em></p>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/plain"] = self.quiz.to_text()
        return bundle


class QuizText:
    """The quiz as text, for a front end without ipywidgets; answer with ``quiz.answer(n, "b")``."""

    def __init__(self, quiz: QuizLike) -> None:
        self.quiz = quiz

    def __repr__(self) -> str:
        return self.quiz.to_text()

    def _repr_html_(self) -> str:
        return f"<pre class='lesson-quiz-text'>{html.escape(self.quiz.to_text())}</pre>"


def show_quiz(quiz: QuizLike) -> QuizWidget | QuizText:
    """The quiz as a widget, or as text when ipywidgets is not importable."""
    return QuizText(quiz) if W is None else QuizWidget(quiz)
