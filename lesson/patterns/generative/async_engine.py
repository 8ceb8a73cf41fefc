"""The engine on asyncio: one background task steps it, each request streams its tokens.

:class:`AsyncEngine` starts one task the first time a request comes in; while there is work it
runs ``engine.step()`` and hands each token to its request's queue, yielding to the event loop
between steps (``await asyncio.sleep(0)``) so streams are read while the next step waits.
:meth:`AsyncEngine.generate` checks the request at once (raising the typed errors before
anything is streamed) and returns a :class:`GenerationStream`; ``async for event in stream``
gives its :class:`~lesson.patterns.generative.sequence.TokenEvent` s. If the consumer stops
early (a ``break``, a cancelled task: a client that went away), the request is aborted and its
KV blocks freed.

No threads: in the browser the steps run on the loop itself. In CPython a server may pass an
``executor`` so steps run in a worker thread and the loop stays free; the engine is still
touched by one thread at a time, because new requests and aborts are applied only between
steps, by the background task. Standard library only.

    >>> import asyncio
    >>> from lesson.models.ngram import NgramModel
    >>> from lesson.patterns.generative import Engine, EngineConfig, SamplingParams
    >>> model = NgramModel.train(["hello world"] * 3, order=3, max_seq_len=64)
    >>> async def main():
    ...     aengine = AsyncEngine(Engine(model, EngineConfig(block_size=4, num_blocks=16)))
    ...     stream = aengine.generate(model.encode("hello"), SamplingParams(6, temperature=0))
    ...     tokens = [event.token_id async for event in stream]
    ...     await aengine.aclose()
    ...     return model.decode(tokens)
    >>> asyncio.run(main())
    ' world'
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
from collections.abc import Sequence as Seq

from lesson.patterns.generative.engine import Engine, EngineStats
from lesson.patterns.generative.errors import DuplicateRequestError
from lesson.patterns.generative.sampling import SamplingParams
from lesson.patterns.generative.sequence import TokenEvent

__all__ = ["AsyncEngine", "EngineStoppedError", "GenerationStream"]


class EngineStoppedError(RuntimeError):
    """The engine's task stopped (closed, or a step raised) before the request finished."""


class _Channel:
    """What the engine's task and one stream share: the queue of events and whether it ended.

    The task holds only this, not the stream, so a stream nobody reads any more is freed (and
    its ``__del__`` aborts the request)."""

    __slots__ = ("queue", "done")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[TokenEvent | BaseException | None] = asyncio.Queue()
        self.done = False


class GenerationStream:
    """One request's tokens, as an async iterator; closing it early aborts the request.

    It ends after the event with a ``finish_reason``, or at once (without one) if the request
    is aborted through :meth:`AsyncEngine.abort`. If the engine stops or a step fails it raises
    :class:`EngineStoppedError`.
    """

    def __init__(self, aengine: AsyncEngine, request_id: str, channel: _Channel) -> None:
        self.request_id = request_id
        self._aengine = aengine
        self._channel = channel

    def __aiter__(self) -> GenerationStream:
        return self

    async def __anext__(self) -> TokenEvent:
        channel = self._channel
        if channel.done and channel.queue.empty():
            raise StopAsyncIteration
        try:
            item = await channel.queue.get()
        except BaseException:  # cancelled while waiting: the consumer went away
            self._close()
            raise
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            channel.done = True
            raise item
        if item.finish_reason is not None:
            channel.done = True
            channel.queue.put_nowait(None)
        return item

    async def aclose(self) -> None:
        """Stop streaming; the request is aborted if it has not finished."""
        self._close()

    async def __aenter__(self) -> GenerationStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._close()

    def _close(self) -> None:
        if not self._channel.done:
            self._aengine.abort(self.request_id)

    def __del__(self) -> None:  # dropped after a `break`: abort what nobody reads any more
        if not self._channel.done:
            try:
                self._aengine.abort(self.request_id)
            except Exception:
                pass


class AsyncEngine:
    """Drives an :class:`~lesson.patterns.generative.engine.Engine` from asyncio (see the module)."""

    def __init__(
        self, engine: Engine, *, executor: concurrent.futures.Executor | None = None
    ) -> None:
        self.engine = engine
        self.executor = executor
        self._streams: dict[str, _Channel] = {}
        self._inbox: list[tuple[str, list[int], SamplingParams, _Channel]] = []
        self._aborts: set[str] = set()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._stepping = False
        self._closed = False
        self._ids = itertools.count()

    def generate(
        self, prompt_ids: Seq[int], params: SamplingParams, request_id: str | None = None
    ) -> GenerationStream:
        """Queue a request (checked now: the typed errors raise here) and stream its tokens."""
        if self._closed:
            raise EngineStoppedError("the engine is closed")
        self.engine.validate(prompt_ids, params)
        if request_id is None:
            request_id = f"gen-{next(self._ids)}"
            while request_id in self._streams or self.engine.is_live(request_id):
                request_id = f"gen-{next(self._ids)}"
        elif request_id in self._streams or self.engine.is_live(request_id):
            raise DuplicateRequestError(f"request {request_id!r} is already streaming")
        channel = _Channel()
        self._streams[request_id] = channel
        self._inbox.append((request_id, list(prompt_ids), params, channel))
        self._ensure_task()
        return GenerationStream(self, request_id, channel)

    def abort(self, request_id: str) -> None:
        """Abort a request: its stream ends now, its blocks are freed before the next step."""
        channel = self._streams.pop(request_id, None)
        if channel is None:
            return  # finished (or never known): nothing to free
        if not channel.done:
            channel.done = True
            channel.queue.put_nowait(None)
        self._aborts.add(request_id)
        if self._wake is not None:
            self._wake.set()

    def stats(self) -> EngineStats:
        return self.engine.stats()

    async def aclose(self) -> None:
        """Stop the task and abort every request still streaming."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._apply_pending()
        for request_id, channel in list(self._streams.items()):
            channel.done = True
            channel.queue.put_nowait(EngineStoppedError("the engine was closed"))
            self.engine.abort(request_id)
        self._streams.clear()

    # -- the background task --------------------------------------------------------------

    def _ensure_task(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _apply_pending(self) -> None:
        aborts, self._aborts = self._aborts, set()
        for request_id in aborts:
            self.engine.abort(request_id)
        inbox, self._inbox = self._inbox, []
        for request_id, prompt, params, channel in inbox:
            if self._streams.get(request_id) is not channel:
                continue  # aborted before it reached the engine
            self.engine.add_request(prompt, params, request_id)

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            self._apply_pending()
            if not self.engine.has_work():
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                if self.executor is None:
                    events = self.engine.step()
                else:
                    events = await loop.run_in_executor(self.executor, self.engine.step)
            except Exception as exc:  # the model failed: fail every stream, keep serving
                self._fail_all(exc)
                continue
            for event in events:
                channel = self._streams.get(event.request_id)
                if channel is None:
                    continue
                channel.queue.put_nowait(event)
                if event.finish_reason is not None:
                    del self._streams[event.request_id]
            await asyncio.sleep(0)

    def _fail_all(self, exc: Exception) -> None:
        for request_id, channel in list(self._streams.items()):
            error = EngineStoppedError(f"the engine's step failed: {exc!r}")
            error.__cause__ = exc
            channel.done = True
            channel.queue.put_nowait(error)
            self.engine.abort(request_id)
        self._streams.clear()
