"""The generative server's Prometheus metrics (one `CollectorRegistry` per app).

Histograms: ``lesson_llm_time_to_first_token_seconds`` (arrival to the first token handed to
the response), ``lesson_llm_inter_token_latency_seconds`` (every gap between two tokens of one
sequence), ``lesson_llm_e2e_request_latency_seconds``. Counters: requests by finish reason,
errors by code, prompt and generation tokens. Gauges, read from the engine's last ``stats()``
when scraped: sequences running and waiting, KV blocks used and total, preemptions, prefix-cache
hit tokens, and requests in flight at the HTTP layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["LLMMetrics"]

TTFT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ITL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
E2E_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class LLMMetrics:
    """Counters, histograms and engine gauges; ``render()`` is the exposition."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, stats: Callable[[], dict[str, Any]], in_flight: Callable[[], int]) -> None:
        self.registry = r = CollectorRegistry()
        self.ttft = Histogram(
            "lesson_llm_time_to_first_token_seconds",
            "Request arrival to its first token",
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.itl = Histogram(
            "lesson_llm_inter_token_latency_seconds",
            "Gap between two successive tokens of one sequence",
            buckets=ITL_BUCKETS,
            registry=r,
        )
        self.e2e = Histogram(
            "lesson_llm_e2e_request_latency_seconds",
            "Request arrival to its last token",
            buckets=E2E_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "lesson_llm_requests", "Finished generations", ["finish_reason"], registry=r
        )
        self.errors = Counter("lesson_llm_request_errors", "Refused requests", ["code"], registry=r)
        self.prompt_tokens = Counter("lesson_llm_prompt_tokens", "Prompt tokens", registry=r)
        self.generation_tokens = Counter(
            "lesson_llm_generation_tokens", "Generated tokens", registry=r
        )
        for name, key, doc in (
            ("lesson_llm_num_requests_running", "running", "Sequences the engine is running"),
            ("lesson_llm_num_requests_waiting", "waiting", "Sequences waiting for the engine"),
            ("lesson_llm_kv_blocks_used", "blocks_used", "KV-cache blocks in use (held or cached)"),
            (
                "lesson_llm_kv_blocks_cached",
                "blocks_cached",
                "KV-cache blocks kept by the prefix cache",
            ),
            ("lesson_llm_kv_blocks_total", "blocks_total", "KV-cache blocks in all"),
            ("lesson_llm_preemptions", "preemptions", "Sequences preempted so far"),
            (
                "lesson_llm_prefix_hit_tokens",
                "prefix_hit_tokens",
                "Prompt tokens from the prefix cache",
            ),
        ):
            Gauge(name, doc, registry=r).set_function(
                lambda key=key: float(stats().get(key, 0) or 0)
            )
        Gauge(
            "lesson_llm_requests_in_flight", "Requests the HTTP layer holds", registry=r
        ).set_function(lambda: float(in_flight()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
