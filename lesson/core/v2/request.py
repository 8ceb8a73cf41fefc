"""Parsing a V2 inference request: the HTTP body split, the JSON, the binary tail."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lesson.core.schema import DEFAULT_LIMITS, Limits
from lesson.core.v2.checks import make_input, tensor_rows
from lesson.core.v2.tensors import InferInput, V2Error, V2TooLargeError

HEADER_LENGTH = "Inference-Header-Content-Length"


@dataclass
class RequestedOutput:
    """An output the request names, and whether it wants it as binary."""

    name: str
    binary: bool | None = None  # None: follow the request-level binary_data_output


@dataclass
class InferRequest:
    """A parsed V2 inference request."""

    inputs: list[InferInput]
    outputs: list[RequestedOutput] = field(default_factory=list)
    id: str = ""
    binary_output: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)


def request_rows(request: InferRequest, bounds: Limits) -> list[list[float]]:
    """The single model input of a request as rows (the lesson's models take one tensor)."""
    if len(request.inputs) != 1:
        raise V2Error(
            "inputs", f"the model takes exactly one input tensor, got {len(request.inputs)}"
        )
    return tensor_rows(request.inputs[0], bounds, 0)


def split_body(
    body: bytes, header_length: str | int | None, max_body_bytes: int
) -> tuple[Any, bytes]:
    """Split an HTTP body into (parsed JSON header, binary tail)."""
    if len(body) > max_body_bytes:
        raise V2TooLargeError("body", f"{len(body)} bytes is over the bound of {max_body_bytes}")
    if header_length is None or header_length == "":
        json_part, tail = body, b""
    else:
        try:
            n = int(header_length)
        except (TypeError, ValueError):
            raise V2Error(HEADER_LENGTH, f"expected an integer, got {header_length!r}") from None
        if n < 0 or n > len(body):
            raise V2Error(HEADER_LENGTH, f"{n} is outside the body's {len(body)} bytes")
        json_part, tail = body[:n], body[n:]
    try:
        payload = json.loads(json_part)
    except (UnicodeDecodeError, ValueError) as exc:
        raise V2Error("body", f"invalid JSON ({exc})") from None
    return payload, tail


def _params(obj: dict, where: str) -> dict:
    params = obj.get("parameters", {})
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise V2Error(f"{where}parameters", "expected an object")
    return params


def parse_infer_request(
    payload: Any, binary: bytes = b"", bounds: Limits = DEFAULT_LIMITS
) -> InferRequest:
    """Validate a V2 inference request (JSON already parsed, `binary` the tail bytes)."""
    if not isinstance(payload, dict):
        raise V2Error("body", f"expected a JSON object, got {type(payload).__name__}")
    request_id = payload.get("id", "")
    if not isinstance(request_id, str):
        raise V2Error("id", "expected a string")
    params = _params(payload, "")
    binary_output = params.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise V2Error("parameters.binary_data_output", "expected true or false")
    inputs = _parse_inputs(payload.get("inputs"), binary, bounds)
    return InferRequest(
        inputs, _parse_outputs(payload.get("outputs", [])), request_id, binary_output, params
    )


def _parse_inputs(raw_inputs: Any, binary: bytes, bounds: Limits) -> list[InferInput]:
    if raw_inputs is None:
        raise V2Error("inputs", "missing")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise V2Error("inputs", "expected a non-empty list of tensors")
    if len(raw_inputs) > bounds.max_inputs:
        raise V2TooLargeError(
            "inputs", f"{len(raw_inputs)} tensors is over the bound of {bounds.max_inputs}"
        )
    offset = 0
    inputs = []
    for i, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise V2Error(f"inputs[{i}]", "expected an object with name, shape, datatype, data")
        for key in ("name", "shape", "datatype"):
            if key not in item:
                raise V2Error(f"inputs[{i}].{key}", "missing")
        size = _params(item, f"inputs[{i}].").get("binary_data_size")
        raw = None
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise V2Error(
                    f"inputs[{i}].parameters.binary_data_size", "expected a non-negative integer"
                )
            if "data" in item:
                raise V2Error(
                    f"inputs[{i}].data", "give either 'data' or binary_data_size, not both"
                )
            if offset + size > len(binary):
                raise V2Error(
                    f"inputs[{i}].parameters.binary_data_size",
                    f"{size} bytes at offset {offset} runs past the {len(binary)} binary bytes sent",
                )
            raw = binary[offset : offset + size]
            offset += size
        inputs.append(
            make_input(
                item["name"],
                item["datatype"],
                item["shape"],
                data=item.get("data"),
                raw=raw,
                index=i,
                bounds=bounds,
            )
        )
    if offset != len(binary):
        raise V2Error(
            "body", f"{len(binary) - offset} binary bytes after the tensors are unaccounted for"
        )
    return inputs


def _parse_outputs(raw_outputs: Any) -> list[RequestedOutput]:
    if not isinstance(raw_outputs, list):
        raise V2Error("outputs", "expected a list")
    outputs = []
    for i, item in enumerate(raw_outputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise V2Error(f"outputs[{i}].name", "expected an object with a string name")
        want = _params(item, f"outputs[{i}].").get("binary_data")
        if want is not None and not isinstance(want, bool):
            raise V2Error(f"outputs[{i}].parameters.binary_data", "expected true or false")
        outputs.append(RequestedOutput(item["name"], want))
    return outputs
