"""The asyncio micro-batcher: concurrent ``await predict(rows)`` calls share one model call.

FastAPI's ``async def`` routes and the browser use it. Standard library only.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lesson.core.runtime import threads_available
from lesson.patterns.microbatching.common import (
    BATCH_TIMING,
    BatcherClosedError,
    BatcherStats,
    BatchOutputError,
    Collector,
    Pending,
    PredictBatch,
    Rows,
    Validate,
    as_rows,
    check_batching_options,
    note_call,
    settle,
    split_outputs,
    width_validator,
)

__all__ = ["MicroBatcher"]


class MicroBatcher(Collector):
    """Collect concurrent asyncio requests into one ``predict_batch`` call.

    The model sees one call at a time. When it is idle and nothing is queued, a request's call
    runs at once in the caller's task (no queue hop, so a lone client pays nothing; only for
    calls that yield to the loop: an ``async`` ``predict_batch`` or ``run_in_thread``);
    requests that arrive meanwhile queue up and go together in the next call.

    Args:
        predict_batch: ``fn(rows) -> outputs`` (one per row), sync or ``async``.
        max_batch_size: most rows per call (a larger single request runs alone).
        max_delay_ms: longest wait for more requests after the first one queued (0: take
            only what is already waiting).
        validate: optional ``fn(rows)`` run on each request as it arrives; raising rejects
            that request alone.
        run_in_thread: run a sync ``predict_batch`` in a worker thread so the event loop
            keeps accepting requests meanwhile (default: when threads exist; never in Pyodide).
        max_queue: most requests waiting; more callers wait for room (backpressure).
    """

    def __init__(
        self,
        predict_batch: PredictBatch,
        max_batch_size: int = 32,
        max_delay_ms: float = 0.0,
        *,
        validate: Validate | None = None,
        run_in_thread: bool | None = None,
        max_queue: int = 10_000,
    ):
        check_batching_options(max_batch_size, max_delay_ms)
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_ms / 1000.0
        self.validate = validate
        self._is_async = inspect.iscoroutinefunction(predict_batch)
        if run_in_thread is None:
            run_in_thread = threads_available()
        self.run_in_thread = run_in_thread and not self._is_async
        # The idle fast path (run a lone request in its caller's task) only for calls that
        # yield to the loop while they run; an inline sync call would never let others queue.
        self._suspends = self._is_async or self.run_in_thread
        self.max_queue = max_queue
        self.stats = BatcherStats()
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._carry: Pending | None = None
        self._closed = False
        self._busy = False  # a model call is running (inline or a batch): one at a time
        self._holding = False  # the worker holds requests taken off the queue
        self._free: asyncio.Event | None = None  # set when no model call is running

    @classmethod
    def for_model(
        cls, model: Any, max_batch_size: int = 32, max_delay_ms: float = 0.0, **kw: Any
    ) -> MicroBatcher:
        """A batcher over a core ``Model`` (uses ``predict_async`` if it has one); requests
        with the wrong row width are rejected on arrival."""
        fn = getattr(model, "predict_async", None) or model.predict
        kw.setdefault("validate", width_validator(model))
        return cls(fn, max_batch_size, max_delay_ms, **kw)

    def _ensure_worker(self) -> None:
        loop = asyncio.get_running_loop()
        if self._worker is None or self._loop is not loop or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue(self.max_queue)
            self._carry = None
            self._busy = self._holding = False
            self._free = asyncio.Event()
            self._free.set()
            self._worker = loop.create_task(self._run_forever())

    async def predict(self, rows: Rows) -> list[float]:
        """Queue one request and wait for its outputs (one per row).

        Raises:
            whatever ``validate`` or ``predict_batch`` raised for THIS request;
            :class:`BatcherClosedError` if the batcher closes first.
        """
        if self._closed:
            raise BatcherClosedError("the batcher is closed")
        rows = as_rows(rows)
        if self.validate is not None:
            self.validate(rows)
        self._ensure_worker()
        if self._suspends and not (
            self._busy or self._holding or self._carry is not None or not self._queue.empty()
        ):
            return await self._run_alone(rows)  # idle: no queue hop, a lone client pays nothing
        future = self._loop.create_future()
        await self._queue.put(Pending(rows, future, BATCH_TIMING.get()))
        return await future

    async def _run_alone(self, rows: list) -> list[float]:
        """Run one request's call in the caller's task; requests arriving meanwhile queue up."""
        self._busy = True
        self._free.clear()
        timing = BATCH_TIMING.get()
        try:
            started = time.time_ns() if timing is not None else 0
            outputs = list(await self._call(rows))
            if timing is not None:
                timing.extend((started, time.time_ns(), 1))
        finally:
            self._busy = False
            self._free.set()
        if len(outputs) != len(rows):
            raise BatchOutputError(
                f"predict_batch returned {len(outputs)} outputs for {len(rows)} rows"
            )
        self.stats.record(1, len(rows))
        return outputs

    async def _next(self, timeout: float | None) -> Pending | None:
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            return None
        # asyncio.wait, not wait_for: wait_for's timeout scope needs a current task, and in
        # Pyodide's event loop it once raised before awaiting the get, killing this worker
        # (JupyterLite run-all of 03: "coroutine 'Queue.get' was never awaited", 31 requests
        # left unfinished).
        getter = asyncio.ensure_future(self._queue.get())
        try:
            done, _ = await asyncio.wait({getter}, timeout=timeout)
        except asyncio.CancelledError:
            getter.cancel()
            raise
        if not done and getter.cancel():
            return None  # a cancelled get leaves any item in the queue
        return getter.result()  # done, or done just before the cancel

    def claim(self, item: Pending) -> bool:
        """A cancelled caller's request is dropped, never run."""
        return not item.future.done()

    async def _run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next(None)
            self._holding = True
            try:
                if first.future.done():  # caller gave up (cancelled)
                    continue
                batch, n = [first], len(first.rows)
                deadline = loop.time() + self.max_delay_s
                while n < self.max_batch_size:
                    item = await self._next(deadline - loop.time())
                    admitted = None if item is None else self._admit(batch, item, n)
                    if admitted is None:
                        break
                    n = admitted
                while self._busy:  # a lone request's call is running: wait, then top up the batch
                    await self._free.wait()
                self._busy = True
                self._free.clear()
                try:
                    while (
                        n < self.max_batch_size and self._carry is None and not self._queue.empty()
                    ):
                        admitted = self._admit(batch, self._queue.get_nowait(), n)
                        if admitted is None:
                            break
                        n = admitted
                    await self._run_batch(batch, n)
                finally:
                    self._busy = False
                    self._free.set()
            finally:
                self._holding = False

    async def _call(self, rows: list) -> Any:
        if self._is_async:
            return await self.predict_batch(rows)
        if self.run_in_thread:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="micro-batcher")
            return await self._loop.run_in_executor(self._executor, self.predict_batch, rows)
        return self.predict_batch(rows)

    async def _run_batch(self, batch: list[Pending], n: int) -> None:
        rows = [row for item in batch for row in item.rows]
        try:
            started = time.time_ns()
            outputs = await self._call(rows)
            note_call(batch, started, time.time_ns())
            parts = split_outputs(outputs, batch, n)
        except Exception as exc:  # handed to the callers
            self.stats.failed_batches += 1
            if len(batch) == 1:
                settle(batch[0].future, exc=exc)
                return
            for item in batch:  # isolate: only the request that really fails gets the error
                await self._run_batch([item], len(item.rows))
            return
        self.stats.record(len(batch), n)
        for item, part in zip(batch, parts):
            settle(item.future, result=part)

    async def close(self) -> None:
        """Stop the worker; requests still waiting get :class:`BatcherClosedError`."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
        pending = [self._carry] if self._carry else []
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for item in pending:
            settle(
                item.future, exc=BatcherClosedError("the batcher closed before this request ran")
            )
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> MicroBatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
