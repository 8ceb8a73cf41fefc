"""The OpenAI-compatible wire protocol, without a web framework: parse, bound, frame.

Requests are parsed by hand from the JSON body (not by pydantic), so every bad field is an
:class:`APIError` naming the field in OpenAI's error shape, never FastAPI's 422 or a 500::

    {"error": {"message": "...", "type": "invalid_request_error", "param": "temperature",
               "code": "invalid_value"}}

The chat template (a byte-level model has no chat tokens, so it is plain text)::

    system: You are terse.
    user: Hello
    assistant:

one ``role: content`` line per message, then ``assistant:`` — the model continues from there.

Text: the model's tokens are bytes (ids 0..255; anything else is a special token and decodes
to nothing). :class:`TextStream` decodes them incrementally (a UTF-8 character split over
tokens waits for its last byte) and checks ``stop`` strings on the decoded text, holding back
a tail that could still become a stop string, so no client ever sees part of one.

Streaming is server-sent events: ``data: {json}\\n\\n`` per chunk, then ``data: [DONE]\\n\\n``
(:func:`sse`, :data:`SSE_DONE`).
"""

from __future__ import annotations

import codecs
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "APIError",
    "Bounds",
    "ChunkFramer",
    "CompletionRequest",
    "TextStream",
    "SSE_DONE",
    "chat_prompt",
    "decode_tokens",
    "encode_prompt",
    "error_body",
    "parse_request",
    "sse",
]

SSE_DONE = b"data: [DONE]\n\n"


class APIError(Exception):
    """An error answered in OpenAI's shape: status, message, type, param, code."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def invalid(param: str, message: str, code: str = "invalid_value") -> APIError:
    return APIError(400, f"{param}: {message}", param=param, code=code)


@dataclass(frozen=True)
class Bounds:
    """What one request may ask for (beyond them: a 400 naming the field)."""

    max_prompt_tokens: int = 1024
    max_tokens: int = 512  # the largest ``max_tokens`` accepted
    default_max_tokens: int = 16  # OpenAI's completions default
    max_stop: int = 4  # stop strings (OpenAI's bound)
    max_stop_chars: int = 64
    max_body_bytes: int = 1 << 20


@dataclass
class CompletionRequest:
    """One parsed request, completions or chat (the chat messages already formatted)."""

    model: str | None
    prompt: str
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    ignore_eos: bool = False
    stream: bool = False
    include_usage: bool = False
    chat: bool = False
    echo: bool = False


def encode_prompt(text: str) -> list[int]:
    """The byte-level model's token ids for ``text`` (its UTF-8 bytes)."""
    return list(text.encode("utf-8"))


def decode_tokens(ids: list[int]) -> str:
    """The text of byte tokens (special tokens, ids >= 256, decode to nothing)."""
    return bytes(t for t in ids if 0 <= t < 256).decode("utf-8", errors="replace")


def chat_prompt(messages: list[dict[str, str]]) -> str:
    """``role: content`` per line, then ``assistant:`` (the template in this module's docstring)."""
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


def _number(
    body: dict, name: str, default: float, low: float, high: float, *, integer: bool = False
) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(name, f"expected a number, got {type(value).__name__}", "invalid_type")
    if integer and (not isinstance(value, int) and not float(value).is_integer()):
        raise invalid(name, f"expected an integer, got {value!r}", "invalid_type")
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid(name, f"expected a finite number, got {value!r}")
    if not low <= value <= high:
        raise invalid(name, f"{value!r} is outside {low:g}..{high:g}")
    return int(value) if integer else float(value)


