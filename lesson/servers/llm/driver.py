"""Drive the engine's steps and hand each sequence its tokens on the event loop.

The engine (:mod:`lesson.patterns.generative`) is synchronous and single-threaded: requests
are added, ``step()`` runs one batch forward and returns the tokens it made. Two drivers:

- ``thread`` (:class:`ThreadDriver`): one worker thread owns the engine. The event loop
  never calls it: adds and aborts are commands the worker runs between steps (an add's
  outcome comes back on an asyncio future), and each step's tokens go back to the loop in one
  ``loop.call_soon_threadsafe`` call, into each sequence's ``asyncio.Queue``. The loop stays
  free to write events to sockets while the model computes (numpy releases the GIL in its
  matrix products).
- ``loop`` (:class:`LoopDriver`): an asyncio task calls ``step()`` on the loop itself and
  yields (``sleep(0)``) between steps so responses get written.

Which gives the lower inter-token latency is measured in ``lesson/servers/llm/__init__.py``'s
docstring.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Sequence", "ThreadDriver", "LoopDriver", "make_driver"]


class Sequence:
    """One request's sequence as the loop sees it: its token events arrive on ``events``;
    ``timeline`` is the engine's record of it (queued, admitted, each token's time: what a
    trace's spans are made of, `lesson.servers.llm.tracing`), None if the engine keeps none."""

    __slots__ = ("engine_id", "events", "finished", "timeline")

    def __init__(self) -> None:
        self.engine_id: Any = None
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.finished = False
        self.timeline: Any = None


def _timeline(engine: Any, engine_id: Any) -> Any:
    """The engine's `RequestTimeline` of a request just added (None if it has none)."""
    timeline = getattr(engine, "timeline", None)
    return timeline(engine_id) if timeline is not None else None


class _Base:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.stats: dict[str, Any] = self._read_stats()
        self.steps = 0

    def _read_stats(self) -> dict[str, Any]:
        stats = self.engine.stats()
        if isinstance(stats, dict):
            return dict(stats)
        if dataclasses.is_dataclass(stats) and hasattr(stats, "__dict__"):
            return dict(vars(stats))  # flat counters: a copy, without asdict's deep copies
        return dataclasses.asdict(stats)

    def _step(self) -> list[tuple[Sequence, Any]]:
        """One engine step; each live sequence's event (or the step's error) to deliver."""
        try:
            events = self.engine.step()
        except Exception as exc:  # a broken step fails every live sequence, not the server
            batch = [(seq, exc) for seq in self._live.values()]
            self._live.clear()
        else:
            batch = []
            for event in events:
                seq = self._live.get(event.request_id)
                if seq is None:
                    continue
                batch.append((seq, event))
                if event.finish_reason is not None:
                    del self._live[event.request_id]
        self.steps += 1
        self.stats = self._read_stats()
        return batch

    @staticmethod
    def _deliver(batch: list[tuple[Sequence, Any]]) -> None:
        for seq, event in batch:
            seq.events.put_nowait(event)


class ThreadDriver(_Base):
    """The engine on one worker thread (see the module docstring)."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._commands: collections.deque[Callable[[], None]] = collections.deque()
        self._wake = threading.Event()
        self._stop = False
        self._live: dict[Any, Sequence] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="lesson-llm-engine", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)

    async def add(self, prompt_ids: list[int], params: Any) -> Sequence:
        """Add a request (its GenerationError is raised here, before any token)."""
        assert self._loop is not None
        loop, seq = self._loop, Sequence()
        done: asyncio.Future[None] = loop.create_future()

        def add() -> None:
            try:
                seq.engine_id = self.engine.add_request(prompt_ids, params)
                seq.timeline = _timeline(self.engine, seq.engine_id)
            except BaseException as exc:  # handed back to the request
                loop.call_soon_threadsafe(_settle, done, exc)
                return
            self._live[seq.engine_id] = seq
            loop.call_soon_threadsafe(_settle, done, None)

        self._commands.append(add)
        self._wake.set()
        try:
            await done
        except asyncio.CancelledError:  # the request went away while being added
            self.abort(seq)  # runs after the add on the worker: nothing is left behind
            raise
        return seq

    def abort(self, seq: Sequence) -> None:
        """Stop ``seq`` (a client went away): its blocks are freed before the next step."""
        if seq.finished:
            return
        seq.finished = True

        def abort() -> None:
            if self._live.pop(seq.engine_id, None) is not None:
                self.engine.abort(seq.engine_id)

        self._commands.append(abort)
        self._wake.set()

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        while not self._stop:
            while self._commands:
                self._commands.popleft()()
            if not self._live:
                self.stats = self._read_stats()
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            batch = self._step()
            if batch:
                loop.call_soon_threadsafe(self._deliver, batch)


class LoopDriver(_Base):
    """The engine stepped by a task on the event loop (see the module docstring)."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._live: dict[Any, Sequence] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def add(self, prompt_ids: list[int], params: Any) -> Sequence:
        seq = Sequence()
        seq.engine_id = self.engine.add_request(prompt_ids, params)
        seq.timeline = _timeline(self.engine, seq.engine_id)
        self._live[seq.engine_id] = seq
        assert self._wake is not None
        self._wake.set()
        return seq

    def abort(self, seq: Sequence) -> None:
        if seq.finished:
            return
        seq.finished = True
        if self._live.pop(seq.engine_id, None) is not None:
            self.engine.abort(seq.engine_id)
        self.stats = self._read_stats()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            if not self._live:
                self.stats = self._read_stats()
                self._wake.clear()
                await self._wake.wait()
                continue
            self._deliver(self._step())
            # Let the responses be written between steps: the woken streams run in the next
            # loop iteration. Twice, because a disconnected stream is cancelled by anyio's
            # task group only when its scheduled check finds the stream waiting on a pending
            # future; with one yield the check always ran just after the next token had been
            # delivered (the waiter done), so a client that went away was never noticed.
            await asyncio.sleep(0)
            await asyncio.sleep(0)


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


def make_driver(engine: Any, where: str) -> ThreadDriver | LoopDriver:
    """The driver for ``where``: "thread" or "loop"."""
    return ThreadDriver(engine) if where == "thread" else LoopDriver(engine)
