"""The original lesson's V1 routes: ``{"instances": [...]}`` in, ``{"predictions", "metadata"}`` out.

Invalid bodies answer 422 with the located errors in ``detail`` (FastAPI's convention), the
other errors as on V2 routes.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from lesson.servers.openapi import (
    EXAMPLE_V1_REQUEST,
    EXAMPLE_V1_RESPONSE,
    INFER_ERRORS,
    body_doc,
    error_example,
    json_example,
)
from lesson.servers.rest.http import error_for, read_body
from lesson.servers.rest.state import ModelName, ModelVersion, state_of

__all__ = ["R_V1_PREDICT", "R_V1_PREDICT_VERSION", "add_routes"]

R_V1_PREDICT = "/v1/models/{name}:predict"
R_V1_PREDICT_VERSION = "/v1/models/{name}/versions/{version}:predict"


async def _answer(route: str, name: str, version: str | None, request: Request) -> Response:
    """A V1 prediction for one model (and version, when pinned), guarded like every route."""
    state = state_of(request)
    backend = state.backend

    async def work() -> Response:
        body = await read_body(request, state.limit)
        result = await state.call_model(
            lambda: backend.predict_v1(body, name, version, "rest"),
            lambda: backend.predict_v1_async(body, name, version, "rest"),
        )
        return JSONResponse(result)

    return await state.guarded(route, name, work, v1=True)


async def v1_predict(name: ModelName, request: Request) -> Response:
    return await _answer(R_V1_PREDICT, name, None, request)


async def v1_predict_version(name: ModelName, version: ModelVersion, request: Request) -> Response:
    return await _answer(R_V1_PREDICT_VERSION, name, version, request)


async def v1_model(name: ModelName, request: Request) -> Response:
    try:
        ready = state_of(request).backend.model_ready(name)
    except Exception as exc:  # an unknown model answers 404, anything else 500
        return error_for(exc)
    return JSONResponse({"name": name, "ready": ready})


def add_routes(app: FastAPI) -> None:
    """Add the V1 routes to `app`."""
    app.post(
        R_V1_PREDICT,
        tags=["V1"],
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
        ),
    )(v1_predict)
    app.post(
        R_V1_PREDICT_VERSION,
        tags=["V1"],
        summary="Predict with one model version (pinned)",
        responses={
            200: json_example(EXAMPLE_V1_RESPONSE),
            404: INFER_ERRORS[404],
            413: INFER_ERRORS[413],
            503: INFER_ERRORS[503],
        },
        openapi_extra=body_doc(
            EXAMPLE_V1_REQUEST, "As for `/v1/models/{name}:predict`, answered by this version."
        ),
    )(v1_predict_version)
    app.get(
        "/v1/models/{name}",
        tags=["V1"],
        summary="Model status (V1)",
        responses={
            200: json_example({"name": "averaged_ensemble", "ready": True}),
            404: INFER_ERRORS[404],
        },
    )(v1_model)
