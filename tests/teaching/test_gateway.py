"""The API-key gateway: 401 without a key, 403 with a wrong one, credential stripped on success."""

from __future__ import annotations

import secrets

import pytest

from lesson.core.service import PredictionService
from lesson.models.mlp import load_default_mlp
from lesson.teaching.gateway import (
    GatewayRequest,
    GatewayResponse,
    api_key_gateway,
    key_from_env,
    redact,
)

KEY = secrets.token_urlsafe(32)


def recording_service(seen):
    service = PredictionService.for_model(load_default_mlp())

    def upstream(request):
        seen.append(dict(request.headers))
        return GatewayResponse(200, service.predict(request.body, transport="REST"))

    return upstream


BODY = {"instances": [[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]]}


def test_status_codes_and_stripped_credentials():
    seen = []
    gate = api_key_gateway(recording_service(seen), {"clinic-app": KEY})
    assert gate(GatewayRequest(body=BODY)).status == 401
    assert "x-api-key" in gate(GatewayRequest(body=BODY)).body["detail"]
    assert gate(GatewayRequest(headers={"X-API-Key": KEY[:-1] + "?"}, body=BODY)).status == 403
    assert seen == []  # refused requests never reach the model
    ok = gate(
        GatewayRequest(
            headers={"X-Api-Key": KEY, "Authorization": "Bearer x", "X-Trace": "t1"}, body=BODY
        )
    )
    assert ok.status == 200 and len(ok.body["predictions"]) == 1
    assert seen == [{"x-trace": "t1", "x-client-id": "clinic-app"}]


def test_a_caller_cannot_forge_the_identity_header():
    seen = []
    gate = api_key_gateway(
        recording_service(seen), {"a-client": KEY, "b-client": secrets.token_urlsafe(32)}
    )
    gate(GatewayRequest(headers={"x-api-key": KEY, "x-client-id": "b-client"}, body=BODY))
    assert seen[0]["x-client-id"] == "a-client"


def test_short_or_missing_keys_are_refused_at_start():
    with pytest.raises(ValueError, match="at least 16"):
        api_key_gateway(lambda r: GatewayResponse(200, {}), {"c": "short"})
    with pytest.raises(ValueError, match="at least one"):
        api_key_gateway(lambda r: GatewayResponse(200, {}), {})
    with pytest.raises(KeyError, match="LESSON_API_KEY"):
        key_from_env("LESSON_API_KEY", {})
    with pytest.raises(ValueError, match="3 characters"):
        key_from_env("LESSON_API_KEY", {"LESSON_API_KEY": "abc"})
    assert key_from_env("LESSON_API_KEY", {"LESSON_API_KEY": KEY}) == KEY


def test_redact_never_shows_the_whole_key():
    shown = redact(KEY)
    assert KEY not in shown and shown.startswith(KEY[:4]) and str(len(KEY)) in shown
