"""The real reference model, in pure Python: a small MLP regressor on the diabetes data.

Trained by ``training/train_model.py`` (scikit-learn ``MLPRegressor``) and shipped as the
verified JSON artifact ``lesson/artifacts/diabetes-mlp/1/``. This module runs it with the
standard library only, so the same model answers in the browser (Pyodide); the numpy twin in
:mod:`lesson.models.mlp_numpy` gives the same numbers (within 1e-6) for servers and batch jobs.
What the two share (artifact -> params, row checks, metadata, loading by name and version) is
:class:`MLPBase`; each supplies only its forward pass.

    >>> from lesson.models.mlp import load_default_mlp
    >>> model = load_default_mlp()
    >>> model.predict([[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]])  # doctest: +SKIP
    [207.3...]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul
from typing import Any, Self

from lesson.core.artifacts import Artifact, ArtifactIntegrityError, load_artifact
from lesson.core.schema import ValidationError

DEFAULT_MLP_NAME = "diabetes-mlp"
_ACTIVATIONS = ("relu", "identity")


@dataclass(frozen=True)
class Layer:
    """One dense layer. ``weights[j]`` holds the weights into unit ``j`` (shape out x in)."""

    weights: tuple[tuple[float, ...], ...]
    bias: tuple[float, ...]
    activation: str


@dataclass(frozen=True)
class MLPParams:
    """Everything needed to run the network: scaling, layers, and what the inputs mean."""

    feature_names: tuple[str, ...]
    input_mean: tuple[float, ...]
    input_scale: tuple[float, ...]
    target_mean: float
    target_scale: float
    layers: tuple[Layer, ...]
    output_name: str

    @property
    def n_features(self) -> int:
        """Number of input features each row must have."""
        return len(self.feature_names)


def _floats(value: Any, what: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        raise ArtifactIntegrityError(f"{what} must be a list of finite numbers")
    return tuple(float(v) for v in value)


def params_from_artifact(artifact: Artifact) -> MLPParams:
    """Read and check the network in a verified artifact (``weights.json`` + ``scaler.json``).

    Raises:
        ArtifactIntegrityError: shapes or values do not fit together.
    """
    weights = artifact.json("weights.json")
    scaler = artifact.json("scaler.json")
    names = tuple(str(i["name"]) for i in artifact.manifest["inputs"])
    layers = []
    width = len(names)
    for k, raw in enumerate(weights["layers"]):
        rows = tuple(_floats(r, f"layer {k} weights") for r in raw["weights"])
        bias = _floats(raw["bias"], f"layer {k} bias")
        if raw["activation"] not in _ACTIVATIONS:
            raise ArtifactIntegrityError(f"layer {k}: unknown activation {raw['activation']!r}")
        if len(rows) != len(bias) or any(len(r) != width for r in rows):
            raise ArtifactIntegrityError(f"layer {k}: weights are not {len(bias)} x {width}")
        layers.append(Layer(rows, bias, raw["activation"]))
        width = len(bias)
    if width != 1:
        raise ArtifactIntegrityError(f"the last layer has {width} outputs, expected 1")
    mean = _floats(scaler["input_mean"], "input_mean")
    scale = _floats(scaler["input_scale"], "input_scale")
    if len(mean) != len(names) or len(scale) != len(names) or min(scale) <= 0:
        raise ArtifactIntegrityError("scaler does not match the inputs")
    return MLPParams(
        feature_names=names,
        input_mean=mean,
        input_scale=scale,
        target_mean=float(scaler["target_mean"]),
        target_scale=float(scaler["target_scale"]),
        layers=tuple(layers),
        output_name=str(artifact.manifest["outputs"][0]["name"]),
    )


def check_rows(rows: Sequence[Sequence[float]], n_features: int, model_name: str) -> None:
    """Raise the core's :class:`~lesson.core.schema.ValidationError` if a row has the wrong width.

    The error names the field (``body.instances.<i>``) and the expected count.
    """
    errors = []
    for i, row in enumerate(rows):
        n = len(row)
        if n != n_features:
            errors.append(
                {
                    "loc": ["body", "instances", i],
                    "msg": f"Instance has {n} features; model {model_name} expects {n_features}",
                    "type": "too_short" if n < n_features else "too_long",
                }
            )
            if len(errors) >= 20:
                break
    if errors:
        raise ValidationError(errors)


def _value_errors(rows: Sequence[Sequence[Any]]) -> ValidationError:
    from lesson.core.schema import as_number

    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            as_number(value, ["body", "instances", i, j], errors)
            if len(errors) >= 20:
                return ValidationError(errors)
    return ValidationError(
        errors or [{"loc": ["body", "instances"], "msg": "bad values", "type": "type_error"}]
    )


def model_inputs(params: MLPParams, manifest: dict) -> list[dict[str, Any]]:
    """V2-style input description: one FP64 tensor ``[-1, n_features]`` with named columns."""
    return [
        {
            "name": "input",
            "datatype": "FP64",
            "shape": [-1, params.n_features],
            "features": [dict(i) for i in manifest.get("inputs", [])] or list(params.feature_names),
        }
    ]


def model_outputs(params: MLPParams, manifest: dict) -> list[dict[str, Any]]:
    """V2-style output description: one FP64 value per row."""
    described = manifest.get("outputs") or [{"name": params.output_name}]
    return [dict(described[0], datatype="FP64", shape=[-1])]


class MLPBase:
    """What every MLP model shares: built from an artifact, loaded by name and version, rows
    checked for width, ``metadata()`` and ``repr``.

    A subclass supplies only the forward pass, ``_predict(rows)`` for rows of the right width
    (plus, if it needs them, arrays prepared in ``__init__``), and its ``platform``.
    """

    platform: str
    one_output_per_row = True

    def __init__(self, params: MLPParams, *, name: str, version: str, manifest: dict | None = None):
        self.params = params
        self.name = name
        self.version = str(version)
        self.manifest = manifest or {}
        self.n_features = params.n_features

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Build the model from a verified artifact."""
        return cls(
            params_from_artifact(artifact),
            name=artifact.name,
            version=artifact.version,
            manifest=artifact.manifest,
        )

    @classmethod
    def load(
        cls, name: str = DEFAULT_MLP_NAME, version: str | int | None = None, *, root=None
    ) -> Self:
        """Load and verify an MLP artifact and build the model from it.

        Raises:
            ArtifactNotFoundError: no such artifact.
            ArtifactIntegrityError: the files do not match the manifest.
        """
        return cls.from_artifact(load_artifact(name, version, root=root))

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """One prediction per row (the core ``Model`` protocol).

        Raises:
            ValidationError: a row has the wrong number of features or a value that is not a
                finite number.
        """
        check_rows(rows, self.n_features, self.name)
        return self._predict(rows)

    def _predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        raise NotImplementedError

    def metadata(self):
        """The core's ``ModelMetadata`` for this model (inputs named in order)."""
        from lesson.core.model import ModelMetadata

        return ModelMetadata(
            name=self.name,
            version=self.version,
            platform=self.platform,
            n_features=self.n_features,
            description=self.manifest.get("description", "MLP regressor"),
            inputs=model_inputs(self.params, self.manifest),
            outputs=model_outputs(self.params, self.manifest),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r}, n_features={self.n_features})"


