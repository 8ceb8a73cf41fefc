"""The site's search leads a learner to definitions, not to code: notebook code cells and
exercise headings are not search results of their own, and typing "p99" into the built site's
search box (headless Chromium, offline) shows a page that defines it first."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from lesson.teaching.exercises import EXERCISES
from tools.site.browser import offline_browser, serve_directory

DEFINING_P99 = {"glossary/", "load-testing/"}   # the pages that say what a p99 is


def search_index(site) -> list[dict]:
    return json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))["docs"]


def plain(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def code_lines(notebook) -> list[str]:
    """Distinctive lines of a notebook's code cells (no comments, long enough to be unique)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    lines = ["".join(c["source"]).splitlines() for c in cells if c["cell_type"] == "code"]
    return [" ".join(line.split()) for cell in lines for line in cell
            if len(line.strip()) > 25 and not line.strip().startswith("#")]


def test_notebook_code_is_not_in_the_search_index_but_its_prose_is(site, notebooks):
    entries = search_index(site)
    for notebook in notebooks:
        own = [e for e in entries if e["location"].startswith(f"notebooks/{notebook.stem}/")]
        assert own, f"{notebook.stem}: no search entry"
        text = " ".join(plain(e["title"] + " " + e["text"]) for e in own)
        # the appended "Reference solutions" prose quotes the call that checks an answer
        cells = " ".join(plain(e["title"] + " " + e["text"]) for e in own
                         if not e["location"].endswith("#reference-solutions"))
        found = [line for line in code_lines(notebook) if line in cells]
        assert found == [], f"{notebook.stem}: code in the search index: {found[:3]}"
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        title = next(line[2:].strip() for c in cells if c["cell_type"] == "markdown"
                     for line in "".join(c["source"]).splitlines() if line.startswith("# "))
        assert title in text, f"{notebook.stem}: its title is not searchable"


def test_exercises_are_searchable_but_not_results_of_their_own(site):
    entries = search_index(site)
    titles = {plain(e["title"]) for e in entries}
    text = " ".join(plain(e["text"]) for e in entries)
    for exercise in EXERCISES.values():
        assert exercise.title not in titles, f"{exercise.id}: its heading is a search result"
        assert " ".join(exercise.task.split()) in text, f"{exercise.id}: its statement is not searchable"


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_searching_p99_shows_a_definition_first(site, chromium, artifacts):
    with serve_directory(site) as base, offline_browser() as browser:
        page = browser.page
        page.goto(base)
        page.locator(".md-search__input").first.click()
        page.wait_for_function("() => !/Initializing/i.test(document.querySelector("
                               "'.md-search-result__meta')?.textContent ?? 'Initializing')",
                               timeout=30_000)
        page.locator(".md-search__input").press_sequentially("p99", delay=30)
        page.wait_for_selector(".md-search-result__item", timeout=30_000)
        page.wait_for_timeout(500)   # the list is drawn as the query is typed
        hrefs = page.eval_on_selector_all(".md-search-result__item > .md-search-result__link",
                                          "els => els.map(e => e.getAttribute('href'))")
        page.screenshot(path=str(artifacts / "search-p99.png"))
        pages = [h.replace(base, "").split("?")[0].split("#")[0] for h in hrefs]
        assert pages and pages[0] in DEFINING_P99, pages[:5]
        assert not any("#exercise-" in h for h in hrefs[:3]), hrefs[:3]
        assert browser.external_requests == [], browser.external_requests
