"""The reference MLP exported to ONNX and run by ONNX Runtime: the edge pattern on the field's runtime.

``training/export_onnx.py`` writes three artifacts, each a ``model.onnx`` with the held-out rows
and a checksummed manifest (opset, producer, input and output tensors):

- ``diabetes-mlp-onnx``: float32, within 1e-6 relative of the lesson's MLP;
- ``diabetes-mlp-onnx-int8``: ``quantize_dynamic`` (int8 weights, activations quantised per call);
- ``diabetes-mlp-onnx-int8-static``: ``quantize_static`` in QDQ form, calibrated on training rows.

:class:`OnnxModel` holds one ``InferenceSession`` per model (one intra-op thread: a server
runs many requests side by side, and a 10-16-1 network gains nothing from more) and predicts a
batch in one ``session.run``. ``onnxruntime`` is imported when a model is built, never at
import time, so the core install and the browser (no onnxruntime in Pyodide) are unaffected::

    >>> from lesson.models.onnx_runtime import load_onnx_model
    >>> load_onnx_model().predict([[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]])  # doctest: +SKIP
    [207.3...]
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from lesson.core.artifacts import Artifact, ArtifactIntegrityError, load_artifact
from lesson.core.model import ModelMetadata
from lesson.core.schema import ValidationError
from lesson.models.mlp import DEFAULT_MLP_NAME, check_rows

ONNX_NAME = DEFAULT_MLP_NAME + "-onnx"
ONNX_NAMES = (ONNX_NAME, ONNX_NAME + "-int8", ONNX_NAME + "-int8-static")
#: What Triton calls a model that ONNX Runtime runs (its V2 metadata and model configuration)
PLATFORM = "onnxruntime_onnx"
#: ONNX element type (as the manifest names it) -> V2 datatype and numpy dtype name
_TYPES = {"FLOAT": ("FP32", "float32"), "DOUBLE": ("FP64", "float64")}


def onnxruntime_available() -> bool:
    """True when ``onnxruntime`` can be imported (the ``edge`` extra; never in the browser)."""
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a broken install
        return False


class OnnxModel:
    """A verified ONNX artifact run by ONNX Runtime (implements the core ``Model`` protocol).

    Args:
        artifact: a verified artifact whose manifest has an ``onnx`` section (file, tensors).
        threads: ONNX Runtime's intra-op threads for this session.

    Raises:
        ArtifactIntegrityError: the manifest does not describe an ONNX model, or ONNX Runtime
            cannot load the file, or the file's tensors are not the ones the manifest names.
    """

    platform = PLATFORM
    one_output_per_row = True

    def __init__(self, artifact: Artifact, *, threads: int = 1):
        import numpy as np
        import onnxruntime as ort

        label = f"{artifact.name}/{artifact.version}"
        onnx_meta = artifact.manifest.get("onnx")
        if not isinstance(onnx_meta, dict) or onnx_meta.get("file") not in artifact.files:
            raise ArtifactIntegrityError(f"{label}: the manifest describes no ONNX file")
        try:
            (tin,), (tout,) = onnx_meta["inputs"], onnx_meta["outputs"]
            supported = tin["datatype"] in _TYPES and tin["shape"][1:] == [
                len(artifact.manifest["inputs"])
            ]
            tout["name"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactIntegrityError(
                f"{label}: the manifest's onnx inputs/outputs are malformed ({exc!r})"
            ) from exc
        if not supported:
            raise ArtifactIntegrityError(f"{label}: unsupported input tensor {tin}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: they are raised below anyway
        try:
            self._session = ort.InferenceSession(
                artifact.files[onnx_meta["file"]], options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / ...
            raise ArtifactIntegrityError(
                f"{label}/{onnx_meta['file']}: ONNX Runtime cannot load it ({type(exc).__name__}: "
                f"{str(exc)[:200]})"
            ) from exc
        got = (self._session.get_inputs()[0].name, self._session.get_outputs()[0].name)
        if got != (tin["name"], tout["name"]):
            raise ArtifactIntegrityError(
                f"{label}: the file's tensors are {got}, the manifest says "
                f"{(tin['name'], tout['name'])}"
            )
        self.name, self.version = artifact.name, artifact.version
        self.manifest = artifact.manifest
        self.n_features = len(artifact.manifest["inputs"])
        self.model_bytes = len(artifact.files[onnx_meta["file"]])
        self._np = np
        self._input, self._output = tin["name"], tout["name"]
        self._v2_in, dtype = _TYPES[tin["datatype"]]
        self._dtype = np.dtype(dtype)

    @classmethod
    def load(
        cls, name: str = ONNX_NAME, version: str | int | None = None, *, root=None
    ) -> OnnxModel:
        """Load and verify an ONNX artifact (sha256 of every file) and open its session."""
        return cls(load_artifact(name, version, root=root))

    def predict_array(self, X: Any) -> Any:
        """Predictions (float64, one per row) for an ``(n, n_features)`` array: one ``run``."""
        X = self._np.asarray(X, dtype=self._dtype)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValidationError(
                [
                    {
                        "loc": ["body", "instances"],
                        "msg": f"expected an array of shape (n, {self.n_features}), got {X.shape}",
                        "type": "shape",
                    }
                ]
            )
        out = self._session.run([self._output], {self._input: X})[0]
        return out.reshape(len(X)).astype(self._np.float64)

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """One prediction per row (the core ``Model`` protocol).

        Raises:
            ValidationError: a row has the wrong width or a value that is not a finite number.
        """
        check_rows(rows, self.n_features, self.name)
        if len(rows) == 0:
            return []
        from lesson.models.mlp_numpy import rows_array  # numpy, imported when a model predicts

        return self.predict_array(rows_array(rows)).tolist()

    def metadata(self) -> ModelMetadata:
        """V2 metadata: platform ``onnxruntime_onnx``; the input tensor in the file's own type
        (the server also takes FP64 and converts); the output as the server sends it (FP64, one
        value per row)."""
        features = [dict(i) for i in self.manifest.get("inputs", [])]
        described = (self.manifest.get("outputs") or [{}])[0]
        return ModelMetadata(
            name=self.name,
            version=self.version,
            platform=self.platform,
            n_features=self.n_features,
            description=self.manifest.get("description", "ONNX model"),
            inputs=[
                {
                    "name": self._input,
                    "datatype": self._v2_in,
                    "shape": [-1, self.n_features],
                    "features": features,
                }
            ],
            outputs=[
                {
                    "name": self._output,
                    "datatype": "FP64",
                    "shape": [-1],
                    "description": described.get("description", ""),
                }
            ],
        )

    def __repr__(self) -> str:
        return f"OnnxModel(name={self.name!r}, version={self.version!r}, bytes={self.model_bytes})"


def load_onnx_model(
    name: str = ONNX_NAME, version: str | int | None = None, *, root=None
) -> OnnxModel:
    """Load a verified ONNX artifact and return the model (needs the ``edge`` extra)."""
    return OnnxModel.load(name, version, root=root)


def load_onnx_models(*, root=None) -> list[OnnxModel]:
    """The three shipped ONNX variants (float32, int8 dynamic, int8 static), in that order."""
    return [OnnxModel.load(name, root=root) for name in ONNX_NAMES]
