"""The engine: scheduling, preemption, the prefix cache, seeds, aborts, validation, timelines."""

from __future__ import annotations

import pytest
from generative_support import FakeClock, RecordingModel, greedy, prompt, run_alone, small_model

from lesson.core.generative import KVCache, LanguageModel
from lesson.patterns.generative import (
    ContextLengthError,
    DuplicateRequestError,
    Engine,
    EngineConfig,
    GenerationError,
    InvalidPromptError,
    InvalidSamplingParamsError,
    SamplingParams,
)

TEXT = "The for statement is used to iterate over the elements of a sequence"


def tokens_of(events, rid):
    return [e.token_id for e in events if e.request_id == rid]


def test_the_ngram_model_is_a_language_model():
    model = small_model()
    assert isinstance(model, LanguageModel) and isinstance(model.new_cache(), KVCache)


def test_one_request_runs_prefill_then_one_decode_per_step():
    model = RecordingModel(small_model())
    engine = Engine(model, EngineConfig(block_size=4, num_blocks=32), clock=FakeClock())
    rid = engine.add_request(prompt("def "), SamplingParams(5, temperature=0, ignore_eos=True))
    events = engine.run()
    assert [e.index for e in events] == [0, 1, 2, 3, 4]
    assert [e.finish_reason for e in events] == [None] * 4 + ["length"]
    assert model.calls == [[(4, 0)], [(1, 4)], [(1, 5)], [(1, 6)], [(1, 7)]]
    tl = engine.timeline(rid)
    assert tl.queued_at < tl.admitted_at == events[0].step_started < tl.token_times[0]
    assert (
        tl.token_times == [e.step_finished for e in events] and tl.finished_at == tl.token_times[-1]
    )
    assert tl.finish_reason == "length" and tl.time_to_first_token > 0
    stats = engine.stats()
    assert (stats.steps, stats.tokens_generated, stats.finished, stats.running) == (5, 5, 1, 0)


def test_all_running_sequences_share_one_model_call_per_step():
    model = RecordingModel(small_model())
    engine = Engine(model, EngineConfig(block_size=4, num_blocks=64, max_num_seqs=3))
    for text in ("import ", "class A", "while x"):
        engine.add_request(prompt(text), SamplingParams(4, temperature=0, ignore_eos=True))
    engine.run()
    assert model.calls[0] == [(7, 0), (7, 0), (7, 0)]
    assert all(call == [(1, n)] * 3 for call, n in zip(model.calls[1:], range(7, 10)))


def test_continuous_batching_finishes_a_short_request_behind_a_long_one_sooner():
    def steps_until_short_done(scheduling):
        engine = Engine(
            small_model(), EngineConfig(block_size=4, num_blocks=64, scheduling=scheduling)
        )
        engine.add_request(prompt("long"), greedy(40, ignore_eos=True), request_id="long")
        engine.step()  # the long one is running when the short one arrives
        engine.add_request(prompt("short"), greedy(3, ignore_eos=True), request_id="short")
        steps = 1
        while engine.timeline("short").finished_at is None:
            engine.step()
            steps += 1
        return steps, engine

    continuous, _ = steps_until_short_done("continuous")
    static, engine = steps_until_short_done("static")
    assert continuous == 4  # joins at step 2 (prefill + first token), two more decodes
    assert static == 43  # waits for the 40-token batch, then 3 steps
    assert engine.timeline("short").admitted_at > engine.timeline("long").finished_at


def test_static_batching_admits_nothing_while_a_batch_runs():
    model = RecordingModel(small_model())
    engine = Engine(model, EngineConfig(block_size=4, num_blocks=64, scheduling="static"))
    a = engine.add_request(prompt("ab"), greedy(2, ignore_eos=True))
    b = engine.add_request(prompt("cd"), greedy(6, ignore_eos=True))
    engine.step()
    c = engine.add_request(prompt("ef"), greedy(2, ignore_eos=True))
    events = engine.run()
    done_a = engine.timeline(a).finished_at
    assert engine.timeline(c).admitted_at > engine.timeline(b).finished_at > done_a
    assert [len(call) for call in model.calls] == [2, 2, 1, 1, 1, 1, 1, 1]
    assert len(tokens_of(events, c)) == 2


def test_preemption_recomputes_and_gives_the_same_tokens():
    prompts = [prompt(t) for t in ("The for ", "A class ", "Import o", "Return t")]
    params = [
        greedy(20, ignore_eos=True),
        SamplingParams(20, temperature=0.9, seed=3, ignore_eos=True),
    ]
    alone = {(i, j): run_alone(p, params[j]) for i, p in enumerate(prompts) for j in range(2)}
    # 8 requests of 8 + 20 - 1 positions = 7 blocks of 4 each; 16 blocks: someone must yield
    engine = Engine(small_model(), EngineConfig(block_size=4, num_blocks=16, max_num_seqs=8))
    for i, j in alone:
        engine.add_request(prompts[i], params[j], request_id=f"{i}-{j}")
    events = engine.run()
    stats = engine.stats()
    assert stats.preemptions > 0
    assert sum(engine.timeline(f"{i}-{j}").preemptions for i, j in alone) == stats.preemptions
    for (i, j), expected in alone.items():
        assert tokens_of(events, f"{i}-{j}") == expected
    assert stats.blocks_used == stats.blocks_cached and engine.allocator.held_blocks == 0


