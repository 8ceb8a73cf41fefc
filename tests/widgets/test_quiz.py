"""Self-check quizzes: the data is valid, grading is right, and the widget answers a click."""

from __future__ import annotations

import html
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from lesson.teaching.quizzes import (
    QUIZZES,
    Option,
    Question,
    Quiz,
    QuizError,
    UnknownQuizError,
    grade,
    quiz_for,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
STEMS = [
    "00-overview",
    "01-rest",
    "02-grpc",
    "03-batch",
    "04-streaming",
    "05-edge",
    "06-load-testing",
    "07-resilience",
    "08-rollout",
    "09-capstone",
    "10-generative",
]


def two_options(**first) -> tuple[Option, Option]:
    return (
        Option(**{"text": "yes", "correct": True, "feedback": "because", **first}),
        Option("no", False, "because not"),
    )


# ---- the data -------------------------------------------------------------------------------
def test_every_notebook_has_a_quiz_of_three_to_five_questions():
    assert list(QUIZZES) == STEMS
    for stem, quiz in QUIZZES.items():
        assert quiz.notebook == stem
        assert 3 <= len(quiz.questions) <= 5, (stem, len(quiz.questions))


@pytest.mark.parametrize("stem", STEMS)
def test_each_question_has_one_right_option_and_feedback_for_every_option(stem):
    # checked here from the outside, not only by the classes' own validation
    quiz = QUIZZES[stem]
    ids = [q.id for q in quiz.questions]
    assert len(ids) == len(set(ids))
    for question in quiz.questions:
        assert question.prompt.strip()
        assert len(question.options) >= 2, question.id
        assert [o.correct for o in question.options].count(True) == 1, question.id
        texts = [o.text for o in question.options]
        assert len(texts) == len(set(texts)), question.id
        feedbacks = [o.feedback.strip() for o in question.options]
        assert all(feedbacks), question.id
        assert len(set(feedbacks)) == len(feedbacks), (
            f"{question.id}: two options share one explanation"
        )


def test_the_right_answer_is_not_always_in_the_same_place():
    positions = [q.answer for quiz in QUIZZES.values() for q in quiz.questions]
    assert len(set(positions)) >= 3, positions


def test_shuffled_order_is_fixed_by_the_id():
    options = tuple(Option(f"option {i}", i == 0, f"why {i}") for i in range(5))
    a = Question.shuffled("q-1", "prompt", options)
    b = Question.shuffled("q-1", "prompt", options)
    assert a.options == b.options
    assert sorted(o.text for o in a.options) == sorted(o.text for o in options)
    orders = {Question.shuffled(f"q-{i}", "p", options).options for i in range(10)}
    assert len(orders) > 1


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(options=(Option("only", True, "why"),)), "needs 2 to"),
        (dict(options=(Option("a", True, "x"), Option("b", True, "y"))), "2 correct options"),
        (dict(options=(Option("a", False, "x"), Option("b", False, "y"))), "0 correct options"),
        (dict(options=(Option("a", True, "x"), Option("a", False, "y"))), "repeats an option"),
        (dict(prompt="  "), "no prompt"),
        (dict(id=""), "needs an id"),
    ],
)
def test_invalid_questions_are_refused(bad, message):
    fields = {"id": "q", "prompt": "Which?", "options": two_options(), **bad}
    with pytest.raises(QuizError, match=message):
        Question(**fields)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("feedback", "", "has no feedback"),
        ("feedback", "   ", "has no feedback"),
        ("correct", 1, "must be True or False"),
        ("text", "", "non-empty text"),
    ],
)
def test_invalid_options_are_refused(field, value, message):
    with pytest.raises(QuizError, match=message):
        two_options(**{field: value})


def test_a_quiz_refuses_repeated_ids_and_no_questions():
    q = Question("same", "Which?", two_options())
    with pytest.raises(QuizError, match="repeats a question id"):
        Quiz("nb", "t", (q, q))
    with pytest.raises(QuizError, match="at least one"):
        Quiz("nb", "t", ())


# ---- grading --------------------------------------------------------------------------------
@pytest.mark.parametrize("stem", STEMS)
def test_grading_every_option_of_every_question(stem):
    for question in QUIZZES[stem].questions:
        for index, option in enumerate(question.options):
            feedback = grade(question, index)
            assert feedback.correct is option.correct
            assert feedback.explanation == option.feedback
            assert feedback.chosen == option.text and feedback.choice == index
            assert question.options[feedback.answer].correct
            assert feedback.answer_text == question.options[feedback.answer].text


