"""The original lesson's V1 routes: ``{"instances": [...]}`` in, ``{"predictions", "metadata"}`` out.

Follow one request, three files: `v1_predict` (here) takes an in-flight slot (`state.guard`),
reads the body (bounded) and awaits `InferenceBackend.predict_v1_async`
(`lesson/servers/backend.py`); the service validates it (`PredictionService.read_request`,
`lesson/core/service.py`), `InferenceBackend.score` has the rows scored
(`PredictionService.predict_rows` -> the model's `predict`) and the service builds the answer
(`PredictionService.respond`). Any error propagates to the handlers
registered once on the app (`lesson.servers.rest.http`): invalid bodies answer 422 with the
located errors in ``detail`` (FastAPI's convention), the other errors as on V2 routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from lesson.servers.openapi import (
    EXAMPLE_V1_REQUEST,
    EXAMPLE_V1_RESPONSE,
    INFER_ERRORS,
    V1_REQUEST_SCHEMA,
    body_doc,
    error_example,
    json_example,
)
from lesson.servers.rest.http import read_body
from lesson.servers.rest.state import ModelName, state_of

__all__ = ["R_V1_PREDICT", "R_V1_PREDICT_VERSION", "router"]

R_V1_PREDICT = "/v1/models/{name}:predict"
R_V1_PREDICT_VERSION = "/v1/models/{name}/versions/{version}:predict"

router = APIRouter(tags=["V1"])


@router.post(
    R_V1_PREDICT,
    summary="Predict (the original lesson's schema)",
    responses={
        200: json_example(EXAMPLE_V1_RESPONSE),
        404: INFER_ERRORS[404],
        413: INFER_ERRORS[413],
        422: error_example(
            "Invalid body", "body.instances.1: Input should be a number, got str (type_error)"
        ),
        503: INFER_ERRORS[503],
    },
    openapi_extra=body_doc(
        EXAMPLE_V1_REQUEST,
        '`{"instances": [...]}`: a flat feature vector is one instance, a list of rows is a batch.',
        V1_REQUEST_SCHEMA,
        ("name",),
    ),
)
async def v1_predict(request: Request) -> Response:
    # `name` read from the path, not declared as a parameter (`name: str`): FastAPI's
    # validation of declared parameters measured ~10 µs a request; documented in openapi_extra
    name = request.path_params["name"]
    state = state_of(request)
    with state.guard(request, R_V1_PREDICT, name, v1=True):  # shedding, draining, metrics
        body = await read_body(request, state.limit)
        return JSONResponse(await state.backend.predict_v1_async(body, name, None, "rest"))


@router.post(
    R_V1_PREDICT_VERSION,
    summary="Predict with one model version (pinned)",
    responses={
        200: json_example(EXAMPLE_V1_RESPONSE),
        404: INFER_ERRORS[404],
        413: INFER_ERRORS[413],
        503: INFER_ERRORS[503],
    },
    openapi_extra=body_doc(
        EXAMPLE_V1_REQUEST,
        "As for `/v1/models/{name}:predict`, answered by this version.",
        V1_REQUEST_SCHEMA,
        ("name", "version"),
    ),
)
async def v1_predict_version(request: Request) -> Response:
    name, version = request.path_params["name"], request.path_params["version"]
    state = state_of(request)
    with state.guard(request, R_V1_PREDICT_VERSION, name, v1=True):
        body = await read_body(request, state.limit)
        return JSONResponse(await state.backend.predict_v1_async(body, name, version, "rest"))


@router.get(
    "/v1/models/{name}",
    summary="Model status (V1)",
    responses={
        200: json_example({"name": "averaged_ensemble", "ready": True}),
        404: INFER_ERRORS[404],
    },
)
async def v1_model(name: ModelName, request: Request) -> Response:
    return JSONResponse({"name": name, "ready": state_of(request).backend.model_ready(name)})
