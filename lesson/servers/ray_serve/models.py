"""The model the autoscaling run serves: the MLP behind a SIMULATED accelerator with a slow call.

With the registry's accelerator (2 ms a call) Ray's own work per request (about 10 ms on this
project's two-core machine, ``benchmarks/README.md``), not the device, bounds a replica. At 40
ms a call, one call at a time (the simulation's lock), one replica answers at most 25 requests
a second while using almost no CPU (the call waits), so the number of replicas is what sets the
capacity, as it would be with one accelerator per replica.
"""

from __future__ import annotations

from lesson.core.model import ModelRegistry

__all__ = ["SCALING_CALL_S", "SCALING_MODEL", "scaling_registry"]

SCALING_CALL_S = 0.04
SCALING_MODEL = "diabetes-mlp-slow-accelerator"


def scaling_registry() -> ModelRegistry:
    """One model, ``diabetes-mlp-slow-accelerator``: the numpy MLP behind a SIMULATED
    accelerator whose call waits 40 ms (plus 20 µs a row)."""
    from lesson.models.accelerator import SimulatedAcceleratorModel
    from lesson.models.mlp_numpy import load_default_numpy_mlp

    registry = ModelRegistry()
    model = SimulatedAcceleratorModel(
        load_default_numpy_mlp(), fixed_cost_s=SCALING_CALL_S, name=SCALING_MODEL
    )
    registry.register(model, default=True)
    return registry
