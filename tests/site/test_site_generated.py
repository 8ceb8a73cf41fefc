"""The generated parts of the site, without a build: exercise sections and executed-block helpers."""

from __future__ import annotations

import json
import socket

import markdown
import pytest

from lesson.core.schema import DEFAULT_LIMITS
from lesson.teaching.exercises import EXERCISES, exercises_for, show_solution
from tools.site import exec as site_exec
from tools.site import exercises as site_exercises

EXTENSIONS = ["admonition", "attr_list", "md_in_html", "pymdownx.details",
              "pymdownx.superfences", "pymdownx.highlight"]


@pytest.mark.parametrize("notebook", site_exercises.notebooks_with_exercises())
def test_each_notebooks_section_holds_every_exercise_with_its_solution_collapsed(notebook):
    text = site_exercises.exercises_markdown(notebook)
    html = markdown.Markdown(extensions=EXTENSIONS).convert(text)
    exercises = exercises_for(notebook)
    assert exercises
    assert html.count('<details class="success">') == len(exercises), html[:500]
    assert "<details open" not in html and " open>" not in html
    for exercise in exercises:
        assert exercise.title in html
        first_line = show_solution(exercise.id).strip().splitlines()[0]
        assert first_line.split("(")[0] in text, f"{exercise.id}: solution source missing"


def test_a_notebook_without_exercises_gets_no_section():
    assert site_exercises.exercises_markdown("99-no-such-notebook") == ""


def test_statements_with_markdown_characters_render_as_written():
    text = site_exercises.exercises_markdown(EXERCISES["backoff"].notebook)
    html = markdown.Markdown(extensions=EXTENSIONS).convert(text)
    assert "base_s * 2**attempt" in html, "the hint's formula was read as emphasis"


def test_statements_show_comparison_signs_without_stray_backslashes():
    text = site_exercises.exercises_markdown(EXERCISES["batching_knobs"].notebook)
    html = markdown.Markdown(extensions=EXTENSIONS).convert(text)
    assert "p99 &lt;= 15 ms" in html and "\\" not in html.split("<details")[0]


def test_solution_source_is_the_packages_not_a_copy(monkeypatch):
    monkeypatch.setattr(site_exercises, "show_solution", lambda exercise_id: "def changed():\n    pass\n")
    assert "def changed():" in site_exercises.exercises_markdown("01-rest")


def test_rest_app_answers_in_process_with_the_real_error_shapes():
    with site_exec.rest_app() as server:
        ok = server.exchange("POST", "/v1/models/averaged_ensemble:predict", {"instances": [0.2, 0.4]})
        status, body = server.call("POST", "/v2/models/averaged_ensemble/infer",
                                   {"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32",
                                                "data": [0.2]}]})
    first, second = ok.splitlines()
    assert first == '$ POST /v1/models/averaged_ensemble:predict  body={"instances": [0.2, 0.4]}'
    assert second.startswith("200 ") and json.loads(second[4:])["predictions"] == [0.34]
    assert status == 400 and json.loads(body) == {"error": "inputs[0].data: shape [2, 1] needs 2 values, got 1"}


def test_pretty_json_keeps_lists_of_numbers_on_one_line():
    text = site_exec.pretty_json({"predictions": [0.42, 0.18], "detail": [{"loc": ["body", 1]}]})
    assert text.splitlines() == ["{", '  "predictions": [0.42, 0.18],', '  "detail": [',
                                 '    {"loc": ["body", 1]}', "  ]", "}"]
    assert json.loads(text) == {"predictions": [0.42, 0.18], "detail": [{"loc": ["body", 1]}]}


def test_wrapped_makes_one_wrapping_text_block():
    assert site_exec.wrapped("a\n", "b") == "```{.text .lesson-wrap}\na\n\nb\n```"


def test_a_failing_cli_command_fails_the_page_instead_of_being_quoted():
    with pytest.raises(RuntimeError, match="exited 2"):
        site_exec.run_cli(["batch", "missing.parquet", "out.parquet", "--no-progress"])


def test_cli_output_is_quoted_with_its_command():
    text = site_exec.run_cli(["sample-data", "p.csv", "--rows", "10"])
    assert text.splitlines() == ["$ lesson sample-data p.csv --rows 10", "wrote 10 rows to p.csv"]


def test_grpc_server_answers_over_loopback_with_the_real_status_codes():
    with site_exec.grpc_server() as server:
        ok = server.exchange("averaged_ensemble", [2, 1], [0.2, 0.4])
        short = server.call(site_exec.infer_request("averaged_ensemble", [2, 1], [0.2]))
        unknown = server.call(site_exec.infer_request("averaged_ensemble", [1, 1], [0.2], version="99"))
        port = server.port
    first, second = ok.splitlines()
    assert first == "$ ModelInfer model=averaged_ensemble shape=[2, 1] data=[0.2, 0.4]"
    code, outputs = second.split(" ", 1)
    assert code == "OK" and json.loads(outputs)[0]["data"] == [0.26, 0.42]
    assert short == ("INVALID_ARGUMENT", "inputs[0].data: shape [2, 1] needs 2 values, got 1")
    assert unknown[0] == "NOT_FOUND" and "'99'" in unknown[1]
    with socket.socket() as probe:   # the server is stopped when the block ends
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_grpc_exchange_shortens_long_data_and_names_the_version():
    with site_exec.grpc_server(max_in_flight=4) as server:
        text = server.exchange("averaged_ensemble", [2000, 1], [0.1] * 2000, version="1", note="(too many rows)")
    first, second = text.splitlines()
    assert first == ("$ ModelInfer model=averaged_ensemble version=1 shape=[2000, 1] data=[2000 values]"
                     "    (too many rows)")
    assert second.startswith("RESOURCE_EXHAUSTED ") and f"bound of {DEFAULT_LIMITS.max_instances}" in second
