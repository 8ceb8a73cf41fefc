"""The floor: a minimal FastAPI endpoint doing the same forward pass (project venv).

    python benchmarks/peers/floor.py PORT

``POST /v1/models/{name}:predict`` with ``{"instances": [[10 floats]]}`` validated by a pydantic
model, answered ``{"predictions": [...]}``; ``GET /v2/health/ready``. uvicorn with uvloop and
httptools, no access log: what the lesson's V1 route costs above a bare endpoint.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from mlp_peer import PeerMLP
from pydantic import BaseModel

mlp = PeerMLP()
app = FastAPI()


class Request(BaseModel):
    instances: list[list[float]]


@app.post("/v1/models/{name}:predict")
async def predict(name: str, request: Request) -> dict:
    return {"predictions": mlp.predict(request.instances).tolist()}


@app.get("/v2/health/ready")
async def ready() -> dict:
    return {"ready": True}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
