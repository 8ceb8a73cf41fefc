"""Server health (V2 liveness and readiness) and operations (Prometheus metrics, ``/`` -> ``/docs``).

One `APIRouter`; `create_app` includes it after the V1 routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from lesson.servers.openapi import json_example
from lesson.servers.rest.state import state_of

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/v2/health/live",
    tags=["V2 health"],
    summary="Liveness: the process answers",
    responses={200: json_example({"live": True})},
)
async def live(request: Request) -> Response:
    return JSONResponse({"live": state_of(request).backend.live})


@router.get(
    "/v2/health/ready",
    tags=["V2 health"],
    summary="Readiness: models warmed, not draining",
    responses={
        200: json_example({"ready": True}),
        503: json_example({"ready": False, "error": "warming up"}, "Not ready"),
    },
)
async def ready(request: Request) -> Response:
    backend = state_of(request).backend
    if backend.ready:
        return JSONResponse({"ready": True})
    reason = "draining" if backend.draining else (backend.state.warmup_error or "warming up")
    return JSONResponse({"ready": False, "error": reason}, status_code=503)


@router.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"example": "lesson_requests_total{...} 3.0"}},
        }
    },
)
async def prometheus_metrics(request: Request) -> Response:
    metrics = state_of(request).metrics
    return Response(metrics.render(), media_type=metrics.content_type)


@router.get("/", include_in_schema=False)
async def root() -> Response:
    return RedirectResponse("/docs")
