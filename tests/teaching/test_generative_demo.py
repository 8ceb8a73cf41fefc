"""Notebook 10's helpers: runs of the real engine, timelines as rows, the virtual step clock."""

from __future__ import annotations

import pytest

from lesson.loadtest.streams import SLO
from lesson.models.ngram import pydoc_ngram
from lesson.patterns.generative import EngineConfig
from lesson.teaching.generative import (
    StepCostClock,
    mixed_requests,
    run_requests,
    timeline_rows,
    timing_of,
)


@pytest.fixture(scope="module")
def ngram():
    return pydoc_ngram()


def test_every_request_generates_its_max_tokens_and_the_summary_counts_them(ngram):
    run = run_requests(ngram, [("The ", 5), ("A ", 2), ("If ", 3)], virtual=True)
    assert run.stats.finished == 3 and run.stats.tokens_generated == 10
    assert [len(t.token_times) for t in run.timelines()] == [5, 2, 3]
    summary = run.summary(SLO(ttft=1.0))
    assert summary.completed == 3 and summary.output_tokens == 10 and summary.good == 3
    assert run.prefill_tokens == sum(len(ngram.encode(p)) for p in ("The ", "A ", "If "))
    assert run.clock == "virtual" and len(run.steps) == run.stats.steps


def test_the_virtual_clock_charges_fixed_plus_per_token_for_each_step(ngram):
    cost = StepCostClock(fixed_ms=5.0, per_token_ms=1.0)
    run = run_requests(ngram, [("abcd", 3)], virtual=True, cost=cost)
    # one prefill step of 4 tokens, then two decode steps of 1
    assert run.stats.steps == 3
    assert cost.now == pytest.approx(3 * 0.005 + (4 + 1 + 1) * 0.001)
    timing = timing_of(run.timelines()[0])
    assert timing.ttft == pytest.approx(0.005 + 0.004)
    assert timing.itl == pytest.approx([0.006, 0.006])


def test_continuous_batching_beats_static_on_mixed_lengths(ngram):
    requests = mixed_requests(8, short=4, long=48)
    runs = {
        mode: run_requests(
            ngram, requests, EngineConfig(max_num_seqs=4, scheduling=mode), virtual=True
        )
        for mode in ("static", "continuous")
    }
    assert runs["continuous"].stats.steps < runs["static"].stats.steps
    assert runs["continuous"].summary().ttft.mean < runs["static"].summary().ttft.mean


def test_scarce_kv_blocks_preempt(ngram):
    def preemptions(num_blocks):
        config = EngineConfig(
            max_num_seqs=4, block_size=4, num_blocks=num_blocks, prefix_caching=False
        )
        return run_requests(
            ngram, [("The if statement ", 24)] * 4, config, virtual=True
        ).stats.preemptions

    assert preemptions(64) == 0 and preemptions(12) > 0


def test_timeline_rows_show_queue_prefill_and_one_bar_per_decode_step(ngram):
    run = run_requests(ngram, [("The ", 3), ("A ", 2)], EngineConfig(max_num_seqs=1), virtual=True)
    rows = timeline_rows(run.timelines(), origin=0.0)
    first = [r["phase"] for r in rows if r["request"] == run.ids[0]]
    assert first == ["queued", "prefill", "decode", "decode"]
    second = [r for r in rows if r["request"] == run.ids[1]]
    queued = second[0]
    assert (
        queued["phase"] == "queued" and queued["end_ms"] > queued["start_ms"]
    )  # waited for a slot
    assert all(r["end_ms"] >= r["start_ms"] for r in rows)


def test_timeline_chart_describes_each_request(ngram):
    from lesson.widgets.charts import VEGA_LITE_SCHEMA, timeline_chart

    run = run_requests(ngram, [("The ", 3), ("A ", 2)], virtual=True)
    spec = timeline_chart(timeline_rows(run.timelines(), origin=0.0), title="t", x_title="ms")
    assert spec["$schema"] == VEGA_LITE_SCHEMA and spec["encoding"]["x2"] == {"field": "end_ms"}
    assert all(rid in spec["description"] for rid in run.ids)
    assert "prefill" in spec["description"]


def test_the_stand_in_falls_back_to_the_builtins_docstrings_without_pydoc_data(monkeypatch):
    import builtins
    import sys

    from lesson.models import ngram as ngram_module
    from lesson.teaching.generative import stand_in_model

    model, corpus = stand_in_model()
    assert "pydoc_data" in corpus and model is ngram_module.pydoc_ngram()
    real_import = builtins.__import__

    def no_pydoc_data(name, *args, **kwargs):
        if name.startswith("pydoc_data"):
            raise ModuleNotFoundError("No module named 'pydoc_data'")
        return real_import(name, *args, **kwargs)

    ngram_module.pydoc_ngram.cache_clear()
    monkeypatch.delitem(sys.modules, "pydoc_data.topics", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_pydoc_data)
    try:
        model, corpus = stand_in_model()
    finally:
        ngram_module.pydoc_ngram.cache_clear()
    assert "built-ins" in corpus and model.name == "builtins-ngram"
    run = run_requests(model, [("The ", 4)], virtual=True)
    assert run.stats.tokens_generated == 4


def test_longest_gap_names_the_request_the_gap_and_the_prefill_in_its_step():
    from lesson.patterns.generative import RequestTimeline
    from lesson.teaching.generative import longest_gap

    # req-0 decodes at steps ending 1, 2, 3, 9 (its 3rd gap is the long one); req-1 had its
    # prefill in the step that ended at 9; req-2's first token came at 2, beside a short gap
    a = RequestTimeline("req-0", 4, 0.0, 0.0, token_times=[1.0, 2.0, 3.0, 9.0])
    b = RequestTimeline("req-1", 4, 0.0, 3.0, token_times=[9.0, 10.0])
    c = RequestTimeline("req-2", 4, 0.0, 1.0, token_times=[2.0])
    sentence = longest_gap([a, b, c])
    assert sentence.startswith(
        "The longest decode gap was req-0's 3rd of 3 (6000 ms): req-1's prefill"
    )
    assert "took 3500 ms on average (2 gaps), one without 1000 ms (2)" in sentence
    alone = longest_gap([RequestTimeline("r", 1, 0.0, 0.0, token_times=[0.0, 1.0, 5.0])])
    assert "no other request's prefill ran in that step" in alone
