"""``POST /v1/completions`` and ``POST /v1/chat/completions``: OpenAI's shapes, streamed or not.

Streamed (``"stream": true``): server-sent events, one chunk per generated token (its text,
possibly ``""`` while a UTF-8 character or a possible stop string is incomplete), a final
chunk with ``finish_reason`` ("stop": end-of-sequence or a stop string; "length":
``max_tokens`` or the context), a usage chunk (``"choices": []``) when
``stream_options.include_usage``, then ``data: [DONE]``. A client that disconnects cancels
the response; its sequence is aborted and its KV blocks freed (`LLMState.generate`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from lesson.servers.llm import protocol as p
from lesson.servers.llm.state import LLMState, read_body, state_of

__all__ = ["router"]

router = APIRouter()

# The bodies as documented in /openapi.json (the fields `protocol.parse_request` reads; the
# server checks them by hand, so anything else is a 400 in OpenAI's shape, never a 422).
_COMMON: dict = {
    "model": {"type": "string", "description": "the served model's name (optional)"},
    "max_tokens": {
        "type": "integer",
        "minimum": 1,
        "maximum": 512,
        "description": "tokens to generate (default 16; the server's bound, 512 by default)",
    },
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "seed": {"type": "integer", "minimum": -(2**63), "maximum": 2**64 - 1},
    "stop": {
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": 64},
            {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 64},
                "maxItems": 4,
            },
        ]
    },
    "n": {"type": "integer", "enum": [1]},
    "stream": {"type": "boolean"},
    "stream_options": {
        "type": "object",
        "properties": {"include_usage": {"type": "boolean"}},
        "description": "only with stream: true",
    },
    "ignore_eos": {"type": "boolean", "description": "generate max_tokens tokens (vLLM's field)"},
}
_COMPLETION = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "prompt": {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0, "maximum": 255},
                    "minItems": 1,
                    "description": "token ids (bytes)",
                },
            ]
        },
        "echo": {"type": "boolean"},
        "best_of": {"type": "integer", "enum": [1]},
        **_COMMON,
    },
}
_CHAT = {
    "type": "object",
    "required": ["messages"],
    "properties": {
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {
                        "type": "string",
                        "enum": ["system", "developer", "user", "assistant"],
                    },
                    "content": {"type": "string"},
                },
            },
        },
        "max_completion_tokens": _COMMON["max_tokens"],
        **_COMMON,
    },
}


def _openapi(schema: dict) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


async def _complete(request: Request, chat: bool) -> Response:
    arrived = time.perf_counter()
    state = state_of(request)
    req = p.parse_request(
        await read_body(request, state.bounds.max_body_bytes), chat=chat, bounds=state.bounds
    )
    state.check_model(req.model)
    admission = state.admit()
    await admission.__aenter__()
    try:
        seq = await state.submit(req)
    except BaseException:
        await admission.__aexit__(None, None, None)
        raise
    rid, created = p.completion_id(chat), p.now()
    if req.stream:
        return EventStream(
            _events(state, req, seq, arrived, rid, created, admission),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        text, finish, tokens = [], "stop", 0
        async for piece in state.generate(req, seq, arrived):
            text.append(piece.text)
            tokens = piece.tokens
            if piece.finish_reason is not None:
                finish = piece.finish_reason
    finally:
        await admission.__aexit__(None, None, None)
    return JSONResponse(p.response(req, rid, created, state.name, "".join(text), finish, tokens))


class LastChunk(bytes):
    """The last bytes of a streamed body: :class:`EventStream` sends them with the body's end."""


class EventStream(StreamingResponse):
    """A ``StreamingResponse`` whose :class:`LastChunk` also ends the body: one write, where
    Starlette writes the last chunk and then an empty end of body (two socket writes)."""

    async def stream_response(self, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        ended = False
        async for part in self.body_iterator:
            ended = isinstance(part, LastChunk)
            await send({"type": "http.response.body", "body": part, "more_body": not ended})
        if not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _events(
    state: LLMState, req, seq, arrived, rid, created, admission
) -> AsyncIterator[bytes]:
    """The response's SSE bytes: a token's chunk is sent as soon as the next one would have
    to wait for an engine step; what is ready together (the last token, the closing chunk, the
    usage chunk, ``[DONE]``; or tokens a slow reader let queue up) goes in one write."""
    try:
        framer = p.ChunkFramer(req, rid, created, state.name)
        first, tokens, ready = True, 0, []
        async for piece in state.generate(req, seq, arrived):
            tokens = piece.tokens
            ready.append(framer.frame(piece.text, piece.finish_reason, first=first))
            first = False
            if piece.finish_reason is None and not seq.finished and seq.events.empty():
                yield b"".join(ready)
                ready.clear()
        if req.include_usage:
            ready.append(
                p.sse(p.usage_chunk(req, rid, created, state.name, len(req.prompt_ids), tokens))
            )
        ready.append(p.SSE_DONE)
        yield LastChunk(b"".join(ready))
    finally:
        await admission.__aexit__(None, None, None)


@router.post(
    "/v1/completions",
    tags=["OpenAI"],
    summary="Complete a prompt (OpenAI's completions API)",
    openapi_extra=_openapi(_COMPLETION),
)
async def completions(request: Request) -> Response:
    return await _complete(request, chat=False)


@router.post(
    "/v1/chat/completions",
    tags=["OpenAI"],
    summary="Answer a conversation (OpenAI's chat completions API)",
    openapi_extra=_openapi(_CHAT),
)
async def chat_completions(request: Request) -> Response:
    return await _complete(request, chat=True)