class MLPModel(MLPBase):
    """A dense ReLU network with input standardisation, run in pure Python.

    Implements the core ``Model`` protocol: ``name``, ``version``, ``predict(rows)``,
    ``metadata()``.
    """

    platform = "python-stdlib"

    def _predict_row(self, row: Sequence[float]) -> float:
        p = self.params
        h = [(v - m) / s for v, m, s in zip(row, p.input_mean, p.input_scale)]
        for layer in p.layers:
            h = [b + sum(map(mul, w, h)) for w, b in zip(layer.weights, layer.bias)]
            if layer.activation == "relu":
                h = [v if v > 0.0 else 0.0 for v in h]
        return h[0] * p.target_scale + p.target_mean

    def _predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        isfinite = math.isfinite
        try:
            if not all(all(map(isfinite, row)) for row in rows):
                raise _value_errors(rows)
            return [self._predict_row(row) for row in rows]
        except TypeError:
            raise _value_errors(rows) from None


def load_mlp(
    name: str = DEFAULT_MLP_NAME, version: str | int | None = None, *, root=None
) -> MLPModel:
    """Load and verify an MLP artifact and return the pure-Python model (see :meth:`MLPBase.load`)."""
    return MLPModel.load(name, version, root=root)


@functools.lru_cache(maxsize=1)
def load_default_mlp() -> MLPModel:
    """The shipped ``diabetes-mlp`` (newest version), loaded once and cached."""
    return load_mlp()
