"""Traces of the generative server (`lesson serve llm --trace-ratio`): a real server on loopback
with a 5 ms-per-step model and one running sequence, so a second request queues. The client's
span is the parent of the server's (W3C ``traceparent``); under it ``llm.queued``,
``llm.prefill`` and ``llm.decode``, nested and in order; a stream cut by its client has its spans
closed and says so; off by default (no SDK loaded, ``/debug/spans`` 409)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.parse

import pytest
from server_support import TEST_ENV, http, python_output, wait_for

from lesson.clients.tracing import Tracing
from lesson.servers.launch import running_server
from lesson.servers.llm.tracing import DECODE, PREFILL, QUEUED
from lesson.teaching.llm_traces import traced_streams

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def traced_llm():
    with running_server(
        "llm",
        impl="llm_test_models:slow_lm",
        env=TEST_ENV,
        max_num_seqs=1,
        max_waiting=4,
        max_tokens=400,
        trace_ratio=1.0,
        debug_routes=True,
    ) as server:
        http("GET", server.url + "/debug/spans")  # forget the warm-up's
        yield server


def engine(server) -> dict:
    return json.loads(http("GET", server.url + "/debug/engine")[2])


def spans_of(server, trace_id: str) -> dict[str, dict]:
    status, _, body = http("GET", server.url + "/debug/spans")
    assert status == 200, body
    mine = [s for s in json.loads(body)["spans"] if s["trace_id"] == trace_id]
    server_span = next(s for s in mine if s["kind"] == "server")
    return {"server": server_span, **{s["name"]: s for s in mine if s is not server_span}}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", {"prompt": "def ", "stream": True}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    ],
    ids=["completions-streamed", "chat"],
)
def test_a_queued_request_traced_from_the_client_through_its_three_phases(traced_llm, path, body):
    long = threading.Thread(  # holds the only running slot for ~40 steps (>= 200 ms)
        target=http,
        args=("POST", traced_llm.url + "/v1/completions"),
        kwargs={"body": {"prompt": "x", "max_tokens": 40, "ignore_eos": True}, "timeout": 30},
    )
    long.start()
    assert wait_for(lambda: engine(traced_llm)["running"] == 1)
    client = Tracing(1.0, "test-client")
    with client.client_span(f"POST {path}") as headers:
        status, _, raw = http(
            "POST",
            traced_llm.url + path,
            {**body, "max_tokens": 5, "ignore_eos": True},
            {"content-type": "application/json", **headers},
            timeout=30,
        )
    long.join(30)
    assert status == 200, raw
    (call,) = client.take()
    named = spans_of(traced_llm, call["trace_id"])
    server = named["server"]
    assert server["name"] == f"POST {path}"
    assert server["parent_id"] == call["span_id"]  # the traceparent was followed
    assert call["start_ns"] <= server["start_ns"] <= call["end_ns"]
    phases = [named[QUEUED], named[PREFILL], named[DECODE]]
    for span in phases:
        assert span["parent_id"] == server["span_id"]
        assert server["start_ns"] <= span["start_ns"] <= span["end_ns"] <= server["end_ns"]
    queued, prefill, decode = phases
    assert queued["end_ns"] <= prefill["start_ns"] <= prefill["end_ns"] <= decode["start_ns"]
    # it waited for the long request's slot: many 5 ms steps, far more than its own prefill
    assert queued["end_ns"] - queued["start_ns"] > 50e6, queued
    assert decode["end_ns"] - decode["start_ns"] >= 4 * 4.5e6  # 4 more tokens, 5 ms a step
    assert decode["attributes"]["llm.decode.tokens"] == 4
    assert prefill["attributes"]["llm.prompt_tokens"] >= 1
    attrs = server["attributes"]
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert attrs["gen_ai.response.finish_reasons"] == ["length"]
    assert attrs["llm.cancelled"] is False
    assert attrs["http.response.status_code"] == 200


def test_a_stream_its_client_cut_has_its_spans_closed_and_says_so(traced_llm):
    client = Tracing(1.0, "test-client")
    with client.client_span("POST /v1/completions") as headers:
        traceparent = headers["traceparent"]
    url = urllib.parse.urlsplit(traced_llm.url)
    body = json.dumps(
        {"prompt": "def ", "max_tokens": 400, "ignore_eos": True, "stream": True}
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"traceparent: {traceparent}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while received.count(b"data: ") < 5:  # a few tokens, then go away
            received += sock.recv(4096)
    assert wait_for(lambda: engine(traced_llm)["in_flight"] == 0)
    trace_id = traceparent.split("-")[1]
    named = spans_of(traced_llm, trace_id)
    server, decode = named["server"], named[DECODE]
    assert server["attributes"]["llm.cancelled"] is True
    assert server["attributes"]["gen_ai.response.finish_reasons"] == ["abort"]
    assert 4 <= decode["attributes"]["llm.decode.tokens"] < 399  # cut well before the end
    assert server["start_ns"] <= decode["end_ns"] <= server["end_ns"]


def test_llm_tracing_is_off_by_default_and_loads_no_sdk():
    code = (
        "import sys; from fastapi.testclient import TestClient; "
        "from lesson.servers.llm.app import create_llm_app; "
        "from lesson.servers.llm.options import LLMOptions; "
        "app = create_llm_app(LLMOptions(impl='ngram', debug_routes=True)); "
        "c = TestClient(app).__enter__(); "
        "r = c.post('/v1/completions', json={'prompt': 'def ', 'max_tokens': 3}); "
        "s = c.get('/debug/spans'); "
        "print(r.status_code, s.status_code, [m for m in sys.modules if m.startswith("
        "('opentelemetry.sdk', 'lesson.servers.tracing', 'lesson.servers.llm.tracing'))])"
    )
    assert python_output(code) == "200 409 []"


def test_the_notebooks_traced_streams_pick_the_p99_and_p50_ttft(traced_llm):
    prompts = ["def ", "class ", "import ", "for ", "while ", "if "]
    run = asyncio.run(traced_streams(traced_llm.url, prompts, concurrency=3, max_tokens=3))
    assert run.requests == len(prompts)  # every stream's trace came back
    assert run.p99.ttft_ms >= run.p50.ttft_ms > 0
    for waterfall in (run.p99, run.p50):
        names = [name for name, *_ in waterfall.spans]
        assert names[:2] == ["client", "server"]
        assert set(names[2:]) == {"queued", "prefill", "decode"}
        assert abs(sum(waterfall.ttft_shares().values()) - 1) < 1e-6
    # one running slot, three at a time: the slowest first token waited behind others
    assert run.p99.duration("queued") > 5.0, run.p99
    assert "Where the tail waited" in run.sentence()
