"""The waterfall's in-process path (the browser's): the micro-batcher's timings per request,
the p99 and p50 picked by rank, a sentence computed from them."""

from __future__ import annotations

import asyncio

from lesson.core.model import default_registry
from lesson.teaching.traces import in_process_load


def test_in_process_traces_pick_the_p99_and_p50_and_say_where_the_tail_waited():
    model = default_registry().get(None)
    run = asyncio.run(in_process_load(model, [[0.2, 0.4]], requests=80, concurrency=8))
    assert run.requests == 80
    assert run.p99.total_ms >= run.p50.total_ms > 0
    for waterfall in (run.p99, run.p50):
        names = [name for name, *_ in waterfall.spans]
        assert names == ["request", "queue", "model"]
        for _, start, end in waterfall.spans:
            assert 0 <= start <= end <= waterfall.total_ms + 1e-6
        assert abs(sum(waterfall.shares().values()) - 1) < 1e-6
    rows = run.rows()
    assert [r["request"] for r in rows][:3] == [
        "slowest request · request",  # 80 requests: the p99 by nearest rank is the slowest
        "slowest request · queue",
        "slowest request · model",
    ]
    assert "slowest request" in run.sentence() and "Where the tail waited" in run.sentence()


def test_the_picks_are_named_p99_and_p50_only_from_100_requests():
    from lesson.teaching.traces import Waterfall, pick, quantile_names

    assert quantile_names(99) == ("slowest", "median") and quantile_names(100) == ("p99", "p50")
    slowest = [Waterfall("", float(ms)) for ms in range(1, 100)]
    assert pick(slowest, 0.99).total_ms == 99.0  # below 100 requests the p99 IS the maximum
