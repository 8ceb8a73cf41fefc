"""The reference MLP, vectorised with numpy (servers and batch jobs; not part of the core).

Same artifact, same numbers as :mod:`lesson.models.mlp` (within 1e-6), but a batch of rows is one
pair of matrix products, so a call's fixed Python overhead is paid once per batch instead of
once per row.

    >>> from lesson.models.mlp_numpy import load_default_numpy_mlp
    >>> import numpy as np
    >>> load_default_numpy_mlp().predict_array(np.zeros((3, 10))).shape
    (3,)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from lesson.core.schema import ValidationError
from lesson.models.mlp import DEFAULT_MLP_NAME, MLPBase, MLPParams, _value_errors

#: Large arrays are run in blocks of this many rows: the activations stay in cache, and the
#: matrix products stay below the size where OpenBLAS starts threads (measured on a busy
#: 2-core machine: 65,536-row products ran at 0.6M rows/s, 1,024-row blocks at 6.6M rows/s).
BLOCK_ROWS = 1024


class NumpyMLPModel(MLPBase):
    """The MLP as numpy arrays. Implements the core ``Model`` protocol plus ``predict_array``."""

    platform = "python-numpy"

    def __init__(self, params: MLPParams, *, name: str, version: str, manifest: dict | None = None):
        super().__init__(params, name=name, version=version, manifest=manifest)
        self._mean = np.asarray(params.input_mean, dtype=np.float64)
        self._scale = np.asarray(params.input_scale, dtype=np.float64)
        # Stored out x in; keep in x out so a batch is X @ W.
        self._layers = [
            (
                np.ascontiguousarray(np.asarray(layer.weights, dtype=np.float64).T),
                np.asarray(layer.bias, dtype=np.float64),
                layer.activation == "relu",
            )
            for layer in params.layers
        ]

    def predict_array(self, X: np.ndarray) -> np.ndarray:
        """Predictions for an ``(n, n_features)`` float array (no per-row checks beyond shape).

        Raises:
            ValidationError: the array does not have ``n_features`` columns.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            got = X.shape[1] if X.ndim == 2 else X.shape
            raise ValidationError(
                [
                    {
                        "loc": ["body", "instances"],
                        "msg": f"Instances have {got} features; model {self.name} expects {self.n_features}",
                        "type": "too_long"
                        if X.ndim == 2 and X.shape[1] > self.n_features
                        else "too_short",
                    }
                ]
            )
        if len(X) <= BLOCK_ROWS:
            return self._forward(X)
        out = np.empty(len(X), dtype=np.float64)
        for start in range(0, len(X), BLOCK_ROWS):
            out[start : start + BLOCK_ROWS] = self._forward(X[start : start + BLOCK_ROWS])
        return out

    def _forward(self, X: np.ndarray) -> np.ndarray:
        h = (X - self._mean) / self._scale
        for W, b, relu in self._layers:
            h = h @ W
            h += b
            if relu:
                np.maximum(h, 0.0, out=h)
        return h[:, 0] * self.params.target_scale + self.params.target_mean

    def _predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        if len(rows) == 0:
            return []
        return self.predict_array(rows_array(rows)).tolist()


def rows_array(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """``rows`` as a float64 array; a value that is not a finite number is a
    :class:`ValidationError` naming its place (``body.instances[i][j]``)."""
    try:
        X = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise _value_errors(rows) from None
    if not np.isfinite(X).all():
        i, j = (int(v) for v in np.argwhere(~np.isfinite(X))[0])
        raise ValidationError(
            [
                {
                    "loc": ["body", "instances", i, j],
                    "msg": f"Input should be a finite number, got {X[i, j]!r}",
                    "type": "finite_number",
                }
            ]
        )
    return X


def load_numpy_mlp(
    name: str = DEFAULT_MLP_NAME, version: str | int | None = None, *, root=None
) -> NumpyMLPModel:
    """Load and verify an MLP artifact and return the numpy model (see :meth:`MLPBase.load`)."""
    return NumpyMLPModel.load(name, version, root=root)


@functools.lru_cache(maxsize=1)
def load_default_numpy_mlp() -> NumpyMLPModel:
    """The shipped ``diabetes-mlp`` (newest version) as a numpy model, loaded once."""
    return load_numpy_mlp()


def serving_registry():
    """A registry for servers and benchmarks: ``diabetes-mlp`` (numpy, the default),
    ``diabetes-mlp-int8`` (stdlib int8), ``diabetes-mlp-simulated-accelerator`` (the numpy
    model behind a SIMULATED accelerator's cost), the toy ``averaged_ensemble`` and, when
    onnxruntime is installed (the ``edge`` extra), the ONNX variants ``diabetes-mlp-onnx``,
    ``diabetes-mlp-onnx-int8`` and ``diabetes-mlp-onnx-int8-static`` (platform ``onnxruntime_onnx``).

    Use with the servers: ``lesson serve rest --registry lesson.models.mlp_numpy:serving_registry``.
    """
    from lesson.core.model import AveragedEnsembleModel, ModelRegistry
    from lesson.models.accelerator import SimulatedAcceleratorModel
    from lesson.models.int8 import load_edge_model

    mlp = load_default_numpy_mlp()
    registry = ModelRegistry()
    registry.register(mlp, default=True)
    registry.register(load_edge_model())
    registry.register(SimulatedAcceleratorModel(mlp))
    registry.register(AveragedEnsembleModel())
    from lesson.models.onnx_runtime import load_onnx_models, onnxruntime_available

    if onnxruntime_available():
        for model in load_onnx_models():
            registry.register(model)
    return registry
