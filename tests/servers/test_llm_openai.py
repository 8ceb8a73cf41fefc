"""The official `openai` client, unchanged, against `lesson serve llm` (streaming and not)."""

from __future__ import annotations

import asyncio

import pytest

from lesson.servers.launch import running_server

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server():
    with running_server("llm", impl="ngram") as handle:
        yield handle


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_models_list(client):
    assert [m.id for m in client.models.list()] == ["ngram"]


def test_completion(client):
    out = client.completions.create(
        model="ngram", prompt="def ", max_tokens=8, seed=1, extra_body={"ignore_eos": True}
    )
    assert out.choices[0].finish_reason == "length" and out.usage.completion_tokens == 8
    again = client.completions.create(
        model="ngram", prompt="def ", max_tokens=8, seed=1, extra_body={"ignore_eos": True}
    )
    assert again.choices[0].text == out.choices[0].text


def test_completion_stream_with_usage(client):
    stream = client.completions.create(
        model="ngram",
        prompt="def ",
        max_tokens=8,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert chunks[-1].usage.completion_tokens == 8
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    whole = client.completions.create(
        model="ngram", prompt="def ", max_tokens=8, seed=1, extra_body={"ignore_eos": True}
    )
    assert text == whole.choices[0].text


def test_chat_completion_and_stream(client):
    messages = [{"role": "system", "content": "terse"}, {"role": "user", "content": "hi"}]
    out = client.chat.completions.create(model="ngram", messages=messages, max_tokens=6, seed=2)
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].finish_reason in ("stop", "length")
    chunks = list(
        client.chat.completions.create(
            model="ngram", messages=messages, max_tokens=6, seed=2, stream=True
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == out.choices[0].message.content


def test_errors_are_the_clients_typed_exceptions(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="ngram", prompt="x", temperature=-1)
    assert info.value.status_code == 400 and info.value.body["param"] == "temperature"
    with pytest.raises(openai.NotFoundError) as info:
        client.completions.create(model="gpt-nope", prompt="x")
    assert info.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="ngram", prompt="x", n=2)


def test_async_client_streams(server):
    async def main():
        async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused") as c:
            stream = await c.completions.create(
                model="ngram",
                prompt="class ",
                max_tokens=5,
                stream=True,
                extra_body={"ignore_eos": True},
            )
            return [chunk async for chunk in stream]

    chunks = asyncio.run(main())
    assert sum(1 for c in chunks if c.choices and c.choices[0].finish_reason is None) == 5