def test_grade_takes_a_letter_or_an_index():
    question = Question(
        "q",
        "Which?",
        (Option("x", False, "no x"), Option("y", True, "yes y"), Option("z", False, "no z")),
    )
    assert (
        grade(question, 1).correct
        and grade(question, "b").correct
        and grade(question, " B) ").correct
    )
    wrong = grade(question, "c")
    assert not wrong.correct and wrong.explanation == "no z" and wrong.answer == 1
    assert "The answer: b) y" in str(wrong) and str(grade(question, 1)).startswith("✔ b) y")
    assert question.grade("a") == grade(question, 0)


@pytest.mark.parametrize(
    "choice, message",
    [
        (3, r"outside 0\.\.2"),
        (-1, r"outside 0\.\.2"),
        ("d", "not one of the letters a, b, c"),
        ("ab", "not one of the letters"),
        (True, "not bool"),
        (1.0, "not float"),
        (None, "not NoneType"),
    ],
)
def test_grade_refuses_a_choice_that_names_no_option(choice, message):
    question = Question(
        "q", "Which?", (Option("x", True, "1"), Option("y", False, "2"), Option("z", False, "3"))
    )
    with pytest.raises(QuizError, match=message):
        grade(question, choice)


def test_quiz_for_and_answer_by_number():
    quiz = quiz_for("06-load-testing.ipynb")
    assert quiz is QUIZZES["06-load-testing"]
    second = quiz.questions[1]
    assert quiz.answer(2, second.answer).correct
    with pytest.raises(QuizError, match=r"questions 1\.\.5"):
        quiz.answer(0, "a")
    with pytest.raises(UnknownQuizError, match="quizzes exist for: 00-overview"):
        quiz_for("07-operations")


def test_text_version_lists_every_question_and_option():
    quiz = quiz_for("04-streaming")
    text = quiz.to_text()
    flat = " ".join(text.split())
    for number, question in enumerate(quiz.questions, 1):
        assert f"{number}. {' '.join(question.prompt.split())}" in flat
        for letter, option in zip("abcdef", question.options):
            assert f"{letter}) {' '.join(option.text.split())}" in flat
    assert 'quiz_for("04-streaming").answer(' in text


# ---- the notebooks show their own quiz --------------------------------------------------------
def test_each_notebook_shows_its_own_quiz():
    """00-06 must; 07-09 (being written) are checked once their source calls quiz_for."""
    sources = {p.stem: p.read_text() for p in sorted((ROOT / "notebooks" / "src").glob("*.py"))}
    required = STEMS[:7] + [s for s in STEMS[7:] if "quiz_for(" in sources.get(s, "")]
    for stem in required:
        text = sources[stem]
        assert "## Check yourself" in text, stem
        assert re.findall(r'quiz_for\("([^"]+)"\)', text) == [stem], stem


# ---- the widget -------------------------------------------------------------------------------
def test_widget_click_shows_the_feedback_of_that_option():
    pytest.importorskip("ipywidgets")
    from lesson.widgets import show_quiz

    quiz = quiz_for("00-overview")
    shown = show_quiz(quiz)
    assert "lesson-quiz" in shown.widget._dom_classes
    assert [len(b) for b in shown.buttons] == [len(q.options) for q in quiz.questions]
    assert all(f.value == "" for f in shown.feedback)
    assert f"Answered 0 of {len(quiz.questions)}" in shown.score.value

    question = quiz.questions[0]
    wrong = next(i for i, o in enumerate(question.options) if not o.correct)
    shown.buttons[0][wrong].click()
    value = shown.feedback[0].value
    assert "Not this one" in value and "data-correct='false'" in value
    assert html.escape(question.options[wrong].feedback) in value
    assert html.escape(question.options[question.answer].text) in value  # names the right one
    assert shown.buttons[0][wrong].button_style == "danger"

    shown.buttons[0][question.answer].click()
    value = shown.feedback[0].value
    assert "✔ Right" in value and html.escape(question.options[question.answer].feedback) in value
    assert shown.buttons[0][question.answer].button_style == "success"
    assert shown.buttons[0][wrong].button_style == "danger"  # what was tried stays marked
    assert shown.first_try == {0: False}  # the first answer counts
    assert (
        f"Answered 1 of {len(quiz.questions)} · right at the first try: 0 of 1" in shown.score.value
    )

    second = quiz.questions[1]
    shown.buttons[1][second.answer].click()
    assert shown.first_try == {0: False, 1: True}
    assert "right at the first try: 1 of 2" in shown.score.value
    assert shown.feedback[2].value == ""  # other questions untouched


