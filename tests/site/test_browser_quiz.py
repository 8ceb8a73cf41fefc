"""The self-check quiz in the built site, in Debian's headless Chromium, offline.

In JupyterLite: run the overview notebook in the browser's Python, click a wrong and then the
right option of the quiz's first question, read each option's own explanation, and see the
exercise checker's verdict on the notebook's starting answers. On the static notebook page: the
quiz rendered from the saved widget state shows its questions, and a reference solution stays
collapsed until it is clicked open.
Screenshots go to ``test-artifacts/``.

The site comes from the ``site`` fixture (``tests/site/conftest.py``: ``./site``, or
``SITE_TEST_DIR``; rebuilt when stale).
"""

from __future__ import annotations

import html

import pytest

from lesson.teaching.exercises import exercises_for, show_solution
from lesson.teaching.quizzes import quiz_for
from lesson.lab import READY_SENTINEL
from tools.site.browser import (
    error_outputs,
    offline_browser,
    run_all_cells,
    serve_directory,
    wait_for_output,
    wait_kernel_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

READY = READY_SENTINEL
NOTEBOOK = "00-overview"


def visible_text(locator) -> str:
    return " ".join(locator.inner_text().split())


def test_quiz_answers_a_click_in_jupyterlite(site, chromium, artifacts):
    quiz = quiz_for(NOTEBOOK)
    question = quiz.questions[0]
    wrong = next(i for i, o in enumerate(question.options) if not o.correct)
    with serve_directory(site) as base, offline_browser() as browser:
        lab = browser.page
        lab.goto(f"{base}lite/lab/index.html?path={NOTEBOOK}.ipynb")
        run_all_cells(lab)
        wait_for_output(lab, READY)
        box = lab.locator(".lesson-quiz").first
        box.wait_for(timeout=300_000)
        wait_kernel_idle(lab)
        first = box.locator(".lesson-quiz-question").first
        assert " ".join(question.prompt.split()).replace("`", "") in visible_text(first)
        buttons = first.locator("button")
        assert buttons.count() == len(question.options)
        assert buttons.nth(wrong).inner_text().strip() == "abcdef"[wrong]

        buttons.nth(wrong).click()   # the kernel grades it and sends the feedback back
        feedback = first.locator(".lesson-quiz-feedback")
        feedback.wait_for(timeout=60_000)
        said = visible_text(feedback)
        assert "Not this one" in said
        assert html.unescape(" ".join(question.options[wrong].feedback.split())).replace("`", "") in said
        assert question.options[question.answer].text.replace("`", "") in said  # names the answer

        buttons.nth(question.answer).click()
        right = first.locator(".lesson-quiz-feedback", has_text="Right")
        right.wait_for(timeout=60_000)
        said = visible_text(right)
        assert question.options[question.answer].feedback.replace("`", "") in said
        assert "Answered 1 of" in visible_text(box.locator(".lesson-quiz-score"))
        box.scroll_into_view_if_needed()
        box.screenshot(path=str(artifacts / "jupyterlite-quiz.png"))
        # the exercises were checked in the browser's Python too: the notebook's starting answers
        # are wrong, and the checker says what failed
        for exercise in exercises_for(NOTEBOOK):
            wait_for_output(lab, f"not yet {exercise.id}", timeout_s=60)
        assert error_outputs(lab) == []
        assert browser.external_requests == [], browser.external_requests


def test_static_page_shows_the_quiz_questions(site, chromium, artifacts):
    quiz = quiz_for(NOTEBOOK)
    with serve_directory(site) as base, offline_browser() as browser:
        page = browser.page
        page.goto(f"{base}notebooks/{NOTEBOOK}/")
        box = page.locator(".lesson-quiz").first
        box.wait_for(timeout=60_000)   # rendered from the stored widget state
        box.scroll_into_view_if_needed()
        text = visible_text(box)
        assert quiz.title in text
        for question in quiz.questions:
            assert " ".join(question.prompt.split()).replace("`", "") in text
            for option in question.options:
                assert option.text.replace("`", "") in text
        assert box.locator(".lesson-quiz-question button").count() == sum(len(q.options) for q in quiz.questions)
        box.screenshot(path=str(artifacts / "static-quiz.png"))
        assert browser.external_requests == [], browser.external_requests


def test_a_reference_solution_opens_on_click_on_the_static_page(site, chromium, artifacts):
    exercise = exercises_for(NOTEBOOK)[0]
    first_line = show_solution(exercise.id).strip().splitlines()[0]
    with serve_directory(site) as base, offline_browser() as browser:
        page = browser.page
        page.goto(f"{base}notebooks/{NOTEBOOK}/")
        block = page.locator("details.success", has_text="Reference solution").first
        block.wait_for(timeout=60_000)
        block.scroll_into_view_if_needed()
        code = block.locator("pre").first
        assert not code.is_visible(), "the solution shows before it is asked for"
        block.locator("summary").click()
        code.wait_for(state="visible", timeout=10_000)
        assert first_line.split("(")[0] in " ".join(code.inner_text().split())
        block.screenshot(path=str(artifacts / "static-solution-open.png"))
        assert browser.external_requests == [], browser.external_requests
