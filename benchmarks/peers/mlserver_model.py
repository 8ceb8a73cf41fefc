"""MLServer custom runtime serving the diabetes MLP (runs in ``.cache/bench-venvs/mlserver``).

MLServer speaks only the Open Inference Protocol (V2): ``POST /v2/models/diabetes-mlp/infer``
with one FP64 tensor ``input`` of shape ``[rows, 10]``. Decoded with MLServer's own NumpyCodec
(the documented way), answered as FP64 ``disease_progression`` of shape ``[rows]``.
"""

from __future__ import annotations

from mlp_peer import PeerMLP
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class MLPRuntime(MLModel):
    async def load(self) -> bool:
        self._mlp = PeerMLP()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        X = NumpyCodec.decode_input(payload.inputs[0])
        y = self._mlp.predict(X.reshape(-1, self._mlp.n_features))
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output("disease_progression", y)],
        )