def test_a_prefix_cache_hit_gives_the_same_tokens_and_is_counted():
    model = RecordingModel(small_model())
    engine = Engine(model, EngineConfig(block_size=4, num_blocks=64))
    shared = prompt(TEXT[:26])  # 26 tokens: six full blocks
    first = engine.add_request(shared + prompt(" first"), greedy(6))
    out_first = tokens_of(engine.run(), first)
    assert engine.stats().prefix_hit_tokens == 0 and engine.stats().blocks_cached >= 6
    second = engine.add_request(shared + prompt(" again"), greedy(6))
    calls_before = len(model.calls)
    out_second = tokens_of(engine.run(), second)
    assert engine.stats().prefix_hit_tokens == 24 == engine.timeline(second).prefix_hit_tokens
    assert model.calls[calls_before][0] == (32 - 24, 24)  # only the rest of the prompt computed
    assert out_second == run_alone(shared + prompt(" again"), greedy(6), prefix_caching=False)
    assert out_first == run_alone(shared + prompt(" first"), greedy(6), prefix_caching=False)


def test_an_identical_prompt_recomputes_at_least_its_last_token():
    model = RecordingModel(small_model())
    engine = Engine(model, EngineConfig(block_size=4, num_blocks=64))
    ids = prompt("12345678")  # two full blocks of 4
    engine.add_request(ids, greedy(3), request_id="first")
    a = tokens_of(engine.run(), "first")
    engine.add_request(ids, greedy(3), request_id="again")
    calls_before = len(model.calls)
    b = tokens_of(engine.run(), "again")
    assert a == b and model.calls[calls_before][0] == (4, 4)  # one block reused, one computed


def test_prefix_caching_off_keeps_nothing():
    engine = Engine(small_model(), EngineConfig(block_size=4, num_blocks=64, prefix_caching=False))
    for _ in range(2):
        engine.add_request(prompt(TEXT[:20]), greedy(4))
        engine.run()
    stats = engine.stats()
    assert stats.prefix_hit_tokens == 0 and stats.blocks_used == 0 and stats.blocks_cached == 0


def test_cached_blocks_are_evicted_when_memory_is_needed():
    engine = Engine(small_model(), EngineConfig(block_size=4, num_blocks=8))
    engine.add_request(prompt(TEXT[:20]), greedy(4, ignore_eos=True))
    engine.run()
    assert engine.stats().blocks_cached == 5  # 23 computed positions: five full blocks
    engine.add_request(prompt(TEXT[30:50]), greedy(9, ignore_eos=True))
    engine.run()
    assert engine.allocator.evictions > 0 and engine.stats().blocks_used <= 8


def test_the_same_seed_gives_the_same_tokens_in_any_company():
    params = SamplingParams(12, temperature=1.0, top_p=0.9, seed=42, ignore_eos=True)
    ids = prompt("x = ")
    alone = run_alone(ids, params)
    engine = Engine(small_model(), EngineConfig(block_size=4, num_blocks=64))
    engine.add_request(prompt("other"), SamplingParams(12, temperature=1.0, seed=1))
    rid = engine.add_request(ids, params)
    assert tokens_of(engine.run(), rid) == alone
    other_seed = run_alone(
        ids, SamplingParams(12, temperature=1.0, top_p=0.9, seed=43, ignore_eos=True)
    )
    assert other_seed != alone


def test_a_stop_token_ends_the_request_and_is_its_last_event():
    ids = prompt("a")
    free = run_alone(ids, greedy(10, ignore_eos=True))
    stop_at = free[3]
    engine = Engine(small_model(), EngineConfig(block_size=4, num_blocks=64))
    rid = engine.add_request(ids, greedy(10, stop_token_ids=(stop_at,)))
    events = engine.run()
    assert tokens_of(events, rid) == free[: free.index(stop_at) + 1]
    assert events[-1].finish_reason == "stop" and events[-1].token_id == stop_at


def test_eos_stops_unless_ignored():
    class EosModel(RecordingModel):
        def forward(self, batch):
            rows = super().forward(batch)
            return [[0.0] * (self.vocab_size - 1) + [10.0] for _ in rows]

    engine = Engine(EosModel(small_model()), EngineConfig(block_size=4, num_blocks=64))
    a = engine.add_request(prompt("a"), greedy(5))
    b = engine.add_request(prompt("b"), greedy(5, ignore_eos=True))
    events = engine.run()
    assert [e.finish_reason for e in events if e.request_id == a] == ["stop"]
    assert tokens_of(events, b) == [256] * 5 and events[-1].finish_reason == "length"


