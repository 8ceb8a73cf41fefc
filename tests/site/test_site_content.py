"""The built pages say what the package does now: collapsed reference solutions, executed output.

Run after a build (``SITE_TEST_REUSE=1`` reuses it). ``SITE_TEST_DIR=/tmp/site-x`` points
these tests at another build folder (a developer's ``mkdocs build -d /tmp/site-x``).
"""

from __future__ import annotations

import json
import os
import re
import reprlib
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lesson.core.schema import ValidationError, parse_v1_request
from lesson.core.artifacts import load_artifact
from lesson.teaching.exercises import EXERCISES, show_solution
from lesson.teaching.rubric import RUBRIC
from tools.site import exec as site_exec


@pytest.fixture(scope="module")
def built(request) -> Path:
    override = os.environ.get("SITE_TEST_DIR")
    return Path(override) if override else request.getfixturevalue("site")


class _Text(HTMLParser):
    """A page's visible text, split into what is inside ``<details>`` blocks and what is not."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.details: list[dict] = []     # {"attrs": {...}, "text": [...]}
        self.outside: list[str] = []
        self._open: list[dict] = []
        self._skip = 0                    # inside <script>/<style>

    def handle_starttag(self, tag, attrs):
        if tag == "details":
            block = {"attrs": dict(attrs), "text": []}
            self.details.append(block)
            self._open.append(block)
        elif tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag == "details" and self._open:
            self._open.pop()
        elif tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if self._skip:
            return
        (self._open[-1]["text"] if self._open else self.outside).append(data)


def squash(text: str) -> str:
    return " ".join(text.split())


def text_of(path: Path) -> _Text:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def page(built: Path, url: str) -> Path:
    path = built / url / "index.html"
    assert path.exists(), f"no page /{url}"
    return path


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_every_exercise_has_its_reference_solution_collapsed_on_its_notebook_page(built, exercise_id):
    exercise = EXERCISES[exercise_id]
    parsed = text_of(page(built, f"notebooks/{exercise.notebook}"))
    source = squash(show_solution(exercise_id))
    holding = [d for d in parsed.details if source in squash("".join(d["text"]))]
    assert len(holding) == 1, f"{exercise_id}: no <details> holds the solution's source"
    block = holding[0]
    assert "open" not in block["attrs"], f"{exercise_id}: the solution is expanded"
    assert "success" in block["attrs"].get("class", "")
    assert squash("".join(block["text"])).startswith("Reference solution")
    outside = squash("".join(parsed.outside))
    assert exercise.title in outside and squash(exercise.hint) in outside


def test_no_page_shows_a_reference_solution_outside_a_collapsed_block(built):
    signatures = {e.id: squash(show_solution(e.id).strip().splitlines()[0]) for e in EXERCISES.values()}
    leaks = []
    for html in built.rglob("*.html"):
        if "lite" in html.relative_to(built).parts:
            continue
        outside = squash("".join(text_of(html).outside))
        leaks += [f"{html.relative_to(built)}: {i}" for i, sig in signatures.items() if sig in outside]
    assert leaks == []


def test_notebook_pages_list_the_solutions_in_their_table_of_contents(built):
    notebook = EXERCISES["percentile"].notebook
    html = page(built, f"notebooks/{notebook}").read_text(encoding="utf-8")
    assert 'href="#reference-solutions"' in html and 'id="reference-solutions"' in html


BAD_REQUESTS = [{"instances": [0.1, "x"]}, {"rows": [0.1]}, {"instances": []},
                {"instances": [[0.1, 0.2], [0.3]]}, {"instances": [True, 0.2]},
                {"instances": [float("nan")]}, {"instances": [0.0] * 20_000}]


def test_contracts_page_quotes_the_validation_errors_the_package_raises_now(built):
    text = squash("".join(text_of(page(built, "contracts")).outside))
    for payload in BAD_REQUESTS:
        with pytest.raises(ValidationError) as info:
            parse_v1_request(payload)
        line = squash(f"{reprlib.repr(payload)} -> {type(info.value).__name__}: {info.value}")
        assert line in text, f"the page does not show today's error for {payload!r}: {line}"


def test_contracts_page_quotes_the_servers_error_bodies_as_the_app_answers_now(built):
    text = squash("".join(text_of(page(built, "contracts")).outside))
    tensor = {"inputs": [{"name": "input-0", "shape": [2, 1], "datatype": "FP32", "data": [0.2]}]}
    with site_exec.rest_app() as server:
        quoted = [server.exchange("POST", "/v1/models/averaged_ensemble:predict", {"instances": [0.2, "x"]}),
                  server.exchange("POST", "/v2/models/averaged_ensemble/infer", tensor),
                  server.exchange("GET", "/v2/models/averaged_ensemble")]
    assert quoted[0].splitlines()[1].startswith("422 ")
    for exchange in quoted:
        assert squash(exchange) in text, f"not on the page as the app answers now:\n{exchange}"


def test_rest_page_shows_the_apps_422_body(built):
    text = squash("".join(text_of(page(built, "patterns/rest")).outside))
    with site_exec.rest_app() as server:
        body = server.json("POST", "/v1/models/averaged_ensemble:predict",
                           {"instances": [[0.2, 0.4, 0.6], [0.1, "x", 0.1]]})
    assert squash(body) in text


def test_rubric_table_is_the_packages_rubric(built):
    text = squash("".join(text_of(page(built, "rubric")).outside))
    for rule in RUBRIC:
        assert squash(f"{rule['rule']} {rule['pattern']} {rule['why']}") in text, rule


def test_packaging_figures_come_from_the_shipped_manifest(built):
    text = squash("".join(text_of(page(built, "packaging")).outside))
    manifest = load_artifact("diabetes-mlp").manifest
    weights = manifest["files"]["weights.json"]
    assert f"{weights['bytes']:,} bytes, sha256 {weights['sha256'][:12]}" in text
    assert f"held-out MAE {manifest['metrics']['heldout']['mae']}" in text
    assert "ArtifactIntegrityError" in text and "does not match the manifest" in text


def test_executed_blocks_ran_without_errors(built):
    """(A failing block also fails the strict build: markdown-exec logs a warning.)"""
    for html in built.rglob("*.html"):
        rel = html.relative_to(built)
        if {"lite", "notebooks", "reference"} & set(rel.parts):   # reference: doctests quote tracebacks
            continue
        assert "Traceback (most recent call last)" not in html.read_text(encoding="utf-8"), rel


def test_long_output_lines_wrap(built):
    html = page(built, "contracts").read_text(encoding="utf-8")
    assert 'class="lesson-wrap highlight"' in html
    css = (built / "assets" / "site.css").read_text()
    assert ".lesson-wrap pre > code" in css and "pre-wrap" in css


def test_notebooks_index_links_every_exercise_to_its_solutions(built):
    html = page(built, "notebooks").read_text(encoding="utf-8")
    for exercise in EXERCISES.values():
        assert f'href="{exercise.notebook}/#reference-solutions"' in html, exercise.notebook
        assert page(built, f"notebooks/{exercise.notebook}").exists()
        assert exercise.title in html


def test_the_sites_search_does_not_show_the_solutions(built):
    index = json.loads((built / "search" / "search_index.json").read_text(encoding="utf-8"))
    text = squash(" ".join(unescape(re.sub(r"<[^>]+>", "", doc["text"])) for doc in index["docs"]))
    for exercise in EXERCISES.values():
        body = show_solution(exercise.id).strip().splitlines()
        assert squash(body[0]) not in text, f"{exercise.id}: solution is in the search index"
    assert squash(EXERCISES["percentile"].hint) in text   # the statements stay searchable
