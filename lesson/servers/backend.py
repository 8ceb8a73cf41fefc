"""What the REST and gRPC servers share: one service, readiness, load shedding, V2 tensors.

Both transports are thin: they decode the wire format, call an `InferenceBackend`, and
encode its answer. The backend calls the core `PredictionService` (one prediction code path
for every transport), keeps the server's state (live, ready after warm-up, draining), and
bounds the number of requests in flight (load shedding instead of an unbounded queue).

Micro-batching: `ServerOptions.max_batch_size` / `max_delay_ms` wrap every model in issue 5's
`lesson.patterns.batching.BatchedModel` (see `batched_service`); any other strategy plugs in through
`predict_fn`, a callable with the signature of `PredictionService.predict_rows(rows, *,
model=None, version=None) -> (predictions, model)`.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Sequence

from lesson.core.model import Model, ModelRegistry
from lesson.core.schema import DEFAULT_LIMITS, Limits, parse_v1_request
from lesson.servers.errors import DrainingError, NotReadyError
from lesson.core.service import PredictionService
from lesson.core.service import _check_outputs as check_outputs  # the core's output contract check
from lesson.core.v2 import InferRequest, OutputTensor, TensorBounds, request_rows, select_outputs

log = logging.getLogger("lesson.servers")

SERVER_NAME = "lesson"
SERVER_VERSION = "0.1.0"
EXTENSIONS = ["binary_tensor_data", "model_repository"]

PredictFn = Callable[..., tuple[list[float], Model]]


@dataclass
class ServerOptions:
    """Knobs shared by both servers (CLI flags and `running_server(**options)` map onto them).

    Attributes:
        max_in_flight: inference requests served at once; more are refused (HTTP 503 /
            RESOURCE_EXHAUSTED) rather than queued without bound.
        timeout_s: per-request timeout (HTTP 504 / DEADLINE_EXCEEDED).
        offload: REST only: run the model in a worker thread (real timeouts, a slow model
            does not block the event loop) instead of inline (faster for microsecond models).
        warmup: run every model once before reporting ready.
        drain_grace_s: on SIGTERM/SIGINT, report not-ready and refuse new inference for this
            long before closing the listener (lets a load balancer notice).
        max_batch_size, max_delay_ms: micro-batching (issue 5); see `batched_service`.
        max_instances, max_features, max_body_bytes: request bounds (the core's `Limits`).
        workers: REST: uvicorn processes (default 1); gRPC: threads in the server's pool
            (default 8).
        registry: "module:attribute" naming a `ModelRegistry` (or a function returning one).
        model: the default model's name (must be registered).
        metrics_port: gRPC only: serve Prometheus metrics over HTTP on this port (REST
            serves them at /metrics).
    """

    max_in_flight: int = 64
    timeout_s: float = 10.0
    offload: bool = False
    warmup: bool = True
    drain_grace_s: float = 0.0
    max_batch_size: int | None = None
    max_delay_ms: float | None = None
    max_instances: int = DEFAULT_LIMITS.max_instances
    max_features: int = DEFAULT_LIMITS.max_features
    max_body_bytes: int = DEFAULT_LIMITS.max_body_bytes
    workers: int | None = None
    registry: str | None = None
    model: str | None = None
    metrics_port: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_in_flight <= 100_000:
            raise ValueError(f"max_in_flight must be in 1..100000, got {self.max_in_flight}")
        if not 0 < self.timeout_s <= 3600:
            raise ValueError(f"timeout_s must be in (0, 3600], got {self.timeout_s}")
        if not 0 <= self.drain_grace_s <= 600:
            raise ValueError(f"drain_grace_s must be in [0, 600], got {self.drain_grace_s}")
        if self.workers is not None and not 1 <= self.workers <= 256:
            raise ValueError(f"workers must be in 1..256, got {self.workers}")

    @property
    def limits(self) -> Limits:
        return Limits(self.max_instances, self.max_features, self.max_body_bytes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ServerOptions":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TypeError(f"unknown server option(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


#: What the servers serve when no ``--registry`` is given: the real model (``diabetes-mlp``,
#: numpy) by default, plus ``diabetes-mlp-int8``, ``diabetes-mlp-simulated-accelerator`` and
#: the original toy ``averaged_ensemble``, each by name.
DEFAULT_SERVER_REGISTRY = "lesson.models.mlp_numpy:serving_registry"


def load_registry(spec: str | None) -> ModelRegistry:
    """The registry named by "module:attribute" (a registry or a function returning one).

    ``None`` (or "") gives :data:`DEFAULT_SERVER_REGISTRY`, the real model's registry. (The
    core's ``lesson.core.model.default_registry()``, the toy alone, is unchanged.)
    """
    if not spec:
        spec = DEFAULT_SERVER_REGISTRY
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"registry must look like 'package.module:attribute', got {spec!r}")
    obj = getattr(importlib.import_module(module_name), attr)
    registry = obj() if callable(obj) and not isinstance(obj, ModelRegistry) else obj
    if not isinstance(registry, ModelRegistry):
        raise TypeError(f"{spec} gave {type(registry).__name__}, expected a ModelRegistry")
    return registry


def batched_service(service: PredictionService, options: ServerOptions) -> PredictionService:
    """The service with every model micro-batched (issue 5's `lesson.patterns.batching.BatchedModel`).

    Unchanged unless `options.max_batch_size` is set. The gRPC server's threads call
    `BatchedModel.predict` (a threaded batcher); the REST server awaits
    `BatchedModel.predict_async` on its event loop (`InferenceBackend.async_batching`), so a
    request costs no thread hand-off (`offload` then decides only whether a model without
    `predict_async` runs each batch in a worker thread).
    """
    if options.max_batch_size is None:
        return service
    if type(service) is not PredictionService:
        # The batched service is rebuilt from the registry and limits alone: a subclass's own
        # request handling (e.g. `lesson.teaching.evolution.VersionedService` contracts) would be lost.
        raise ValueError(f"micro-batching rebuilds the service from its registry, so a custom "
                         f"{type(service).__name__} cannot be batched; serve it without "
                         f"max_batch_size, or batch inside its models")
    from lesson.patterns.batching import BatchedModel, check_batching_options

    delay = 0.0 if options.max_delay_ms is None else options.max_delay_ms
    check_batching_options(options.max_batch_size, delay)
    registry = ModelRegistry()
    default = service.registry.default_name
    for meta in service.registry.list():
        model = service.registry.get(meta.name, meta.version)
        registry.register(BatchedModel(model, options.max_batch_size, delay, run_in_thread=options.offload),
                          default=meta.name == default)
    return PredictionService(registry, service.limits)


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
        if service is None:
            registry = load_registry(self.options.registry)
            service = PredictionService(registry, self.options.limits)
        if self.options.model is not None:
            registry = service.registry
            registry.register(registry.get(self.options.model), default=True)
        service = batched_service(service, self.options)
        self.service = service
        self.registry = service.registry
        self.limits = service.limits
        self.bounds = TensorBounds.from_limits(service.limits)
        self.predict_rows: PredictFn = predict_fn or service.predict_rows
        #: an asyncio server may await `predict_v1_async` / `infer_async` (micro-batching on
        #: its event loop); False: call the sync methods (in a thread if they may block).
        self.async_batching = predict_fn is None and self.options.max_batch_size is not None
        self.state = ServerState()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._output_names: dict[tuple[str, str], str] = {}

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
            raise NotReadyError(f"server is not ready yet ({reason}); retry when /v2/health/ready says so")

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

    def model_ready(self, name: str, version: str | None = None) -> bool:
        self.resolve(name, version)
        return self.ready

    def repository_index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """Every served model version, the default model first."""
        state = "READY" if self.ready else "UNAVAILABLE"
        reason = "" if self.ready else ("draining" if self.draining else "warming up")
        metas = sorted(self.registry.list(), key=lambda m: m.name != self.registry.default_name)
        entries = [{"name": m.name, "version": m.version, "state": state, "reason": reason} for m in metas]
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
    def infer(self, request: InferRequest, name: str | None, version: str | None = None) -> InferResult:
        """Run a parsed V2 request. Raises V2Error, ModelNotFoundError, ModelOutputError."""
        started = time.perf_counter()
        self.resolve(name, version)  # unknown model -> 404 before any work
        rows = request_rows(request, self.bounds)
        predictions, model = self.predict_rows(rows, model=name or None, version=version or None)
        tensor = OutputTensor(self.output_name(model), [len(predictions)], predictions)
        outputs = select_outputs(request, [tensor])
        return InferResult(model, outputs, (time.perf_counter() - started) * 1000.0)

    def predict_v1(self, payload: Any, name: str | None, version: str | None, transport: str) -> dict[str, Any]:
        """The original lesson's V1 route, through the same service."""
        if self.predict_rows == self.service.predict_rows:  # bound methods: equal, never identical
            return self.service.predict(payload, model=name, version=version, transport=transport)
        hooked = _HookedService(self.service, self.predict_rows)
        return hooked.predict(payload, model=name, version=version, transport=transport)


    # ------------------------------------------------------------ inference on asyncio (batching)
    async def predict_rows_async(self, rows: Sequence[Sequence[float]], *, model: str | None = None,
                                 version: str | None = None) -> tuple[list[float], Model]:
        """`predict_rows` for an event loop: awaits the model's `predict_async` when it has one
        (a `BatchedModel` does), else calls `predict` inline."""
        chosen = self.registry.get(model, version)
        predict_async = getattr(chosen, "predict_async", None)
        outputs = await predict_async(rows) if predict_async is not None else chosen.predict(rows)
        return check_outputs(outputs, chosen, len(rows)), chosen

    async def infer_async(self, request: InferRequest, name: str | None, version: str | None = None) -> InferResult:
        """`infer` on the event loop (see `predict_rows_async`)."""
        started = time.perf_counter()
        self.resolve(name, version)
        rows = request_rows(request, self.bounds)
        predictions, model = await self.predict_rows_async(rows, model=name or None, version=version or None)
        tensor = OutputTensor(self.output_name(model), [len(predictions)], predictions)
        return InferResult(model, select_outputs(request, [tensor]), (time.perf_counter() - started) * 1000.0)

    async def predict_v1_async(self, payload: Any, name: str | None, version: str | None, transport: str) -> dict[str, Any]:
        """`predict_v1` on the event loop: the same validation and response as the core service."""
        started = time.perf_counter()
        request = parse_v1_request(payload, self.limits)
        predictions, chosen = await self.predict_rows_async(request.rows, model=name, version=version)
        return {"predictions": predictions, "metadata": {
            "transport": transport, "model": chosen.name, "model_version": chosen.version,
            "latency_ms": round((time.perf_counter() - started) * 1000.0, 4)}}


class _HookedService(PredictionService):
    """The core service with `predict_rows` routed through an injected function."""

    def __init__(self, service: PredictionService, predict_fn: PredictFn) -> None:
        super().__init__(service.registry, service.limits)
        self._predict_fn = predict_fn

    def predict_rows(self, rows: Sequence[Sequence[float]], *, model=None, version=None):
        return self._predict_fn(rows, model=model, version=version)
