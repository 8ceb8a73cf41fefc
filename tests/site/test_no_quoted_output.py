"""No docs page quotes output that the site build did not produce (tools/site/quoted.py).

Runs on the Markdown sources, without a build. A failure lists each offending block as
``file:line: problem: first line``.
"""

from __future__ import annotations

import pytest

from tools.paths import ROOT
from tools.site import quoted

DOCS = ROOT / "docs"

#: Pages still quoting output by hand, each with what it quotes. Owned by other work in
#: progress; empty this as they are converted (a listed page that is clean fails the test).
ALLOWED: dict[str, str] = {}


def _findings_by_page() -> dict[str, list[quoted.Finding]]:
    pages: dict[str, list[quoted.Finding]] = {}
    for finding in quoted.check_pages(DOCS.rglob("*.md"), ROOT):
        pages.setdefault(finding.path, []).append(finding)
    return pages


def test_no_page_quotes_output_the_build_did_not_produce():
    offending = [str(f) for page, found in _findings_by_page().items() if page not in ALLOWED for f in found]
    assert not offending, ("output quoted by hand (make the block exec=\"on\", or mark an example the "
                           "learner types with {.lang .lesson-input}):\n" + "\n".join(offending))


def test_the_allow_list_names_only_pages_that_still_offend():
    pages = _findings_by_page()
    stale = [page for page in ALLOWED if page not in pages]
    assert not stale, f"clean now, remove from ALLOWED: {stale}"


def test_the_scan_sees_every_page_and_the_executed_blocks():
    pages = sorted(DOCS.rglob("*.md"))
    assert len(pages) >= 20
    executed = [f for page in pages for f in quoted.fences(page.read_text()) if f.executed]
    assert len(executed) >= 30, "the pages' exec blocks were not recognised"


CAPTURED = """# A page

Run it:

```python
print(predict([0.2]))
```

```text
[0.42]
```
"""


def test_a_captured_text_block_is_reported_with_its_line():
    found = quoted.check_markdown(CAPTURED, "docs/page.md")
    assert [str(f) for f in found] == [
        "docs/page.md:9: a 'text' block not produced by the build (make it exec=\"on\", or mark a "
        "hand-typed example with .lesson-input or .lesson-sketch): '[0.42]'"]


def test_the_same_output_from_an_exec_block_passes():
    generated = CAPTURED.replace("```python\n", '```python exec="on" source="above" result="text"\n')
    generated = generated.replace("```text\n[0.42]\n```\n", "")
    assert quoted.check_markdown(generated) == []


@pytest.mark.parametrize("fence, body", [
    ("```", "[0.42]"),
    ("```json", '{"predictions": [0.42]}'),
    ("```console", "$ lesson serve rest"),
    ("~~~ output", "done"),
    ("```{.text .lesson-wrap}", "$ POST /v1/models/x:predict\n200 {}"),
])
def test_every_output_kind_is_reported(fence, body):
    page = f"Some prose.\n\n{fence}\n{body}\n{fence[:3]}\n"
    assert [f.line for f in quoted.check_markdown(page)] == [3]


def test_a_marked_input_example_passes_but_not_one_that_only_looks_marked():
    page = '```{.json .lesson-input}\n{"instances": [0.2]}\n```\n'
    assert quoted.check_markdown(page) == []
    assert len(quoted.check_markdown(page.replace("lesson-input", "lesson-wrap"))) == 1
    assert len(quoted.check_markdown(page.replace("{.json .lesson-input}", 'json title="lesson-input"'))) == 1


def test_a_code_block_announced_as_output_is_reported():
    page = "The server answers:\n\n```python\n{'predictions': [0.42]}\n```\n"
    found = quoted.check_markdown(page)
    assert [(f.line, f.problem.startswith("a block announced as output")) for f in found] == [(3, True)]
    assert quoted.check_markdown(page.replace("answers:", "is called like this:")) == []


@pytest.mark.parametrize("language, body", [
    ("bash", "$ lesson sample-data p.csv --rows 10\nwrote 10 rows to p.csv"),
    ("python", ">>> predict([0.2])\n[0.42]"),
    ("python", "print(predict([0.2]))  # -> [0.42]"),
    ("{.python .lesson-input}", ">>> predict([0.2])\n[0.42]"),
])
def test_typed_output_inside_code_is_reported_even_when_marked(language, body):
    found = quoted.check_markdown(f"```{language}\n{body}\n```\n")
    assert len(found) == 1 and found[0].line == 1, found


def test_commands_and_code_without_output_pass():
    page = ("```bash\nmake serve   # build and serve\nmake test\n```\n\n"
            "```python\n>>> import lesson\n>>> lesson.DEFAULT_LIMITS  # doctest: +SKIP\n```\n\n"
            "```mermaid\nflowchart TB\n  a --> b\n```\n")
    assert quoted.check_markdown(page) == []


def test_inline_output_in_prose_is_reported_but_not_in_code_or_comments():
    page = ("Against the server this prints `[0.42]`.\n\n"
            "The first cell prints a line that starts with `Serving Patterns Lab ready`.\n\n"
            "Its answers come from the real app (`lesson.servers.rest`).\n\n"
            "<!-- it prints `[0.1]` -->\n\n"
            "```python exec=\"on\"\nprint('it prints `[0.3]`')\n```\n")
    assert [(f.line, f.excerpt) for f in quoted.check_markdown(page)] == [
        (1, "prints `[0.42]`"), (3, "prints a line that starts with `Serving Patterns Lab ready`")]


def test_fences_inside_tabs_and_longer_fences_are_read_as_one_block():
    page = ('=== "Response"\n\n    ```python exec="on"\n    print(1)\n    ```\n\n'
            '````markdown\n```text\nnot a block of its own\n```\n````\n')
    blocks = list(quoted.fences(page))
    assert [(b.line, b.language, b.executed) for b in blocks] == [(3, "python", True), (7, "markdown", False)]
    assert blocks[0].body == ["print(1)"]


def test_info_strings_are_parsed_as_markdown_exec_and_superfences_read_them():
    assert quoted.parse_info('python exec="on" source="above" result="{.json .lesson-wrap}"') == (
        "python", (), {"exec": "on", "source": "above", "result": "{.json .lesson-wrap}"})
    assert quoted.parse_info("{.text .lesson-input}") == ("text", ("lesson-input",), {})
    assert quoted.parse_info("") == ("", (), {})
    assert not quoted.Fence(1, 'python exec="off"', []).executed


def test_an_included_snippet_is_checked_in_its_own_file(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "NOTES.md").write_text("intro\n<!-- --8<-- [start:part] -->\n```text\n42\n```\n"
                                       "<!-- --8<-- [end:part] -->\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text('# Page\n\n--8<-- "NOTES.md:part"\n')
    assert [(f.path, f.line) for f in quoted.check_pages([page], tmp_path)] == [("NOTES.md", 3)]
