"""The autoscaling policy on a virtual clock, and the recorded Ray Serve run the pages quote."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from lesson.teaching.autoscaling import RecordError, load_record, sentences, summarize
from lesson.teaching.autoscaling_sim import Policy, policy_from_settings, simulate

ROOT = Path(__file__).resolve().parents[2]


def test_upscale_waits_for_the_delay_then_goes_to_what_the_load_asks():
    policy = Policy(min_replicas=1, max_replicas=4, target_ongoing=2, upscale_delay_s=3)
    assert policy.decide(0.0, 6.0, 1) == 1  # wants 3, the delay starts
    assert policy.decide(2.9, 6.0, 1) == 1
    assert policy.decide(3.0, 6.0, 1) == 3  # 6 in flight / 2 per replica


def test_never_above_max_and_a_change_of_direction_restarts_the_clock():
    policy = Policy(min_replicas=1, max_replicas=2, target_ongoing=1, upscale_delay_s=1)
    assert policy.decide(0.0, 50.0, 1) == 1
    assert policy.decide(0.5, 0.0, 1) == 1  # the wish is gone: the clock stops
    assert policy.decide(1.2, 50.0, 1) == 1  # a new wish, a new clock
    assert policy.decide(2.2, 50.0, 1) == 2  # capped at max_replicas, not 50


def test_down_to_min_then_zero_only_after_the_downscale_delay():
    policy = Policy(min_replicas=0, max_replicas=3, target_ongoing=1, downscale_delay_s=5)
    assert policy.decide(0.0, 0.0, 3) == 3
    assert policy.decide(4.9, 0.0, 3) == 3
    assert policy.decide(5.0, 0.0, 3) == 0
    floor = Policy(min_replicas=1, max_replicas=3, target_ongoing=1, downscale_delay_s=5)
    floor.decide(0.0, 0.0, 3)
    assert floor.decide(6.0, 0.0, 3) == 1  # never below min_replicas


def test_from_zero_a_waiting_request_scales_up_at_once():
    policy = Policy(min_replicas=0, max_replicas=3, target_ongoing=1, upscale_delay_s=30)
    assert policy.decide(0.0, 1.0, 0) == 1


def test_bad_policy_and_steps_are_refused():
    with pytest.raises(ValueError, match="min_replicas"):
        Policy(min_replicas=3, max_replicas=2)
    with pytest.raises(ValueError, match="target_ongoing"):
        Policy(target_ongoing=0)
    with pytest.raises(ValueError, match="steps"):
        simulate(Policy(), [(0, 5.0)])


def test_the_simulated_step_load_queues_then_scales_then_goes_to_zero():
    policy = Policy(min_replicas=0, max_replicas=3, target_ongoing=0.5, upscale_delay_s=3,
                    downscale_delay_s=5)  # fmt: skip
    rows = simulate(policy, [(10, 8.0), (20, 40.0), (15, 8.0), (20, 0.0)], call_s=0.04)
    assert [r.t for r in rows] == list(range(65))
    assert all(r.replicas == 1 for r in rows[:10])  # 8 req/s x 40 ms: one replica is enough
    assert rows[11].replicas == 1 and rows[11].in_flight > 10  # 40 req/s > 25: a queue grows
    assert max(r.replicas for r in rows) == 3  # never above max_replicas
    first_up = next(r.t for r in rows if r.replicas > 1)
    assert 10 + 3 <= first_up <= 10 + 3 + 2 + 1  # the delay, then the replica's start
    assert rows[12].p99_ms > 10 * rows[5].p99_ms  # the queueing shows in p99
    assert rows[29].in_flight <= 3 and rows[29].p99_ms < 100  # caught up
    assert rows[-1].replicas == 0  # idle: down to zero


@pytest.fixture(scope="module")
def record():
    return load_record()


def test_the_record_is_well_formed_and_says_where_it_came_from(record):
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", record["date"])
    assert "benchmarks/record_ray_autoscaling.py" in record["command"]
    assert record["machine"]["cpus"] >= 1 and record["machine"]["ray"].startswith("2.")
    assert (ROOT / "benchmarks/record_ray_autoscaling.py").is_file()
    steps = record["settings"]["steps"]
    assert len(record["series"]) == sum(int(s["seconds"]) for s in steps)


def test_a_broken_record_is_refused_with_a_reason(record):
    broken = copy.deepcopy(record)
    del broken["series"][3]["p99_ms"]
    with pytest.raises(RecordError, match="row 3 lacks"):
        load_record(json.dumps(broken))
    broken = copy.deepcopy(record)
    broken["series"][4]["replicas"] = 99
    with pytest.raises(RecordError, match="outside"):
        load_record(json.dumps(broken))
    with pytest.raises(RecordError, match="no 'date'"):
        load_record(json.dumps({k: v for k, v in record.items() if k != "date"}))


def test_the_summary_is_computed_from_the_rows(record):
    s = summarize(record)
    series = record["series"]
    assert s.max_replicas == max(r["replicas"] or 0 for r in series)
    assert s.in_flight_peak == max(r["in_flight"] for r in series)
    assert s.requests == sum(r["intended"] for r in series)
    # change the rows and the figures follow
    changed = copy.deepcopy(record)
    for row in changed["series"]:
        row["in_flight"] += 1000
    assert summarize(changed).in_flight_peak == s.in_flight_peak + 1000


def test_the_sentences_quote_the_summary(record):
    s = summarize(record)
    text = " ".join(sentences(s))
    assert s.date in text and s.command in text
    assert f"{s.cold_start_s:.2f} s" in text
    if s.first_upscale_s is not None:
        assert f"{s.upscale_text()} later" in text


def test_the_simulation_runs_the_recorded_runs_policy(record):
    from lesson.teaching.autoscaling import simulate_record, simulation_sentence

    settings = record["settings"]
    rows = simulate_record(record)
    assert len(rows) == len(record["series"])
    assert max(r.replicas for r in rows) <= settings["max_replicas"]
    assert asdict(rows[0]).keys() >= {"t", "replicas", "in_flight", "p99_ms"}
    same = simulate(policy_from_settings(settings), [(s["seconds"], s["rate"]) for s in settings["steps"]],
                    call_s=settings["call_s"], look_back_s=settings["look_back_period_s"],
                    start_s=0.0, initial_replicas=settings["initial_replicas"] or 1)  # fmt: skip
    summary = summarize(record)
    if summary.decided_at_s is not None and summary.serving_at_s is not None:
        # simulate_record waits the start time the recorded run measured before a replica serves
        first_up = lambda sim: next(r.t for r in sim if r.replicas > 1)
        measured = summary.serving_at_s - summary.decided_at_s
        assert abs(first_up(rows) - first_up(same) - measured) <= 1.5
    text = simulation_sentence(record, rows)
    peak = max(r.p99_ms or 0 for r in rows)
    assert f"{peak:,.0f} ms" in text or "no replica" in text


def test_the_scaling_page_and_notebook_draw_from_the_record():
    page = (ROOT / "docs/scaling.md").read_text()
    notebook = (ROOT / "notebooks/src/07-resilience.py").read_text()
    for text in (page, notebook):
        assert "load_record()" in text and "sentences(" in text
        assert "autoscaling_chart(" in text


def test_the_replicas_record_is_quoted_from_its_summary():
    from lesson.teaching.autoscaling import (
        load_replicas_record,
        replicas_rows,
        replicas_sentences,
    )

    record = load_replicas_record()
    assert "benchmarks/bench_ray_serve.py" in record["command"]
    assert len(record["rounds"]) == record["settings"]["runs"]
    over = record["summary"]["overhead"]
    text = " ".join(replicas_sentences(record))
    assert record["date"] in text and f"{over['throughput_ratio']:.3g}x" in text
    rows = replicas_rows(record)
    assert {row["2 / 1"] for row in rows} == {
        v["ratio_2_over_1"] for k, v in record["summary"].items() if k != "overhead"
    }
    with pytest.raises(RecordError, match="no 'summary'"):
        load_replicas_record(json.dumps({k: v for k, v in record.items() if k != "summary"}))
    page = (ROOT / "docs/scaling.md").read_text()
    assert "load_replicas_record()" in page and "replicas_sentences(" in page
