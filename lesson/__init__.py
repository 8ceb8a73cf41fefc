"""Serving Patterns Lab: how ML predictions are served, and how to load-test them honestly.

Everything importable from here uses the standard library only, so ``import lesson`` works
in the browser (Pyodide / JupyterLite) as well as in CPython. The original lesson's names
keep their behaviour::

    >>> from lesson import fastapi_rest_adapter, averaged_ensembled_model
    >>> predict = fastapi_rest_adapter(averaged_ensembled_model)
    >>> predict({"instances": [0.2, 0.4, 0.6]})["predictions"]
    [0.42]

Real servers, clients, batch jobs and widgets live in submodules that import their own
dependencies (``lesson.servers``, ``lesson.clients``, ``lesson.patterns.batch``, ``lesson.widgets``).
Run ``python -m lesson`` for the demo.
"""

from lesson.core.model import (
    AveragedEnsembleModel,
    FunctionModel,
    Model,
    ModelMetadata,
    ModelNotFoundError,
    ModelRegistry,
    as_model,
    averaged_ensembled_model,
    default_registry,
)
from lesson.core.runtime import IN_BROWSER, clock_resolution
from lesson.core.schema import (
    DEFAULT_LIMITS,
    Limits,
    PredictionResponse,
    RequestTooLargeError,
    V1Request,
    ValidationError,
    ensure_response_schema,
    parse_v1_request,
)
from lesson.core.service import ModelOutputError, PredictionService
from lesson.core.stats import percentile
from lesson.loadtest import (
    LoadTestResult,
    run_load_test,
    run_load_test_async,
    run_synthetic_load_test,
)
from lesson.patterns.adapters import (
    batch_scoring_runner,
    edge_inference_adapter,
    fastapi_rest_adapter,
    grpc_streaming_adapter,
    quantise_rows,
    round_rows,
)
from lesson.patterns.streaming.events import (
    EventStreamAdapter,
    StreamEventError,
    event_stream_adapter,
    is_error,
)
from lesson.teaching.landscape import describe_serving_landscape

__version__ = "0.1.0"

__all__ = [
    # the original lesson's public names
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
    # the core
    "IN_BROWSER",
    "clock_resolution",
    "Limits",
    "DEFAULT_LIMITS",
    "ValidationError",
    "RequestTooLargeError",
    "V1Request",
    "parse_v1_request",
    "Model",
    "ModelMetadata",
    "FunctionModel",
    "AveragedEnsembleModel",
    "ModelRegistry",
    "ModelNotFoundError",
    "as_model",
    "default_registry",
    "PredictionService",
    "ModelOutputError",
    "quantise_rows",
    "round_rows",
    "run_load_test",
    "run_load_test_async",
    "percentile",
    "EventStreamAdapter",
    "StreamEventError",
    "event_stream_adapter",
    "is_error",
    "__version__",
]
