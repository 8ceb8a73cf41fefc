"""A cell that prints a token at a time reads as one text on the static page."""

from __future__ import annotations

import re

import nbformat

from tools.site.notebooks import merge_streams


def _stream(name: str, text: str):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_consecutive_outputs_on_one_stream_are_joined():
    cell = nbformat.v4.new_code_cell("...")
    cell.outputs = [
        _stream("stdout", "The "),
        _stream("stdout", "for"),
        _stream("stderr", "warning"),
        _stream("stdout", " loop"),
        nbformat.v4.new_output("display_data", data={"text/plain": "chart"}),
        _stream("stdout", "!"),
        _stream("stdout", "\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_markdown_cell("text")])
    merge_streams(nb)
    kinds = [(o.output_type, o.get("name"), o.get("text")) for o in nb.cells[0].outputs]
    assert kinds == [
        ("stream", "stdout", "The for"),
        ("stream", "stderr", "warning"),
        ("stream", "stdout", " loop"),
        ("display_data", None, None),
        ("stream", "stdout", "!\n"),
    ]


def test_the_generative_page_shows_the_stream_as_one_text(site):
    html = (site / "notebooks" / "10-generative" / "index.html").read_text(encoding="utf-8")
    blocks = re.findall(r"<pre>(.*?)</pre>", html, flags=re.S)
    streamed = [b for b in blocks if "tokens in-process: first after" in b]
    assert streamed, "no streamed answer on the page"
    assert "The for statement" in streamed[0], "the stream is split into one block per token"