def test_widget_escapes_text_and_shows_code_spans():
    pytest.importorskip("ipywidgets")
    from lesson.widgets.quiz import QuizWidget

    quiz = Quiz(
        "nb",
        "A <b>title</b>",
        (
            Question(
                "q",
                "Is `a < b`?",
                (
                    Option("<script>x</script>", True, "see `max_delay_ms`"),
                    Option("no", False, "not so"),
                ),
            ),
        ),
    )
    shown = QuizWidget(quiz)
    rendered = " ".join(str(getattr(w, "value", "")) for w in _walk(shown.widget))
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert "<code>a &lt; b</code>" in rendered and "A &lt;b&gt;title&lt;/b&gt;" in rendered
    shown.choose(1, "a")
    assert "<code>max_delay_ms</code>" in shown.feedback[0].value
    with pytest.raises(ValueError, match=r"questions 1\.\.1"):
        shown.choose(2, 0)
    with pytest.raises(QuizError):
        shown.choose(1, 7)


def test_widget_shows_emphasis_not_asterisks():
    from lesson.widgets.quiz import inline

    assert inline("takes long to *start*; once") == "takes long to <em>start</em>; once"
    assert inline("*unknown*, not *failed*:") == "<em>unknown</em>, not <em>failed</em>:"
    # not emphasis: arithmetic, a lone star, a star inside a code span
    assert inline("2 * 3 * 4") == "2 * 3 * 4"
    assert inline("a* b") == "a* b"
    assert inline("`*args*` and *x*") == "<code>*args*</code> and <em>x</em>"
    assert inline("*<b>*") == "<em>&lt;b&gt;</em>"


def test_no_quiz_text_shows_a_literal_asterisk():
    pytest.importorskip("ipywidgets")
    from lesson.widgets.quiz import QuizWidget

    for stem in STEMS:
        shown = QuizWidget(quiz_for(stem))
        rendered = " ".join(str(getattr(w, "value", "")) for w in _walk(shown.widget))
        for qi, question in enumerate(shown.quiz.questions):
            for oi in range(len(question.options)):
                shown.choose(qi + 1, oi)  # every option's feedback, as a click shows it
                rendered += " " + shown.feedback[qi].value
        text = re.sub(r"<code>.*?</code>", "", rendered)
        assert "*" not in text, (stem, text[text.index("*") - 60 : text.index("*") + 20])


def test_widget_output_carries_the_quiz_as_plain_text():
    pytest.importorskip("ipywidgets")
    from lesson.widgets.quiz import QuizWidget

    quiz = quiz_for("03-batch")
    bundle = QuizWidget(quiz)._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["text/plain"] == quiz.to_text()
    assert "model_id" in data["application/vnd.jupyter.widget-view+json"]


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_without_ipywidgets_the_quiz_is_text():
    """A fresh interpreter where ipywidgets cannot be imported: show_quiz falls back to text."""
    script = textwrap.dedent("""
        import sys
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("ipywidgets", "IPython"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Blocker())
        from lesson.teaching.quizzes import quiz_for
        from lesson.widgets.quiz import QuizText, QuizWidget, show_quiz
        shown = show_quiz(quiz_for("01-rest"))
        assert isinstance(shown, QuizText), type(shown)
        print(repr(shown))
        print(shown._repr_html_()[:60])
        try:
            QuizWidget(quiz_for("01-rest"))
        except ImportError as exc:
            print("widget:", exc)
        assert "ipywidgets" not in sys.modules
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(quiz_for("01-rest").to_text())
    assert "<pre class='lesson-quiz-text'>Check yourself" in out.stdout
    assert "widget: the quiz widget needs ipywidgets" in out.stdout


@pytest.mark.parametrize("name", ["lesson.teaching.quizzes", "lesson.teaching.quizzes.model"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(name), verbose=False)
    assert tried >= 3 and failures == 0
