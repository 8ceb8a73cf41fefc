"""What the REST and gRPC servers share: one service, readiness, load shedding, V2 tensors.

Both transports are thin: they decode the wire format, call an `InferenceBackend`, and
encode its answer. The backend calls the core `PredictionService` (one prediction code path
for every transport), keeps the server's state (live, ready after warm-up, draining), and
bounds the number of requests in flight (load shedding instead of an unbounded queue).

What to serve and the knobs (`ServerOptions`, `load_registry`, `batched_service`) live in
`lesson.servers.options` and are re-exported here.

Micro-batching: `ServerOptions.max_batch_size` / `max_delay_ms` wrap every model in issue 5's
`lesson.patterns.microbatching.BatchedModel` (see `batched_service`); any other strategy plugs in through
`predict_fn`, a callable with the signature of `PredictionService.predict_rows(rows, *,
model=None, version=None) -> (predictions, model)`. V1 requests hand it to the service's
`predict` as `score_rows`, so reading the request and the response stay the service's.

Two ways in: the gRPC server (a thread pool) calls `predict_v1` / `infer`; the REST server (an
event loop) awaits `predict_v1_async` / `infer_async`, whose `score` runs the model inline,
in a thread pool (`offload`) or through the micro-batcher, within the server's timeout.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from lesson.core.model import Model
from lesson.core.service import PredictionService, ScoreRows
from lesson.core.service import _check_outputs as check_outputs  # the core's output contract check
from lesson.core.v2 import InferRequest, OutputTensor, model_config, request_rows, select_outputs
from lesson.servers.errors import DrainingError, NotReadyError, RequestTimeoutError
from lesson.servers.options import (
    DEFAULT_SERVER_REGISTRY,
    ServerOptions,
    batched_service,
    load_registry,
    serving_service,
)

__all__ = [
    "DEFAULT_SERVER_REGISTRY",
    "InferResult",
    "InferenceBackend",
    "PredictFn",
    "ServerOptions",
    "ServerState",
    "batched_service",
    "load_registry",
]

log = logging.getLogger("lesson.servers")

SERVER_NAME = "lesson"
SERVER_VERSION = "0.1.0"
EXTENSIONS = ["binary_tensor_data", "model_repository", "model_configuration"]

#: a replacement for `PredictionService.predict_rows` (the service's `score_rows`)
PredictFn = ScoreRows


@dataclass
class InferResult:
    model: Model
    outputs: list[tuple[OutputTensor, bool]]
    latency_ms: float


@dataclass
class ServerState:
    ready: threading.Event = field(default_factory=threading.Event)
    draining: bool = False
    warmup_error: str | None = None
    warmup_seconds: float | None = None


class InferenceBackend:
    """The transport-independent server: service + state + bounds.

    Args:
        service: the core service (default: one over `options.registry`, else the real
            model's registry, `DEFAULT_SERVER_REGISTRY`).
        options: server options.
        predict_fn: replaces `service.predict_rows` (micro-batching hook).
    """

    def __init__(
        self,
        service: PredictionService | None = None,
        options: ServerOptions | None = None,
        predict_fn: PredictFn | None = None,
    ) -> None:
        self.options = options or ServerOptions()
        service = serving_service(service, self.options)
        self.service = service
        self.registry = service.registry
        self.limits = service.limits
        self.predict_rows: PredictFn = predict_fn or service.predict_rows
        #: micro-batching on an event loop: `score` awaits the batcher (REST's `*_async` methods)
        self.async_batching = predict_fn is None and self.options.max_batch_size is not None
        #: `score` runs the model in a thread pool: asked for, or batching through a sync hook
        #: (`predict_fn`), where requests wait for each other
        self.offload = self.options.offload or (
            self.options.max_batch_size is not None and not self.async_batching
        )
        self._pool: ThreadPoolExecutor | None = None
        self.state = ServerState()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._output_names: dict[tuple[str, str], str] = {}
        #: `lesson.clients.tracing.Tracing` when traced (`score`/`predict_rows` then wrapped)
        self.tracing: Any = None
        if self.options.trace_ratio is not None:
            from lesson.servers.tracing import trace_backend

            self.tracing = trace_backend(self, self.options.trace_ratio)

    # ------------------------------------------------------------ state
    @property
    def live(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return self.state.ready.is_set() and not self.state.draining

    @property
    def draining(self) -> bool:
        return self.state.draining

    def start_draining(self) -> None:
        """Turn ready off and refuse new inference; in-flight requests finish."""
        self.state.draining = True

    def check_serving(self) -> None:
        """Raise DrainingError / NotReadyError unless inference may run now."""
        if self.state.draining:
            raise DrainingError("server is draining (shutting down); retry on another replica")
        if not self.state.ready.is_set():
            reason = self.state.warmup_error or "warming up"
            raise NotReadyError(
                f"server is not ready yet ({reason}); retry when /v2/health/ready says so"
            )

    def warm_up(self) -> None:
        """Run every registered model once on zeros, then report ready."""
        started = time.perf_counter()
        try:
            if self.options.warmup:
                for meta in self.registry.list():
                    width = meta.n_features or 4
                    self.predict_rows([[0.0] * width], model=meta.name, version=meta.version)
        except Exception as exc:  # a model that cannot warm up keeps the server not-ready
            self.state.warmup_error = f"{type(exc).__name__}: {exc}"
            log.error("warm-up failed: %s", self.state.warmup_error)
            return
        self.state.warmup_seconds = time.perf_counter() - started
        self.state.ready.set()

    def start_warm_up(self) -> threading.Thread:
        thread = threading.Thread(target=self.warm_up, name="lesson-warm-up", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------ load shedding
    def try_acquire(self) -> bool:
        """Reserve an in-flight slot; False means shed this request."""
        with self._lock:
            if self._in_flight >= self.options.max_in_flight:
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def overload_message(self) -> str:
        return (
            f"server overloaded: {self.options.max_in_flight} requests already in flight "
            "(the bound); retry later"
        )

    # ------------------------------------------------------------ metadata
    def resolve(self, name: str | None, version: str | None = None) -> Model:
        """The model, or `ModelNotFoundError` naming the known ones."""
        return self.registry.get(name or None, version or None)

    def model_label(self, name: str | None) -> str:
        """A bounded metrics label: a registered name, or '-'."""
        if name is None:
            return self.registry.default_name or "-"
        return name if name in self.registry else "-"

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)}

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        """V2 model metadata: name, versions, platform, inputs, outputs."""
        model = self.resolve(name, version)
        meta = model.metadata()
        versions = [m.version for m in self.registry.list() if m.name == model.name]
        return {
            "name": meta.name,
            "versions": versions,
            "platform": meta.platform,
            "inputs": [dict(t) for t in meta.inputs],
            "outputs": [dict(t) for t in meta.outputs],
        }

    def model_config(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The model's configuration as Triton's extension gives it (what perf_analyzer reads)."""
        meta = self.resolve(name, version).metadata()
        return model_config(
            meta.name,
            meta.platform,
            list(meta.inputs),
            list(meta.outputs),
            self.limits.max_instances,
        )

    def model_ready(self, name: str, version: str | None = None) -> bool:
        self.resolve(name, version)
        return self.ready

    def repository_index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """Every served model version, the default model first."""
        state = "READY" if self.ready else "UNAVAILABLE"
        reason = "" if self.ready else ("draining" if self.draining else "warming up")
        metas = sorted(self.registry.list(), key=lambda m: m.name != self.registry.default_name)
        entries = [
            {"name": m.name, "version": m.version, "state": state, "reason": reason} for m in metas
        ]
        return [e for e in entries if e["state"] == "READY"] if ready_only else entries

    def output_name(self, model: Model) -> str:
        """The name of the model's (single) output tensor, from its metadata (cached)."""
        key = (model.name, model.version)
        name = self._output_names.get(key)
        if name is None:
            names = [t.get("name") for t in model.metadata().outputs if t.get("name")]
            name = self._output_names[key] = names[0] if names else "output__0"
        return name

    # ------------------------------------------------------------ inference
    def infer(
        self, request: InferRequest, name: str | None, version: str | None = None
    ) -> InferResult:
        """Run a parsed V2 request. Raises V2Error, ModelNotFoundError, ModelOutputError."""
        started = time.perf_counter()
        self.resolve(name, version)  # unknown model -> 404 before any work
        rows = request_rows(request, self.limits)
        predictions, model = self.predict_rows(rows, model=name or None, version=version or None)
        tensor = OutputTensor(self.output_name(model), [len(predictions)], predictions)
        outputs = select_outputs(request, [tensor])
        return InferResult(model, outputs, (time.perf_counter() - started) * 1000.0)

    def predict_v1(
        self, payload: Any, name: str | None, version: str | None, transport: str
    ) -> dict[str, Any]:
        """The original lesson's V1 route: the service's `predict`, scored by `predict_rows`."""
        return self.service.predict(
            payload, model=name, version=version, transport=transport, score_rows=self.predict_rows
        )

    # ------------------------------------------------------------ inference on an event loop (REST)
    async def predict_v1_async(
        self, payload: Any, name: str | None, version: str | None, transport: str
    ) -> dict[str, Any]:
        """`predict_v1` for an event loop: the service's own steps (`read_request`, then
        `respond`) around an awaited `score`."""
        started = time.perf_counter()
        request = self.service.read_request(payload, model=name, version=version)
        predictions, chosen = await self.score(
            request.rows, model=request.model, version=request.version
        )
        return self.service.respond(
            request, predictions, chosen, started=started, transport=transport
        )

    async def infer_async(
        self, request: InferRequest, name: str | None, version: str | None = None
    ) -> InferResult:
        """`infer` for an event loop (the rows scored by an awaited `score`)."""
        started = time.perf_counter()
        self.resolve(name, version)  # unknown model -> 404 before any work
        rows = request_rows(request, self.limits)
        predictions, model = await self.score(rows, model=name or None, version=version or None)
        tensor = OutputTensor(self.output_name(model), [len(predictions)], predictions)
        return InferResult(
            model, select_outputs(request, [tensor]), (time.perf_counter() - started) * 1000.0
        )

    async def score(
        self,
        rows: Sequence[Sequence[float]],
        *,
        model: str | None = None,
        version: str | None = None,
    ) -> tuple[list[float], Model]:
        """`predict_rows` from an event loop, within the server's timeout (`RequestTimeoutError`).

        Three ways, fixed by the options: micro-batching awaits the model's `predict_async` on
        the loop (requests wait in the batcher, not in threads); `offload` (or a sync batching
        hook, where requests wait for each other) runs it in a thread pool with a real
        timeout; otherwise inline, the fastest, and a late answer is dropped.
        """
        timeout_s = self.options.timeout_s
        if self.async_batching:
            try:
                async with asyncio.timeout(timeout_s):
                    return await self.predict_rows_async(rows, model=model, version=version)
            except TimeoutError:
                raise self._late() from None
        if self.offload:  # in the request's context (a trace's current span goes with it)
            call = partial(self.predict_rows, rows, model=model, version=version)
            running = asyncio.get_running_loop().run_in_executor(
                self._executor(), contextvars.copy_context().run, call
            )
            try:
                return await asyncio.wait_for(running, timeout_s)
            except TimeoutError:
                raise self._late() from None
        started = time.perf_counter()
        result = self.predict_rows(rows, model=model, version=version)
        if time.perf_counter() - started > timeout_s:  # inline: the answer is late, drop it
            raise self._late()
        return result

    async def predict_rows_async(
        self,
        rows: Sequence[Sequence[float]],
        *,
        model: str | None = None,
        version: str | None = None,
    ) -> tuple[list[float], Model]:
        """`predict_rows` for micro-batching on an event loop: awaits the model's
        `predict_async` when it has one (a `BatchedModel` does), else calls `predict` inline."""
        chosen = self.registry.get(model, version)
        predict_async = getattr(chosen, "predict_async", None)
        outputs = await predict_async(rows) if predict_async is not None else chosen.predict(rows)
        return check_outputs(outputs, chosen, len(rows)), chosen

    def _late(self) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"request took longer than the server's {self.options.timeout_s} s timeout"
        )

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.options.max_in_flight, thread_name_prefix="lesson-model"
            )
        return self._pool

    def close(self) -> None:
        """Stop the model threads (`offload`), cancelling queued work; made again if needed."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
