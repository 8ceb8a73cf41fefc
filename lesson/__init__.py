"""Serving Patterns Lab: how ML predictions are served, and how to load-test them honestly.

Everything importable from here uses the standard library only, so ``import lesson`` works
in the browser (Pyodide / JupyterLite) as well as in CPython. Two kinds of names:

- the ten names of the lesson this project grew from, with their behaviour and response schema
  unchanged (defined or gathered in :mod:`lesson.original_api`, which says which module does
  each job properly now)::

    >>> from lesson import fastapi_rest_adapter, averaged_ensembled_model
    >>> predict = fastapi_rest_adapter(averaged_ensembled_model)
    >>> predict({"instances": [0.2, 0.4, 0.6]})["predictions"]
    [0.42]

- the few a learner reaches for first: the model protocol (:class:`Model`, :func:`as_model`),
  the service every transport calls (:class:`PredictionService`) and its
  :class:`ValidationError`, the streaming adapter, the generative engine
  (:class:`AsyncEngine`), the load tests (:func:`run_load_test`,
  :func:`run_load_test_async`), :func:`percentile`, :func:`clock_resolution` and
  :data:`IN_BROWSER`.

Everything else is imported from the module that does it: ``lesson.core`` (schema, model,
service, statistics), ``lesson.loadtest``, ``lesson.patterns``, ``lesson.models``, and the
parts that bring their own dependencies (``lesson.servers``, ``lesson.clients``,
``lesson.patterns.batch``, ``lesson.widgets``). Run ``python -m lesson`` for the demo.
"""

from lesson.core.model import Model, as_model
from lesson.core.runtime import IN_BROWSER, clock_resolution
from lesson.core.schema import ValidationError
from lesson.core.service import PredictionService
from lesson.core.stats import percentile
from lesson.loadtest import run_load_test, run_load_test_async
from lesson.original_api import (
    LoadTestResult,
    PredictionResponse,
    averaged_ensembled_model,
    batch_scoring_runner,
    describe_serving_landscape,
    edge_inference_adapter,
    ensure_response_schema,
    fastapi_rest_adapter,
    grpc_streaming_adapter,
    run_synthetic_load_test,
)
from lesson.patterns.generative import AsyncEngine
from lesson.patterns.streaming.events import event_stream_adapter

__version__ = "0.1.0"

__all__ = [
    # the original lesson's ten names (lesson.original_api)
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
    # what a learner needs first
    "Model",
    "as_model",
    "PredictionService",
    "ValidationError",
    "event_stream_adapter",
    "AsyncEngine",
    "run_load_test",
    "run_load_test_async",
    "percentile",
    "clock_resolution",
    "IN_BROWSER",
]
