"""Health, readiness, Prometheus ``/metrics`` and the engine's stats (``/debug/engine``).

``/health`` (vLLM's) and ``/v2/health/live`` answer while the process runs;
``/v2/health/ready`` is 200 once the engine has warmed up and until draining starts (the
project's launcher waits on it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from lesson.servers.llm.state import state_of

__all__ = ["router"]

router = APIRouter()


@router.get("/health", tags=["health"], summary="Liveness (vLLM's route)")
async def health() -> JSONResponse:
    return JSONResponse({"live": True})


@router.get("/v2/health/live", tags=["health"], summary="Liveness")
async def live() -> JSONResponse:
    return JSONResponse({"live": True})


@router.get("/v2/health/ready", tags=["health"], summary="Readiness: warmed up, not draining")
async def ready(request: Request) -> JSONResponse:
    state = state_of(request)
    if state.ready and not state.draining:
        return JSONResponse({"ready": True})
    reason = "draining" if state.draining else "warming up"
    return JSONResponse({"ready": False, "error": reason}, status_code=503)


@router.get("/metrics", tags=["operations"], summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    m = state_of(request).metrics
    return Response(m.render(), media_type=m.content_type)


@router.get("/debug/engine", tags=["operations"], summary="The engine's scheduler stats")
async def engine_stats(request: Request) -> JSONResponse:
    state = state_of(request)
    return JSONResponse(
        {
            **{k: v for k, v in state.driver.stats.items() if isinstance(v, (int, float, str))},
            "in_flight": state.in_flight,
            "steps": state.driver.steps,
            "engine_loop": state.options.engine_loop,
        }
    )
