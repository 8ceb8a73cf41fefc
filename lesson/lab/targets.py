"""The load-test targets a notebook offers: the in-process patterns, batching, edge, real servers.

Each :class:`~lesson.widgets.targets.Target` names an endpoint the harness can call. In the
browser they are the core adapters called in-process; beside real servers the REST and gRPC
targets are the real clients over loopback (:func:`server_target`). Standard library at import.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from lesson.core.model import Model
from lesson.core.schema import parse_v1_request
from lesson.core.service import PredictionService
from lesson.original_api import (
    batch_scoring_runner,
    edge_inference_adapter,
    fastapi_rest_adapter,
    grpc_streaming_adapter,
)
from lesson.patterns.streaming.events import event_stream_adapter
from lesson.widgets.targets import Knob, Target

__all__ = [
    "in_process_targets",
    "batching_target",
    "edge_targets",
    "accelerator_registry",
    "server_target",
    "MicroBatchedEndpoint",
    "default_model",
    "example_rows",
    "model_width",
    "PerThreadClient",
]


class _StreamSession:
    """One long-lived bidirectional stream through ``grpc_streaming_adapter``, one message per call.

    Messages on one stream are answered in order, so calls are serialised with a lock (as on a
    real stream); open several sessions for parallel streams.
    """

    def __init__(self, handler: Callable[[Iterable[Any]], Any]):
        self._handler = handler
        self._pending: Any = None
        self._lock = threading.Lock()
        self._responses = handler(self._requests())

    def _requests(self) -> Any:
        while True:
            yield self._pending

    def __call__(self, payload: Any) -> Any:
        with self._lock:
            self._pending = payload
            try:
                return next(self._responses)
            except Exception:
                # A failed message ends a gRPC stream: open a new one for the next call.
                self._responses = self._handler(self._requests())
                raise


def _stream_endpoint(model: Model) -> Callable[[Any], Any]:
    return _StreamSession(grpc_streaming_adapter(model))


def _batch_endpoint(model: Model) -> Callable[[Any], Any]:
    def score(payload: dict[str, Any]) -> dict[str, Any]:
        return batch_scoring_runner(model, [payload["instances"]])[0]

    return score


def model_width(model: Model, default: int = 4) -> int:
    try:
        width = model.metadata().n_features
    except Exception:  # a model without metadata still works
        width = None
    return int(width) if width else default


def _service_endpoint(model: Model) -> Callable[[Any], Any]:
    service = PredictionService.for_model(model)

    def call(payload: Any) -> Any:
        return service.predict(payload, transport="in-process")

    return call


def _event_endpoint(model: Model) -> Callable[[Any], Any]:
    adapter = event_stream_adapter(model, on_error="raise")
    sequence = itertools.count()

    def score(payload: dict[str, Any]) -> Any:
        n = next(sequence)
        return adapter.process({"id": f"event-{n}", "key": f"user-{n % 8}", **payload}, n)

    return score


def default_model() -> Model:
    """The lab's default model: the real ``diabetes-mlp`` in pure Python (``lesson.models.mlp``).

    Standard library only, so it answers in the browser too; the servers' default is the
    same artifact run by numpy (``lesson.models.mlp_numpy``), equal within 1e-6.
    """
    from lesson.models.mlp import load_default_mlp

    return load_default_mlp()


def example_rows(model: Model | None = None) -> list[list[float]] | None:
    """Realistic input rows for a model: the held-out rows shipped in its artifact.

    ``None`` when the model has no artifact with held-out rows (e.g. ``averaged_ensemble``).
    A wrapped model (``.inner``, such as the simulated accelerator) uses its inner model's.
    """
    from lesson.core.artifacts import (
        ArtifactError,
        load_artifact,
        load_heldout,
    )

    model = model or default_model()
    model = getattr(model, "inner", model)
    try:
        rows, _ = load_heldout(load_artifact(model.name, model.version))
    except (ArtifactError, LookupError, KeyError, ValueError, TypeError, AttributeError):
        return None
    return rows


def in_process_targets(model: Model | None = None) -> list[Target]:
    """The core adapters as load-test targets (both worlds), keyed by pattern.

    Keys: ``in-process`` (a plain call of the service: the floor every transport adds to),
    ``rest``, ``grpc``, ``batch``, ``streaming``, ``edge``.

    Args:
        model: the model to serve (default: :func:`default_model`, the real MLP in pure Python).
    """
    model = model or default_model()
    width = model_width(model)
    samples = example_rows(model)

    def target(key: str, label: str, pattern: str, endpoint: Any, description: str) -> Target:
        return Target(
            key=key,
            label=label,
            pattern=pattern,
            endpoint=endpoint,
            n_features=width,
            sample_rows=samples,
            description=description,
        )

    return [
        target(
            "in-process",
            "Plain function call (no serving layer)",
            "in-process",
            _service_endpoint(model),
            "PredictionService.predict: validate → predict → response, no transport at all.",
        ),
        target(
            "rest",
            "REST adapter, in-process",
            "REST",
            fastapi_rest_adapter(model),
            "fastapi_rest_adapter: the REST handler called as a function (no socket).",
        ),
        target(
            "grpc",
            "gRPC streaming adapter, in-process (one open stream)",
            "gRPC",
            _stream_endpoint(model),
            "grpc_streaming_adapter: each call sends one message on one long-lived stream.",
        ),
        target(
            "batch",
            "Batch scoring runner, in-process (one batch per request)",
            "batch",
            _batch_endpoint(model),
            "batch_scoring_runner: each request is scored as one batch of rows.",
        ),
        target(
            "streaming",
            "Event-stream adapter, in-process (one event per request)",
            "streaming",
            _event_endpoint(model),
            "event_stream_adapter: each request is one event with an id and a key.",
        ),
        target(
            "edge",
            "Edge adapter, in-process (inputs quantised)",
            "edge",
            edge_inference_adapter(model, quantise=True),
            "edge_inference_adapter(quantise=True): the on-device runtime, inputs rounded to 3 places.",
        ),
    ]


class MicroBatchedEndpoint:
    """``await endpoint(payload)``: requests share model calls through an asyncio MicroBatcher.

    Validates each request like every other transport, then queues its rows; the batcher
    makes one call for up to ``max_batch_size`` rows, waiting at most ``max_delay_ms`` for
    more. Runs on asyncio, so the same code works in the browser and in CPython.
    """

    def __init__(self, model: Model, max_batch_size: int, max_delay_ms: int):
        from lesson.patterns.microbatching import MicroBatcher

        self.model = model
        self.max_batch_size = max_batch_size
        self.max_delay_ms = max_delay_ms
        self.batcher = MicroBatcher.for_model(model, max_batch_size, float(max_delay_ms))

    async def __call__(self, payload: Any) -> dict[str, Any]:
        rows = parse_v1_request(payload).rows
        start = time.perf_counter()
        predictions = await self.batcher.predict(rows)
        return {
            "predictions": list(predictions),
            "metadata": {
                "transport": "in-process",
                "model": self.model.name,
                "model_version": self.model.version,
                "latency_ms": round((time.perf_counter() - start) * 1000.0, 4),
                "max_batch_size": self.max_batch_size,
                "max_delay_ms": self.max_delay_ms,
            },
        }

    async def aclose(self) -> None:
        """Stop the batcher's worker (the panel calls this after each run)."""
        await self.batcher.close()


