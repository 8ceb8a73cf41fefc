"""The threaded micro-batcher: blocking ``predict(rows)`` calls from many threads share one model call.

grpcio's thread-pool server and sync routes use it. Standard library only.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from lesson.patterns.microbatching.common import (
    BATCH_TIMING,
    BatcherClosedError,
    BatcherStats,
    BatchOutputError,
    Collector,
    Pending,
    Rows,
    Validate,
    Waiter,
    as_rows,
    check_batching_options,
    note_call,
    settle,
    split_outputs,
    width_validator,
)

__all__ = ["ThreadedMicroBatcher"]


class ThreadedMicroBatcher(Collector):
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
            raise TypeError(
                "ThreadedMicroBatcher needs a sync predict_batch; use MicroBatcher for async"
            )
        self.predict_batch = predict_batch
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_ms / 1000.0
        self.validate = validate
        self.stats = BatcherStats()
        self.max_queue = max_queue
        # SimpleQueue (C) rather than Queue (Python conditions): put/get on every request
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._room = threading.Lock()
        self._carry: Pending | None = None
        self._device = threading.Lock()  # held during every model call: one at a time
        self._stats_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run_forever, name="micro-batcher", daemon=True)
        self._thread.start()

    @classmethod
    def for_model(
        cls, model: Any, max_batch_size: int = 32, max_delay_ms: float = 0.0, **kw: Any
    ) -> ThreadedMicroBatcher:
        """A batcher over a core ``Model``'s ``predict``, rejecting wrong widths on arrival."""
        kw.setdefault("validate", width_validator(model))
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
        rows = as_rows(rows)
        if self.validate is not None:
            self.validate(rows)
        if self._carry is None and self._queue.empty() and self._device.acquire(blocking=False):
            # Idle: run in the caller's thread, no hand-off (one client pays nothing extra).
            timing = BATCH_TIMING.get()
            try:
                started = time.time_ns() if timing is not None else 0
                outputs = list(self.predict_batch(rows))
                if timing is not None:
                    timing.extend((started, time.time_ns(), 1))
                if len(outputs) != len(rows):
                    raise BatchOutputError(
                        f"predict_batch returned {len(outputs)} outputs for {len(rows)} rows"
                    )
                self._record(1, len(rows))
                return outputs
            finally:
                self._device.release()
        future = Waiter()
        with self._room:  # one putter at a time, so the bound holds
            while self._queue.qsize() >= self.max_queue and not self._closed.is_set():
                time.sleep(0.001)  # full: wait for room (backpressure; rare, so polled)
            self._queue.put(Pending(rows, future, BATCH_TIMING.get()))
        if self._closed.is_set():  # closed while we queued: do not wait forever
            settle(future, exc=BatcherClosedError("the batcher is closed"))
        return future.result(timeout)

    def _next(self, timeout: float | None) -> Pending | None:
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

    def claim(self, item: Pending) -> bool:
        """A caller that gave up waiting is dropped from the batch."""
        return item.future.set_running_or_notify_cancel()

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
                started = [
                    item for item in batch if item.future.start()
                ]  # drop callers that gave up
                if started:
                    self._run_batch(
                        started,
                        n if len(started) == len(batch) else sum(len(i.rows) for i in started),
                    )
        self._drain()

    def _run_batch(self, batch: list[Pending], n: int) -> None:
        rows = [row for item in batch for row in item.rows]
        try:
            started = time.time_ns()
            outputs = self.predict_batch(rows)
            note_call(batch, started, time.time_ns())
            parts = split_outputs(outputs, batch, n)
        except Exception as exc:  # handed to the callers
            self.stats.failed_batches += 1
            if len(batch) == 1:
                settle(batch[0].future, exc=exc)
                return
            for item in batch:
                self._run_batch([item], len(item.rows))
            return
        self._record(len(batch), n)
        for item, part in zip(batch, parts):
            settle(item.future, result=part)

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
            settle(
                item.future, exc=BatcherClosedError("the batcher closed before this request ran")
            )

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker thread; requests still waiting get :class:`BatcherClosedError`."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(None)  # wake the worker
        self._thread.join(timeout)
        self._drain()

    def __enter__(self) -> ThreadedMicroBatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
