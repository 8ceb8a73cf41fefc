"""The mkdocs hooks' link logic, without a build."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from tools.site import hooks as site_hooks


@pytest.mark.parametrize("page_url, expected", [
    ("", "lite/lab/index.html"),
    ("patterns/rest/", "../../lite/lab/index.html"),
    ("try-in-browser/", "../lite/lab/index.html"),
    ("rubric.html", "lite/lab/index.html"),
])
def test_links_to_the_lite_build_are_relative_to_the_page(page_url, expected):
    assert site_hooks._relative(page_url, "lite/lab/index.html") == expected


def _page(url):
    return SimpleNamespace(url=url, file=SimpleNamespace(src_uri="patterns/x.md"))


def test_lite_button_and_embed_expand_to_page_relative_html(tmp_path, monkeypatch):
    (tmp_path / "01-rest.ipynb").write_text("{}")
    monkeypatch.setattr(site_hooks, "LITE_FILES", tmp_path)
    md = 'A\n{{ lite_button("01-rest.ipynb") }}\n{{ lite_embed("01-rest.ipynb") }}\n'
    html = site_hooks.on_page_markdown(md, _page("patterns/rest/"), {}, None)
    assert ('<a class="md-button md-button--primary lite-button" '
            'href="../../lite/lab/index.html?path=01-rest.ipynb"') in html
    assert '<iframe class="lite-embed" src="../../lite/lab/index.html?path=01-rest.ipynb"' in html


def test_a_button_to_a_notebook_that_is_not_built_fails_the_build(tmp_path, monkeypatch):
    monkeypatch.setattr(site_hooks, "LITE_FILES", tmp_path)
    with pytest.raises(PluginError, match="99-nope.ipynb"):
        site_hooks.on_page_markdown('{{ lite_button("99-nope.ipynb") }}', _page("x/"), {}, None)


def test_notebook_pages_load_widgets_from_the_site_not_a_cdn():
    html = ("<script>var widgetRendererSrc = 'https://unpkg.com/@jupyter-widgets/html-manager@*"
            "/dist/embed-amd.js';</script><script src=\"https://cdnjs.cloudflare.com/ajax/libs/"
            "mathjax/2.7.7/latest.js?config=TeX-AMS_CHTML-full,Safe\"> </script>")
    page = SimpleNamespace(url="notebooks/01-rest/", file=SimpleNamespace(src_uri="notebooks/01-rest.ipynb"))
    out = site_hooks.on_page_content(html, page, {}, None)
    assert "var widgetRendererSrc = '../../assets/vendor/@jupyter-widgets/html-manager/dist/embed-amd.js';" in out
    assert "cdnjs" not in out and "unpkg" not in out


def test_notebook_pages_get_their_exercises_with_collapsed_solutions_and_a_toc_entry():
    from mkdocs.structure.toc import AnchorLink, TableOfContents

    from lesson.teaching.exercises import exercises_for

    heading = AnchorLink("01 · REST", "rest", 1)
    page = SimpleNamespace(url="notebooks/01-rest/", toc=TableOfContents([heading]),
                           file=SimpleNamespace(src_uri="notebooks/01-rest.ipynb"))
    config = {"markdown_extensions": ["admonition", "attr_list", "pymdownx.details",
                                      "pymdownx.superfences", "pymdownx.highlight"], "mdx_configs": {}}
    out = site_hooks.on_page_content("<h1>01 · REST</h1><div>notebook</div>", page, config, None)
    assert out.startswith('<h1>01 · REST</h1><p class="notebook-actions">')  # the bar under the title
    assert out.index("<div>notebook</div>") < out.index('id="reference-solutions"')
    assert out.count('<details class="success" data-search-exclude>') == len(exercises_for("01-rest"))
    assert [c.id for c in heading.children] == ["reference-solutions"]


def test_a_page_that_is_not_a_notebook_is_left_alone():
    page = SimpleNamespace(url="rubric/", file=SimpleNamespace(src_uri="rubric.md"))
    assert site_hooks.on_page_content("<p>x</p>", page, {}, None) == "<p>x</p>"