def batching_target(
    model: Model | None = None, *, fixed_cost_ms: float = 2.0, per_row_us: float = 20.0
) -> Target:
    """A micro-batched SIMULATED accelerator, with ``max_batch_size`` and ``max_delay_ms`` knobs.

    The accelerator (:class:`lesson.models.accelerator.SimulatedAcceleratorModel`) costs
    ``fixed_cost_ms`` per call plus ``per_row_us`` per row and runs one call at a time: the cost
    shape that makes batching pay. Its predictions are the wrapped model's.
    """
    from lesson.models.accelerator import SimulatedAcceleratorModel

    device = SimulatedAcceleratorModel(
        model or default_model(), fixed_cost_s=fixed_cost_ms / 1000.0, per_row_s=per_row_us / 1e6
    )
    return Target(
        key="batching",
        label=f"Micro-batcher → SIMULATED accelerator ({fixed_cost_ms:g} ms/call + {per_row_us:g} µs/row)",
        pattern="batch",
        make_endpoint=lambda max_batch_size, max_delay_ms: MicroBatchedEndpoint(
            device, max_batch_size, max_delay_ms
        ),
        knobs=(
            Knob(
                "max_batch_size",
                "max_batch_size (rows per call)",
                1,
                128,
                1,
                "1 = no batching: every request is its own device call.",
            ),
            Knob(
                "max_delay_ms",
                "max_delay_ms (wait for more)",
                0,
                20,
                0,
                "How long the first request of a batch may wait for others.",
            ),
        ),
        n_features=model_width(device),
        sample_rows=example_rows(device),
        asynchronous=True,
        description="Requests share device calls; the device is a simulation (sleeps), clearly labelled.",
        extra={"device": device},
    )


