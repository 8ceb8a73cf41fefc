"""`lesson serve llm` with the tiny transformer itself (skipped until its artifact is there)."""

from __future__ import annotations

import json

import pytest
from server_support import http

from lesson.core.artifacts import ArtifactNotFoundError
from lesson.servers.launch import running_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def tiny():
    from lesson.models.lm_numpy import load_tiny_lm_numpy

    try:
        model = load_tiny_lm_numpy()
    except ArtifactNotFoundError:
        pytest.skip("the tiny-lm artifact is not in lesson/artifacts yet")
    with running_server("llm", impl="numpy") as server:
        yield server, model


def test_the_tiny_lm_streams_and_bounds_its_context(tiny):
    server, model = tiny
    status, _, raw = http(
        "POST",
        server.url + "/v1/completions",
        {
            "prompt": "The if statement",
            "max_tokens": 8,
            "ignore_eos": True,
            "seed": 1,
            "stream": True,
        },
    )
    assert status == 200 and raw.endswith(b"data: [DONE]\n\n")
    assert raw.count(b'"finish_reason":null') == 8
    assert json.loads(http("GET", server.url + "/v1/models")[2])["data"][0]["id"] == model.name
    status, _, raw = http(
        "POST",
        server.url + "/v1/completions",
        {"prompt": "x" * 100, "max_tokens": model.max_seq_len},
    )
    error = json.loads(raw)["error"]
    assert status == 400 and error["code"] in ("context_length_exceeded", "invalid_value")
