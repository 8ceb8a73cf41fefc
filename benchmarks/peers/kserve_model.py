"""KServe's Python model server serving the diabetes MLP (runs in ``.cache/bench-venvs/kserve``).

    python kserve_model.py --http_port PORT [--grpc_port PORT] \
        [--configure_logging false --enable_latency_logging false]

Both protocols KServe speaks over REST: V1 ``POST /v1/models/diabetes-mlp:predict`` with
``{"instances": [[10 floats]]}`` (a dict reaches ``predict``), and V2 ``POST
/v2/models/diabetes-mlp/infer`` (an ``InferRequest``); with ``--grpc_port`` also its V2 gRPC
server (``ModelInfer``: an ``InferRequest`` decoded from ``raw_input_contents`` or typed contents).
Loopback only: KServe binds uvicorn to 0.0.0.0 and gRPC to ``[::]:PORT`` (hard-coded in
``GRPCServer.start``); both are patched here to 127.0.0.1, nothing else.
"""

from __future__ import annotations

import sys

import kserve.protocol.grpc.server as grpc_server
import kserve.protocol.rest.server as rest_server
import numpy as np
import uvicorn
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from mlp_peer import PeerMLP

_Config = uvicorn.Config


def _loopback_config(*args, **kwargs):
    return _Config(*args, **dict(kwargs, host="127.0.0.1"))


rest_server.uvicorn.Config = _loopback_config  # listen on loopback only
_aio_server = grpc_server.aio.server


class _LoopbackAio:
    """``grpc.aio`` as KServe's gRPC server module sees it: its server adds ports on 127.0.0.1."""

    @staticmethod
    def server(*args, **kwargs):
        srv = _aio_server(*args, **kwargs)
        add = srv.add_insecure_port
        srv.add_insecure_port = lambda address: add("127.0.0.1:" + address.rsplit(":", 1)[1])
        return srv


grpc_server.aio = _LoopbackAio


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
            return InferResponse(
                response_id=payload.id or "", model_name=self.name, infer_outputs=[output]
            )
        X = np.asarray(payload["instances"], dtype=np.float64)
        return {"predictions": self._mlp.predict(X).tolist()}


if __name__ == "__main__":
    ModelServer(enable_grpc="--grpc_port" in sys.argv).start([MLP("diabetes-mlp")])