def test_a_long_prompt_is_prefilled_in_chunks_within_the_token_budget():
    model = RecordingModel(small_model())
    config = EngineConfig(block_size=4, num_blocks=64, max_num_seqs=2, max_tokens_per_step=8)
    engine = Engine(model, config)
    long_ids = prompt(TEXT[:30])
    rid = engine.add_request(long_ids, greedy(3, ignore_eos=True))
    events = engine.run()
    assert [c[0] for c in model.calls] == [(8, 0), (8, 8), (8, 16), (6, 24), (1, 30), (1, 31)]
    assert tokens_of(events, rid) == run_alone(long_ids, greedy(3, ignore_eos=True))
    assert all(sum(n for n, _ in call) <= 8 for call in model.calls)


def test_abort_frees_blocks_of_running_and_waiting_requests():
    engine = Engine(
        small_model(),
        EngineConfig(block_size=4, num_blocks=64, max_num_seqs=1, prefix_caching=False),
    )
    running = engine.add_request(prompt("hello there"), greedy(20, ignore_eos=True))
    waiting = engine.add_request(prompt("queued"), greedy(5))
    engine.step()
    assert engine.stats().blocks_used == 3 and engine.stats().waiting == 1
    assert engine.abort(running) and engine.stats().blocks_used == 0
    assert engine.abort(waiting) and not engine.has_work()
    assert not engine.abort(running) and not engine.abort("nobody")
    assert engine.timeline(running).finish_reason == "abort"
    assert engine.stats().aborted == 2 and engine.step() == []


def test_invalid_requests_raise_typed_errors():
    engine = Engine(small_model(), EngineConfig(block_size=4, num_blocks=10))
    ok = greedy(4)
    cases = [
        ([], ok, InvalidPromptError, "non-empty"),
        ([1, 999], ok, InvalidPromptError, "outside the vocabulary"),
        ([1, "a"], ok, InvalidPromptError, "integers"),
        ([1] * 64, ok, ContextLengthError, "at most 63"),
        ([1] * 60, greedy(5), ContextLengthError, "at most 4 tokens"),
        ([1] * 30, greedy(20), ContextLengthError, "KV blocks"),
        ([1], SamplingParams(0), InvalidSamplingParamsError, "max_tokens"),
        ([1], SamplingParams(1, temperature=-1), InvalidSamplingParamsError, "temperature"),
        ([1], SamplingParams(1, top_p=0.0), InvalidSamplingParamsError, "top_p"),
    ]
    for ids, params, error, words in cases:
        with pytest.raises(error, match=words):
            engine.add_request(ids, params)
        assert issubclass(error, GenerationError) and issubclass(error, ValueError)
    roomy = Engine(small_model(), EngineConfig(block_size=4, num_blocks=16))
    roomy.add_request([1] * 63, greedy(1))  # the longest prompt the context allows
    engine.add_request([1] * 20, greedy(20))  # 39 positions: exactly the 10 blocks
    engine.add_request([1], greedy(4), request_id="x")
    with pytest.raises(DuplicateRequestError):
        engine.add_request([1], greedy(4), request_id="x")
    assert engine.stats().waiting == 2


def test_config_checks():
    with pytest.raises(ValueError, match="scheduling"):
        EngineConfig(scheduling="dynamic")
    with pytest.raises(ValueError, match="max_tokens_per_step"):
        EngineConfig(max_num_seqs=8, max_tokens_per_step=4)
    with pytest.raises(ValueError, match="num_blocks"):
        EngineConfig(num_blocks=0)


def test_the_step_report_and_timelines_tell_what_happened():
    engine = Engine(small_model(), EngineConfig(block_size=2, num_blocks=6, max_num_seqs=2))
    a = engine.add_request(prompt("abcd"), greedy(6, ignore_eos=True))
    engine.step()
    report = engine.last_step
    assert (report.prefill_tokens, report.decode_seqs, report.admitted) == (4, 0, (a,))
    b = engine.add_request(prompt("xy"), greedy(6, ignore_eos=True))
    engine.step()
    report = engine.last_step
    assert (report.prefill_tokens, report.decode_seqs, report.admitted) == (2, 1, (b,))
    engine.run()
    tb = engine.timeline(b)
    # 6 blocks of 2 cannot hold both (9 + 7 positions): b, the newer one, was preempted
    assert engine.stats().preemptions == tb.preemptions >= 1 and len(tb.readmitted_at) >= 1
    assert tb.admitted_at < tb.readmitted_at[0] and len(tb.token_times) == 6
    assert engine.timeline(a).preemptions == 0
    with pytest.raises(KeyError):
        engine.timeline("nobody")
