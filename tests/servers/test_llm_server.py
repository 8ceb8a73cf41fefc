"""The generative server, for real: `lesson serve llm` on 127.0.0.1, over raw HTTP."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse

import pytest
from server_support import TEST_ENV, http, wait_for

from lesson.servers.launch import running_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", params=["loop", "thread"])
def llm(request):
    """The n-gram stand-in, the engine stepped on the event loop or on a worker thread."""
    with running_server(
        "llm", impl="ngram", max_num_seqs=4, max_waiting=4, engine_loop=request.param
    ) as server:
        yield server


@pytest.fixture(scope="module", params=["loop", "thread"])
def slow_llm(request):
    """A 5 ms-per-step model, 2 running + 1 waiting at most: disconnects and 429 are visible."""
    with running_server(
        "llm",
        impl="llm_test_models:slow_lm",
        env=TEST_ENV,
        max_num_seqs=2,
        max_waiting=1,
        max_tokens=400,
        engine_loop=request.param,
    ) as server:
        yield server


def post(server, path, body, timeout=30.0):
    status, headers, raw = http("POST", server.url + path, body, timeout=timeout)
    return status, headers, raw


def completion(server, **body):
    status, _, raw = post(server, "/v1/completions", {"prompt": "def ", **body})
    assert status == 200, raw
    return json.loads(raw)


def events(raw: bytes) -> list:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        data = block[len("data: ") :]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def stats(server) -> dict:
    return json.loads(http("GET", server.url + "/debug/engine")[2])


def test_models_and_health(llm):
    status, _, raw = http("GET", llm.url + "/v1/models")
    body = json.loads(raw)
    assert status == 200 and body["object"] == "list" and body["data"][0]["id"] == "ngram"
    assert http("GET", llm.url + "/health")[0] == 200
    assert http("GET", llm.url + "/v2/health/ready")[0] == 200
    assert http("GET", llm.url + "/v1/models/ngram")[0] == 200
    assert http("GET", llm.url + "/v1/models/other")[0] == 404


def test_a_completion_with_length_and_usage(llm):
    body = completion(llm, max_tokens=12, ignore_eos=True, temperature=0)
    (choice,) = body["choices"]
    assert body["object"] == "text_completion" and choice["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 12, "total_tokens": 16}


def test_same_seed_same_text(llm):
    a = completion(llm, max_tokens=24, ignore_eos=True, seed=7, temperature=1.0)
    b = completion(llm, max_tokens=24, ignore_eos=True, seed=7, temperature=1.0)
    c = completion(llm, max_tokens=24, ignore_eos=True, seed=8, temperature=1.0)
    assert a["choices"][0]["text"] == b["choices"][0]["text"]
    assert a["choices"][0]["text"] != c["choices"][0]["text"]


def test_streaming_one_token_per_event_then_finish_usage_done(llm):
    status, headers, raw = post(
        llm,
        "/v1/completions",
        {
            "prompt": "def ",
            "max_tokens": 10,
            "ignore_eos": True,
            "seed": 3,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    evs = events(raw)
    assert evs[-1] == "[DONE]"
    usage, final, tokens = evs[-2], evs[-3], evs[:-3]
    assert len(tokens) == 10 and all(e["choices"][0]["finish_reason"] is None for e in tokens)
    assert final["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 10
    streamed = "".join(e["choices"][0]["text"] for e in evs[:-2])
    whole = completion(llm, max_tokens=10, ignore_eos=True, seed=3)["choices"][0]["text"]
    assert streamed == whole


def test_chat_streams_and_answers(llm):
    body = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5, "ignore_eos": True}
    status, _, raw = post(llm, "/v1/chat/completions", body)
    answer = json.loads(raw)
    assert status == 200 and answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["usage"]["prompt_tokens"] == len("user: Hello\nassistant:")
    status, _, raw = post(llm, "/v1/chat/completions", {**body, "stream": True})
    evs = events(raw)
    assert evs[0]["object"] == "chat.completion.chunk"
    assert evs[0]["choices"][0]["delta"]["role"] == "assistant"
    assert evs[-2]["choices"][0]["finish_reason"] == "length" and evs[-1] == "[DONE]"


def test_stop_strings_cut_the_text(llm):
    text = completion(llm, max_tokens=40, ignore_eos=True, temperature=0)["choices"][0]["text"]
    stop = text[10:13]
    cut = text.index(stop)
    body = completion(llm, max_tokens=40, ignore_eos=True, temperature=0, stop=[stop])
    assert body["choices"][0]["text"] == text[:cut]
    assert body["choices"][0]["finish_reason"] == "stop"
    status, _, raw = post(
        llm,
        "/v1/completions",
        {
            "prompt": "def ",
            "max_tokens": 40,
            "ignore_eos": True,
            "temperature": 0,
            "stop": stop,
            "stream": True,
        },
    )
    evs = events(raw)
    assert "".join(e["choices"][0]["text"] for e in evs[:-1]) == text[:cut]
    assert evs[-2]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/v1/completions", b"{not json", 400, None),
        ("/v1/completions", {"prompt": "x", "temperature": -0.5}, 400, "temperature"),
        ("/v1/completions", {"prompt": "x", "model": "gpt-9"}, 404, "model"),
        ("/v1/completions", {"prompt": "x", "n": 2}, 400, "n"),
        ("/v1/completions", {"prompt": "x", "max_tokens": 100_000}, 400, "max_tokens"),
        ("/v1/completions", {"prompt": "x" * 5000}, 400, "prompt"),
        ("/v1/completions", {"prompt": "x", "top_p": 0}, 400, None),
        ("/v1/chat/completions", {"messages": []}, 400, "messages"),
        ("/v1/chat/completions", {"messages": [{"role": "user"}]}, 400, "messages[0].content"),
        ("/v1/nothing", {}, 404, None),
    ],
)
def test_bad_requests_are_typed_4xx_in_openai_shape(llm, path, body, status, param):
    got, _, raw = post(llm, path, body)
    assert got == status, raw
    error = json.loads(raw)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param


def test_wrong_method_is_405_in_openai_shape(llm):
    status, _, raw = http("GET", llm.url + "/v1/completions")
    assert status == 405 and json.loads(raw)["error"]["code"] == "method_not_allowed"


def _open_stream(server, max_tokens=400) -> socket.socket:
    url = urllib.parse.urlsplit(server.url)
    body = json.dumps(
        {"prompt": "def ", "max_tokens": max_tokens, "ignore_eos": True, "stream": True}
    ).encode()
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    sock.sendall(
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def test_a_client_that_disconnects_frees_its_sequence_and_blocks(slow_llm):
    sock = _open_stream(slow_llm)
    received = b""
    while received.count(b"data: ") < 3:  # a few events
        received += sock.recv(4096)
    assert b"200 OK" in received
    live = stats(slow_llm)
    assert live["running"] == 1 and live["blocks_used"] - live["blocks_cached"] > 0  # held
    sock.close()  # mid-stream (400 tokens at >= 5 ms each would take >= 2 s)
    assert wait_for(lambda: stats(slow_llm)["running"] == 0 and stats(slow_llm)["in_flight"] == 0)
    after = stats(slow_llm)
    assert after["aborted"] >= 1
    held = after["blocks_used"] - after["blocks_cached"]
    assert held == 0, after  # every block back (some may stay in the prefix cache)
    _, _, metrics = http("GET", slow_llm.url + "/metrics")
    assert b'lesson_llm_requests_total{finish_reason="abort"}' in metrics
    assert b"lesson_llm_kv_blocks_used" in metrics


def test_too_many_sequences_in_flight_is_429(slow_llm):
    socks = [_open_stream(slow_llm) for _ in range(3)]  # 2 running + 1 waiting: the bound
    try:
        assert wait_for(lambda: stats(slow_llm)["in_flight"] == 3)
        status, headers, raw = post(slow_llm, "/v1/completions", {"prompt": "x", "max_tokens": 2})
        assert status == 429, raw
        error = json.loads(raw)["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
        assert headers.get("retry-after") == "1"
    finally:
        for sock in socks:
            sock.close()
    assert wait_for(lambda: stats(slow_llm)["in_flight"] == 0)
    assert post(slow_llm, "/v1/completions", {"prompt": "x", "max_tokens": 2})[0] == 200


def test_metrics_ttft_itl_and_gauges(llm):
    completion(llm, max_tokens=5, ignore_eos=True)
    _, _, raw = http("GET", llm.url + "/metrics")
    text = raw.decode()
    for name in (
        "lesson_llm_time_to_first_token_seconds_bucket",
        "lesson_llm_inter_token_latency_seconds_bucket",
        "lesson_llm_num_requests_running",
        "lesson_llm_num_requests_waiting",
        "lesson_llm_kv_blocks_used",
        "lesson_llm_kv_blocks_total",
    ):
        assert name in text, name


def test_concurrent_streams_all_finish(llm):
    results: list[int] = []

    def one(i):
        status, _, raw = post(
            llm,
            "/v1/completions",
            {"prompt": f"x{i}", "max_tokens": 20, "ignore_eos": True, "stream": True},
        )
        results.append(
            sum(1 for e in events(raw)[:-2] if e != "[DONE]") if status == 200 else -status
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r >= 0]
    assert len(ok) + results.count(-429) == 6 and all(r == 20 for r in ok) and len(ok) >= 4


def test_sigterm_drains_then_exits_0():
    from lesson.servers.launch import start_server, stop_process

    server = start_server("llm", impl="ngram", drain_grace_s=1.0)
    try:
        server.process.send_signal(15)
        assert wait_for(lambda: http("GET", server.url + "/v2/health/ready")[0] == 503, 5)
        status, _, raw = post(server, "/v1/completions", {"prompt": "x", "max_tokens": 2})
        assert status == 503 and json.loads(raw)["error"]["type"] == "service_unavailable"
    finally:
        assert stop_process(server.process) == 0
