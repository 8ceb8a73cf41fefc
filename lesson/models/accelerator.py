"""A model that SIMULATES an accelerator's cost profile (a GPU/TPU-like device), for batching.

This is not a real accelerator. It wraps a real model and adds the cost shape that makes
dynamic batching pay off on real hardware: a fixed cost per call (kernel launch, transfer,
synchronisation; here ``fixed_cost_s`` = 2 ms by default), a small cost per row (20 µs), and a
device that runs one call at a time (a lock). The waiting is ``time.sleep`` (or
``asyncio.sleep`` in :meth:`predict_async`), so the CPU stays free, as it would while a device
computes. The predictions are the wrapped model's, unchanged.

    >>> from lesson.models.accelerator import SimulatedAcceleratorModel
    >>> from lesson.models.mlp import load_default_mlp
    >>> sim = SimulatedAcceleratorModel(load_default_mlp())
    >>> sim.call_cost_s(64)    # one call of 64 rows: 2 ms + 64 x 20 µs
    0.00328
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

from lesson.core.model import Model, ModelMetadata

DEFAULT_FIXED_COST_S = 0.002
DEFAULT_PER_ROW_S = 20e-6


def hold_device(seconds: float) -> None:
    """Block the calling thread for ``seconds`` of simulated device time (``time.sleep`` may
    wake early: it sleeps again until the whole time has passed)."""
    deadline = time.perf_counter() + seconds
    remaining = seconds
    while remaining > 0:
        time.sleep(remaining)
        remaining = deadline - time.perf_counter()


class SimulatedAcceleratorModel:
    """SIMULATED accelerator: ``fixed_cost_s + per_row_s * rows`` per call, one call at a time.

    Args:
        inner: the real model that computes the predictions.
        fixed_cost_s: simulated fixed cost of one call, seconds (0 .. 1).
        per_row_s: simulated cost per row, seconds (0 .. 0.1).
        name: registry name (default ``<inner>-simulated-accelerator``).

    Attributes:
        calls: number of ``predict`` calls so far (to show how many batches ran).
        rows: number of rows predicted so far.
    """

    one_output_per_row = True
    simulated = True

    def __init__(
        self,
        inner: Model,
        *,
        fixed_cost_s: float = DEFAULT_FIXED_COST_S,
        per_row_s: float = DEFAULT_PER_ROW_S,
        name: str | None = None,
    ):
        if not 0 <= fixed_cost_s <= 1:
            raise ValueError(f"fixed_cost_s must be in 0..1 s, got {fixed_cost_s}")
        if not 0 <= per_row_s <= 0.1:
            raise ValueError(f"per_row_s must be in 0..0.1 s, got {per_row_s}")
        self.inner = inner
        self.fixed_cost_s = fixed_cost_s
        self.per_row_s = per_row_s
        self.name = name or f"{inner.name}-simulated-accelerator"
        self.version = inner.version
        self.n_features = getattr(inner, "n_features", None)
        self.calls = 0
        self.rows = 0
        self._lock = threading.Lock()
        self._async_locks: dict[int, asyncio.Lock] = {}

    def call_cost_s(self, n_rows: int) -> float:
        """Simulated device time for one call of ``n_rows`` rows."""
        return round(self.fixed_cost_s + self.per_row_s * n_rows, 9)

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Predict with the inner model, holding the simulated device for its cost.

        Blocks the calling thread (use :meth:`predict_async` inside an event loop).
        """
        out = self.inner.predict(rows)  # validate and compute first: bad input costs no device time
        with self._lock:
            hold_device(self.call_cost_s(len(rows)))
            self.calls += 1
            self.rows += len(rows)
        return out

    async def predict_async(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """The same cost with ``asyncio.sleep`` and an asyncio lock (for the browser / asyncio)."""
        out = self.inner.predict(rows)
        loop_id = id(asyncio.get_running_loop())
        lock = self._async_locks.setdefault(loop_id, asyncio.Lock())
        async with lock:
            await asyncio.sleep(self.call_cost_s(len(rows)))
            self.calls += 1
            self.rows += len(rows)
        return out

    def metadata(self) -> ModelMetadata:
        """The inner model's metadata, renamed and labelled as a simulation."""
        inner = self.inner.metadata()
        return ModelMetadata(
            name=self.name,
            version=self.version,
            platform="simulated-accelerator",
            n_features=inner.n_features,
            description=(
                f"SIMULATED accelerator around {inner.name}: {self.fixed_cost_s * 1e3:g} ms per call "
                f"+ {self.per_row_s * 1e6:g} µs per row, one call at a time (sleeps; not real hardware)"
            ),
            inputs=inner.inputs,
            outputs=inner.outputs,
        )

    def __repr__(self) -> str:
        return (
            f"SimulatedAcceleratorModel({self.inner.name!r}, fixed_cost_s={self.fixed_cost_s}, "
            f"per_row_s={self.per_row_s})"
        )
