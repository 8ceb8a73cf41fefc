"""``GET /debug/spans``: the traced requests' spans, off unless ``lesson serve llm --debug-routes``.

The finished spans kept since the last call, oldest first (bounded; 409 unless the server runs
with ``--trace-ratio``): the SERVER span of each sampled request and its ``llm.queued``,
``llm.prefill`` and ``llm.decode`` children (`lesson.servers.llm.tracing`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lesson.servers.llm.state import state_of

__all__ = ["router"]

router = APIRouter(tags=["debug"], include_in_schema=False)


@router.get("/debug/spans")
async def spans(request: Request) -> JSONResponse:
    tracer = state_of(request).tracer
    if tracer is None:
        return JSONResponse({"error": "tracing is off: start the server with --trace-ratio"}, 409)
    return JSONResponse({"ratio": tracer.tracing.ratio, "spans": tracer.tracing.take()})
