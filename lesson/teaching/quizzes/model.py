"""Self-check quizzes as data: options, questions, quizzes, and the pure grading function.

Standard library only, so a quiz is graded the same way in the browser, in a kernel and in a
test. Every question has exactly one correct option, and every option carries its own
explanation, so a learner who picks a wrong answer reads *why* it is wrong::

    >>> q = Question("p99", "What is the p99?", (
    ...     Option("The value 99 % of requests are at or below", True, "That is the definition."),
    ...     Option("The mean of the slowest 1 %", False, "That is a tail mean, not a percentile."),
    ... ))
    >>> grade(q, "b").correct
    False
    >>> print(grade(q, 0))
    ✔ a) The value 99 % of requests are at or below — That is the definition.
"""

from __future__ import annotations

import random
import string
import textwrap
from dataclasses import dataclass

#: Options are labelled a), b), c) ...; more than this many would not be a self-check.
MAX_OPTIONS = 6


class QuizError(ValueError):
    """Bad quiz data, or an answer that names no option of the question."""


class UnknownQuizError(LookupError):
    """No quiz for that notebook; the message lists the notebooks that have one."""


def letter(index: int) -> str:
    """The label of option ``index`` (0 -> ``"a"``)."""
    return string.ascii_lowercase[index]


@dataclass(frozen=True)
class Option:
    """One answer to choose: its text, whether it is the right one, and why (shown when picked)."""

    text: str
    correct: bool
    feedback: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise QuizError("an option needs a non-empty text")
        if not isinstance(self.correct, bool):
            raise QuizError(
                f"option {self.text!r}: correct must be True or False, got {self.correct!r}"
            )
        if not isinstance(self.feedback, str) or not self.feedback.strip():
            raise QuizError(
                f"option {self.text!r} has no feedback: every option must say why it is right or wrong"
            )


@dataclass(frozen=True)
class Question:
    """A single-answer question: 2..6 options, exactly one of them correct."""

    id: str
    prompt: str
    options: tuple[Option, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise QuizError("a question needs an id")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise QuizError(f"question {self.id!r} has no prompt")
        options = tuple(self.options)
        object.__setattr__(self, "options", options)
        if not all(isinstance(o, Option) for o in options):
            raise QuizError(f"question {self.id!r}: options must be Option objects")
        if not 2 <= len(options) <= MAX_OPTIONS:
            raise QuizError(
                f"question {self.id!r} has {len(options)} options; it needs 2 to {MAX_OPTIONS}"
            )
        right = sum(o.correct for o in options)
        if right != 1:
            raise QuizError(
                f"question {self.id!r} has {right} correct options; it needs exactly one"
            )
        texts = [o.text for o in options]
        if len(set(texts)) != len(texts):
            raise QuizError(f"question {self.id!r} repeats an option")

    @classmethod
    def shuffled(cls, id: str, prompt: str, options: tuple[Option, ...]) -> Question:
        """A question whose options are put in an order fixed by ``id`` (the same on every run),
        so content can be written right answer first without it always being a)."""
        order = list(options)
        random.Random(f"quiz:{id}").shuffle(order)
        return cls(id, prompt, tuple(order))

    @property
    def answer(self) -> int:
        """Index of the correct option."""
        return next(i for i, o in enumerate(self.options) if o.correct)

    def grade(self, choice: int | str) -> Feedback:
        """Same as :func:`grade` (``grade(self, choice)``)."""
        return grade(self, choice)

    def to_text(self, number: int | None = None) -> str:
        """The question and its lettered options, as plain text."""
        head = f"{number}. {self.prompt}" if number is not None else self.prompt
        lines = textwrap.wrap(head, 96, subsequent_indent="   ") or [head]
        for i, option in enumerate(self.options):
            lines += textwrap.wrap(
                f"{letter(i)}) {option.text}", 96, initial_indent="   ", subsequent_indent="      "
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class Feedback:
    """What a choice earned: right or wrong, why, and which option was the right one."""

    question: str
    choice: int
    chosen: str
    correct: bool
    explanation: str
    answer: int
    answer_text: str

    def __str__(self) -> str:
        if self.correct:
            return f"✔ {letter(self.choice)}) {self.chosen} — {self.explanation}"
        return (
            f"✘ {letter(self.choice)}) {self.chosen} — {self.explanation}\n"
            f"  The answer: {letter(self.answer)}) {self.answer_text}"
        )


def _index(question: Question, choice: int | str) -> int:
    n = len(question.options)
    if isinstance(choice, bool) or not isinstance(choice, (int, str)):
        raise QuizError(
            f"question {question.id!r}: choose an option by letter ('a') or index (0), "
            f"not {type(choice).__name__}"
        )
    if isinstance(choice, str):
        label = choice.strip().lower().rstrip(")")
        if len(label) != 1 or label not in string.ascii_lowercase[:n]:
            raise QuizError(
                f"question {question.id!r}: {choice!r} is not one of the letters "
                f"{', '.join(string.ascii_lowercase[:n])}"
            )
        return string.ascii_lowercase.index(label)
    if not 0 <= choice < n:
        raise QuizError(f"question {question.id!r}: index {choice} is outside 0..{n - 1}")
    return choice


def grade(question: Question, choice: int | str) -> Feedback:
    """Grade one answer: ``choice`` is the option's letter (``"b"``) or its index (``1``).

    Raises:
        QuizError: when ``choice`` names no option of ``question``.
    """
    index = _index(question, choice)
    option = question.options[index]
    right = question.answer
    return Feedback(
        question=question.id,
        choice=index,
        chosen=option.text,
        correct=option.correct,
        explanation=option.feedback,
        answer=right,
        answer_text=question.options[right].text,
    )


@dataclass(frozen=True)
class Quiz:
    """The self-check of one notebook (``notebook`` is its stem, e.g. ``"06-load-testing"``)."""

    notebook: str
    title: str
    questions: tuple[Question, ...]

    def __post_init__(self) -> None:
        questions = tuple(self.questions)
        object.__setattr__(self, "questions", questions)
        if not questions or not all(isinstance(q, Question) for q in questions):
            raise QuizError(f"quiz {self.notebook!r} needs at least one Question")
        ids = [q.id for q in questions]
        if len(set(ids)) != len(ids):
            raise QuizError(f"quiz {self.notebook!r} repeats a question id")

    def question(self, number: int) -> Question:
        """Question ``number``, counted from 1 as shown."""
        if (
            isinstance(number, bool)
            or not isinstance(number, int)
            or not 1 <= number <= len(self.questions)
        ):
            raise QuizError(
                f"quiz {self.notebook!r} has questions 1..{len(self.questions)}, not {number!r}"
            )
        return self.questions[number - 1]

    def answer(self, number: int, choice: int | str) -> Feedback:
        """Grade ``choice`` for question ``number`` (from 1): ``quiz.answer(2, "c")``."""
        return grade(self.question(number), choice)

    def to_text(self) -> str:
        """The whole quiz as plain text, with how to answer without widgets."""
        parts = [f"{self.title}", ""]
        parts += [q.to_text(i) + "\n" for i, q in enumerate(self.questions, 1)]
        parts.append(
            f'Answer with quiz_for("{self.notebook}").answer(<question>, "<letter>"), '
            f'e.g. .answer(1, "a").'
        )
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"<Quiz {self.notebook!r}: {len(self.questions)} questions>"