def _bool(body: dict, name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(name, f"expected true or false, got {value!r}", "invalid_type")
    return value


def _stop(body: dict, bounds: Bounds) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise invalid("stop", "expected a string or a list of strings", "invalid_type")
    if len(stop) > bounds.max_stop:
        raise invalid("stop", f"at most {bounds.max_stop} stop strings, got {len(stop)}")
    if any(not s or len(s) > bounds.max_stop_chars for s in stop):
        raise invalid("stop", f"each stop string must have 1..{bounds.max_stop_chars} characters")
    return stop


def _messages(body: dict) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "expected a non-empty list of messages", "invalid_type")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in (
            "system",
            "developer",
            "user",
            "assistant",
        ):
            raise invalid(f"messages[{i}].role", "expected system, developer, user or assistant")
        content = m.get("content")
        if isinstance(content, list):  # content parts: only text is understood
            texts = []
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "text":
                    raise invalid(f"messages[{i}].content", "only text content parts are served")
                texts.append(str(part.get("text", "")))
            content = "".join(texts)
        if not isinstance(content, str):
            raise invalid(f"messages[{i}].content", "expected a string", "invalid_type")
        out.append({"role": m["role"], "content": content})
    return out


def parse_request(raw: bytes, *, chat: bool, bounds: Bounds) -> CompletionRequest:
    """Parse and bound a ``/v1/completions`` (or, ``chat``, ``/v1/chat/completions``) body.

    Raises:
        APIError: 400 naming the field (malformed JSON, a bad value, ``n > 1``, a prompt over
            ``bounds.max_prompt_tokens``: code ``context_length_exceeded``).
    """
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, "the body must be a JSON object", code="invalid_json")
    ids = None
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise invalid("model", "expected a string", "invalid_type")
    n = _number(body, "n", 1, 1, 128, integer=True)
    if n != 1:
        raise invalid("n", "only n=1 is served (one completion per request)", "unsupported_value")
    if body.get("best_of") not in (None, 1):
        raise invalid("best_of", "only best_of=1 is served", "unsupported_value")
    if chat:
        messages = _messages(body)
        prompt = chat_prompt(messages)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        max_name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    else:
        prompt = body.get("prompt")
        ids: list[int] | None = None
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
            prompt = prompt[0]  # a batch of one
        if isinstance(prompt, list):  # token ids (byte values), as OpenAI's API allows
            if not all(
                isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 256 for t in prompt
            ):
                raise invalid("prompt", "token ids must be byte values 0..255", "invalid_type")
            ids, prompt = list(prompt), decode_tokens(prompt)
        if not isinstance(prompt, str):
            raise invalid(
                "prompt", "expected a string or token ids (one prompt per request)", "invalid_type"
            )
        limit, max_name = body.get("max_tokens"), "max_tokens"
    max_tokens = _number(
        {max_name: limit}, max_name, bounds.default_max_tokens, 1, bounds.max_tokens, integer=True
    )
    prompt_ids = ids if not chat and ids is not None else encode_prompt(prompt)
    if not prompt_ids:
        raise invalid("prompt" if not chat else "messages", "the prompt is empty")
    if len(prompt_ids) > bounds.max_prompt_tokens:
        raise invalid(
            "prompt" if not chat else "messages",
            f"the prompt is {len(prompt_ids)} tokens, over the bound of {bounds.max_prompt_tokens}",
            "context_length_exceeded",
        )
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise invalid("seed", f"expected an integer, got {seed!r}", "invalid_type")
    if seed is not None and not -(2**63) <= seed < 2**64:
        raise invalid("seed", "out of range")
    stream = _bool(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise invalid("stream_options", "expected an object", "invalid_type")
    include_usage = bool(options and options.get("include_usage"))
    if options is not None and not stream:
        raise invalid("stream_options", "only allowed when stream is true")
    return CompletionRequest(
        model=model,
        prompt=prompt,
        prompt_ids=prompt_ids,
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        seed=seed,
        stop=_stop(body, bounds),
        ignore_eos=_bool(body, "ignore_eos"),
        stream=stream,
        include_usage=include_usage,
        chat=chat,
        echo=(not chat) and _bool(body, "echo"),
    )


def sse(payload: dict[str, Any]) -> bytes:
    """One server-sent event: ``data: {json}\\n\\n``."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class TextStream:
    """Byte tokens in, text deltas out; ``stop`` strings found on the decoded text.

    ``push(token_id)`` returns the text now safe to show (maybe ``""``: half a UTF-8
    character, or a tail that might start a stop string); once a stop string appears,
    :attr:`stopped` is true and the text before it is all that is ever shown.
    ``flush()`` returns what was held back (at the end of generation).
    """

    def __init__(self, stop: list[str]) -> None:
        self.stop = stop
        self._hold = max((len(s) for s in stop), default=1) - 1
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # decoded, not yet shown
        self.text = ""  # shown so far
        self.stopped = False

    def push(self, token_id: int) -> str:
        if self.stopped:
            return ""
        if 0 <= token_id < 256:
            self._pending += self._decoder.decode(bytes((token_id,)))
        if self.stop:
            candidate = self.text + self._pending
            cut = min(
                (
                    i
                    for s in self.stop
                    if (i := candidate.find(s, max(0, len(self.text) - self._hold))) >= 0
                ),
                default=-1,
            )
            if cut >= 0:
                self.stopped = True
                delta = candidate[len(self.text) : cut]
                self.text, self._pending = candidate[:cut], ""
                return delta
            keep = self._hold_back(self._pending)
            delta, self._pending = (
                self._pending[: len(self._pending) - keep],
                self._pending[len(self._pending) - keep :],
            )
        else:
            delta, self._pending = self._pending, ""
        self.text += delta
        return delta

    def _hold_back(self, pending: str) -> int:
        """How many trailing characters could be the start of a stop string."""
        tail = (self.text + pending)[-self._hold :] if self._hold else ""
        for k in range(min(len(tail), len(pending)), 0, -1):
            if any(s.startswith(tail[-k:]) for s in self.stop):
                return k
        return 0

    def flush(self) -> str:
        if self.stopped:
            return ""
        delta = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        self.text += delta
        return delta


def completion_id(chat: bool) -> str:
    return ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]


def now() -> int:
    return int(time.time())


def chunk(
    req: CompletionRequest,
    rid: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str | None,
    *,
    first: bool = False,
) -> dict[str, Any]:
    """One streamed chunk (``text_completion`` or ``chat.completion.chunk``)."""
    if req.chat:
        delta: dict[str, Any] = {"content": text}
        if first:
            delta["role"] = "assistant"
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text, "logprobs": None}
        obj = "text_completion"
    choice["finish_reason"] = finish_reason
    return {"id": rid, "object": obj, "created": created, "model": model, "choices": [choice]}


class ChunkFramer:
    """One streamed response's chunks as SSE bytes: ``sse(chunk(...))``, byte for byte.

    A token's chunk differs from the next only in its text, so the bytes around the text are
    encoded once, and each token costs one ``json.dumps`` of its text (not of the whole chunk).
    The first chunk and the closing ones (a finish reason) go through :func:`chunk`.
    """

    _MARK = "\x00lesson-text\x00"

    def __init__(self, req: CompletionRequest, rid: str, created: int, model: str) -> None:
        self._args = (req, rid, created, model)
        framed = sse(chunk(req, rid, created, model, self._MARK, None))
        parts = framed.split(json.dumps(self._MARK).encode())
        self._around = (parts[0], parts[1]) if len(parts) == 2 else None

    def frame(self, text: str, finish_reason: str | None, *, first: bool = False) -> bytes:
        """The SSE event of one chunk."""
        if first or finish_reason is not None or self._around is None:
            return sse(chunk(*self._args, text, finish_reason, first=first))
        before, after = self._around
        return before + json.dumps(text).encode() + after


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def usage_chunk(
    req: CompletionRequest, rid: str, created: int, model: str, prompt: int, completion: int
) -> dict[str, Any]:
    obj = "chat.completion.chunk" if req.chat else "text_completion"
    return {
        "id": rid,
        "object": obj,
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage(prompt, completion),
    }


def response(
    req: CompletionRequest,
    rid: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    completion_tokens: int,
) -> dict[str, Any]:
    """The whole (non-streamed) answer."""
    if req.chat:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        obj = "chat.completion"
    else:
        shown = (req.prompt + text) if req.echo else text
        choice = {"index": 0, "text": shown, "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    return {
        "id": rid,
        "object": obj,
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage(len(req.prompt_ids), completion_tokens),
    }
