"""The Open Inference Protocol (V2, KServe / Triton) routes: metadata, model readiness,
the repository index, the model configuration (Triton's extension, which perf_analyzer reads)
and inference, JSON or with the binary tensor extension.

Errors propagate to the handlers registered once on the app (`lesson.servers.rest.http`):
``{"error": "..."}`` with the status `lesson.servers.errors.classify` gives (400, 404, 413,
503, 504, 500). (Server liveness and readiness, ``/v2/health/*``, are in
:mod:`lesson.servers.rest.health`.)
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from lesson.core.v2 import (
    HEADER_LENGTH,
    V2Error,
    encode_infer_response,
    parse_infer_request,
    split_body,
)
from lesson.servers.openapi import (
    EXAMPLE_CONFIG,
    EXAMPLE_METADATA,
    EXAMPLE_V2_REQUEST,
    EXAMPLE_V2_RESPONSE,
    INFER_ERRORS,
    V2_REQUEST_SCHEMA,
    body_doc,
    json_example,
)
from lesson.servers.rest.http import read_body
from lesson.servers.rest.state import ModelName, ModelVersion, state_of

__all__ = ["R_V2_INFER", "R_V2_INFER_VERSION", "router"]

R_V2_INFER = "/v2/models/{name}/infer"
R_V2_INFER_VERSION = "/v2/models/{name}/versions/{version}/infer"

router = APIRouter()

_READY = json_example({"name": "averaged_ensemble", "ready": True})
_METADATA = {200: json_example(EXAMPLE_METADATA), 404: INFER_ERRORS[404]}
_CONFIG = {200: json_example(EXAMPLE_CONFIG), 404: INFER_ERRORS[404]}


# ---------------------------------------------------------------- metadata
@router.get(
    "/v2",
    tags=["V2 metadata"],
    summary="Server metadata",
    responses={
        200: json_example(
            {
                "name": "lesson",
                "version": "0.1.0",
                "extensions": ["binary_tensor_data", "model_repository", "model_configuration"],
            }
        )
    },
)
async def server_metadata(request: Request) -> Response:
    return JSONResponse(state_of(request).backend.server_metadata())


@router.get(
    "/v2/models/{name}", tags=["V2 metadata"], summary="Model metadata", responses=_METADATA
)
async def model_metadata(name: ModelName, request: Request) -> Response:
    return JSONResponse(state_of(request).backend.model_metadata(name, None))


@router.get(
    "/v2/models/{name}/versions/{version}",
    tags=["V2 metadata"],
    summary="Model metadata (one version)",
    responses=_METADATA,
)
async def model_version_metadata(
    name: ModelName, version: ModelVersion, request: Request
) -> Response:
    return JSONResponse(state_of(request).backend.model_metadata(name, version))


# ---------------------------------------------------------------- model configuration (extension)
@router.get(
    "/v2/models/{name}/config",
    tags=["V2 metadata"],
    summary="Model configuration (extension)",
    responses=_CONFIG,
)
async def model_config(name: ModelName, request: Request) -> Response:
    return JSONResponse(state_of(request).backend.model_config(name, None))


@router.get(
    "/v2/models/{name}/versions/{version}/config",
    tags=["V2 metadata"],
    summary="Model configuration (extension, one version)",
    responses=_CONFIG,
)
async def model_version_config(
    name: ModelName, version: ModelVersion, request: Request
) -> Response:
    return JSONResponse(state_of(request).backend.model_config(name, version))


# ---------------------------------------------------------------- model readiness
def _model_ready(request: Request, name: str, version: str | None) -> Response:
    is_ready = state_of(request).backend.model_ready(name, version)  # unknown model: 404
    return JSONResponse({"name": name, "ready": is_ready}, status_code=200 if is_ready else 503)


@router.get(
    "/v2/models/{name}/ready",
    tags=["V2 health"],
    summary="Model readiness",
    responses={200: _READY, 404: INFER_ERRORS[404]},
)
async def model_ready(name: ModelName, request: Request) -> Response:
    return _model_ready(request, name, None)


@router.get(
    "/v2/models/{name}/versions/{version}/ready",
    tags=["V2 health"],
    summary="Model readiness (one version)",
    responses={200: _READY, 404: INFER_ERRORS[404]},
)
async def model_version_ready(name: ModelName, version: ModelVersion, request: Request) -> Response:
    return _model_ready(request, name, version)


# ---------------------------------------------------------------- repository index (extension)
@router.post(
    "/v2/repository/index",
    tags=["V2 metadata"],
    summary="Model repository index (extension)",
    responses={
        200: json_example(
            [{"name": "averaged_ensemble", "version": "1", "state": "READY", "reason": ""}]
        )
    },
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"ready": {"type": "boolean", "default": False}},
                    },
                    "example": {"ready": False},
                }
            },
        }
    },
)
async def repository_index(request: Request) -> Response:
    state = state_of(request)
    raw = await read_body(request, state.limit)
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise V2Error("body", f"invalid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise V2Error("body", 'expected a JSON object such as {"ready": true}')
    ready_only = body.get("ready", False)
    if not isinstance(ready_only, bool):
        raise V2Error("ready", "expected true or false")
    return JSONResponse(state.backend.repository_index(ready_only))


# ---------------------------------------------------------------- inference
async def _infer(route: str, name: str, version: str | None, request: Request) -> Response:
    """A V2 inference for one model (and version, when pinned), guarded like every route."""
    state = state_of(request)
    backend = state.backend
    with state.guard(request, route, name):  # shedding, draining, metrics
        body = await read_body(request, state.limit)
        payload, tail = split_body(body, request.headers.get(HEADER_LENGTH), state.limit)
        parsed = parse_infer_request(payload, tail, backend.limits)
        result = await backend.infer_async(parsed, name, version)
        content, header_length = encode_infer_response(
            result.model.name,
            result.model.version,
            result.outputs,
            parsed.id,
            {"latency_ms": round(result.latency_ms, 4), "transport": "rest"},
        )
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(
        content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(header_length)}
    )


@router.post(
    R_V2_INFER,
    tags=["V2 inference"],
    summary="Inference (Open Inference Protocol)",
    responses={200: json_example(EXAMPLE_V2_RESPONSE), **INFER_ERRORS},
    openapi_extra=body_doc(
        EXAMPLE_V2_REQUEST,
        "Tensors as JSON, or JSON followed by raw bytes with the "
        f"`{HEADER_LENGTH}` header (binary tensor extension).",
        V2_REQUEST_SCHEMA,
        ("name",),
    ),
)
async def v2_infer(request: Request) -> Response:
    # path parameters read, not declared: as in v1.py (~10 µs a request)
    return await _infer(R_V2_INFER, request.path_params["name"], None, request)


@router.post(
    R_V2_INFER_VERSION,
    tags=["V2 inference"],
    summary="Inference on one model version",
    responses={200: json_example(EXAMPLE_V2_RESPONSE), **INFER_ERRORS},
    openapi_extra=body_doc(
        EXAMPLE_V2_REQUEST,
        "As for `/v2/models/{name}/infer`.",
        V2_REQUEST_SCHEMA,
        ("name", "version"),
    ),
)
async def v2_infer_version(request: Request) -> Response:
    params = request.path_params
    return await _infer(R_V2_INFER_VERSION, params["name"], params["version"], request)