def accelerator_registry() -> Any:
    """A registry whose default model is the SIMULATED accelerator (2 ms per call + 20 µs per row)
    around the real MLP (``diabetes-mlp-simulated-accelerator``).

    For servers that notebooks start to show overload, e.g.
    ``running_server("rest", registry="lesson.lab:accelerator_registry", max_in_flight=4, offload=True)``.
    """
    from lesson.core.model import ModelRegistry
    from lesson.models.accelerator import SimulatedAcceleratorModel

    registry = ModelRegistry()
    registry.register(SimulatedAcceleratorModel(default_model()), default=True)
    return registry


def edge_targets() -> list[Target]:
    """The real reference model on the device: full precision and int8 weights, side by side.

    Both run with the standard library only (so in the browser too) through
    ``edge_inference_adapter(model, quantise=False)`` (the int8 model is quantised in its
    weights already); payloads are drawn from the artifact's held-out rows.
    """
    from lesson.core.artifacts import (
        load_artifact,
        load_heldout,
    )
    from lesson.models.int8 import load_edge_model
    from lesson.models.mlp import load_default_mlp

    int8 = load_edge_model()
    full = load_default_mlp()
    rows, _ = load_heldout(load_artifact(int8.name, int8.version))
    return [
        Target(
            key="edge-fp64",
            label=f"Edge: {full.name} v{full.version}, full precision (pure Python)",
            pattern="edge",
            endpoint=edge_inference_adapter(full, quantise=False),
            n_features=model_width(full),
            sample_rows=rows,
            description="The real MLP with float weights, run on the device.",
        ),
        Target(
            key="edge-int8",
            label=f"Edge: {int8.name} v{int8.version}, int8 weights (pure Python)",
            pattern="edge",
            endpoint=edge_inference_adapter(int8, quantise=False),
            n_features=model_width(int8),
            sample_rows=rows,
            description="The same MLP with int8 weights: smaller on disk, computed from integers.",
        ),
    ]


class PerThreadClient:
    """``predict(payload)`` through one client per thread (clients need not be thread-safe)."""

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, payload: Any) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._factory()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client.predict(payload)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            close = getattr(client, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()


def server_target(
    key: str, handle: Any, *, label: str | None = None, n_features: int | None = None
) -> Target:
    """A load-test target for a server you started yourself (e.g. with different options).

    ``n_features`` defaults to the width of the lab's default model (the servers' default).

    The caller owns the server; close the target's endpoint (``target.endpoint.close()``) to
    close its clients.
    """
    from lesson.clients import client_for

    pattern = "REST" if handle.kind == "rest" else "gRPC"
    return Target(
        key=key,
        label=label or f"{pattern} server at {handle.url}",
        pattern=pattern,
        transport=handle.url,
        endpoint=PerThreadClient(lambda url=handle.url: client_for(url)),
        n_features=default_model().n_features if n_features is None else n_features,
    )
