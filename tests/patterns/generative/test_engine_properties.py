"""Random workloads (hypothesis): arrivals, lengths, memory, aborts; the engine's invariants hold.

For any configuration and any workload: no step exceeds ``max_num_seqs`` or the token budget;
every step with work runs the model (nothing stalls); every request that is not aborted
finishes, within a bounded number of steps, with exactly the tokens it gets when it runs
alone (so preemption + recompute, chunked prefill and prefix-cache hits change nothing); and
no KV block leaks: at the end only the prefix cache holds blocks (none without it).
"""

from __future__ import annotations

from generative_support import MAX_SEQ_LEN, RecordingModel, run_alone, small_model
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from lesson.patterns.generative import Engine, EngineConfig, GenerationError, SamplingParams
from lesson.patterns.generative.blocks import blocks_for
from lesson.patterns.generative.sequence import Status

BASE = list(b"The with statement is used to wrap the execution of a block")

request = st.fixed_dictionaries(
    {
        "arrive": st.integers(0, 12),  # the step before which it is added
        "shared": st.integers(0, 24),  # leading tokens shared with other prompts
        "own": st.lists(st.integers(32, 126), min_size=0, max_size=16),
        "max_tokens": st.integers(1, 24),
        "temperature": st.sampled_from([0.0, 0.8]),
        "seed": st.integers(0, 3),
        "ignore_eos": st.booleans(),
        "abort_after": st.none() | st.integers(0, 10),  # steps after arrival
    }
)

config = st.builds(
    dict,
    max_num_seqs=st.integers(1, 5),
    extra_budget=st.integers(0, 40),
    block_size=st.integers(1, 6),
    num_blocks=st.integers(6, 30),
    prefix_caching=st.booleans(),
    scheduling=st.sampled_from(["continuous", "static"]),
)


def _check_running(engine):
    """Each running sequence holds exactly the blocks its computed positions need."""
    size = engine.config.block_size
    held = 0
    for seq in engine.scheduler.running:
        assert seq.status is Status.RUNNING
        assert len(seq.block_ids) == blocks_for(seq.num_computed, size)
        assert len(seq.cache) == seq.num_computed
        held += len(seq.block_ids)
    assert sum(b.ref_count for b in engine.allocator.blocks) == held
    for seq in engine.scheduler.waiting:
        assert seq.block_ids == [] and seq.cache is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=config, requests=st.lists(request, min_size=1, max_size=8))
