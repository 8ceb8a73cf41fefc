"""The REST server: a FastAPI app over the core service, V1 and the Open Inference Protocol V2.

Run it::

    lesson serve rest --host 127.0.0.1 --port 8000        # uvicorn with httptools + uvloop
    curl -s localhost:8000/v2/health/ready
    curl -s -XPOST localhost:8000/v1/models/averaged_ensemble:predict -d '{"instances": [0.2, 0.4]}'

Routes: `POST /v1/models/{name}:predict` (the original lesson's schema), the V2 health,
metadata, inference and repository-index routes, `GET /metrics` (Prometheus) and `/docs`.
Every V2 error, validation errors included, is `{"error": "..."}` (the protocol's shape, the
one V2 clients read). Bodies are read by hand (not by pydantic) so that the body bound (413),
the binary tensor extension and the error shape are all under control.

The modules, one job each:

* `app` — `create_app` / `create_app_from_env`: the state, error handlers, routers and lifespan.
* `state` — `RestState` (backend, metrics; ``app.state.rest``) and the guard (shedding,
  draining, metrics) around each inference request.
* `http` — bounded body reads (413) and the error handlers, registered once: every error a
  route raises is answered there, in the protocol's shape.
* `v1` — the V1 routes; `v2` — the V2 metadata, model-readiness, index and inference routes;
  `health` — `/v2/health/live|ready`, `/metrics` and `/`. One `APIRouter` each.

Follow one V1 request: `v1.v1_predict` -> `InferenceBackend.predict_v1_async`
(`lesson/servers/backend.py`) -> `PredictionService.read_request` / `predict_rows` /
`respond` (`lesson/core/service.py`) -> the model's `predict`.
"""

from lesson.servers.rest.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]
