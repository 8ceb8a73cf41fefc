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

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from lesson.servers.llm import protocol as p
from lesson.servers.llm.state import LLMState, read_body, state_of

__all__ = ["router"]

router = APIRouter()

_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
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
        return StreamingResponse(
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


async def _events(
    state: LLMState, req, seq, arrived, rid, created, admission
) -> AsyncIterator[bytes]:
    try:
        first, tokens = True, 0
        async for piece in state.generate(req, seq, arrived):
            tokens = piece.tokens
            yield p.sse(
                p.chunk(req, rid, created, state.name, piece.text, piece.finish_reason, first=first)
            )
            first = False
        if req.include_usage:
            yield p.sse(p.usage_chunk(req, rid, created, state.name, len(req.prompt_ids), tokens))
        yield p.SSE_DONE
    finally:
        await admission.__aexit__(None, None, None)


@router.post(
    "/v1/completions",
    tags=["OpenAI"],
    summary="Complete a prompt (OpenAI's completions API)",
    openapi_extra=_OPENAPI,
)
async def completions(request: Request) -> Response:
    return await _complete(request, chat=False)


@router.post(
    "/v1/chat/completions",
    tags=["OpenAI"],
    summary="Answer a conversation (OpenAI's chat completions API)",
    openapi_extra=_OPENAPI,
)
async def chat_completions(request: Request) -> Response:
    return await _complete(request, chat=True)
