"""The original lesson's in-process serving adapters, now thin layers over one service.

Each adapter takes a model (a :class:`~lesson.core.model.Model` or the original lesson's plain
function ``fn(instance) -> list[float]``) and returns something shaped like its transport:

- :func:`fastapi_rest_adapter` -> ``predict(payload) -> response`` (one request, one response);
- :func:`grpc_streaming_adapter` -> ``handler(request_iterator)`` yielding one response per
  request (a bidirectional stream);
- :func:`batch_scoring_runner` -> a list of responses, one per batch;
- :func:`edge_inference_adapter` -> ``run(features)`` on the device, inputs rounded to 3 places
  by default (the original lesson called that ``quantise``; the int8 model in
  :mod:`lesson.models.int8` is what quantisation really is).

All of them call :meth:`PredictionService.predict`, so they agree on every input::

    >>> from lesson import averaged_ensembled_model, fastapi_rest_adapter
    >>> fastapi_rest_adapter(averaged_ensembled_model)({"instances": [0.2, 0.4, 0.6]})["predictions"]
    [0.42]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lesson.core.schema import ValidationError
from lesson.core.service import PredictionService

__all__ = [
    "fastapi_rest_adapter",
    "grpc_streaming_adapter",
    "batch_scoring_runner",
    "edge_inference_adapter",
    "round_rows",
    "quantise_rows",
]

#: What ``metadata["framework"]`` says for the in-process REST adapter: no web framework ran (the
#: original lesson said "FastAPI" here; FastAPI serves the route only in :mod:`lesson.servers`).
IN_PROCESS_FRAMEWORK = "none (in-process call, no HTTP server)"

#: Decimal places the edge adapter keeps of each input (``quantise=True``).
EDGE_DECIMALS = 3


def _service(model: Any, service: PredictionService | None) -> PredictionService:
    return service if service is not None else PredictionService.for_model(model)


def fastapi_rest_adapter(
    model: Any, *, service: PredictionService | None = None
) -> Callable[[Any], dict[str, Any]]:
    """A REST-style endpoint: ``predict({"instances": [...]}) -> {"predictions", "metadata"}``.

    Args:
        model: a Model or a function ``fn(instance) -> list[float]``.
        service: share an existing service instead of making one for ``model``.

    Returns:
        ``predict(payload)``; metadata carries ``transport="REST"`` and ``framework`` saying that no
        web framework ran (:data:`IN_PROCESS_FRAMEWORK`): the route's validation and service,
        called as a function. The real FastAPI app is :mod:`lesson.servers.rest`.
        Raises :class:`~lesson.core.schema.ValidationError` on a bad payload (HTTP 422).
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
    """A gRPC bidirectional-stream handler: one response per request payload, in order.

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
    """Score batches offline: one response per batch.

    Args:
        model: a Model or a function ``fn(instance) -> list[float]``.
        batches: each batch is a flat feature list (one instance, the original form) or a
            list of rows.

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


#: The original lesson's name for :func:`round_rows`. Rounding inputs is not quantisation (which
#: stores a model's weights in fewer bits: :mod:`lesson.models.int8`); the name is kept working.
quantise_rows = round_rows


def edge_inference_adapter(
    model: Any, *, quantise: bool = True, service: PredictionService | None = None
) -> Callable[[Any], dict[str, Any]]:
    """An on-device runtime: ``run(features) -> response``, inputs rounded to 3 places by default.

    Args:
        model: a Model or a function ``fn(instance) -> list[float]``.
        quantise: round every input to :data:`EDGE_DECIMALS` places before predicting (the
            original lesson's name for it, kept: the MODEL is not quantised; for a model with
            int8 weights see :mod:`lesson.models.int8`).

    Returns:
        ``run(features)`` accepting a flat feature list, a list of rows, or a full
        ``{"instances": ...}`` payload; metadata carries ``transport="edge"``, ``quantised``
        (the original key: were the inputs rounded) and ``input_decimals`` (to how many places,
        or None).
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