def test_random_workloads_keep_every_invariant(cfg, requests):
    max_num_seqs = cfg.pop("max_num_seqs")
    budget = max_num_seqs + cfg.pop("extra_budget")
    engine_config = EngineConfig(max_num_seqs=max_num_seqs, max_tokens_per_step=budget, **cfg)
    model = RecordingModel(small_model())
    engine = Engine(model, engine_config)

    accepted = {}
    by_step: dict[int, list] = {}
    for i, r in enumerate(requests):
        ids = (BASE[: r["shared"]] + r["own"]) or [65]
        params = SamplingParams(
            max_tokens=r["max_tokens"],
            temperature=r["temperature"],
            seed=r["seed"],
            ignore_eos=r["ignore_eos"],
        )
        by_step.setdefault(r["arrive"], []).append((f"r{i}", ids, params, r["abort_after"]))

    aborts: dict[int, list[str]] = {}
    outputs: dict[str, list[int]] = {}
    reasons: dict[str, str] = {}
    preempted_tokens = 0
    step = 0
    last_arrival = max(by_step)
    while step <= last_arrival or engine.has_work():
        for rid, ids, params, abort_after in by_step.get(step, []):
            try:
                engine.add_request(ids, params, request_id=rid)
            except GenerationError:
                # refused only when it could never fit the context or the KV memory
                positions = len(ids) + params.max_tokens
                assert (
                    positions > MAX_SEQ_LEN
                    or blocks_for(positions - 1, engine_config.block_size)
                    > engine_config.num_blocks
                )
                continue
            accepted[rid] = (ids, params)
            if abort_after is not None:
                aborts.setdefault(step + abort_after, []).append(rid)
        for rid in aborts.get(step, []):
            if engine.abort(rid):
                reasons[rid] = "abort"
        had_work = engine.has_work()
        calls = len(model.calls)
        events = engine.step()
        if had_work:
            assert len(model.calls) == calls + 1, "a step with work did not run the model"
            call = model.calls[-1]
            assert len(call) <= engine_config.max_num_seqs
            assert sum(n for n, _ in call) <= engine_config.max_tokens_per_step
            preempted_tokens += sum(
                len(engine.timeline(rid).token_times) + len(accepted[rid][0])
                for rid in engine.last_step.preempted
            )
        for event in events:
            outputs.setdefault(event.request_id, []).append(event.token_id)
            assert event.index == len(outputs[event.request_id]) - 1
            if event.finish_reason:
                reasons[event.request_id] = event.finish_reason
        _check_running(engine)
        step += 1
        # bounded: every step computes at least one token of the oldest running request
        work = sum(len(ids) + p.max_tokens for ids, p in accepted.values()) + preempted_tokens
        assert step <= last_arrival + 1 + work

    stats = engine.stats()
    note_event(f"preempted: {bool(stats.preemptions)}")
    note_event(f"prefix cache hit: {bool(stats.prefix_hit_tokens)}")
    note_event(f"aborted: {bool(stats.aborted)}")
    note_event(f"all served: {len(accepted) == len(requests)}")
    assert stats.running == stats.waiting == 0
    assert engine.allocator.held_blocks == 0
    assert stats.blocks_used == stats.blocks_cached
    if not engine_config.prefix_caching:
        assert stats.blocks_used == 0 and stats.prefix_hit_tokens == 0
    assert set(reasons) == set(accepted)
    for rid, (ids, params) in accepted.items():
        if reasons[rid] == "abort":
            continue
        assert reasons[rid] in ("stop", "length")
        expected = run_alone(ids, params)
        assert outputs[rid] == expected, (rid, engine.timeline(rid))
        if params.ignore_eos:
            assert len(outputs[rid]) == params.max_tokens


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    block_size=st.integers(1, 4),
    spare_blocks=st.integers(0, 8),
    max_num_seqs=st.integers(2, 6),
    prefix_caching=st.booleans(),
    scheduling=st.sampled_from(["continuous", "static"]),
    requests=st.lists(
        st.tuples(st.integers(1, 20), st.integers(4, 24), st.sampled_from([0.0, 1.0])),
        min_size=2,
        max_size=6,
    ),
)
def test_under_memory_pressure_preemption_changes_no_token(
    block_size, spare_blocks, max_num_seqs, prefix_caching, scheduling, requests
):
    # memory for the largest request plus a little: running them together must preempt
    need = max(blocks_for(n + m - 1, block_size) for n, m, _ in requests)
    config = EngineConfig(
        max_num_seqs=max_num_seqs,
        max_tokens_per_step=64,
        block_size=block_size,
        num_blocks=need + spare_blocks,
        prefix_caching=prefix_caching,
        scheduling=scheduling,
    )
    engine = Engine(small_model(), config)
    wanted = {}
    for i, (n, max_tokens, temperature) in enumerate(requests):
        params = SamplingParams(max_tokens, temperature=temperature, seed=i, ignore_eos=True)
        ids = BASE[i : i + n]
        wanted[engine.add_request(ids, params)] = run_alone(ids, params)
    got: dict[str, list[int]] = {}
    for ev in engine.run(max_steps=10_000):
        got.setdefault(ev.request_id, []).append(ev.token_id)
    stats = engine.stats()
    note_event(f"{scheduling}, preempted: {bool(stats.preemptions)}")
    if scheduling == "static":  # a static batch reserves its longest answers up front
        assert stats.preemptions == 0
    assert not engine.has_work() and got == wanted
    assert engine.allocator.held_blocks == 0 and stats.blocks_used == stats.blocks_cached
