"""The serving landscape at a glance: which pattern, what latency, what it is good at.

``describe_serving_landscape()`` keeps the original lesson's keys and values (``latency`` and
``strength`` for REST, gRPC, batch, streaming and edge) and adds ``use_when`` and
``lesson_api`` so a learner can go from the table to the code.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["describe_serving_landscape"]

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
}


def describe_serving_landscape() -> dict[str, dict[str, Any]]:
    """Return a fresh copy of the landscape: pattern -> {latency, strength, use_when, lesson_api}."""
    return copy.deepcopy(_LANDSCAPE)
