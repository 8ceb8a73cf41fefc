"""``GET /v1/models`` and ``GET /v1/models/{model}``: the one model this server serves."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lesson.servers.llm.state import state_of

__all__ = ["router"]

router = APIRouter()


def _card(state) -> dict:
    return {
        "id": state.name,
        "object": "model",
        "created": state.created,
        "owned_by": "lesson",
        "max_model_len": state.context,
    }


@router.get("/v1/models", tags=["OpenAI"], summary="The models served")
async def list_models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [_card(state_of(request))]})


@router.get("/v1/models/{model}", tags=["OpenAI"], summary="One model")
async def get_model(model: str, request: Request) -> JSONResponse:
    state = state_of(request)
    state.check_model(model)
    return JSONResponse(_card(state))
