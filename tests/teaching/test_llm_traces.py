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
        "slowest-TTFT request · request",  # six requests: no p99 to speak of
        "slowest-TTFT request · queued",
    ]
    sentence = run.sentence()
    assert "slowest-TTFT request" in sentence and "Where the tail waited: queued" in sentence
    assert "server span ends" not in sentence  # no server here
    marks = run.markers()
    assert [m["request"] for m in marks] == [r["request"] for r in run.rows()]
    assert {m["at_ms"] for m in marks} == {round(run.p99.ttft_ms, 4), round(run.p50.ttft_ms, 4)}


def test_a_server_span_that_outlives_its_client_span_is_explained_with_the_gap():
    from lesson.teaching.llm_traces import StreamTraceRun, StreamWaterfall

    def stream(label, client_end, server_end):
        w = StreamWaterfall(label, client_end, ttft_ms=20.0)
        w.spans += [("client", 0.0, client_end), ("server", 2.0, server_end)]
        w.spans += [("queued", 2.0, 10.0), ("prefill", 10.0, 19.0), ("decode", 19.0, 50.0)]
        return w

    run = StreamTraceRun("test", 2, stream("slow", 60.0, 67.5), stream("median", 55.0, 54.0))
    sentence = run.sentence()
    assert "by 7.50 ms (slow)" in sentence and "(median)" not in sentence.split("server span")[1]
    assert "[DONE]" in sentence
