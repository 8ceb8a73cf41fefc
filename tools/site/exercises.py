"""The notebooks' exercises on the site, with their reference solutions collapsed.

``tools/site/hooks.py`` appends :func:`exercises_markdown` (rendered with the site's own
Markdown extensions) to each notebook's page. Everything comes from the package at build
time — the statement and hint from :data:`lesson.teaching.exercises.EXERCISES`, the solution's source
from :func:`lesson.teaching.exercises.show_solution` (``inspect.getsource`` of the
solution beside its record in ``lesson.teaching.exercises.<topic>``) — so the site and the package cannot drift. Each solution
sits in a closed ``??? success`` block (``pymdownx.details``: a ``<details>`` without
``open``), so a reader sees it only after choosing to.

    .venv/bin/python -m tools.site.exercises 01-rest     # print the Markdown for one notebook
"""

from __future__ import annotations

import re
import sys
import textwrap

from lesson.teaching.exercises import EXERCISES, Exercise, exercises_for, show_solution

SECTION_ID = "reference-solutions"
SECTION_TITLE = "Reference solutions"


def notebooks_with_exercises() -> list[str]:
    """Notebook stems (``"01-rest"``) that have exercises, in order."""
    return sorted({e.notebook for e in EXERCISES.values()})


def solution_source(exercise: Exercise) -> str:
    """The reference solution's source, as :func:`lesson.teaching.exercises.show_solution` gives it."""
    return textwrap.dedent(show_solution(exercise.id)).rstrip() + "\n"


def _plain(text: str) -> str:
    """Escape Markdown syntax in a plain-text statement (``base_s * 2**attempt`` stays as is)."""
    escaped = re.sub(r"([\\`*_{}\[\]#])", r"\\\1", text)   # Python-Markdown's escapable characters
    return escaped.replace("<", "&lt;")                         # "<" is not one of them


def _exercise_markdown(exercise: Exercise) -> str:
    code = textwrap.indent(f"```python\n{solution_source(exercise)}```", "    ")
    return (
        f"### {exercise.title} {{#exercise-{exercise.id.replace('_', '-')}}}\n\n"
        f"{_plain(exercise.task)}\n\n"
        f"*Hint:* {_plain(exercise.hint)}\n\n"
        f'Check your answer in the notebook with `check("{exercise.id}", answer)`.\n\n'
        f'??? success "Reference solution"\n\n{code}\n'
    )


def exercises_markdown(notebook: str) -> str:
    """Markdown for a notebook page's closing section ("" when it has no exercises).

    Args:
        notebook: the notebook's stem, e.g. ``"01-rest"``.

    Returns:
        A level-2 section with one level-3 part per exercise: statement, hint, and the
        reference solution in a collapsed block.
    """
    exercises = exercises_for(notebook)
    if not exercises:
        return ""
    intro = (
        "The exercises above are checked by `lesson.teaching.exercises.check`, which runs your answer "
        "on real cases and says what failed. Try each one first; the reference solutions below "
        "are the ones the checkers are tested against, taken from `lesson.teaching.exercises` "
        "when this site was built."
    )
    parts = [_exercise_markdown(e) for e in exercises]
    return f"## {SECTION_TITLE} {{#{SECTION_ID}}}\n\n{intro}\n\n" + "\n".join(parts)


def hide_from_search(html: str) -> str:
    """Mark the rendered solution blocks ``data-search-exclude`` (Material's search skips them).

    Otherwise the site's search would show a solution's code in its result snippets.
    """
    return html.replace('<details class="success">', '<details class="success" data-search-exclude>')


if __name__ == "__main__":
    for stem in sys.argv[1:] or notebooks_with_exercises():
        print(exercises_markdown(stem))
