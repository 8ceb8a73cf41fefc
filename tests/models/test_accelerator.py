"""The simulated accelerator: its cost shape is real time, and it says it is a simulation."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lesson.models.accelerator import SimulatedAcceleratorModel
from lesson.models.mlp import load_default_mlp

ROW = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]


def test_predictions_are_the_inner_models():
    sim = SimulatedAcceleratorModel(load_default_mlp())
    assert sim.predict([ROW, ROW]) == load_default_mlp().predict([ROW, ROW])
    assert "SIMULATED" in sim.metadata().description
    assert sim.metadata().platform == "simulated-accelerator"


def test_fixed_cost_dominates_and_one_call_at_a_time():
    sim = SimulatedAcceleratorModel(load_default_mlp(), fixed_cost_s=0.01, per_row_s=50e-6)
    t0 = time.perf_counter()
    sim.predict([ROW])
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.predict([ROW] * 100)
    hundred = time.perf_counter() - t0
    assert one >= 0.01 and hundred >= 0.015
    assert hundred < 10 * one  # 100 rows cost far less than 100 single calls
    with ThreadPoolExecutor(4) as pool:
        t0 = time.perf_counter()
        list(pool.map(lambda _: sim.predict([ROW]), range(4)))
        serial = time.perf_counter() - t0
    assert serial >= 4 * 0.01  # the lock: calls do not overlap
    assert sim.calls == 6 and sim.rows == 105


def test_bounds():
    with pytest.raises(ValueError, match="fixed_cost_s"):
        SimulatedAcceleratorModel(load_default_mlp(), fixed_cost_s=5)
