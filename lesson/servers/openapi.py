"""OpenAPI documentation for the REST server: request-body schemas, real examples, and /docs
that works offline.

The inference routes read their bodies as bytes (faster than a pydantic model, and the body
bound, the binary tensor extension and the error shape stay under control), so FastAPI cannot
infer their request bodies: `V1_REQUEST_SCHEMA` and `V2_REQUEST_SCHEMA` describe them as JSON
Schema, put in the document by `body_doc` (``openapi_extra``; nothing runs per request).

FastAPI's default /docs loads Swagger UI from a CDN and is blank without a network; here the
Swagger UI and ReDoc files come from the `fastapi-offline` package, served by the app itself.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from lesson.core.schema import DEFAULT_LIMITS
from lesson.core.v2 import DATATYPES, HEADER_LENGTH, model_config

# ---------------------------------------------------------------- request-body schemas
_NUMBERS = {"type": "array", "items": {"type": "number"}}

#: ``{"instances": [...]}`` (`lesson.core.schema.parse_v1_request` checks it)
V1_REQUEST_SCHEMA: dict[str, Any] = {
    "title": "V1PredictRequest",
    "type": "object",
    "required": ["instances"],
    "properties": {
        "instances": {
            "description": "One instance (a flat feature vector) or a batch of rows.",
            "anyOf": [
                {**_NUMBERS, "minItems": 1, "maxItems": DEFAULT_LIMITS.max_features},
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": DEFAULT_LIMITS.max_instances,
                    "items": {**_NUMBERS, "minItems": 1, "maxItems": DEFAULT_LIMITS.max_features},
                },
            ],
        }
    },
}

_PARAMETERS = {
    "type": "object",
    "description": "Extension parameters.",
    "additionalProperties": True,
}

#: the Open Inference Protocol's inference request (`lesson.core.v2.parse_infer_request`)
V2_REQUEST_SCHEMA: dict[str, Any] = {
    "title": "V2InferenceRequest",
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string", "description": "Echoed in the response."},
        "parameters": _PARAMETERS,
        "inputs": {
            "type": "array",
            "minItems": 1,
            "maxItems": DEFAULT_LIMITS.max_inputs,
            "items": {
                "title": "V2InputTensor",
                "type": "object",
                "required": ["name", "shape", "datatype"],
                "properties": {
                    "name": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                    "datatype": {"type": "string", "enum": list(DATATYPES)},
                    "parameters": _PARAMETERS,
                    "data": {
                        "type": "array",
                        "description": (
                            "The values, row-major (flat or nested); absent when the tensor "
                            f"comes as raw bytes after the JSON (`{HEADER_LENGTH}`, "
                            "parameters.binary_data_size)."
                        ),
                    },
                },
            },
        },
        "outputs": {
            "type": "array",
            "description": "The outputs to return (default: all).",
            "items": {
                "title": "V2RequestedOutput",
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
            },
        },
    },
}

# ---------------------------------------------------------------- OpenAPI examples
EXAMPLE_V1_REQUEST = {"instances": [[0.2, 0.4, 0.6], [1.0, 2.0, 3.0]]}
EXAMPLE_V1_RESPONSE = {
    "predictions": [0.42, 1.7],
    "metadata": {
        "transport": "rest",
        "model": "averaged_ensemble",
        "model_version": "1",
        "latency_ms": 0.05,
    },
}
EXAMPLE_V2_REQUEST = {
    "id": "42",
    "inputs": [
        {
            "name": "input__0",
            "shape": [2, 3],
            "datatype": "FP64",
            "data": [0.2, 0.4, 0.6, 1.0, 2.0, 3.0],
        }
    ],
}
EXAMPLE_V2_RESPONSE = {
    "model_name": "averaged_ensemble",
    "model_version": "1",
    "id": "42",
    "parameters": {"latency_ms": 0.05},
    "outputs": [{"name": "output__0", "datatype": "FP64", "shape": [2], "data": [0.42, 1.7]}],
}
EXAMPLE_METADATA = {
    "name": "averaged_ensemble",
    "versions": ["1"],
    "platform": "python",
    "inputs": [{"name": "input__0", "datatype": "FP64", "shape": [-1, -1]}],
    "outputs": [{"name": "output__0", "datatype": "FP64", "shape": [-1]}],
}

#: what ``GET /v2/models/averaged_ensemble/config`` answers (from the metadata above, 1024 rows)
EXAMPLE_CONFIG = model_config(
    EXAMPLE_METADATA["name"],
    EXAMPLE_METADATA["platform"],
    EXAMPLE_METADATA["inputs"],
    EXAMPLE_METADATA["outputs"],
    DEFAULT_LIMITS.max_instances,
)


def json_example(example: Any, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"example": example}}}


def error_example(status: str, message: str) -> dict:
    return json_example({"error": message}, status)


_PATH_PARAMS = {
    "name": ("A registered model's name.", "averaged_ensemble"),
    "version": ("A version of that model.", "1"),
}


def body_doc(
    example: Any,
    description: str,
    schema: dict[str, Any] | None = None,
    path_params: tuple[str, ...] = (),
) -> dict:
    """``openapi_extra`` for a route that reads its JSON body itself: its schema and example,
    and the path parameters it reads from ``request.path_params`` (not declared: see v1.py)."""
    doc: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {"schema": schema or {"type": "object"}, "example": example}
            },
        }
    }
    if path_params:
        doc["parameters"] = [
            {  # as FastAPI documents a declared `Path(description=..., examples=[...])`
                "name": name,
                "in": "path",
                "required": True,
                "schema": {
                    "type": "string",
                    "description": _PATH_PARAMS[name][0],
                    "examples": [_PATH_PARAMS[name][1]],
                    "title": name.title(),
                },
                "description": _PATH_PARAMS[name][0],
            }
            for name in path_params
        ]
    return doc


INFER_ERRORS = {
    400: error_example(
        "Invalid tensors", "inputs[0].shape: expected a non-empty list of non-negative integers"
    ),
    404: error_example(
        "Unknown model", "model 'nope' not found; known models: averaged_ensemble (versions 1)"
    ),
    413: error_example("Over the size bound", "body: 2000000 bytes is over the bound of 1048576"),
    503: error_example(
        "Overloaded or draining",
        "server overloaded: 64 requests already in flight (the bound); retry later",
    ),
    504: error_example("Timed out", "request took longer than the server's 10.0 s timeout"),
}


# ---------------------------------------------------------------- offline /docs
_DOCS_ASSETS = "/docs-assets"


def _docs_assets_dir() -> str | None:
    """Swagger UI and ReDoc files shipped by `fastapi-offline` (None if it is not installed)."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = os.path.join(os.path.dirname(fastapi_offline.__file__), "static")
    return folder if os.path.isfile(os.path.join(folder, "swagger-ui-bundle.js")) else None


def offline_docs_settings() -> dict[str, Any]:
    # FastAPI's own /docs loads Swagger UI from a CDN: blank without a network.
    return {"docs_url": None, "redoc_url": None} if _docs_assets_dir() else {}


def add_offline_docs(app: FastAPI) -> None:
    folder = _docs_assets_dir()
    if folder is None:
        return
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount(_DOCS_ASSETS, StaticFiles(directory=folder), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - docs",
            swagger_js_url=f"{_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_DOCS_ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{_DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{_DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
