"""What a server serves, and with which knobs: `ServerOptions` and the service they ask for.

`serving_service(service, options)` is the one place the options shape the core
`PredictionService`: the registry to load (`--registry`), the default model (`--model`) and
micro-batching (`batched_service`, `--max-batch-size/--max-delay-ms`), which wraps every
model in `lesson.patterns.microbatching.BatchedModel` and leaves the service's code path alone.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, fields
from typing import Any

from lesson.core.model import ModelRegistry
from lesson.core.schema import DEFAULT_LIMITS, Limits
from lesson.core.service import PredictionService

__all__ = [
    "DEFAULT_SERVER_REGISTRY",
    "ServerOptions",
    "batched_service",
    "load_registry",
    "serving_service",
]


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
        debug_routes: REST: ``/debug/fault`` (inject errors), ``/debug/timings`` (raw
            latencies) and ``/debug/spans`` for the observability lesson; gRPC:
            ``/debug/spans`` on the ``metrics_port``; never on a server others use.
        trace_ratio: OpenTelemetry traces, sampling this share of the requests that arrive
            without a sampled ``traceparent`` (``lesson.servers.tracing``); None (the
            default): off, and the OpenTelemetry SDK not imported.
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
    debug_routes: bool = False
    trace_ratio: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_in_flight <= 100_000:
            raise ValueError(f"max_in_flight must be in 1..100000, got {self.max_in_flight}")
        if not 0 < self.timeout_s <= 3600:
            raise ValueError(f"timeout_s must be in (0, 3600], got {self.timeout_s}")
        if not 0 <= self.drain_grace_s <= 600:
            raise ValueError(f"drain_grace_s must be in [0, 600], got {self.drain_grace_s}")
        if self.trace_ratio is not None and not 0 <= self.trace_ratio <= 1:
            raise ValueError(f"trace_ratio must be in [0, 1], got {self.trace_ratio}")
        if self.workers is not None and not 1 <= self.workers <= 256:
            raise ValueError(f"workers must be in 1..256, got {self.workers}")

    @property
    def limits(self) -> Limits:
        return Limits(self.max_instances, self.max_features, self.max_body_bytes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerOptions:
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
    """The service with every model micro-batched (issue 5's `lesson.patterns.microbatching.BatchedModel`).

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
        raise ValueError(
            f"micro-batching rebuilds the service from its registry, so a custom "
            f"{type(service).__name__} cannot be batched; serve it without "
            f"max_batch_size, or batch inside its models"
        )
    from lesson.patterns.microbatching import BatchedModel, check_batching_options

    delay = 0.0 if options.max_delay_ms is None else options.max_delay_ms
    check_batching_options(options.max_batch_size, delay)
    registry = ModelRegistry()
    default = service.registry.default_name
    for meta in service.registry.list():
        model = service.registry.get(meta.name, meta.version)
        registry.register(
            BatchedModel(model, options.max_batch_size, delay, run_in_thread=options.offload),
            default=meta.name == default,
        )
    return PredictionService(registry, service.limits)


def serving_service(service: PredictionService | None, options: ServerOptions) -> PredictionService:
    """The service a server runs: ``service`` (default: one over `options.registry`), with
    `options.model` as its default model and micro-batched when the options ask for it."""
    if service is None:
        service = PredictionService(load_registry(options.registry), options.limits)
    if options.model is not None:
        registry = service.registry
        registry.register(registry.get(options.model), default=True)
    return batched_service(service, options)
