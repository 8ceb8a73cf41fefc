"""The generative waterfall's in-process path (the browser's): the engine's timelines per
request, the p99 and p50 picked by time to first token, a sentence computed from them."""

from __future__ import annotations

from lesson.models.ngram import pydoc_ngram
from lesson.teaching.llm_traces import in_process_streams


def test_in_process_streams_pick_by_ttft_and_say_where_the_first_token_waited():
    prompts = ["def f(x): ", "class A: ", "import os", "for i in ", "while x: ", "if a: "]
    run = in_process_streams(pydoc_ngram(), prompts, max_num_seqs=2, max_tokens=4)
    assert run.requests == len(prompts)
    assert run.p99.ttft_ms >= run.p50.ttft_ms > 0
    # two slots for six requests: the last admitted waited for two rounds of others
    assert run.p99.duration("queued") > run.p50.duration("queued") >= 0
    for waterfall in (run.p99, run.p50):
        names = [name for name, *_ in waterfall.spans]
        assert names == ["request", "queued", "prefill", "decode"]
        ends = [end for _, _, end in waterfall.spans]
        for _, start, end in waterfall.spans:
            assert 0 <= start <= end <= waterfall.total_ms + 1e-6
        assert ends[1] <= ends[2] <= ends[3]  # queued, then prefill, then decode
        assert abs(sum(waterfall.ttft_shares().values()) - 1) < 1e-6
    assert [r["request"] for r in run.rows()][:2] == [
        "p99-TTFT request · request",
        "p99-TTFT request · queued",
    ]
    sentence = run.sentence()
    assert "p99-TTFT request" in sentence and "Where the tail waited: queued" in sentence
