"""Real models with real costs, loaded by test servers via `--registry lesson_test_models:...`.

`sleepy` spends `row[0]` seconds (capped at 5) in `predict`, like a model whose work takes
that long; `slow_start` spends 2 s on its first call (a cold cache), then is instant.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from lesson.core.model import AveragedEnsembleModel, ModelMetadata, ModelRegistry


class SleepyModel:
    name = "sleepy"
    version = "1"
    one_output_per_row = True

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        delay = max(0.0, min(5.0, float(rows[0][0]))) if rows and rows[0] else 0.0
        if delay:
            time.sleep(delay)
        return [sum(row) / len(row) for row in rows]

    def metadata(self) -> ModelMetadata:
        return ModelMetadata(
            self.name,
            self.version,
            description="sleeps row[0] seconds",
            inputs=[{"name": "input__0", "datatype": "FP64", "shape": [-1, -1]}],
            outputs=[{"name": "output__0", "datatype": "FP64", "shape": [-1]}],
        )


class SlowStartModel(SleepyModel):
    name = "slow_start"
    START_SECONDS = 2.0

    def __init__(self) -> None:
        self._loaded = threading.Event()

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        if not self._loaded.is_set():
            time.sleep(self.START_SECONDS)
            self._loaded.set()
        return [0.0 for _ in rows]


def sleepy_registry() -> ModelRegistry:
    """The default model plus `sleepy`."""
    return ModelRegistry([AveragedEnsembleModel(), SleepyModel()])


def slow_start_registry() -> ModelRegistry:
    return ModelRegistry([SlowStartModel()])


#: the slow device's simulated cost per call: large, so that batching shows in wall time
SLOW_DEVICE_CALL_S = 0.1


def slow_device_registry() -> ModelRegistry:
    """The real MLP behind a SIMULATED device that costs 100 ms per call, one call at a time."""
    from lesson.models.accelerator import SimulatedAcceleratorModel
    from lesson.models.mlp import load_default_mlp

    device = SimulatedAcceleratorModel(
        load_default_mlp(), fixed_cost_s=SLOW_DEVICE_CALL_S, per_row_s=0.0, name="slow-device"
    )
    return ModelRegistry([device])
