"""Dynamic (micro-)batching: concurrent requests share one model call.

A request waits in a queue; a single worker takes what is queued, up to ``max_batch_size``
rows, waits at most ``max_delay_ms`` (counted from the first request) for more, then makes ONE
``predict_batch(rows)`` call and hands each request its own slice of the outputs. While a call
runs, new requests queue up, so under load batches grow by themselves even with
``max_delay_ms=0``; with one client nothing waits.

Errors stay per request: a request can be checked on arrival (``validate``) and fails alone;
if a batched call raises, each request of that batch is retried alone, so only the one that
really fails gets the error.

Batching only pays where a call has a real fixed cost (an accelerator, a remote call): see
:mod:`lesson.models.accelerator`. Standard library only.

- :class:`MicroBatcher` -- asyncio (FastAPI ``async def`` routes, the browser).
- :class:`ThreadedMicroBatcher` -- threads (grpcio's thread-pool server, sync routes).
- :class:`BatchedModel` -- a core ``Model`` whose ``predict`` goes through a threaded batcher.

    >>> import asyncio
    >>> async def demo():
    ...     async with MicroBatcher(lambda rows: [sum(r) for r in rows], max_batch_size=8) as b:
    ...         return await asyncio.gather(*(b.predict([[i, i]]) for i in range(4)))
    >>> asyncio.run(demo())
    [[0], [2], [4], [6]]
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from lesson.core.runtime import threads_available

__all__ = [
    "BatcherStats",
    "BatcherClosedError",
    "BatchOutputError",
    "MicroBatcher",
    "ThreadedMicroBatcher",
    "BatchedModel",
    "check_batching_options",
]

Rows = Sequence[Sequence[float]]
PredictBatch = Callable[[list], "list[float] | Awaitable[list[float]]"]
Validate = Callable[[Rows], None]

MAX_BATCH_SIZE_BOUND = 65_536
MAX_DELAY_MS_BOUND = 1_000.0


class BatcherClosedError(RuntimeError):
    """The batcher was closed before this request was answered."""


class BatchOutputError(RuntimeError):
    """``predict_batch`` returned a different number of outputs than rows."""


def check_batching_options(max_batch_size: int, max_delay_ms: float) -> None:
    """Raise ``ValueError`` naming the option if it is out of bounds (CLI flags use this).

    ``max_batch_size`` must be 1..65536 and ``max_delay_ms`` 0..1000.
    """
    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= MAX_BATCH_SIZE_BOUND:
        raise ValueError(f"max_batch_size must be an integer in 1..{MAX_BATCH_SIZE_BOUND}, got {max_batch_size!r}")
    if not isinstance(max_delay_ms, (int, float)) or not 0 <= max_delay_ms <= MAX_DELAY_MS_BOUND:
        raise ValueError(f"max_delay_ms must be in 0..{MAX_DELAY_MS_BOUND:g}, got {max_delay_ms!r}")


@dataclass
class BatcherStats:
    """Counters: how many requests and rows went through how many model calls."""

    requests: int = 0
    rows: int = 0
    batches: int = 0
    max_batch_rows: int = 0
    failed_batches: int = 0
    batch_rows: dict[int, int] = field(default_factory=dict)  # batch size -> count

    def record(self, n_requests: int, n_rows: int) -> None:
        self.requests += n_requests
        self.rows += n_rows
        self.batches += 1
        self.max_batch_rows = max(self.max_batch_rows, n_rows)
        self.batch_rows[n_rows] = self.batch_rows.get(n_rows, 0) + 1

    @property
    def mean_batch_rows(self) -> float:
        return self.rows / self.batches if self.batches else 0.0

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"requests": self.requests, "rows": self.rows, "batches": self.batches,
                "mean_batch_rows": round(self.mean_batch_rows, 2), "max_batch_rows": self.max_batch_rows,
                "failed_batches": self.failed_batches}


@dataclass
class _Pending:
    rows: list
    future: Any  # asyncio.Future or _Waiter


class _Waiter:
    """A one-shot result for one blocked caller of :class:`ThreadedMicroBatcher`.

    The subset of ``concurrent.futures.Future`` the batcher uses, on one lock: a Future
    builds a ``Condition`` (more locks, a notify and a re-acquire on every wake-up), which
    under 64 parked callers per batch was a measurable share of a request's CPU time.
    The lock is held from creation until the result (or error) is set.
    """

    __slots__ = ("_lock", "_state", "_value", "_error")

    _PENDING, _RUNNING, _DONE, _ABANDONED = range(4)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._state = self._PENDING
        self._value: Any = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._state >= self._DONE

    def set_running_or_notify_cancel(self) -> bool:
        """The worker takes this request for a batch: False if its caller gave up waiting."""
        return self._state != self._ABANDONED

    def start(self) -> bool:
        """The batch's model call is about to run: False if the caller gave up meanwhile."""
        if self._state == self._ABANDONED:
            return False
        self._state = self._RUNNING
        return True

    def set_result(self, value: Any) -> None:
        self._value = value
        self._settle()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._settle()

    def _settle(self) -> None:
        if self._state < self._DONE:
            self._state = self._DONE
            self._lock.release()

    def result(self, timeout: float | None = None) -> Any:
        """Block until settled; ``TimeoutError`` after ``timeout`` s (the request is then
        abandoned: dropped from its batch unless the batch's model call already started)."""
        if not self._lock.acquire(True, -1 if timeout is None else max(0.0, timeout)):
            if self._state == self._PENDING:
                self._state = self._ABANDONED
            if self._state != self._DONE:  # settled in the meantime: fall through to the answer
                raise TimeoutError(f"no answer from the batcher within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value


def _as_rows(rows: Rows) -> list:
    if not isinstance(rows, (list, tuple)) or len(rows) == 0:
        raise ValueError("a request needs a non-empty list of rows")
    return list(rows)


def _split(outputs: Any, batch: list[_Pending], n_rows: int) -> list[list[float]]:
    outputs = list(outputs)
    if len(outputs) != n_rows:
        raise BatchOutputError(f"predict_batch returned {len(outputs)} outputs for {n_rows} rows")
    parts, start = [], 0
    for item in batch:
        parts.append(outputs[start:start + len(item.rows)])
        start += len(item.rows)
    return parts


class MicroBatcher:
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
        self._carry: _Pending | None = None
        self._closed = False
        self._busy = False  # a model call is running (inline or a batch): one at a time
        self._holding = False  # the worker holds requests taken off the queue
        self._free: asyncio.Event | None = None  # set when no model call is running

    @classmethod
    def for_model(cls, model: Any, max_batch_size: int = 32, max_delay_ms: float = 0.0, **kw: Any) -> "MicroBatcher":
        """A batcher over a core ``Model`` (uses ``predict_async`` if it has one); requests
        with the wrong row width are rejected on arrival."""
        fn = getattr(model, "predict_async", None) or model.predict
        kw.setdefault("validate", _width_validator(model))
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
        rows = _as_rows(rows)
        if self.validate is not None:
            self.validate(rows)
        self._ensure_worker()
        if self._suspends and not (self._busy or self._holding or self._carry is not None or not self._queue.empty()):
            return await self._run_alone(rows)  # idle: no queue hop, a lone client pays nothing
        future = self._loop.create_future()
        await self._queue.put(_Pending(rows, future))
        return await future

    async def _run_alone(self, rows: list) -> list[float]:
        """Run one request's call in the caller's task; requests arriving meanwhile queue up."""
        self._busy = True
        self._free.clear()
        try:
            outputs = list(await self._call(rows))
        finally:
            self._busy = False
            self._free.set()
        if len(outputs) != len(rows):
            raise BatchOutputError(f"predict_batch returned {len(outputs)} outputs for {len(rows)} rows")
        self.stats.record(1, len(rows))
        return outputs

    async def _next(self, timeout: float | None) -> _Pending | None:
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
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def _admit(self, batch: list[_Pending], item: _Pending, n: int) -> int | None:
        """Add ``item`` to ``batch`` (``n`` rows so far): the new row count, or None when it does
        not fit (it is carried to the next batch). A cancelled caller's item is dropped."""
        if item.future.done():
            return n
        if n + len(item.rows) > self.max_batch_size:
            self._carry = item
            return None
        batch.append(item)
        return n + len(item.rows)

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
                    while n < self.max_batch_size and self._carry is None and not self._queue.empty():
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

    async def _run_batch(self, batch: list[_Pending], n: int) -> None:
        rows = [row for item in batch for row in item.rows]
        try:
            parts = _split(await self._call(rows), batch, n)
        except Exception as exc:  # noqa: BLE001 - handed to the callers
            self.stats.failed_batches += 1
            if len(batch) == 1:
                _settle(batch[0].future, exc=exc)
                return
            for item in batch:  # isolate: only the request that really fails gets the error
                await self._run_batch([item], len(item.rows))
            return
        self.stats.record(len(batch), n)
        for item, part in zip(batch, parts):
            _settle(item.future, result=part)

    async def close(self) -> None:
        """Stop the worker; requests still waiting get :class:`BatcherClosedError`."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        pending = [self._carry] if self._carry else []
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for item in pending:
            _settle(item.future, exc=BatcherClosedError("the batcher closed before this request ran"))
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> "MicroBatcher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _settle(future: Any, *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except Exception:  # noqa: BLE001 - a concurrent.futures future cancelled meanwhile
        pass


def _width_validator(model: Any) -> Validate | None:
    n_features = getattr(model, "n_features", None)
    if not n_features:
        return None
    from lesson.models.mlp import check_rows

    name = getattr(model, "name", "model")
    return lambda rows: check_rows(rows, n_features, name)


class ThreadedMicroBatcher:
    """The same batching for threaded servers: ``predict`` blocks the calling thread.

    The model sees one call at a time. When it is idle and nothing is queued, a request runs
    at once in its caller's thread (no hand-off, so a lone client pays nothing); requests that
    arrive meanwhile queue up and a worker thread runs them together as soon as the model is
    free. Arguments as :class:`MicroBatcher` (``predict_batch`` must be sync).
    """

    def __init__(
        self,
        predict_batch: Callable[[list], Any],
        max_batch_size: int = 32,
        max_delay_ms: float = 0.0,
        *,
        validate: Validate | None = None,
        max_queue: int = 10_000,
    ):
        check_batching_options(max_batch_size, max_delay_ms)
        if inspect.iscoroutinefunction(predict_batch):
            raise TypeError("ThreadedMicroBatcher needs a sync predict_batch; use MicroBatcher for async")
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_ms / 1000.0
        self.validate = validate
        self.stats = BatcherStats()
        self.max_queue = max_queue
        # SimpleQueue (C) rather than Queue (Python conditions): put/get on every request
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._room = threading.Lock()
        self._carry: _Pending | None = None
        self._device = threading.Lock()  # held during every model call: one at a time
        self._stats_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run_forever, name="micro-batcher", daemon=True)
        self._thread.start()

    @classmethod
    def for_model(cls, model: Any, max_batch_size: int = 32, max_delay_ms: float = 0.0, **kw: Any) -> "ThreadedMicroBatcher":
        """A batcher over a core ``Model``'s ``predict``, rejecting wrong widths on arrival."""
        kw.setdefault("validate", _width_validator(model))
        return cls(model.predict, max_batch_size, max_delay_ms, **kw)

    def predict(self, rows: Rows, timeout: float | None = None) -> list[float]:
        """Queue one request and block until its outputs are ready.

        Raises:
            whatever ``validate`` or ``predict_batch`` raised for THIS request;
            :class:`BatcherClosedError`; ``TimeoutError`` after ``timeout`` seconds (the
            request then leaves its batch, unless that batch's model call already started).
        """
        if self._closed.is_set():
            raise BatcherClosedError("the batcher is closed")
        rows = _as_rows(rows)
        if self.validate is not None:
            self.validate(rows)
        if self._carry is None and self._queue.empty() and self._device.acquire(blocking=False):
            # Idle: run in the caller's thread, no hand-off (one client pays nothing extra).
            try:
                outputs = list(self.predict_batch(rows))
                if len(outputs) != len(rows):
                    raise BatchOutputError(f"predict_batch returned {len(outputs)} outputs for {len(rows)} rows")
                self._record(1, len(rows))
                return outputs
            finally:
                self._device.release()
        future = _Waiter()
        with self._room:  # one putter at a time, so the bound holds
            while self._queue.qsize() >= self.max_queue and not self._closed.is_set():
                time.sleep(0.001)  # full: wait for room (backpressure; rare, so polled)
            self._queue.put(_Pending(rows, future))
        if self._closed.is_set():  # closed while we queued: do not wait forever
            _settle(future, exc=BatcherClosedError("the batcher is closed"))
        return future.result(timeout)

    def _next(self, timeout: float | None) -> _Pending | None:
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        try:
            if timeout is None:
                return self._queue.get()
            if timeout <= 0:
                return self._queue.get_nowait()
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _admit(self, batch: list[_Pending], item: _Pending, n: int) -> int | None:
        """Add ``item`` to ``batch`` (``n`` rows so far): the new row count, or None when it does
        not fit (it is carried to the next batch). A caller that gave up is dropped."""
        if n + len(item.rows) > self.max_batch_size:
            self._carry = item
            return None
        if item.future.set_running_or_notify_cancel():
            batch.append(item)
            return n + len(item.rows)
        return n

    def _run_forever(self) -> None:
        while not self._closed.is_set():
            first = self._next(None)
            if first is None or self._closed.is_set():
                break
            if not first.future.set_running_or_notify_cancel():
                continue
            batch, n = [first], len(first.rows)
            deadline = time.monotonic() + self.max_delay_s
            while n < self.max_batch_size:
                item = self._next(deadline - time.monotonic())
                admitted = None if item is None else self._admit(batch, item, n)
                if admitted is None:
                    break
                n = admitted
            with self._device:  # wait for an inline call to finish, then top up the batch
                while n < self.max_batch_size and self._carry is None:
                    item = self._next(0)
                    admitted = None if item is None else self._admit(batch, item, n)
                    if admitted is None:
                        break
                    n = admitted
                started = [item for item in batch if item.future.start()]  # drop callers that gave up
                if started:
                    self._run_batch(started, n if len(started) == len(batch) else sum(len(i.rows) for i in started))
        self._drain()

    def _run_batch(self, batch: list[_Pending], n: int) -> None:
        rows = [row for item in batch for row in item.rows]
        try:
            parts = _split(self.predict_batch(rows), batch, n)
        except Exception as exc:  # noqa: BLE001 - handed to the callers
            self.stats.failed_batches += 1
            if len(batch) == 1:
                _settle(batch[0].future, exc=exc)
                return
            for item in batch:
                self._run_batch([item], len(item.rows))
            return
        self._record(len(batch), n)
        for item, part in zip(batch, parts):
            _settle(item.future, result=part)

    def _record(self, n_requests: int, n_rows: int) -> None:
        with self._stats_lock:
            self.stats.record(n_requests, n_rows)

    def _drain(self) -> None:
        pending = [self._carry] if self._carry else []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                pending.append(item)
        for item in pending:
            _settle(item.future, exc=BatcherClosedError("the batcher closed before this request ran"))

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker thread; requests still waiting get :class:`BatcherClosedError`."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(None)  # wake the worker
        self._thread.join(timeout)
        self._drain()

    def __enter__(self) -> "ThreadedMicroBatcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BatchedModel:
    """A core ``Model`` whose calls are micro-batched: ``predict`` across the threads that call
    it, ``await predict_async`` across the asyncio tasks that call it.

    Drop-in for a server: register it instead of the model. A threaded server (grpcio's thread
    pool) calls ``predict``; an asyncio server (the REST app) awaits ``predict_async``, which
    batches on the event loop itself, with no thread hand-off per request (the model runs in
    the loop if it has ``predict_async``, inline or in one worker thread otherwise).
    ``name``, ``version`` and ``metadata()`` are the wrapped model's. Use one of the two paths
    per model: each has its own queue, so calls through both at once could overlap.

    Args:
        model: the model to batch.
        max_batch_size: most rows per model call.
        max_delay_ms: longest wait for more requests after the first.
        run_in_thread: ``predict_async`` only, for a model without ``predict_async``: run each
            batch in a worker thread (a slow model does not block the loop) instead of inline
            (fastest for a microsecond model). Default: inline.
    """

    one_output_per_row = True

    def __init__(self, model: Any, max_batch_size: int = 32, max_delay_ms: float = 0.0, *,
                 run_in_thread: bool = False):
        self.model = model
        self.name = model.name
        self.version = model.version
        self.n_features = getattr(model, "n_features", None)
        self.batcher = ThreadedMicroBatcher.for_model(model, max_batch_size, max_delay_ms)
        self.async_batcher = MicroBatcher.for_model(model, max_batch_size, max_delay_ms,
                                                    run_in_thread=run_in_thread and threads_available())

    def predict(self, rows: Rows) -> list[float]:
        if len(rows) == 0:
            return []
        return self.batcher.predict(rows)

    async def predict_async(self, rows: Rows) -> list[float]:
        """The same on asyncio: concurrent awaits share model calls (see :class:`MicroBatcher`)."""
        if len(rows) == 0:
            return []
        return await self.async_batcher.predict(rows)

    def metadata(self) -> Any:
        return self.model.metadata()

    @property
    def stats(self) -> BatcherStats:
        """The threaded path's counters (``async_batcher.stats`` for ``predict_async``)."""
        return self.batcher.stats

    def close(self) -> None:
        """Stop the threaded batcher (``await aclose()`` also stops the asyncio one)."""
        self.batcher.close()

    async def aclose(self) -> None:
        self.batcher.close()
        await self.async_batcher.close()

    def __repr__(self) -> str:
        return (f"BatchedModel({self.model!r}, max_batch_size={self.batcher.max_batch_size}, "
                f"max_delay_ms={self.batcher.max_delay_s * 1e3:g})")
