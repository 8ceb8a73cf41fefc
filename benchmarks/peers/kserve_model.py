"""KServe's Python model server serving the diabetes MLP (runs in ``.cache/bench-venvs/kserve``).

    python kserve_model.py --http_port PORT [--configure_logging false --enable_latency_logging false]

Both protocols KServe speaks over REST: V1 ``POST /v1/models/diabetes-mlp:predict`` with
``{"instances": [[10 floats]]}`` (a dict reaches ``predict``), and V2 ``POST
/v2/models/diabetes-mlp/infer`` (an ``InferRequest``). gRPC is off (the benchmark drives HTTP);
uvicorn listens on 127.0.0.1 only (KServe binds 0.0.0.0 by default: patched here, nothing else).
"""

from __future__ import annotations

import kserve.protocol.rest.server as rest_server
import numpy as np
import uvicorn
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from mlp_peer import PeerMLP

_Config = uvicorn.Config


def _loopback_config(*args, **kwargs):
    return _Config(*args, **dict(kwargs, host="127.0.0.1"))


rest_server.uvicorn.Config = _loopback_config  # listen on loopback only


class MLP(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.load()

    def load(self) -> bool:
        self._mlp = PeerMLP()
        self.ready = True
        return True

    def predict(self, payload, headers=None):
        if isinstance(payload, InferRequest):
            X = payload.inputs[0].as_numpy().reshape(-1, self._mlp.n_features)
            y = self._mlp.predict(X)
            output = InferOutput(name="disease_progression", shape=list(y.shape), datatype="FP64")
            output.set_data_from_numpy(y, binary_data=False)
            return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[output])
        X = np.asarray(payload["instances"], dtype=np.float64)
        return {"predictions": self._mlp.predict(X).tolist()}


if __name__ == "__main__":
    ModelServer(enable_grpc=False).start([MLP("diabetes-mlp")])
