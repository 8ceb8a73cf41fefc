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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lesson.core.model import Model, ModelRegistry, as_model, default_registry
from lesson.core.schema import DEFAULT_LIMITS, Limits, parse_v1_request

RowsTransform = Callable[[list[list[float]]], list[list[float]]]
#: `PredictionService.predict_rows`'s signature: ``fn(rows, *, model=None, version=None) -> (predictions, model)``
ScoreRows = Callable[..., tuple[list[float], Model]]


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
            raise ModelOutputError(
                f"model {model.name!r} output {i} is {number!r}, expected a finite number"
            )
        checked.append(number)
    if getattr(model, "one_output_per_row", True) and len(checked) != n_rows:
        raise ModelOutputError(
            f"model {model.name!r} returned {len(checked)} outputs for {n_rows} rows, expected one per row"
        )
    return checked


@dataclass
class PreparedRequest:
    """A validated V1 body, ready to score.

    Attributes:
        rows: the rows for the model.
        model, version: the model to score them (None: the default / the latest).
        metadata: keys the reader adds to the response metadata (after the four standard ones).
    """

    rows: list[list[float]]
    model: str | None = None
    version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


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
    def for_model(cls, model: Any, limits: Limits = DEFAULT_LIMITS) -> PredictionService:
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

    def read_request(
        self, payload: Any, *, model: str | None = None, version: str | None = None
    ) -> PreparedRequest:
        """Step 1 of :meth:`predict`: validate a V1 payload against the V1 schema.

        The extension point: a subclass that reads another request contract overrides this
        (e.g. :class:`lesson.teaching.evolution.VersionedService`); scoring and the response
        stay this class's.

        Raises:
            ValidationError: the payload is invalid (``RequestTooLargeError`` if oversized).
        """
        return PreparedRequest(parse_v1_request(payload, self.limits).rows, model, version)

    def respond(
        self,
        request: PreparedRequest,
        predictions: list[float],
        chosen: Model,
        *,
        started: float,
        transport: str,
        extra_metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Step 3 of :meth:`predict`: the V1 response, ``latency_ms`` counted from ``started``."""
        latency_ms = (time.perf_counter() - started) * 1000.0
        metadata: dict[str, Any] = {
            "transport": transport,
            "model": chosen.name,
            "model_version": chosen.version,
            "latency_ms": round(latency_ms, 4),
        }
        metadata.update(request.metadata)
        for key, value in (extra_metadata or {}).items():
            metadata.setdefault(key, value)
        return {"predictions": predictions, "metadata": metadata}

    def predict(
        self,
        payload: Any,
        *,
        model: str | None = None,
        version: str | None = None,
        transport: str = "in-process",
        extra_metadata: Mapping[str, Any] | None = None,
        transform_rows: RowsTransform | None = None,
        score_rows: ScoreRows | None = None,
    ) -> dict[str, Any]:
        """Validate a V1 payload, predict, and build the V1 response.

        Three steps: :meth:`read_request` (validate), :meth:`predict_rows` (score; or
        ``score_rows``), :meth:`respond` (the response with metadata).

        Args:
            payload: ``{"instances": [...]}`` (or its JSON text).
            model: registry name (None: the default model).
            version: model version (None: the latest).
            transport: recorded in ``metadata["transport"]``.
            extra_metadata: more metadata keys (they never override the four below).
            transform_rows: applied to the validated rows before predicting (the edge
                adapter quantises here).
            score_rows: scores the rows instead of :meth:`predict_rows`, with its signature
                (a server's micro-batching hook).

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
        request = self.read_request(payload, model=model, version=version)
        rows = request.rows if transform_rows is None else transform_rows(request.rows)
        score = self.predict_rows if score_rows is None else score_rows
        predictions, chosen = score(rows, model=request.model, version=request.version)
        return self.respond(
            request,
            predictions,
            chosen,
            started=started,
            transport=transport,
            extra_metadata=extra_metadata,
        )

    def __repr__(self) -> str:
        return f"PredictionService({self.registry!r}, limits={self.limits!r})"
