"""A sequential load test, :func:`run_sequential_load_test`: each payload once, in turn."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from lesson.core.schema import ensure_response_schema
from lesson.loadtest.open_loop import call_sync, warm_up
from lesson.loadtest.result import LoadTestResult, Recorder
from lesson.loadtest.settings import (
    MAX_DURATION,
    MAX_REQUESTS,
    MAX_WARMUP,
    Endpoint,
    check_endpoint,
    check_int,
    clock,
)


def run_sequential_load_test(
    endpoint: Endpoint, payloads: Iterable[Any], *, warmups: int = 1
) -> LoadTestResult:
    """Each payload once, one after the other (``lesson.run_synthetic_load_test`` calls this).

    Args:
        endpoint: ``endpoint(payload) -> response``.
        payloads: the requests to send (at most 1,000,000).
        warmups: requests sent first and not measured.

    Returns:
        A :class:`LoadTestResult` (``mode="sequential"``); a response counts as a success if
        it passes :func:`~lesson.core.schema.ensure_response_schema`. An endpoint that raises is
        counted in ``errors`` under the exception's class name.
    """
    check_endpoint(endpoint)
    warmups = check_int("warmups", warmups, 0, MAX_WARMUP)
    items = list(
        itertools.islice(
            iter([payloads] if isinstance(payloads, dict) else payloads), MAX_REQUESTS + 1
        )
    )
    if not items:
        raise ValueError("payloads must not be empty")
    if len(items) > MAX_REQUESTS:
        raise ValueError(f"payloads must hold at most {MAX_REQUESTS:_} requests")
    warm_up(endpoint, lambda i: items[i % len(items)], warmups, budget=MAX_DURATION)
    recorder = Recorder(len(items), None, inline_progress=False)
    recorder.begin()
    for payload in items:
        recorder.sending()
        sent = clock()
        done, kind, message = call_sync(endpoint, payload, ensure_response_schema)
        recorder.record(done - sent, done, kind, message)
    return recorder.result(
        mode="sequential", concurrency=1, rate=None, unsent=0, stopped_by="payloads"
    )
