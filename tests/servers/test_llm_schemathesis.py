"""schemathesis over `lesson serve llm`'s own OpenAPI document: no 5xx, every 4xx in OpenAI's shape.

The real server (the n-gram stand-in, so each call is cheap) on 127.0.0.1; schemathesis reads
``/openapi.json`` and generates requests for the completions, chat and models routes, valid
(positive) and, for the POSTs, invalid (negative) ones, a bounded number of examples each with no shrinking
so the time stays bounded. Every answer must be below 500, and every 4xx must be
``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
import os

import pytest

from lesson.servers.launch import running_server

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402  (after the skip)
from schemathesis import GenerationMode  # noqa: E402

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(300)]

ROUTES = r"^/v1/(completions|chat/completions|models(/\{model\})?)$"
EXAMPLES = int(os.environ.get("LESSON_SCHEMATHESIS_EXAMPLES", "100"))
OPERATIONS = [
    ("POST", "/v1/completions"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model}"),
]
# (method, path, generation mode): the GET routes have nothing to make invalid (no query, a
# string path parameter), so hypothesis finds no negative case for them
CASES = [
    *[(method, path, "positive") for method, path in OPERATIONS],
    *[(method, path, "negative") for method, path in OPERATIONS if method == "POST"],
]


@pytest.fixture(scope="module")
def llm_server():
    with running_server("llm", impl="ngram", max_num_seqs=4, max_waiting=16) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(llm_server):
    return schemathesis.openapi.from_url(llm_server.url + "/openapi.json").include(
        path_regex=ROUTES
    )


def assert_openai_error(response) -> None:
    """A 4xx's body is OpenAI's error object: exactly message, type, param, code."""
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    assert error["param"] is None or isinstance(error["param"], str), error
    assert error["code"] is None or isinstance(error["code"], str), error


# schemathesis's own pytest plugin (`schemathesis.pytest.from_fixture`) fails under pytest 9
# (it reads `Function._nodeid`, which pytest dropped), so each operation's strategy drives
# hypothesis directly: the same generated cases, called against the real server.
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_errors_and_openai_error_shape(api_schema, method, path, mode):
    operation = api_schema[path][method]
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case):
        response = case.call(timeout=30)
        statuses.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: "
            f"{response.text[:500]}\n{case.as_curl_command()}"
        )
        if 400 <= response.status_code < 500:
            assert_openai_error(response)

    check()
    assert statuses, "schemathesis generated no request"
    print(f"{method} {path} ({mode}): {len(statuses)} requests, statuses {sorted(set(statuses))}")


def test_the_document_covers_the_routes(api_schema):
    """The operations tested above are the document's (a renamed route would fail here)."""
    ops = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert set(OPERATIONS) <= ops
