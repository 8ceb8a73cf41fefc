"""What every REST route runs with: the app's `RestState` and the guard around inference.

`RestState` holds the `InferenceBackend`, the Prometheus metrics and the `Runner` that calls
the model; `RestState.guarded` wraps one inference request in load shedding, draining,
metrics and the error mapping. A route finds it with ``state_of(request)`` (``app.state.rest``);
not a FastAPI dependency (``Depends``), which measured ~10 µs more per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar

from fastapi import Path, Request
from fastapi.responses import Response

from lesson.servers.backend import InferenceBackend
from lesson.servers.errors import OverloadedError, RequestTimeoutError, classify
from lesson.servers.metrics import ServerMetrics
from lesson.servers.rest.http import error

__all__ = ["ModelName", "ModelVersion", "RestState", "Runner", "state_of"]

T = TypeVar("T")

ModelName = Annotated[
    str, Path(description="A registered model's name.", examples=["averaged_ensemble"])
]
ModelVersion = Annotated[str, Path(description="A version of that model.", examples=["1"])]


class Runner:
    """Runs the model inline (fast) or in a thread pool with a real timeout (`offload`), or
    awaits it on the event loop (micro-batching, `run_async`)."""

    def __init__(self, backend: InferenceBackend) -> None:
        options = backend.options
        self.timeout_s = options.timeout_s
        # batching through a sync hook (`predict_fn`) makes requests wait for each other: threads
        self.offload = options.offload or (
            options.max_batch_size is not None and not backend.async_batching
        )
        self.pool = (
            ThreadPoolExecutor(max_workers=options.max_in_flight, thread_name_prefix="lesson-model")
            if self.offload
            else None
        )

    def _late(self) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"request took longer than the server's {self.timeout_s} s timeout"
        )

    async def run(self, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        if self.pool is None:
            result = fn()
        else:
            loop = asyncio.get_running_loop()
            try:
                result = await asyncio.wait_for(loop.run_in_executor(self.pool, fn), self.timeout_s)
            except TimeoutError:
                raise self._late() from None
        if time.perf_counter() - started > self.timeout_s:  # inline: the answer is late, drop it
            raise self._late()
        return result

    async def run_async(self, work: Awaitable[T]) -> T:
        """Await `work` on the loop (micro-batched requests wait there, not in threads)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await work
        except TimeoutError:
            raise self._late() from None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


class RestState:
    """One app's server state: backend, metrics, model runner and body bound (``app.state.rest``)."""

    def __init__(self, backend: InferenceBackend) -> None:
        self.backend = backend
        self.metrics = ServerMetrics("rest")
        self.runner = Runner(backend)
        self.limit = backend.limits.max_body_bytes  # bytes a request body may have

    def observe(self, route: str, name: str | None, status: int, started: float) -> None:
        """Count one request in the metrics (`name` becomes a bounded model label)."""
        self.metrics.observe(
            route, self.backend.model_label(name), status, time.perf_counter() - started
        )

    async def call_model(self, sync: Callable[[], T], on_loop: Callable[[], Awaitable[T]]) -> T:
        """The backend's answer: `on_loop()` awaited when it micro-batches on the event loop,
        else `sync()` through the runner (inline or in a worker thread)."""
        if self.backend.async_batching:
            return await self.runner.run_async(on_loop())
        return await self.runner.run(sync)

    async def guarded(
        self,
        route: str,
        name: str | None,
        work: Callable[[], Awaitable[Response]],
        *,
        v1: bool = False,
    ) -> Response:
        """Shed, drain, count and map errors around one inference request."""
        backend, in_flight = self.backend, self.metrics.in_flight_gauge
        started = time.perf_counter()
        status = 500
        try:
            backend.check_serving()
            if not backend.try_acquire():
                raise OverloadedError(backend.overload_message())
            in_flight.inc()
            try:
                response = await work()
            finally:
                in_flight.dec()
                backend.release()
            status = response.status_code
            return response
        except Exception as exc:  # every failure becomes a typed answer, never a bare 500
            info = classify(exc, v1=v1)
            status = info.http_status
            headers = {"Retry-After": "1"} if status == 503 else None
            extra = {"detail": exc.errors} if v1 and hasattr(exc, "errors") else {}
            return error(status, info.message, headers, **extra)
        finally:
            self.observe(route, name, status, started)


def state_of(request: Request) -> RestState:
    """The app's `RestState` (``app.state.rest``, set by `create_app`)."""
    return request.app.state.rest
