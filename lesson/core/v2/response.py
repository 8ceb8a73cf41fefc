"""V2 responses: choosing the outputs, encoding them (JSON or binary), decoding on the client."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from lesson.core.v2.request import InferRequest, split_body
from lesson.core.v2.tensors import OUTPUT_DATATYPE, V2Error, decode_raw, encode_raw


@dataclass
class OutputTensor:
    """One output tensor of a model, values flattened in row-major order."""

    name: str
    shape: list[int]
    data: list[float]
    datatype: str = OUTPUT_DATATYPE


def select_outputs(
    request: InferRequest, available: list[OutputTensor]
) -> list[tuple[OutputTensor, bool]]:
    """The outputs to send and whether each goes as binary, checking requested names."""
    if not request.outputs:
        return [(out, request.binary_output) for out in available]
    by_name = {out.name: out for out in available}
    chosen = []
    for i, want in enumerate(request.outputs):
        if want.name not in by_name:
            raise V2Error(
                f"outputs[{i}].name",
                f"unknown output {want.name!r}; the model has {sorted(by_name)}",
            )
        binary = request.binary_output if want.binary is None else want.binary
        chosen.append((by_name[want.name], binary))
    return chosen


def encode_infer_response(
    model_name: str,
    model_version: str,
    outputs: list[tuple[OutputTensor, bool]],
    request_id: str = "",
    parameters: dict[str, Any] | None = None,
) -> tuple[bytes, int | None]:
    """Serialise a response: (body, JSON header length if binary outputs follow, else None)."""
    tensors = []
    blobs = []
    for out, binary in outputs:
        tensor: dict[str, Any] = {"name": out.name, "datatype": out.datatype, "shape": out.shape}
        if binary:
            blob = encode_raw(out.datatype, out.data)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = out.data
        tensors.append(tensor)
    body: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id:
        body["id"] = request_id
    if parameters:
        body["parameters"] = parameters
    body["outputs"] = tensors
    header = json.dumps(body, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def decode_infer_response(body: bytes, header_length: str | int | None = None) -> dict:
    """Client side: parse a V2 response, turning binary outputs into `data` lists."""
    payload, tail = split_body(body, header_length, max(len(body), 1))
    offset = 0
    for out in payload.get("outputs", []):
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            count = math.prod(out["shape"])
            out["data"] = decode_raw(
                out["datatype"], tail[offset : offset + size], count, out["name"]
            )
            offset += size
    return payload
