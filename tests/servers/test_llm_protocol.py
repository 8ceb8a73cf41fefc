"""The OpenAI-compatible protocol layer: parsing, bounds, the error shape, text and stop strings."""

from __future__ import annotations

import json

import pytest

from lesson.servers.llm.protocol import (
    APIError,
    Bounds,
    ChunkFramer,
    TextStream,
    chat_prompt,
    chunk,
    parse_request,
    sse,
)

B = Bounds(max_prompt_tokens=32, max_tokens=64)


def parse(body, chat=False):
    return parse_request(json.dumps(body).encode(), chat=chat, bounds=B)


def test_a_completion_request():
    r = parse(
        {
            "model": "m",
            "prompt": "hi",
            "max_tokens": 5,
            "temperature": 0,
            "seed": 3,
            "stop": "\n",
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    assert r.prompt_ids == [104, 105] and r.max_tokens == 5 and r.temperature == 0.0
    assert r.seed == 3 and r.stop == ["\n"] and r.stream and r.include_usage


def test_chat_template():
    body = {
        "messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": "hi"}]
    }
    r = parse_request(json.dumps(body).encode(), chat=True, bounds=Bounds())
    assert r.prompt == "system: be terse\nuser: hi\nassistant:"
    assert chat_prompt([{"role": "user", "content": "x"}]) == "user: x\nassistant:"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"prompt": "hi", "temperature": -1}, "temperature", "invalid_value"),
        ({"prompt": "hi", "temperature": "hot"}, "temperature", "invalid_type"),
        ({"prompt": "hi", "top_p": 1.5}, "top_p", "invalid_value"),
        ({"prompt": "hi", "n": 2}, "n", "unsupported_value"),
        ({"prompt": "hi", "max_tokens": 0}, "max_tokens", "invalid_value"),
        ({"prompt": "hi", "max_tokens": 65}, "max_tokens", "invalid_value"),
        ({"prompt": "x" * 33}, "prompt", "context_length_exceeded"),
        ({"prompt": ""}, "prompt", "invalid_value"),
        ({"prompt": 5}, "prompt", "invalid_type"),
        ({"prompt": "hi", "stop": [1]}, "stop", "invalid_type"),
        ({"prompt": "hi", "stop": ["a"] * 5}, "stop", "invalid_value"),
        ({"prompt": "hi", "seed": 1.5}, "seed", "invalid_type"),
        (
            {"prompt": "hi", "stream_options": {"include_usage": True}},
            "stream_options",
            "invalid_value",
        ),
        ({"prompt": "hi", "ignore_eos": "yes"}, "ignore_eos", "invalid_type"),
    ],
)
def test_bad_fields_are_400_naming_the_field(body, param, code):
    with pytest.raises(APIError) as info:
        parse(body)
    err = info.value
    assert err.status == 400 and err.param == param and err.code == code
    assert set(err.body()["error"]) == {"message", "type", "param", "code"}


def test_bad_chat_and_malformed_json():
    with pytest.raises(APIError) as info:
        parse({"messages": [{"role": "wizard", "content": "x"}]}, chat=True)
    assert info.value.param == "messages[0].role"
    with pytest.raises(APIError) as info:
        parse_request(b"{not json", chat=False, bounds=B)
    assert info.value.status == 400 and info.value.code == "invalid_json"
    with pytest.raises(APIError):
        parse_request(b"[1]", chat=False, bounds=B)


def test_text_stream_decodes_split_utf8():
    ts = TextStream([])
    data = "é!".encode()
    assert [ts.push(b) for b in data] == ["", "é", "!"]
    assert ts.text == "é!"


def test_text_stream_stops_on_a_string_and_never_shows_part_of_it():
    ts = TextStream(["END"])
    shown = [ts.push(b) for b in b"abEN"]
    assert "".join(shown) == "ab"  # "EN" could start "END": held back
    assert ts.push(ord("D")) == "" and ts.stopped and ts.text == "ab"
    ts2 = TextStream(["END"])
    out = "".join(ts2.push(b) for b in b"aENx") + ts2.flush()
    assert out == "aENx" and not ts2.stopped


def test_text_stream_stop_across_tokens_with_text_before_it_in_the_same_token():
    ts = TextStream(["\n\n"])
    out = "".join(ts.push(b) for b in b"one\ntwo\n\nthree")
    assert out == "one\ntwo" and ts.stopped


def test_sse_framing():
    assert sse({"a": 1}) == b'data: {"a":1}\n\n'


@pytest.mark.parametrize("chat", [False, True])
@pytest.mark.parametrize("model", ["tiny-lm", 'a "quoted" \u00e9 name'])
def test_the_chunk_framer_gives_the_same_bytes_as_sse_of_chunk(chat, model):
    body = {"messages": [{"role": "user", "content": "hi"}]} if chat else {"prompt": "hi"}
    req = parse({**body, "stream": True}, chat=chat)
    framer = ChunkFramer(req, "cmpl-1", 1700000000, model)
    texts = ["", "a", " the", '"', "\\", "\n\t", "\u00e9\u4e2d", "\ufffd", "\x00", "</s>"]
    for text in texts:
        for finish in (None, "stop", "length"):
            for first in (False, True):
                expected = sse(chunk(req, "cmpl-1", 1700000000, model, text, finish, first=first))
                assert framer.frame(text, finish, first=first) == expected


def test_a_prompt_of_token_ids():
    r = parse({"prompt": [104, 105], "max_tokens": 2})
    assert r.prompt_ids == [104, 105] and r.prompt == "hi"
    assert parse({"prompt": [[104]]}).prompt_ids == [104]
    with pytest.raises(APIError) as info:
        parse({"prompt": [104, 300]})
    assert info.value.param == "prompt"


def test_any_body_is_parsed_or_refused_with_an_api_error_never_anything_else():
    import random

    rng = random.Random(0)
    values = [
        None,
        True,
        -1,
        0,
        1,
        2.5,
        -0.5,
        1e309,
        "x",
        "",
        [],
        [1],
        ["a"],
        {},
        {"a": 1},
        [[1, 2]],
        2**70,
    ]
    fields = [
        "prompt",
        "messages",
        "max_tokens",
        "temperature",
        "top_p",
        "seed",
        "stop",
        "n",
        "stream",
        "stream_options",
        "ignore_eos",
        "model",
        "echo",
        "best_of",
        "max_completion_tokens",
    ]
    for _ in range(2000):
        body = {f: rng.choice(values) for f in rng.sample(fields, rng.randint(0, len(fields)))}
        for chat in (False, True):
            try:
                parse_request(json.dumps(body).encode(), chat=chat, bounds=B)
            except APIError as exc:
                assert 400 <= exc.status < 500
    for raw in (b"", b"\xff\xfe", b"null", b'"s"', b"1e999", b"{" * 5000):
        with pytest.raises(APIError):
            parse_request(raw, chat=False, bounds=B)
