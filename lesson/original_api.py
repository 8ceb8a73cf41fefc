"""The original lesson's API, kept for compatibility: its ten names, behaviour and schema.

The lesson this project grew from had ten public names. They stay importable from ``lesson``
and behave as they did: every response has the schema ``{"predictions": [...],
"metadata": {...}}``. This module is the only place they are defined or gathered; the rest of
the package is named for what it does. What each name does, and which module does the job properly now:

- ``fastapi_rest_adapter``: an in-process SHAPE of a REST endpoint, ``predict(payload)``. No
  FastAPI and no HTTP: the route's validation and service called as a function. The real
  FastAPI app: :mod:`lesson.servers.rest`.
- ``grpc_streaming_adapter``: an in-process SHAPE of a gRPC bidirectional stream, a generator
  with one response per request. No gRPC and no protobuf. The real server:
  :mod:`lesson.servers.grpc_server`.
- ``batch_scoring_runner``: one response per in-memory batch. Batch scoring of files (Parquet,
  resumable): :mod:`lesson.patterns.batch`.
- ``edge_inference_adapter``: an on-device runtime with inputs rounded to 3 places (the
  original ``quantise``). A really quantised model (int8 weights): :mod:`lesson.models.int8`.
- ``ensure_response_schema`` and ``PredictionResponse``: check a response's V1 schema, and its
  type; both from :mod:`lesson.core.schema`.
- ``run_synthetic_load_test``: each payload once, one after the other; it calls
  :func:`lesson.loadtest.sequential_runner.run_sequential_load_test`. Closed and open loops:
  :func:`lesson.loadtest.run_load_test`.
- ``LoadTestResult``: the load test's result, now with percentiles, from
  :mod:`lesson.loadtest.result`.
- ``averaged_ensembled_model``: the toy model ``fn(instance) -> [round(mean * 0.8 + 0.1, 4)]``,
  from :mod:`lesson.core.model`. The lesson's real model: :mod:`lesson.models.mlp`.
- ``describe_serving_landscape``: the patterns' latency claims and strengths (claims, not
  measurements: notebook 06 measures them). Choosing a pattern: :mod:`lesson.teaching.rubric`.

Each adapter takes a model (a :class:`~lesson.core.model.Model` or a plain function
``fn(instance) -> list[float]``, the original model shape) and calls
:meth:`~lesson.core.service.PredictionService.predict`, so they agree on every input::

    >>> from lesson import averaged_ensembled_model, fastapi_rest_adapter
    >>> fastapi_rest_adapter(averaged_ensembled_model)({"instances": [0.2, 0.4, 0.6]})["predictions"]
    [0.42]
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lesson.core.model import averaged_ensembled_model
from lesson.core.schema import PredictionResponse, ValidationError, ensure_response_schema
from lesson.core.service import PredictionService
from lesson.loadtest.result import LoadTestResult
from lesson.loadtest.sequential_runner import run_sequential_load_test
from lesson.loadtest.settings import Endpoint

__all__ = [
    "fastapi_rest_adapter",
    "grpc_streaming_adapter",
    "batch_scoring_runner",
    "edge_inference_adapter",
    "ensure_response_schema",
    "PredictionResponse",
    "LoadTestResult",
    "run_synthetic_load_test",
    "averaged_ensembled_model",
    "describe_serving_landscape",
]

#: What ``metadata["framework"]`` says for the in-process REST adapter: no web framework ran
#: (the original said "FastAPI" here; FastAPI serves the route only in :mod:`lesson.servers`).
IN_PROCESS_FRAMEWORK = "none (in-process call, no HTTP server)"

#: Decimal places the edge adapter keeps of each input (``quantise=True``).
EDGE_DECIMALS = 3


def _service(model: Any, service: PredictionService | None) -> PredictionService:
    return service if service is not None else PredictionService.for_model(model)


def fastapi_rest_adapter(
    model: Any, *, service: PredictionService | None = None
) -> Callable[[Any], dict[str, Any]]:
    """The in-process shape of a REST endpoint: ``predict({"instances": [...]}) -> response``.

    Neither FastAPI nor HTTP is involved: the route's validation and service are called as a
    function (which is why it runs in the browser). The real FastAPI app is
    :mod:`lesson.servers.rest`; its client is :class:`lesson.clients.rest.RestClient`.

    Args:
        model: a Model or a function ``fn(instance) -> list[float]``.
        service: share an existing service instead of making one for ``model``.

    Returns:
        ``predict(payload)``; metadata carries ``transport="REST"`` and ``framework`` saying that
        no web framework ran (:data:`IN_PROCESS_FRAMEWORK`). Raises
        :class:`~lesson.core.schema.ValidationError` on a bad payload (what HTTP answers with 422).
    """
    svc = _service(model, service)

    def predict(payload: Any) -> dict[str, Any]:
        return svc.predict(
            payload, transport="REST", extra_metadata={"framework": IN_PROCESS_FRAMEWORK}
        )

    return predict


def grpc_streaming_adapter(
    model: Any, *, service: PredictionService | None = None
) -> Callable[[Iterable[Any]], Iterator[dict[str, Any]]]:
    """The in-process shape of a gRPC bidirectional stream: one response per request, in order.

    Neither gRPC nor protobuf is involved: a generator over dict payloads. The real gRPC server
    is :mod:`lesson.servers.grpc_server`; its client is :class:`lesson.clients.grpc.GrpcClient`.

    A bad payload raises :class:`~lesson.core.schema.ValidationError` (with the message's
    position in ``loc``), which ends the stream as ``INVALID_ARGUMENT`` would; the responses
    already yielded stay valid.

    Returns:
        ``handler(request_iterator)``; metadata carries ``transport="gRPC"``, ``streaming=True``.
    """
    svc = _service(model, service)

    def handler(request_iterator: Iterable[Any]) -> Iterator[dict[str, Any]]:
        for index, payload in enumerate(request_iterator):
            try:
                yield svc.predict(payload, transport="gRPC", extra_metadata={"streaming": True})
            except ValidationError as exc:
                raise exc.with_loc_prefix("stream", index) from None

    return handler


def batch_scoring_runner(
    model: Any, batches: Iterable[Any], *, service: PredictionService | None = None
) -> list[dict[str, Any]]:
    """Score in-memory batches: one response per batch.

    Batch scoring of files (Parquet in, Parquet out, resumable) is :mod:`lesson.patterns.batch`.

    Args:
        model: a Model or a function ``fn(instance) -> list[float]``.
        batches: each batch is a flat feature list (one instance) or a list of rows.

    Returns:
        A list of responses; metadata carries ``transport="batch"``, ``batch_size=len(batch)``.

    Raises:
        ValidationError: a bad batch, located as ``["batches", i, ...]``; nothing is returned.
    """
    svc = _service(model, service)
    responses: list[dict[str, Any]] = []
    for index, batch in enumerate(batches):
        size = len(batch) if hasattr(batch, "__len__") else None
        try:
            responses.append(
                svc.predict(
                    {"instances": batch}, transport="batch", extra_metadata={"batch_size": size}
                )
            )
        except ValidationError as exc:
            raise exc.with_loc_prefix("batches", index) from None
    return responses


def round_rows(rows: list[list[float]], decimals: int = EDGE_DECIMALS) -> list[list[float]]:
    """Round every feature to ``decimals`` places (a coarser sensor: what a small device reads)."""
    return [[round(value, decimals) for value in row] for row in rows]


def edge_inference_adapter(
    model: Any, *, quantise: bool = True, service: PredictionService | None = None
) -> Callable[[Any], dict[str, Any]]:
    """An on-device runtime: ``run(features) -> response``, inputs rounded to 3 places by default.

    Args:
        model: a Model or a function ``fn(instance) -> list[float]``.
        quantise: round every input to :data:`EDGE_DECIMALS` places before predicting (the
            original name, kept: the MODEL is not quantised; for a model with int8 weights see
            :mod:`lesson.models.int8`).

    Returns:
        ``run(features)`` accepting a flat feature list, a list of rows, or a full
        ``{"instances": ...}`` payload; metadata carries ``transport="edge"``, ``quantised``
        (were the inputs rounded) and ``input_decimals`` (to how many places, or None).
    """
    svc = _service(model, service)
    transform = round_rows if quantise else None
    extra = {"quantised": quantise, "input_decimals": EDGE_DECIMALS if quantise else None}

    def run(features: Any) -> dict[str, Any]:
        payload = features if isinstance(features, dict) else {"instances": features}
        return svc.predict(
            payload,
            transport="edge",
            extra_metadata=extra,
            transform_rows=transform,
        )

    return run


def run_synthetic_load_test(
    endpoint: Endpoint, payloads: Iterable[Any], *, warmups: int = 1
) -> LoadTestResult:
    """Send each payload once, one after the other, and measure (warm-up requests excluded).

    The original signature, now with percentiles: it calls
    :func:`lesson.loadtest.sequential_runner.run_sequential_load_test`. Concurrent closed- and open-loop
    runs are :func:`lesson.loadtest.run_load_test` and :func:`lesson.loadtest.run_load_test_async`.

    Args:
        endpoint: ``endpoint(payload) -> response``.
        payloads: the requests to send (at most 1,000,000).
        warmups: requests sent first and not measured.

    Returns:
        A :class:`LoadTestResult` (``mode="sequential"``); a response counts as a success if it
        passes :func:`ensure_response_schema`.
    """
    return run_sequential_load_test(endpoint, payloads, warmups=warmups)


_LANDSCAPE: dict[str, dict[str, Any]] = {
    "REST": {
        "latency": "medium",
        "strength": "ubiquitous clients",
        "use_when": "any client must call the model over HTTP with JSON, one request at a time",
        "lesson_api": "fastapi_rest_adapter",
    },
    "gRPC": {
        "latency": "low",
        "strength": "typed contracts",
        "use_when": "services call each other often and benefit from a schema and HTTP/2 streams",
        "lesson_api": "grpc_streaming_adapter",
    },
    "batch": {
        "latency": "high",
        "strength": "cost efficiency",
        "use_when": "predictions for many rows are needed by a deadline, not right now",
        "lesson_api": "batch_scoring_runner",
    },
    "streaming": {
        "latency": "low",
        "strength": "event-driven",
        "use_when": "each event on a stream (clicks, sensor readings) needs a prediction as it arrives",
        "lesson_api": "event_stream_adapter",
    },
    "edge": {
        "latency": "ultra-low",
        "strength": "offline ready",
        "use_when": "the device must predict without a network, on small quantised inputs",
        "lesson_api": "edge_inference_adapter",
    },
    "generative": {
        "latency": "first token low, whole answer high",
        "strength": "answers streamed as they are written",
        "use_when": "a language model writes the answer token by token and someone reads it "
        "as it arrives",
        "lesson_api": "AsyncEngine",
    },
}


def describe_serving_landscape() -> dict[str, dict[str, Any]]:
    """Return a fresh copy of the serving landscape: pattern -> its facts.

    The original keys and values (``latency`` and ``strength`` for REST, gRPC, batch, streaming
    and edge: claims, not measurements) plus ``use_when`` and ``lesson_api`` (the name in
    ``lesson`` of the pattern's in-process adapter), so a learner can go from the table to the
    code; the sixth pattern, ``generative`` (a language model's streamed answer), follows them.
    For choosing a pattern see :mod:`lesson.teaching.rubric`.
    """
    return copy.deepcopy(_LANDSCAPE)
