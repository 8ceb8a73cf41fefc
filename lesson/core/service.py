"""One prediction code path: validate -> predict -> response with metadata.

Every serving pattern (the in-process adapters, the FastAPI routes, the gRPC servicer, the
batch runner, the streaming consumer, the edge runtime) calls :class:`PredictionService`, so
the same input gives the same prediction whichever way it travels::

    >>> service = PredictionService()
    >>> service.predict({"instances": [0.2, 0.4, 0.6]}, transport="REST")["predictions"]
    [0.42]
"""

from __future__ import annotations

import math
import numbers
import time
from typing import Any, Callable, Mapping, Sequence

from lesson.core.model import Model, ModelRegistry, as_model, default_registry
from lesson.core.schema import DEFAULT_LIMITS, Limits, parse_v1_request

__all__ = ["PredictionService", "ModelOutputError"]

RowsTransform = Callable[[list[list[float]]], list[list[float]]]


class ModelOutputError(RuntimeError):
    """A model returned something that is not one finite number per row (a server bug, HTTP 500)."""


def _check_outputs(outputs: Any, model: Model, n_rows: int) -> list[float]:
    if not isinstance(outputs, (list, tuple)):
        try:
            outputs = list(outputs)  # e.g. a numpy array
        except TypeError:
            raise ModelOutputError(
                f"model {model.name!r} returned {type(outputs).__name__}, expected a list of numbers"
            ) from None
    checked: list[float] = []
    for i, value in enumerate(outputs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ModelOutputError(
                f"model {model.name!r} output {i} is {type(value).__name__}, expected a number"
            )
        number = float(value)
        if not math.isfinite(number):
            raise ModelOutputError(f"model {model.name!r} output {i} is {number!r}, expected a finite number")
        checked.append(number)
    if getattr(model, "one_output_per_row", True) and len(checked) != n_rows:
        raise ModelOutputError(
            f"model {model.name!r} returned {len(checked)} outputs for {n_rows} rows, expected one per row"
        )
    return checked


class PredictionService:
    """Validate requests, run a registered model, and annotate the response.

    Args:
        registry: the models to serve (default: :func:`~lesson.core.model.default_registry`).
        limits: request size bounds.
    """

    def __init__(self, registry: ModelRegistry | None = None, limits: Limits = DEFAULT_LIMITS):
        self.registry = registry if registry is not None else default_registry()
        self.limits = limits

    @classmethod
    def for_model(cls, model: Any, limits: Limits = DEFAULT_LIMITS) -> "PredictionService":
        """A service for one model (a :class:`Model` or a plain function ``fn(instance)``)."""
        return cls(ModelRegistry([as_model(model)]), limits)

    def predict_rows(
        self,
        rows: Sequence[Sequence[float]],
        *,
        model: str | None = None,
        version: str | None = None,
    ) -> tuple[list[float], Model]:
        """Predict already validated rows (used by V2 and batch).

        Returns:
            The checked predictions (floats) and the model that made them.

        Raises:
            ModelNotFoundError: unknown model or version.
            ModelOutputError: the model broke its contract.
        """
        chosen = self.registry.get(model, version)
        outputs = chosen.predict(rows)
        return _check_outputs(outputs, chosen, len(rows)), chosen

    def predict(
        self,
        payload: Any,
        *,
        model: str | None = None,
        version: str | None = None,
        transport: str = "in-process",
        extra_metadata: Mapping[str, Any] | None = None,
        transform_rows: RowsTransform | None = None,
    ) -> dict[str, Any]:
        """Validate a V1 payload, predict, and build the V1 response.

        Args:
            payload: ``{"instances": [...]}`` (or its JSON text).
            model: registry name (None: the default model).
            version: model version (None: the latest).
            transport: recorded in ``metadata["transport"]``.
            extra_metadata: more metadata keys (they never override the four below).
            transform_rows: applied to the validated rows before predicting (the edge
                adapter quantises here).

        Returns:
            ``{"predictions": [...], "metadata": {"transport", "model", "model_version",
            "latency_ms", ...extra}}``; ``latency_ms`` is the server-side time from receipt
            to response.

        Raises:
            ValidationError: the payload is invalid (``RequestTooLargeError`` if oversized).
            ModelNotFoundError: unknown model or version.
            ModelOutputError: the model broke its contract.
        """
        started = time.perf_counter()
        request = parse_v1_request(payload, self.limits)
        rows = request.rows if transform_rows is None else transform_rows(request.rows)
        predictions, chosen = self.predict_rows(rows, model=model, version=version)
        latency_ms = (time.perf_counter() - started) * 1000.0
        metadata: dict[str, Any] = {
            "transport": transport,
            "model": chosen.name,
            "model_version": chosen.version,
            "latency_ms": round(latency_ms, 4),
        }
        for key, value in (extra_metadata or {}).items():
            metadata.setdefault(key, value)
        return {"predictions": predictions, "metadata": metadata}

    def __repr__(self) -> str:
        return f"PredictionService({self.registry!r}, limits={self.limits!r})"
